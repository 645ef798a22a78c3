//! Criterion benchmarks of whole iterations: one Phase 2 iteration (`Game::step`: host sampling,
//! uploads, the five updates; D trains on every 5th, as in training, so the mean over many
//! iterations is what an epoch costs per iteration) and one Phase 1 iteration (`train_phase1` on a
//! one-batch training set: gather, both streams, A and Q, backward, Adam, one loss read-back), at
//! the `fmnist` and `paper` sizes, on the CPU backend (f32) and, with `--features cuda` and a GPU,
//! on the CUDA backend. Throughput is samples per second (B = 256 per iteration).
//!
//! `cargo bench --bench iteration -- 'iter/cpu-f32/fmnist'`; `CONVEXGAN_BENCH_SIZES=fmnist` skips
//! building the other size, `CONVEXGAN_BENCH_BACKENDS=cuda` the CPU.

mod support;

use convexgan::backend::Backend;
use convexgan::train::phase1::train_phase1;
use convexgan::Result;
use criterion::{Criterion, SamplingMode, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use support::sizes::{Phase2Fixture, Size};

fn bench_iterations<B: Backend>(c: &mut Criterion, be: &B, tag: &str, size: &Size) -> Result<()> {
    let mut g = c.benchmark_group(format!("iter/{tag}/{}", size.name));
    g.throughput(Throughput::Elements(size.batch() as u64));
    // An iteration takes milliseconds to a second: equal-sized samples, not criterion's linear
    // ramp (which would run 55× the per-sample count).
    g.sampling_mode(SamplingMode::Flat);

    let fx = Phase2Fixture::new(be, size)?;
    let ctx = fx.ctx(be, size)?;
    let mut game = size.game(be, &fx.dict, 3)?;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let lr = size.cfg.phase2.lr.at(0);
    game.step(be, &ctx, &mut rng, lr)?;
    be.synchronize()?;
    g.bench_function("phase2", |b| {
        b.iter(|| {
            let l = game.step(be, &ctx, &mut rng, lr).expect("phase 2 step");
            be.synchronize().expect("synchronize");
            l
        })
    });
    drop(game);

    let (mut heads, x, y, cfg) = size.phase1(be, 5)?;
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    train_phase1(be, &mut heads, &x, &y, &cfg, &mut rng, false)?;
    g.bench_function("phase1", |b| {
        b.iter(|| {
            train_phase1(be, &mut heads, &x, &y, &cfg, &mut rng, false).expect("phase 1 iteration")
        })
    });
    g.finish();
    Ok(())
}

struct Bench;

impl support::PerBackend for Bench {
    const GROUP: &'static str = "iter";
    fn run<B: Backend>(&self, c: &mut Criterion, be: &B, tag: &str, size: &Size) -> Result<()> {
        bench_iterations(c, be, tag, size)
    }
}

fn main() {
    support::run_criterion(&Bench);
}
