//! GPU-only measurements (needs `--features cuda` and a device; otherwise prints why it skipped):
//!
//! 1. The convex combination's floor: the fewest bytes the forward (and backward) must move — every
//!    distinct dictionary row the batch touches, read once, plus the logits, indices, weights and
//!    outputs — over the device bandwidth measured here with a large device-to-device copy. The
//!    kernel's time is reported as a fraction of that floor (1.0 = at the bandwidth).
//! 2. CUDA graphs: five Phase 2 iterations (one D cycle) captured once and replayed, against the
//!    same five iterations launched op by op (`probe::step` on the same pre-uploaded inputs), and
//!    against `Game::step` (which also samples on the host and uploads each iteration). One replay
//!    is first checked against five plain iterations from the same state (weights must agree).
//!    Inside the graph Adam's step count, hence its bias correction, is the one captured: replays
//!    repeat it (the time is the same; the arithmetic of later steps is not training's).
//!
//! A capture or replay that fails (an error, or a panic inside cudarc) is reported in its row as
//! `capture failed: <message>` and the bench goes on. The last line, `headline: ...`, sums the
//! figures up for scripts/gpu-check.sh. Without a device the bench prints `skipped: ...` and
//! exits 0, unless `CONVEXGAN_REQUIRE_GPU` is set: then it exits 1, as it does when a section
//! fails for another reason.
//!
//! `cargo bench --features cuda --bench gpu`; `CONVEXGAN_BENCH_SIZES` as for the other benches.

mod support;

#[cfg(feature = "cuda")]
mod gpu {
    use std::time::Instant;

    use convexgan::backend::cuda::convex::ConvexKernel;
    use convexgan::backend::cuda::CudaBackend;
    use convexgan::backend::prelude::*;
    use convexgan::train::phase2::Game;
    use convexgan::{Error, Result};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::support::probe::{self, Draw, Inputs};
    use crate::support::sizes::{Phase2Fixture, Size};

    fn cuda_err(e: impl std::fmt::Display) -> Error {
        Error::Cuda(e.to_string())
    }

    /// Seconds per call of `f` over `reps` back-to-back calls and one synchronisation.
    fn per_call(be: &CudaBackend, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
        f()?;
        be.synchronize()?;
        let t0 = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        be.synchronize()?;
        Ok(t0.elapsed().as_secs_f64() / reps as f64)
    }

    /// Device bandwidth in bytes per second: a 512 MiB device-to-device copy (read + write).
    pub fn bandwidth(be: &CudaBackend) -> Result<f64> {
        let n = 128 << 20;
        let src = be.alloc_zeros(n)?;
        let mut dst = be.alloc_zeros(n)?;
        let s = be.stream().clone();
        let t = per_call(be, 20, || s.memcpy_dtod(&src, &mut dst).map_err(cuda_err))?;
        Ok(2.0 * (n * 4) as f64 / t)
    }

    /// Distinct dictionary rows × both streams × 4 bytes, plus indices, weights (twice: the
    /// forward writes them, the backward reads them), logits in or their gradient out, and the
    /// two `B × d` feature matrices (out, or their gradients in).
    fn floor_bytes(size: &Size, rows: &[u32]) -> f64 {
        let mut distinct = rows.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let (b, ns, d) = (size.batch(), size.ns(), size.d_stream());
        (distinct.len() * 2 * d * 4 + b * ns * 4 + 2 * b * 2 * ns * 4 + b * 2 * d * 4) as f64
    }

