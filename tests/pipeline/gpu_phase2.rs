//! A few Phase 2 iterations on the CUDA backend and on the CPU reference from the same seed: the
//! same weights, dictionary and random draws must give the same losses. Skipped (with the reason)
//! where no GPU is present, unless `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it
//! on a machine with a GPU), in which case failing to open the device fails the test.
#![cfg(feature = "cuda")]

use crate::common;

use convexgan::backend::cpu::CpuF32;
use convexgan::backend::{Backend, Precision};
use convexgan::config::{Config, QLoss};
use convexgan::nn::Mlp;
use convexgan::train::dictionary::Dictionary;
use convexgan::train::phase2::{Game, Phase2Context};

fn losses<B: Backend>(be: &B, dict: &Dictionary, q_loss: QLoss, steps: usize) -> Vec<f64> {
    let mut cfg = Config::fmnist();
    cfg.phase2.batch = 64;
    cfg.phase2.ns = 20;
    cfg.phase2.q_loss = q_loss;
    let dev = dict.upload(be).unwrap();
    let ctx = Phase2Context::new(be, dict, &dev, &cfg.phase2).unwrap();
    let mut init = common::rng(1);
    let q = Mlp::<B>::builder("q", dict.d_t + dict.d_s)
        .linear(64, convexgan::backend::Activation::Relu)
        .linear(dict.classes(), convexgan::backend::Activation::Identity)
        .build(be, &mut init)
        .unwrap();
    let mut game = Game::new(be, &cfg.model, dict, cfg.phase2.ns, q, &mut init).unwrap();
    let mut rng = common::rng(2);
    let mut out = Vec::new();
    for _ in 0..steps {
        let s = game.step(be, &ctx, &mut rng, 1e-4).unwrap();
        let mut ts = vec![&s.q_real, &s.q_fake, &s.g];
        ts.extend(s.d_real.as_ref());
        ts.extend(s.d_fake.as_ref());
        out.extend(be.read_scalars(&ts).unwrap());
    }
    out
}

/// Relative error of the loss sequence ≤ 1e-3: f32 on both sides, but different summation orders
/// (cuBLAS, block reductions) compound over the Adam updates between iterations.
#[test]
fn phase2_iterations_match_the_cpu() {
    let Some(gpu) = common::gpu_or_skip() else {
        return;
    };
    let mut r = common::rng(3);
    let (n, d, classes) = (600, 64, 10);
    let y: Vec<u32> = (0..n as u32).map(|i| i % classes as u32).collect();
    let ft: Vec<f32> = common::rand_vec(&mut r, n * d, 1.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let fs: Vec<f32> = common::rand_vec(&mut r, n * d, 1.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    for precision in [Precision::F32, Precision::Bf16] {
        let mut dict =
            Dictionary::build(&ft, &fs, d, d, &y, classes, 60, precision, 0, "test").unwrap();
        dict.counts = (0..classes).map(|c| 600 - 50 * c).collect();
        for q_loss in [QLoss::Mse, QLoss::Ldam] {
            let cpu = losses(&CpuF32::new(), &dict, q_loss, 6);
            let dev = losses(&gpu, &dict, q_loss, 6);
            eprintln!("{precision:?} {q_loss:?}\n cpu {cpu:?}\n gpu {dev:?}");
            common::assert_close(
                &format!("phase 2 losses ({precision:?}, {q_loss:?})"),
                &dev,
                &cpu,
                1e-3,
            );
        }
    }
}
