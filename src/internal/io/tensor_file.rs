//! Tensor files: named tensors plus string metadata in one safetensors file, the format of every
//! tensor file the crate writes. [`TensorWriter`] collects borrowed tensors and writes them
//! atomically; [`TensorReader`] reads one file's bytes with shape, dtype and finiteness checks whose
//! errors name the file and the tensor.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use safetensors::tensor::Dtype;
use safetensors::tensor::TensorView;
use safetensors::{SafeTensorError, SafeTensors};

use super::atomic;
use crate::error::{Error, Result};
pub use crate::nn::HostTensor;

/// A value type a tensor file stores, little-endian.
pub trait Element: bytemuck::Pod {
    const DTYPE: Dtype;
    /// Whether a value is finite (always, for integers).
    fn is_finite(&self) -> bool {
        true
    }
}

macro_rules! element {
    ($($t:ty => $d:ident),* ; $($f:ty => $fd:ident),*) => {
        $(impl Element for $t { const DTYPE: Dtype = Dtype::$d; })*
        $(impl Element for $f {
            const DTYPE: Dtype = Dtype::$fd;
            fn is_finite(&self) -> bool { <$f>::is_finite(*self) }
        })*
    };
}
element!(u8 => U8, u16 => U16, u32 => U32, u64 => U64; f32 => F32, f64 => F64, half::bf16 => BF16, half::f16 => F16);

/// Tensors and metadata to write; the tensors are borrowed from the caller.
#[derive(Default)]
pub struct TensorWriter<'a> {
    tensors: Vec<(String, Dtype, Vec<usize>, &'a [u8])>,
    pub metadata: BTreeMap<String, String>,
}

impl<'a> TensorWriter<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tensor `name` of `shape` holding `data`.
    pub fn put<T: Element>(&mut self, name: &str, shape: Vec<usize>, data: &'a [T]) -> &mut Self {
        self.put_raw(name, T::DTYPE, shape, bytemuck::cast_slice(data))
    }

    /// Adds a tensor given as little-endian bytes of `dtype`.
    pub fn put_raw(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: Vec<usize>,
        bytes: &'a [u8],
    ) -> &mut Self {
        self.tensors.push((name.to_string(), dtype, shape, bytes));
        self
    }

    pub fn meta(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// The file's bytes; `path` names it in errors.
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::bad_file(path, format!("tensor '{name}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let bytes = safetensors::serialize(views, &Some(meta))
            .map_err(|e| Error::bad_file(path, format!("cannot serialise: {e}")))?;
        Ok(sorted_header(bytes))
    }

    /// Atomic write (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        atomic::write(path, &self.to_bytes(path)?)
    }
}

/// `bytes` (a safetensors file) with its header's keys sorted, so that the same tensors and
/// metadata always give the same bytes: safetensors writes the metadata from a `HashMap`, whose
/// order changes from one process to the next. The sorted header has the same length (the same
/// keys and values), so the tensors' offsets are unchanged; if it ever were longer, the file is
/// returned as it was.
fn sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(n) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + n) else {
        return bytes;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return bytes;
    };
    // Written by hand, key by key: serde_json's own map keeps insertion order when a dependency
    // enables its `preserve_order` feature.
    let mut json = Vec::with_capacity(n);
    write_sorted(&value, &mut json);
    if json.len() > n {
        return bytes;
    }
    json.resize(n, b' ');
    bytes[8..8 + n].copy_from_slice(&json);
    bytes
}

fn write_sorted(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::Object(m) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = m.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("strings serialise"));
                out.push(b':');
                write_sorted(v, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(v, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).expect("JSON values serialise")),
    }
}

/// The bytes of the tensor file at `path`; a directory is refused as not a `what`.
pub fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    super::read::read_regular(path, what, super::read::MAX_TENSOR_FILE_BYTES)
}

