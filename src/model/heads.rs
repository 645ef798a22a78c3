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
    pub f_t: Mlp<B>,
    pub f_s: Mlp<B>,
    pub a: Mlp<B>,
    pub q: Mlp<B>,
    /// The landmark module (METHOD.md §1 LDM); `None` when the data set has no landmarks (K = 0).
    pub ldm: Option<Ldm<B>>,
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
    pub classes: usize,
    /// Landmarks K of the landmark module; 0 = no module.
    pub landmarks: usize,
}

/// The landmark module (METHOD.md §1): from `f_s^f`, `K` raw `grid × grid` heatmaps and `K` visibility
/// logits, each a single Linear.
#[derive(Clone)]
pub struct Ldm<B: Backend> {
    /// `Linear(d_s → K·grid²)`, identity activation; map `k` is columns `k·grid² ..`, row-major.
    pub heat: Mlp<B>,
    /// `Linear(d_s → K)` visibility logits.
    pub vis: Mlp<B>,
    pub k: usize,
    pub grid: usize,
}

impl<B: Backend> Ldm<B> {
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

    /// `(heatmaps B × K·grid², visibility logits B × K)` from shape features.
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

    /// Sets the module's gradients and returns the gradient with respect to its input `f_s^f`.
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

    pub fn params(&self) -> Vec<&Param<B>> {
        let mut out = self.heat.params();
        out.extend(self.vis.params());
        out
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        let mut out = self.heat.params_mut();
        out.extend(self.vis.params_mut());
        out
    }
}

/// `Q = Linear(d → h_q) → ReLU → Linear(h_q → N_C)`, or a single Linear when `h_q = 0`.
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
    /// Heads on one backbone vector of width `d_in` feeding both streams, without landmarks.
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

    pub fn spec(&self) -> HeadsSpec {
        HeadsSpec {
            d_in_t: self.f_t.d_in(),
            d_in_s: self.d_in_s,
            classes: self.classes,
            landmarks: self.ldm.as_ref().map_or(0, |l| l.k),
        }
    }

    pub fn d_t(&self) -> usize {
        self.f_t.d_out()
    }
    pub fn d_s(&self) -> usize {
        self.f_s.d_out()
    }

    /// Width of the backbone vector `x` these heads read (both backbones' when there are two).
    pub fn d_in(&self) -> usize {
        self.f_t.d_in() + self.d_in_s.unwrap_or(0)
    }

    /// The texture and shape streams' inputs `(x_t, x_s)` from `x`: `x` itself for both with one
    /// backbone, its two column blocks with two.
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

    /// `(f_t^f, f_s^f)` for a batch of backbone vectors.
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

    /// Q's logits for backbone vectors, in inference mode.
    pub fn predict(&mut self, be: &B, x: &Tensor<B>) -> Result<Tensor<B>> {
        let (ft, fs) = self.features(be, x, Mode::Eval)?;
        let f = be.concat_cols(&[&ft, &fs])?;
        self.q.forward(be, &f, Mode::Eval)
    }

    /// The landmark module's `(heatmaps, visibility logits)` for backbone vectors, in inference
    /// mode; an error when the heads have no landmark module.
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

    pub fn export(&self, be: &B, store: &mut ParamStore) -> Result<()> {
        for m in self.modules() {
            m.export(be, store)?;
        }
        Ok(())
    }

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
