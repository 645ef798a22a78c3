//! The convex kernels (`kernels/convex.cu`: the convex combination forward and backward and the
//! dictionary gather, for f32, bf16 and f16 dictionaries) run on the host emulation against the
//! f64 CPU reference.

use crate::common::rng;
use crate::emulation::{
    check, dim, down, flat_configs, kernel, launch, nan, rand_f32, up, Ref, ROW_BLOCKS,
    TOL_ELEMENTWISE, TOL_HALF_DICT, TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::{emu, Dim3};
use convexgan::backend::prelude::*;
use convexgan::backend::{ConvexOut, DictTensor, HostRows, Indices, Precision};
use rand_chacha::ChaCha8Rng;

/// The host dictionary's bytes as the entry point's element type (f32, bf16 or f16 bits).
fn dict_ptr<T>(h: &HostRows) -> *const T {
    h.as_bytes().as_ptr().cast()
}

fn dict_tol(p: Precision) -> f64 {
    match p {
        Precision::F32 => TOL_REDUCTION,
        Precision::Bf16 | Precision::F16 => TOL_HALF_DICT,
    }
}

/// `N_s` distinct rows per sample, as Phase 2 draws them.
fn sample_rows(r: &mut ChaCha8Rng, batch: usize, ns: usize, dict_rows: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(batch * ns);
    for _ in 0..batch {
        let picked = rand::seq::index::sample(r, dict_rows, ns);
        out.extend(picked.iter().map(|i| i as u32));
    }
    out
}

/// One case's inputs, drawn in a fixed order (dictionaries, rows, logits, feature gradients), and
/// the reference's forward; version 1 and version 2 run on the same kind of cases.
struct Case {
    ht: HostRows,
    hs: HostRows,
    rt: DictTensor<Ref>,
    rs: DictTensor<Ref>,
    rows: Vec<u32>,
    ref_rows: Indices<Ref>,
    logits: Vec<f32>,
    want: ConvexOut<Ref>,
    d_f_t: Vec<f32>,
    d_f_s: Vec<f32>,
}

impl Case {
    fn draw(
        r: &mut ChaCha8Rng,
        prec: Precision,
        (batch, ns, d_t, d_s, dict_rows): (usize, usize, usize, usize, usize),
    ) -> Self {
        let ht = HostRows::from_f32(&rand_f32(r, dict_rows * d_t, 1.0), prec);
        let hs = HostRows::from_f32(&rand_f32(r, dict_rows * d_s, 1.0), prec);
        let rt = Ref::new().upload_dict(&ht, dict_rows, d_t).unwrap();
        let rs = Ref::new().upload_dict(&hs, dict_rows, d_s).unwrap();
        let rows = sample_rows(r, batch, ns, dict_rows);
        let ref_rows = Ref::new().upload_indices(&rows).unwrap();
        let logits = rand_f32(r, batch * 2 * ns, 4.0);
        let want = Ref::new()
            .convex_combine_fwd(&up(&logits, batch, 2 * ns), &rt, &rs, &ref_rows)
            .unwrap();
        let d_f_t = rand_f32(r, batch * d_t, 1.0);
        let d_f_s = rand_f32(r, batch * d_s, 1.0);
        Case {
            ht,
            hs,
            rt,
            rs,
            rows,
            ref_rows,
            logits,
            want,
            d_f_t,
            d_f_s,
        }
    }

    /// The reference backward from the emulated weights `w` (the same f32 values, widened).
    fn want_bwd(&self, w: &[f32]) -> Vec<f64> {
        let (batch, d_t, d_s) = (self.want.f_t.rows(), self.rt.cols(), self.rs.cols());
        let ns = w.len() / (2 * batch);
        down(
            &Ref::new()
                .convex_combine_bwd(
                    &up(w, batch, 2 * ns),
                    &up(&self.d_f_t, batch, d_t),
                    &up(&self.d_f_s, batch, d_s),
                    &self.rt,
                    &self.rs,
                    &self.ref_rows,
                )
                .unwrap(),
        )
    }
}

/// One dictionary precision's three entry points, each bound with its declared type (the
/// dictionary pointer's element type differs), on the same cases.
macro_rules! convex_case {
    ($r:expr, $prec:expr, $fwd:ident, $bwd:ident, $gather:ident) => {{
        let r: &mut ChaCha8Rng = $r;
        let prec: Precision = $prec;
        let fwd: emu::$fwd = kernel(stringify!($fwd));
        let bwd: emu::$bwd = kernel(stringify!($bwd));
        let gather: emu::$gather = kernel(stringify!($gather));
        for (batch, ns, d_t, d_s, dict_rows) in [
            (1usize, 1usize, 1usize, 1usize, 1usize),
            (3, 5, 70, 33, 40),
            (2, 37, 300, 129, 50),
        ] {
            let case = Case::draw(r, prec, (batch, ns, d_t, d_s, dict_rows));
            let Case {
                ht,
                hs,
                rt,
                rows,
                ref_rows,
                logits,
                want,
                d_f_t,
                d_f_s,
                ..
            } = &case;
            let tol = dict_tol(prec);
            let tag = format!("{} B={batch} N_s={ns} d_t={d_t} d_s={d_s}", prec.name());
            for block in ROW_BLOCKS.into_iter().chain([1024]) {
                let (mut ft, mut fs, mut w) =
                    (nan(batch * d_t), nan(batch * d_s), nan(batch * 2 * ns));
                launch(|| unsafe {
                    fwd(
                        dim(batch as u32),
                        dim(block),
                        (12 * ns) as u32,
                        ft.as_mut_ptr(),
                        fs.as_mut_ptr(),
                        w.as_mut_ptr(),
                        logits.as_ptr(),
                        dict_ptr(&ht),
                        dict_ptr(&hs),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                check(
                    &format!("convex_combine_fwd {tag} block {block} w"),
                    &w,
                    &down(&want.w),
                    TOL_REDUCTION,
                );
                check(
                    &format!("convex_combine_fwd {tag} block {block} f_t"),
                    &ft,
                    &down(&want.f_t),
                    tol,
                );
                check(
                    &format!("convex_combine_fwd {tag} block {block} f_s"),
                    &fs,
                    &down(&want.f_s),
                    tol,
                );

                let want_dl = case.want_bwd(&w);
                let mut dl = nan(batch * 2 * ns);
                launch(|| unsafe {
                    bwd(
                        dim(batch as u32),
                        dim(block),
                        (8 * ns) as u32,
                        dl.as_mut_ptr(),
                        w.as_ptr(),
                        d_f_t.as_ptr(),
                        d_f_s.as_ptr(),
                        dict_ptr(&ht),
                        dict_ptr(&hs),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                check(
                    &format!("convex_combine_bwd {tag} block {block}"),
                    &dl,
                    &want_dl,
                    tol,
                );
            }

            let n = batch * ns;
            let want_g = down(&Ref::new().dict_gather(&rt, &ref_rows).unwrap());
            for (g, b) in flat_configs(n * d_t) {
                let mut out = nan(n * d_t);
                launch(|| unsafe {
                    gather(
                        g,
                        b,
                        0,
                        out.as_mut_ptr(),
                        dict_ptr(&ht),
                        rows.as_ptr(),
                        n as i32,
                        d_t as i32,
                    )
                });
                check(
                    &format!("dict_gather {tag}"),
                    &out,
                    &want_g,
                    TOL_ELEMENTWISE,
                );
            }
        }
    }};
}

#[test]
fn convex_combine_fwd_bwd_and_gather() {
    let mut r = rng(15);
    convex_case!(
        &mut r,
        Precision::F32,
        convex_combine_fwd_f32,
        convex_combine_bwd_f32,
        dict_gather_f32
    );
    convex_case!(
        &mut r,
        Precision::Bf16,
        convex_combine_fwd_bf16,
        convex_combine_bwd_bf16,
        dict_gather_bf16
    );
    convex_case!(
        &mut r,
        Precision::F16,
        convex_combine_fwd_f16,
        convex_combine_bwd_f16,
        dict_gather_f16
    );
}

/// A copy of the dictionary's bytes in 16-byte aligned memory, as a device allocation is: version 2
/// reads rows 16 bytes at a time.
fn aligned(h: &HostRows) -> Vec<u128> {
    let bytes = h.as_bytes();
    let mut out = vec![0u128; bytes.len().div_ceil(16)];
    // SAFETY: `out` holds at least `bytes.len()` bytes; u128 has no invalid bit patterns.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), bytes.len())
    };
    out
}

/// Version 2 of the forward and backward (a block per stream and column tile; 16-byte loads where
/// the row width is a multiple of 4 floats or 8 halves, element-wise otherwise) against the f64
/// reference, at the same tolerances as version 1, with the grids the launch wrapper uses and
/// others: several block sizes, widths on both paths and a tile count above one.
macro_rules! convex_v2_case {
    ($r:expr, $prec:expr, $fwd:ident, $bwd:ident) => {{
        let r: &mut ChaCha8Rng = $r;
        let prec: Precision = $prec;
        let fwd: emu::$fwd = kernel(stringify!($fwd));
        let bwd: emu::$bwd = kernel(stringify!($bwd));
        let vec = match prec {
            Precision::F32 => 4usize,
            Precision::Bf16 | Precision::F16 => 8,
        };
        for (batch, ns, d_t, d_s, dict_rows) in [
            (1usize, 1usize, 1usize, 1usize, 1usize),
            (3, 5, 70, 33, 40),
            (2, 37, 300, 129, 50),
            // Both widths multiples of 8: every precision takes the 16-byte path; 1 032 columns
            // make more than one tile at 128 threads.
            (3, 9, 1032, 64, 30),
        ] {
            let case = Case::draw(r, prec, (batch, ns, d_t, d_s, dict_rows));
            let Case {
                rows,
                logits,
                want,
                d_f_t,
                d_f_s,
                ..
            } = &case;
            let (at, asd) = (aligned(&case.ht), aligned(&case.hs));
            let tol = dict_tol(prec);
            let tag = format!("v2 {} B={batch} N_s={ns} d_t={d_t} d_s={d_s}", prec.name());
            for block in [32u32, 96, 128, 256] {
                let tiles = d_t.max(d_s).div_ceil(block as usize * vec) as u32;
                let (mut ft, mut fs, mut w) =
                    (nan(batch * d_t), nan(batch * d_s), nan(batch * 2 * ns));
                launch(|| unsafe {
                    fwd(
                        Dim3 {
                            x: tiles,
                            y: batch as u32,
                            z: 2,
                        },
                        dim(block),
                        (8 * ns) as u32,
                        ft.as_mut_ptr(),
                        fs.as_mut_ptr(),
                        w.as_mut_ptr(),
                        logits.as_ptr(),
                        at.as_ptr().cast(),
                        asd.as_ptr().cast(),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                let at_block = format!("convex_combine_fwd {tag} block {block}");
                check(&format!("{at_block} w"), &w, &down(&want.w), TOL_REDUCTION);
                check(&format!("{at_block} f_t"), &ft, &down(&want.f_t), tol);
                check(&format!("{at_block} f_s"), &fs, &down(&want.f_s), tol);

                let want_dl = case.want_bwd(&w);
                let mut dl = nan(batch * 2 * ns);
                launch(|| unsafe {
                    bwd(
                        Dim3 {
                            x: batch as u32,
                            y: 2,
                            z: 1,
                        },
                        dim(block),
                        (4 * (d_t.max(d_s) + ns)) as u32,
                        dl.as_mut_ptr(),
                        w.as_ptr(),
                        d_f_t.as_ptr(),
                        d_f_s.as_ptr(),
                        at.as_ptr().cast(),
                        asd.as_ptr().cast(),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                check(
                    &format!("convex_combine_bwd {tag} block {block}"),
                    &dl,
                    &want_dl,
                    tol,
                );
            }
        }
    }};
}

#[test]
fn convex_v2_fwd_bwd() {
    let mut r = rng(16);
    convex_v2_case!(
        &mut r,
        Precision::F32,
        convex_combine_fwd_v2_f32,
        convex_combine_bwd_v2_f32
    );
    convex_v2_case!(
        &mut r,
        Precision::Bf16,
        convex_combine_fwd_v2_bf16,
        convex_combine_bwd_v2_bf16
    );
    convex_v2_case!(
        &mut r,
        Precision::F16,
        convex_combine_fwd_v2_f16,
        convex_combine_bwd_v2_f16
    );
}
