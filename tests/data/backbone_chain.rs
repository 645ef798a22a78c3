//! The backbone chain on the CPU, checked on data no one here wrote: the ONNX project's node test
//! cases (Debian's `libonnx-testdata`, installed by scripts/setup.sh). For each 2-D conv, pooling,
//! Relu, GlobalAveragePool and BatchNormalization case, `chain_ref` (through `graph::chain_to`)
//! and the tract CPU path must both reproduce the expected output; the cases the chain does not
//! support must be rejected with an error saying why. Random VGG-shaped models then check
//! `chain_ref` against tract on windows the node cases do not cover.
//!
//! Tolerances (METHOD.md §7, relative error ‖out − ref‖/‖ref‖): 1e-5 against the node cases' expected
//! outputs (float32 reference results of small ops); 1e-4 between chain_ref and tract on the
//! random models (sums over up to 72 products in f32 on tract's side).
// tests/common's `!(err <= tol)` is deliberate: it fails on NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::backbone_support::*;
use crate::common::{assert_close, rng, to_f64};
use convexgan::internal::backbone::{chain_ref, graph, tract_cpu::TractModel};

const NODE_TOL: f64 = 1e-5;
const MODEL_TOL: f64 = 1e-4;

#[test]
fn node_cases_match_on_chain_ref_and_tract() {
    let dir = tempfile::tempdir().unwrap();
    let names = supported_cases();
    // The listing must find the cases it is meant to check.
    for must in [
        "test_conv_with_strides_and_asymmetric_padding",
        "test_maxpool_2d_dilations",
        "test_maxpool_2d_pads",
        "test_averagepool_2d_pads_count_include_pad",
        "test_averagepool_2d_precomputed_strides",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    for name in &names {
        let case = NodeCase::load(name, dir.path());
        let want = to_f64(&case.expected);

        let chain = case
            .chain()
            .unwrap_or_else(|e| panic!("{name}: chain_to failed: {e}"));
        let (n, chw) = case
            .nchw()
            .unwrap_or_else(|| panic!("{name}: input dims {:?}", case.input_dims));
        let got = chain_ref::run_chain(&chain, &case.input, n, chw)
            .unwrap_or_else(|e| panic!("{name}: chain_ref failed: {e}"));
        assert_eq!(
            got.data.len(),
            want.len(),
            "{name}: chain_ref output {}×{}×{}×{} vs expected {:?}",
            got.n,
            got.c,
            got.h,
            got.w,
            case.expected_dims
        );
        if case.expected_dims.len() == 4 {
            assert_eq!(
                [got.n, got.c, got.h, got.w][..],
                case.expected_dims[..],
                "{name}: chain_ref shape"
            );
        }
        assert_close(
            &format!("{name}: chain_ref vs ONNX expected"),
            &to_f64(&got.data),
            &want,
            NODE_TOL,
        );

        let mut tract = TractModel::load(&case.path, None).unwrap();
        let (values, dims) = tract
            .run(&case.input, &case.input_dims)
            .unwrap_or_else(|e| panic!("{name}: tract failed: {e}"));
        assert_eq!(dims, case.expected_dims, "{name}: tract output shape");
        assert_close(
            &format!("{name}: tract vs ONNX expected"),
            &to_f64(&values),
            &want,
            NODE_TOL,
        );
    }
}

#[test]
fn unsupported_node_cases_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let names = unsupported_cases();
    for must in [
        "test_conv_with_autopad_same",
        "test_maxpool_2d_ceil",
        "test_maxpool_2d_same_upper",
        "test_maxpool_2d_uint8",
        "test_averagepool_2d_same_lower",
        "test_maxpool_with_argmax_2d_precomputed_pads",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    for name in &names {
        let msg = chain_error(name, dir.path());
        let why = if name.contains("autopad") {
            "auto_pad"
        } else {
            unsupported_reason(name).unwrap()
        };
        assert!(msg.contains(why), "{name}: error lacks `{why}`: {msg}");
        // The error names the model file it is about.
        assert!(msg.contains(&format!("{name}.onnx")), "{name}: {msg}");
    }
}

#[test]
fn unsupported_ops_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(1);
    let w = uniform(&mut r, 4 * 3 * 3 * 3, 0.3);
    let m = model(
        vec![
            node(
                "Conv",
                "conv1",
                &["x", "w"],
                &["a"],
                vec![A::Ints("kernel_shape", vec![3, 3])],
            ),
            node("Sigmoid", "squash", &["a"], &["b"], vec![]),
            node("Relu", "relu", &["b"], &["c"], vec![]),
            node("Tanh", "bend", &["c"], &["y"], vec![]),
        ],
        vec![float_tensor("w", &[4, 3, 3, 3], &w)],
        &[1, 3, 8, 8],
        "y",
    );
    let path = dir.path().join("sigmoid.onnx");
    write_model(&m, &path);
    let model = graph::read_model(&path).unwrap();
    let msg = graph::chain_to(&model, "y", &path).unwrap_err().to_string();
    for part in [
        "Sigmoid (`squash`)",
        "Tanh (`bend`)",
        "sigmoid.onnx",
        "supported: Conv",
    ] {
        assert!(msg.contains(part), "error lacks `{part}`: {msg}");
    }
    assert!(!msg.contains("Relu (`relu`)"), "Relu is supported: {msg}");
    // Cut before the first unsupported op, the same model is a chain.
    let chain = graph::chain_to(&model, "a", &path).unwrap();
    assert_eq!(chain.ops.len(), 1);
}

