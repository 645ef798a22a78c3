//! Whole-chain finite-difference checks in f64, composed only from raw backend ops exactly as the
//! trainer composes them, so a wrong sign or transpose anywhere between two ops shows up here even
//! when every op passes its own check.
use crate::common::{assert_close, fd_grad, rand_labels, rand_vec, rng};
use convexgan::backend::prelude::*;
use convexgan::backend::{
    cpu::CpuF64, Activation, ClassLoss, DictTensor, HostRows, Indices, Precision, Tensor,
};

type T = Tensor<CpuF64>;
const LEAKY: Activation = Activation::LeakyRelu(0.2);

fn up(cpu: &CpuF64, v: &[f64], r: usize, c: usize) -> T {
    cpu.upload(v, r, c).unwrap()
}

fn scalar(cpu: &CpuF64, t: &T) -> f64 {
    cpu.download(t).unwrap()[0]
}

/// `act(x·W + b)`.
fn linear(cpu: &CpuF64, x: &T, w: &T, b: &T, act: Activation) -> T {
    let y = cpu.matmul(x, false, w, false).unwrap();
    cpu.bias_act_fwd(&y, Some(b), act).unwrap()
}

// ---- (a) G → convex combination → D and Q → L_G ------------------------------------------------

const B: usize = 4;
const Z: usize = 3;
const NC: usize = 3;
const H_G: usize = 5;
const NS: usize = 3;
const N_ROWS: usize = 8;
const D_T: usize = 4;
const D_S: usize = 3;
const H_D: usize = 6;
const MAJORITY: usize = 0;
const LAMBDA: f64 = 2.0;

struct GenChain {
    x0: T,
    onehot: T,
    labels: Indices<CpuF64>,
    rows: Indices<CpuF64>,
    dict_t: DictTensor<CpuF64>,
    dict_s: DictTensor<CpuF64>,
    g_w2: T,
    g_b2: T,
    d_w1: T,
    d_b1: T,
    d_w2: T,
    d_b2: T,
    q_w: T,
    q_b: T,
}

struct GenForward {
    h1: T,
    conv: convexgan::backend::ConvexOut<CpuF64>,
    h_d: T,
    loss: convexgan::backend::GenLossOut<CpuF64>,
}

impl GenChain {
    fn new(cpu: &CpuF64, seed: u64) -> Self {
        let mut r = rng(seed);
        let z = up(cpu, &rand_vec(&mut r, B * Z, 1.0), B, Z);
        // Minority classes only, as the generator is trained (c_g is never the majority).
        let labels_v: Vec<u32> = rand_labels(&mut r, B, NC - 1)
            .into_iter()
            .map(|c| c + 1)
            .collect();
        let labels = cpu.upload_indices(&labels_v).unwrap();
        let onehot = cpu.onehot(&labels, NC).unwrap();
        let x0 = cpu.concat_cols(&[&z, &onehot]).unwrap();
        let dict = |r: &mut _, d| {
            let v: Vec<f32> = rand_vec(r, N_ROWS * d, 1.0)
                .into_iter()
                .map(|x| x as f32)
                .collect();
            cpu.upload_dict(&HostRows::from_f32(&v, Precision::F32), N_ROWS, d)
                .unwrap()
        };
        let dict_t = dict(&mut r, D_T);
        let dict_s = dict(&mut r, D_S);
        let rows_v: Vec<u32> = (0..B)
            .flat_map(|b| (0..NS).map(move |k| ((b + 3 * k) % N_ROWS) as u32))
            .collect();
        let rows = cpu.upload_indices(&rows_v).unwrap();
        let mut p = |rr, cc, s| up(cpu, &rand_vec(&mut r, rr * cc, s), rr, cc);
        let d_in = D_T + D_S + NC;
        GenChain {
            g_w2: p(H_G, 2 * NS, 0.8),
            g_b2: p(1, 2 * NS, 0.3),
            d_w1: p(d_in, H_D, 0.8),
            d_b1: p(1, H_D, 0.3),
            d_w2: p(H_D, 1, 0.8),
            d_b2: p(1, 1, 0.3),
            q_w: p(D_T + D_S, NC, 1.0),
            q_b: p(1, NC, 0.3),
            x0,
            onehot,
            labels,
            rows,
            dict_t,
            dict_s,
        }
    }