    /// The table row, and the short figure for the headline.
    pub fn convex_floor(be: &CudaBackend, size: &Size, bw: f64) -> Result<(String, String)> {
        let fx = Phase2Fixture::new(be, size)?;
        let ctx = fx.ctx(be, size)?;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let draw = Draw::new(&mut rng, &ctx, size.z_dim())?;
        let rows = be.upload_indices(&draw.rows_g)?;
        let (b, ns, d) = (size.batch(), size.ns(), size.d_stream());
        let logits: Vec<f32> = (0..b * 2 * ns).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let logits = be.upload_f32(&logits, b, 2 * ns)?;
        let df: Vec<f32> = (0..b * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let df = be.upload_f32(&df, b, d)?;
        let (dt, ds) = (&fx.dev.texture, &fx.dev.shape);
        let bytes = floor_bytes(size, &draw.rows_g);
        let gathered = (b * ns * 2 * d * 4) as f64;
        let floor_t = bytes / bw;
        // Each version is checked against version 1 before it is timed (numbers before speed).
        be.set_convex_kernel(ConvexKernel::V1);
        let want = be.convex_combine_fwd(&logits, dt, ds, &rows)?;
        let want_f = be.download(&want.f_t)?;
        let want_g = be.download(&be.convex_combine_bwd(&want.w, &df, &df, dt, ds, &rows)?)?;
        let mut cells = Vec::new();
        let mut shorts = Vec::new();
        for (version, tag) in [(ConvexKernel::V1, "v1"), (ConvexKernel::V2, "v2")] {
            be.set_convex_kernel(version);
            let got = be.convex_combine_fwd(&logits, dt, ds, &rows)?;
            let f_err = max_rel(&be.download(&got.f_t)?, &want_f);
            let g = be.convex_combine_bwd(&got.w, &df, &df, dt, ds, &rows)?;
            let g_err = max_rel(&be.download(&g)?, &want_g);
            if f_err > 1e-4 || g_err > 1e-4 {
                be.set_convex_kernel(ConvexKernel::V1);
                return Err(Error::Cuda(format!(
                    "convex {tag} disagrees with v1: forward {f_err:.1e}, backward {g_err:.1e} relative"
                )));
            }
            let fwd = per_call(be, 200, || {
                be.convex_combine_fwd(&logits, dt, ds, &rows).map(drop)
            })?;
            let bwd = per_call(be, 200, || {
                be.convex_combine_bwd(&got.w, &df, &df, dt, ds, &rows)
                    .map(drop)
            })?;
            cells.push(format!(
                "fwd {:.1} µs = {:.0}% · bwd {:.1} µs = {:.0}% ({:.0} / {:.0} GB/s)",
                fwd * 1e6,
                100.0 * floor_t / fwd,
                bwd * 1e6,
                100.0 * floor_t / bwd,
                bytes / fwd / 1e9,
                bytes / bwd / 1e9,
            ));
            shorts.push(format!(
                "convex {tag} fwd {:.0}% bwd {:.0}%",
                100.0 * floor_t / fwd,
                100.0 * floor_t / bwd
            ));
        }
        be.set_convex_kernel(ConvexKernel::from_env());
        let short = format!("{} of floor", shorts.join(", "));
        let row = format!(
            "| {} | {:.1} MB ({:.1} MB gathered) | {:.1} µs | {} | {} |",
            size.name,
            bytes / 1e6,
            gathered / 1e6,
            floor_t * 1e6,
            cells[0],
            cells[1],
        );
        Ok((row, short))
    }

    /// Largest `|a − b| / max(|b|, 1e-3)` (a relative error that tolerates values near zero).
    fn max_rel(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| ((x - y).abs() / y.abs().max(1e-3)) as f64)
            .fold(
                if a.len() == b.len() {
                    0.0
                } else {
                    f64::INFINITY
                },
                f64::max,
            )
    }

    fn max_abs_diff(be: &CudaBackend, a: &Game<CudaBackend>, b: &Game<CudaBackend>) -> Result<f64> {
        let mut worst = 0.0f64;
        let nets = |g: &Game<CudaBackend>| {
            [&g.g.net, &g.d.net, &g.q]
                .into_iter()
                .flat_map(|n| n.params())
                .map(|p| p.value.clone())
                .collect::<Vec<_>>()
        };
        for (x, y) in nets(a).iter().zip(&nets(b)) {
            let (x, y) = (be.download(x)?, be.download(y)?);
            for (u, v) in x.iter().zip(&y) {
                worst = worst.max((u - v).abs() as f64);
            }
        }
        Ok(worst)
    }

