//! Feature dictionaries (METHOD.md §3, Eq. 2): after Phase 1 the streams are frozen (BatchNorm in
//! inference mode) and each class keeps the features of at most `max_rows` of its training images.
//! Row `i` of the texture and of the shape dictionary come from the same image.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::sampling::RowLayout;
use crate::backend::{Backend, DictTensor, HostRows, Precision, Tensor};
use crate::error::{Error, Result};
use crate::internal::io::tensor_file::{read_bytes, Dtype, TensorReader, TensorWriter};
use crate::model::Heads;
use crate::nn::Mode;

const FORMAT: &str = "convexgan-dictionary-v1";

/// Upper bound on the training images a dictionary's metadata may claim.
pub const MAX_TRAINING_IMAGES: usize = 1 << 32;

/// Both streams' dictionaries for every class, class after class, plus what Phase 2 needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Dictionary {
    /// Texture rows `L_t`, `R × d_t` row-major (`R` the total over classes), class after class.
    pub texture: HostRows,
    /// Shape rows `L_s`, `R × d_s`; row `i` comes from the same image as texture row `i`.
    pub shape: HostRows,
    /// Texture feature width.
    pub d_t: usize,
    /// Shape feature width (0 for a single-stream sampler).
    pub d_s: usize,
    /// Rows held per class and each class's first global row.
    pub layout: RowLayout,
    /// Class counts `n_c` of the whole training set (for `c_g` and the LDAM margins).
    pub counts: Vec<usize>,
    /// Seed the per-class subsets were drawn with.
    pub seed: u64,
    /// Identity of the backbone the features came from.
    pub backbone: String,
}

/// The dictionary on a backend, in its storage precision.
pub struct DeviceDictionary<B: Backend> {
    /// Texture rows, `R × d_t`.
    pub texture: DictTensor<B>,
    /// Shape rows, `R × d_s`.
    pub shape: DictTensor<B>,
}

/// Features of every row of `x` (`n × d_in`) in inference mode, `(f_t, f_s)` as row-major host
/// vectors (`n × d_t`, `n × d_s`), computed `batch` rows at a time.
pub fn extract_features<B: Backend>(
    be: &B,
    heads: &mut Heads<B>,
    x: &Tensor<B>,
    batch: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = x.rows();
    let mut ft = Vec::with_capacity(n * heads.d_t());
    let mut fs = Vec::with_capacity(n * heads.d_s());
    let all: Vec<u32> = (0..n as u32).collect();
    for chunk in all.chunks(batch.max(1)) {
        let idx = be.upload_indices(chunk)?;
        let xb = be.gather_rows(x, &idx)?;
        let (t, s) = heads.features(be, &xb, Mode::Eval)?;
        ft.extend(be.download_f32(&t)?);
        fs.extend(be.download_f32(&s)?);
    }
    Ok((ft, fs))
}

