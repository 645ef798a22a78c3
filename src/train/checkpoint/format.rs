//! The checkpoint file: the players' weights and Adam moments as tensors, and the counters, the
//! random stream, the progress and the identity in the metadata.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::identity::{hex, Identity};
use crate::backend::Backend;
use crate::config::Phase2Config;
use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::train::phase2::{Game, Phase2Progress};
use crate::train::EpochLog;

pub const FORMAT: &str = "convexgan-phase2-checkpoint-v1";

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RngFile {
    seed: String,
    stream: u64,
    word_pos: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    stage: String,
    epoch: usize,
    losses: BTreeMap<String, u64>,
}

/// [`Phase2Progress`] with every f64 as its bit pattern: JSON's decimal round trip is not exact.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressFile {
    epoch: usize,
    iter_in_epoch: usize,
    logs: Vec<LogFile>,
    losses: BTreeMap<String, Vec<u64>>,
}

impl ProgressFile {
    fn of(p: &Phase2Progress) -> Self {
        ProgressFile {
            epoch: p.epoch,
            iter_in_epoch: p.iter_in_epoch,
            logs: p
                .logs
                .iter()
                .map(|l| LogFile {
                    stage: l.stage.clone(),
                    epoch: l.epoch,
                    losses: l
                        .losses
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_bits()))
                        .collect(),
                })
                .collect(),
            losses: p
                .losses
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|x| x.to_bits()).collect()))
                .collect(),
        }
    }

    fn progress(self) -> Phase2Progress {
        Phase2Progress {
            epoch: self.epoch,
            iter_in_epoch: self.iter_in_epoch,
            logs: self
                .logs
                .into_iter()
                .map(|l| EpochLog {
                    stage: l.stage,
                    epoch: l.epoch,
                    losses: l
                        .losses
                        .into_iter()
                        .map(|(k, v)| (k, f64::from_bits(v)))
                        .collect(),
                })
                .collect(),
            losses: self
                .losses
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(f64::from_bits).collect()))
                .collect(),
        }
    }
}

/// A Phase 2 checkpoint in memory.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Weights under the players' parameter names, Adam moments under `adam.m/<name>` and
    /// `adam.v/<name>`.
    pub store: ParamStore,
    pub iteration: usize,
    /// Adam steps of G, D and Q.
    pub adam_steps: [u64; 3],
    pub rng_seed: [u8; 32],
    pub rng_stream: u64,
    pub rng_word_pos: u128,
    pub progress: Phase2Progress,
    pub identity: Identity,
}

fn moment_names(param: &str) -> (String, String) {
    (format!("adam.m/{param}"), format!("adam.v/{param}"))
}

impl Checkpoint {
    /// The state between two iterations.
    pub fn capture<B: Backend>(
        be: &B,
        game: &Game<B>,
        progress: &Phase2Progress,
        rng: &ChaCha8Rng,
        identity: &Identity,
    ) -> Result<Self> {
        let mut store = ParamStore::new();
        for net in [&game.g.net, &game.d.net, &game.q] {
            net.export(be, &mut store)?;
            for p in net.params() {
                if let Some((m, v)) = p.moments() {
                    let (mn, vn) = moment_names(&p.name);
                    store.put_tensor(be, &mn, m)?;
                    store.put_tensor(be, &vn, v)?;
                }
            }
        }
        Ok(Checkpoint {
            store,
            iteration: game.iteration,
            adam_steps: [game.adam_g.step, game.adam_d.step, game.adam_q.step],
            rng_seed: rng.get_seed(),
            rng_stream: rng.get_stream(),
            rng_word_pos: rng.get_word_pos(),
            progress: progress.clone(),
            identity: identity.clone(),
        })
    }

    /// Atomic write (temporary file, then rename): an interrupted write leaves the previous
    /// checkpoint.
    pub fn save(&self, path: &Path) -> Result<()> {
        let rng = RngFile {
            seed: hex(&self.rng_seed),
            stream: self.rng_stream,
            word_pos: self.rng_word_pos.to_string(),
        };
        let meta = [
            ("format", FORMAT.to_string()),
            ("stage", "phase2-checkpoint".to_string()),
            ("iteration", self.iteration.to_string()),
            ("adam_steps", to_json(&self.adam_steps)?),
            ("rng", to_json(&rng)?),
            ("progress", to_json(&ProgressFile::of(&self.progress))?),
            ("config", self.identity.config.clone()),
            ("dictionary_sha256", self.identity.dictionary.clone()),
            ("phase1_q_sha256", self.identity.phase1_q.clone()),
        ];
        let mut file = self.store.writer();
        for (k, v) in meta {
            file.meta(k, v);
        }
        file.write(path)
    }

    pub fn load(path: &Path) -> Result<Self> {
        Self::from_store(path, ParamStore::load(path)?)
    }

