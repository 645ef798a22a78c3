use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::{SafeTensorError, SafeTensors};

use crate::atomic_write::write_atomic;
use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};

/// A host-side tensor: shape and f32 values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Named f32 tensors plus string metadata, saved to and loaded from safetensors.
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

    /// Atomic write (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let view =
                    TensorView::new(Dtype::F32, t.shape.clone(), bytemuck::cast_slice(&t.data))
                        .map_err(|e| {
                            Error::invalid("parameter store", format!("tensor '{name}': {e}"))
                        })?;
                Ok((name.clone(), view))
            })
            .collect::<Result<_>>()?;
        let meta: std::collections::HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let bytes = safetensors::serialize(views, &Some(meta))
            .map_err(|e| Error::bad_file(path, format!("cannot serialise: {e}")))?;
        write_atomic(path, &bytes)
    }

    /// Loads every tensor; f32 only, finite values only (a NaN or Inf is named in the error).
    pub fn load(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::bad_file(
                path,
                "is a directory, expected a safetensors file",
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// [`load`](Self::load) on the bytes of a file already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::bad_file(path, safetensors_problem(&e)))?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::bad_file(path, safetensors_problem(&e)))?;
        let mut store = ParamStore {
            source: Some(path.to_path_buf()),
            ..ParamStore::default()
        };
        if let Some(meta) = header.metadata() {
            store.metadata = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::bad_file(
                    path,
                    format!("tensor '{name}' has dtype {:?}, expected F32", view.dtype()),
                ));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(Error::bad_file(
                    path,
                    format!("tensor '{name}' holds a non-finite value at element {i}"),
                ));
            }
            store.put(&name, view.shape().to_vec(), data);
        }
        Ok(store)
    }
}

/// What a safetensors parse error means for the user; the crate's own messages are its variant
/// names.
pub(crate) fn safetensors_problem(e: &SafeTensorError) -> String {
    use SafeTensorError as E;
    let what = match e {
        E::HeaderTooSmall => "shorter than the 8-byte header length: empty or cut".to_string(),
        E::HeaderTooLarge | E::InvalidHeaderLength => {
            "its header length is larger than the file: cut, or another format".to_string()
        }
        E::InvalidHeader | E::InvalidHeaderStart | E::InvalidHeaderDeserialization => {
            "its header is not the JSON a safetensors file starts with".to_string()
        }
        E::MetadataIncompleteBuffer => {
            "the tensors the header describes do not fill the file: cut or padded".to_string()
        }
        E::InvalidOffset(name) => format!("the offsets of tensor '{name}' are invalid"),
        E::TensorInvalidInfo | E::ValidationOverflow | E::InvalidTensorView(..) => {
            format!("a tensor's dtype, shape and offsets disagree ({e:?})")
        }
        other => format!("{other:?}"),
    };
    format!("not a valid safetensors file: {what}")
}