/// One tensor file's contents, parsed from bytes in memory.
pub struct TensorReader<'a> {
    path: PathBuf,
    st: SafeTensors<'a>,
    metadata: BTreeMap<String, String>,
    has_metadata: bool,
}

/// One tensor of a [`TensorReader`].
pub struct TensorRef<'r> {
    path: &'r Path,
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: &'r [u8],
}

impl<'a> TensorReader<'a> {
    /// Parses `bytes`; `path` names the file in errors.
    pub fn parse(path: &Path, bytes: &'a [u8]) -> Result<Self> {
        let bad = |e: SafeTensorError| Error::bad_file(path, safetensors_problem(&e));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(bad)?;
        let st = SafeTensors::deserialize(bytes).map_err(bad)?;
        let has_metadata = header.metadata().is_some();
        let metadata = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(TensorReader {
            path: path.to_path_buf(),
            st,
            metadata,
            has_metadata,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this file.
    pub fn error(&self, msg: impl Into<String>) -> Error {
        Error::bad_file(&self.path, msg)
    }

    /// Whether the header has a metadata section at all (an empty one counts).
    pub fn has_metadata(&self) -> bool {
        self.has_metadata
    }

    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The metadata, taken out of the reader.
    pub fn take_metadata(&mut self) -> BTreeMap<String, String> {
        std::mem::take(&mut self.metadata)
    }

    /// The tensor `name`, when the file has it.
    pub fn get(&self, name: &str) -> Option<TensorRef<'_>> {
        let v = self.st.tensor(name).ok()?;
        Some(TensorRef {
            path: &self.path,
            name: name.to_string(),
            dtype: v.dtype(),
            shape: v.shape().to_vec(),
            bytes: v.data(),
        })
    }

    /// The tensor `name`; an error `missing tensor 'name'` when the file lacks it.
    pub fn require(&self, name: &str) -> Result<TensorRef<'_>> {
        self.get(name)
            .ok_or_else(|| self.error(format!("missing tensor '{name}'")))
    }

    /// Every tensor as f32, each checked for dtype F32 and finite values.
    pub fn all_f32(&self) -> Result<BTreeMap<String, HostTensor>> {
        self.all_f32_except(&[])
    }

    /// [`all_f32`](Self::all_f32) but for the tensors named in `skip`.
    pub fn all_f32_except(&self, skip: &[&str]) -> Result<BTreeMap<String, HostTensor>> {
        let mut names: Vec<String> = self
            .st
            .names()
            .into_iter()
            .filter(|n| !skip.contains(&n.as_str()))
            .cloned()
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let t = self.require(&name)?;
                let data = t.to_finite_vec::<f32>()?;
                Ok((
                    name,
                    HostTensor {
                        shape: t.shape,
                        data,
                    },
                ))
            })
            .collect()
    }
}

