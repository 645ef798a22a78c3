use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
use crate::internal::io::tensor_file::{read_bytes, TensorReader, TensorWriter};

/// A host-side f32 tensor: its shape and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The extent of each axis, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub data: Vec<f32>,
}

/// Named f32 tensors plus string metadata: the networks' weights on the host, saved to and loaded
/// from a tensor file (safetensors with string metadata: the Phase 1 and Phase 2 weight files and
/// the checkpoints). Filled by [`Mlp::export`](super::Mlp::export) and read by
/// [`Mlp::import`](super::Mlp::import).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamStore {
    /// The tensors by name (`{network}.{layer}.weight`, …), in name order.
    pub tensors: BTreeMap<String, HostTensor>,
    /// The file's string metadata (`__metadata__` in safetensors), by key.
    pub metadata: BTreeMap<String, String>,
    /// The file this store was loaded from, named in lookup errors.
    pub source: Option<std::path::PathBuf>,
}

impl ParamStore {
    /// An empty store with no source file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `data` (row-major, `shape.iter().product()` values; not checked) as `name`,
    /// replacing any tensor of that name.
    pub fn put(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors
            .insert(name.to_string(), HostTensor { shape, data });
    }

    /// Downloads `t` as a `[rows, cols]` f32 tensor named `name` (an f64 backend's values are
    /// rounded to f32), replacing any tensor of that name. Fails only if the download fails.
    pub fn put_tensor<B: Backend>(&mut self, be: &B, name: &str, t: &Tensor<B>) -> Result<()> {
        let data = be.download_f32(t)?;
        self.put(name, vec![t.rows(), t.cols()], data);
        Ok(())
    }

    /// The tensor `name`, which must have exactly `shape`; a missing name or another shape is an
    /// error naming the tensor (and the [`source`](Self::source) file when there is one).
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&HostTensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| self.error(format!("missing tensor '{name}'")))?;
        if t.shape != shape {
            return Err(self.error(format!(
                "tensor '{name}' has shape {:?}, expected {:?}",
                t.shape, shape
            )));
        }
        Ok(t)
    }

    fn error(&self, msg: String) -> Error {
        match &self.source {
            Some(path) => Error::bad_file(path, msg),
            None => Error::invalid("parameter store", msg),
        }
    }

    /// The tensor `name` uploaded to `be` as `rows × cols`, converted from f32 to the backend's
    /// element type. Errors as [`get`](Self::get) (the stored shape must be `[rows, cols]`), or
    /// when the upload fails.
    pub fn get_tensor<B: Backend>(
        &self,
        be: &B,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Tensor<B>> {
        let t = self.get(name, &[rows, cols])?;
        be.upload_f32(&t.data, rows, cols)
    }

    /// The store's tensors and metadata, ready to write (more metadata may be added first).
    pub(crate) fn writer(&self) -> TensorWriter<'_> {
        let mut w = TensorWriter::new();
        for (name, t) in &self.tensors {
            w.put(name, t.shape.clone(), &t.data);
        }
        w.metadata = self.metadata.clone();
        w
    }

    /// Writes every tensor and the metadata to `path` as safetensors, atomically (temporary file,
    /// then rename), with the header's keys sorted so the same store always gives the same
    /// bytes. An error when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.writer().write(path)
    }

    /// Loads every tensor and the metadata of the safetensors file at `path`, remembering `path`
    /// as [`source`](Self::source). An error when the file cannot be read or parsed, when a
    /// tensor is not f32, or when a value is NaN or Inf (the tensor is named in the error).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_bytes(path, "a safetensors file")?;
        Self::from_bytes(path, &bytes)
    }

    /// [`load`](Self::load) on the bytes of a file already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut file = TensorReader::parse(path, bytes)?;
        Ok(ParamStore {
            tensors: file.all_f32()?,
            metadata: file.take_metadata(),
            source: Some(path.to_path_buf()),
        })
    }
}
