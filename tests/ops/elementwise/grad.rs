//! The elementwise helpers (`ElementwiseOps`: concat/split of columns, row gathers, scale, axpy,
//! one-hot, fill, zeros) on `Cpu<f64>` against values worked out by hand; their shape errors are
//! checked in `layers::grad::shape_errors_are_err`.

use crate::reference::{be, down, up};
use convexgan::backend::prelude::*;

// ---- elementwise helpers -------------------------------------------------------------------------

#[test]
fn elementwise_basics() {
    let be = be();
    let a = up(&[1.0, 2.0, 3.0, 4.0], 2, 2);
    let b = up(&[5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 2, 3);

    let ab = be.concat_cols(&[&a, &b]).unwrap();
    assert_eq!(ab.shape(), (2, 5));
    assert_eq!(
        down(&ab),
        vec![1.0, 2.0, 5.0, 6.0, 7.0, 3.0, 4.0, 8.0, 9.0, 10.0]
    );
    let parts = be.split_cols(&ab, &[2, 3]).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(down(&parts[0]), down(&a));
    assert_eq!(down(&parts[1]), down(&b));
    assert_eq!(parts[1].shape(), (2, 3));

    let idx = be.upload_indices(&[1, 0, 1]).unwrap();
    let gathered = be.gather_rows(&b, &idx).unwrap();
    assert_eq!(gathered.shape(), (3, 3));
    assert_eq!(
        down(&gathered),
        vec![8.0, 9.0, 10.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    );

    assert_eq!(
        down(&be.scale(&a, -0.5).unwrap()),
        vec![-0.5, -1.0, -1.5, -2.0]
    );

    let mut y = up(&[1.0, 1.0, 1.0, 1.0], 2, 2);
    be.axpy(&mut y, 2.0, &a).unwrap();
    assert_eq!(down(&y), vec![3.0, 5.0, 7.0, 9.0]);

    let labels = be.upload_indices(&[2, 0, 1]).unwrap();
    let oh = be.onehot(&labels, 3).unwrap();
    assert_eq!(oh.shape(), (3, 3));
    assert_eq!(down(&oh), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    assert_eq!(down(&be.fill(1, 2, 2.5).unwrap()), vec![2.5, 2.5]);
    assert_eq!(down(&be.zeros(2, 1).unwrap()), vec![0.0, 0.0]);
}

// ---- storage handed to a tensor from outside ------------------------------------------------------

/// `from_parts` and `with_buf_mut` are how a backend outside the crate builds tensors; storage that
/// cannot back the shape is refused, so safe code cannot make an op read past a buffer's end.
#[test]
fn from_parts_refuses_storage_that_does_not_fit() {
    use convexgan::backend::{Cpu, DictTensor, HostRows, Indices, Precision, Tensor};
    use ndarray::{Array2, ShapeBuilder};
    type C = Cpu<f64>;

    let ok = Tensor::<C>::from_parts(Array2::zeros((2, 3)), 2, 3).unwrap();
    assert_eq!(ok.shape(), (2, 3));
    let e = Tensor::<C>::from_parts(Array2::zeros((2, 3)), 3, 2).unwrap_err();
    assert!(e.to_string().contains("cannot back a 3×2 tensor"), "{e}");
    // Column-major storage of the right shape: the CPU ops read rows as slices.
    assert!(Tensor::<C>::from_parts(Array2::zeros((2, 3).f()), 2, 3).is_err());

    let mut t = Tensor::<C>::from_parts(Array2::zeros((2, 3)), 2, 3).unwrap();
    t.with_buf_mut(|b| b.fill(1.0)).unwrap();
    assert_eq!(down(&t), vec![1.0; 6]);
    let e = t.with_buf_mut(|b| *b = Array2::zeros((1, 1))).unwrap_err();
    assert!(e.to_string().contains("no longer fits"), "{e}");
    assert_eq!(
        t.shape(),
        (0, 0),
        "a tensor whose storage was replaced badly is left empty"
    );

    assert_eq!(Indices::<C>::from_parts(vec![0, 1, 2], 3).unwrap().len(), 3);
    assert!(Indices::<C>::from_parts(vec![0, 1], 3).is_err());

    let rows = |p| HostRows::from_f32(&[0.5; 6], p);
    assert!(DictTensor::<C>::from_parts(rows(Precision::F32), 3, 2, Precision::F32).is_ok());
    assert!(DictTensor::<C>::from_parts(rows(Precision::F32), 4, 2, Precision::F32).is_err());
    assert!(DictTensor::<C>::from_parts(rows(Precision::Bf16), 3, 2, Precision::F32).is_err());
}
