//! The two benchmark sizes of issue 5 and the fixtures built at each: a random dictionary with a
//! long-tailed class profile, a fresh Phase 2 game, and a Phase 1 batch.

use convexgan::backend::Activation;
use convexgan::backend::{Backend, HostRows, Precision, Tensor};
use convexgan::config::{Config, Phase1Config};
use convexgan::model::Heads;
use convexgan::nn::{LrSchedule, Mlp};
use convexgan::train::dictionary::{DeviceDictionary, Dictionary};
use convexgan::train::phase2::{Game, Phase2Context};
use convexgan::train::sampling::RowLayout;
use convexgan::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Phase 1 heads, backbone vectors, labels and the one-iteration configuration.
pub type Phase1Batch<B> = (Heads<B>, Tensor<B>, Vec<u32>, Phase1Config);

/// One benchmark size: a preset plus what the preset leaves to the data.
#[derive(Clone, Debug)]
pub struct Size {
    pub name: &'static str,
    pub cfg: Config,
    /// Width of the backbone vector in front of the Phase 1 heads.
    pub x_dim: usize,
    pub classes: usize,
    /// Training-set class counts `n_c` (drive `c_g` and the LDAM margins).
    pub counts: Vec<usize>,
    /// Dictionary rows kept per class.
    pub dict_cap: usize,
}

/// `floor(n_max · ρ^(−c/(N_C−1)))`, METHOD.md §6's profile.
fn exponential(n_max: usize, ratio: f64, classes: usize) -> Vec<usize> {
    (0..classes)
        .map(|c| (n_max as f64 * ratio.powf(-(c as f64) / (classes - 1) as f64)).floor() as usize)
        .collect()
}

impl Size {
    /// The pipeline's preset: B = 256, N_s = 30, d_t = d_s = 128, N_C = 10, z = 256, pixels in.
    pub fn fmnist() -> Self {
        Size {
            name: "fmnist",
            cfg: Config::fmnist(),
            x_dim: 784,
            classes: 10,
            counts: exponential(5000, 100.0, 10),
            dict_cap: 2000,
        }
    }

    /// B = 256, N_s = 100, d_t = d_s = 1024, N_C = 50, z = 256, a 2048-wide backbone vector (VGG16
    /// conv5_3 pooled 2×2, METHOD.md §1). Imbalance 50 keeps the rarest class at 100 rows = N_s; the
    /// dictionary keeps 400 rows per class (not 2000) so the fixture stays near 140 MB.
    pub fn paper() -> Self {
        Size {
            name: "paper",
            cfg: Config::paper(),
            x_dim: 2048,
            classes: 50,
            counts: exponential(5000, 50.0, 50),
            dict_cap: 400,
        }
    }

    /// The sizes named in `CONVEXGAN_BENCH_SIZES` (comma-separated; default both).
    pub fn from_env() -> Vec<Self> {
        let want = std::env::var("CONVEXGAN_BENCH_SIZES").unwrap_or_else(|_| "fmnist,paper".into());
        want.split(',')
            .filter_map(|s| match s.trim() {
                "fmnist" => Some(Self::fmnist()),
                "paper" => Some(Self::paper()),
                "" => None,
                other => {
                    eprintln!("CONVEXGAN_BENCH_SIZES: unknown size {other:?} (fmnist, paper)");
                    None
                }
            })
            .collect()
    }

    pub fn batch(&self) -> usize {
        self.cfg.phase2.batch
    }
    pub fn ns(&self) -> usize {
        self.cfg.phase2.ns
    }
    /// `d_t = d_s`, the last stream width.
    pub fn d_stream(&self) -> usize {
        *self.cfg.model.stream_widths.last().expect("stream widths")
    }
    pub fn z_dim(&self) -> usize {
        self.cfg.model.z_dim
    }

