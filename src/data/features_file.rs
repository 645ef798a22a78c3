//! Backbone features on disk, as `convexgan extract` writes them: one safetensors file holding the
//! pooled backbone vectors of every image with its label, partition and landmarks, and in the
//! metadata the image ids and where the vectors came from. The pipeline trains on such a file as it
//! does on Fashion-MNIST's pixels.

use std::collections::BTreeMap;
use std::path::Path;

use super::fmnist::Dataset;
use super::landmarks::Landmarks;
use crate::error::{Error, Result};
use crate::internal::io::tensor_file::{read_bytes, TensorReader, TensorWriter};

/// Value of the `format` metadata key; [`FeatureSet::load`] refuses a file without it or with
/// another value.
pub const FORMAT: &str = "convexgan-features-1";

/// Largest class count a features file may declare (DeepFashion has 50, DeepFashion2 13).
pub const MAX_CLASSES: usize = 1 << 16;

/// The `info` key of the class names, a JSON list with one name per class, in label order, where
/// the data set has names (DeepFashion2); reports fall back to "category N" without it.
pub(crate) const CLASS_NAMES_KEY: &str = "class_names";

/// The train / val / test partition of an image (DeepFashion's `list_eval_partition.txt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training images; stored as 0.
    Train = 0,
    /// Validation images; stored as 1.
    Val = 1,
    /// Test images, used only for the final metrics; stored as 2.
    Test = 2,
}

/// Everything `extract` produces, in memory: `n` images, one row of each field per image, in the
/// order of the partition file.
///
/// On disk (safetensors, every tensor f32): `x [n, dim]`, `labels [n]`, `split [n]` (0, 1, 2) and,
/// with landmarks, `landmarks_xy [n, 2k]` and `landmarks_visible [n, k]`; the metadata holds
/// `format`, `classes`, `d_in_t`, `d_in_s` (two backbones only), `image_ids` (a JSON list) and the
/// entries of `info`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureSet {
    /// `n × (d_in_t + d_in_s)` when two backbones fed the streams, else `n × d_in_t`; row-major,
    /// pooled backbone output (METHOD.md §1), the texture backbone's values first.
    pub x: Vec<f32>,
    /// Width of the texture backbone's vector (the only backbone's when there is one).
    pub d_in_t: usize,
    /// Width of the shape backbone's vector when it is a second model.
    pub d_in_s: Option<usize>,
    /// 0-based class of each image, below `classes`.
    pub labels: Vec<u32>,
    /// Number of classes `N_C` (DeepFashion: 50), at most [`MAX_CLASSES`]; a class may have no
    /// image.
    pub classes: usize,
    /// Partition of each image.
    pub split: Vec<Split>,
    /// Landmark targets already on the heatmap grid, when the data set has them (DeepFashion: 8
    /// per image).
    pub landmarks: Option<Landmarks>,
    /// Identifier of each image (DeepFashion: its path relative to the benchmark's root).
    pub image_ids: Vec<String>,
    /// Provenance: backbone files and outputs, pool size, image size, data root.
    pub info: BTreeMap<String, String>,
}

impl FeatureSet {
    /// Number of images.
    pub fn n(&self) -> usize {
        self.labels.len()
    }
    /// Width of a row of `x`: `d_in_t + d_in_s`.
    pub fn dim(&self) -> usize {
        self.d_in_t + self.d_in_s.unwrap_or(0)
    }

