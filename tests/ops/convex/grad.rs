//! The convex family (METHOD.md §4, Eq. 3) against finite differences in f64, with dictionaries held in
//! f32, bf16 and f16, plus the convexity properties the method relies on.
use crate::common::{assert_close, dot, fd_grad, rand_vec, rng};
use convexgan::backend::prelude::*;
use convexgan::backend::{cpu::CpuF32, cpu::CpuF64, DictTensor, HostRows, Precision};

const B: usize = 3;
const NS: usize = 4;
const N_ROWS: usize = 11;
const D_T: usize = 5;
const D_S: usize = 3;

/// Dictionaries of `N_ROWS` rows in `precision`, and `B·N_s` rows drawn without replacement per
/// sample (as the trainer does).
struct Setup {
    ht: HostRows,
    hs: HostRows,
    rows: Vec<u32>,
}

fn setup(seed: u64, precision: Precision) -> Setup {
    let mut r = rng(seed);
    let t: Vec<f32> = rand_vec(&mut r, N_ROWS * D_T, 2.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let s: Vec<f32> = rand_vec(&mut r, N_ROWS * D_S, 2.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let mut rows = Vec::with_capacity(B * NS);
    for b in 0..B {
        // Distinct rows per sample, different across samples.
        rows.extend((0..NS).map(|k| ((b * 3 + k * 2) % N_ROWS) as u32));
    }
    Setup {
        ht: HostRows::from_f32(&t, precision),
        hs: HostRows::from_f32(&s, precision),
        rows,
    }
}

fn dicts<Bk: Backend>(cpu: &Bk, s: &Setup) -> (DictTensor<Bk>, DictTensor<Bk>) {
    (
        cpu.upload_dict(&s.ht, N_ROWS, D_T).unwrap(),
        cpu.upload_dict(&s.hs, N_ROWS, D_S).unwrap(),
    )
}

/// FD check of the logits gradient (tolerance 1e-6 relative, h = 1e-6) through a random
/// projection of both outputs, so one backward call checks the whole Jacobian product.
fn fd_check(precision: Precision, seed: u64) {
    let cpu = CpuF64::new();
    let s = setup(seed, precision);
    let (dt, ds) = dicts(&cpu, &s);
    let rows = cpu.upload_indices(&s.rows).unwrap();
    let mut r = rng(seed + 100);
    let logits = rand_vec(&mut r, B * 2 * NS, 2.0);
    let r_t = rand_vec(&mut r, B * D_T, 1.0);
    let r_s = rand_vec(&mut r, B * D_S, 1.0);

    let f = |x: &[f64]| {
        let l = cpu.upload(x, B, 2 * NS).unwrap();
        let out = cpu.convex_combine_fwd(&l, &dt, &ds, &rows).unwrap();
        dot(&r_t, &cpu.download(&out.f_t).unwrap()) + dot(&r_s, &cpu.download(&out.f_s).unwrap())
    };
    let l = cpu.upload(&logits, B, 2 * NS).unwrap();
    let out = cpu.convex_combine_fwd(&l, &dt, &ds, &rows).unwrap();
    let d_f_t = cpu.upload(&r_t, B, D_T).unwrap();
    let d_f_s = cpu.upload(&r_s, B, D_S).unwrap();
    let g = cpu
        .convex_combine_bwd(&out.w, &d_f_t, &d_f_s, &dt, &ds, &rows)
        .unwrap();
    let want = fd_grad(f, &logits, 1e-6);
    assert_close(
        &format!("convex d_logits ({})", precision.name()),
        &cpu.download(&g).unwrap(),
        &want,
        1e-6,
    );
}

#[test]
fn logits_grad_f32_dict() {
    fd_check(Precision::F32, 1);
}

#[test]
fn logits_grad_bf16_dict() {
    fd_check(Precision::Bf16, 2);
}

#[test]
fn logits_grad_f16_dict() {
    fd_check(Precision::F16, 3);
}

/// Weights are non-negative, each half sums to 1 (to 1e-12), and every output lies in the bounding
/// box of its sample's rows (slack 1e-12), even for large logits.
#[test]
fn convexity() {
    let cpu = CpuF64::new();
    for (seed, scale) in [(4u64, 1.0), (5, 50.0), (6, 1e4)] {
        let s = setup(seed, Precision::Bf16);
        let (dt, ds) = dicts(&cpu, &s);
        let rows = cpu.upload_indices(&s.rows).unwrap();
        let logits = rand_vec(&mut rng(seed), B * 2 * NS, scale);
        let l = cpu.upload(&logits, B, 2 * NS).unwrap();
        let out = cpu.convex_combine_fwd(&l, &dt, &ds, &rows).unwrap();
        assert_eq!(out.w.shape(), (B, 2 * NS));
        assert_eq!(out.f_t.shape(), (B, D_T));
        assert_eq!(out.f_s.shape(), (B, D_S));
        let w = cpu.download(&out.w).unwrap();
        for b in 0..B {
            for half in 0..2 {
                let ws = &w[b * 2 * NS + half * NS..b * 2 * NS + (half + 1) * NS];
                assert!(
                    ws.iter().all(|&v| v >= 0.0 && v.is_finite()),
                    "sample {b} half {half}: weights {ws:?}"
                );
                let sum: f64 = ws.iter().sum();
                assert!(
                    (sum - 1.0).abs() <= 1e-12,
                    "sample {b} half {half}: weights sum to {sum}"
                );
            }
        }
        for (f, h, d) in [(&out.f_t, &s.ht, D_T), (&out.f_s, &s.hs, D_S)] {
            let fv = cpu.download(f).unwrap();
            for b in 0..B {
                for c in 0..d {
                    let vals: Vec<f64> = s.rows[b * NS..(b + 1) * NS]
                        .iter()
                        .map(|&r| h.get(r as usize * d + c) as f64)
                        .collect();
                    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let v = fv[b * d + c];
                    assert!(
                        v >= lo - 1e-12 && v <= hi + 1e-12,
                        "scale {scale}: sample {b} col {c}: {v} outside [{lo}, {hi}]"
                    );
                }
            }
        }
    }
}

/// With one logit far above the rest in each half the output is that row (to 1e-9).
#[test]
fn dominant_logit_selects_row() {
    let cpu = CpuF64::new();
    let s = setup(7, Precision::F32);
    let (dt, ds) = dicts(&cpu, &s);
    let rows = cpu.upload_indices(&s.rows).unwrap();
    let mut logits = vec![0.0; B * 2 * NS];
    for b in 0..B {
        logits[b * 2 * NS + 1] = 100.0; // texture picks k = 1
        logits[b * 2 * NS + NS + 2] = 100.0; // shape picks k = 2
    }
    let l = cpu.upload(&logits, B, 2 * NS).unwrap();
    let out = cpu.convex_combine_fwd(&l, &dt, &ds, &rows).unwrap();
    let mut want_t = Vec::new();
    let mut want_s = Vec::new();
    for b in 0..B {
        let rt = s.rows[b * NS + 1] as usize;
        let rs = s.rows[b * NS + 2] as usize;
        want_t.extend((0..D_T).map(|c| s.ht.get(rt * D_T + c) as f64));
        want_s.extend((0..D_S).map(|c| s.hs.get(rs * D_S + c) as f64));
    }
    assert_close("f_t", &cpu.download(&out.f_t).unwrap(), &want_t, 1e-9);
    assert_close("f_s", &cpu.download(&out.f_s).unwrap(), &want_s, 1e-9);
}

/// `dict_gather` returns the stored values widened exactly, in every precision.
#[test]
fn dict_gather_exact() {
    let cpu = CpuF64::new();
    for p in [Precision::F32, Precision::Bf16, Precision::F16] {
        let s = setup(8, p);
        let (dt, _) = dicts(&cpu, &s);
        let idx = [10u32, 0, 3, 3, 7];
        let rows = cpu.upload_indices(&idx).unwrap();
        let g = cpu.dict_gather(&dt, &rows).unwrap();
        assert_eq!(g.shape(), (idx.len(), D_T));
        let got = cpu.download(&g).unwrap();
        for (i, &r) in idx.iter().enumerate() {
            for c in 0..D_T {
                let want = s.ht.get(r as usize * D_T + c) as f64;
                assert_eq!(got[i * D_T + c], want, "{}: row {i} col {c}", p.name());
            }
        }
    }
}

/// The f32 backend against the f64 reference (METHOD.md §7: ≤ 1e-4 for reductions; 1e-5 for the
/// softmax weights).
#[test]
fn f32_matches_f64() {
    let c64 = CpuF64::new();
    let c32 = CpuF32::new();
    let s = setup(9, Precision::Bf16);
    let (dt64, ds64) = dicts(&c64, &s);
    let (dt32, ds32) = dicts(&c32, &s);
    let mut r = rng(10);
    let logits = rand_vec(&mut r, B * 2 * NS, 3.0);
    let r_t = rand_vec(&mut r, B * D_T, 1.0);
    let r_s = rand_vec(&mut r, B * D_S, 1.0);
    let f32v = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    let to64 = |v: Vec<f32>| v.into_iter().map(|x| x as f64).collect::<Vec<_>>();

    let i64_ = c64.upload_indices(&s.rows).unwrap();
    let o64 = c64
        .convex_combine_fwd(
            &c64.upload(&logits, B, 2 * NS).unwrap(),
            &dt64,
            &ds64,
            &i64_,
        )
        .unwrap();
    let g64 = c64
        .convex_combine_bwd(
            &o64.w,
            &c64.upload(&r_t, B, D_T).unwrap(),
            &c64.upload(&r_s, B, D_S).unwrap(),
            &dt64,
            &ds64,
            &i64_,
        )
        .unwrap();

    let i32_ = c32.upload_indices(&s.rows).unwrap();
    let o32 = c32
        .convex_combine_fwd(
            &c32.upload(&f32v(&logits), B, 2 * NS).unwrap(),
            &dt32,
            &ds32,
            &i32_,
        )
        .unwrap();
    let g32 = c32
        .convex_combine_bwd(
            &o32.w,
            &c32.upload(&f32v(&r_t), B, D_T).unwrap(),
            &c32.upload(&f32v(&r_s), B, D_S).unwrap(),
            &dt32,
            &ds32,
            &i32_,
        )
        .unwrap();
    let d64 = |t| c64.download(t).unwrap();
    let d32 = |t| to64(c32.download(t).unwrap());
    assert_close("w f32", &d32(&o32.w), &d64(&o64.w), 1e-5);
    assert_close("f_t f32", &d32(&o32.f_t), &d64(&o64.f_t), 1e-4);
    assert_close("f_s f32", &d32(&o32.f_s), &d64(&o64.f_s), 1e-4);
    assert_close("d_logits f32", &d32(&g32), &d64(&g64), 1e-4);
}

#[test]
fn errors() {
    let cpu = CpuF64::new();
    let s = setup(11, Precision::F32);
    let (dt, ds) = dicts(&cpu, &s);
    let rows = cpu.upload_indices(&s.rows).unwrap();
    let logits = cpu.upload(&[0.0; B * 2 * NS], B, 2 * NS).unwrap();
    assert!(cpu.convex_combine_fwd(&logits, &dt, &ds, &rows).is_ok());

    // Odd number of logit columns.
    let odd = cpu.upload(&[0.0; B * (2 * NS - 1)], B, 2 * NS - 1).unwrap();
    assert!(cpu.convex_combine_fwd(&odd, &dt, &ds, &rows).is_err());
    // Wrong number of row indices.
    let short = cpu.upload_indices(&s.rows[1..]).unwrap();
    assert!(cpu.convex_combine_fwd(&logits, &dt, &ds, &short).is_err());
    // Index past the dictionary.
    let mut bad = s.rows.clone();
    bad[5] = N_ROWS as u32;
    let bad = cpu.upload_indices(&bad).unwrap();
    assert!(cpu.convex_combine_fwd(&logits, &dt, &ds, &bad).is_err());
    assert!(cpu.dict_gather(&dt, &bad).is_err());
    // Dictionaries with different row counts.
    let h_short = HostRows::from_f32(&[0.0; (N_ROWS - 1) * D_S], Precision::F32);
    let ds_short = cpu.upload_dict(&h_short, N_ROWS - 1, D_S).unwrap();
    assert!(cpu
        .convex_combine_fwd(&logits, &dt, &ds_short, &rows)
        .is_err());

    // Backward: output-gradient shapes must match the dictionaries' widths.
    let out = cpu.convex_combine_fwd(&logits, &dt, &ds, &rows).unwrap();
    let d_t = cpu.zeros(B, D_T).unwrap();
    let d_s = cpu.zeros(B, D_S).unwrap();
    assert!(cpu
        .convex_combine_bwd(&out.w, &d_t, &d_s, &dt, &ds, &rows)
        .is_ok());
    let wrong = cpu.zeros(B, D_T + 1).unwrap();
    assert!(cpu
        .convex_combine_bwd(&out.w, &wrong, &d_s, &dt, &ds, &rows)
        .is_err());
    assert!(cpu
        .convex_combine_bwd(&out.w, &d_t, &d_t, &dt, &ds, &rows)
        .is_err());
    let wrong_b = cpu.zeros(B + 1, D_T).unwrap();
    assert!(cpu
        .convex_combine_bwd(&out.w, &wrong_b, &d_s, &dt, &ds, &rows)
        .is_err());
    assert!(cpu
        .convex_combine_bwd(&out.w, &d_t, &d_s, &dt, &ds, &bad)
        .is_err());
}
