//! Gradient oracle: our hand-written backward of one Phase 2 iteration against PyTorch autograd
//! (peers/torch_phase2.py, written from METHOD.md §4 independently of this crate).
//!
//! Contract. After 5 warm-up iterations of `Game::step` (so Adam's moments and bias correction are
//! not trivial and the 6th iteration is one where D trains), the iteration is run again through
//! benches/support/probe.rs, which records, for each of its five updates (Q real, D real, Q fake,
//! D fake, G), the weights before it, the parameter gradients, the loss, Adam's moments, and the
//! weights after it. First this test checks that the probe leaves every weight and loss
//! bit-identical to `Game::step` from the same state and seed, so what is compared is `Game::step`.
//! Then the fixture (safetensors, all values widened exactly to f64) goes to
//! `python3 peers/torch_phase2.py --check FILE`, which recomputes each update *from our weights
//! before it* (so f32 rounding does not compound through Adam) in float64 with autograd, and
//! applies `torch.optim.Adam` to our gradients from our moments.
//!
//! Tolerances (relative error ‖ours − torch‖ / ‖torch‖): the f32 backend against the float64 peer,
//! METHOD.md §7: 1e-4 for losses and gradients (reductions and products), 1e-5 for Adam's update
//! (element-wise). The f64 backend: 1e-10 for everything (only summation order differs).
//!
//! torch is too heavy for CI: when `python3 -c "import torch"` fails, each test prints
//! `skipped: ...` and passes. `CONVEXGAN_REQUIRE_TORCH=1` turns the skip into a failure.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::support::probe::{self, Draw, Inputs, SubStep};
use crate::support::sizes::{Phase2Fixture, Size};
use convexgan::backend::prelude::*;
use convexgan::backend::{Cpu, Scalar, Tensor};
use convexgan::config::{Config, QLoss};
use convexgan::nn::Mlp;
use convexgan::train::phase2::Game;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};

fn python() -> String {
    std::env::var("CONVEXGAN_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `None` when torch imports, else why not.
fn torch_missing() -> Option<String> {
    match Command::new(python())
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("import failed")
                .to_string(),
        ),
        Err(e) => Some(format!("cannot run {}: {e}", python())),
    }
}

fn skip_without_torch(test: &str) -> bool {
    let Some(why) = torch_missing() else {
        return false;
    };
    if std::env::var("CONVEXGAN_REQUIRE_TORCH").is_ok_and(|v| v == "1") {
        panic!("CONVEXGAN_REQUIRE_TORCH=1 but torch is not importable: {why}");
    }
    println!("skipped: {test}: torch is not importable ({why})");
    true
}

/// A small game: 5 classes with a long tail, d_t = d_s = 16, z = 16, G 32-32, D 32-16, Q 32,
/// B = 64, N_s = 8, lr 1e-3 (large enough that the warm-up moves every weight).
fn oracle_size(q_loss: QLoss) -> Size {
    let mut cfg = Config::tiny();
    cfg.phase2.q_loss = q_loss;
    cfg.phase2.lr = convexgan::nn::LrSchedule::constant(1e-3);
    Size {
        name: "oracle",
        cfg,
        x_dim: 0,
        classes: 5,
        counts: vec![200, 112, 63, 35, 20],
        dict_cap: 40,
    }
}

