//! The run directory and the artifacts the stages write there, each under one name.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::internal::io::atomic;

pub const CONFIG_FILE: &str = "config.toml";
pub const PHASE1_FILE: &str = "phase1.safetensors";
pub const PHASE1_LOG_FILE: &str = "phase1_log.json";
pub const DICT_FILE: &str = "dictionary.safetensors";
pub const PHASE2_FILE: &str = "phase2.safetensors";
pub const PHASE2_LOG_FILE: &str = "phase2_log.json";
/// Phase 2's checkpoint while it runs (removed once `phase2.safetensors` is written).
pub const PHASE2_CHECKPOINT_FILE: &str = "phase2.ckpt.safetensors";
pub const METRICS_FILE: &str = "metrics.json";
pub const REPORT_FILE: &str = "report.md";
pub const PLOT_FILE: &str = "recall.png";
pub const CONFUSION_FILE: &str = "confusion.png";
pub const RELIABILITY_FILE: &str = "reliability.png";
pub const COMPARE_JSON_FILE: &str = "compare.json";
pub const COMPARE_FILE: &str = "compare.md";
pub const COMPARE_CONFIG_FILE: &str = "compare_config.toml";

/// A run directory: the configuration, each stage's outputs, the evaluation's metrics, report and
/// plot, and `compare`'s table. Every path of an artifact comes from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// An error unless the run directory is a directory or does not exist yet (it is created when
    /// the first output is written): checked before any work, so that a stage does not train for
    /// minutes and then fail to write into a regular file.
    pub fn check_usable(&self) -> Result<()> {
        match std::fs::metadata(&self.root) {
            Ok(m) if !m.is_dir() => Err(Error::invalid(
                "--run-dir",
                format!(
                    "{} exists and is not a directory; give a directory or a new path",
                    self.root.display()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The resolved configuration (`config.toml`).
    pub fn config(&self) -> PathBuf {
        self.file(CONFIG_FILE)
    }
    /// Phase 1's heads (`phase1.safetensors`).
    pub fn phase1(&self) -> PathBuf {
        self.file(PHASE1_FILE)
    }
    /// Phase 1's epoch logs (`phase1_log.json`).
    pub fn phase1_log(&self) -> PathBuf {
        self.file(PHASE1_LOG_FILE)
    }
    /// The feature dictionaries (`dictionary.safetensors`).
    pub fn dictionary(&self) -> PathBuf {
        self.file(DICT_FILE)
    }
    /// Phase 2's Q, G and D (`phase2.safetensors`).
    pub fn phase2(&self) -> PathBuf {
        self.file(PHASE2_FILE)
    }
    /// Phase 2's epoch logs (`phase2_log.json`).
    pub fn phase2_log(&self) -> PathBuf {
        self.file(PHASE2_LOG_FILE)
    }
    /// Phase 2's checkpoint while it runs (`phase2.ckpt.safetensors`).
    pub fn phase2_checkpoint(&self) -> PathBuf {
        self.file(PHASE2_CHECKPOINT_FILE)
    }
    /// The evaluation's metrics (`metrics.json`).
    pub fn metrics(&self) -> PathBuf {
        self.file(METRICS_FILE)
    }
    /// The evaluation's report (`report.md`).
    pub fn report(&self) -> PathBuf {
        self.file(REPORT_FILE)
    }
    /// The per-class recall plot (`recall.png`), linked from the report by its file name.
    pub fn recall_plot(&self) -> PathBuf {
        self.file(PLOT_FILE)
    }
    /// `compare`'s rows with every seed's metrics and logs (`compare.json`).
    pub fn confusion_plot(&self) -> PathBuf {
        self.file(CONFUSION_FILE)
    }

    pub fn reliability_plot(&self) -> PathBuf {
        self.file(RELIABILITY_FILE)
    }

    pub fn compare_json(&self) -> PathBuf {
        self.file(COMPARE_JSON_FILE)
    }
    /// `compare`'s table (`compare.md`).
    pub fn compare_report(&self) -> PathBuf {
        self.file(COMPARE_FILE)
    }
    /// The configuration `compare` ran with (`compare_config.toml`): its own file, so that a
    /// comparison never replaces the `config.toml` of the stages' outputs beside it.
    pub fn compare_config(&self) -> PathBuf {
        self.file(COMPARE_CONFIG_FILE)
    }

    /// The saved configuration; an error saying to run Phase 1 first when there is none.
    pub fn load_config(&self) -> Result<Config> {
        let path = self.config();
        if !path.exists() {
            return Err(Error::invalid(
                "run directory",
                format!(
                    "{} has no {CONFIG_FILE}: run `convexgan phase1 --run-dir {}` first",
                    self.root.display(),
                    self.root.display()
                ),
            ));
        }
        Config::load(&path)
    }
}

/// Pretty JSON, written atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::invalid("json", e.to_string()))?;
    atomic::write(path, text.as_bytes())
}
