//! Shared support for the `gpu` sections: every op of the backend traits on `CudaBackend` against
//! the f64 CPU reference, on fresh random inputs whose sizes are not multiples of the block sizes
//! (so partial warps, partial blocks and grid-stride tails all run). Inputs are rounded to f32
//! before both backends see them, so the difference measured is the GPU's arithmetic alone. Op
//! outputs are poisoned with NaN before the kernels run (`set_poison_outputs`), so an element a
//! kernel forgets to write fails the check. The tests here are the device's own (opening it, the
//! transfers) and the shape errors of several families.
//!
//! Tolerances (METHOD.md §7, relative error ‖out − ref‖/‖ref‖): 1e-5 for f32 element-wise ops, 1e-4 for
//! reductions and matrix products (and everything computed from them: softmax, losses, batch norm),
//! 1e-2 with bf16/f16 dictionaries. NaN never passes.
//!
//! Without a CUDA device every test prints `skipped: <reason>` and passes, unless
//! `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it on a machine with a GPU), in which
//! case failing to open the device fails the test. The device check runs exactly these sections:
//! `ops gpu::` (every test whose path contains `gpu::`).

use std::sync::OnceLock;

use crate::common::{assert_close, rand_vec, rng, to_f64};
use convexgan::backend::cuda::CudaBackend;
use convexgan::backend::prelude::*;
use convexgan::backend::{Activation, Cpu, DictTensor, HostRows, Indices, Precision, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const ELEMENTWISE: f64 = 1e-5;
pub const REDUCTION: f64 = 1e-4;
pub const HALF_DICT: f64 = 1e-2;

pub type G = CudaBackend;
pub type C = Cpu<f64>;

/// Opens device `ordinal`, holding [`crate::PTX_CACHE_ENV`]: opening loads every kernel family
/// through the PTX/cubin cache, whose location `kernels::ptx_cache_round_trip` changes for a while.
fn open(ordinal: usize) -> convexgan::Result<G> {
    let _env = crate::PTX_CACHE_ENV
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    CudaBackend::new(ordinal)
}

/// One backend for the whole binary (opening a device and loading the modules takes a while).
pub fn device() -> Result<&'static G, &'static str> {
    static DEV: OnceLock<Result<G, String>> = OnceLock::new();
    DEV.get_or_init(|| {
        open(0)
            .inspect(|g| g.set_poison_outputs(true))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| e.as_str())
}

/// Both backends and a seeded generator; `None` (after printing why) without a device.
pub struct Pair {
    pub g: &'static G,
    pub c: C,
    pub rng: ChaCha8Rng,
}

impl Pair {
    pub fn new(seed: u64) -> Option<Self> {
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
    pub fn put(&self, v: &[f64], rows: usize, cols: usize) -> (Tensor<G>, Tensor<C>) {
        let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let wide: Vec<f64> = f.iter().map(|&x| x as f64).collect();
        (
            self.g.upload(&f, rows, cols).unwrap(),
            self.c.upload(&wide, rows, cols).unwrap(),
        )
    }

    /// Uniform in `[-scale, scale)`, rounded to f32.
    pub fn rand(&mut self, rows: usize, cols: usize, scale: f64) -> (Tensor<G>, Tensor<C>) {
        let v = rand_vec(&mut self.rng, rows * cols, scale);
        self.put(&v, rows, cols)
    }

    /// Uniform in `[lo, hi)`, rounded to f32.
    pub fn rand_in(
        &mut self,
        rows: usize,
        cols: usize,
        lo: f64,
        hi: f64,
    ) -> (Tensor<G>, Tensor<C>) {
        let v: Vec<f64> = (0..rows * cols)
            .map(|_| self.rng.gen_range(lo..hi))
            .collect();
        self.put(&v, rows, cols)
    }

    pub fn idx(&self, v: &[u32]) -> (Indices<G>, Indices<C>) {
        (
            self.g.upload_indices(v).unwrap(),
            self.c.upload_indices(v).unwrap(),
        )
    }

    pub fn dict(
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
    pub fn close(&self, what: &str, got: &Tensor<G>, want: &Tensor<C>, tol: f64) {
        assert_eq!(got.shape(), want.shape(), "{what}: shape");
        let g = to_f64(&self.g.download(got).unwrap());
        let c = self.c.download(want).unwrap();
        assert_close(what, &g, &c, tol);
    }
}

/// (rows, cols) pairs: one small, one spanning several blocks and warps, none a multiple of 32.
pub const SHAPES: [(usize, usize); 3] = [(1, 7), (37, 53), (301, 259)];

#[test]
fn new_without_driver_is_an_error_not_a_panic() {
    // SAFETY: only tries to dlopen libcuda.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    let result = std::panic::catch_unwind(|| open(0).map(|_| ()));
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
    assert_eq!(gi.buf().max(), idx.iter().copied().max());
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
