//! The trainer tests, one binary (`cargo test --test pipeline`): layers and models (`nn`), metrics
//! and reports, Phase 1 with landmarks, the ablation switches and `ablate`, sampling, the numerical
//! guards, the whole pipeline on Fashion-MNIST-LT and on the DeepFashion and DeepFashion2 fixtures,
//! the PyTorch gradient oracle (`torch_peer`), and Phase 2 on CUDA against the CPU (`gpu_phase2`,
//! feature `cuda`; skips without a device unless `CONVEXGAN_REQUIRE_GPU` is set).

#[path = "../common/mod.rs"]
mod common;
#[path = "../fixture/deepfashion.rs"]
mod fixture;
#[path = "../fixture/deepfashion2.rs"]
mod fixture2;
#[path = "../../benches/support/mod.rs"]
mod support;

mod ablation;
mod deepfashion2_pipeline;
mod deepfashion_pipeline;
mod gpu_phase2;
mod guard_memory;
mod longtail;
mod metrics;
mod nn;
mod phase1_landmarks;
mod pipeline;
mod report;
mod sampler;
mod sampling;
mod torch_peer;
