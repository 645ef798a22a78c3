//! A table of hostile inputs through the real command line, for every file the program reads:
//! IDX images and labels (training and test, gzip and raw), the configuration (`--config` and the
//! run directory's `config.toml`), `phase1.safetensors`, `dictionary.safetensors`,
//! `phase2.safetensors` and the Phase 2 checkpoint. Each case must exit non-zero without a panic,
//! with a message naming the file and the problem, and must leave the run directory exactly as it
//! was (no partial output, no temporaries).
//!
//! Unreadable-permission cases are skipped when the tests run as root (root reads any file).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::cli_support::*;
use convexgan::internal::app::{
    CONFIG_FILE, DICT_FILE, PHASE1_FILE, PHASE2_CHECKPOINT_FILE, PHASE2_FILE,
};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

/// Run directories after each stage, built once for all cases.
struct Fixture {
    data: PathBuf,
    config: PathBuf,
    /// After `phase1` and `build-dict`.
    dict_run: PathBuf,
    /// After `phase2` as well.
    phase2_run: PathBuf,
    /// Phase 1 and the dictionary, plus a checkpoint kept by a Phase 2 run that diverged after it.
    ckpt_run: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile_inputs");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        write_small_dataset(&data, 60);
        let config = write_config(&root.join("small.toml"), &small_config_value(&data));
        let dict_run = root.join("dict_run");
        let c = config.to_str().unwrap();
        assert_ok(&convexgan(&["phase1", "--config", c], &dict_run), "phase1");
        assert_ok(&convexgan(&["build-dict"], &dict_run), "build-dict");
        let phase2_run = root.join("phase2_run");
        copy_dir(&dict_run, &phase2_run);
        assert_ok(&convexgan(&["phase2"], &phase2_run), "phase2");
        // A checkpoint at iteration 3, then a learning rate that overflows: the run stops and
        // keeps the checkpoint.
        let ckpt_run = root.join("ckpt_run");
        copy_dir(&dict_run, &ckpt_run);
        let mut cfg = convexgan::config::Config::load(&ckpt_run.join(CONFIG_FILE)).unwrap();
        cfg.phase2.epochs = 3;
        cfg.phase2.lr.drops = vec![(1, 1e30)];
        write_config(&ckpt_run.join(CONFIG_FILE), &cfg);
        let out = convexgan(&["phase2", "--checkpoint-every", "3"], &ckpt_run);
        assert!(!out.status.success(), "the diverging run did not diverge");
        assert!(ckpt_run.join(PHASE2_CHECKPOINT_FILE).exists());
        Fixture {
            data,
            config,
            dict_run,
            phase2_run,
            ckpt_run,
        }
    })
}

/// Which file a case corrupts.
#[derive(Clone, Copy)]
enum Loc {
    /// In the data directory (the `.gz` is removed when the case writes the raw name).
    Data(&'static str),
    /// The `--config` file.
    Config,
    /// In the run directory.
    Run(&'static str),
}

/// Which run directory a case starts from.
#[derive(Clone, Copy)]
enum Start {
    Empty,
    Dict,
    Phase2,
    Checkpoint,
}

type Corrupt = Box<dyn Fn(&Path)>;

struct Case {
    name: &'static str,
    loc: Loc,
    start: Start,
    args: &'static [&'static str],
    corrupt: Corrupt,
    needles: &'static [&'static str],
}

fn case(
    name: &'static str,
    loc: Loc,
    start: Start,
    args: &'static [&'static str],
    needles: &'static [&'static str],
    corrupt: impl Fn(&Path) + 'static,
) -> Case {
    Case {
        name,
        loc,
        start,
        args,
        corrupt: Box::new(corrupt),
        needles,
    }
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let e = e.unwrap();
                let bytes = if e.file_type().unwrap().is_file() {
                    std::fs::read(e.path()).unwrap_or_default()
                } else {
                    b"<dir>".to_vec()
                };
                (e.file_name().to_string_lossy().into_owned(), bytes)
            })
            .collect()
        })
        .unwrap_or_default()
}

