use std::borrow::Cow;

use rand::Rng;

use crate::backend::{Activation, Backend, Tensor};
use crate::config::ModelConfig;
use crate::data::HEATMAP_GRID;
use crate::error::{Error, Result};
use crate::nn::{Mlp, Mode, Param, ParamStore};

/// Phase 1 networks on top of the frozen backbone's vector `x` (METHOD.md §1): the texture and shape
/// stream blocks `f_t`, `f_s` (Linear → BatchNorm1d → ReLU per layer), the auxiliary classifier
/// `A` on the shape stream, the main classifier `Q` on the concatenation, and the landmark module
/// on the shape stream when the data set has landmarks.
#[derive(Clone)]
pub struct Heads<B: Backend> {
    /// Texture stream `f_t`, `B × d_in_t → B × d_t` (named `f_t`); frozen after Phase 1.
    pub f_t: Mlp<B>,
    /// Shape stream `f_s`, `B × d_in_s → B × d_s` (named `f_s`); frozen after Phase 1.
    pub f_s: Mlp<B>,
    /// Auxiliary classifier A, `Linear(d_s → N_C)` on `f_s^f` (named `a`); Phase 1 only.
    pub a: Mlp<B>,
    /// Main classifier Q on `[f_t^f ‖ f_s^f]`, `B × d → B × N_C` logits (named `q`; see
    /// [`build_q`]); fine-tuned in Phase 2.
    pub q: Mlp<B>,
    /// The landmark module (METHOD.md §1 LDM); `None` when the data set has no landmarks (K = 0).
    pub ldm: Option<Ldm<B>>,
    /// Number of classes `N_C`, the width of A's and Q's logits.
    pub classes: usize,
    /// Width of the shape stream's own backbone vector when two backbones feed the streams.
    d_in_s: Option<usize>,
}

/// The texture and shape streams' inputs `(x_t, x_s)`, borrowed from `x` when one backbone feeds
/// both streams.
pub type StreamInputs<'a, B> = (Cow<'a, Tensor<B>>, Cow<'a, Tensor<B>>);

/// What a [`Heads`] is built for: its input layout, class count and landmark count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadsSpec {
    /// Width of the texture stream's input (the whole of `x` when one backbone feeds both).
    pub d_in_t: usize,
    /// `None`: one backbone feeds both streams and `x` has `d_in_t` columns. `Some(d)`: two
    /// backbones, `x = [x_t | x_s]` with `d_in_t + d` columns.
    pub d_in_s: Option<usize>,
    /// Number of classes `N_C`.
    pub classes: usize,
    /// Landmarks K of the landmark module; 0 = no module.
    pub landmarks: usize,
}

/// The landmark module (METHOD.md §1): from `f_s^f`, `K` raw `grid × grid` heatmaps and `K`
/// visibility logits, each a single Linear.
#[derive(Clone)]
pub struct Ldm<B: Backend> {
    /// `Linear(d_s → K·grid²)`, identity activation; map `k` is columns `k·grid² ..`, row-major.
    pub heat: Mlp<B>,
    /// `Linear(d_s → K)` visibility logits.
    pub vis: Mlp<B>,
    /// Number of landmarks `K` (8 for DeepFashion).
    pub k: usize,
    /// Side of each heatmap in cells (`HEATMAP_GRID = 28`, METHOD.md §1).
    pub grid: usize,
}

impl<B: Backend> Ldm<B> {
    /// The module on `d_s` shape features for `k` landmarks on a `grid × grid` heatmap, heatmap
    /// Linear drawn from `rng` first. An error when `k` or `grid` is 0.
    pub fn new(be: &B, d_s: usize, k: usize, grid: usize, rng: &mut impl Rng) -> Result<Self> {
        if k == 0 || grid == 0 {
            return Err(Error::invalid(
                "landmark module",
                format!("{k} landmarks on a {grid}×{grid} grid: both must be at least 1"),
            ));
        }
        let heat = Mlp::<B>::builder("ldm_heat", d_s)
            .linear(k * grid * grid, Activation::Identity)
            .build(be, rng)?;
        let vis = Mlp::<B>::builder("ldm_vis", d_s)
            .linear(k, Activation::Identity)
            .build(be, rng)?;
        Ok(Ldm { heat, vis, k, grid })
    }

    /// `(heatmaps B × K·grid², visibility logits B × K)` from shape features `f_s^f` (`B × d_s`).
    /// The heatmaps are raw (no activation), compared with the targets by the paper's Eq. 1; the
    /// visibility logits go to a BCE with logits (METHOD.md §2).
    pub fn forward(
        &mut self,
        be: &B,
        fs: &Tensor<B>,
        mode: Mode,
    ) -> Result<(Tensor<B>, Tensor<B>)> {
        Ok((
            self.heat.forward(be, fs, mode)?,
            self.vis.forward(be, fs, mode)?,
        ))
    }

