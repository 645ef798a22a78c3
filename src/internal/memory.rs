//! Memory estimate of a run, checked before any stage allocates: a configuration that needs more
//! than the machine (or the GPU) has fails at once with the estimate and its largest parts, rather
//! than minutes later at the hands of the OOM killer or a failed device allocation.
//!
//! The estimate counts what the trainer holds at its peak in each stage: the data set (the full
//! Fashion-MNIST as bytes and as f32, then the long-tailed split), each network's parameters with
//! their gradients and Adam moments, the activations of one batch with what backward keeps, the
//! frozen features and the dictionaries. It is meant to be within a small factor of the truth
//! (on Fashion-MNIST it overshoots a small data set, since it assumes the full one is held; a
//! features run is estimated from its file's sizes once read) and is done in f64, so absurd sizes
//! in a configuration give an absurd estimate, never an overflow. Each stage's parts are its whole
//! total, so the parts a refusal lists add up to the figure it gives.

use crate::backend::{Backend, Precision};
use crate::config::Config;
use crate::data::fmnist::{exponential_counts, Dataset, FASHION_MNIST_CLASS_COUNT};
use crate::error::{Error, Result};

/// Images of the full Fashion-MNIST (training and test), each `28 × 28` bytes.
const FMNIST_IMAGES: f64 = 70_000.0;
const PIXELS: f64 = 784.0;
const F32: f64 = 4.0;
/// Value, gradient and two Adam moments per parameter.
const PER_PARAM: f64 = 4.0 * F32;
/// Activation copies per layer and sample: output, backward's cache, the gradient flowing back,
/// and temporaries of the fused ops.
const ACT_COPIES: f64 = 4.0;

/// The estimate, in bytes: what lives in host memory and what lives on the backend's device (the
/// same memory on the CPU backend), with the parts that make it up.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub host: f64,
    pub device: f64,
    /// The stage at the peak.
    pub stage: &'static str,
    /// `(what, where, bytes)` of that stage, largest first; they add up to `host + device`.
    pub parts: Vec<(String, Place, f64)>,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.host + self.device
    }
}

fn mlp_params(d_in: f64, widths: &[f64], batchnorm: bool) -> f64 {
    let mut n = 0.0;
    let mut w_in = d_in;
    for &w in widths {
        n += w_in * w + w + if batchnorm { 4.0 * w } else { 0.0 };
        w_in = w;
    }
    n
}

/// The sizes of the data a run trains on, as far as the estimate needs them.
#[derive(Clone, Debug, PartialEq)]
pub struct DataShape {
    pub classes: usize,
    /// Width of each image's input to the texture stream (784 pixels for Fashion-MNIST).
    pub d_in_t: usize,
    /// Width of the shape stream's input when a second backbone feeds it (else `d_in_t`).
    pub d_in_s: Option<usize>,
    /// Training images per class.
    pub train_counts: Vec<usize>,
    pub val: usize,
    pub test: usize,
    /// Bytes the data set occupies as the loader holds it, beside the training split.
    pub resident_bytes: f64,
}

impl DataShape {
    /// Fashion-MNIST-LT as `cfg` draws it: the full data set held as bytes and as f32.
    pub fn fashion_mnist(cfg: &Config) -> Self {
        let classes = FASHION_MNIST_CLASS_COUNT;
        let train_counts = match &cfg.data.class_counts {
            Some(v) => v.clone(),
            None => {
                exponential_counts(classes, cfg.data.n_max, cfg.data.imbalance).unwrap_or_default()
            }
        };
        DataShape {
            classes,
            d_in_t: PIXELS as usize,
            d_in_s: None,
            train_counts,
            val: cfg.data.val_per_class.saturating_mul(classes),
            test: 10_000,
            resident_bytes: FMNIST_IMAGES * PIXELS * (1.0 + F32),
        }
    }

    /// Data already split for training (a features file's partitions), `d_in_s` columns of
    /// `train`'s belonging to a second backbone.
    pub fn of_split(train: &Dataset, val: usize, test: usize, d_in_s: Option<usize>) -> Self {
        DataShape {
            classes: train.classes,
            d_in_t: train.dim - d_in_s.unwrap_or(0).min(train.dim),
            d_in_s,
            train_counts: train.class_counts(),
            val,
            test,
            resident_bytes: 0.0,
        }
    }

    /// Phase 2 alone, which reads only the dictionaries (`counts` training rows per class): no
    /// image or feature of the data set is loaded.
    pub fn dictionaries_only(counts: &[usize]) -> Self {
        DataShape {
            classes: counts.len(),
            d_in_t: 0,
            d_in_s: None,
            train_counts: counts.to_vec(),
            val: 0,
            test: 0,
            resident_bytes: 0.0,
        }
    }
}

