use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
pub use crate::io::tensor_file::HostTensor;
use crate::io::tensor_file::{read_bytes, TensorReader, TensorWriter};

/// Named f32 tensors plus string metadata: the networks' weights on the host, saved to and loaded
/// from a [tensor file](crate::io::tensor_file).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamStore {
    pub tensors: BTreeMap<String, HostTensor>,
    pub metadata: BTreeMap<String, String>,
    /// The file this store was loaded from, named in lookup errors.
    pub source: Option<std::path::PathBuf>,
}

impl ParamStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors
            .insert(name.to_string(), HostTensor { shape, data });
    }

    pub fn put_tensor<B: Backend>(&mut self, be: &B, name: &str, t: &Tensor<B>) -> Result<()> {
        let data = be.download_f32(t)?;
        self.put(name, vec![t.rows(), t.cols()], data);
        Ok(())
    }

    /// The tensor `name`, which must have `shape`.
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
    pub fn writer(&self) -> TensorWriter<'_> {
        let mut w = TensorWriter::new();
        for (name, t) in &self.tensors {
            w.put(name, t.shape.clone(), &t.data);
        }
        w.metadata = self.metadata.clone();
        w
    }

    /// Atomic write (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.writer().write(path)
    }

    /// Loads every tensor; f32 only, finite values only (a NaN or Inf is named in the error).
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
