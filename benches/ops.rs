//! Criterion benchmarks of every op of the `Backend` trait, at the shapes Phase 1 and Phase 2 use
//! them, at the `fmnist` and `paper` sizes, on the CPU backend (f32) and, with `--features cuda`
//! and a GPU, on the CUDA backend.
//!
//! Throughput is samples per second (`B` = 256 rows per call) except for `adam_step` (parameters
//! per second) and the convex family (bytes per second over the bytes the op must move at least;
//! see `support::sizes::convex_bytes`). Each GPU call is followed by a synchronisation, so the time is the op's
//! launch plus its run.
//!
//! `cargo bench --bench ops -- 'ops/cpu-f32/fmnist'` (criterion's filter) picks groups;
//! `CONVEXGAN_BENCH_SIZES=fmnist` skips building the other size, `CONVEXGAN_BENCH_BACKENDS=cuda` the
//! CPU. Defaults are short: warm-up 1 s,
//! 3 s of measurement, 10 samples (all overridable on the command line).

mod support;

use convexgan::backend::{Activation, Backend, ClassLoss, Tensor};
use convexgan::Result;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::sizes::{Phase2Fixture, Size};

/// Landmarks and grid of the heatmap family (Fashion-MNIST has none; these are DeepFashion's 8 on
/// METHOD.md §2's 28×28 grid).
const LANDMARKS: usize = 8;
const GRID: usize = 28;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `f` plus a synchronisation; an op that fails on its first call is reported and skipped.
fn time<B: Backend, T>(g: &mut Group<'_>, be: &B, name: &str, mut f: impl FnMut() -> Result<T>) {
    if let Err(e) = f().and_then(|_| be.synchronize()) {
        eprintln!("skipped: {name}: {e}");
        return;
    }
    g.bench_function(name, |b| {
        b.iter(|| {
            let out = f().expect("op succeeded on its first call");
            be.synchronize().expect("synchronize");
            out
        })
    });
}

fn rand_tensor<B: Backend>(
    be: &B,
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
) -> Result<Tensor<B>> {
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
    be.upload_f32(&v, rows, cols)
}