/// Named f64 tensors with their shapes, written as safetensors.
#[derive(Default)]
struct Fixture {
    floats: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl Fixture {
    fn put(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        v: impl IntoIterator<Item = f64>,
    ) {
        let bytes: Vec<u8> = v.into_iter().flat_map(f64::to_le_bytes).collect();
        self.floats.push((name.into(), shape, bytes));
    }
    fn put_idx(&mut self, name: &str, v: &[u32]) {
        let bytes: Vec<u8> = v.iter().flat_map(|&i| (i as i64).to_le_bytes()).collect();
        self.floats
            .push((format!("idx:{name}"), vec![v.len()], bytes));
    }
    fn meta(&mut self, k: &str, v: impl ToString) {
        self.meta.insert(k.to_string(), v.to_string());
    }
    fn write(&self, path: &Path) {
        let views: Vec<(String, TensorView<'_>)> = self
            .floats
            .iter()
            .map(|(name, shape, bytes)| {
                let (dtype, name) = match name.strip_prefix("idx:") {
                    Some(n) => (Dtype::I64, n.to_string()),
                    None => (Dtype::F64, name.clone()),
                };
                (
                    name,
                    TensorView::new(dtype, shape.clone(), bytes).expect("tensor view"),
                )
            })
            .collect();
        let bytes = safetensors::serialize(views, &Some(self.meta.clone())).expect("serialise");
        std::fs::write(path, bytes).expect("write fixture");
    }
}

fn host<T: Scalar>(be: &Cpu<T>, t: &Tensor<Cpu<T>>) -> Vec<f64> {
    be.download(t)
        .expect("download")
        .into_iter()
        .map(|x| x.as_f64())
        .collect()
}

/// Every parameter's value, by name.
fn weights<T: Scalar>(be: &Cpu<T>, net: &Mlp<Cpu<T>>) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    net.params()
        .into_iter()
        .map(|p| {
            let (r, c) = p.value.shape();
            (p.name.clone(), vec![r, c], host(be, &p.value))
        })
        .collect()
}

fn all_weights<T: Scalar>(be: &Cpu<T>, g: &Game<Cpu<T>>) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    [&g.g.net, &g.d.net, &g.q]
        .into_iter()
        .flat_map(|n| weights(be, n))
        .collect()
}