    /// A game that never ran (no layer caches, which capture could not free) with zero Adam
    /// moments allocated up front (so the captured Adam steps allocate nothing that must persist).
    fn fresh_game(
        be: &CudaBackend,
        size: &Size,
        fx: &Phase2Fixture<CudaBackend>,
    ) -> Result<Game<CudaBackend>> {
        let mut game = size.game(be, &fx.dict, 3)?;
        for p in game
            .g
            .net
            .params_mut()
            .into_iter()
            .chain(game.d.net.params_mut())
            .chain(game.q.params_mut())
        {
            let (r, c) = p.value.shape();
            p.set_moments(be.zeros(r, c)?, be.zeros(r, c)?);
        }
        Ok(game)
    }

    /// The message of a caught panic.
    fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into())
    }

    /// Runs `f`, turning a panic into an error with the panic's message: cudarc unwraps in some
    /// paths that capture can make fail (clones, frees), and a failed capture must not end the
    /// bench.
    fn guarded<T>(f: impl FnOnce() -> Result<T>) -> std::result::Result<T, String> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(p) => Err(format!("panic: {}", panic_text(p))),
        }
    }

    /// The table row, and the short figure for the headline. A capture or replay that fails
    /// (error or panic) gives a row saying `capture failed: <message>`, not an error.
    pub fn graphs(be: &CudaBackend, size: &Size) -> Result<(String, String)> {
        const CYCLE: usize = 5;
        let fx = Phase2Fixture::new(be, size)?;
        let ctx = fx.ctx(be, size)?;
        let lr = size.cfg.phase2.lr.at(0);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let draw = Draw::new(&mut rng, &ctx, size.z_dim())?;
        let inputs = Inputs::upload(be, &draw, size.z_dim())?;

        // Op by op: Game::step, then the probe on fixed inputs (the graph's work exactly).
        let mut game = size.game(be, &fx.dict, 3)?;
        let reps = 4 * CYCLE;
        let game_step = per_call(be, reps, || game.step(be, &ctx, &mut rng, lr).map(drop))?;
        // What one Game::step asks of the device, over one D cycle.
        be.synchronize()?;
        be.reset_counters();
        for _ in 0..CYCLE {
            game.step(be, &ctx, &mut rng, lr)?;
        }
        let c = be.counters();
        println!(
            "{}: per Game::step over {CYCLE} iterations: {:.1} kernel launches, {:.1} allocations, \
             {:.1} uploads, {:.1} host synchronisations",
            size.name,
            c.launches as f64 / CYCLE as f64,
            c.allocations as f64 / CYCLE as f64,
            c.uploads as f64 / CYCLE as f64,
            c.host_syncs as f64 / CYCLE as f64
        );
        let plain = per_call(be, reps, || {
            probe::step(be, &mut game, &ctx, &inputs, lr, &mut probe::ignore).map(drop)
        })?;
        drop(game);
        let head = format!(
            "| {} | {:.2} | {:.2} |",
            size.name,
            1.0 / game_step,
            1.0 / plain
        );
        let failed = |stage: &str, e: String| {
            let e = e.replace('|', "/").replace('\n', " ");
            (
                format!("{head} capture failed: {stage}{e} | — | — |"),
                format!("capture failed: {stage}{e}"),
            )
        };

        let mut captured = fresh_game(be, size, &fx)?;
        let mut check = match guarded(|| Ok(captured.clone())) {
            Ok(c) => c,
            Err(e) => return Ok(failed("cloning the game: ", e)),
        };
        let capture = guarded(|| {
            be.capture(|be| {
                let mut kept = Vec::with_capacity(CYCLE);
                for _ in 0..CYCLE {
                    kept.push(probe::step(
                        be,
                        &mut captured,
                        &ctx,
                        &inputs,
                        lr,
                        &mut probe::ignore,
                    )?);
                }
                Ok(kept)
            })
        });
        // What a failed capture or replay leaves (buffers allocated inside the capture) may not
        // free cleanly either: it is dropped under the same guard.
        let release = |games: Vec<Game<CudaBackend>>| {
            if let Err(e) = guarded(move || {
                drop(games);
                Ok(())
            }) {
                eprintln!("gpu/{}: freeing after the capture: {e}", size.name);
            }
        };
        let (graph, kept) = match capture {
            Ok(g) => g,
            Err(e) => {
                release(vec![captured, check]);
                return Ok(failed("", e));
            }
        };
        // One replay against five plain iterations from the same state, then the timed replays;
        // a failure here is reported the same way.
        let replayed = guarded(|| {
            graph.replay()?;
            for _ in 0..CYCLE {
                probe::step(be, &mut check, &ctx, &inputs, lr, &mut probe::ignore)?;
            }
            be.synchronize()?;
            let diff = max_abs_diff(be, &captured, &check)?;
            let replay = per_call(be, reps / CYCLE, || graph.replay())? / CYCLE as f64;
            be.synchronize()?;
            // Graph memory that outlived the capture is freed once, after the last replay.
            drop(kept);
            drop(captured);
            be.synchronize()?;
            drop(graph);
            Ok((diff, replay))
        });
        release(vec![check]);
        let (diff, replay) = match replayed {
            Ok(r) => r,
            Err(e) => return Ok(failed("replay: ", e)),
        };
        Ok((
            format!(
                "{head} {:.2} | {:.2}× | {diff:.1e} |",
                1.0 / replay,
                plain / replay
            ),
            format!("replay {:.2}× plain", plain / replay),
        ))
    }
}