#[test]
fn branching_graph_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(
        vec![
            node("Relu", "left", &["x"], &["a"], vec![]),
            node(
                "MaxPool",
                "right",
                &["x"],
                &["b"],
                vec![
                    A::Ints("kernel_shape", vec![3, 3]),
                    A::Ints("pads", vec![1, 1, 1, 1]),
                ],
            ),
            node("Add", "join", &["a", "b"], &["y"], vec![]),
        ],
        vec![],
        &[1, 2, 5, 5],
        "y",
    );
    let path = dir.path().join("branch.onnx");
    write_model(&m, &path);
    let model = graph::read_model(&path).unwrap();
    let msg = graph::chain_to(&model, "y", &path).unwrap_err().to_string();
    assert!(
        msg.contains("`join` (Add) takes 2 non-constant inputs") && msg.contains("chain"),
        "{msg}"
    );
    let msg = graph::chain_to(&model, "nowhere", &path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no node produces `nowhere`"), "{msg}");
}

/// chain_ref against tract on a random model; returns the chain_ref output's shape.
fn check_against_tract(m: &tract_onnx::pb::ModelProto, dims: [usize; 4], seed: u64) -> [usize; 4] {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    write_model(m, &path);
    let model = graph::read_model(&path).unwrap();
    let chain = graph::chain_to(&model, "y", &path).unwrap();
    let mut r = rng(seed);
    let x = uniform(&mut r, dims.iter().product(), 1.0);
    let [n, c, h, w] = dims;
    let got = chain_ref::run_chain(&chain, &x, n, [c, h, w]).unwrap();
    let (want, want_dims) = TractModel::load(&path, None)
        .unwrap()
        .run(&x, &dims)
        .unwrap();
    assert_eq!(
        got.data.len(),
        want.len(),
        "chain_ref {:?} vs tract {want_dims:?}",
        [got.n, got.c, got.h, got.w]
    );
    assert_eq!(want_dims[0], n);
    assert_close(
        "chain_ref vs tract",
        &to_f64(&got.data),
        &to_f64(&want),
        MODEL_TOL,
    );
    // A model whose output is all zeros would pass trivially.
    assert!(got.data.iter().any(|v| v.abs() > 1e-3), "{:?}", got.data);
    [got.n, got.c, got.h, got.w]
}

#[test]
fn chain_ref_matches_tract_on_a_random_vgg_like_model() {
    let m = vgg_like(&mut rng(7));
    // 20 → conv 20 → pool 10 → avg 10 → conv s2 4 → global 1, flattened.
    assert_eq!(check_against_tract(&m, VGG_INPUT, 8), [2, 6, 1, 1]);
}

#[test]
fn chain_ref_matches_tract_on_asymmetric_and_dilated_windows() {
    let m = odd_windows(&mut rng(9));
    // h: 13 → conv 12 → max 11 → avg 12 → avg 6; w: 11 → 6 → 7 → 7 → 8.
    assert_eq!(check_against_tract(&m, ODD_INPUT, 10), [3, 6, 6, 8]);
}

#[test]
fn chain_ref_reports_shape_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vgg.onnx");
    write_model(&vgg_like(&mut rng(7)), &path);
    let chain = graph::chain_to(&graph::read_model(&path).unwrap(), "y", &path).unwrap();
    // 2×2 survives conv1 and the 2×2 pool, but conv2's 3×3 window does not fit 1×1.
    let msg = chain_ref::run_chain(&chain, &[0.0; 24], 2, [3, 2, 2])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("op 5 (Conv)"), "{msg}");
    // Wrong channel count.
    let msg = chain_ref::run_chain(&chain, &[0.0; 800], 1, [2, 20, 20])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("op 0 (Conv)"), "{msg}");
    // Too few values for the stated shape.
    let msg = chain_ref::run_chain(&chain, &[0.0; 10], 1, [3, 20, 20])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("10 values"), "{msg}");
}

#[test]
fn chain_ref_pooling_padding_never_wins() {
    // All-negative input: a max pool whose window reaches into zero padding must still return a
    // negative value, and an average excluding padding must equal the mean of the real cells.
    let chain = graph::Chain {
        input: "x".into(),
        output: "y".into(),
        ops: vec![graph::Op::MaxPool {
            window: graph::Window {
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1, 1, 1, 1],
                dilations: [1, 1],
            },
        }],
    };
    let x = [-4.0, -3.0, -2.0, -1.0];
    let y = chain_ref::run_chain(&chain, &x, 1, [1, 2, 2]).unwrap();
    assert_eq!(y.data, vec![-1.0; 4]);
    let avg = |include| graph::Chain {
        ops: vec![graph::Op::AveragePool {
            window: graph::Window {
                kernel: [2, 2],
                strides: [1, 1],
                pads: [1, 1, 0, 0],
                dilations: [1, 1],
            },
            count_include_pad: include,
        }],
        ..chain.clone()
    };
    let y = chain_ref::run_chain(&avg(false), &x, 1, [1, 2, 2]).unwrap();
    assert_eq!(y.data, vec![-4.0, -3.5, -3.0, -2.5]);
    let y = chain_ref::run_chain(&avg(true), &x, 1, [1, 2, 2]).unwrap();
    assert_eq!(y.data, vec![-1.0, -1.75, -1.5, -2.5]);
}
