//! The cuDNN backbone (`CudnnChain`, feature `cudnn`) against the CPU reference `chain_ref`, on
//! the ONNX node test cases that tests/data/backbone_chain.rs checks `chain_ref` on, on a random
//! VGG-shaped model, and on a model of the windows cuDNN cannot take directly (asymmetric pads,
//! dilated pooling, which go through explicit padding).
//!
//! Tolerance (METHOD.md §7, relative error ‖out − ref‖/‖ref‖): 1e-4, f32 reductions and products
//! against the f64-accumulated reference. NaN never passes.
//!
//! Without the feature, a GPU, libcuda or libcudnn every test prints `skipped: <reason>` and
//! passes, unless `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it on a machine with a
//! GPU), in which case failing to open the device fails the test.
// tests/common's `!(err <= tol)` is deliberate: it fails on NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

#[cfg(not(feature = "cudnn"))]
#[test]
fn cudnn_backbone() {
    eprintln!("skipped: built without the `cudnn` feature (cargo test --features cudnn)");
}

#[cfg(feature = "cudnn")]
use crate::backbone_support;
#[cfg(feature = "cudnn")]
use crate::common;
#[cfg(feature = "cudnn")]
use crate::fixture;

#[cfg(feature = "cudnn")]
mod gpu {
    use std::path::Path;

    use super::backbone_support::*;
    use super::common::{assert_close, rng, to_f64};
    use convexgan::backend::cuda::CudaBackend;
    use convexgan::internal::backbone::cudnn::CudnnChain;
    use convexgan::internal::backbone::graph::{self, Chain, Op, Window};
    use convexgan::internal::backbone::{chain_ref, FeatureMap};
    use convexgan::Error;

    const TOL: f64 = 1e-4;