    fn forward(&self, cpu: &CpuF64, g_w1: &T, g_b1: &T) -> GenForward {
        let h1 = linear(cpu, &self.x0, g_w1, g_b1, LEAKY);
        let logits = linear(cpu, &h1, &self.g_w2, &self.g_b2, Activation::Identity);
        let conv = cpu
            .convex_combine_fwd(&logits, &self.dict_t, &self.dict_s, &self.rows)
            .unwrap();
        let d_in = cpu
            .concat_cols(&[&conv.f_t, &conv.f_s, &self.onehot])
            .unwrap();
        let h_d = linear(cpu, &d_in, &self.d_w1, &self.d_b1, LEAKY);
        let d_out = linear(cpu, &h_d, &self.d_w2, &self.d_b2, Activation::Identity);
        let q_in = cpu.concat_cols(&[&conv.f_t, &conv.f_s]).unwrap();
        let q_logits = linear(cpu, &q_in, &self.q_w, &self.q_b, Activation::Identity);
        let loss = cpu
            .lsgan_g_loss(&q_logits, &d_out, &self.labels, MAJORITY, LAMBDA)
            .unwrap();
        GenForward {
            h1,
            conv,
            h_d,
            loss,
        }
    }

    /// Gradients of `L_G` with respect to G's first layer `(W1, b1)`; D and Q are held fixed.
    fn backward(&self, cpu: &CpuF64, fw: &GenForward) -> (T, T) {
        // Through D: d_out ← FC2 ← LeakyReLU ← FC1 ← [f_t; f_s; onehot].
        let d_hd = cpu
            .matmul(&fw.loss.d_d_out, false, &self.d_w2, true)
            .unwrap();
        let d_pre = cpu.act_bwd(&fw.h_d, &d_hd, LEAKY).unwrap();
        let d_din = cpu.matmul(&d_pre, false, &self.d_w1, true).unwrap();
        let mut parts = cpu.split_cols(&d_din, &[D_T, D_S, NC]).unwrap();
        // Through Q: q_logits ← Linear ← [f_t; f_s]; both paths add into the same features.
        let d_qin = cpu
            .matmul(&fw.loss.d_q_logits, false, &self.q_w, true)
            .unwrap();
        let q_parts = cpu.split_cols(&d_qin, &[D_T, D_S]).unwrap();
        cpu.axpy(&mut parts[0], 1.0, &q_parts[0]).unwrap();
        cpu.axpy(&mut parts[1], 1.0, &q_parts[1]).unwrap();
        // Through the convex combination into G's logits, then G's layers.
        let d_logits = cpu
            .convex_combine_bwd(
                &fw.conv.w,
                &parts[0],
                &parts[1],
                &self.dict_t,
                &self.dict_s,
                &self.rows,
            )
            .unwrap();
        let d_h1 = cpu.matmul(&d_logits, false, &self.g_w2, true).unwrap();
        let d_pre1 = cpu.act_bwd(&fw.h1, &d_h1, LEAKY).unwrap();
        let d_w1 = cpu.matmul(&self.x0, true, &d_pre1, false).unwrap();
        let d_b1 = cpu.col_sum(&d_pre1).unwrap();
        (d_w1, d_b1)
    }
}

/// `L_G` through G, the convex combination, D and Q: gradient w.r.t. G's first-layer weights and
/// biases against central differences (h = 1e-6, tolerance 1e-6 relative).
#[test]
fn generator_chain_grad() {
    let cpu = CpuF64::new();
    let ch = GenChain::new(&cpu, 1);
    let mut r = rng(2);
    let w1 = rand_vec(&mut r, (Z + NC) * H_G, 0.8);
    let b1 = rand_vec(&mut r, H_G, 0.3);

    let fw = ch.forward(&cpu, &up(&cpu, &w1, Z + NC, H_G), &up(&cpu, &b1, 1, H_G));
    let (gw, gb) = ch.backward(&cpu, &fw);
    assert_eq!(gw.shape(), (Z + NC, H_G));
    assert_eq!(gb.shape(), (1, H_G));

    let loss_w = |x: &[f64]| {
        let fw = ch.forward(&cpu, &up(&cpu, x, Z + NC, H_G), &up(&cpu, &b1, 1, H_G));
        scalar(&cpu, &fw.loss.loss)
    };
    let loss_b = |x: &[f64]| {
        let fw = ch.forward(&cpu, &up(&cpu, &w1, Z + NC, H_G), &up(&cpu, x, 1, H_G));
        scalar(&cpu, &fw.loss.loss)
    };
    assert_close(
        "chain (a) dL_G/dW1",
        &cpu.download(&gw).unwrap(),
        &fd_grad(loss_w, &w1, 1e-6),
        1e-6,
    );
    assert_close(
        "chain (a) dL_G/db1",
        &cpu.download(&gb).unwrap(),
        &fd_grad(loss_b, &b1, 1e-6),
        1e-6,
    );
}