    /// Writes the set to `path` as a safetensors file, atomically (a temporary file, then a
    /// rename); [`FeatureSet::load`] reads it back. Labels and partitions are stored as f32, exact
    /// for these small integers.
    ///
    /// # Errors
    /// [`Error::BadFile`] if a tensor's length disagrees with its shape (say `x` is not `n × dim`),
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.n();
        // Small integers are exact in f32, and one dtype keeps every tensor of the file f32.
        let labels: Vec<f32> = self.labels.iter().map(|&c| c as f32).collect();
        let split: Vec<f32> = self.split.iter().map(|&s| s as u8 as f32).collect();
        let mut file = TensorWriter::new();
        file.put("x", vec![n, self.dim()], &self.x)
            .put("labels", vec![n], &labels)
            .put("split", vec![n], &split);
        if let Some(l) = &self.landmarks {
            file.put("landmarks_xy", vec![n, 2 * l.k], &l.xy).put(
                "landmarks_visible",
                vec![n, l.k],
                &l.visible,
            );
        }
        let m = &mut file.metadata;
        m.extend(self.info.clone());
        m.insert("format".into(), FORMAT.into());
        m.insert("classes".into(), self.classes.to_string());
        m.insert("d_in_t".into(), self.d_in_t.to_string());
        if let Some(d) = self.d_in_s {
            m.insert("d_in_s".into(), d.to_string());
        }
        m.insert(
            "image_ids".into(),
            serde_json::to_string(&self.image_ids).expect("strings serialise"),
        );
        file.write(path)
    }

    /// Loads and checks a features file: every tensor present with the right shape, labels below
    /// the class count, partitions 0–2, finite values; problems are errors naming the file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::BadFile`] naming it if it is not a
    /// safetensors file, lacks a tensor or metadata key, has the wrong `format`, no images, no
    /// classes or more than [`MAX_CLASSES`], a tensor of the wrong shape, a non-finite value, a
    /// label or partition out of range, invalid landmarks, or one image id too many or too few.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(path, &read_bytes(path, "a safetensors file")?)
    }

    /// [`FeatureSet::load`] on the bytes of a file (`path` names it in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let (mut tensors, metadata) = {
            let mut file = TensorReader::parse(path, bytes)?;
            (file.all_f32()?, file.take_metadata())
        };
        let bad = |msg: String| Error::bad_file(path, msg);
        let labels_len = tensors.get("labels").map(|t| t.data.len());
        let visible_k = tensors
            .get("landmarks_visible")
            .map(|v| v.shape.get(1).copied().unwrap_or(0));
        let meta = |k: &str| -> Result<&String> {
            metadata.get(k).ok_or_else(|| {
                bad(format!(
                    "metadata '{k}' missing; not a file written by `convexgan extract`"
                ))
            })
        };
        if meta("format")? != FORMAT {
            return Err(bad(format!("format '{}' is not {FORMAT}", meta("format")?)));
        }
        let num = |k: &str| -> Result<usize> {
            meta(k)?
                .parse()
                .map_err(|_| bad(format!("metadata '{k}' is not a count")))
        };
        let classes = num("classes")?;
        let d_in_t = num("d_in_t")?;
        let d_in_s = match metadata.get("d_in_s") {
            Some(_) => Some(num("d_in_s")?),
            None => None,
        };
        let n = labels_len.ok_or_else(|| bad("missing tensor 'labels'".into()))?;
        let dim = d_in_t + d_in_s.unwrap_or(0);
        if classes == 0 || dim == 0 || n == 0 {
            return Err(bad(format!(
                "empty: {n} images, {classes} classes, width {dim}"
            )));
        }
        // Later stages allocate per class; a class count far above any label is a lying header.
        if classes > MAX_CLASSES {
            return Err(bad(format!(
                "metadata 'classes' is {classes}, more than the {MAX_CLASSES} a features file may hold"
            )));
        }
        // Every tensor is f32 and finite already; these check presence and shape.
        let mut take = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| bad(format!("missing tensor '{name}'")))?;
            if t.shape != shape {
                return Err(bad(format!(
                    "tensor '{name}' has shape {:?}, expected {shape:?}",
                    t.shape
                )));
            }
            Ok(t.data)
        };
        let x = take("x", &[n, dim])?;
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "feature {} of image {} is {}",
                i % dim,
                i / dim,
                x[i]
            )));
        }
        let as_index = |name: &str, v: f32, i: usize, below: usize| -> Result<u32> {
            if v.fract() != 0.0 || v < 0.0 || v as usize >= below {
                return Err(bad(format!(
                    "{name} of image {i} is {v}, not an integer below {below}"
                )));
            }
            Ok(v as u32)
        };
        let labels = take("labels", &[n])?
            .iter()
            .enumerate()
            .map(|(i, &v)| as_index("label", v, i, classes))
            .collect::<Result<Vec<_>>>()?;
        let split = take("split", &[n])?
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                as_index("split", v, i, 3).map(|s| match s {
                    0 => Split::Train,
                    1 => Split::Val,
                    _ => Split::Test,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let landmarks = match visible_k {
            None => None,
            Some(k) => {
                let l = Landmarks {
                    k,
                    xy: take("landmarks_xy", &[n, 2 * k])?,
                    visible: take("landmarks_visible", &[n, k])?,
                };
                l.validate(n).map_err(|e| bad(e.to_string()))?;
                Some(l)
            }
        };
        let image_ids: Vec<String> = serde_json::from_str(meta("image_ids")?)
            .map_err(|e| bad(format!("metadata 'image_ids' is not a list of names: {e}")))?;
        if image_ids.len() != n {
            return Err(bad(format!("{} image ids for {n} images", image_ids.len())));
        }
        let info = metadata
            .iter()
            .filter(|(k, _)| {
                !["format", "classes", "d_in_t", "d_in_s", "image_ids"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(FeatureSet {
            x,
            d_in_t,
            d_in_s,
            labels,
            classes,
            split,
            landmarks,
            image_ids,
            info,
        })
    }

    /// The images of one partition as a [`Dataset`] (with landmarks when the file has them).
    /// Copies only that partition's rows: the full matrix of a DeepFashion extract is gigabytes.
    /// Labels keep the file's numbering and `classes`, even where the partition lacks a class.
    ///
    /// # Errors
    /// Those of [`Dataset::validate`]; possible only for a set built by hand with inconsistent
    /// fields, since [`FeatureSet::load`] checks the same.
    pub fn dataset(&self, which: Split) -> Result<Dataset> {
        let idx: Vec<usize> = (0..self.n()).filter(|&i| self.split[i] == which).collect();
        let dim = self.dim();
        let mut x = Vec::with_capacity(idx.len() * dim);
        for &i in &idx {
            x.extend_from_slice(&self.x[i * dim..(i + 1) * dim]);
        }
        let y = idx.iter().map(|&i| self.labels[i]).collect();
        let mut ds = Dataset::new(x, y, dim, self.classes)?;
        ds.landmarks = self.landmarks.as_ref().map(|l| l.select(&idx));
        ds.validate()?;
        Ok(ds)
    }

    /// A short description of where the vectors came from, for dictionaries and reports:
    /// `onnx:<model>@<output> pool <p>`, with a `+ <model>@<output>` for the shape backbone, `?`
    /// for a missing `info` entry.
    pub fn backbone_identity(&self) -> String {
        let get = |k: &str| self.info.get(k).map(String::as_str).unwrap_or("?");
        match self.d_in_s {
            None => format!(
                "onnx:{}@{} pool {}",
                get("backbone_t"),
                get("output_t"),
                get("pool")
            ),
            Some(_) => format!(
                "onnx:{}@{} + {}@{} pool {}",
                get("backbone_t"),
                get("output_t"),
                get("backbone_s"),
                get("output_s"),
                get("pool")
            ),
        }
    }
}
