//! The nn layer: gradient of a whole Linear → BatchNorm → ReLU → Linear stack against finite
//! differences (f64), bit-identical training from one seed, and the parameter store on disk.

use crate::common::{assert_close, dot, fd_grad, rand_labels, rand_vec, rng};
use convexgan::backend::cpu::{CpuF32, CpuF64};
use convexgan::backend::prelude::*;
use convexgan::backend::{Activation, Backend, ClassLoss};
use convexgan::nn::{Adam, Mlp, Mode, ParamStore};

fn stack<B: Backend>(be: &B, seed: u64) -> Mlp<B> {
    Mlp::<B>::builder("net", 5)
        .linear_bn(7, Activation::Relu)
        .linear(4, Activation::LeakyRelu(0.2))
        .linear(3, Activation::Identity)
        .build(be, &mut rng(seed))
        .unwrap()
}

/// Tolerance: relative error 1e-6 between the hand-written backward and central differences
/// (h = 1e-6) in f64; ReLU kinks are avoided by the random inputs with probability ~1.
#[test]
fn mlp_backward_matches_finite_differences() {
    let be = CpuF64::new();
    let mut r = rng(7);
    let (n, d) = (6, 5);
    let x0 = rand_vec(&mut r, n * d, 1.0);
    let labels = rand_labels(&mut r, n, 3);
    let y = be.upload_indices(&labels).unwrap();
    let base = stack(&be, 3);

    let loss_of = |net: &Mlp<CpuF64>, x: &[f64]| -> f64 {
        let mut net = net.clone();
        let xt = be.upload(x, n, d).unwrap();
        let out = net.forward(&be, &xt, Mode::Train).unwrap();
        let (l, _) = be.class_loss(&out, &y, ClassLoss::Ce).unwrap();
        be.download(&l).unwrap()[0]
    };

    // Analytic gradients.
    let mut net = base.clone();
    let xt = be.upload(&x0, n, d).unwrap();
    let out = net.forward(&be, &xt, Mode::Train).unwrap();
    let (_, dl) = be.class_loss(&out, &y, ClassLoss::Ce).unwrap();
    let dx = net.backward(&be, &dl, true).unwrap().unwrap();
    assert_close(
        "d loss / d x",
        &be.download(&dx).unwrap(),
        &fd_grad(|x| loss_of(&base, x), &x0, 1e-6),
        1e-6,
    );

    for (pi, p) in net.params().iter().enumerate() {
        let g = be.download(p.grad.as_ref().unwrap()).unwrap();
        let v0 = be.download(&p.value).unwrap();
        let (rows, cols) = p.value.shape();
        let fd = fd_grad(
            |v| {
                let mut m = base.clone();
                m.params_mut()[pi].value = be.upload(v, rows, cols).unwrap();
                loss_of(&m, &x0)
            },
            &v0,
            1e-6,
        );
        assert_close(&format!("d loss / d {}", p.name), &g, &fd, 1e-6);
    }
    let _ = dot;
}

fn train_steps(seed: u64) -> Vec<Vec<f32>> {
    let be = CpuF32::new();
    let mut net = stack(&be, seed);
    let mut r = rng(seed + 1);
    let mut adam = Adam::default();
    for _ in 0..5 {
        let x: Vec<f32> = rand_vec(&mut r, 8 * 5, 1.0)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let y = be.upload_indices(&rand_labels(&mut r, 8, 3)).unwrap();
        let xt = be.upload(&x, 8, 5).unwrap();
        let out = net.forward(&be, &xt, Mode::Train).unwrap();
        let (_, dl) = be
            .class_loss(&out, &y, ClassLoss::Focal { gamma: 2.0 })
            .unwrap();
        net.backward(&be, &dl, false).unwrap();
        adam.step(&be, 1e-2, net.params_mut()).unwrap();
    }
    net.params()
        .iter()
        .map(|p| be.download(&p.value).unwrap())
        .collect()
}

#[test]
fn same_seed_gives_bit_identical_parameters() {
    let a = train_steps(11);
    let b = train_steps(11);
    let c = train_steps(12);
    for (i, (pa, pb)) in a.iter().zip(&b).enumerate() {
        let bits_a: Vec<u32> = pa.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u32> = pb.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            bits_a, bits_b,
            "parameter {i} differs between two runs with the same seed"
        );
    }
    assert_ne!(a, c, "a different seed should give different parameters");
}

#[test]
fn param_store_round_trip_and_errors() {
    let be = CpuF32::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let mut net = stack(&be, 5);
    // Move the running averages away from their initial values so the round trip checks them.
    let x = be
        .upload(
            &(0..40).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(),
            8,
            5,
        )
        .unwrap();
    net.forward(&be, &x, Mode::Train).unwrap();
    let mut store = ParamStore::new();
    net.export(&be, &mut store).unwrap();
    store.save(&path).unwrap();

    let loaded = ParamStore::load(&path).unwrap();
    assert_eq!(loaded.tensors, store.tensors);
    let mut other = stack(&be, 99);
    other.import(&be, &loaded).unwrap();
    let y1 = be
        .download(&net.forward(&be, &x, Mode::Eval).unwrap())
        .unwrap();
    let y2 = be
        .download(&other.forward(&be, &x, Mode::Eval).unwrap())
        .unwrap();
    assert_eq!(
        y1, y2,
        "a loaded network must compute exactly what the saved one did"
    );

    // A missing tensor is named, with the file.
    let mut missing = store.clone();
    missing.tensors.remove("net.0.weight");
    missing.save(&path).unwrap();
    let err = other
        .import(&be, &ParamStore::load(&path).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("net.0.weight") && err.contains("missing") && err.contains("net.safetensors"),
        "{err}"
    );

    // A wrongly shaped tensor is named with both shapes.
    let mut wrong = store.clone();
    wrong.put("net.2.bias", vec![1, 5], vec![0.0; 5]);
    wrong.save(&path).unwrap();
    let err = other
        .import(&be, &ParamStore::load(&path).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("net.2.bias") && err.contains("[1, 5]") && err.contains("[1, 4]"),
        "{err}"
    );

    // Not a safetensors file, and a directory.
    std::fs::write(&path, b"not safetensors").unwrap();
    let err = ParamStore::load(&path).err().unwrap().to_string();
    assert!(err.contains("net.safetensors"), "{err}");
    let err = ParamStore::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("directory"), "{err}");
}

/// A zero-width layer is an error, not a panic in the initialiser (its bound 1/√0 is infinite).
#[test]
fn zero_width_layers_are_errors() {
    use convexgan::nn::Linear;
    let be = CpuF32::new();
    for (d_in, d_out) in [(0, 3), (3, 0)] {
        let Err(e) = Linear::new(&be, "fc", d_in, d_out, Activation::Relu, &mut rng(1)) else {
            panic!("a {d_in} → {d_out} layer was built");
        };
        assert!(e.to_string().contains("must be at least 1"), "{e}");
    }
    assert!(Linear::new(&be, "fc", 1, 1, Activation::Relu, &mut rng(1)).is_ok());
}