impl Dictionary {
    /// Keeps, per class, the features of at most `max_rows` images (all when fewer; a seeded random
    /// subset when more). `ft`/`fs` are row-major features of the training images with labels `y`.
    /// `ft` is `n × d_t` and `fs` `n × d_s` (`n = y.len()`); rows are stored in `precision`, and
    /// `backbone` is recorded as the features' origin (the paper's Eq. 2, METHOD.md §3). An error
    /// on lengths that do not match, a label not below `classes`, a class with no row, or a
    /// non-finite feature.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        ft: &[f32],
        fs: &[f32],
        d_t: usize,
        d_s: usize,
        y: &[u32],
        classes: usize,
        max_rows: usize,
        precision: Precision,
        seed: u64,
        backbone: &str,
    ) -> Result<Self> {
        let n = y.len();
        if ft.len() != n * d_t || fs.len() != n * d_s {
            return Err(Error::shape(
                "dictionary build",
                format!(
                    "{n} labels but {} texture and {} shape values",
                    ft.len(),
                    fs.len()
                ),
            ));
        }
        let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (i, &c) in y.iter().enumerate() {
            let c = c as usize;
            if c >= classes {
                return Err(Error::invalid(
                    "label",
                    format!("label {c} ≥ {classes} classes"),
                ));
            }
            per_class[c].push(i);
        }
        let counts: Vec<usize> = per_class.iter().map(Vec::len).collect();
        if let Some(c) = counts.iter().position(|&n| n == 0) {
            return Err(Error::invalid(
                "training set",
                format!("class {c} has no samples, so it has no dictionary"),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut t = Vec::new();
        let mut s = Vec::new();
        let mut rows = Vec::with_capacity(classes);
        for members in &mut per_class {
            if members.len() > max_rows {
                members.shuffle(&mut rng);
                members.truncate(max_rows);
                members.sort_unstable();
            }
            rows.push(members.len());
            for &i in members.iter() {
                t.extend_from_slice(&ft[i * d_t..(i + 1) * d_t]);
                s.extend_from_slice(&fs[i * d_s..(i + 1) * d_s]);
            }
        }
        if let Some(i) = t.iter().chain(&s).position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("dictionary features (value {i})")));
        }
        Ok(Dictionary {
            texture: HostRows::from_f32(&t, precision),
            shape: HostRows::from_f32(&s, precision),
            d_t,
            d_s,
            layout: RowLayout::new(rows),
            counts,
            seed,
            backbone: backbone.to_string(),
        })
    }

    /// Number of classes `N_C`.
    pub fn classes(&self) -> usize {
        self.counts.len()
    }
    /// Storage precision of the rows (f32, bf16 or f16).
    pub fn precision(&self) -> Precision {
        self.texture.precision()
    }
    /// The smallest class dictionary, the cap on `N_s`.
    pub fn min_rows(&self) -> usize {
        self.layout.rows.iter().copied().min().unwrap_or(0)
    }

    /// Refuses a dictionary built for other heads than the run's (`classes` classes, streams
    /// `d_t` and `d_s` wide), naming the file, rather than letting Phase 2 fail on a shape.
    pub fn check_fits(&self, path: &Path, classes: usize, d_t: usize, d_s: usize) -> Result<()> {
        if (self.classes(), self.d_t, self.d_s) != (classes, d_t, d_s) {
            return Err(Error::bad_file(
                path,
                format!(
                    "holds {} classes of features {} + {} wide, but this run's heads give {classes} \
                     classes of {d_t} + {d_s}: rebuild it with `convexgan build-dict`",
                    self.classes(),
                    self.d_t,
                    self.d_s
                ),
            ));
        }
        Ok(())
    }

    /// Both dictionaries on `be`, in their storage precision.
    pub fn upload<B: Backend>(&self, be: &B) -> Result<DeviceDictionary<B>> {
        let r = self.layout.total();
        Ok(DeviceDictionary {
            texture: be.upload_dict(&self.texture, r, self.d_t)?,
            shape: be.upload_dict(&self.shape, r, self.d_s)?,
        })
    }

    /// Atomic write as a tensor file, with the layout and provenance in the metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::internal::io::atomic::write(path, &self.to_bytes(path)?)
    }

    /// The bytes [`save`](Self::save) writes (a sampler file embeds them); `path` names the file
    /// in errors.
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let dtype = match self.precision() {
            Precision::F32 => Dtype::F32,
            Precision::Bf16 => Dtype::BF16,
            Precision::F16 => Dtype::F16,
        };
        let r = self.layout.total();
        let json = |v: &[usize]| serde_json::to_string(v).unwrap_or_default();
        let mut file = TensorWriter::new();
        file.put_raw("texture", dtype, vec![r, self.d_t], self.texture.as_bytes())
            .put_raw("shape", dtype, vec![r, self.d_s], self.shape.as_bytes())
            .meta("format", FORMAT)
            .meta("counts", json(&self.counts))
            .meta("rows_per_class", json(&self.layout.rows))
            .meta("seed", self.seed.to_string())
            .meta("backbone", self.backbone.clone())
            .meta("precision", self.precision().name());
        file.to_bytes(path)
    }

    /// A dictionary file [`save`](Self::save)d earlier (METHOD.md §3's format). An error, naming
    /// the file, when it cannot be read, is not a convexgan dictionary, or its metadata and tensors
    /// disagree (class counts, rows per class, widths, a non-finite value).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_bytes(path, "a dictionary file")?;
        Self::from_bytes(path, &bytes)
    }

    /// [`load`](Self::load) on the bytes of a file already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::bad_file(path, msg);
        let file = TensorReader::parse(path, bytes)?;
        let meta = file.metadata();
        if !file.has_metadata() {
            return Err(bad("no metadata: not a convexgan dictionary".into()));
        }
        let get = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("metadata '{k}' missing")))
        };
        if get("format")? != FORMAT {
            return Err(bad(format!("format is not {FORMAT}")));
        }
        let parse_list = |k: &str| -> Result<Vec<usize>> {
            serde_json::from_str(&get(k)?).map_err(|e| bad(format!("metadata '{k}': {e}")))
        };
        let counts = parse_list("counts")?;
        let rows = parse_list("rows_per_class")?;
        let seed: u64 = get("seed")?
            .parse()
            .map_err(|e| bad(format!("metadata 'seed': {e}")))?;
        if counts.len() != rows.len() || counts.is_empty() {
            return Err(bad(format!(
                "{} class counts but {} dictionary sizes",
                counts.len(),
                rows.len()
            )));
        }
        if let Some(c) = rows
            .iter()
            .zip(&counts)
            .position(|(&r, &n)| r == 0 || r > n)
        {
            return Err(bad(format!(
                "class {c} holds {} rows but has {} training images",
                rows[c], counts[c]
            )));
        }
        // A hostile header could give counts whose sum overflows, or so many training images that
        // Phase 2's epochs would never end; real data sets are far below 2^32 images.
        let plausible = |v: &[usize]| {
            v.iter()
                .try_fold(0usize, |acc, &n| acc.checked_add(n))
                .filter(|&t| t <= MAX_TRAINING_IMAGES)
        };
        if plausible(&counts).is_none() {
            return Err(bad(format!(
                "metadata 'counts' {counts:?} sum to more than {MAX_TRAINING_IMAGES} images"
            )));
        }
        let layout = RowLayout::new(rows);
        let total = layout.total();
        let read = |name: &str| -> Result<(HostRows, usize)> {
            let t = file
                .get(name)
                .ok_or_else(|| bad(format!("tensor '{name}' missing")))?;
            t.expect_shape(&[Some(total), None])?;
            let rows = match t.dtype {
                Dtype::F32 => HostRows::F32(t.to_finite_vec()?),
                Dtype::BF16 => HostRows::Bf16(t.to_finite_vec()?),
                Dtype::F16 => HostRows::F16(t.to_finite_vec()?),
                other => {
                    return Err(bad(format!(
                        "tensor '{name}' has dtype {other:?}, expected F32, BF16 or F16"
                    )))
                }
            };
            Ok((rows, t.shape[1]))
        };
        let (texture, d_t) = read("texture")?;
        let (shape, d_s) = read("shape")?;
        if texture.precision() != shape.precision() {
            return Err(bad(
                "texture and shape dictionaries differ in precision".into()
            ));
        }
        Ok(Dictionary {
            texture,
            shape,
            d_t,
            d_s,
            layout,
            counts,
            seed,
            backbone: get("backbone")?,
        })
    }
}