// ---- (b) features → Q (Linear → ReLU → Linear) → LDAM --------------------------------------------

const BQ: usize = 6;
const DQ: usize = 5;
const HQ: usize = 4;
const NCQ: usize = 4;
const LDAM_S: f64 = 30.0;

/// LDAM margins `Δ_j ∝ n_j^{-1/4}` scaled so that `max Δ = 0.5` (METHOD.md §4).
fn ldam_margins(counts: &[f64]) -> Vec<f64> {
    let raw: Vec<f64> = counts.iter().map(|n| n.powf(-0.25)).collect();
    let max = raw.iter().copied().fold(0.0, f64::max);
    raw.iter().map(|m| 0.5 * m / max).collect()
}

/// Q's gradient under the LDAM loss: all four parameter tensors against central differences
/// (h = 1e-6, tolerance 1e-6 relative). Weights are small so that `s = 30` keeps the logits in
/// the softmax's responsive range and the ReLU's kinks are far from every pre-activation.
#[test]
fn classifier_chain_grad_ldam() {
    let cpu = CpuF64::new();
    let mut r = rng(3);
    let x = up(&cpu, &rand_vec(&mut r, BQ * DQ, 1.0), BQ, DQ);
    let labels = cpu.upload_indices(&rand_labels(&mut r, BQ, NCQ)).unwrap();
    let margins = up(&cpu, &ldam_margins(&[500.0, 120.0, 30.0, 5.0]), 1, NCQ);
    let params = [
        rand_vec(&mut r, DQ * HQ, 0.5),
        rand_vec(&mut r, HQ, 0.2),
        rand_vec(&mut r, HQ * NCQ, 0.1),
        rand_vec(&mut r, NCQ, 0.05),
    ];
    let shapes = [(DQ, HQ), (1, HQ), (HQ, NCQ), (1, NCQ)];
    let tensors = |ps: &[Vec<f64>]| -> Vec<T> {
        ps.iter()
            .zip(shapes)
            .map(|(p, (rr, cc))| up(&cpu, p, rr, cc))
            .collect()
    };
    let forward = |p: &[T]| {
        let h = linear(&cpu, &x, &p[0], &p[1], Activation::Relu);
        let z = linear(&cpu, &h, &p[2], &p[3], Activation::Identity);
        // Built per call: `ClassLoss<CpuF64>` is not `Copy` (the derive requires `B: Copy`).
        let loss = ClassLoss::Ldam {
            margins: &margins,
            s: LDAM_S,
        };
        let (l, dz) = cpu.class_loss(&z, &labels, loss).unwrap();
        (h, l, dz)
    };

    let p = tensors(&params);
    let (h, _, dz) = forward(&p);
    let d_w2 = cpu.matmul(&h, true, &dz, false).unwrap();
    let d_b2 = cpu.col_sum(&dz).unwrap();
    let d_h = cpu.matmul(&dz, false, &p[2], true).unwrap();
    let d_pre = cpu.act_bwd(&h, &d_h, Activation::Relu).unwrap();
    let d_w1 = cpu.matmul(&x, true, &d_pre, false).unwrap();
    let d_b1 = cpu.col_sum(&d_pre).unwrap();
    let grads = [d_w1, d_b1, d_w2, d_b2];

    for (i, (name, g)) in ["W1", "b1", "W2", "b2"].iter().zip(&grads).enumerate() {
        assert_eq!(g.shape(), shapes[i], "{name} gradient shape");
        let f = |v: &[f64]| {
            let mut ps = params.clone();
            ps[i] = v.to_vec();
            scalar(&cpu, &forward(&tensors(&ps)).1)
        };
        assert_close(
            &format!("chain (b) dL/d{name}"),
            &cpu.download(g).unwrap(),
            &fd_grad(f, &params[i], 1e-6),
            1e-6,
        );
    }
}

// ---- (c) f_s (Linear → BN → ReLU, twice) → LDM → w_land·L_land + w_vis·L_vis -------------------

