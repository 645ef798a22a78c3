//! The library's public surface, item by item, against the listing committed in `tests/api/`: a
//! change to the API (an item added, removed or re-typed) fails here until the listing is
//! regenerated (`CONVEXGAN_BLESS=1 cargo test --release --test public_api`, once per feature set),
//! so it shows up as a diff in review. The listing comes from rustdoc's JSON output (unstable, so
//! the stable toolchain is asked for it with `RUSTC_BOOTSTRAP=1`) read by the `public-api` crate;
//! it is built in a target directory of its own, as the outer `cargo test` holds the build lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The features to document and the listing to compare with. `cudnn` adds no public item (the
/// cuDNN backbone is plumbing), so both CUDA feature sets share one listing.
fn features() -> (&'static str, &'static str) {
    if cfg!(feature = "cudnn") {
        ("cuda,cudnn", "cuda.txt")
    } else if cfg!(feature = "cuda") {
        ("cuda", "cuda.txt")
    } else {
        ("", "default.txt")
    }
}

fn listing(root: &Path, features: &str) -> Vec<String> {
    let target = root.join("target").join("public-api");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTDOCFLAGS")
        .args(["rustdoc", "--lib", "--locked", "--quiet", "--target-dir"])
        .arg(&target);
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    cmd.args(["--", "-Z", "unstable-options", "--output-format", "json"]);
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo rustdoc --output-format json failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = target.join("doc").join("convexgan.json");
    // The impls every type gets for free (auto traits, blanket impls, derives' boilerplate) would
    // bury the API in ten thousand lines; a derive added or removed still shows as its impl line.
    let api = public_api::Builder::from_rustdoc_json(&json)
        .omit_blanket_impls(true)
        .omit_auto_trait_impls(true)
        .build()
        .unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    api.items().map(|i| i.to_string()).collect()
}

/// Every `convexgan::…` path a listed signature mentions must be a listed item, or a member
/// (variant, method, associated item, field) of one: a path into a hidden module is neither.
fn hidden_types(listing: &[String]) -> Vec<String> {
    const KINDS: [&str; 10] = [
        "pub mod ",
        "pub struct ",
        "pub enum ",
        "pub trait ",
        "pub type ",
        "pub fn ",
        "pub const ",
        "pub static ",
        "pub union ",
        "pub macro ",
    ];
    let path_at = |s: &str| -> String {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        s[..end].trim_end_matches(':').to_string()
    };
    let items: std::collections::BTreeSet<String> = listing
        .iter()
        .filter_map(|l| KINDS.iter().find_map(|k| l.strip_prefix(k)))
        .map(path_at)
        .collect();
    let enums: std::collections::BTreeSet<String> = listing
        .iter()
        .filter_map(|l| l.strip_prefix("pub enum "))
        .map(path_at)
        .collect();
    let parent = |p: &str| p.rsplit_once("::").map(|(a, _)| a.to_string());
    // An item, a member of one, or a field of an enum's struct variant.
    let known = |p: &str| {
        items.contains(p)
            || parent(p).is_some_and(|a| {
                items.contains(&a) || parent(&a).is_some_and(|g| enums.contains(&g))
            })
    };
    let mut leaks = std::collections::BTreeSet::new();
    for line in listing {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("convexgan::") {
            let p = path_at(&rest[i..]);
            if !known(&p) {
                leaks.insert(format!("{p}  (in `{line}`)"));
            }
            rest = &rest[i + p.len().max(1)..];
        }
    }
    leaks.into_iter().collect()
}

#[test]
fn public_api_matches_the_committed_listing() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (features, file) = features();
    let now = listing(&root, features);
    let leaks = hidden_types(&now);
    assert!(
        leaks.is_empty(),
        "public signatures name items outside the documented API (the hidden `internal` module or \
         a `#[doc(hidden)]` one), which makes them part of the API after all:\n{leaks:#?}"
    );

    let path = root.join("tests").join("api").join(file);
    let text = now.join("\n") + "\n";
    if std::env::var_os("CONVEXGAN_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        eprintln!("wrote {} ({} items)", path.display(), now.len());
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (CONVEXGAN_BLESS=1 writes it)", path.display()));
    let old: Vec<&str> = committed.lines().collect();
    let removed: Vec<&&str> = old
        .iter()
        .filter(|l| !now.iter().any(|n| n == **l))
        .collect();
    let added: Vec<&String> = now.iter().filter(|n| !old.contains(&n.as_str())).collect();
    assert!(
        removed.is_empty() && added.is_empty(),
        "the public API ({features:?} features) differs from {}:\nremoved:\n{removed:#?}\nadded:\n{added:#?}\n\
         If the change is meant, regenerate it: CONVEXGAN_BLESS=1 cargo test --release --test public_api",
        path.display()
    );
}
