//! Reference for the elementwise family: accumulation, scaling, column concat/split, row gather,
//! one-hot. These have trivial gradients (identity, scale, the inverse slicing), so they carry no
//! backward of their own.

use ndarray::{s, Array2, Axis, Zip};

use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, Indices, Scalar, Tensor};
use crate::error::{Error, Result};

impl<T: Scalar> ElementwiseOps for Cpu<T> {
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Cpu<T>>> {
        Ok(tensor(Array2::zeros((rows, cols))))
    }

    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Cpu<T>>> {
        Ok(tensor(Array2::from_elem((rows, cols), T::of(value))))
    }

    fn axpy(&self, y: &mut Tensor<Cpu<T>>, alpha: f64, x: &Tensor<Cpu<T>>) -> Result<()> {
        check::same_shape("axpy", y, x)?;
        let a = T::of(alpha);
        Zip::from(&mut y.buf)
            .and(&x.buf)
            .for_each(|y, &x| *y += a * x);
        Ok(())
    }

    fn scale(&self, x: &Tensor<Cpu<T>>, alpha: f64) -> Result<Tensor<Cpu<T>>> {
        let a = T::of(alpha);
        Ok(tensor(x.buf.mapv(|v| v * a)))
    }

    fn concat_cols(&self, parts: &[&Tensor<Cpu<T>>]) -> Result<Tensor<Cpu<T>>> {
        check::concat_cols("concat_cols", parts)?;
        let views: Vec<_> = parts.iter().map(|p| p.buf.view()).collect();
        let a = ndarray::concatenate(Axis(1), &views)
            .map_err(|e| Error::shape("concat_cols", e.to_string()))?;
        Ok(tensor(a))
    }

    fn split_cols(&self, x: &Tensor<Cpu<T>>, widths: &[usize]) -> Result<Vec<Tensor<Cpu<T>>>> {
        check::split_cols("split_cols", x, widths)?;
        let mut out = Vec::with_capacity(widths.len());
        let mut c = 0;
        for &w in widths {
            out.push(tensor(x.buf.slice(s![.., c..c + w]).to_owned()));
            c += w;
        }
        Ok(out)
    }

    fn gather_rows(&self, x: &Tensor<Cpu<T>>, rows: &Indices<Cpu<T>>) -> Result<Tensor<Cpu<T>>> {
        let mut out = Array2::zeros((rows.len, x.cols));
        for (i, &r) in rows.buf.iter().enumerate() {
            let r = r as usize;
            if r >= x.rows {
                return Err(Error::shape(
                    "gather_rows",
                    format!("row index {r} out of range for {} rows", x.rows),
                ));
            }
            out.row_mut(i).assign(&x.buf.row(r));
        }
        Ok(tensor(out))
    }

    fn onehot(&self, labels: &Indices<Cpu<T>>, n: usize) -> Result<Tensor<Cpu<T>>> {
        let mut out = Array2::zeros((labels.len, n));
        for (i, &c) in labels.buf.iter().enumerate() {
            let c = c as usize;
            if c >= n {
                return Err(Error::shape(
                    "onehot",
                    format!("label {c} out of range for {n} classes"),
                ));
            }
            out[[i, c]] = T::one();
        }
        Ok(tensor(out))
    }
}