    /// `r`'s value, or `None` (after printing why) when it is a CUDA error: no usable GPU,
    /// driver or cuDNN.
    fn usable<T>(what: &str, r: convexgan::Result<T>) -> Option<T> {
        match r {
            Ok(g) => Some(g),
            Err(e @ Error::Cuda(_)) => {
                if std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some() {
                    panic!("CONVEXGAN_REQUIRE_GPU is set but {what} did not open: {e}");
                }
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{what} failed with a non-CUDA error: {e}"),
        }
    }

    /// The chain on the GPU, or `None` (after printing why) without a usable one.
    fn open(chain: &Chain) -> Option<CudnnChain> {
        usable("CudnnChain::new", CudnnChain::new(chain))
    }

    fn check(what: &str, gpu: &FeatureMap, cpu: &FeatureMap) {
        assert_eq!(
            (gpu.n, gpu.c, gpu.h, gpu.w),
            (cpu.n, cpu.c, cpu.h, cpu.w),
            "{what}: shape"
        );
        assert_close(what, &to_f64(&gpu.data), &to_f64(&cpu.data), TOL);
    }

    fn chain_of(m: &tract_onnx::pb::ModelProto, dir: &Path) -> Chain {
        let path = dir.join("model.onnx");
        write_model(m, &path);
        graph::chain_to(&graph::read_model(&path).unwrap(), "y", &path).unwrap()
    }

    #[test]
    fn node_cases_match_chain_ref() {
        let dir = tempfile::tempdir().unwrap();
        let names = supported_cases();
        assert!(names.len() >= 15, "{names:?}");
        for name in &names {
            let case = NodeCase::load(name, dir.path());
            let chain = case.chain().unwrap();
            let (n, chw) = case.nchw().unwrap();
            let Some(mut g) = open(&chain) else { return };
            let want = chain_ref::run_chain(&chain, &case.input, n, chw).unwrap();
            let got = g
                .run(&case.input, n, chw)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            check(&format!("{name}: cuDNN vs chain_ref"), &got, &want);
            // And against the ONNX expected output directly.
            assert_close(
                &format!("{name}: cuDNN vs ONNX expected"),
                &to_f64(&got.data),
                &to_f64(&case.expected),
                TOL,
            );
        }
    }

    #[test]
    fn vgg_like_model_matches_chain_ref() {
        let dir = tempfile::tempdir().unwrap();
        let chain = chain_of(&vgg_like(&mut rng(7)), dir.path());
        let Some(mut g) = open(&chain) else { return };
        eprintln!("{}", g.describe());
        let [n, c, h, w] = VGG_INPUT;
        let x = uniform(&mut rng(8), n * c * h * w, 1.0);
        let want = chain_ref::run_chain(&chain, &x, n, [c, h, w]).unwrap();
        check("VGG-like", &g.run(&x, n, [c, h, w]).unwrap(), &want);
        // A second shape re-plans; the first shape again re-plans back.
        let x2 = uniform(&mut rng(9), 5 * c * 33 * 27, 1.0);
        let want2 = chain_ref::run_chain(&chain, &x2, 5, [c, 33, 27]).unwrap();
        check(
            "VGG-like, 5×3×33×27",
            &g.run(&x2, 5, [c, 33, 27]).unwrap(),
            &want2,
        );
        check(
            "VGG-like, first shape again",
            &g.run(&x, n, [c, h, w]).unwrap(),
            &want,
        );
    }

    /// Two chains on one backend run on its context and stream, interleaved and each as it
    /// would alone; the chains keep the backend alive when the caller's handle to it is gone.
    #[test]
    fn chains_share_one_backend() {
        let dir = tempfile::tempdir().unwrap();
        let vgg = chain_of(&vgg_like(&mut rng(7)), dir.path());
        let odd = chain_of(&odd_windows(&mut rng(9)), dir.path());
        let Some(be) = usable("CudaBackend::new", CudaBackend::new(0)) else {
            return;
        };
        let Some(mut a) = usable("CudnnChain::on_backend", CudnnChain::on_backend(&be, &vgg))
        else {
            return;
        };
        let mut b = CudnnChain::on_backend(&be, &odd).unwrap();
        assert!(std::sync::Arc::ptr_eq(a.backend().stream(), be.stream()));
        assert!(std::sync::Arc::ptr_eq(b.backend().context(), be.context()));
        drop(be);
        let [n, c, h, w] = VGG_INPUT;
        let xa = uniform(&mut rng(8), n * c * h * w, 1.0);
        let want_a = chain_ref::run_chain(&vgg, &xa, n, [c, h, w]).unwrap();
        let [on, oc, oh, ow] = ODD_INPUT;
        let xb = uniform(&mut rng(10), on * oc * oh * ow, 1.0);
        let want_b = chain_ref::run_chain(&odd, &xb, on, [oc, oh, ow]).unwrap();
        for round in 0..2 {
            let got_a = a.run(&xa, n, [c, h, w]).unwrap();
            let got_b = b.run(&xb, on, [oc, oh, ow]).unwrap();
            check(
                &format!("shared backend, VGG-like, round {round}"),
                &got_a,
                &want_a,
            );
            check(
                &format!("shared backend, odd windows, round {round}"),
                &got_b,
                &want_b,
            );
        }
        // One chain dropped, the other still runs on the backend it keeps.
        drop(a);
        let got_b = b.run(&xb, on, [oc, oh, ow]).unwrap();
        check(
            "shared backend, after the other chain is dropped",
            &got_b,
            &want_b,
        );
    }

    #[test]
    fn odd_windows_match_chain_ref() {
        let dir = tempfile::tempdir().unwrap();
        let chain = chain_of(&odd_windows(&mut rng(9)), dir.path());
        let Some(mut g) = open(&chain) else { return };
        let [n, c, h, w] = ODD_INPUT;
        let x = uniform(&mut rng(10), n * c * h * w, 1.0);
        let want = chain_ref::run_chain(&chain, &x, n, [c, h, w]).unwrap();
        check(
            "asymmetric and dilated windows",
            &g.run(&x, n, [c, h, w]).unwrap(),
            &want,
        );
    }

    #[test]
    fn padding_never_wins_a_max_pool() {
        // All-negative input through cuDNN's own max pooling with padding (symmetric, smaller
        // than the window) and through the explicit −∞ padding (asymmetric).
        let pool = |pads| Op::MaxPool {
            window: Window {
                kernel: [3, 3],
                strides: [2, 1],
                pads,
                dilations: [1, 1],
            },
        };
        for pads in [[1, 1, 1, 1], [2, 0, 1, 2]] {
            let chain = Chain {
                input: "x".into(),
                output: "y".into(),
                ops: vec![pool(pads)],
            };
            let Some(mut g) = open(&chain) else { return };
            let x: Vec<f32> = uniform(&mut rng(3), 2 * 3 * 7 * 6, 1.0)
                .into_iter()
                .map(|v| v.abs() - 1.5)
                .collect();
            let want = chain_ref::run_chain(&chain, &x, 2, [3, 7, 6]).unwrap();
            let got = g.run(&x, 2, [3, 7, 6]).unwrap();
            assert!(got.data.iter().all(|&v| v < 0.0), "pads {pads:?}");
            check(&format!("max pool, pads {pads:?}"), &got, &want);
        }
    }

    #[test]
    fn unsupported_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let chain = chain_of(&vgg_like(&mut rng(7)), dir.path());
        let Some(mut g) = open(&chain) else { return };
        // Too small for conv2's window, as chain_ref reports it.
        let msg = g.run(&[0.5; 24], 2, [3, 2, 2]).unwrap_err().to_string();
        assert!(msg.contains("op 5 (Conv)"), "{msg}");
        // Wrong channel count.
        let msg = g.run(&[0.5; 800], 1, [2, 20, 20]).unwrap_err().to_string();
        assert!(msg.contains("op 0 (Conv)"), "{msg}");
        // Fewer values than the shape says.
        let msg = g.run(&[0.5; 10], 1, [3, 20, 20]).unwrap_err().to_string();
        assert!(msg.contains("10 values"), "{msg}");
        // After the errors the chain still runs.
        let x = uniform(&mut rng(8), 2 * 3 * 20 * 20, 1.0);
        let want = chain_ref::run_chain(&chain, &x, 2, [3, 20, 20]).unwrap();
        check("after errors", &g.run(&x, 2, [3, 20, 20]).unwrap(), &want);
        // An empty batch is an empty output of the right shape.
        let empty = g.run(&[], 0, [3, 20, 20]).unwrap();
        assert_eq!((empty.n, empty.c, empty.h, empty.w), (0, 6, 1, 1));
        assert!(empty.data.is_empty());
    }

