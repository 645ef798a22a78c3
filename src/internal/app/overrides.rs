//! The command-line values that replace configuration values, declared once: `convexgan`'s
//! subcommands flatten [`Overrides`] into their flags, and it applies itself to a [`Config`].

use std::path::PathBuf;

use super::run_dir::RunDir;
use crate::backend::Precision;
use crate::config::{Config, QLoss};
use crate::error::{Error, Result};

/// Where the configuration comes from, the values that replace its own, and how the stages run.
/// The doc comments are the flags' help.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Preset: fmnist (default), paper (Table 1 widths) or tiny (tests).
    #[arg(long)]
    pub preset: Option<String>,
    /// A TOML configuration (as written to a run directory) instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Directory with the four Fashion-MNIST *-ubyte.gz files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Train on a features file from `convexgan extract` (e.g. DeepFashion) instead of
    /// Fashion-MNIST; its own train/val/test partition is used.
    #[arg(long, conflicts_with_all = ["data", "imbalance", "class_counts"])]
    pub features: Option<PathBuf>,
    /// Imbalance ratio of the exponential long-tailed profile.
    #[arg(long)]
    pub imbalance: Option<f64>,
    /// Explicit training images per class, e.g. 4000,2000,... (one count per class).
    #[arg(long, value_delimiter = ',')]
    pub class_counts: Option<Vec<usize>>,
    /// Q's loss in Phase 2.
    #[arg(long, value_enum)]
    pub q_loss: Option<QLoss>,
    /// Dictionary rows per generated sample.
    #[arg(long)]
    pub ns: Option<usize>,
    /// Weight of the adversarial term of the generator's loss.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Phase 2 epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Phase 1 epochs.
    #[arg(long)]
    pub phase1_epochs: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Storage precision of the dictionary rows.
    #[arg(long, value_enum)]
    pub dict_precision: Option<Precision>,
    /// Only the first N test images (quick checks).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// No progress bars.
    #[arg(long = "quiet", action = clap::ArgAction::SetFalse)]
    pub progress: bool,
    /// Continue Phase 2 from the checkpoint in the run directory (`run` then skips Phase 1 and the
    /// dictionary); without one, start from the beginning.
    #[arg(long)]
    pub resume: bool,
    /// Phase 2 iterations between checkpoints (written atomically to the run directory); 0 = none.
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
}

impl Overrides {
    /// Replaces the values of `c` that a flag gives.
    pub fn apply(&self, c: &mut Config) {
        fn set<T: Clone>(from: &Option<T>, to: &mut T) {
            if let Some(v) = from {
                *to = v.clone();
            }
        }
        fn set_some<T: Clone>(from: &Option<T>, to: &mut Option<T>) {
            if from.is_some() {
                to.clone_from(from);
            }
        }
        set(&self.data, &mut c.data.dir);
        set_some(&self.features, &mut c.data.features);
        set(&self.imbalance, &mut c.data.imbalance);
        set_some(&self.class_counts, &mut c.data.class_counts);
        set(&self.q_loss, &mut c.phase2.q_loss);
        set(&self.ns, &mut c.phase2.ns);
        set(&self.lambda, &mut c.phase2.lambda);
        set(&self.epochs, &mut c.phase2.epochs);
        set(&self.phase1_epochs, &mut c.phase1.epochs);
        set(&self.seed, &mut c.seed);
        set(&self.dict_precision, &mut c.dict.precision);
        set_some(&self.test_limit, &mut c.data.test_limit);
    }

    /// A fresh configuration: `--config`, else `--preset` (default `fmnist`), then the flags.
    pub fn fresh_config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::preset(self.preset.as_deref().unwrap_or("fmnist"))?,
        };
        self.apply(&mut c);
        c.validate()?;
        Ok(c)
    }

    /// The run directory's configuration with the flags applied (for the stages after Phase 1).
    pub fn saved_config(&self, run_dir: &RunDir) -> Result<Config> {
        if self.preset.is_some() || self.config.is_some() {
            return Err(Error::invalid(
                if self.preset.is_some() { "--preset" } else { "--config" },
                "this stage continues with the run directory's config.toml; --preset and --config                  apply to phase1, run and compare (start a new run directory to use them)",
            ));
        }
        let mut c = run_dir.load_config()?;
        self.apply(&mut c);
        c.validate()?;
        Ok(c)
    }

    /// The flags for the stages after the first: the configuration now comes from the run
    /// directory, so `--preset` and `--config` no longer apply.
    pub fn for_later_stages(&self) -> Self {
        Overrides {
            preset: None,
            config: None,
            ..self.clone()
        }
    }
}
