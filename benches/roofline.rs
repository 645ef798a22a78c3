//! How close the CPU backend runs to this machine's own limits: the peak of a large SGEMM and of a
//! streaming copy, measured here, beside the GFLOP/s of every matrix product one Phase 2
//! iteration makes (each Linear layer of G, D and Q forward, input gradient and weight gradient,
//! at the batch of the preset) and the GB/s of the convex forward and backward over the bytes they
//! must move (`support::sizes::convex_bytes`), at the `fmnist` and `paper` sizes.
//!
//! `cargo bench --bench roofline`; threads from `MATMUL_NUM_THREADS` (products and the other ops
//! alike); `CONVEXGAN_BENCH_SIZES` picks the sizes. Each figure is the best of several timed
//! rounds, so it is what the code can do on a quiet machine, not an average over a noisy one.

mod support;

use std::time::Instant;

use convexgan::backend::prelude::*;
use convexgan::backend::{Cpu, Tensor};
use convexgan::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::sizes::{Phase2Fixture, Size};

/// Best seconds per call of `f` over `rounds` rounds of `reps` calls.
fn best(rounds: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn random(
    be: &Cpu<f32>,
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
) -> Result<Tensor<Cpu<f32>>> {
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.gen::<f32>() - 0.5).collect();
    be.upload_f32(&v, rows, cols)
}

/// GFLOP/s of `op(A)·op(B)` with `m × k` times `k × n`.
fn product(
    be: &Cpu<f32>,
    rng: &mut ChaCha8Rng,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> Result<f64> {
    let a = if ta {
        random(be, rng, k, m)?
    } else {
        random(be, rng, m, k)?
    };
    let b = if tb {
        random(be, rng, n, k)?
    } else {
        random(be, rng, k, n)?
    };
    let flops = 2.0 * (m * k * n) as f64;
    let reps = ((2e9 / flops) as usize).clamp(2, 500);
    let s = best(5, reps, || {
        std::hint::black_box(be.matmul(&a, ta, &b, tb).expect("product"));
    });
    Ok(flops / s / 1e9)
}

/// The (input, output) widths of G's, D's and Q's Linear layers at `size`.
fn layers(size: &Size) -> Vec<(&'static str, usize, usize)> {
    let m = &size.cfg.model;
    let (c, d) = (size.classes, 2 * size.d_stream());
    let chain = |name: &'static str, d_in: usize, widths: Vec<usize>| {
        let mut v = Vec::new();
        let mut w_in = d_in;
        for w in widths {
            v.push((name, w_in, w));
            w_in = w;
        }
        v
    };
    let mut g_w = m.g_hidden.clone();
    g_w.push(2 * size.ns());
    let mut d_w = m.d_hidden.clone();
    d_w.push(1);
    let mut all = chain("G", m.z_dim + c, g_w);
    all.extend(chain("D", d + c, d_w));
    all.extend(chain("Q", d, vec![m.q_hidden, c]));
    all
}

fn main() -> Result<()> {
    convexgan::backend::cpu::use_all_cores();
    let be = Cpu::<f32>::new();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let threads = convexgan::backend::cpu::parallel::threads();
    let peak = product(&be, &mut rng, 2048, 2048, 2048, false, false)?;
    // A streaming copy of 256 MiB (read and written: twice the bytes).
    let src = vec![1.0f32; 64 << 20];
    let mut dst = vec![0.0f32; 64 << 20];
    let s = best(5, 2, || {
        dst.copy_from_slice(&src);
        std::hint::black_box(&dst);
    });
    let copy = 2.0 * (src.len() * 4) as f64 / s / 1e9;
    println!("machine ({threads} threads): SGEMM 2048³ {peak:.1} GFLOP/s, copy {copy:.1} GB/s\n");
    println!("| size | op | shape (m×k×n) | achieved | of the peak |");
    println!("|---|---|---|---|---|");
    for size in Size::from_env() {
        let b = size.batch();
        let (mut flops, mut secs) = (0.0, 0.0);
        for (net, i, o) in layers(&size) {
            for (what, m, k, n, ta, tb) in [
                ("forward", b, i, o, false, false),
                ("input grad", b, o, i, false, true),
                ("weight grad", i, b, o, true, false),
            ] {
                let g = product(&be, &mut rng, m, k, n, ta, tb)?;
                let f = 2.0 * (m * k * n) as f64;
                flops += f;
                secs += f / (g * 1e9);
                println!(
                    "| {} | {net} {what} | {m}×{k}×{n} | {g:.1} GFLOP/s | {:.0}% |",
                    size.name,
                    100.0 * g / peak
                );
            }
        }
        let all = flops / secs / 1e9;
        println!(
            "| {} | **all products, weighted by FLOPs** | | **{all:.1} GFLOP/s** | **{:.0}%** |",
            size.name,
            100.0 * all / peak
        );
        let fx = Phase2Fixture::new(&be, &size)?;
        let ctx = fx.ctx(&be, &size)?;
        let draw = support::probe::Draw::new(&mut rng, &ctx, size.z_dim())?;
        let bytes = support::sizes::convex_bytes(&size, &draw.rows_g) as f64;
        let rows = be.upload_indices(&draw.rows_g)?;
        let (ns, d) = (size.ns(), size.d_stream());
        let logits = random(&be, &mut rng, b, 2 * ns)?;
        let (ft, fs) = (random(&be, &mut rng, b, d)?, random(&be, &mut rng, b, d)?);
        let conv = be.convex_combine_fwd(&logits, &fx.dev.texture, &fx.dev.shape, &rows)?;
        let fwd = best(5, 3, || {
            std::hint::black_box(
                be.convex_combine_fwd(&logits, &fx.dev.texture, &fx.dev.shape, &rows)
                    .expect("convex forward"),
            );
        });
        let bwd = best(5, 3, || {
            std::hint::black_box(
                be.convex_combine_bwd(&conv.w, &ft, &fs, &fx.dev.texture, &fx.dev.shape, &rows)
                    .expect("convex backward"),
            );
        });
        for (what, s) in [("convex forward", fwd), ("convex backward", bwd)] {
            let gbs = bytes / s / 1e9;
            println!(
                "| {} | {what} | B {b}, N_s {ns}, d {d} | {gbs:.1} GB/s | {:.0}% of copy |",
                size.name,
                100.0 * gbs / copy
            );
        }
    }
    Ok(())
}
