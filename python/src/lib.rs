//! `convexgan._convexgan`: the Rust sampler for Python. The imbalanced-learn conventions
//! (label encoding, `sampling_strategy`, `random_state`) live in `convexgan/sampler.py`; this
//! module fits, draws, saves and loads, with the GIL released while it computes and the crate's
//! errors raised as `ConvexGANError` with the crate's own messages.

use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::prelude::*;

use convexgan::backend::Cpu;
use convexgan::data::arrays::MatrixRef;
use convexgan::sampler::{self, SamplerOptions};

create_exception!(
    _convexgan,
    ConvexGANError,
    pyo3::exceptions::PyValueError,
    "An error of the convexgan crate (bad input, a failed fit, a damaged file), with its message."
);

fn raise(e: convexgan::Error) -> PyErr {
    ConvexGANError::new_err(e.to_string())
}

/// Runs `$body` with `$be` bound to the backend `$device` names.
macro_rules! on_device {
    ($device:expr, |$be:ident| $body:expr) => {{
        match Device::parse($device)? {
            Device::Cpu => {
                let $be = Cpu::<f32>::new();
                $body
            }
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) => {
                let $be = convexgan::backend::cuda::CudaBackend::new(ordinal)?;
                $body
            }
        }
    }};
}

enum Device {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

impl Device {
    fn parse(s: &str) -> convexgan::Result<Self> {
        let bad = || {
            convexgan::Error::invalid(
                "device",
                format!("'{s}'; expected 'cpu', 'cuda' or 'cuda:N'"),
            )
        };
        match s {
            "cpu" => Ok(Device::Cpu),
            _ if s == "cuda" || s.starts_with("cuda:") => {
                let ordinal = match s.strip_prefix("cuda:") {
                    Some(n) => n.parse().map_err(|_| bad())?,
                    None => 0,
                };
                Self::cuda(ordinal)
            }
            _ => Err(bad()),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda(ordinal: usize) -> convexgan::Result<Self> {
        Ok(Device::Cuda(ordinal))
    }

    #[cfg(not(feature = "cuda"))]
    fn cuda(_ordinal: usize) -> convexgan::Result<Self> {
        Err(convexgan::Error::Cuda(
            "this build has no CUDA backend; rebuild with `maturin build --features cuda`".into(),
        ))
    }
}

/// Rows and their labels, as NumPy arrays.
type Labelled<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<u32>>);

/// A fitted sampler (host memory only: it is put on a device for each draw).
#[pyclass(frozen, module = "convexgan._convexgan")]
struct FittedSampler {
    inner: sampler::FittedSampler,
}

fn matrix<'py>(
    py: Python<'py>,
    m: convexgan::data::arrays::Matrix,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    PyArray1::from_vec(py, m.data).reshape([m.rows, m.cols])
}

#[pymethods]
impl FittedSampler {
    /// The labels the sampler was fitted on (ascending class codes).
    #[getter]
    fn labels(&self) -> Vec<u32> {
        self.inner.labels.clone()
    }

    /// Training rows of each class, in `labels` order.
    #[getter]
    fn counts(&self) -> Vec<usize> {
        self.inner.counts.clone()
    }

    /// Rows combined per synthetic row.
    #[getter]
    fn ns(&self) -> usize {
        self.inner.ns
    }

    /// Feature columns.
    #[getter]
    fn n_features(&self) -> usize {
        self.inner.dim
    }

    /// The options of the fit, as JSON.
    #[getter]
    fn options_json(&self) -> String {
        serde_json::to_string(&self.inner.options).expect("plain data serialises")
    }

    /// The mean losses of each epoch of each stage, as JSON.
    #[getter]
    fn logs_json(&self) -> String {
        serde_json::to_string(&self.inner.logs).expect("plain data serialises")
    }

    /// Synthetic rows for `plan` (`[(label, count), ...]`) from the fit's seed: `(x, y)`.
    #[pyo3(signature = (plan, device = "cpu"))]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        plan: Vec<(u32, usize)>,
        device: &str,
    ) -> PyResult<Labelled<'py>> {
        let (x, y) = py
            .allow_threads(|| on_device!(device, |be| self.inner.generate(&be, &plan)))
            .map_err(raise)?;
        Ok((matrix(py, x)?, PyArray1::from_vec(py, y)))
    }

    /// `n` rows of class `label`, drawn from `seed`.
    #[pyo3(signature = (label, n, seed, device = "cpu"))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        label: u32,
        n: usize,
        seed: u64,
        device: &str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = py
            .allow_threads(|| {
                on_device!(device, |be| {
                    let mut rng = convexgan::train::stage_rng(seed, sampler::fit::STREAM_SAMPLE);
                    self.inner.on(&be)?.sample(label, n, &mut rng)
                })
            })
            .map_err(raise)?;
        matrix(py, x)
    }

    /// Writes the sampler to `path` (atomically).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.allow_threads(|| self.inner.save(&path)).map_err(raise)
    }

    /// A sampler written by `save` (or `convexgan resample --save-sampler`).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = py
            .allow_threads(|| sampler::FittedSampler::load(&path))
            .map_err(raise)?;
        Ok(FittedSampler { inner })
    }
}

/// Fits a sampler on `x` (C-contiguous float32, read in place) and `y` (uint32 class codes)
/// with the options given as JSON (the crate's `SamplerOptions` fields).
#[pyfunction]
#[pyo3(signature = (x, y, options_json, device = "cpu", progress = false))]
fn fit(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f32>,
    y: PyReadonlyArray1<'_, u32>,
    options_json: &str,
    device: &str,
    progress: bool,
) -> PyResult<FittedSampler> {
    let options: SamplerOptions = serde_json::from_str(options_json)
        .map_err(|e| ConvexGANError::new_err(format!("invalid sampler options: {e}")))?;
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    let data = x.as_slice().map_err(|_| {
        ConvexGANError::new_err("x must be a C-contiguous float32 array (np.ascontiguousarray)")
    })?;
    let labels = y
        .as_slice()
        .map_err(|_| ConvexGANError::new_err("y must be a contiguous uint32 array"))?;
    let view = MatrixRef { data, rows, cols };
    let inner = py
        .allow_threads(|| {
            on_device!(device, |be| sampler::fit(
                &be, view, labels, &options, progress
            ))
        })
        .map_err(raise)?;
    Ok(FittedSampler { inner })
}

/// The default options, as JSON.
#[pyfunction]
fn default_options_json() -> String {
    serde_json::to_string(&SamplerOptions::default()).expect("plain data serialises")
}

#[pymodule]
fn _convexgan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    convexgan::backend::cpu::use_all_cores();
    m.add_class::<FittedSampler>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(default_options_json, m)?)?;
    m.add("ConvexGANError", m.py().get_type::<ConvexGANError>())?;
    Ok(())
}
