use rand::Rng;

use crate::backend::{Activation, Backend, Tensor};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::nn::{Mlp, Mode, ParamStore};

/// Phase 1 networks on top of the frozen backbone's vector `x` (SPEC §1): the texture and shape
/// stream blocks `f_t`, `f_s` (Linear → BatchNorm1d → ReLU per layer), the auxiliary classifier
/// `A` on the shape stream and the main classifier `Q` on the concatenation.
#[derive(Clone)]
pub struct Heads<B: Backend> {
    pub f_t: Mlp<B>,
    pub f_s: Mlp<B>,
    pub a: Mlp<B>,
    pub q: Mlp<B>,
    pub classes: usize,
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

/// One stream block: `Linear → BatchNorm1d → ReLU` per width (SPEC §1 Choice).
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
    pub fn new(
        be: &B,
        cfg: &ModelConfig,
        d_in: usize,
        classes: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let f_t = stream_block(be, "f_t", d_in, &cfg.stream_widths, rng)?;
        let f_s = stream_block(be, "f_s", d_in, &cfg.stream_widths, rng)?;
        let d_s = f_s.d_out();
        let a = Mlp::<B>::builder("a", d_s)
            .linear(classes, Activation::Identity)
            .build(be, rng)?;
        let q = build_q(be, f_t.d_out() + d_s, cfg.q_hidden, classes, rng)?;
        Ok(Heads {
            f_t,
            f_s,
            a,
            q,
            classes,
        })
    }

    pub fn d_t(&self) -> usize {
        self.f_t.d_out()
    }
    pub fn d_s(&self) -> usize {
        self.f_s.d_out()
    }

    /// `(f_t^f, f_s^f)` for a batch of backbone vectors.
    pub fn features(
        &mut self,
        be: &B,
        x: &Tensor<B>,
        mode: Mode,
    ) -> Result<(Tensor<B>, Tensor<B>)> {
        Ok((
            self.f_t.forward(be, x, mode)?,
            self.f_s.forward(be, x, mode)?,
        ))
    }

    /// Q's logits for backbone vectors, in inference mode.
    pub fn predict(&mut self, be: &B, x: &Tensor<B>) -> Result<Tensor<B>> {
        let (ft, fs) = self.features(be, x, Mode::Eval)?;
        let f = be.concat_cols(&[&ft, &fs])?;
        self.q.forward(be, &f, Mode::Eval)
    }

    pub fn export(&self, be: &B, store: &mut ParamStore) -> Result<()> {
        for m in [&self.f_t, &self.f_s, &self.a, &self.q] {
            m.export(be, store)?;
        }
        Ok(())
    }

    pub fn import(&mut self, be: &B, store: &ParamStore) -> Result<()> {
        for m in [&mut self.f_t, &mut self.f_s, &mut self.a, &mut self.q] {
            m.import(be, store)?;
        }
        Ok(())
    }
}