    /// Dictionary rows of uniform [0, 1) features (post-ReLU values are non-negative).
    pub fn dictionary(&self, seed: u64) -> Dictionary {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows: Vec<usize> = self.counts.iter().map(|&n| n.min(self.dict_cap)).collect();
        let layout = RowLayout::new(rows);
        let d = self.d_stream();
        let mut fill =
            || -> Vec<f32> { (0..layout.total() * d).map(|_| rng.gen::<f32>()).collect() };
        let (t, s) = (fill(), fill());
        Dictionary {
            texture: HostRows::from_f32(&t, Precision::F32),
            shape: HostRows::from_f32(&s, Precision::F32),
            d_t: d,
            d_s: d,
            layout,
            counts: self.counts.clone(),
            seed,
            backbone: "bench:uniform".into(),
        }
    }

    /// A fresh game (Q with the preset's hidden width, G and D at Table 1 widths).
    pub fn game<B: Backend>(&self, be: &B, dict: &Dictionary, seed: u64) -> Result<Game<B>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = &self.cfg.model;
        // Q as `model::heads::build_q` makes it: d → h_q (ReLU) → N_C.
        let q = Mlp::<B>::builder("q", dict.d_t + dict.d_s)
            .linear(m.q_hidden, Activation::Relu)
            .linear(self.classes, Activation::Identity)
            .build(be, &mut rng)?;
        Game::new(be, m, dict, self.ns(), q, &mut rng)
    }

    /// Phase 1 heads, a batch of `B` random backbone vectors with labels, and a one-epoch,
    /// one-iteration configuration (every stream trains: no shape-only epoch).
    pub fn phase1<B: Backend>(&self, be: &B, seed: u64) -> Result<Phase1Batch<B>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let heads = Heads::new(be, &self.cfg.model, self.x_dim, self.classes, &mut rng)?;
        let b = self.cfg.phase1.batch;
        let x: Vec<f32> = (0..b * self.x_dim).map(|_| rng.gen::<f32>()).collect();
        let y: Vec<u32> = (0..b)
            .map(|_| rng.gen_range(0..self.classes as u32))
            .collect();
        let cfg = Phase1Config {
            epochs: 1,
            batch: b,
            lr: LrSchedule::constant(1e-4),
            shape_only_epochs: 0,
            heatmap_sigma: 1.0,
            landmark_weight: 1.0,
            visibility_weight: 1.0,
            aux_classifier: true,
        };
        Ok((heads, be.upload_f32(&x, b, self.x_dim)?, y, cfg))
    }
}

/// Everything one Phase 2 iteration needs on backend `B`, built once per size.
pub struct Phase2Fixture<B: Backend> {
    pub dict: Dictionary,
    pub dev: DeviceDictionary<B>,
}

impl<B: Backend> Phase2Fixture<B> {
    pub fn new(be: &B, size: &Size) -> Result<Self> {
        let dict = size.dictionary(7);
        let dev = dict.upload(be)?;
        Ok(Phase2Fixture { dict, dev })
    }
    pub fn ctx<'a>(&'a self, be: &B, size: &'a Size) -> Result<Phase2Context<'a, B>> {
        Phase2Context::new(be, &self.dict, &self.dev, &size.cfg.phase2)
    }
}

/// The fewest bytes the convex forward must move: every distinct dictionary row it reads (once,
/// f32, both streams), the row indices and logits in, `f_t`, `f_s` and the weights out. The
/// backward moves as much (the same rows and indices, the weights and `B × d` gradients in, the
/// logits' gradient out), so one figure serves both.
pub fn convex_bytes(size: &Size, rows: &[u32]) -> u64 {
    let mut distinct = rows.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let (b, ns, d) = (
        size.batch() as u64,
        size.ns() as u64,
        size.d_stream() as u64,
    );
    let dict = distinct.len() as u64 * 2 * d * 4;
    let idx = b * ns * 4;
    let w = b * 2 * ns * 4;
    let f = b * 2 * d * 4;
    dict + idx + w + f + w
}
