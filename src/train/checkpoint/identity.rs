//! What a Phase 2 run was computed from, and the check that a checkpoint belongs to this run.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::format::Checkpoint;
use crate::backend::Backend;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::nn::{Mlp, ParamStore};
use crate::train::dictionary::Dictionary;

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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Checkpoint {
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