    /// [`load`](Self::load) on the bytes of a file already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::from_store(path, ParamStore::from_bytes(path, bytes)?)
    }

    fn from_store(path: &Path, mut store: ParamStore) -> Result<Self> {
        let bad = |msg: String| Error::bad_file(path, msg);
        let meta = std::mem::take(&mut store.metadata);
        let get = |k: &str| {
            meta.get(k).ok_or_else(|| {
                bad(format!(
                    "metadata '{k}' missing: not a convexgan Phase 2 checkpoint"
                ))
            })
        };
        if get("format")? != FORMAT {
            return Err(bad(format!("format is not {FORMAT}")));
        }
        fn parse<T: serde::de::DeserializeOwned>(path: &Path, k: &str, text: &str) -> Result<T> {
            serde_json::from_str(text)
                .map_err(|e| Error::bad_file(path, format!("metadata '{k}': {e}")))
        }
        let iteration: usize = get("iteration")?
            .parse()
            .map_err(|e| bad(format!("metadata 'iteration': {e}")))?;
        let steps: Vec<u64> = parse(path, "adam_steps", get("adam_steps")?)?;
        let adam_steps: [u64; 3] = steps.try_into().map_err(|v: Vec<u64>| {
            bad(format!(
                "metadata 'adam_steps' has {} values, expected 3",
                v.len()
            ))
        })?;
        let rng: RngFile = parse(path, "rng", get("rng")?)?;
        let rng_seed: [u8; 32] = unhex(&rng.seed)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("metadata 'rng': the seed is not 64 hexadecimal digits".into()))?;
        let rng_word_pos: u128 = rng
            .word_pos
            .parse()
            .map_err(|e| bad(format!("metadata 'rng': word position: {e}")))?;
        let progress: ProgressFile = parse(path, "progress", get("progress")?)?;
        let progress = progress.progress();
        let finite = progress
            .losses
            .values()
            .flatten()
            .chain(progress.logs.iter().flat_map(|l| l.losses.values()))
            .all(|v| v.is_finite());
        if !finite {
            return Err(bad("metadata 'progress' holds a non-finite loss".into()));
        }
        let identity = Identity {
            config: get("config")?.clone(),
            dictionary: get("dictionary_sha256")?.clone(),
            phase1_q: get("phase1_q_sha256")?.clone(),
        };
        Ok(Checkpoint {
            store,
            iteration,
            adam_steps,
            rng_seed,
            rng_stream: rng.stream,
            rng_word_pos,
            progress,
            identity,
        })
    }

    /// Puts the state into `game` and `rng`, after checking it is consistent with a run of `cfg`
    /// with `per_epoch` iterations per epoch.
    pub fn restore<B: Backend>(
        &self,
        be: &B,
        path: &Path,
        game: &mut Game<B>,
        rng: &mut ChaCha8Rng,
        cfg: &Phase2Config,
        per_epoch: usize,
    ) -> Result<()> {
        let bad = |msg: String| Error::bad_file(path, msg);
        let p = &self.progress;
        let at = p
            .epoch
            .checked_mul(per_epoch)
            .and_then(|e| e.checked_add(p.iter_in_epoch));
        if p.iter_in_epoch >= per_epoch
            || p.epoch > cfg.epochs
            || (p.epoch == cfg.epochs && p.iter_in_epoch > 0)
            || at != Some(self.iteration)
            || p.logs.len() != p.epoch
        {
            return Err(bad(format!(
                "inconsistent progress: iteration {} but epoch {} and {} iterations into it \
                 ({per_epoch} per epoch, {} epochs, {} epoch logs)",
                self.iteration,
                p.epoch,
                p.iter_in_epoch,
                cfg.epochs,
                p.logs.len()
            )));
        }
        for name in ["q_real", "q_fake", "g"] {
            let n = p.losses.get(name).map_or(0, Vec::len);
            if n != p.iter_in_epoch {
                return Err(bad(format!(
                    "inconsistent progress: {n} '{name}' losses for {} iterations",
                    p.iter_in_epoch
                )));
            }
        }
        let it = self.iteration as u64;
        let want = [
            it,
            // D and Q step twice per turn (real, then generated samples).
            2 * self.iteration.div_ceil(cfg.d_every) as u64,
            it.saturating_mul(2),
        ];
        if self.adam_steps != want {
            return Err(bad(format!(
                "Adam step counters {:?} do not match iteration {} (expected {want:?})",
                self.adam_steps, self.iteration
            )));
        }
        let mut store = self.store.clone();
        store.source = Some(path.to_path_buf());
        for net in [&mut game.g.net, &mut game.d.net, &mut game.q] {
            net.import(be, &store)?;
            for param in net.params_mut() {
                let (mn, vn) = moment_names(&param.name);
                let (r, c) = param.value.shape();
                match (
                    store.tensors.contains_key(&mn),
                    store.tensors.contains_key(&vn),
                ) {
                    (true, true) => {
                        let m = store.get_tensor(be, &mn, r, c)?;
                        let v = store.get_tensor(be, &vn, r, c)?;
                        param.set_moments(m, v);
                    }
                    (false, false) if self.iteration == 0 => {}
                    _ => {
                        return Err(bad(format!(
                            "Adam moments of '{}' missing ('{mn}' and '{vn}' are both needed)",
                            param.name
                        )))
                    }
                }
            }
        }
        game.iteration = self.iteration;
        game.adam_g.step = self.adam_steps[0];
        game.adam_d.step = self.adam_steps[1];
        game.adam_q.step = self.adam_steps[2];
        let mut r = ChaCha8Rng::from_seed(self.rng_seed);
        r.set_stream(self.rng_stream);
        r.set_word_pos(self.rng_word_pos);
        *rng = r;
        Ok(())
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("checkpoint", e.to_string()))
}