impl TensorRef<'_> {
    fn error(&self, msg: String) -> Error {
        Error::bad_file(self.path, msg)
    }

    /// Refuses any other shape; `None` in `want` accepts any size in that dimension.
    pub fn expect_shape(&self, want: &[Option<usize>]) -> Result<&Self> {
        let fits = self.shape.len() == want.len()
            && self
                .shape
                .iter()
                .zip(want)
                .all(|(&s, w)| w.is_none_or(|w| w == s));
        if !fits {
            let show: Vec<String> = want
                .iter()
                .map(|w| w.map_or("_".to_string(), |w| w.to_string()))
                .collect();
            return Err(self.error(format!(
                "tensor '{}' has shape {:?}, expected [{}]",
                self.name,
                self.shape,
                show.join(", ")
            )));
        }
        Ok(self)
    }

    /// Refuses another dtype than `T`'s, naming what was expected.
    pub fn expect_dtype<T: Element>(&self) -> Result<&Self> {
        if self.dtype != T::DTYPE {
            return Err(self.error(format!(
                "tensor '{}' has dtype {:?}, expected {:?}",
                self.name,
                self.dtype,
                T::DTYPE
            )));
        }
        Ok(self)
    }

    /// The values, which must be of `T`'s dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.expect_dtype::<T>()?;
        // The bytes of a safetensors file need not be aligned for `T`: copied, not cast.
        let size = std::mem::size_of::<T>();
        if !self.bytes.len().is_multiple_of(size) {
            return Err(self.error(format!(
                "tensor '{}' holds {} bytes, not a whole number of {:?} values",
                self.name,
                self.bytes.len(),
                T::DTYPE
            )));
        }
        let mut v = vec![T::zeroed(); self.bytes.len() / size];
        bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(self.bytes);
        Ok(v)
    }

    /// [`to_vec`](Self::to_vec), refusing a NaN or an infinity (named by its position).
    pub fn to_finite_vec<T: Element>(&self) -> Result<Vec<T>> {
        let v = self.to_vec::<T>()?;
        self.check_finite(&v)?;
        Ok(v)
    }

    /// Refuses a NaN or an infinity among `values` (this tensor's), naming its row and column in
    /// a matrix and its element otherwise.
    pub fn check_finite<T: Element>(&self, values: &[T]) -> Result<()> {
        let Some(i) = values.iter().position(|x| !x.is_finite()) else {
            return Ok(());
        };
        let at = match self.shape[..] {
            [_, cols] if cols > 0 => format!("row {}, column {}", i / cols, i % cols),
            _ => format!("element {i}"),
        };
        Err(self.error(format!(
            "tensor '{}' holds a non-finite value at {at}",
            self.name
        )))
    }
}

/// What a safetensors parse error means for the user; the crate's own messages are its variant
/// names.
fn safetensors_problem(e: &SafeTensorError) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_contents_give_the_same_bytes() {
        // HashMap order differs between maps: build the same metadata many times over.
        let data = [1.0f32, 2.0, 3.0];
        let files: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                let mut w = TensorWriter::new();
                w.put("b", vec![3], &data).put("a", vec![1, 3], &data);
                for k in 0..12 {
                    w.meta(&format!("key{k}"), format!("value {k}"));
                }
                w.to_bytes(Path::new("x.safetensors")).unwrap()
            })
            .collect();
        assert!(files.windows(2).all(|w| w[0] == w[1]));
        let r = TensorReader::parse(Path::new("x"), &files[0]).unwrap();
        assert_eq!(r.metadata()["key7"], "value 7");
        assert_eq!(r.require("a").unwrap().to_vec::<f32>().unwrap(), data);
    }

    use super::*;

    #[test]
    fn round_trip_with_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let x = [1.0f32, 2.0, 3.0, f32::NAN];
        let ids = [7u32, 8];
        let mut w = TensorWriter::new();
        w.put("x", vec![2, 2], &x)
            .put("ids", vec![2], &ids)
            .meta("k", "v");
        w.write(&path).unwrap();
        let bytes = read_bytes(&path, "a test file").unwrap();
        let r = TensorReader::parse(&path, &bytes).unwrap();
        assert_eq!(r.metadata()["k"], "v");
        assert_eq!(r.require("ids").unwrap().to_vec::<u32>().unwrap(), ids);
        let e = r.require("ids").unwrap().to_vec::<f32>().unwrap_err();
        assert!(
            e.to_string().contains("'ids' has dtype U32, expected F32"),
            "{e}"
        );
        let x = r.require("x").unwrap();
        x.expect_shape(&[Some(2), None]).unwrap();
        let e = x.expect_shape(&[Some(3), None]).err().unwrap().to_string();
        assert!(
            e.contains("expected [3, _]") && e.contains("t.safetensors"),
            "{e}"
        );
        let e = x.to_finite_vec::<f32>().unwrap_err().to_string();
        assert!(e.contains("non-finite value at row 1, column 1"), "{e}");
        assert!(r
            .require("y")
            .err()
            .unwrap()
            .to_string()
            .contains("missing tensor 'y'"));
    }
}