/// Exits 1 when `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it where a GPU is):
/// there, no device is a failure; elsewhere it is a skip.
fn no_device(why: &str) {
    if support::require_gpu() {
        eprintln!("failed: gpu: {why} (CONVEXGAN_REQUIRE_GPU is set)");
        std::process::exit(1);
    }
    eprintln!("skipped: gpu: {why}");
}

fn main() {
    #[cfg(not(feature = "cuda"))]
    no_device("built without --features cuda");
    #[cfg(feature = "cuda")]
    {
        use convexgan::backend::prelude::*;
        use support::sizes::Size;
        let be = match convexgan::backend::cuda::CudaBackend::new_capturable(0) {
            Ok(be) => be,
            Err(e) => return no_device(&format!("no CUDA device ({e})")),
        };
        println!("device: {}", be.name());
        let bw = match gpu::bandwidth(&be) {
            Ok(bw) => bw,
            Err(e) => {
                eprintln!("failed: gpu: bandwidth measurement failed: {e}");
                std::process::exit(1);
            }
        };
        println!("device-to-device copy bandwidth: {:.0} GB/s\n", bw / 1e9);
        println!("| size | floor bytes | floor time | v1 kernels (time, floor ÷ time, achieved) | v2 kernels |");
        println!("|---|---|---|---|---|");
        let sizes = Size::from_env();
        // Per size, the short figures of both sections (the last line, for gpu-check.sh's summary).
        let mut short: Vec<Vec<String>> = vec![Vec::new(); sizes.len()];
        let mut failures = 0;
        for (size, short) in sizes.iter().zip(&mut short) {
            match gpu::convex_floor(&be, size, bw) {
                Ok((row, s)) => {
                    println!("{row}");
                    short.push(s);
                }
                Err(e) => {
                    failures += 1;
                    println!("| {} | failed: {e} | | | |", size.name);
                    short.push("convex failed".into());
                }
            }
        }
        println!("\nPhase 2 iterations per second: op by op against a CUDA graph replay\n");
        println!("| size | Game::step | probe::step (fixed inputs) | graph replay | replay ÷ plain | max abs weight diff, replay vs plain |");
        println!("|---|---|---|---|---|---|");
        for (size, short) in sizes.iter().zip(&mut short) {
            match gpu::graphs(&be, size) {
                Ok((row, s)) => {
                    println!("{row}");
                    short.push(s);
                }
                Err(e) => {
                    failures += 1;
                    println!("| {} | failed: {e} | | | | |", size.name);
                    short.push("graphs failed".into());
                }
            }
        }
        let figures: Vec<String> = sizes
            .iter()
            .zip(&short)
            .map(|(size, s)| format!("{}: {}", size.name, s.join(", ")))
            .collect();
        println!("\nheadline: {:.0} GB/s; {}", bw / 1e9, figures.join("; "));
        if failures > 0 {
            eprintln!("failed: gpu: {failures} section(s) failed (rows above)");
            std::process::exit(1);
        }
    }
}
