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
