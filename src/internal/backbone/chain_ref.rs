//! A plain CPU executor of a [`Chain`]: direct loops over every output element, accumulating in
//! f64. It is slow and meant to be obviously right, so that the cuDNN path (and tract, on the CPU)
//! can be checked against it; nothing here is tuned.

use super::graph::{Chain, Op, Window};
use super::FeatureMap;
use crate::error::{Error, Result};

/// Runs `chain` on `n` images of per-sample shape `chw = [c, h, w]` (NCHW, row-major `input`).
/// A shape the chain cannot take is an error naming the op (from [`Chain::shapes`]).
pub fn run_chain(chain: &Chain, input: &[f32], n: usize, chw: [usize; 3]) -> Result<FeatureMap> {
    let want = n * chw.iter().product::<usize>();
    if input.len() != want {
        return Err(Error::shape(
            "backbone input",
            format!(
                "{} values for {n} images of shape {chw:?} ({want} expected)",
                input.len()
            ),
        ));
    }
    let shapes = chain.shapes(chw)?;
    let mut x: Vec<f64> = input.iter().map(|&v| v as f64).collect();
    let mut s = chw;
    for (op, &out) in chain.ops.iter().zip(&shapes) {
        x = apply(op, &x, n, s, out);
        s = out;
    }
    Ok(FeatureMap {
        data: x.iter().map(|&v| v as f32).collect(),
        n,
        c: s[0],
        h: s[1],
        w: s[2],
    })
}

/// Input row and column read by output cell `(oy, ox)` at window tap `(ky, kx)`, or `None` when
/// the tap falls in the padding.
fn tap(w: &Window, s: [usize; 3], oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
    let iy = (oy * w.strides[0] + ky * w.dilations[0]) as isize - w.pads[0] as isize;
    let ix = (ox * w.strides[1] + kx * w.dilations[1]) as isize - w.pads[1] as isize;
    let inside = (0..s[1] as isize).contains(&iy) && (0..s[2] as isize).contains(&ix);
    inside.then(|| iy as usize * s[2] + ix as usize)
}

fn apply(op: &Op, x: &[f64], n: usize, s: [usize; 3], out: [usize; 3]) -> Vec<f64> {
    let [c, h, w] = s;
    let [oc, oh, ow] = out;
    let plane = h * w;
    let mut y = vec![0.0f64; n * oc * oh * ow];
    match op {
        Op::Conv {
            weight,
            weight_shape,
            bias,
            window,
            group,
        } => {
            let [_, cin_g, kh, kw] = *weight_shape;
            let cout_g = oc / group;
            for b in 0..n {
                for o in 0..oc {
                    let g = o / cout_g;
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = bias.as_ref().map_or(0.0, |bv| bv[o] as f64);
                            for ci in 0..cin_g {
                                let src = &x[(b * c + g * cin_g + ci) * plane..][..plane];
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        if let Some(i) = tap(window, s, oy, ox, ky, kx) {
                                            let wv = weight[((o * cin_g + ci) * kh + ky) * kw + kx];
                                            acc += wv as f64 * src[i];
                                        }
                                    }
                                }
                            }
                            y[((b * oc + o) * oh + oy) * ow + ox] = acc;
                        }
                    }
                }
            }
        }
        Op::Relu => {
            for (yv, &xv) in y.iter_mut().zip(x) {
                // `max` would turn NaN into 0; keep it visible.
                *yv = if xv < 0.0 { 0.0 } else { xv };
            }
        }
        Op::MaxPool { window } | Op::AveragePool { window, .. } => {
            let [kh, kw] = window.kernel;
            let (is_max, include_pad) = match op {
                Op::AveragePool {
                    count_include_pad, ..
                } => (false, *count_include_pad),
                _ => (true, false),
            };
            for bc in 0..n * c {
                let src = &x[bc * plane..][..plane];
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (mut best, mut sum, mut count) = (f64::NEG_INFINITY, 0.0, 0usize);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some(i) = tap(window, s, oy, ox, ky, kx) {
                                    let v = src[i];
                                    if v > best || v.is_nan() {
                                        best = v;
                                    }
                                    sum += v;
                                    count += 1;
                                }
                            }
                        }
                        // Floor mode keeps every window inside the padded input, so counting the
                        // padding means dividing by the kernel's area.
                        let div = if include_pad { kh * kw } else { count };
                        y[(bc * oh + oy) * ow + ox] = if is_max { best } else { sum / div as f64 };
                    }
                }
            }
        }
        Op::GlobalAveragePool => {
            for (bc, yv) in y.iter_mut().enumerate() {
                *yv = x[bc * plane..][..plane].iter().sum::<f64>() / plane as f64;
            }
        }
        Op::BatchNorm {
            scale,
            bias,
            mean,
            var,
            epsilon,
        } => {
            for b in 0..n {
                for ch in 0..c {
                    let inv = 1.0 / (var[ch] as f64 + *epsilon as f64).sqrt();
                    let (g, m, beta) = (scale[ch] as f64, mean[ch] as f64, bias[ch] as f64);
                    let at = (b * c + ch) * plane;
                    for (yv, &xv) in y[at..at + plane].iter_mut().zip(&x[at..at + plane]) {
                        *yv = g * (xv - m) * inv + beta;
                    }
                }
            }
        }
        Op::Flatten => y.copy_from_slice(x),
    }
    y
}
