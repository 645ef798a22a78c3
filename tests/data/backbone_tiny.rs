//! The repo's own VGG-shaped ONNX model: tract runs it, the default output is the last ReLU fed by
//! a Conv (not the graph output), the chain reader sees the VGG subset, and pooling is PyTorch's
//! adaptive average pooling.

use convexgan::internal::backbone::graph::{chain_to, default_output, read_model, Op};
use convexgan::internal::backbone::onnx_writer::{write_vgg, VggSpec};
use convexgan::internal::backbone::pool::adaptive_avg_pool;
use convexgan::internal::backbone::tract_cpu::TractModel;
use convexgan::internal::backbone::FeatureMap;

#[test]
fn tiny_vgg_runs_on_tract_to_its_last_relu() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vgg.onnx");
    let spec = VggSpec::tiny(3);
    write_vgg(&path, &spec).unwrap();
    let model = read_model(&path).unwrap();
    let out = default_output(&model, &path).unwrap();
    assert_eq!(out, spec.last_relu());
    let chain = chain_to(&model, &out, &path).unwrap();
    assert_eq!(
        chain.ops.len(),
        6 * 2 + 2,
        "six conv+relu pairs and two pools"
    );
    assert!(matches!(chain.ops.last(), Some(Op::Relu)));
    assert_eq!(
        chain.shapes([3, 64, 48]).unwrap().last(),
        Some(&[32, 16, 12])
    );

    let mut m = TractModel::load(&path, Some(&out)).unwrap();
    let n = 2;
    let x: Vec<f32> = (0..n * 3 * 64 * 48)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
        .collect();
    let fm = m.run_images(&x, n, [3, 64, 48]).unwrap();
    assert_eq!((fm.n, fm.c, fm.h, fm.w), (2, 32, 16, 12));
    assert!(
        fm.data.iter().all(|v| *v >= 0.0 && v.is_finite()),
        "a ReLU output"
    );
    assert!(fm.data.iter().any(|v| *v > 0.0));
    // The graph's own output (no name): the flattened head.
    let mut whole = TractModel::load(&path, None).unwrap();
    let (_, shape) = whole.run(&x, &[n, 3, 64, 48]).unwrap();
    assert_eq!(shape, vec![2, 32]);
    // A name the graph does not have is an error naming the file.
    let err = TractModel::load(&path, Some("conv9_9"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("vgg.onnx") && err.contains("conv9_9"), "{err}");
}

#[test]
fn adaptive_pool_matches_pytorch_windows() {
    // 1 sample, 1 channel, 5×3: p = 2 → rows {0..3, 2..5}, cols {0..2, 1..3} (overlapping windows).
    let data: Vec<f32> = (0..15).map(|v| v as f32).collect();
    let fm = FeatureMap {
        data: data.clone(),
        n: 1,
        c: 1,
        h: 5,
        w: 3,
    };
    let out = adaptive_avg_pool(&fm, 2).unwrap();
    let mean = |rs: std::ops::Range<usize>, cs: std::ops::Range<usize>| {
        let mut s = 0.0;
        let mut k = 0.0;
        for r in rs {
            for c in cs.clone() {
                s += data[r * 3 + c];
                k += 1.0;
            }
        }
        s / k
    };
    assert_eq!(
        out,
        vec![
            mean(0..3, 0..2),
            mean(0..3, 1..3),
            mean(2..5, 0..2),
            mean(2..5, 1..3)
        ]
    );
    // p = 1 is the global average; p larger than the map repeats cells.
    assert_eq!(adaptive_avg_pool(&fm, 1).unwrap(), vec![7.0]);
    assert_eq!(adaptive_avg_pool(&fm, 6).unwrap().len(), 36);
    assert!(adaptive_avg_pool(&fm, 0).is_err());
}