const BL: usize = 6;
const DL_IN: usize = 5;
const FS_WIDTHS: [usize; 2] = [6, 4];
const KL: usize = 2;
const GRID_L: usize = 5;
const W_LAND: f64 = 0.7;
const W_VIS: f64 = 1.3;

/// The landmark terms of Phase 1 through the library's own modules (`Mlp` for f_s with BatchNorm
/// in training mode, `Ldm`), composed as `train_phase1_with` composes them: the gradient with
/// respect to f_s's first Linear weights against central differences (h = 1e-6, tolerance 1e-6
/// relative). The ground-truth maps and visibilities are constants.
#[test]
fn landmark_chain_grad_into_shape_stream() {
    use convexgan::model::Ldm;
    use convexgan::nn::{Layer, Mlp, Mode};
    use rand::Rng;

    let cpu = CpuF64::new();
    let mut r = rng(4);
    let x = up(&cpu, &rand_vec(&mut r, BL * DL_IN, 1.0), BL, DL_IN);
    // Positions anywhere on the grid (some off-centre, some near the edge), one in three hidden.
    let coords_v: Vec<f64> = (0..BL * 2 * KL)
        .map(|_| r.gen_range(0.0..(GRID_L - 1) as f64))
        .collect();
    let vis_v: Vec<f64> = (0..BL * KL)
        .map(|i| if i % 3 == 1 { 0.0 } else { 1.0 })
        .collect();
    let coords = up(&cpu, &coords_v, BL, 2 * KL);
    let vis = up(&cpu, &vis_v, BL, KL);
    let maps = cpu.heatmap_targets(&coords, &vis, GRID_L, 1.0).unwrap();

    let mut b = Mlp::<CpuF64>::builder("f_s", DL_IN);
    for w in FS_WIDTHS {
        b = b.linear_bn(w, Activation::Relu);
    }
    let f_s0 = b.build(&cpu, &mut r).unwrap();
    let ldm0 = Ldm::new(&cpu, FS_WIDTHS[1], KL, GRID_L, &mut r).unwrap();
    let w1 = match &f_s0.layers[0] {
        Layer::Linear(l) => cpu.download(&l.w.value).unwrap(),
        Layer::BatchNorm(_) => unreachable!("f_s starts with a Linear"),
    };

    // One training-mode forward with W1 = `w`; returns the loss and the modules for the backward.
    let forward = |w: &[f64]| {
        let (mut f_s, mut ldm) = (f_s0.clone(), ldm0.clone());
        if let Layer::Linear(l) = &mut f_s.layers[0] {
            l.w.value = up(&cpu, w, DL_IN, FS_WIDTHS[0]);
        }
        let fs = f_s.forward(&cpu, &x, Mode::Train).unwrap();
        let (heat, vlog) = ldm.forward(&cpu, &fs, Mode::Train).unwrap();
        let (l_land, d_heat) = cpu.heatmap_loss(&heat, &maps, &vis).unwrap();
        let (l_vis, d_vis) = cpu.bce_logits(&vlog, &vis).unwrap();
        let loss = W_LAND * scalar(&cpu, &l_land) + W_VIS * scalar(&cpu, &l_vis);
        (loss, f_s, ldm, d_heat, d_vis)
    };

    let (_, mut f_s, mut ldm, d_heat, d_vis) = forward(&w1);
    let d_heat = cpu.scale(&d_heat, W_LAND).unwrap();
    let d_vis = cpu.scale(&d_vis, W_VIS).unwrap();
    let d_fs = ldm.backward(&cpu, &d_heat, &d_vis).unwrap();
    assert_eq!(d_fs.shape(), (BL, FS_WIDTHS[1]));
    f_s.backward(&cpu, &d_fs, false).unwrap();
    let g = match &f_s.layers[0] {
        Layer::Linear(l) => l.w.grad.clone().expect("W1 has a gradient"),
        Layer::BatchNorm(_) => unreachable!(),
    };
    assert_eq!(g.shape(), (DL_IN, FS_WIDTHS[0]));
    let got = cpu.download(&g).unwrap();
    assert!(
        got.iter().any(|v| v.abs() > 1e-3),
        "gradient is ~0: {got:?}"
    );
    assert_close(
        "chain (c) d(w_land·L_land + w_vis·L_vis)/dW1 of f_s",
        &got,
        &fd_grad(|w| forward(w).0, &w1, 1e-6),
        1e-6,
    );
}
