//! The speed peer: iterations per second of our Phase 2 iteration (`Game::step`) against PyTorch
//! eager and `torch.compile` (peers/torch_phase2.py --bench), same sizes, same machine, same run,
//! printed as ratios (ours ÷ theirs: above 1 means ours is faster).
//!
//! Ours is timed twice, before and after the peer, and the table gives the mean; the two runs'
//! spread is printed so that a machine shared with other work shows itself. On the CPU both sides
//! get the same threads: `MATMUL_NUM_THREADS` (our products) and `torch.set_num_threads`, from
//! `CONVEXGAN_BENCH_THREADS` (default: every core); the peer runs with `OMP_WAIT_POLICY=PASSIVE`
//! unless the variable is set (see `run_peer`).
//!
//! Environment: `CONVEXGAN_BENCH_SIZES` (fmnist,paper), `CONVEXGAN_PEER_SECONDS` (measured seconds
//! per side and mode, default 3), `CONVEXGAN_PEER_MODES` (eager,compile),
//! `CONVEXGAN_BENCH_BACKENDS` (cpu,cuda), `CONVEXGAN_PYTHON` (python3),
//! `CONVEXGAN_PYTHON_LD_LIBRARY_PATH` (the `LD_LIBRARY_PATH` Python runs with; see `run_peer`),
//! `CONVEXGAN_REQUIRE_GPU` (set: a CUDA backend that does not open exits 1 instead of skipping).
//! Rows print as they are measured; the last line, `headline: ...`, sums them up for
//! scripts/gpu-check.sh.
//! `cargo bench --bench peer` (add `--features cuda` on a GPU machine).

mod support;

use std::process::Command;
use std::time::Instant;

use convexgan::backend::Backend;
use convexgan::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use support::sizes::{Phase2Fixture, Size};

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// Iterations per second of `Game::step`, over whole D cycles (5 iterations), at least 10
/// iterations and about `seconds` long, after 5 warm-up iterations.
fn time_ours<B: Backend>(be: &B, size: &Size, seconds: f64) -> Result<(f64, usize)> {
    let fx = Phase2Fixture::new(be, size)?;
    let ctx = fx.ctx(be, size)?;
    let mut game = size.game(be, &fx.dict, 3)?;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let lr = size.cfg.phase2.lr.at(0);
    let mut run = |n: usize| -> Result<f64> {
        let t0 = Instant::now();
        for _ in 0..n {
            game.step(be, &ctx, &mut rng, lr)?;
        }
        be.synchronize()?;
        Ok(t0.elapsed().as_secs_f64())
    };
    run(5)?;
    let per = run(5)? / 5.0;
    let n = ((seconds / per.max(1e-6) / 5.0).ceil() as usize * 5).max(10);
    Ok((n as f64 / run(n)?, n))
}

struct Peer {
    eager: Option<f64>,
    compile: Option<f64>,
    note: String,
}