/// Where a part of the estimate lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Host,
    /// The backend's memory: the GPU's, or host memory on the CPU backend.
    Device,
}

/// One stage's parts; its host and device totals are their sums, so a refusal's listed parts
/// always add up to its total.
struct Stage {
    name: &'static str,
    parts: Vec<(String, Place, f64)>,
}

impl Stage {
    fn sum(&self, place: Place) -> f64 {
        self.parts
            .iter()
            .filter(|p| p.1 == place)
            .map(|p| p.2)
            .sum()
    }
}

/// The estimate for Fashion-MNIST-LT as `cfg` draws it.
pub fn estimate(cfg: &Config) -> Estimate {
    estimate_for(cfg, &DataShape::fashion_mnist(cfg))
}

/// The estimate for a run of `cfg` on data of the given sizes.
pub fn estimate_for(cfg: &Config, shape: &DataShape) -> Estimate {
    use Place::{Device, Host};
    let c = shape.classes as f64;
    let counts: Vec<f64> = shape.train_counts.iter().map(|&n| n as f64).collect();
    let n: f64 = counts.iter().sum();
    let d_in_t = shape.d_in_t as f64;
    let d_in_s = shape.d_in_s.map_or(d_in_t, |d| d as f64);
    let d_in = d_in_t + shape.d_in_s.map_or(0.0, |d| d as f64);
    let m = &cfg.model;
    let widths: Vec<f64> = m.stream_widths.iter().map(|&w| w as f64).collect();
    let d = widths.last().copied().unwrap_or(d_in_t);
    let (d_t, d_s) = (d, d);
    let q_widths: Vec<f64> = if m.q_hidden > 0 {
        vec![m.q_hidden as f64, c]
    } else {
        vec![c]
    };

    let data = shape.resident_bytes + (n + shape.val as f64) * d_in * F32;

    let stream = mlp_params(d_in_t, &widths, true) + mlp_params(d_in_s, &widths, true);
    let q = mlp_params(d_t + d_s, &q_widths, false);
    let p1_params = (stream + mlp_params(d_s, &[c], false) + q) * PER_PARAM;
    let b1 = (cfg.phase1.batch as f64).min(n.max(1.0));
    let width_sum: f64 = widths.iter().sum::<f64>() * 2.0 * 2.0 + q_widths.iter().sum::<f64>() + c;
    let p1_acts = b1 * (width_sum + 2.0 * d_in) * F32 * ACT_COPIES;
    let p1_x = n * d_in * F32;
    let phase1 = Stage {
        name: "phase 1",
        parts: vec![
            (
                "Phase 1 parameters and Adam state".into(),
                Device,
                p1_params,
            ),
            ("Phase 1 batch activations".into(), Device, p1_acts),
            ("training images on the backend".into(), Device, p1_x),
        ],
    };

    let prec = match cfg.dict.precision {
        Precision::F32 => 4.0,
        Precision::Bf16 | Precision::F16 => 2.0,
    };
    let dict_rows: f64 = counts
        .iter()
        .map(|&k| k.min(cfg.dict.max_rows_per_class as f64))
        .sum();
    let dict_bytes = dict_rows * (d_t + d_s) * prec;
    let feats = n * (d_t + d_s) * F32;
    let dictionaries = Stage {
        name: "dictionaries",
        parts: vec![
            (
                "frozen features of the training set (host copies)".into(),
                Host,
                2.0 * feats,
            ),
            (
                "frozen features of the training set on the backend".into(),
                Device,
                feats,
            ),
            ("dictionaries".into(), Host, dict_bytes),
            ("training images on the backend".into(), Device, p1_x),
            ("Phase 1 parameters".into(), Device, p1_params / 4.0),
        ],
    };

    let b2 = cfg.phase2.batch as f64;
    let ns = cfg.phase2.ns as f64;
    let g_widths: Vec<f64> = m
        .g_hidden
        .iter()
        .map(|&w| w as f64)
        .chain([2.0 * ns])
        .collect();
    let d_widths: Vec<f64> = m.d_hidden.iter().map(|&w| w as f64).chain([1.0]).collect();
    let z = m.z_dim as f64;
    let p2_params =
        (mlp_params(z + c, &g_widths, false) + mlp_params(d_t + d_s + c, &d_widths, false) + q)
            * PER_PARAM;
    // Per sample: G's input and layers (twice), D's and Q's on real and generated features, the
    // features themselves, and the `N_s` sampled rows the convex combination reads and its
    // backward writes.
    let per_sample = 2.0 * (z + c + g_widths.iter().sum::<f64>())
        + 4.0 * (d_t + d_s + c + d_widths.iter().sum::<f64>())
        + 4.0 * q_widths.iter().sum::<f64>()
        + 6.0 * (d_t + d_s)
        + 2.0 * ns * (d_t + d_s);
    let p2_acts = b2 * per_sample * F32 * ACT_COPIES;
    let phase2 = Stage {
        name: "phase 2",
        parts: vec![
            (
                "Phase 2 parameters and Adam state (G, D, Q)".into(),
                Device,
                p2_params,
            ),
            ("Phase 2 batch activations".into(), Device, p2_acts),
            ("dictionaries (as loaded)".into(), Host, dict_bytes),
            ("dictionaries on the backend".into(), Device, dict_bytes),
        ],
    };

    let test = shape.test as f64;
    let eval_acts = 1024.0 * (width_sum + d_in) * F32 * ACT_COPIES;
    let evaluation = Stage {
        name: "evaluation",
        parts: vec![
            ("test scores".into(), Host, test * c * F32),
            (
                "test images on the backend".into(),
                Device,
                test * d_in * F32,
            ),
            ("evaluation batch activations".into(), Device, eval_acts),
            ("Phase 1 and Phase 2 heads".into(), Device, p1_params / 2.0),
        ],
    };

    let peak = [phase1, dictionaries, phase2, evaluation]
        .into_iter()
        .max_by(|a, b| (a.sum(Host) + a.sum(Device)).total_cmp(&(b.sum(Host) + b.sum(Device))))
        .expect("four stages");
    let (host, device) = (data + peak.sum(Host), peak.sum(Device));
    let mut parts = peak.parts;
    parts.push(("data set in memory".into(), Host, data));
    parts.sort_by(|a, b| b.2.total_cmp(&a.2));
    parts.retain(|p| p.2 > 0.0);
    Estimate {
        host,
        device,
        stage: peak.name,
        parts,
    }
}

