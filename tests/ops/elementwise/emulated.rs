//! The elementwise kernels (`kernels/elementwise.cu`: fill, axpy, scale, column copies, row
//! gathers, one-hot, the scaled sum) run on the host emulation against the f64 CPU reference.

use crate::common::{rand_labels, rng};
use crate::emulation::{
    check, dim, down, flat_configs, kernel, launch, nan, rand_f32, up, wide, Ref, TOL_ELEMENTWISE,
    TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::emu;
use convexgan::backend::prelude::*;
use convexgan::backend::Tensor;

#[test]
fn fill_axpy_scale() {
    let mut r = rng(1);
    let fill: emu::fill_f32 = kernel("fill_f32");
    let axpy: emu::axpy_f32 = kernel("axpy_f32");
    let scale: emu::scale_f32 = kernel("scale_f32");
    for n in [1usize, 255, 1000] {
        for (g, b) in flat_configs(n) {
            let mut y = nan(n);
            launch(|| unsafe { fill(g, b, 0, y.as_mut_ptr(), 0.75, n as i32) });
            check("fill_f32", &y, &vec![0.75; n], TOL_ELEMENTWISE);

            let x = rand_f32(&mut r, n, 2.0);
            let y0 = rand_f32(&mut r, n, 2.0);
            let mut y = y0.clone();
            launch(|| unsafe { axpy(g, b, 0, y.as_mut_ptr(), x.as_ptr(), -1.5, n as i32) });
            let mut want = up(&y0, 1, n);
            Ref::new().axpy(&mut want, -1.5, &up(&x, 1, n)).unwrap();
            check("axpy_f32", &y, &down(&want), TOL_ELEMENTWISE);

            let mut y = nan(n);
            launch(|| unsafe { scale(g, b, 0, y.as_mut_ptr(), x.as_ptr(), 0.3, n as i32) });
            let want = Ref::new().scale(&up(&x, 1, n), 0.3).unwrap();
            check("scale_f32", &y, &down(&want), TOL_ELEMENTWISE);
        }
    }
}

#[test]
fn copy_cols_concat_and_split() {
    let mut r = rng(2);
    let copy: emu::copy_cols_f32 = kernel("copy_cols_f32");
    let rows = 37;
    let widths = [5usize, 64, 1, 30];
    let total: usize = widths.iter().sum();
    let parts: Vec<Vec<f32>> = widths
        .iter()
        .map(|&w| rand_f32(&mut r, rows * w, 1.0))
        .collect();
    let ref_parts: Vec<Tensor<Ref>> = parts
        .iter()
        .zip(widths)
        .map(|(p, w)| up(p, rows, w))
        .collect();
    let want = down(
        &Ref::new()
            .concat_cols(&ref_parts.iter().collect::<Vec<_>>())
            .unwrap(),
    );
    for (g, b) in flat_configs(rows * total) {
        let mut out = nan(rows * total);
        let mut col0 = 0;
        for (p, &w) in parts.iter().zip(&widths) {
            launch(|| unsafe {
                copy(
                    g,
                    b,
                    0,
                    out.as_mut_ptr(),
                    total as i32,
                    col0 as i32,
                    p.as_ptr(),
                    w as i32,
                    0,
                    w as i32,
                    rows as i32,
                )
            });
            col0 += w;
        }
        check("copy_cols_f32 (concat)", &out, &want, TOL_ELEMENTWISE);

        // Split back out of the concatenation.
        let whole: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        let split = Ref::new()
            .split_cols(&up(&whole, rows, total), &widths)
            .unwrap();
        let mut col0 = 0;
        for (w, want_part) in widths.iter().zip(&split) {
            let mut part = nan(rows * w);
            launch(|| unsafe {
                copy(
                    g,
                    b,
                    0,
                    part.as_mut_ptr(),
                    *w as i32,
                    0,
                    whole.as_ptr(),
                    total as i32,
                    col0 as i32,
                    *w as i32,
                    rows as i32,
                )
            });
            check(
                "copy_cols_f32 (split)",
                &part,
                &down(want_part),
                TOL_ELEMENTWISE,
            );
            col0 += w;
        }
    }
}

#[test]
fn gather_rows_and_onehot() {
    let mut r = rng(3);
    let gather: emu::gather_rows_f32 = kernel("gather_rows_f32");
    let onehot: emu::onehot_f32 = kernel("onehot_f32");
    let (src_rows, cols, n) = (23usize, 45usize, 61usize);
    let x = rand_f32(&mut r, src_rows * cols, 3.0);
    let idx = rand_labels(&mut r, n, src_rows);
    let ref_idx = Ref::new().upload_indices(&idx).unwrap();
    let want = down(
        &Ref::new()
            .gather_rows(&up(&x, src_rows, cols), &ref_idx)
            .unwrap(),
    );
    let classes = 13;
    let labels = rand_labels(&mut r, n, classes);
    let ref_labels = Ref::new().upload_indices(&labels).unwrap();
    let want_1h = down(&Ref::new().onehot(&ref_labels, classes).unwrap());
    for (g, b) in flat_configs(n * cols) {
        let mut out = nan(n * cols);
        launch(|| unsafe {
            gather(
                g,
                b,
                0,
                out.as_mut_ptr(),
                x.as_ptr(),
                idx.as_ptr(),
                n as i32,
                cols as i32,
            )
        });
        check("gather_rows_f32", &out, &want, TOL_ELEMENTWISE);
        let mut oh = nan(n * classes);
        launch(|| unsafe {
            onehot(
                g,
                b,
                0,
                oh.as_mut_ptr(),
                labels.as_ptr(),
                n as i32,
                classes as i32,
            )
        });
        check("onehot_f32", &oh, &want_1h, TOL_ELEMENTWISE);
    }
}

#[test]
fn sum_scaled() {
    let mut r = rng(4);
    let sum: emu::sum_scaled_f32 = kernel("sum_scaled_f32");
    for n in [1usize, 31, 1000, 5003] {
        let x = rand_f32(&mut r, n, 1.0);
        let want = 0.25 * wide(&x).iter().sum::<f64>();
        for block in [32u32, 96, 256, 1024] {
            let mut out = nan(1);
            launch(|| unsafe {
                sum(
                    dim(1),
                    dim(block),
                    0,
                    out.as_mut_ptr(),
                    x.as_ptr(),
                    n as i32,
                    0.25,
                )
            });
            check(
                &format!("sum_scaled_f32 n={n} block={block}"),
                &out,
                &[want],
                TOL_REDUCTION,
            );
        }
    }
}
