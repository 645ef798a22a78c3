//! Phase 2 checkpoints and `--resume`.
//!
//! A checkpoint is one safetensors file, written atomically (temporary file, then rename) every
//! `--checkpoint-every` iterations: G's, D's and Q's weights, every Adam moment, and in the
//! metadata the Adam step counters, `Game::iteration`, the epoch and the iteration within it, the
//! losses of the epoch under way (as bit patterns, so the epoch's mean comes out the same), the
//! ChaCha8 stream's seed, stream number and word position, and what the run was computed from (the
//! configuration and fingerprints of the dictionary and of Phase 1's Q). A resumed run restores all
//! of it and replays exactly the iterations an uninterrupted run would have made: on the CPU
//! backend the final parameters and logs are bit-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dictionary::Dictionary;
use super::phase2::{train_phase2_from, Game, Phase2Context, Phase2Progress};
use super::EpochLog;
use crate::backend::Backend;
use crate::config::{Config, Phase2Config};
use crate::error::{Error, Result};
use crate::nn::{Mlp, ParamStore};

pub const FORMAT: &str = "convexgan-phase2-checkpoint-v1";

/// Where and how often a Phase 2 run checkpoints, and whether it starts from the checkpoint.
#[derive(Clone, Debug)]
pub struct Plan {
    pub path: PathBuf,
    /// Iterations between checkpoints; 0 = none.
    pub every: usize,
    pub resume: bool,
}

impl Plan {
    /// After the final outputs are written the checkpoint has no further use; removing it keeps a
    /// later `--resume` from replaying a finished run.
    pub fn finish(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}

/// What a run was computed from; a checkpoint only resumes a run with the same identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// The resolved configuration as TOML.
    pub config: String,
    /// SHA-256 of the dictionary's rows, layout and counts.
    pub dictionary: String,
    /// SHA-256 of Phase 1's Q (the starting point of Phase 2's Q).
    pub phase1_q: String,
}

impl Identity {
    pub fn of<B: Backend>(be: &B, cfg: &Config, dict: &Dictionary, q: &Mlp<B>) -> Result<Self> {
        Ok(Identity {
            config: cfg.to_toml()?,
            dictionary: fingerprint_dictionary(dict),
            phase1_q: fingerprint_mlp(be, q)?,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

pub fn fingerprint_dictionary(d: &Dictionary) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{:?} {:?} {} {} {}",
        d.counts,
        d.layout.rows,
        d.d_t,
        d.d_s,
        d.precision().name()
    ));
    h.update(d.texture.as_bytes());
    h.update(d.shape.as_bytes());
    hex(&h.finalize())
}

pub fn fingerprint_mlp<B: Backend>(be: &B, m: &Mlp<B>) -> Result<String> {
    let mut store = ParamStore::new();
    m.export(be, &mut store)?;
    let mut h = Sha256::new();
    for (name, t) in &store.tensors {
        h.update(format!("{name} {:?}", t.shape));
        h.update(bytemuck::cast_slice::<f32, u8>(&t.data));
    }
    Ok(hex(&h.finalize()))
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
        let mut store = self.store.clone();
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
        for (k, v) in meta {
            store.metadata.insert(k.to_string(), v);
        }
        store.save(path)
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

    /// Refuses a checkpoint of another run, naming what differs.
    pub fn check_identity(&self, path: &Path, now: &Identity) -> Result<()> {
        let mut diffs = config_diff(&self.identity.config, &now.config);
        if self.identity.dictionary != now.dictionary {
            diffs.push("the dictionary (dictionary.safetensors was rebuilt)".into());
        }
        if self.identity.phase1_q != now.phase1_q {
            diffs.push("Phase 1's Q (phase1.safetensors was retrained)".into());
        }
        if diffs.is_empty() {
            return Ok(());
        }
        Err(Error::bad_file(
            path,
            format!(
                "this checkpoint belongs to another run; it differs in {}. Resume with the \
                 original settings, or run without --resume to start afresh",
                diffs.join(", ")
            ),
        ))
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

/// The dotted keys whose values differ between two configurations written by `Config::to_toml`,
/// except `data.dir`: moving the data set does not change what Phase 2 computes (the dictionary's
/// fingerprint covers the data).
fn config_diff(saved: &str, now: &str) -> Vec<String> {
    let (Ok(a), Ok(b)) = (saved.parse::<toml::Table>(), now.parse::<toml::Table>()) else {
        return if saved == now {
            Vec::new()
        } else {
            vec!["the configuration".into()]
        };
    };
    fn walk(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if name == "data.dir" {
                continue;
            }
            match (a.get(k), b.get(k)) {
                (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                    walk(&name, x, y, out)
                }
                (x, y) if x != y => {
                    let show =
                        |v: Option<&toml::Value>| v.map_or("unset".into(), |v| v.to_string());
                    out.push(format!("{name} (checkpoint {}, now {})", show(x), show(y)));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk("", &a, &b, &mut out);
    out
}

/// Removes temporaries a killed run left beside `path` (`write_atomic` names them
/// `.<name>.<pid>.tmp`).
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Phase 2 under `plan`: resumes from the checkpoint when asked and one exists, checkpoints every
/// `plan.every` iterations. `game` and `rng` are fresh (as [`run_convex_gan`] makes them).
///
/// [`run_convex_gan`]: super::pipeline::run_convex_gan
#[allow(clippy::too_many_arguments)]
pub fn train<B: Backend>(
    be: &B,
    cfg: &Config,
    game: &mut Game<B>,
    ctx: &Phase2Context<'_, B>,
    n_train: usize,
    rng: &mut ChaCha8Rng,
    show_progress: bool,
    plan: &Plan,
) -> Result<Vec<EpochLog>> {
    remove_stale_temporaries(&plan.path);
    let identity = Identity::of(be, cfg, ctx.dict, &game.q)?;
    let per_epoch = n_train.div_ceil(ctx.cfg.batch).max(1);
    let mut start = Phase2Progress::default();
    let mut saved: Option<usize> = None;
    if plan.resume {
        if plan.path.exists() {
            let ck = Checkpoint::load(&plan.path)?;
            ck.check_identity(&plan.path, &identity)?;
            ck.restore(be, &plan.path, game, rng, ctx.cfg, per_epoch)?;
            start = ck.progress;
            saved = Some(ck.iteration);
            eprintln!(
                "phase 2: resuming from {} at iteration {} of {}",
                plan.path.display(),
                ck.iteration,
                ctx.cfg.epochs * per_epoch
            );
        } else {
            eprintln!(
                "phase 2: no checkpoint at {}; starting from the beginning",
                plan.path.display()
            );
        }
    }
    let result = train_phase2_from(
        be,
        game,
        ctx,
        n_train,
        rng,
        show_progress,
        start,
        plan.every,
        |game, progress, rng| {
            Checkpoint::capture(be, game, progress, rng, &identity)?.save(&plan.path)?;
            saved = Some(game.iteration);
            Ok(())
        },
    );
    match (result, saved) {
        (Err(Error::NonFinite(msg)), Some(at)) => Err(Error::NonFinite(format!(
            "{msg}; the last good checkpoint (iteration {at}) is kept in {}",
            plan.path.display()
        ))),
        (r, _) => r,
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("checkpoint", e.to_string()))
}