/// Bytes of host memory available to this process: `MemAvailable`, capped by a cgroup v2 limit;
/// `None` where neither can be read (not Linux).
pub fn available_host() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let avail = meminfo.as_deref().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib * 1024.0)
    });
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
    };
    let cgroup = match (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(cur)) => Some((max - cur).max(0.0)),
        _ => None,
    };
    match (avail, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

fn gib(bytes: f64) -> String {
    let g = bytes / (1u64 << 30) as f64;
    if g >= 1e6 {
        format!("{g:.2e} GiB")
    } else {
        format!("{g:.2} GiB")
    }
}

/// The stage at the peak and its three largest parts in `place` (every place when `None`), with
/// the rest as one figure, so that the parts shown add up to the total the message gives.
fn describe(e: &Estimate, place: Option<Place>) -> String {
    let mine: Vec<&(String, Place, f64)> = e
        .parts
        .iter()
        .filter(|p| place.is_none_or(|w| p.1 == w))
        .collect();
    let mut shown: Vec<String> = mine
        .iter()
        .take(3)
        .map(|(what, _, b)| format!("{what} {}", gib(*b)))
        .collect();
    if mine.len() > 3 {
        let rest: f64 = mine[3..].iter().map(|p| p.2).sum();
        shown.push(format!("{} smaller parts {}", mine.len() - 3, gib(rest)));
    }
    format!("peak in {}: {}", e.stage, shown.join(", "))
}

const HINT: &str = "lower phase2.batch, phase1.batch, phase2.ns, dict.max_rows_per_class, the \
                    class counts or the model widths";

/// Fails when the estimate exceeds the memory available: host memory for everything on the CPU
/// backend, host and device memory separately on a backend that reports its device memory.
pub fn check<B: Backend>(be: &B, cfg: &Config) -> Result<()> {
    check_for(be, cfg, &DataShape::fashion_mnist(cfg))
}

/// [`check`] for a run on data of the given sizes (a features file's).
pub fn check_for<B: Backend>(be: &B, cfg: &Config, shape: &DataShape) -> Result<()> {
    let e = estimate_for(cfg, shape);
    let device = be.device_memory();
    let (host_need, host_place) = match device {
        Some(_) => (e.host, Some(Place::Host)),
        None => (e.total(), None),
    };
    if let Some(avail) = available_host() {
        if host_need > avail {
            return Err(Error::invalid(
                "configuration",
                format!(
                    "this run needs about {} of memory but {} is available ({}); {HINT}",
                    gib(host_need),
                    gib(avail),
                    describe(&e, host_place)
                ),
            ));
        }
    }
    if let Some((free, total)) = device {
        if e.device > free as f64 {
            return Err(Error::invalid(
                "configuration",
                format!(
                    "this run needs about {} of device memory on {} but {} of {} is free \
                     ({}); {HINT}",
                    gib(e.device),
                    be.name(),
                    gib(free as f64),
                    gib(total as f64),
                    describe(&e, Some(Place::Device))
                ),
            ));
        }
    }
    Ok(())
}
