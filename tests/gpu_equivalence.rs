//! Every op of the backend trait on `CudaBackend` against the f64 CPU reference, on fresh random
//! inputs whose sizes are not multiples of the block sizes (so partial warps, partial blocks and
//! grid-stride tails all run). Inputs are rounded to f32 before both backends see them, so the
//! difference measured is the GPU's arithmetic alone. Op outputs are poisoned with NaN before the
//! kernels run (`set_poison_outputs`), so an element a kernel forgets to write fails the check.
//!
//! Tolerances (SPEC §7, relative error ‖out − ref‖/‖ref‖): 1e-5 for f32 element-wise ops, 1e-4 for
//! reductions and matrix products (and everything computed from them: softmax, losses, batch norm),
//! 1e-2 with bf16/f16 dictionaries. NaN never passes.
//!
//! Without a CUDA device every test prints `skipped: <reason>` and passes, unless
//! `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it on a machine with a GPU), in which
//! case failing to open the device fails the test.
#![cfg(feature = "cuda")]
// tests/common's `!(err <= tol)` is deliberate: it fails on NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod common;

use std::sync::OnceLock;

use common::{assert_close, rand_labels, rand_vec, rng, to_f64};
use convexgan::backend::cuda::CudaBackend;
use convexgan::backend::{
    Activation, AdamHyper, Backend, ClassLoss, Cpu, DictTensor, HostRows, Indices, Precision,
    Tensor,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const ELEMENTWISE: f64 = 1e-5;
const REDUCTION: f64 = 1e-4;
const HALF_DICT: f64 = 1e-2;

type G = CudaBackend;
type C = Cpu<f64>;

/// One backend for the whole binary (opening a device and loading the modules takes a while).
fn device() -> Result<&'static G, &'static str> {
    static DEV: OnceLock<Result<G, String>> = OnceLock::new();
    DEV.get_or_init(|| {
        CudaBackend::new(0)
            .inspect(|g| g.set_poison_outputs(true))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| e.as_str())
}

/// Both backends and a seeded generator; `None` (after printing why) without a device.
struct Pair {
    g: &'static G,
    c: C,
    rng: ChaCha8Rng,
}

impl Pair {
    fn new(seed: u64) -> Option<Self> {
        match device() {
            Ok(g) => Some(Pair {
                g,
                c: C::new(),
                rng: rng(seed),
            }),
            Err(why) if std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some() => {
                panic!("CONVEXGAN_REQUIRE_GPU is set but the device did not open: {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    /// The same values on both backends.
    fn put(&self, v: &[f64], rows: usize, cols: usize) -> (Tensor<G>, Tensor<C>) {
        let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let wide: Vec<f64> = f.iter().map(|&x| x as f64).collect();
        (
            self.g.upload(&f, rows, cols).unwrap(),
            self.c.upload(&wide, rows, cols).unwrap(),
        )
    }

    /// Uniform in `[-scale, scale)`, rounded to f32.
    fn rand(&mut self, rows: usize, cols: usize, scale: f64) -> (Tensor<G>, Tensor<C>) {
        let v = rand_vec(&mut self.rng, rows * cols, scale);
        self.put(&v, rows, cols)
    }

    /// Uniform in `[lo, hi)`, rounded to f32.
    fn rand_in(&mut self, rows: usize, cols: usize, lo: f64, hi: f64) -> (Tensor<G>, Tensor<C>) {
        let v: Vec<f64> = (0..rows * cols)
            .map(|_| self.rng.gen_range(lo..hi))
            .collect();
        self.put(&v, rows, cols)
    }

    fn idx(&self, v: &[u32]) -> (Indices<G>, Indices<C>) {
        (
            self.g.upload_indices(v).unwrap(),
            self.c.upload_indices(v).unwrap(),
        )
    }

    fn dict(
        &mut self,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> (DictTensor<G>, DictTensor<C>) {
        let v: Vec<f32> = rand_vec(&mut self.rng, rows * cols, 1.0)
            .into_iter()
            .map(|x| x as f32)
            .collect();
        let host = HostRows::from_f32(&v, precision);
        (
            self.g.upload_dict(&host, rows, cols).unwrap(),
            self.c.upload_dict(&host, rows, cols).unwrap(),
        )
    }

    /// Same shape, and relative error within `tol`.
    fn close(&self, what: &str, got: &Tensor<G>, want: &Tensor<C>, tol: f64) {
        assert_eq!(got.shape(), want.shape(), "{what}: shape");
        let g = to_f64(&self.g.download(got).unwrap());
        let c = self.c.download(want).unwrap();
        assert_close(what, &g, &c, tol);
    }
}

/// (rows, cols) pairs: one small, one spanning several blocks and warps, none a multiple of 32.
const SHAPES: [(usize, usize); 3] = [(1, 7), (37, 53), (301, 259)];

#[test]
fn new_without_driver_is_an_error_not_a_panic() {
    // SAFETY: only tries to dlopen libcuda.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    let result = std::panic::catch_unwind(|| CudaBackend::new(0).map(|_| ()));
    let result = result.expect("CudaBackend::new panicked");
    if !driver {
        let err = result.expect_err("CudaBackend::new succeeded without libcuda");
        let msg = err.to_string();
        assert!(
            msg.contains("driver") && msg.contains("libcuda"),
            "error should name the missing driver: {msg}"
        );
        println!("without libcuda: {msg}");
    } else {
        println!("libcuda present: CudaBackend::new(0) -> {:?}", result.err());
    }
}

#[test]
fn upload_download_round_trips() {
    let Some(mut p) = Pair::new(1) else { return };
    for (r, c) in SHAPES {
        let (g, cpu) = p.rand(r, c, 3.0);
        p.close("upload/download", &g, &cpu, 0.0);
    }
    let idx: Vec<u32> = (0..1000).map(|i| i * 7919 % 1009).collect();
    let (gi, _) = p.idx(&idx);
    assert_eq!(p.g.download_indices(&gi).unwrap(), idx);
    assert_eq!(gi.buf().max, idx.iter().copied().max());
    let empty = p.g.upload(&[], 0, 5).unwrap();
    assert!(p.g.download(&empty).unwrap().is_empty());
}

#[test]
fn read_scalars_matches_download() {
    let Some(mut p) = Pair::new(2) else { return };
    let ts: Vec<Tensor<G>> = (0..5).map(|_| p.rand(1, 1, 10.0).0).collect();
    let refs: Vec<&Tensor<G>> = ts.iter().collect();
    let got = p.g.read_scalars(&refs).unwrap();
    for (t, v) in ts.iter().zip(&got) {
        assert_eq!(p.g.download(t).unwrap()[0] as f64, *v);
    }
}

#[test]
fn zeros_and_fill() {
    let Some(p) = Pair::new(3) else { return };
    for (r, c) in SHAPES {
        p.close(
            "zeros",
            &p.g.zeros(r, c).unwrap(),
            &p.c.zeros(r, c).unwrap(),
            0.0,
        );
        p.close(
            "fill",
            &p.g.fill(r, c, -1.25).unwrap(),
            &p.c.fill(r, c, -1.25).unwrap(),
            ELEMENTWISE,
        );
    }
}

#[test]
fn axpy_and_scale() {
    let Some(mut p) = Pair::new(4) else { return };
    for (r, c) in SHAPES {
        let (mut gy, mut cy) = p.rand(r, c, 1.0);
        let (gx, cx) = p.rand(r, c, 1.0);
        p.g.axpy(&mut gy, -0.37, &gx).unwrap();
        p.c.axpy(&mut cy, -0.37, &cx).unwrap();
        p.close("axpy", &gy, &cy, ELEMENTWISE);
        p.close(
            "scale",
            &p.g.scale(&gx, 2.5).unwrap(),
            &p.c.scale(&cx, 2.5).unwrap(),
            ELEMENTWISE,
        );
    }
}

#[test]
fn concat_and_split_cols() {
    let Some(mut p) = Pair::new(5) else { return };
    let widths = [3, 64, 1, 33];
    let rows = 41;
    let parts: Vec<_> = widths.iter().map(|&w| p.rand(rows, w, 1.0)).collect();
    let gp: Vec<&Tensor<G>> = parts.iter().map(|t| &t.0).collect();
    let cp: Vec<&Tensor<C>> = parts.iter().map(|t| &t.1).collect();
    let gcat = p.g.concat_cols(&gp).unwrap();
    let ccat = p.c.concat_cols(&cp).unwrap();
    p.close("concat_cols", &gcat, &ccat, 0.0);
    let gs = p.g.split_cols(&gcat, &widths).unwrap();
    let cs = p.c.split_cols(&ccat, &widths).unwrap();
    for (i, (g, c)) in gs.iter().zip(&cs).enumerate() {
        p.close(&format!("split_cols part {i}"), g, c, 0.0);
    }
}

#[test]
fn gather_rows_and_onehot() {
    let Some(mut p) = Pair::new(6) else { return };
    let (gx, cx) = p.rand(97, 45, 1.0);
    let idx = rand_labels(&mut p.rng, 300, 97);
    let (gi, ci) = p.idx(&idx);
    p.close(
        "gather_rows",
        &p.g.gather_rows(&gx, &gi).unwrap(),
        &p.c.gather_rows(&cx, &ci).unwrap(),
        0.0,
    );
    let labels = rand_labels(&mut p.rng, 263, 11);
    let (gl, cl) = p.idx(&labels);
    p.close(
        "onehot",
        &p.g.onehot(&gl, 11).unwrap(),
        &p.c.onehot(&cl, 11).unwrap(),
        0.0,
    );
}

#[test]
fn shape_errors_match_the_cpu() {
    let Some(mut p) = Pair::new(7) else { return };
    let (ga, ca) = p.rand(3, 4, 1.0);
    let (gb, cb) = p.rand(5, 4, 1.0);
    let msg = |r: Result<(), convexgan::Error>| r.expect_err("accepted bad shapes").to_string();
    let (mut ga2, mut ca2) = (ga.clone(), ca.clone());
    assert_eq!(
        msg(p.g.axpy(&mut ga2, 1.0, &gb)),
        msg(p.c.axpy(&mut ca2, 1.0, &cb))
    );
    assert_eq!(
        msg(p.g.matmul(&ga, false, &gb, false).map(|_| ())),
        msg(p.c.matmul(&ca, false, &cb, false).map(|_| ()))
    );
    let (gi, ci) = p.idx(&[0, 5]);
    assert_eq!(
        msg(p.g.gather_rows(&gb, &gi).map(|_| ())),
        msg(p.c.gather_rows(&cb, &ci).map(|_| ()))
    );
    assert_eq!(
        msg(p.g.onehot(&gi, 5).map(|_| ())),
        msg(p.c.onehot(&ci, 5).map(|_| ()))
    );
    assert_eq!(
        msg(p
            .g
            .bias_act_fwd(&ga, Some(&gb), Activation::Relu)
            .map(|_| ())),
        msg(p
            .c
            .bias_act_fwd(&ca, Some(&cb), Activation::Relu)
            .map(|_| ()))
    );
}

#[test]
fn matmul_all_transposes() {
    let Some(mut p) = Pair::new(8) else { return };
    let (m, k, n) = (37, 129, 45);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        let (ga, ca) = p.rand(ar, ac, 1.0);
        let (gb, cb) = p.rand(br, bc, 1.0);
        p.close(
            &format!("matmul ta={ta} tb={tb}"),
            &p.g.matmul(&ga, ta, &gb, tb).unwrap(),
            &p.c.matmul(&ca, ta, &cb, tb).unwrap(),
            REDUCTION,
        );
    }
}

const ACTS: [Activation; 3] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu(0.2),
];

#[test]
fn bias_act_fwd_and_act_bwd() {
    let Some(mut p) = Pair::new(9) else { return };
    for (r, c) in SHAPES {
        let (gx, cx) = p.rand(r, c, 1.0);
        let (gb, cb) = p.rand(1, c, 0.5);
        let (gdy, cdy) = p.rand(r, c, 1.0);
        for act in ACTS {
            for with_bias in [false, true] {
                let what = format!("bias_act_fwd {act:?} bias={with_bias} {r}×{c}");
                let gy =
                    p.g.bias_act_fwd(&gx, with_bias.then_some(&gb), act)
                        .unwrap();
                let cy =
                    p.c.bias_act_fwd(&cx, with_bias.then_some(&cb), act)
                        .unwrap();
                p.close(&what, &gy, &cy, ELEMENTWISE);
                p.close(
                    &format!("act_bwd {act:?} {r}×{c}"),
                    &p.g.act_bwd(&gy, &gdy, act).unwrap(),
                    &p.c.act_bwd(&cy, &cdy, act).unwrap(),
                    ELEMENTWISE,
                );
            }
        }
    }
}

#[test]
fn col_sum() {
    let Some(mut p) = Pair::new(10) else { return };
    for (r, c) in SHAPES {
        let (gx, cx) = p.rand(r, c, 1.0);
        p.close(
            &format!("col_sum {r}×{c}"),
            &p.g.col_sum(&gx).unwrap(),
            &p.c.col_sum(&cx).unwrap(),
            REDUCTION,
        );
    }
}

#[test]
fn batchnorm_train_infer_and_backward() {
    let Some(mut p) = Pair::new(11) else { return };
    for (r, c) in [(2, 5), (37, 53), (301, 259)] {
        // An offset mean checks the two-pass variance.
        let (gx, cx) = p.rand_in(r, c, 2.0, 4.0);
        let (gg, cg) = p.rand_in(1, c, 0.5, 1.5);
        let (gb, cb) = p.rand(1, c, 0.5);
        let (mut grm, mut crm) = p.rand(1, c, 0.1);
        let (mut grv, mut crv) = p.rand_in(1, c, 0.5, 1.5);
        let (gy, gcache) =
            p.g.batchnorm_fwd_train(&gx, &gg, &gb, &mut grm, &mut grv, 0.1, 1e-5)
                .unwrap();
        let (cy, ccache) =
            p.c.batchnorm_fwd_train(&cx, &cg, &cb, &mut crm, &mut crv, 0.1, 1e-5)
                .unwrap();
        let tag = format!("{r}×{c}");
        p.close(&format!("bn train y {tag}"), &gy, &cy, REDUCTION);
        p.close(
            &format!("bn train xhat {tag}"),
            &gcache.xhat,
            &ccache.xhat,
            REDUCTION,
        );
        p.close(
            &format!("bn train inv_std {tag}"),
            &gcache.inv_std,
            &ccache.inv_std,
            REDUCTION,
        );
        p.close(&format!("bn running_mean {tag}"), &grm, &crm, REDUCTION);
        p.close(&format!("bn running_var {tag}"), &grv, &crv, REDUCTION);
        p.close(
            &format!("bn infer {tag}"),
            &p.g.batchnorm_fwd_infer(&gx, &gg, &gb, &grm, &grv, 1e-5)
                .unwrap(),
            &p.c.batchnorm_fwd_infer(&cx, &cg, &cb, &crm, &crv, 1e-5)
                .unwrap(),
            ELEMENTWISE,
        );
        let (gdy, cdy) = p.rand(r, c, 1.0);
        let (gdx, gdg, gdb) = p.g.batchnorm_bwd(&gdy, &gcache, &gg).unwrap();
        let (cdx, cdg, cdb) = p.c.batchnorm_bwd(&cdy, &ccache, &cg).unwrap();
        p.close(&format!("bn bwd dx {tag}"), &gdx, &cdx, REDUCTION);
        p.close(&format!("bn bwd dgamma {tag}"), &gdg, &cdg, REDUCTION);
        p.close(&format!("bn bwd dbeta {tag}"), &gdb, &cdb, REDUCTION);
    }
}

#[test]
fn adam_three_steps() {
    let Some(mut p) = Pair::new(12) else { return };
    let (r, c) = (67, 45);
    let (mut gp, mut cp) = p.rand(r, c, 1.0);
    let (mut gm, mut cm) = (p.g.zeros(r, c).unwrap(), p.c.zeros(r, c).unwrap());
    let (mut gv, mut cv) = (p.g.zeros(r, c).unwrap(), p.c.zeros(r, c).unwrap());
    for step in 1..=3 {
        let (gg, cg) = p.rand(r, c, 1.0);
        let h = AdamHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step,
        };
        p.g.adam_step(&mut gp, &gg, &mut gm, &mut gv, &h).unwrap();
        p.c.adam_step(&mut cp, &cg, &mut cm, &mut cv, &h).unwrap();
    }
    p.close("adam param", &gp, &cp, ELEMENTWISE);
    p.close("adam m", &gm, &cm, ELEMENTWISE);
    p.close("adam v", &gv, &cv, ELEMENTWISE);
}

#[test]
fn sum_scaled_reduces() {
    let Some(mut p) = Pair::new(13) else { return };
    for n in [1, 255, 257, 20_011] {
        let v = rand_vec(&mut p.rng, n, 1.0);
        let (g, _) = p.put(&v, 1, n);
        let got = p.g.sum_scaled(g.buf(), n, 0.25).unwrap();
        let want: f64 = v.iter().map(|&x| x as f32 as f64).sum::<f64>() * 0.25;
        let got = p.g.download(&got).unwrap()[0] as f64;
        assert_close(&format!("sum_scaled n={n}"), &[got], &[want], REDUCTION);
    }
}

#[test]
fn softmax_rows() {
    let Some(mut p) = Pair::new(14) else { return };
    for (r, c) in SHAPES {
        // Large logits check the max subtraction.
        let (gx, cx) = p.rand(r, c, 30.0);
        p.close(
            &format!("softmax_rows {r}×{c}"),
            &p.g.softmax_rows(&gx).unwrap(),
            &p.c.softmax_rows(&cx).unwrap(),
            REDUCTION,
        );
    }
}

#[test]
fn class_losses() {
    let Some(mut p) = Pair::new(15) else { return };
    for (b, classes) in [(1, 3), (37, 10), (259, 70)] {
        let (gz, cz) = p.rand(b, classes, 3.0);
        let labels = rand_labels(&mut p.rng, b, classes);
        let (gl, cl) = p.idx(&labels);
        let (gm, cm) = p.rand_in(1, classes, 0.05, 0.5);
        let kinds: [(&str, ClassLoss<G>, ClassLoss<C>); 4] = [
            ("ce", ClassLoss::Ce, ClassLoss::Ce),
            ("mse", ClassLoss::Mse, ClassLoss::Mse),
            (
                "focal",
                ClassLoss::Focal { gamma: 2.0 },
                ClassLoss::Focal { gamma: 2.0 },
            ),
            (
                "ldam",
                ClassLoss::Ldam {
                    margins: &gm,
                    s: 30.0,
                },
                ClassLoss::Ldam {
                    margins: &cm,
                    s: 30.0,
                },
            ),
        ];
        for (name, gk, ck) in kinds {
            let (gloss, ggrad) = p.g.class_loss(&gz, &gl, gk).unwrap();
            let (closs, cgrad) = p.c.class_loss(&cz, &cl, ck).unwrap();
            p.close(&format!("{name} loss B={b}"), &gloss, &closs, REDUCTION);
            p.close(&format!("{name} grad B={b}"), &ggrad, &cgrad, REDUCTION);
        }
    }
}

#[test]
fn bce_logits() {
    let Some(mut p) = Pair::new(16) else { return };
    for (b, k) in [(1, 1), (37, 8), (259, 77)] {
        let (gz, cz) = p.rand(b, k, 6.0);
        let t: Vec<f64> = (0..b * k)
            .map(|_| f64::from(p.rng.gen_bool(0.5) as u8))
            .collect();
        let (gt, ct) = p.put(&t, b, k);
        let (gl, gg) = p.g.bce_logits(&gz, &gt).unwrap();
        let (cl, cg) = p.c.bce_logits(&cz, &ct).unwrap();
        p.close(&format!("bce loss {b}×{k}"), &gl, &cl, REDUCTION);
        p.close(&format!("bce grad {b}×{k}"), &gg, &cg, REDUCTION);
    }
}

#[test]
fn lsgan_losses() {
    let Some(mut p) = Pair::new(17) else { return };
    for (b, classes) in [(1, 2), (37, 10), (259, 70)] {
        let (gd, cd) = p.rand(b, 1, 2.0);
        for target in [0.0, 1.0] {
            let (gl, gg) = p.g.lsgan_d_loss(&gd, target).unwrap();
            let (cl, cg) = p.c.lsgan_d_loss(&cd, target).unwrap();
            p.close(
                &format!("lsgan_d loss t={target} B={b}"),
                &gl,
                &cl,
                REDUCTION,
            );
            p.close(
                &format!("lsgan_d grad t={target} B={b}"),
                &gg,
                &cg,
                REDUCTION,
            );
        }
        let (gq, cq) = p.rand(b, classes, 3.0);
        let labels = rand_labels(&mut p.rng, b, classes);
        let (gl, cl) = p.idx(&labels);
        let majority = classes / 2;
        let g = p.g.lsgan_g_loss(&gq, &gd, &gl, majority, 1000.0).unwrap();
        let c = p.c.lsgan_g_loss(&cq, &cd, &cl, majority, 1000.0).unwrap();
        p.close(&format!("lsgan_g loss B={b}"), &g.loss, &c.loss, REDUCTION);
        p.close(
            &format!("lsgan_g d_q_logits B={b}"),
            &g.d_q_logits,
            &c.d_q_logits,
            REDUCTION,
        );
        p.close(
            &format!("lsgan_g d_d_out B={b}"),
            &g.d_d_out,
            &c.d_d_out,
            REDUCTION,
        );
    }
}

#[test]
fn convex_combine_and_dict_gather() {
    let Some(mut p) = Pair::new(18) else { return };
    for precision in [Precision::F32, Precision::Bf16, Precision::F16] {
        let tol = if precision == Precision::F32 {
            REDUCTION
        } else {
            HALF_DICT
        };
        for (b, ns, d_t, d_s) in [(1, 3, 5, 7), (37, 30, 129, 65), (67, 100, 257, 300)] {
            let total_rows = 3 * ns + 11;
            let (gdt, cdt) = p.dict(total_rows, d_t, precision);
            let (gds, cds) = p.dict(total_rows, d_s, precision);
            let rows = rand_labels(&mut p.rng, b * ns, total_rows);
            let (gr, cr) = p.idx(&rows);
            let (glog, clog) = p.rand(b, 2 * ns, 2.0);
            let tag = format!("{} B={b} Ns={ns}", precision.name());
            let g = p.g.convex_combine_fwd(&glog, &gdt, &gds, &gr).unwrap();
            let c = p.c.convex_combine_fwd(&clog, &cdt, &cds, &cr).unwrap();
            p.close(&format!("convex fwd f_t {tag}"), &g.f_t, &c.f_t, tol);
            p.close(&format!("convex fwd f_s {tag}"), &g.f_s, &c.f_s, tol);
            p.close(&format!("convex fwd w {tag}"), &g.w, &c.w, REDUCTION);
            let (gdft, cdft) = p.rand(b, d_t, 1.0);
            let (gdfs, cdfs) = p.rand(b, d_s, 1.0);
            p.close(
                &format!("convex bwd {tag}"),
                &p.g.convex_combine_bwd(&g.w, &gdft, &gdfs, &gdt, &gds, &gr)
                    .unwrap(),
                &p.c.convex_combine_bwd(&c.w, &cdft, &cdfs, &cdt, &cds, &cr)
                    .unwrap(),
                tol,
            );
            p.close(
                &format!("dict_gather {tag}"),
                &p.g.dict_gather(&gdt, &gr).unwrap(),
                &p.c.dict_gather(&cdt, &cr).unwrap(),
                ELEMENTWISE,
            );
        }
    }
}

#[test]
fn heatmap_targets_and_loss() {
    let Some(mut p) = Pair::new(19) else { return };
    let grid = 28;
    for (b, k) in [(1, 1), (13, 8), (37, 3)] {
        let (gc, cc) = p.rand_in(b, 2 * k, 0.0, grid as f64);
        let vis: Vec<f64> = (0..b * k)
            .map(|_| f64::from(p.rng.gen_bool(0.7) as u8))
            .collect();
        let (gv, cv) = p.put(&vis, b, k);
        let gt = p.g.heatmap_targets(&gc, &gv, grid, 1.0).unwrap();
        let ct = p.c.heatmap_targets(&cc, &cv, grid, 1.0).unwrap();
        p.close(
            &format!("heatmap_targets B={b} K={k}"),
            &gt,
            &ct,
            ELEMENTWISE,
        );
        let (gp, cp) = p.rand(b, k * grid * grid, 1.0);
        let (gl, gg) = p.g.heatmap_loss(&gp, &gt, &gv).unwrap();
        let (cl, cg) = p.c.heatmap_loss(&cp, &ct, &cv).unwrap();
        p.close(&format!("heatmap loss B={b} K={k}"), &gl, &cl, REDUCTION);
        p.close(&format!("heatmap grad B={b} K={k}"), &gg, &cg, REDUCTION);
    }
}