    /// From `∂L/∂heatmaps` (`B × K·grid²`) and `∂L/∂visibility logits` (`B × K`), sets the
    /// module's gradients and returns the sum of both heads' gradients with respect to their
    /// common input `f_s^f` (`B × d_s`). Needs a training-mode [`forward`](Self::forward) on the
    /// same batch; an error when there was none.
    pub fn backward(&mut self, be: &B, d_heat: &Tensor<B>, d_vis: &Tensor<B>) -> Result<Tensor<B>> {
        let mut d = self
            .heat
            .backward(be, d_heat, true)?
            .expect("the heatmap head's input gradient was requested");
        let d_v = self
            .vis
            .backward(be, d_vis, true)?
            .expect("the visibility head's input gradient was requested");
        be.axpy(&mut d, 1.0, &d_v)?;
        Ok(d)
    }

    /// The heatmap head's parameters, then the visibility head's.
    pub fn params(&self) -> Vec<&Param<B>> {
        let mut out = self.heat.params();
        out.extend(self.vis.params());
        out
    }

    /// The heatmap head's parameters, then the visibility head's.
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        let mut out = self.heat.params_mut();
        out.extend(self.vis.params_mut());
        out
    }
}

/// The main classifier `Q = Linear(d → h_q) → ReLU → Linear(h_q → N_C)`, or a single Linear when
/// `q_hidden = h_q = 0` (METHOD.md §1), named `q`, on `d = d_t + d_s` feature columns and giving
/// `classes` logits. Weights drawn from `rng`; fails only if the backend cannot allocate.
pub fn build_q<B: Backend>(
    be: &B,
    d: usize,
    q_hidden: usize,
    classes: usize,
    rng: &mut impl Rng,
) -> Result<Mlp<B>> {
    let b = Mlp::<B>::builder("q", d);
    let b = if q_hidden > 0 {
        b.linear(q_hidden, Activation::Relu)
    } else {
        b
    };
    b.linear(classes, Activation::Identity).build(be, rng)
}

/// One stream block: `Linear → BatchNorm1d → ReLU` per width (METHOD.md §1 Choice).
fn stream_block<B: Backend>(
    be: &B,
    name: &str,
    d_in: usize,
    widths: &[usize],
    rng: &mut impl Rng,
) -> Result<Mlp<B>> {
    let mut b = Mlp::<B>::builder(name, d_in);
    for &w in widths {
        b = b.linear_bn(w, Activation::Relu);
    }
    b.build(be, rng)
}

impl<B: Backend> Heads<B> {
    /// Heads on one backbone vector of width `d_in` feeding both streams, for `classes` classes
    /// and without a landmark module; the widths come from `cfg`. [`Heads::from_spec`] with
    /// `d_in_s: None, landmarks: 0`, and fails as it does.
    pub fn new(
        be: &B,
        cfg: &ModelConfig,
        d_in: usize,
        classes: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let spec = HeadsSpec {
            d_in_t: d_in,
            d_in_s: None,
            classes,
            landmarks: 0,
        };
        Self::from_spec(be, cfg, &spec, rng)
    }

    /// Heads for `spec`. The random draws of `f_t`, `f_s`, `A`, `Q` come first and in that order,
    /// so heads without landmarks on one backbone start exactly as [`Heads::new`]'s always did.
    /// The stream widths and `h_q` come from `cfg`; the landmark heatmaps are
    /// `HEATMAP_GRID × HEATMAP_GRID`.
    ///
    /// # Errors
    ///
    /// When `spec.d_in_s` is `Some(0)`, or when the backend cannot allocate.
    pub fn from_spec(
        be: &B,
        cfg: &ModelConfig,
        spec: &HeadsSpec,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if spec.d_in_s == Some(0) {
            return Err(Error::invalid(
                "heads",
                "the shape backbone's vector has 0 columns",
            ));
        }
        let d_in_s = spec.d_in_s.unwrap_or(spec.d_in_t);
        let f_t = stream_block(be, "f_t", spec.d_in_t, &cfg.stream_widths, rng)?;
        let f_s = stream_block(be, "f_s", d_in_s, &cfg.stream_widths, rng)?;
        let d_s = f_s.d_out();
        let a = Mlp::<B>::builder("a", d_s)
            .linear(spec.classes, Activation::Identity)
            .build(be, rng)?;
        let q = build_q(be, f_t.d_out() + d_s, cfg.q_hidden, spec.classes, rng)?;
        let ldm = match spec.landmarks {
            0 => None,
            k => Some(Ldm::new(be, d_s, k, HEATMAP_GRID, rng)?),
        };
        Ok(Heads {
            f_t,
            f_s,
            a,
            q,
            ldm,
            classes: spec.classes,
            d_in_s: spec.d_in_s,
        })
    }

    /// What these heads were built for: [`Heads::from_spec`] on it, with the same `cfg`, gives
    /// heads of the same shapes.
    pub fn spec(&self) -> HeadsSpec {
        HeadsSpec {
            d_in_t: self.f_t.d_in(),
            d_in_s: self.d_in_s,
            classes: self.classes,
            landmarks: self.ldm.as_ref().map_or(0, |l| l.k),
        }
    }