/// `[[layer name, activation], ...]` of an Mlp of Linear layers, for the peer.
fn layers_json<T: Scalar>(net: &Mlp<Cpu<T>>) -> Vec<[String; 2]> {
    use convexgan::backend::Activation;
    use convexgan::nn::Layer;
    net.layers
        .iter()
        .map(|l| match l {
            Layer::Linear(l) => {
                let name = l.w.name.trim_end_matches(".weight").to_string();
                let act = match l.act {
                    Activation::Identity => "identity",
                    Activation::Relu => "relu",
                    Activation::LeakyRelu(_) => "leaky",
                };
                [name, act.to_string()]
            }
            Layer::BatchNorm(_) => panic!("Phase 2 networks have no BatchNorm"),
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct PeerResult {
    name: String,
    kind: String,
    rel_err: f64,
    worst: i64,
    got: f64,
    want: f64,
}

#[derive(serde::Deserialize)]
struct PeerOut {
    torch: String,
    results: Vec<PeerResult>,
}

/// Builds the fixture on the CPU backend in `T`, runs the peer, returns its verdicts.
fn run_oracle<T: Scalar>(q_loss: QLoss) -> (PeerOut, String) {
    let be = Cpu::<T>::new();
    let size = oracle_size(q_loss);
    let fx = Phase2Fixture::new(&be, &size).expect("fixture");
    let ctx = fx.ctx(&be, &size).expect("context");
    let lr = size.cfg.phase2.lr.at(0);
    let mut game = size.game(&be, &fx.dict, 21).expect("game");
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for _ in 0..5 {
        game.step(&be, &ctx, &mut rng, lr).expect("warm-up step");
    }
    assert_eq!(game.iteration % size.cfg.phase2.d_every, 0, "D must train");

    // The real thing, from a copy of the same state and random stream.
    let mut reference = game.clone();
    let mut rng_ref = rng.clone();
    let ref_losses = reference
        .step(&be, &ctx, &mut rng_ref, lr)
        .expect("Game::step");

    let steps = (game.adam_q.step, game.adam_d.step, game.adam_g.step);
    let draw = Draw::new(&mut rng, &ctx, size.z_dim()).expect("draw");
    let inputs = Inputs::upload(&be, &draw, size.z_dim()).expect("upload");
    let mut fx_out = Fixture::default();
    let mut record = |s: SubStep, net: &Mlp<Cpu<T>>, loss: &Tensor<Cpu<T>>| {
        let n = s.name();
        fx_out.put(format!("{n}.loss"), vec![1], host(&be, loss));
        for p in net.params() {
            let (r, c) = p.value.shape();
            let grad = p.grad.as_ref().expect("gradient set before the update");
            fx_out.put(
                format!("{n}.pre.{}", p.name),
                vec![r, c],
                host(&be, &p.value),
            );
            fx_out.put(format!("{n}.grad.{}", p.name), vec![r, c], host(&be, grad));
            let (m, v) = match p.moments() {
                Some((m, v)) => (host(&be, m), host(&be, v)),
                None => (vec![0.0; r * c], vec![0.0; r * c]),
            };
            fx_out.put(format!("{n}.m.{}", p.name), vec![r, c], m);
            fx_out.put(format!("{n}.v.{}", p.name), vec![r, c], v);
        }
        Ok(())
    };
    let losses = probe::step(&be, &mut game, &ctx, &inputs, lr, &mut record).expect("probe step");

    // The probe is Game::step: same weights, same losses, bit for bit.
    let (ours, theirs) = (all_weights(&be, &game), all_weights(&be, &reference));
    for ((name, _, a), (_, _, b)) in ours.iter().zip(&theirs) {
        assert!(a == b, "probe and Game::step disagree on {name}");
    }
    let pairs = [
        (&losses.q_real, &ref_losses.q_real),
        (&losses.q_fake, &ref_losses.q_fake),
        (&losses.g, &ref_losses.g),
    ];
    for (a, b) in pairs {
        assert_eq!(host(&be, a), host(&be, b), "probe and Game::step losses");
    }

    // Weights after each update: Q after q_real is Q before q_fake, and so on.
    let copy = |f: &mut Fixture, from: &str, to: &str| {
        let add: Vec<_> = f
            .floats
            .iter()
            .filter_map(|(name, shape, bytes)| {
                name.strip_prefix(&format!("{from}.pre."))
                    .map(|p| (format!("{to}.post.{p}"), shape.clone(), bytes.clone()))
            })
            .collect();
        f.floats.extend(add);
    };
    copy(&mut fx_out, "q_fake", "q_real");
    copy(&mut fx_out, "d_fake", "d_real");
    for (prefix, net) in [
        ("q_fake", &game.q),
        ("d_fake", &game.d.net),
        ("g", &game.g.net),
    ] {
        for (name, shape, v) in weights(&be, net) {
            fx_out.put(format!("{prefix}.post.{name}"), shape, v);
        }
    }

    let f = &mut fx_out;
    let d = &fx.dict;
    let widen = |r: &convexgan::backend::HostRows| {
        (0..r.len()).map(|i| r.get(i) as f64).collect::<Vec<_>>()
    };
    f.put(
        "dict.texture",
        vec![d.layout.total(), d.d_t],
        widen(&d.texture),
    );
    f.put("dict.shape", vec![d.layout.total(), d.d_s], widen(&d.shape));
    for (k, v) in [
        ("c_r", &draw.c_r),
        ("rows_r", &draw.rows_r),
        ("real_t", &draw.real_t),
        ("real_s", &draw.real_s),
        ("c_g", &draw.c_g),
        ("rows_g", &draw.rows_g),
    ] {
        f.put_idx(&format!("in.{k}"), v);
    }
    let z = size.z_dim();
    f.put(
        "in.z_r",
        vec![draw.c_r.len(), z],
        draw.z_r.iter().map(|&x| x as f64),
    );
    f.put(
        "in.z_g",
        vec![draw.c_g.len(), z],
        draw.z_g.iter().map(|&x| x as f64),
    );
    if let Some(m) = &ctx.margins {
        f.put("margins", vec![m.cols()], host(&be, m));
    }
    let p2 = &size.cfg.phase2;
    let nets = serde_json::json!({
        "g": layers_json(&game.g.net),
        "d": layers_json(&game.d.net),
        "q": layers_json(&game.q),
    });
    f.meta("format", "convexgan-phase2-probe-v1");
    f.meta("dtype", T::NAME);
    f.meta("nets", nets);
    f.meta("ns", p2.ns);
    f.meta("classes", size.classes);
    f.meta("majority", ctx.majority);
    f.meta("lambda", p2.lambda);
    f.meta("leaky_slope", size.cfg.model.leaky_slope);
    f.meta("q_loss", q_loss.name());
    f.meta("focal_gamma", p2.focal_gamma);
    f.meta("ldam_s", p2.ldam_s);
    f.meta("lr", lr);
    f.meta("beta1", game.adam_q.beta1);
    f.meta("beta2", game.adam_q.beta2);
    f.meta("eps", game.adam_q.eps);
    f.meta("q_real.adam_step", steps.0 + 1);
    f.meta("q_fake.adam_step", steps.0 + 2);
    f.meta("d_real.adam_step", steps.1 + 1);
    f.meta("d_fake.adam_step", steps.1 + 2);
    f.meta("g.adam_step", steps.2 + 1);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("phase2_probe.safetensors");
    fx_out.write(&path);
    let script = support::repo_root().join("peers/torch_phase2.py");
    let out = Command::new(python())
        .arg(&script)
        .arg("--check")
        .arg(&path)
        .output()
        .expect("run the peer");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "peer failed ({}):\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: PeerOut = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("peer output is not the expected JSON ({e}):\n{stdout}"));
    (parsed, T::NAME.to_string())
}

/// Every loss, gradient and Adam update within its tolerance; all five updates present.
fn judge(out: &PeerOut, dtype: &str, q_loss: QLoss, tol_grad: f64, tol_adam: f64) {
    let mut worst: HashMap<&str, f64> = HashMap::new();
    for r in &out.results {
        let tol = if r.kind == "adam" { tol_adam } else { tol_grad };
        assert!(
            r.rel_err <= tol,
            "{dtype} {}: {} relative error {:.3e} > {tol:.0e}; worst element {}: ours {} torch {}",
            q_loss.name(),
            r.name,
            r.rel_err,
            r.worst,
            r.got,
            r.want
        );
        let w = worst.entry(r.kind.as_str()).or_insert(0.0);
        *w = w.max(r.rel_err);
    }
    for step in ["q_real", "d_real", "q_fake", "d_fake", "g"] {
        assert!(
            out.results.iter().any(|r| r.name == format!("{step}.loss")),
            "the peer did not check {step}"
        );
        assert!(
            out.results
                .iter()
                .any(|r| r.name.starts_with(&format!("{step}.grad."))),
            "the peer compared no gradient of {step}"
        );
    }
    println!(
        "{dtype} {}: {} comparisons against torch {}; worst relative error: loss {:.2e}, grad {:.2e}, adam {:.2e}",
        q_loss.name(),
        out.results.len(),
        out.torch,
        worst.get("loss").copied().unwrap_or(0.0),
        worst.get("grad").copied().unwrap_or(0.0),
        worst.get("adam").copied().unwrap_or(0.0),
    );
}

#[test]
fn phase2_gradients_match_torch_f64_every_q_loss() {
    if skip_without_torch("phase2_gradients_match_torch_f64_every_q_loss") {
        return;
    }
    for q_loss in [QLoss::Mse, QLoss::Ce, QLoss::Focal, QLoss::Ldam] {
        let (out, dtype) = run_oracle::<f64>(q_loss);
        judge(&out, &dtype, q_loss, 1e-10, 1e-10);
    }
}

#[test]
fn phase2_gradients_match_torch_f32_within_spec_tolerances() {
    if skip_without_torch("phase2_gradients_match_torch_f32_within_spec_tolerances") {
        return;
    }
    for q_loss in [QLoss::Mse, QLoss::Ldam] {
        let (out, dtype) = run_oracle::<f32>(q_loss);
        judge(&out, &dtype, q_loss, 1e-4, 1e-5);
    }
}