fn run_peer(size: &Size, device: &str, threads: usize, seconds: f64) -> Peer {
    let script = support::repo_root().join("peers/torch_phase2.py");
    let mut cmd = Command::new(env_or("CONVEXGAN_PYTHON", "python3"));
    cmd.arg(&script)
        .args(["--bench", "--size", size.name, "--device", device])
        .args(["--seconds", &seconds.to_string()])
        .args(["--modes", &env_or("CONVEXGAN_PEER_MODES", "eager,compile")]);
    // scripts/gpu-check.sh puts the CUDA toolkit's and the wheels' library directories on
    // LD_LIBRARY_PATH for our binaries; inherited, they would put the toolkit's cuBLAS (and the
    // rest) ahead of the libraries torch's wheels bring, which torch finds through its own run
    // paths, and a mismatched cuBLAS can fail or slow the peer. So the script passes the
    // variable as it was before it changed it in CONVEXGAN_PYTHON_LD_LIBRARY_PATH, and Python
    // runs with that (empty: without the variable). Not set: the environment is inherited.
    if let Some(ld) = std::env::var_os("CONVEXGAN_PYTHON_LD_LIBRARY_PATH") {
        if ld.is_empty() {
            cmd.env_remove("LD_LIBRARY_PATH");
        } else {
            cmd.env("LD_LIBRARY_PATH", ld);
        }
    }
    if device == "cpu" {
        cmd.args(["--threads", &threads.to_string()]);
        // OpenMP's default spin-waiting collapses when the cores are not idle (on the shared
        // 2-core machine, 2 threads ran 4-18× slower than 1); passive waiting is PyTorch's best
        // there, and the peer should be at its best.
        if std::env::var_os("OMP_WAIT_POLICY").is_none() {
            cmd.env("OMP_WAIT_POLICY", "PASSIVE");
        }
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            return Peer {
                eager: None,
                compile: None,
                note: format!("cannot run python: {e}"),
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(v) = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    else {
        let err = String::from_utf8_lossy(&out.stderr);
        return Peer {
            eager: None,
            compile: None,
            note: format!(
                "peer failed ({}): {}",
                out.status,
                err.lines().last().unwrap_or("")
            ),
        };
    };
    if let Some(s) = v.get("skipped").and_then(|s| s.as_str()) {
        return Peer {
            eager: None,
            compile: None,
            note: s.to_string(),
        };
    }
    let its = |mode: &str| v[mode]["its_per_s"].as_f64();
    let mut note = format!(
        "torch {}, {} threads",
        v["torch"].as_str().unwrap_or("?"),
        v["threads"]
    );
    if device == "cpu" {
        let policy = std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "PASSIVE".into());
        note += &format!(", OMP_WAIT_POLICY={policy}");
    }
    if let Some(card) = v["card"].as_str() {
        note += &format!(", {card}");
    }
    if let Some(e) = v["compile"]["error"].as_str() {
        note += &format!("; torch.compile failed: {e}");
    }
    if let Some(w) = v["compile"]["warmup_s"].as_f64() {
        note += &format!("; compile warm-up {w:.0} s");
    }
    Peer {
        eager: its("eager"),
        compile: its("compile"),
        note,
    }
}

fn ratio(ours: f64, theirs: Option<f64>) -> String {
    theirs.map_or("—".into(), |t| format!("{:.2}×", ours / t))
}
fn its(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

/// The table row and the short figure for the headline, or why ours could not run.
fn compare<B: Backend>(
    be: &B,
    tag: &str,
    device: &str,
    size: &Size,
    threads: usize,
    seconds: f64,
) -> std::result::Result<(String, String), String> {
    let before = time_ours(be, size, seconds).map_err(|e| e.to_string())?;
    let peer = run_peer(size, device, threads, seconds);
    let after = time_ours(be, size, seconds).unwrap_or(before);
    let ours = (before.0 + after.0) / 2.0;
    let spread = (before.0 - after.0).abs() / ours * 100.0;
    eprintln!(
        "peer/{tag}/{}: ours {:.2} then {:.2} it/s ({} + {} iterations, spread {spread:.0}%); {}",
        size.name, before.0, after.0, before.1, after.1, peer.note
    );
    let row = format!(
        "| {} | {tag} | {ours:.2} | {} | {} | {} | {} | {} |",
        size.name,
        its(peer.eager),
        its(peer.compile),
        ratio(ours, peer.eager),
        ratio(ours, peer.compile),
        peer.note
    );
    let short = format!(
        "{} {tag} {ours:.1} it/s, {} eager, {} compile",
        size.name,
        ratio(ours, peer.eager),
        ratio(ours, peer.compile)
    );
    Ok((row, short))
}

fn main() {
    let threads: usize = env_or("CONVEXGAN_BENCH_THREADS", "")
        .parse()
        .unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // Read by matrixmultiply at its first product, which has not happened yet.
        std::env::set_var("MATMUL_NUM_THREADS", threads.to_string());
    }
    let seconds: f64 = env_or("CONVEXGAN_PEER_SECONDS", "3").parse().unwrap_or(3.0);
    // Each row is printed when it is measured, so a run stopped by a time limit keeps the rows
    // it finished (gpu-check.sh caps every step).
    println!("Phase 2 iterations per second (CPU: {threads} threads each side)\n");
    println!("| size | backend | ours it/s | torch eager it/s | torch.compile it/s | ours ÷ eager | ours ÷ compile | peer |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut short = Vec::new();
    let mut emit = |r: (String, String)| {
        println!("{}", r.0);
        short.push(r.1);
    };
    #[cfg(feature = "cuda")]
    let mut cuda_be: Option<std::result::Result<_, String>> = None;
    for size in Size::from_env() {
        if support::want_backend("cpu") {
            let cpu = convexgan::Cpu::<f32>::new();
            match compare(&cpu, "cpu-f32", "cpu", &size, threads, seconds) {
                Ok(r) => emit(r),
                Err(e) => eprintln!("skipped: peer/cpu-f32/{}: {e}", size.name),
            }
        }
        #[cfg(feature = "cuda")]
        if support::want_backend("cuda") {
            // Opened once, for every size; the skip (or failure) is reported once.
            let opened = cuda_be.is_some();
            match cuda_be.get_or_insert_with(support::cuda) {
                Ok(be) => match compare(be, "cuda", "cuda", &size, threads, seconds) {
                    Ok(r) => emit(r),
                    Err(e) => support::cuda_unavailable(&format!("peer/cuda/{}", size.name), &e),
                },
                Err(e) if !opened => support::cuda_unavailable("peer/cuda", e),
                Err(_) => {}
            }
        }
    }
    #[cfg(not(feature = "cuda"))]
    if support::want_backend("cuda") {
        support::cuda_unavailable("peer/cuda", "built without --features cuda");
    }
    if !short.is_empty() {
        println!("\nheadline: {}", short.join("; "));
    }
}