fn unreadable_is_enforced() -> bool {
    static R: OnceLock<bool> = OnceLock::new();
    *R.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("probe");
        std::fs::write(&p, b"x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::read(&p).is_err()
    })
}

/// Runs every case; returns the failures.
fn run_cases(cases: Vec<Case>) -> Vec<String> {
    let f = fixture();
    let mut failures = Vec::new();
    for c in cases {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        copy_dir(&f.data, &data);
        let run = tmp.path().join("run");
        match c.start {
            Start::Empty => std::fs::create_dir_all(&run).unwrap(),
            Start::Dict => copy_dir(&f.dict_run, &run),
            Start::Phase2 => copy_dir(&f.phase2_run, &run),
            Start::Checkpoint => copy_dir(&f.ckpt_run, &run),
        }
        // Every run directory's configuration points at this case's data.
        let retarget = |p: &Path| {
            if p.exists() {
                let mut cfg = convexgan::config::Config::load(p).unwrap();
                cfg.data.dir = data.clone();
                write_config(p, &cfg);
            }
        };
        retarget(&run.join(CONFIG_FILE));
        let config = tmp.path().join("small.toml");
        std::fs::copy(&f.config, &config).unwrap();
        retarget(&config);

        let target = match c.loc {
            Loc::Data(name) => {
                if !name.ends_with(".gz") {
                    let _ = std::fs::remove_file(data.join(format!("{name}.gz")));
                }
                data.join(name)
            }
            Loc::Config => config.clone(),
            Loc::Run(name) => run.join(name),
        };
        (c.corrupt)(&target);
        if c.name.contains("unreadable") && !unreadable_is_enforced() {
            eprintln!(
                "skipped '{}': running as root, permissions do not stop reads",
                c.name
            );
            continue;
        }
        let before = snapshot(&run);
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.replace("{config}", config.to_str().unwrap()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = convexgan(&args, &run);
        // Shown with --nocapture: the table of messages a user would see.
        println!("[{}] {}", c.name, stderr(&out).trim_end());
        let file_name = target.file_name().unwrap().to_string_lossy().into_owned();
        let mut needles = vec![file_name.as_str()];
        needles.extend(c.needles);
        let mut problems = Vec::new();
        if let Err(e) = clean_failure(&out, &needles) {
            problems.push(e);
        }
        let after = snapshot(&run);
        if before != after {
            let changed: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            problems.push(format!("the run directory changed: {changed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("[{}] {}", c.name, problems.join("; ")));
        }
    }
    failures
}

fn assert_all(cases: Vec<Case>) {
    let n = cases.len();
    let failures = run_cases(cases);
    assert!(
        failures.is_empty(),
        "{} of {n} hostile inputs mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ----- builders of hostile content -----

fn write(bytes: &'static [u8]) -> impl Fn(&Path) {
    move |p: &Path| std::fs::write(p, bytes).unwrap()
}

fn make_dir(p: &Path) {
    let _ = std::fs::remove_file(p);
    std::fs::create_dir_all(p).unwrap();
}

fn unreadable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).unwrap();
}

fn truncate_half(p: &Path) {
    let b = std::fs::read(p).unwrap();
    std::fs::write(p, &b[..b.len() / 2]).unwrap();
}

fn raw_idx(header: &[u8], dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = header.to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn labels_raw(labels: Vec<u8>) -> impl Fn(&Path) {
    move |p: &Path| std::fs::write(p, idx_labels(&labels)).unwrap()
}

fn train_labels_with(f: impl Fn(u32) -> u8) -> Vec<u8> {
    (0..600).map(f).collect()
}

/// A safetensors file as owned parts, to edit and write back.
struct St {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl St {
    fn read(p: &Path) -> St {
        let bytes = std::fs::read(p).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<_> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        St { tensors, meta }
    }
    fn write(&self, p: &Path) {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let bytes = safetensors::serialize(views, &Some(self.meta.clone())).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    fn tensor(&mut self, name: &str) -> &mut (String, Dtype, Vec<usize>, Vec<u8>) {
        self.tensors
            .iter_mut()
            .find(|t| t.0 == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }
}

fn edit(f: impl Fn(&mut St) + 'static) -> impl Fn(&Path) {
    move |p: &Path| {
        let mut st = St::read(p);
        f(&mut st);
        st.write(p);
    }
}

/// Sets element 1 of an f32 tensor to `v`.
fn poke_f32(name: &'static str, v: f32) -> impl Fn(&Path) {
    edit(move |st| st.tensor(name).3[4..8].copy_from_slice(&v.to_le_bytes()))
}

/// The tensor as f64 (8 bytes per element), which no reader accepts.
fn as_f64(name: &'static str) -> impl Fn(&Path) {
    edit(move |st| {
        let t = st.tensor(name);
        let wide: Vec<u8> =
            t.3.chunks_exact(4)
                .flat_map(|c| (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).to_le_bytes())
                .collect();
        t.1 = Dtype::F64;
        t.3 = wide;
    })
}

/// One row or column fewer.
fn shrink(name: &'static str) -> impl Fn(&Path) {
    edit(move |st| {
        let t = st.tensor(name);
        let cols = *t.2.last().unwrap();
        let keep = if t.2.len() == 2 && t.2[0] > 1 {
            t.2[0] -= 1;
            (t.2[0] * cols) * 4
        } else {
            *t.2.last_mut().unwrap() -= 1;
            t.2.iter().product::<usize>() * 4
        };
        t.3.truncate(keep);
    })
}

/// One column fewer (a 2-D f32 tensor).
fn narrow(name: &'static str) -> impl Fn(&Path) {
    edit(move |st| {
        let t = st.tensor(name);
        let (rows, cols) = (t.2[0], t.2[1]);
        let kept: Vec<u8> =
            t.3.chunks_exact(4 * cols)
                .flat_map(|row| row[..4 * (cols - 1)].to_vec())
                .collect();
        assert_eq!(kept.len(), rows * (cols - 1) * 4);
        t.2[1] = cols - 1;
        t.3 = kept;
    })
}

fn drop_tensor(name: &'static str) -> impl Fn(&Path) {
    edit(move |st| st.tensors.retain(|t| t.0 != name))
}

fn set_meta(key: &'static str, value: &'static str) -> impl Fn(&Path) {
    edit(move |st| {
        st.meta.insert(key.to_string(), value.to_string());
    })
}

fn drop_meta(key: &'static str) -> impl Fn(&Path) {
    edit(move |st| {
        st.meta.remove(key);
    })
}

/// A safetensors header claiming to be longer than the file.
fn lying_header(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(p, b).unwrap();
}

fn replace_in_file(from: &'static str, to: &'static str) -> impl Fn(&Path) {
    move |p: &Path| {
        let s = std::fs::read_to_string(p).unwrap();
        assert!(s.contains(from), "{from:?} not in {}", p.display());
        std::fs::write(p, s.replacen(from, to, 1)).unwrap();
    }
}

// ----- the table -----
// One case per line, so the table reads as a table.

const PHASE1: &[&str] = &["phase1", "--config", "{config}"];

#[rustfmt::skip]
#[test]
fn idx_files() {
    let ti = "train-images-idx3-ubyte";
    let tl = "train-labels-idx1-ubyte";
    let e = Start::Empty;
    let img = |n: u32| idx_images(n, image_pattern);
    let cases = vec![
        case("train images: empty", Loc::Data(ti), e, PHASE1, &["empty"], write(b"")),
        case("train images .gz: empty", Loc::Data("train-images-idx3-ubyte.gz"), e, PHASE1, &["empty"], write(b"")),
        case("train images: header cut", Loc::Data(ti), e, PHASE1, &["truncated IDX header"], write(&[0, 0, 8, 3, 0, 0])),
        case("train images: payload cut", Loc::Data(ti), e, PHASE1, &["truncated payload"], move |p| {
            let b = img(600);
            std::fs::write(p, &b[..b.len() - 100]).unwrap()
        }),
        case("train images .gz: stream cut", Loc::Data("train-images-idx3-ubyte.gz"), e, PHASE1, &["gzip"], truncate_half),
        case("train images .gz: corrupt stream", Loc::Data("train-images-idx3-ubyte.gz"), e, PHASE1, &["gzip"], |p| {
            let mut b = std::fs::read(p).unwrap();
            for x in b.iter_mut().skip(20).take(200) {
                *x ^= 0x5a;
            }
            std::fs::write(p, b).unwrap()
        }),
        case("train images: wrong magic", Loc::Data(ti), e, PHASE1, &["wrong magic"], move |p| {
            let mut b = img(600);
            b[0] = 0x50;
            b[1] = 0x4b;
            std::fs::write(p, b).unwrap()
        }),
        case("train images: float dtype", Loc::Data(ti), e, PHASE1, &["unsupported IDX dtype 0x0d"], |p| {
            std::fs::write(p, raw_idx(&[0, 0, 0x0d, 3], &[1, 28, 28], &[0; 784 * 4])).unwrap()
        }),
        case("train images: labels' shape", Loc::Data(ti), e, PHASE1, &["wrong number of dimensions"], |p| {
            std::fs::write(p, idx_labels(&[1, 2, 3])).unwrap()
        }),
        case("train images: 2^40 elements", Loc::Data(ti), e, PHASE1, &["2^31"], |p| {
            std::fs::write(p, raw_idx(&[0, 0, 8, 3], &[1 << 24, 256, 256], &[])).unwrap()
        }),
        case("train images: 0×28 pixels", Loc::Data(ti), e, PHASE1, &["must be positive"], |p| {
            std::fs::write(p, raw_idx(&[0, 0, 8, 3], &[600, 0, 28], &[])).unwrap()
        }),
        case("train images: trailing bytes", Loc::Data(ti), e, PHASE1, &["trailing bytes"], move |p| {
            let mut b = img(600);
            b.extend_from_slice(b"extra");
            std::fs::write(p, b).unwrap()
        }),
        case("train images: 599 for 600 labels", Loc::Data(ti), e, PHASE1, &["599 images", "600 labels"], move |p| {
            std::fs::write(p, img(599)).unwrap()
        }),
        case("train images: a directory", Loc::Data(ti), e, PHASE1, &["is a directory"], make_dir),
        case("train images .gz: unreadable", Loc::Data("train-images-idx3-ubyte.gz"), e, PHASE1, &["ermission denied"], unreadable),
        case("train labels: empty", Loc::Data(tl), e, PHASE1, &["empty"], write(b"")),
        case("train labels: cut", Loc::Data(tl), e, PHASE1, &["truncated payload"], |p| {
            let b = idx_labels(&train_labels_with(|i| (i % 10) as u8));
            std::fs::write(p, &b[..300]).unwrap()
        }),
        case("train labels: wrong magic", Loc::Data(tl), e, PHASE1, &["wrong magic"], write(b"\x7fELF\x02\x01\x01\x00\x00\x00")),
        case("train labels: images' shape", Loc::Data(tl), e, PHASE1, &["wrong number of dimensions"], move |p| {
            std::fs::write(p, img(1)).unwrap()
        }),
        case("train labels: label 10", Loc::Data(tl), e, PHASE1, &["label 10 at index 17"], labels_raw(train_labels_with(|i| if i == 17 { 10 } else { (i % 10) as u8 }))),
        case("train labels: label 255", Loc::Data(tl), e, PHASE1, &["label 255"], labels_raw(train_labels_with(|i| if i == 599 { 255 } else { (i % 10) as u8 }))),
        case("train labels: class 9 has no samples", Loc::Data(tl), e, PHASE1, &["class 9 has no samples"], labels_raw(train_labels_with(|i| (i % 9) as u8))),
        case("train labels: a directory", Loc::Data(tl), e, PHASE1, &["is a directory"], make_dir),
        case("train labels .gz: unreadable", Loc::Data("train-labels-idx1-ubyte.gz"), e, PHASE1, &["ermission denied"], unreadable),
        case("test images: wrong magic", Loc::Data("t10k-images-idx3-ubyte"), e, PHASE1, &["wrong magic"], write(b"GIF89a\x00\x00\x00\x00\x00\x00")),
        case("test images: 50 of 27×28", Loc::Data("t10k-images-idx3-ubyte"), e, PHASE1, &["756 pixels"], |p| {
            std::fs::write(p, raw_idx(&[0, 0, 8, 3], &[50, 27, 28], &[7; 50 * 27 * 28])).unwrap()
        }),
        case("test labels: label 12", Loc::Data("t10k-labels-idx1-ubyte"), e, PHASE1, &["label 12"], labels_raw((0..50).map(|i| if i == 3 { 12 } else { (i % 10) as u8 }).collect())),
        case("test labels: class 0 has no samples", Loc::Data("t10k-labels-idx1-ubyte"), e, PHASE1, &["class 0 has no samples"], labels_raw((0..50).map(|i| 1 + (i % 9) as u8).collect())),
        case("test labels .gz: missing", Loc::Data("t10k-labels-idx1-ubyte.gz"), e, PHASE1, &["missing"], |p| {
            std::fs::remove_file(p).unwrap()
        }),
    ];
    assert_all(cases);
}

#[rustfmt::skip]
#[test]
fn configuration_files() {
    let e = Start::Empty;
    let cfg = Loc::Config;
    let saved = Loc::Run(CONFIG_FILE);
    let d = Start::Dict;
    let cases = vec![
        case("config: empty", cfg, e, PHASE1, &["missing field"], write(b"")),
        case("config: not TOML", cfg, e, PHASE1, &["not a TOML file"], write(b"\x00\x01binary\xff")),
        case("config: cut", cfg, e, PHASE1, &["TOML parse error"], truncate_half),
        case("config: unknown field", cfg, e, PHASE1, &["unknown field `bacth`"], replace_in_file("batch =", "bacth =")),
        case("config: wrong type", cfg, e, PHASE1, &["invalid type"], replace_in_file("batch = 64", "batch = \"64\"")),
        case("config: negative batch", cfg, e, PHASE1, &["batch"], replace_in_file("batch = 64", "batch = -64")),
        case("config: zero batch", cfg, e, PHASE1, &["phase1.batch", "at least 1"], replace_in_file("batch = 64", "batch = 0")),
        case("config: NaN lambda", cfg, e, PHASE1, &["phase2.lambda"], replace_in_file("lambda = 1000.0", "lambda = nan")),
        case("config: infinite learning rate", cfg, e, PHASE1, &["phase1.lr", "inf"], replace_in_file("base = 0.001", "base = inf")),
        case("config: NaN imbalance", cfg, e, PHASE1, &["data.imbalance"], replace_in_file("imbalance = 100.0", "imbalance = nan")),
        case("config: zero width", cfg, e, PHASE1, &["model.g_hidden"], replace_in_file("g_hidden = [\n    32,", "g_hidden = [\n    0,")),
        case("config: unknown precision", cfg, e, PHASE1, &["unknown variant `f8`"], replace_in_file("precision = \"f32\"", "precision = \"f8\"")),
        case("config: 9 class counts", cfg, e, PHASE1, &["data.class_counts", "9 counts", "10 classes"], replace_in_file("    7,\n]", "]")),
        case("config: a class count of 0", cfg, e, PHASE1, &["data.class_counts", "class 9"], replace_in_file("    7,\n]", "    0,\n]")),
        case("config: batch beyond memory", cfg, e, PHASE1, &["needs about", "GiB", "phase2.batch"], replace_in_file("batch = 64\nns", "batch = 1000000000000\nns")),
        case("config: a directory", cfg, e, PHASE1, &["is a directory"], make_dir),
        case("config: /dev/zero", cfg, e, PHASE1, &["is a device"], |p| {
            std::fs::remove_file(p).ok();
            std::os::unix::fs::symlink("/dev/zero", p).unwrap();
        }),
        case("config: a FIFO", cfg, e, PHASE1, &["is a FIFO"], |p| {
            std::fs::remove_file(p).ok();
            assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
        }),
        case("config: unreadable", cfg, e, PHASE1, &["ermission denied"], unreadable),
        case("run config: cut", saved, d, &["build-dict"], &["TOML parse error"], truncate_half),
        case("run config: NaN learning rate", saved, d, &["phase2"], &["phase2.lr", "NaN"], replace_in_file("base = 0.0001", "base = nan")),
        case("run config: a directory", saved, d, &["phase2"], &["is a directory"], make_dir),
    ];
    assert_all(cases);
}

#[rustfmt::skip]
#[test]
fn phase1_checkpoint() {
    let p1 = Loc::Run(PHASE1_FILE);
    let d = Start::Dict;
    let bd: &[&str] = &["build-dict"];
    let cases = vec![
        case("phase1: empty", p1, d, bd, &["not a valid safetensors file"], write(b"")),
        case("phase1: cut", p1, d, bd, &["not a valid safetensors file"], truncate_half),
        case("phase1: header longer than the file", p1, d, bd, &["not a valid safetensors file"], lying_header),
        case("phase1: not safetensors", p1, d, bd, &["not a valid safetensors file"], write(b"PK\x03\x04 a zip file, say")),
        case("phase1: f64 weights", p1, d, bd, &["q.0.weight", "F64", "expected F32"], as_f64("q.0.weight")),
        case("phase1: wrong shape", p1, d, bd, &["f_t.0.weight", "shape"], shrink("f_t.0.weight")),
        case("phase1: missing tensor", p1, d, bd, &["missing tensor 'a.0.bias'"], drop_tensor("a.0.bias")),
        case("phase1: NaN", p1, d, bd, &["f_s.1.running_var", "non-finite"], poke_f32("f_s.1.running_var", f32::NAN)),
        case("phase1: Inf", p1, d, bd, &["q.1.weight", "non-finite"], poke_f32("q.1.weight", f32::INFINITY)),
        case("phase1: no class count", p1, d, bd, &["metadata 'classes'"], drop_meta("classes")),
        case("phase1: 1e11 classes", p1, d, bd, &["metadata 'classes'", "a.0.bias"], set_meta("classes", "100000000000")),
        case("phase1: 1e11 inputs", p1, d, bd, &["metadata 'd_in'", "f_t.0.weight"], set_meta("d_in", "100000000000")),
        case("phase1: 0 inputs", p1, d, bd, &["metadata 'd_in'", "0 inputs"], set_meta("d_in", "0")),
        case("phase1: 1e11 landmarks", p1, d, bd, &["metadata 'landmarks' says 100000000000", "ldm_vis.0.bias"], set_meta("landmarks", "100000000000")),
        case("phase1: a directory", p1, d, bd, &["is a directory"], make_dir),
        case("phase1: unreadable", p1, d, bd, &["ermission denied"], unreadable),
        case("phase1: missing", p1, d, bd, &["No such file"], |p| std::fs::remove_file(p).unwrap()),
    ];
    assert_all(cases);
}

#[rustfmt::skip]
#[test]
fn dictionary() {
    let dict = Loc::Run(DICT_FILE);
    let d = Start::Dict;
    let p2: &[&str] = &["phase2"];
    let cases = vec![
        case("dictionary: empty", dict, d, p2, &["not a valid safetensors file"], write(b"")),
        case("dictionary: cut", dict, d, p2, &["not a valid safetensors file"], truncate_half),
        case("dictionary: header longer than the file", dict, d, p2, &["not a valid safetensors file"], lying_header),
        case("dictionary: f64 rows", dict, d, p2, &["texture", "F64"], as_f64("texture")),
        case("dictionary: one row short", dict, d, p2, &["shape", "expected ["], shrink("shape")),
        case("dictionary: NaN", dict, d, p2, &["texture", "non-finite"], poke_f32("texture", f32::NAN)),
        case("dictionary: Inf", dict, d, p2, &["shape", "non-finite"], poke_f32("shape", f32::NEG_INFINITY)),
        case("dictionary: no metadata", dict, d, p2, &["metadata 'format' missing"], drop_meta("format")),
        case("dictionary: another format", dict, d, p2, &["format is not"], set_meta("format", "convexgan-dictionary-v0")),
        case("dictionary: class with no rows", dict, d, p2, &["class 3 holds 0 rows"], set_meta("rows_per_class", "[35,25,20,0,10,7,5,4,3,2]")),
        case("dictionary: counts of 9 classes", dict, d, p2, &["9 class counts but 10"], set_meta("counts", "[40,30,25,20,15,12,10,9,8]")),
        case("dictionary: counts not JSON", dict, d, p2, &["metadata 'counts'"], set_meta("counts", "forty")),
        case("dictionary: absurd counts", dict, d, p2, &["metadata 'counts'"], set_meta("counts", "[18446744073709551615,18446744073709551615,25,20,15,12,10,9,8,7]")),
        case("dictionary: narrower features", dict, d, p2, &["features 15 + 16 wide", "16 + 16"], narrow("texture")),
        case("dictionary: 9 classes throughout", dict, d, p2, &["holds 9 classes", "give 10 classes"], edit(|st| {
            st.meta.insert("counts".into(), "[40,30,25,20,15,12,10,9,15]".into());
            st.meta.insert("rows_per_class".into(), "[40,30,25,20,15,12,10,9,15]".into());
        })),
        case("dictionary: missing tensor", dict, d, p2, &["tensor 'shape' missing"], drop_tensor("shape")),
        case("dictionary: a directory", dict, d, p2, &["is a directory"], make_dir),
        case("dictionary: unreadable", dict, d, p2, &["ermission denied"], unreadable),
    ];
    assert_all(cases);
}

#[rustfmt::skip]
#[test]
fn phase2_outputs_and_checkpoint() {
    let out2 = Loc::Run(PHASE2_FILE);
    let ph = Start::Phase2;
    let ev: &[&str] = &["eval"];
    let ck = Loc::Run(PHASE2_CHECKPOINT_FILE);
    let cs = Start::Checkpoint;
    let re: &[&str] = &["phase2", "--resume"];
    let cases = vec![
        case("phase2: cut", out2, ph, ev, &["not a valid safetensors file"], truncate_half),
        case("phase2: NaN", out2, ph, ev, &["q.0.bias", "non-finite"], poke_f32("q.0.bias", f32::NAN)),
        case("phase2: wrong shape", out2, ph, ev, &["q.1.weight", "shape"], shrink("q.1.weight")),
        case("phase2: a directory", out2, ph, ev, &["is a directory"], make_dir),
        case("checkpoint: empty", ck, cs, re, &["not a valid safetensors file"], write(b"")),
        case("checkpoint: cut", ck, cs, re, &["not a valid safetensors file"], truncate_half),
        case("checkpoint: NaN Adam moment", ck, cs, re, &["adam.v/g.0.weight", "non-finite"], poke_f32("adam.v/g.0.weight", f32::NAN)),
        case("checkpoint: Inf weight", ck, cs, re, &["d.0.weight", "non-finite"], poke_f32("d.0.weight", f32::INFINITY)),
        case("checkpoint: wrong shape", ck, cs, re, &["g.2.weight", "shape"], shrink("g.2.weight")),
        case("checkpoint: missing moment", ck, cs, re, &["Adam moments of 'q.0.bias' missing"], drop_tensor("adam.m/q.0.bias")),
        case("checkpoint: f64 weights", ck, cs, re, &["d.2.bias", "F64"], as_f64("d.2.bias")),
        case("checkpoint: not a checkpoint", ck, cs, re, &["metadata 'format' missing"], drop_meta("format")),
        case("checkpoint: bad RNG state", ck, cs, re, &["metadata 'rng'"], set_meta("rng", "{\"seed\":\"zz\",\"stream\":3,\"word_pos\":\"0\"}")),
        case("checkpoint: progress out of step", ck, cs, re, &["inconsistent progress"], set_meta("iteration", "2")),
        case("checkpoint: Adam steps out of step", ck, cs, re, &["Adam step counters"], set_meta("adam_steps", "[3,4,5]")),
        case("checkpoint: another run's", ck, cs, re, &["another run", "phase2.ns"], edit(|st| {
            let c = st.meta.get_mut("config").unwrap();
            *c = c.replace("ns = 4", "ns = 3");
        })),
        case("checkpoint: a directory", ck, cs, re, &["is a directory"], make_dir),
        case("checkpoint: unreadable", ck, cs, re, &["ermission denied"], unreadable),
    ];
    assert_all(cases);
}