    /// The check: the GPU path against tract (the CPU path) on the same model and inputs —
    /// the repo's own VGG-shaped model at 224×224, cut at its last ReLU as `extract` cuts it.
    #[test]
    fn tiny_vgg_matches_tract() {
        use convexgan::internal::backbone::onnx_writer::{write_vgg, VggSpec};
        use convexgan::internal::backbone::tract_cpu::TractModel;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vgg.onnx");
        write_vgg(&path, &VggSpec::tiny(7)).unwrap();
        let model = graph::read_model(&path).unwrap();
        let out = graph::default_output(&model, &path).unwrap();
        let chain = graph::chain_to(&model, &out, &path).unwrap();
        let Some(mut g) = open(&chain) else { return };
        let mut r = rng(5);
        let n = 3;
        let x: Vec<f32> = (0..n * 3 * 224 * 224)
            .map(|_| rand::Rng::gen_range(&mut r, -2.0f32..2.0))
            .collect();
        let gpu = g.run(&x, n, [3, 224, 224]).unwrap();
        let cpu = TractModel::load(&path, Some(&out))
            .unwrap()
            .run_images(&x, n, [3, 224, 224])
            .unwrap();
        check("tiny VGG, cuDNN vs tract", &gpu, &cpu);
    }

    /// `extract --device cuda` writes the features `--device cpu` writes, to the tolerance.
    #[test]
    fn extract_on_the_gpu_matches_the_cpu() {
        use super::fixture::{write_fixture, FixtureSpec};
        use convexgan::internal::backbone::onnx_writer::{write_vgg, VggSpec};
        use convexgan::internal::extract::{extract, ExtractDevice, ExtractOptions};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("deepfashion");
        write_fixture(&root, &FixtureSpec::new(vec![5, 4], 2));
        let vgg = dir.path().join("vgg.onnx");
        write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
        let opts = |device, name: &str| ExtractOptions {
            data: root.clone(),
            texture_backbone: vgg.clone(),
            texture_output: None,
            shape_backbone: None,
            shape_output: None,
            features: dir.path().join(name),
            pool: 2,
            batch: 4,
            limit: None,
            device,
            progress: false,
        };
        let gpu = match extract(&opts(ExtractDevice::Cuda, "gpu.safetensors")) {
            Ok(set) => set,
            Err(e @ Error::Cuda(_)) => {
                if std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some() {
                    panic!("CONVEXGAN_REQUIRE_GPU is set but extract on cuda failed: {e}");
                }
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let cpu = extract(&opts(ExtractDevice::Cpu, "cpu.safetensors")).unwrap();
        assert_eq!(gpu.labels, cpu.labels);
        assert_eq!(gpu.landmarks, cpu.landmarks);
        assert_close(
            "extract features, cuda vs cpu",
            &to_f64(&gpu.x),
            &to_f64(&cpu.x),
            TOL,
        );
    }
}
