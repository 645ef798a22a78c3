//! Helpers shared by the integration tests: seeded random inputs, central finite differences in
//! f64, and a relative-error comparison that reports the worst element.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in `[-scale, scale)`.
pub fn rand_vec(rng: &mut ChaCha8Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// `n` labels uniform in `0..classes`.
pub fn rand_labels(rng: &mut ChaCha8Rng, n: usize, classes: usize) -> Vec<u32> {
    (0..n).map(|_| rng.gen_range(0..classes as u32)).collect()
}

/// Central finite differences of a scalar function: `(f(x + h e_i) − f(x − h e_i)) / 2h`.
pub fn fd_grad(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = xp[i];
            xp[i] = x0 + h;
            let fp = f(&xp);
            xp[i] = x0 - h;
            let fm = f(&xp);
            xp[i] = x0;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// `Σ r_i y_i`: turns a tensor-valued op into a scalar whose gradient with respect to the output is
/// `r`, so one backward call with `dy = r` checks every input gradient.
pub fn dot(r: &[f64], y: &[f64]) -> f64 {
    assert_eq!(r.len(), y.len(), "dot: length mismatch");
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Relative error `‖got − want‖ / ‖want‖` (absolute when `want` is zero).
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "rel_err: length mismatch");
    let num: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    if got.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// Asserts `rel_err(got, want) <= tol`, failing with the worst element's index and both values.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    let err = rel_err(got, want);
    // Written so that a NaN error fails too.
    if err.partial_cmp(&tol) != Some(std::cmp::Ordering::Less) && err != tol {
        let (i, g, w) = got
            .iter()
            .zip(want)
            .enumerate()
            .map(|(i, (g, w))| (i, *g, *w))
            .max_by(|a, b| {
                let da = if a.1.is_finite() {
                    (a.1 - a.2).abs()
                } else {
                    f64::INFINITY
                };
                let db = if b.1.is_finite() {
                    (b.1 - b.2).abs()
                } else {
                    f64::INFINITY
                };
                da.total_cmp(&db)
            })
            .unwrap_or((0, f64::NAN, f64::NAN));
        panic!(
            "{what}: relative error {err:.3e} > tolerance {tol:.1e}; worst element {i}: got {g:.9e}, want {w:.9e}"
        );
    }
}

/// f32 views of the same helpers.
pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The CUDA device, or `None` with the reason printed (the test then skips); with
/// `CONVEXGAN_REQUIRE_GPU` set, a device that does not open fails the test instead.
#[cfg(feature = "cuda")]
pub fn gpu_or_skip() -> Option<convexgan::backend::cuda::CudaBackend> {
    match convexgan::backend::cuda::CudaBackend::new(0) {
        Ok(be) => Some(be),
        Err(e) if std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some() => {
            panic!("CONVEXGAN_REQUIRE_GPU is set but the device did not open: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no usable GPU ({e})");
            None
        }
    }
}
