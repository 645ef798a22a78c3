//! The sampler over a user's own features (`convexgan::sampler`): fit, sample, resample, save and
//! load, on small Gaussian clusters whose classes have known ranges; and the inputs it refuses.

use rand::Rng;

use crate::common;
use convexgan::backend::{Cpu, Precision};
use convexgan::data::arrays::Matrix;
use convexgan::sampler::{fit, FittedSampler, SamplerOptions, Strategy};

/// Classes `labels` with `counts` rows of `dim` columns; class `k` centred at `10·k` in every
/// column (spread ±1), so each class occupies its own box.
fn clusters(labels: &[u32], counts: &[usize], dim: usize, seed: u64) -> (Matrix, Vec<u32>) {
    let mut r = common::rng(seed);
    let (mut data, mut y) = (Vec::new(), Vec::new());
    for (k, (&l, &n)) in labels.iter().zip(counts).enumerate() {
        for _ in 0..n {
            data.extend(
                (0..dim).map(|j| 10.0 * k as f32 + j as f32 * 0.01 + r.gen_range(-1.0..1.0)),
            );
            y.push(l);
        }
    }
    let rows = y.len();
    (
        Matrix {
            data,
            rows,
            cols: dim,
        },
        y,
    )
}

fn quick() -> SamplerOptions {
    SamplerOptions {
        iterations: Some(30),
        q_epochs: 2,
        batch: 32,
        g_hidden: vec![32],
        d_hidden: vec![32],
        q_hidden: 16,
        z_dim: 8,
        ..Default::default()
    }
}

/// Per column, the smallest and largest value of the rows labelled `label`.
fn bounds(x: &Matrix, y: &[u32], label: u32) -> Vec<(f32, f32)> {
    let mut b = vec![(f32::INFINITY, f32::NEG_INFINITY); x.cols];
    for (r, _) in y.iter().enumerate().filter(|(_, &l)| l == label) {
        for (j, &v) in x.row(r).iter().enumerate() {
            b[j] = (b[j].0.min(v), b[j].1.max(v));
        }
    }
    b
}

/// Every synthetic row lies within its class's per-column range (a convex combination of the
/// class's rows does), up to f32 rounding of the standardisation.
fn assert_in_class_range(x: &Matrix, y: &[u32], syn: &Matrix, syn_y: &[u32]) {
    for (r, &l) in syn_y.iter().enumerate() {
        for (j, (&v, &(lo, hi))) in syn.row(r).iter().zip(&bounds(x, y, l)).enumerate() {
            let tol = 1e-4 * (1.0 + lo.abs().max(hi.abs()));
            assert!(
                v >= lo - tol && v <= hi + tol,
                "synthetic row {r} (class {l}) column {j}: {v} outside [{lo}, {hi}]"
            );
        }
    }
}

#[test]
fn resample_auto_raises_every_class_to_the_majority_with_rows_inside_their_class() {
    let labels = [3, 10, 42];
    let (x, y) = clusters(&labels, &[60, 20, 6], 5, 1);
    let be = Cpu::<f32>::new();
    let s = fit(&be, &x, &y, &quick(), false).unwrap();
    assert_eq!(s.labels, labels);
    assert_eq!(s.counts, vec![60, 20, 6]);
    assert_eq!(
        s.ns, 6,
        "N_s defaults to the smallest class when it has fewer than 30 rows"
    );
    let (xr, yr) = s.resample(&be, &x, &y, &Strategy::Auto).unwrap();
    for l in labels {
        assert_eq!(yr.iter().filter(|&&c| c == l).count(), 60, "class {l}");
    }
    assert_eq!(
        &xr.data[..x.data.len()],
        &x.data[..],
        "the original rows come first, unchanged"
    );
    let syn = Matrix {
        data: xr.data[x.data.len()..].to_vec(),
        rows: yr.len() - y.len(),
        cols: x.cols,
    };
    assert_in_class_range(&x, &y, &syn, &yr[y.len()..]);
    // Not copies: a row of class 42 generated from 6 rows is (almost surely) none of them.
    let originals: Vec<&[f32]> = (0..x.rows).map(|r| x.row(r)).collect();
    let copies = (0..syn.rows)
        .filter(|&r| originals.contains(&syn.row(r)))
        .count();
    assert!(
        copies < syn.rows / 10,
        "{copies} of {} synthetic rows copy a real one",
        syn.rows
    );
    // Both stages logged finite losses.
    let stages: Vec<&str> = s.logs.iter().map(|l| l.stage.as_str()).collect();
    assert!(
        stages.contains(&"finetune") && stages.contains(&"phase2"),
        "{stages:?}"
    );
}

