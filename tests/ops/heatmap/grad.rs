//! The landmark heatmap family (METHOD.md §2, Eq. 1): Gaussian targets and the visibility-masked loss.
use crate::common::{assert_close, fd_grad, rand_vec, rng};
use convexgan::backend::cpu::CpuF64;
use convexgan::backend::prelude::*;

fn scalar(cpu: &CpuF64, t: &convexgan::backend::Tensor<CpuF64>) -> f64 {
    let v = cpu.download(t).unwrap();
    assert_eq!(v.len(), 1, "loss must be 1×1");
    v[0]
}

/// One sample, two landmarks on a 14-cell grid: landmark 0 at (x 5, y 7), visible; landmark 1
/// invisible. σ = 1.5.
#[test]
fn targets_peak_symmetry_offset_and_invisible() {
    let cpu = CpuF64::new();
    let (grid, sigma) = (14usize, 1.5);
    let g2 = grid * grid;
    let coords = cpu.upload(&[5.0, 7.0, 3.0, 9.0], 1, 4).unwrap();
    let vis = cpu.upload(&[1.0, 0.0], 1, 2).unwrap();
    let m = cpu
        .download(&cpu.heatmap_targets(&coords, &vis, grid, sigma).unwrap())
        .unwrap();
    assert_eq!(m.len(), 2 * g2);
    let at = |k: usize, i: usize, j: usize| m[k * g2 + i * grid + j];

    // Peak exactly 1 at row y = 7, column x = 5, and it is the maximum of the map.
    assert_eq!(at(0, 7, 5), 1.0);
    let max = m[..g2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(max, 1.0);
    assert!(
        at(0, 5, 7) < 0.5,
        "x and y swapped: M[5,7] = {}",
        at(0, 5, 7)
    );

    // Symmetric about the landmark along each axis and under exchanging the offsets.
    for d in 1..5 {
        assert_eq!(
            at(0, 7, 5 + d),
            at(0, 7, 5 - d),
            "row symmetry at offset {d}"
        );
        assert_eq!(
            at(0, 7 + d, 5),
            at(0, 7 - d, 5),
            "column symmetry at offset {d}"
        );
        assert_eq!(
            at(0, 7 + d, 5 + 1),
            at(0, 7 + 1, 5 + d),
            "diagonal symmetry {d}"
        );
    }

    // One row down and two columns right: exp(−(2² + 1²) / (2σ²)).
    let want = (-5.0f64 / (2.0 * sigma * sigma)).exp();
    assert_close("offset (1, 2)", &[at(0, 8, 7)], &[want], 1e-14);

    // Invisible landmark: all zero.
    assert!(m[g2..].iter().all(|&v| v == 0.0), "invisible map not zero");
}

/// A non-integer position: the value at each cell is the Gaussian of its distance (1e-14).
#[test]
fn targets_subcell_position() {
    let cpu = CpuF64::new();
    let grid = 6;
    let (x, y, s) = (2.25, 3.5, 1.0);
    let coords = cpu.upload(&[x, y], 1, 2).unwrap();
    let vis = cpu.upload(&[1.0], 1, 1).unwrap();
    let m = cpu
        .download(&cpu.heatmap_targets(&coords, &vis, grid, s).unwrap())
        .unwrap();
    let mut want = Vec::new();
    for i in 0..grid {
        for j in 0..grid {
            let (dx, dy) = (j as f64 - x, i as f64 - y);
            want.push((-(dx * dx + dy * dy) / (2.0 * s * s)).exp());
        }
    }
    assert_close("sub-cell map", &m, &want, 1e-14);
}

#[test]
fn targets_errors() {
    let cpu = CpuF64::new();
    let vis = cpu.upload(&[1.0, 1.0], 1, 2).unwrap();
    assert!(cpu
        .heatmap_targets(&cpu.zeros(1, 3).unwrap(), &vis, 8, 1.0)
        .is_err());
    assert!(cpu
        .heatmap_targets(&cpu.zeros(2, 4).unwrap(), &vis, 8, 1.0)
        .is_err());
    assert!(cpu
        .heatmap_targets(&cpu.zeros(1, 4).unwrap(), &vis, 0, 1.0)
        .is_err());
    assert!(cpu
        .heatmap_targets(&cpu.zeros(1, 4).unwrap(), &vis, 8, 0.0)
        .is_err());
}

/// Loss gradient w.r.t. `pred` (tolerance 1e-6 relative, h = 1e-6), with one invisible landmark,
/// and the value against Eq. 1 computed directly (1e-12).
#[test]
fn loss_grad_and_value() {
    let cpu = CpuF64::new();
    let (b, k, grid) = (3usize, 2usize, 5usize);
    let cols = k * grid * grid;
    let mut r = rng(1);
    let coords: Vec<f64> = rand_vec(&mut r, b * 2 * k, 2.0)
        .into_iter()
        .map(|v| v + 2.0)
        .collect();
    let vis_v = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let vis = cpu.upload(&vis_v, b, k).unwrap();
    let target = cpu
        .heatmap_targets(&cpu.upload(&coords, b, 2 * k).unwrap(), &vis, grid, 1.0)
        .unwrap();
    let pred = rand_vec(&mut r, b * cols, 1.0);
    let f = |x: &[f64]| {
        let p = cpu.upload(x, b, cols).unwrap();
        scalar(&cpu, &cpu.heatmap_loss(&p, &target, &vis).unwrap().0)
    };
    let (loss, grad) = cpu
        .heatmap_loss(&cpu.upload(&pred, b, cols).unwrap(), &target, &vis)
        .unwrap();
    assert_eq!(grad.shape(), (b, cols));
    assert_close(
        "heatmap d_pred",
        &cpu.download(&grad).unwrap(),
        &fd_grad(f, &pred, 1e-6),
        1e-6,
    );

    let t = cpu.download(&target).unwrap();
    let per = grid * grid;
    let mut want = 0.0;
    for bi in 0..b {
        for l in 0..k {
            for c in l * per..(l + 1) * per {
                let d = pred[bi * cols + c] - t[bi * cols + c];
                want += vis_v[bi * k + l] * d * d;
            }
        }
    }
    want /= b as f64;
    assert_close("heatmap loss value", &[scalar(&cpu, &loss)], &[want], 1e-12);
}

/// Invisible landmarks contribute neither loss nor gradient, whatever is predicted there.
#[test]
fn invisible_contributes_nothing() {
    let cpu = CpuF64::new();
    let (b, k, grid) = (2usize, 3usize, 4usize);
    let per = grid * grid;
    let cols = k * per;
    let vis_v = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let vis = cpu.upload(&vis_v, b, k).unwrap();
    let mut r = rng(2);
    let target = cpu
        .upload(&rand_vec(&mut r, b * cols, 1.0), b, cols)
        .unwrap();
    let pred = rand_vec(&mut r, b * cols, 1.0);
    let mut wild = pred.clone();
    for bi in 0..b {
        for l in 0..k {
            if vis_v[bi * k + l] == 0.0 {
                for c in l * per..(l + 1) * per {
                    wild[bi * cols + c] = 1e6;
                }
            }
        }
    }
    let (l0, g0) = cpu
        .heatmap_loss(&cpu.upload(&pred, b, cols).unwrap(), &target, &vis)
        .unwrap();
    let (l1, g1) = cpu
        .heatmap_loss(&cpu.upload(&wild, b, cols).unwrap(), &target, &vis)
        .unwrap();
    assert_eq!(scalar(&cpu, &l0), scalar(&cpu, &l1));
    let g0 = cpu.download(&g0).unwrap();
    assert_eq!(g0, cpu.download(&g1).unwrap());
    for bi in 0..b {
        for l in 0..k {
            let block = &g0[bi * cols + l * per..bi * cols + (l + 1) * per];
            if vis_v[bi * k + l] == 0.0 {
                assert!(block.iter().all(|&v| v == 0.0), "sample {bi} landmark {l}");
            } else {
                assert!(block.iter().any(|&v| v != 0.0), "sample {bi} landmark {l}");
            }
        }
    }
}

#[test]
fn loss_errors() {
    let cpu = CpuF64::new();
    let vis = cpu.fill(2, 3, 1.0).unwrap();
    let p = cpu.zeros(2, 12).unwrap();
    assert!(cpu.heatmap_loss(&p, &p, &vis).is_ok());
    assert!(cpu
        .heatmap_loss(&p, &cpu.zeros(2, 13).unwrap(), &vis)
        .is_err());
    let p13 = cpu.zeros(2, 13).unwrap();
    assert!(cpu.heatmap_loss(&p13, &p13, &vis).is_err());
    let p3 = cpu.zeros(3, 12).unwrap();
    assert!(cpu.heatmap_loss(&p3, &p3, &vis).is_err());
}
