//! The losses kernels (`kernels/losses.cu`: row softmax, the four classifier losses, visibility
//! BCE) run on the host emulation against the f64 CPU reference.

use crate::common::{assert_close, rand_labels, rng};
use crate::emulation::{
    check, dim, down, kernel, launch, loss_of, nan, rand_f32, up, Ref, ROW_BLOCKS, TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::emu;
use convexgan::backend::prelude::*;
use convexgan::backend::ClassLoss;
use rand::Rng;

/// Row shapes: column counts below, at and above one warp and one block.
const ROW_SHAPES: [(usize, usize); 5] = [(1, 1), (5, 10), (7, 33), (3, 257), (2, 600)];

#[test]
fn softmax_rows() {
    let mut r = rng(9);
    let f: emu::softmax_rows_f32 = kernel("softmax_rows_f32");
    for (rows, cols) in ROW_SHAPES {
        // Large logits: the kernel must subtract the row maximum.
        let x = rand_f32(&mut r, rows * cols, 40.0);
        let want = down(&Ref::new().softmax_rows(&up(&x, rows, cols)).unwrap());
        for block in ROW_BLOCKS {
            let mut y = nan(rows * cols);
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    y.as_mut_ptr(),
                    x.as_ptr(),
                    rows as i32,
                    cols as i32,
                )
            });
            check(
                &format!("softmax_rows_f32 {rows}×{cols} block {block}"),
                &y,
                &want,
                TOL_REDUCTION,
            );
        }
    }
}

#[test]
fn class_losses() {
    let mut r = rng(10);
    let f: emu::class_loss_f32 = kernel("class_loss_f32");
    for ((rows, cols), confident) in ROW_SHAPES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
        let mut logits = rand_f32(&mut r, rows * cols, 3.0);
        let labels = rand_labels(&mut r, rows, cols);
        if confident {
            // p_c close to 1, where 1 − p_c and log p_c lose precision if formed naively.
            for (row, &c) in labels.iter().enumerate() {
                logits[row * cols + c as usize] += 12.0;
            }
        }
        let margins: Vec<f32> = (0..cols).map(|_| r.gen_range(0.05f32..0.5)).collect();
        let ref_margins = up(&margins, 1, cols);
        let ref_labels = Ref::new().upload_indices(&labels).unwrap();
        let kinds: [(i32, f32, f32, ClassLoss<'_, Ref>); 5] = [
            (0, 0.0, 0.0, ClassLoss::Ce),
            (1, 0.0, 0.0, ClassLoss::Mse),
            (2, 2.0, 0.0, ClassLoss::Focal { gamma: 2.0 }),
            (2, 0.5, 0.0, ClassLoss::Focal { gamma: 0.5 }),
            (
                3,
                0.0,
                30.0,
                ClassLoss::Ldam {
                    margins: &ref_margins,
                    s: 30.0,
                },
            ),
        ];
        for (kind, gamma, s, loss) in kinds {
            if confident && kind == 3 {
                // s = 30 turns the +12 into a gap of 360: the gradient (~e^-360) is below f32.
                continue;
            }
            let name = format!("{loss:?}");
            let (ref_loss, ref_grad) = Ref::new()
                .class_loss(&up(&logits, rows, cols), &ref_labels, loss)
                .unwrap();
            let mptr = if kind == 3 {
                margins.as_ptr()
            } else {
                std::ptr::null()
            };
            for block in ROW_BLOCKS {
                let (mut lr, mut grad) = (nan(rows), nan(rows * cols));
                launch(|| unsafe {
                    f(
                        dim(rows as u32),
                        dim(block),
                        0,
                        lr.as_mut_ptr(),
                        grad.as_mut_ptr(),
                        logits.as_ptr(),
                        labels.as_ptr(),
                        mptr,
                        rows as i32,
                        cols as i32,
                        kind,
                        gamma,
                        s,
                    )
                });
                let tag = format!(
                    "class_loss_f32 {name} {rows}×{cols} confident={confident} block {block}"
                );
                let got = loss_of(&lr, 1.0 / rows as f64);
                assert_close(
                    &format!("{tag} loss"),
                    &[got],
                    &down(&ref_loss),
                    TOL_REDUCTION,
                );
                check(
                    &format!("{tag} grad"),
                    &grad,
                    &down(&ref_grad),
                    TOL_REDUCTION,
                );
            }
        }
    }
}

#[test]
fn bce_logits() {
    let mut r = rng(11);
    let f: emu::bce_logits_f32 = kernel("bce_logits_f32");
    for (rows, cols) in ROW_SHAPES {
        let x = rand_f32(&mut r, rows * cols, 8.0);
        let t: Vec<f32> = (0..rows * cols).map(|_| r.gen_range(0..2) as f32).collect();
        let (ref_loss, ref_grad) = Ref::new()
            .bce_logits(&up(&x, rows, cols), &up(&t, rows, cols))
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut grad) = (nan(rows), nan(rows * cols));
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    grad.as_mut_ptr(),
                    x.as_ptr(),
                    t.as_ptr(),
                    rows as i32,
                    cols as i32,
                )
            });
            let tag = format!("bce_logits_f32 {rows}×{cols} block {block}");
            let got = loss_of(&lr, 1.0 / rows as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&ref_loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} grad"),
                &grad,
                &down(&ref_grad),
                TOL_REDUCTION,
            );
        }
    }
}
