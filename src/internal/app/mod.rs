//! What the command line does, as library functions generic over the backend, so the integration
//! tests drive exactly the code users run. Each stage reads its inputs from the [`RunDir`] and
//! writes its outputs there atomically; [`Overrides`] are the flags that replace configuration
//! values.

mod ablate;
mod commit;
mod compare;
mod manifest;
mod overrides;
mod own_features;
mod run_dir;
mod stages;

use std::path::Path;
use std::time::Instant;

pub use ablate::{ablate, AblationRow, Study, ABLATE_NS_PLOT_FILE, PAPER_NS};
pub use commit::{RunLock, StagedOutputs, JOURNAL_FILE};
pub use compare::{compare, CompareRow};
pub use manifest::{verify, Manifest, MANIFEST_FILE};
pub use overrides::Overrides;
pub use own_features::{predict, resample, sample, ResampleJob};
pub use run_dir::*;
pub use stages::{build_dict, eval, phase1, phase2, RunMetrics};

use crate::backend::Backend;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::internal::memory::DataShape;
use crate::model::{Heads, HeadsSpec};
use crate::nn::ParamStore;
use crate::train::pipeline::Data;
use crate::train::{stage_rng, STREAM_INIT};

/// [`memory::check`](crate::internal::memory::check) of a Fashion-MNIST run, before its data is loaded,
/// naming the file the configuration came from. A features run is checked once its file is read
/// ([`check_memory_of`]), since only the file knows its sizes.
fn check_memory<B: Backend>(be: &B, cfg: &Config, source: Option<&Path>) -> Result<()> {
    if cfg.data.features.is_some() {
        return Ok(());
    }
    crate::internal::memory::check(be, cfg).map_err(|e| name_source(e, source))
}

/// The memory check of a features run on the data read from its file (a Fashion-MNIST run was
/// checked before loading).
fn check_memory_of<B: Backend>(
    be: &B,
    cfg: &Config,
    source: Option<&Path>,
    data: &Data,
) -> Result<()> {
    if cfg.data.features.is_none() {
        return Ok(());
    }
    let shape = DataShape::of_split(
        &data.split.train,
        data.split.val.n,
        data.test.n,
        data.d_in_s,
    );
    crate::internal::memory::check_for(be, cfg, &shape).map_err(|e| name_source(e, source))
}

/// The memory check of Phase 2 alone on a features run, from its dictionaries.
fn check_memory_of_dictionaries<B: Backend>(
    be: &B,
    cfg: &Config,
    source: Option<&Path>,
    counts: &[usize],
) -> Result<()> {
    if cfg.data.features.is_none() {
        return Ok(());
    }
    crate::internal::memory::check_for(be, cfg, &DataShape::dictionaries_only(counts))
        .map_err(|e| name_source(e, source))
}

fn name_source(e: Error, source: Option<&Path>) -> Error {
    match source {
        Some(p) => Error::bad_file(p, e.to_string()),
        None => e,
    }
}

/// The Phase 1 heads of a run directory; their input width and class count come from the
/// checkpoint's metadata and must match `expect` (the data's) when given.
fn load_heads<B: Backend>(
    be: &B,
    cfg: &Config,
    run_dir: &RunDir,
    expect: Option<&HeadsSpec>,
) -> Result<Heads<B>> {
    let path = run_dir.phase1();
    let store = ParamStore::load(&path)?;
    heads_from_store(be, cfg, &path, &store, expect)
}

/// The heads a Phase 1 file (`path`, given as its bytes) describes, as every stage reads
/// `phase1.safetensors`: the metadata checked against the tensors, the heads built from `cfg`'s
/// model and filled with them. Errors name `path`.
pub fn phase1_heads_from_bytes<B: Backend>(
    be: &B,
    cfg: &Config,
    path: &Path,
    bytes: &[u8],
) -> Result<Heads<B>> {
    let store = ParamStore::from_bytes(path, bytes)?;
    heads_from_store(be, cfg, path, &store, None)
}