fn bench_ops<B: Backend>(c: &mut Criterion, be: &B, tag: &str, size: &Size) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let fx = Phase2Fixture::new(be, size)?;
    let ctx = fx.ctx(be, size)?;
    let (batch, ns, classes) = (size.batch(), size.ns(), size.classes);
    let d_stream = size.d_stream();
    let d = 2 * d_stream;
    // D's first layer: the widest product of an iteration.
    let (d_in, h1) = (d + classes, size.cfg.model.d_hidden[0]);
    let leaky = Activation::LeakyRelu(size.cfg.model.leaky_slope);
    let n = batch as u64;

    let mut g = c.benchmark_group(format!("ops/{tag}/{}", size.name));
    g.throughput(Throughput::Elements(n));

    // ---- host <-> backend
    let host: Vec<f32> = (0..batch * d).map(|_| rng.gen()).collect();
    time(&mut g, be, "upload", || be.upload_f32(&host, batch, d));
    let x_bd = rand_tensor(be, &mut rng, batch, d)?;
    time(&mut g, be, "download", || be.download_f32(&x_bd));
    let draw = support::probe::Draw::new(&mut rng, &ctx, size.z_dim())?;
    time(&mut g, be, "upload_indices", || {
        be.upload_indices(&draw.rows_r)
    });
    let losses: Vec<Tensor<B>> = (0..5)
        .map(|i| be.fill(1, 1, i as f64))
        .collect::<Result<_>>()?;
    let loss_refs: Vec<&Tensor<B>> = losses.iter().collect();
    time(&mut g, be, "read_scalars_5", || be.read_scalars(&loss_refs));

    // ---- elementwise
    time(&mut g, be, "zeros", || be.zeros(batch, h1));
    time(&mut g, be, "fill", || be.fill(batch, h1, 0.5));
    let mut y_bd = rand_tensor(be, &mut rng, batch, d)?;
    time(&mut g, be, "axpy", || be.axpy(&mut y_bd, 1e-3, &x_bd));
    time(&mut g, be, "scale", || be.scale(&x_bd, 0.5));
    let ft = rand_tensor(be, &mut rng, batch, d_stream)?;
    let fs = rand_tensor(be, &mut rng, batch, d_stream)?;
    time(&mut g, be, "concat_cols", || be.concat_cols(&[&ft, &fs]));
    time(&mut g, be, "split_cols", || {
        be.split_cols(&x_bd, &[d_stream, d_stream])
    });
    let pool_rows = 4 * batch;
    let pool = rand_tensor(be, &mut rng, pool_rows, size.x_dim)?;
    let pick: Vec<u32> = (0..batch)
        .map(|_| rng.gen_range(0..pool_rows as u32))
        .collect();
    let pick = be.upload_indices(&pick)?;
    time(&mut g, be, "gather_rows", || be.gather_rows(&pool, &pick));
    let labels = be.upload_indices(&draw.c_r)?;
    time(&mut g, be, "onehot", || be.onehot(&labels, classes));

    // ---- matrix products (D's first layer: forward, weight gradient, input gradient)
    let x_in = rand_tensor(be, &mut rng, batch, d_in)?;
    let w1 = rand_tensor(be, &mut rng, d_in, h1)?;
    let dz = rand_tensor(be, &mut rng, batch, h1)?;
    time(&mut g, be, "matmul_nn", || {
        be.matmul(&x_in, false, &w1, false)
    });
    time(&mut g, be, "matmul_tn", || {
        be.matmul(&x_in, true, &dz, false)
    });
    time(&mut g, be, "matmul_nt", || be.matmul(&dz, false, &w1, true));

    // ---- layers
    let bias = rand_tensor(be, &mut rng, 1, h1)?;
    time(&mut g, be, "bias_act_fwd", || {
        be.bias_act_fwd(&dz, Some(&bias), leaky)
    });
    let y_act = be.bias_act_fwd(&dz, Some(&bias), leaky)?;
    time(&mut g, be, "act_bwd", || be.act_bwd(&y_act, &dz, leaky));
    time(&mut g, be, "col_sum", || be.col_sum(&dz));
    let x_bn = rand_tensor(be, &mut rng, batch, d_stream)?;
    let gamma = be.fill(1, d_stream, 1.0)?;
    let beta = be.zeros(1, d_stream)?;
    let mut rm = be.zeros(1, d_stream)?;
    let mut rv = be.fill(1, d_stream, 1.0)?;
    time(&mut g, be, "batchnorm_fwd_train", || {
        be.batchnorm_fwd_train(&x_bn, &gamma, &beta, &mut rm, &mut rv, 0.1, 1e-5)
    });
    time(&mut g, be, "batchnorm_fwd_infer", || {
        be.batchnorm_fwd_infer(&x_bn, &gamma, &beta, &rm, &rv, 1e-5)
    });
    let (_, cache) = be.batchnorm_fwd_train(&x_bn, &gamma, &beta, &mut rm, &mut rv, 0.1, 1e-5)?;
    time(&mut g, be, "batchnorm_bwd", || {
        be.batchnorm_bwd(&x_bn, &cache, &gamma)
    });

    // ---- losses
    let logits = rand_tensor(be, &mut rng, batch, classes)?;
    time(&mut g, be, "softmax_rows", || be.softmax_rows(&logits));
    let margins = be.fill(1, classes, 0.3)?;
    let variants: [(&str, ClassLoss<'_, B>); 4] = [
        ("class_loss_ce", ClassLoss::Ce),
        ("class_loss_mse", ClassLoss::Mse),
        ("class_loss_focal", ClassLoss::Focal { gamma: 2.0 }),
        (
            "class_loss_ldam",
            ClassLoss::Ldam {
                margins: &margins,
                s: 30.0,
            },
        ),
    ];
    for (name, loss) in variants {
        time(&mut g, be, name, || be.class_loss(&logits, &labels, loss));
    }
    let vis_logits = rand_tensor(be, &mut rng, batch, LANDMARKS)?;
    let vis_host: Vec<f32> = (0..batch * LANDMARKS)
        .map(|_| rng.gen_range(0..2) as f32)
        .collect();
    let vis = be.upload_f32(&vis_host, batch, LANDMARKS)?;
    time(&mut g, be, "bce_logits", || {
        be.bce_logits(&vis_logits, &vis)
    });

    // ---- lsgan
    let d_out = rand_tensor(be, &mut rng, batch, 1)?;
    time(&mut g, be, "lsgan_d_loss", || be.lsgan_d_loss(&d_out, 1.0));
    time(&mut g, be, "lsgan_g_loss", || {
        be.lsgan_g_loss(&logits, &d_out, &labels, ctx.majority, 1000.0)
    });

    // ---- heatmap
    let coords_host: Vec<f32> = (0..batch * 2 * LANDMARKS)
        .map(|_| rng.gen_range(0.0..GRID as f32))
        .collect();
    let coords = be.upload_f32(&coords_host, batch, 2 * LANDMARKS)?;
    time(&mut g, be, "heatmap_targets", || {
        be.heatmap_targets(&coords, &vis, GRID, 1.0)
    });
    let target = be.heatmap_targets(&coords, &vis, GRID, 1.0)?;
    let pred = rand_tensor(be, &mut rng, batch, LANDMARKS * GRID * GRID)?;
    time(&mut g, be, "heatmap_loss", || {
        be.heatmap_loss(&pred, &target, &vis)
    });

    // ---- adam (D's first weight)
    g.throughput(Throughput::Elements((d_in * h1) as u64));
    let mut p = rand_tensor(be, &mut rng, d_in, h1)?;
    let grad = rand_tensor(be, &mut rng, d_in, h1)?;
    let mut m = be.zeros(d_in, h1)?;
    let mut v = be.zeros(d_in, h1)?;
    let mut step = 0u64;
    time(&mut g, be, "adam_step", || {
        step += 1;
        let h = convexgan::backend::AdamHyper {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step,
        };
        be.adam_step(&mut p, &grad, &mut m, &mut v, &h)
    });

    // ---- convex (bytes per second over the bytes the op must move)
    let bytes = support::sizes::convex_bytes(size, &draw.rows_g);
    let rows = be.upload_indices(&draw.rows_g)?;
    let g_logits = rand_tensor(be, &mut rng, batch, 2 * ns)?;
    g.throughput(Throughput::Bytes(bytes));
    time(&mut g, be, "convex_combine_fwd", || {
        be.convex_combine_fwd(&g_logits, &fx.dev.texture, &fx.dev.shape, &rows)
    });
    let conv = be.convex_combine_fwd(&g_logits, &fx.dev.texture, &fx.dev.shape, &rows)?;
    g.throughput(Throughput::Bytes(bytes));
    time(&mut g, be, "convex_combine_bwd", || {
        be.convex_combine_bwd(&conv.w, &ft, &fs, &fx.dev.texture, &fx.dev.shape, &rows)
    });
    let real = be.upload_indices(&draw.real_t)?;
    g.throughput(Throughput::Bytes(
        (batch * d_stream * 4 * 2 + batch * 4) as u64,
    ));
    time(&mut g, be, "dict_gather", || {
        be.dict_gather(&fx.dev.texture, &real)
    });
    g.finish();
    Ok(())
}

struct Bench;

impl support::PerBackend for Bench {
    const GROUP: &'static str = "ops";
    fn run<B: Backend>(&self, c: &mut Criterion, be: &B, tag: &str, size: &Size) -> Result<()> {
        bench_ops(c, be, tag, size)
    }
}

fn main() {
    support::run_criterion(&Bench);
}