    /// Width `d_t` of the texture features `f_t^f`.
    pub fn d_t(&self) -> usize {
        self.f_t.d_out()
    }
    /// Width `d_s` of the shape features `f_s^f`.
    pub fn d_s(&self) -> usize {
        self.f_s.d_out()
    }

    /// Width of the backbone vector `x` these heads read (both backbones' when there are two).
    pub fn d_in(&self) -> usize {
        self.f_t.d_in() + self.d_in_s.unwrap_or(0)
    }

    /// The texture and shape streams' inputs `(x_t, x_s)` from `x`: `x` itself for both with one
    /// backbone, its two column blocks with two. An error when, with two backbones, `x` does not
    /// have `d_in_t + d_in_s` columns.
    pub fn stream_inputs<'a>(&self, be: &B, x: &'a Tensor<B>) -> Result<StreamInputs<'a, B>> {
        let Some(d_s) = self.d_in_s else {
            return Ok((Cow::Borrowed(x), Cow::Borrowed(x)));
        };
        let d_t = self.f_t.d_in();
        if x.cols() != d_t + d_s {
            return Err(Error::shape(
                "heads input",
                format!(
                    "{} columns, expected {d_t} (texture backbone) + {d_s} (shape backbone)",
                    x.cols()
                ),
            ));
        }
        let mut parts = be.split_cols(x, &[d_t, d_s])?.into_iter();
        let (Some(xt), Some(xs)) = (parts.next(), parts.next()) else {
            return Err(Error::shape(
                "heads input",
                "split_cols returned fewer than 2 blocks",
            ));
        };
        Ok((Cow::Owned(xt), Cow::Owned(xs)))
    }

    /// `(f_t^f, f_s^f)`, `B × d_t` and `B × d_s`, for a `B × d_in` batch of backbone vectors, both
    /// streams in `mode`. An error when `x` has the wrong width (or, in training mode, fewer than
    /// two rows).
    pub fn features(
        &mut self,
        be: &B,
        x: &Tensor<B>,
        mode: Mode,
    ) -> Result<(Tensor<B>, Tensor<B>)> {
        let (xt, xs) = self.stream_inputs(be, x)?;
        Ok((
            self.f_t.forward(be, &xt, mode)?,
            self.f_s.forward(be, &xs, mode)?,
        ))
    }

    /// Q's logits, `B × N_C`, for a `B × d_in` batch of backbone vectors, everything in inference
    /// mode (BatchNorm's running averages). An error when `x` has the wrong width.
    pub fn predict(&mut self, be: &B, x: &Tensor<B>) -> Result<Tensor<B>> {
        let (ft, fs) = self.features(be, x, Mode::Eval)?;
        let f = be.concat_cols(&[&ft, &fs])?;
        self.q.forward(be, &f, Mode::Eval)
    }

    /// The landmark module's `(heatmaps B × K·grid², visibility logits B × K)` for a `B × d_in`
    /// batch of backbone vectors, in inference mode; an error when the heads have no landmark
    /// module or `x` has the wrong width.
    pub fn predict_landmarks(&mut self, be: &B, x: &Tensor<B>) -> Result<(Tensor<B>, Tensor<B>)> {
        if self.ldm.is_none() {
            return Err(Error::invalid(
                "predict_landmarks",
                "these heads have no landmark module",
            ));
        }
        let (_, xs) = self.stream_inputs(be, x)?;
        let fs = self.f_s.forward(be, &xs, Mode::Eval)?;
        self.ldm
            .as_mut()
            .expect("checked above")
            .forward(be, &fs, Mode::Eval)
    }

    fn modules(&self) -> Vec<&Mlp<B>> {
        let mut out = vec![&self.f_t, &self.f_s, &self.a, &self.q];
        if let Some(l) = &self.ldm {
            out.extend([&l.heat, &l.vis]);
        }
        out
    }

    /// Every trainable parameter: `f_t`, `f_s`, `A`, `Q`, then the landmark module's.
    pub fn params(&self) -> Vec<&Param<B>> {
        self.modules()
            .into_iter()
            .flat_map(|m| m.params())
            .collect()
    }

    /// Copies every network's parameters and running averages into `store` (see
    /// [`Mlp::export`]), under the names `f_t.*`, `f_s.*`, `a.*`, `q.*`, `ldm_heat.*`, `ldm_vis.*`.
    pub fn export(&self, be: &B, store: &mut ParamStore) -> Result<()> {
        for m in self.modules() {
            m.export(be, store)?;
        }
        Ok(())
    }

    /// Loads what [`export`](Self::export) wrote into heads of the same spec (see
    /// [`Mlp::import`]); an error naming the first missing or wrongly shaped tensor.
    pub fn import(&mut self, be: &B, store: &ParamStore) -> Result<()> {
        let mut mods = vec![&mut self.f_t, &mut self.f_s, &mut self.a, &mut self.q];
        if let Some(l) = &mut self.ldm {
            mods.extend([&mut l.heat, &mut l.vis]);
        }
        for m in mods {
            m.import(be, store)?;
        }
        Ok(())
    }
}