fn heads_from_store<B: Backend>(
    be: &B,
    cfg: &Config,
    path: &Path,
    store: &ParamStore,
    expect: Option<&HeadsSpec>,
) -> Result<Heads<B>> {
    let path = path.to_path_buf();
    let meta = |k: &str| -> Result<Option<usize>> {
        match store.metadata.get(k) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::bad_file(&path, format!("metadata '{k}' is not a number: '{v}'"))
            }),
        }
    };
    let need = |k: &str| -> Result<usize> {
        meta(k)?.ok_or_else(|| Error::bad_file(&path, format!("metadata '{k}' missing")))
    };
    let d_in = need("d_in")?;
    let d_in_s = meta("d_in_s")?;
    let spec = HeadsSpec {
        d_in_t: d_in - d_in_s.unwrap_or(0).min(d_in),
        d_in_s,
        classes: need("classes")?,
        landmarks: meta("landmarks")?.unwrap_or(0),
    };
    check_metadata_against_tensors(&path, store, cfg, &spec)?;
    if let Some(e) = expect {
        if (e.d_in_t, e.d_in_s, e.classes) != (spec.d_in_t, spec.d_in_s, spec.classes) {
            return Err(Error::bad_file(
                &path,
                format!(
                    "heads were trained on {d_in} inputs ({:?} from a second backbone) and {} classes, the data has {} ({:?}) and {}",
                    spec.d_in_s, spec.classes, e.d_in_t + e.d_in_s.unwrap_or(0), e.d_in_s, e.classes
                ),
            ));
        }
    }
    let mut rng = stage_rng(cfg.seed, STREAM_INIT);
    let mut heads = Heads::from_spec(be, &cfg.model, &spec, &mut rng)?;
    heads.import(be, store)?;
    Ok(heads)
}

/// The metadata of a Phase 1 file sizes the heads built to receive its tensors, so it is checked
/// against the tensors themselves first: a hostile `d_in`, `classes` or `landmarks` would otherwise
/// ask for an allocation the machine cannot make (or a 0-wide layer) before any shape is compared.
fn check_metadata_against_tensors(
    path: &Path,
    store: &ParamStore,
    cfg: &Config,
    spec: &HeadsSpec,
) -> Result<()> {
    let w0 = cfg.model.stream_widths.first().copied().unwrap_or(0);
    let shape = |name: &str| store.tensors.get(name).map(|t| t.shape.clone());
    let expect = |key: &str, name: &str, want: Vec<usize>| -> Result<()> {
        match shape(name) {
            Some(s) if s == want => Ok(()),
            Some(s) => Err(Error::bad_file(
                path,
                format!("metadata '{key}' gives tensor '{name}' the shape {want:?}, but it has shape {s:?}"),
            )),
            None => Err(Error::bad_file(path, format!("missing tensor '{name}'"))),
        }
    };
    if spec.d_in_t == 0 {
        return Err(Error::bad_file(
            path,
            "metadata 'd_in' leaves 0 inputs for the texture stream",
        ));
    }
    expect("d_in", "f_t.0.weight", vec![spec.d_in_t, w0])?;
    expect(
        "d_in_s",
        "f_s.0.weight",
        vec![spec.d_in_s.unwrap_or(spec.d_in_t), w0],
    )?;
    expect("classes", "a.0.bias", vec![1, spec.classes])?;
    match (spec.landmarks, shape("ldm_vis.0.bias")) {
        (0, None) => Ok(()),
        (0, Some(s)) => Err(Error::bad_file(
            path,
            format!("holds a landmark module ({s:?}) but metadata 'landmarks' is missing or 0"),
        )),
        (k, None) => Err(Error::bad_file(
            path,
            format!("metadata 'landmarks' says {k}, but the file holds no landmark module (missing tensor 'ldm_vis.0.bias')"),
        )),
        (k, Some(_)) => expect("landmarks", "ldm_vis.0.bias", vec![1, k]),
    }
}

/// The Phase 1 heads of a run directory (with its landmark module, when it has one), for callers
/// that want to look at what Phase 1 learned.
pub fn load_phase1_heads<B: Backend>(be: &B, run_dir: &RunDir) -> Result<Heads<B>> {
    let cfg = Overrides::default().saved_config(run_dir)?;
    load_heads(be, &cfg, run_dir, None)
}

/// The main job: every stage in sequence.
pub fn run<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    run_stages(be, run_dir, o).map_err(commit::unstage)
}

fn run_stages<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    let t = Instant::now();
    let lock = run_dir.lock()?;
    let later = o.for_later_stages();
    if o.resume && (o.preset.is_some() || o.config.is_some()) {
        // A resumed run continues from the run directory's configuration; a preset or a file
        // given now would be silently ignored (or, if applied, break the checkpoint's identity).
        return Err(Error::invalid(
            "--resume",
            "continues with the run directory's config.toml; --preset and --config cannot change it              (start a new run directory to use them)",
        ));
    }
    if o.resume && run_dir.phase2_checkpoint().exists() {
        eprintln!("resuming: Phase 1 and the dictionary are taken from the run directory");
    } else {
        stages::phase1_in(be, &lock, o)?;
        stages::build_dict_in(be, &lock, &later)?;
    }
    stages::phase2_in(be, &lock, &later)?;
    stages::eval_in(be, &lock, &later)?;
    eprintln!("total {:.1}s on {}", t.elapsed().as_secs_f64(), be.name());
    Ok(())
}
