//! Memory estimate of a run, checked before any stage allocates: a configuration that needs more
//! than the machine (or the GPU) has fails at once with the estimate and its largest parts, rather
//! than minutes later at the hands of the OOM killer or a failed device allocation.
//!
//! The estimate counts what the trainer holds at its peak in each stage: the data set (the full
//! Fashion-MNIST as bytes and as f32, then the long-tailed split), each network's parameters with
//! their gradients and Adam moments, the activations of one batch with what backward keeps, the
//! frozen features and the dictionaries. It is meant to be within a small factor of the truth
//! (it overshoots on a small data set, since it assumes the full Fashion-MNIST) and is done in f64,
//! so absurd sizes in a configuration give an absurd estimate, never an overflow.

use crate::backend::{Backend, Precision};
use crate::config::Config;
use crate::data::fmnist::{exponential_counts, FASHION_MNIST_CLASS_COUNT};
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
    /// `(what, bytes)` of that stage, largest first.
    pub parts: Vec<(String, f64)>,
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

/// One stage: host bytes, device bytes, parts.
struct Stage {
    name: &'static str,
    host: f64,
    device: f64,
    parts: Vec<(String, f64)>,
}

pub fn estimate(cfg: &Config) -> Estimate {
    let classes = FASHION_MNIST_CLASS_COUNT;
    let c = classes as f64;
    let counts: Vec<f64> = match &cfg.data.class_counts {
        Some(v) => v.iter().map(|&n| n as f64).collect(),
        None => exponential_counts(classes, cfg.data.n_max, cfg.data.imbalance)
            .map(|v| v.into_iter().map(|n| n as f64).collect())
            .unwrap_or_default(),
    };
    let n: f64 = counts.iter().sum();
    let m = &cfg.model;
    let widths: Vec<f64> = m.stream_widths.iter().map(|&w| w as f64).collect();
    let d = widths.last().copied().unwrap_or(PIXELS);
    let (d_t, d_s) = (d, d);
    let q_widths: Vec<f64> = if m.q_hidden > 0 {
        vec![m.q_hidden as f64, c]
    } else {
        vec![c]
    };

    let data = FMNIST_IMAGES * PIXELS * (1.0 + F32)
        + (n + cfg.data.val_per_class as f64 * c) * PIXELS * F32;

    let stream = mlp_params(PIXELS, &widths, true);
    let q = mlp_params(d_t + d_s, &q_widths, false);
    let p1_params = (2.0 * stream + mlp_params(d_s, &[c], false) + q) * PER_PARAM;
    let b1 = (cfg.phase1.batch as f64).min(n.max(1.0));
    let width_sum: f64 = widths.iter().sum::<f64>() * 2.0 * 2.0 + q_widths.iter().sum::<f64>() + c;
    let p1_acts = b1 * (width_sum + 2.0 * PIXELS) * F32 * ACT_COPIES;
    let p1_x = n * PIXELS * F32;
    let phase1 = Stage {
        name: "phase 1",
        host: 0.0,
        device: p1_params + p1_acts + p1_x,
        parts: vec![
            ("Phase 1 parameters and Adam state".into(), p1_params),
            ("Phase 1 batch activations".into(), p1_acts),
            ("training images on the backend".into(), p1_x),
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
        host: 2.0 * feats + dict_bytes,
        device: feats + p1_x + p1_params / 4.0,
        parts: vec![
            ("frozen features of the training set".into(), 3.0 * feats),
            ("dictionaries".into(), dict_bytes),
            ("training images on the backend".into(), p1_x),
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
        host: dict_bytes,
        device: p2_params + p2_acts + dict_bytes,
        parts: vec![
            (
                "Phase 2 parameters and Adam state (G, D, Q)".into(),
                p2_params,
            ),
            ("Phase 2 batch activations".into(), p2_acts),
            ("dictionaries".into(), 2.0 * dict_bytes),
        ],
    };

    let test = 10_000.0;
    let eval_acts = 1024.0 * (width_sum + PIXELS) * F32 * ACT_COPIES;
    let evaluation = Stage {
        name: "evaluation",
        host: test * c * F32,
        device: test * PIXELS * F32 + eval_acts + p1_params / 2.0,
        parts: vec![("test images and scores".into(), test * (PIXELS + c) * F32)],
    };

    let peak = [phase1, dictionaries, phase2, evaluation]
        .into_iter()
        .max_by(|a, b| (a.host + a.device).total_cmp(&(b.host + b.device)))
        .expect("four stages");
    let mut parts = peak.parts;
    parts.push(("data set in memory".into(), data));
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    parts.retain(|p| p.1 > 0.0);
    Estimate {
        host: data + peak.host,
        device: peak.device,
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

fn describe(e: &Estimate) -> String {
    let parts = e
        .parts
        .iter()
        .take(3)
        .map(|(what, b)| format!("{what} {}", gib(*b)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("peak in {}: {parts}", e.stage)
}

const HINT: &str = "lower phase2.batch, phase1.batch, phase2.ns, dict.max_rows_per_class, the \
                    class counts or the model widths";

/// Fails when the estimate exceeds the memory available: host memory for everything on the CPU
/// backend, host and device memory separately on a backend that reports its device memory.
pub fn check<B: Backend>(be: &B, cfg: &Config) -> Result<()> {
    let e = estimate(cfg);
    let device = be.device_memory();
    let host_need = if device.is_some() { e.host } else { e.total() };
    if let Some(avail) = available_host() {
        if host_need > avail {
            return Err(Error::invalid(
                "configuration",
                format!(
                    "this run needs about {} of memory but {} is available ({}); {HINT}",
                    gib(host_need),
                    gib(avail),
                    describe(&e)
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
                    describe(&e)
                ),
            ));
        }
    }
    Ok(())
}
