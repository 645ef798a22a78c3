//! The elementwise ops (`ElementwiseOps`: zeros, fill, axpy, scale, column concat/split, row
//! gathers, one-hot) and the scaled sum on `CudaBackend` against the f64 CPU reference.

use crate::common::{assert_close, rand_labels, rand_vec};
use crate::gpu::{Pair, C, ELEMENTWISE, G, REDUCTION, SHAPES};
use convexgan::backend::prelude::*;
use convexgan::backend::Tensor;

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