#[test]
fn strategies_follow_imbalanced_learn() {
    // Labels that are not the networks' class indices, so that errors must name the user's label.
    let (x, y) = clusters(&[10, 20, 30], &[50, 20, 10], 3, 2);
    let be = Cpu::<f32>::new();
    let s = fit(&be, &x, &y, &quick(), false).unwrap();
    assert_eq!(
        s.plan(&Strategy::Auto).unwrap(),
        vec![(10, 0), (20, 30), (30, 40)]
    );
    assert_eq!(
        s.plan(&Strategy::Minority).unwrap(),
        vec![(10, 0), (20, 0), (30, 40)]
    );
    assert_eq!(
        s.plan(&Strategy::Ratio(0.5)).unwrap(),
        vec![(10, 0), (20, 5), (30, 15)]
    );
    assert_eq!(
        s.plan(&"30:25".parse().unwrap()).unwrap(),
        vec![(10, 0), (20, 0), (30, 15)]
    );
    let e = s.plan(&"7:25".parse().unwrap()).unwrap_err().to_string();
    assert!(e.contains("7 is not among the fitted classes"), "{e}");
    let e = s.plan(&"20:15".parse().unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("class 20 has 20 rows, more than its target 15"),
        "{e}"
    );
}

#[test]
fn fits_are_seeded_and_a_saved_sampler_draws_the_same_rows() {
    let (x, y) = clusters(&[0, 1], &[40, 12], 4, 3);
    let be = Cpu::<f32>::new();
    let a = fit(&be, &x, &y, &quick(), false).unwrap();
    let b = fit(&be, &x, &y, &quick(), false).unwrap();
    assert_eq!(a, b, "the same seed gives the same fit");
    let c = fit(&be, &x, &y, &SamplerOptions { seed: 1, ..quick() }, false).unwrap();
    assert_ne!(
        a.generator, c.generator,
        "another seed gives another generator"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sampler.safetensors");
    a.save(&path).unwrap();
    let loaded = FittedSampler::load(&path).unwrap();
    let plan = [(1, 25)];
    assert_eq!(
        loaded.generate(&be, &plan).unwrap(),
        a.generate(&be, &plan).unwrap()
    );
    // The sampling stream continues: two draws in a row differ.
    let mut on = loaded.on(&be).unwrap();
    let mut r = common::rng(9);
    assert_ne!(
        on.sample(1, 5, &mut r).unwrap(),
        on.sample(1, 5, &mut r).unwrap()
    );

    // A damaged file is refused, naming it.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = FittedSampler::load(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.safetensors"), "{e}");
    let dict_only = dir.path().join("dict.safetensors");
    a.dict.save(&dict_only).unwrap();
    let e = FittedSampler::load(&dict_only).unwrap_err().to_string();
    assert!(
        e.contains("dict.safetensors") && e.contains("format"),
        "{e}"
    );
}

#[test]
fn two_streams_and_half_precision_dictionaries() {
    let (x, y) = clusters(&[0, 1], &[40, 10], 6, 4);
    let be = Cpu::<f32>::new();
    for (shape_columns, precision) in [
        (Some(2), Precision::F32),
        (None, Precision::Bf16),
        (Some(3), Precision::F16),
    ] {
        let o = SamplerOptions {
            shape_columns,
            precision,
            ..quick()
        };
        let s = fit(&be, &x, &y, &o, false).unwrap();
        assert_eq!(s.dict.d_s, shape_columns.unwrap_or(0));
        assert_eq!(s.dict.precision(), precision);
        let (syn, sy) = s.generate(&be, &[(1, 30)]).unwrap();
        assert_eq!((syn.rows, syn.cols), (30, 6));
        // bf16/f16 round the standardised rows: a relative 2^-8 of the class's spread.
        let (lo_hi, tol) = (
            bounds(&x, &y, 1),
            if precision == Precision::F32 {
                1e-4
            } else {
                0.05
            },
        );
        for r in 0..syn.rows {
            for (j, &v) in syn.row(r).iter().enumerate() {
                let (lo, hi) = lo_hi[j];
                assert!(
                    v >= lo - tol && v <= hi + tol,
                    "{precision:?} row {r} col {j}: {v} ∉ [{lo}, {hi}]"
                );
            }
        }
        assert!(sy.iter().all(|&l| l == 1));
    }
}

#[test]
fn unusable_inputs_are_refused_with_what_is_wrong() {
    let be = Cpu::<f32>::new();
    let (x, y) = clusters(&[0, 1], &[30, 10], 3, 5);
    let err = |x: &Matrix, y: &[u32], o: &SamplerOptions| {
        fit(&be, x, y, o, false).unwrap_err().to_string()
    };
    assert!(err(&x, &y[1..], &quick()).contains("40 feature rows but 39 labels"));
    let mut nan = x.clone();
    nan.data[7] = f32::NAN;
    assert!(err(&nan, &y, &quick()).contains("row 2, column 1 is NaN"));
    assert!(err(&x, &[4; 40], &quick()).contains("need at least two classes"));
    let (bx, by) = clusters(&[0, 1], &[10, 10], 3, 6);
    assert!(err(&bx, &by, &quick()).contains("no minority class"));
    let e = err(
        &x,
        &y,
        &SamplerOptions {
            ns: Some(11),
            ..quick()
        },
    );
    assert!(e.contains("N_s = 11") && e.contains("class 1"), "{e}");
    let e = err(
        &x,
        &y,
        &SamplerOptions {
            shape_columns: Some(3),
            ..quick()
        },
    );
    assert!(e.contains("shape_columns"), "{e}");
    let empty = Matrix {
        data: vec![],
        rows: 0,
        cols: 3,
    };
    assert!(err(&empty, &[], &quick()).contains("at least one row"));
    let s = fit(&be, &x, &y, &quick(), false).unwrap();
    let e = s.resample(
        &be,
        &Matrix {
            data: vec![0.0; 8],
            rows: 2,
            cols: 4,
        },
        &[0, 1],
        &Strategy::Auto,
    );
    assert!(e.unwrap_err().to_string().contains("fitted on 3 columns"));
}

/// The sampler on the CUDA backend draws what the CPU draws from the same fit (relative error
/// ≤ 1e-5: one softmax and one weighted sum per value).
#[cfg(feature = "cuda")]
#[test]
fn cuda_sampling_matches_the_cpu() {
    let Some(gpu) = common::gpu_or_skip() else {
        return;
    };
    let (x, y) = clusters(&[0, 1, 2], &[50, 20, 8], 16, 7);
    let cpu = Cpu::<f32>::new();
    let s = fit(&cpu, &x, &y, &quick(), false).unwrap();
    let plan = [(1, 100), (2, 100)];
    let (a, _) = s.generate(&cpu, &plan).unwrap();
    let (b, _) = s.generate(&gpu, &plan).unwrap();
    common::assert_close(
        "generated rows",
        &common::to_f64(&b.data),
        &common::to_f64(&a.data),
        1e-5,
    );
    // And a whole fit runs on the device.
    let g = fit(&gpu, &x, &y, &quick(), false).unwrap();
    assert_eq!(g.counts, s.counts);
}
