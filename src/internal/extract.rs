//! `convexgan extract`: DeepFashion or DeepFashion2 images through frozen ONNX backbones into a
//! features file (METHOD.md §1, §6). Each sample (a DeepFashion image, a DeepFashion2 item) is
//! cropped to its bounding box, letterboxed to 224×224, normalised with ImageNet's mean and std,
//! run through the backbone up to the chosen output, and pooled to `p × p` per channel; its
//! landmarks follow the same geometry onto the 28×28 heatmap grid.
//!
//! The layout is told from the root: `train/annos/` means DeepFashion2, anything else is read as
//! DeepFashion (whose errors then name the files it lacks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::data::deepfashion::{load_deepfashion, Partition, DEEPFASHION_CATEGORIES};
use crate::data::deepfashion2::{
    is_deepfashion2, load_deepfashion2, DEEPFASHION2_CATEGORIES, DEEPFASHION2_CATEGORY_NAMES,
    DEEPFASHION2_LANDMARKS,
};
use crate::data::features_file::{FeatureSet, Split, CLASS_NAMES_KEY};
use crate::data::letterbox::{imagenet_chw, load_rgb, Letterbox, IMAGE_SIZE};
use crate::data::{pixel_to_grid, Landmarks, DEEPFASHION_LANDMARKS, HEATMAP_GRID};
use crate::error::{Error, Result};
use crate::internal::backbone::graph::{default_output, read_model};
use crate::internal::backbone::pool::adaptive_avg_pool;
use crate::internal::backbone::tract_cpu::TractModel;
use crate::internal::backbone::FeatureMap;
use crate::internal::progress;

/// Where a backbone runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtractDevice {
    /// tract-onnx, the whole graph.
    Cpu,
    /// cuDNN (feature `cudnn`), the VGG chain of the graph.
    Cuda,
}

#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// DeepFashion root (with `Anno/`, `Eval/` and the image folders) or DeepFashion2 root (with
    /// `train/` and `validation/`).
    pub data: PathBuf,
    pub texture_backbone: PathBuf,
    /// Output of the texture backbone; `None` = the last ReLU fed by a Conv.
    pub texture_output: Option<String>,
    /// A second model for the shape stream; `None` = the texture backbone serves both.
    pub shape_backbone: Option<PathBuf>,
    pub shape_output: Option<String>,
    pub features: PathBuf,
    pub pool: usize,
    pub batch: usize,
    /// Only the first `limit` images of the partition list (DeepFashion) or the first `limit`
    /// items of each of `train/` and `validation/` (DeepFashion2): quick looks, tests.
    pub limit: Option<usize>,
    pub device: ExtractDevice,
    pub progress: bool,
}

/// A loaded backbone on its device.
enum Runner {
    Tract(TractModel),
    #[cfg(feature = "cudnn")]
    Cudnn(Box<crate::internal::backbone::cudnn::CudnnChain>),
}

/// The CUDA device the backbones share: one backend (one context and stream) for every cuDNN
/// chain, opened with the first backbone that needs it.
#[derive(Default)]
struct Gpu {
    #[cfg(feature = "cudnn")]
    backend: Option<crate::backend::cuda::CudaBackend>,
}

struct Backbone {
    runner: Runner,
    path: PathBuf,
    output: String,
}

impl Backbone {
    fn open(
        path: &Path,
        output: Option<&str>,
        device: ExtractDevice,
        gpu: &mut Gpu,
    ) -> Result<Self> {
        let model = read_model(path)?;
        let output = match output {
            Some(o) => o.to_string(),
            None => default_output(&model, path)?,
        };
        let runner = match device {
            ExtractDevice::Cpu => Runner::Tract(TractModel::load(path, Some(&output))?),
            #[cfg(feature = "cudnn")]
            ExtractDevice::Cuda => {
                let chain = crate::internal::backbone::graph::chain_to(&model, &output, path)?;
                if gpu.backend.is_none() {
                    gpu.backend = Some(crate::backend::cuda::CudaBackend::new(0)?);
                }
                let be = gpu.backend.as_ref().expect("opened above");
                Runner::Cudnn(Box::new(
                    crate::internal::backbone::cudnn::CudnnChain::on_backend(be, &chain)?,
                ))
            }
            #[cfg(not(feature = "cudnn"))]
            ExtractDevice::Cuda => {
                let _ = gpu;
                return Err(Error::Cuda(
                    "backbones on the GPU need the `cudnn` feature: cargo build --release --features cudnn"
                        .into(),
                ));
            }
        };
        Ok(Backbone {
            runner,
            path: path.to_path_buf(),
            output,
        })
    }

    fn run(&mut self, x: &[f32], n: usize) -> Result<FeatureMap> {
        let chw = [3, IMAGE_SIZE, IMAGE_SIZE];
        match &mut self.runner {
            Runner::Tract(m) => m.run_images(x, n, chw),
            #[cfg(feature = "cudnn")]
            Runner::Cudnn(c) => c.run(x, n, chw),
        }
    }

    fn describe(&self) -> String {
        self.path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// One sample to extract, whichever data set it came from.
struct Sample {
    /// The image, relative to the root.
    image: String,
    /// Its identifier in the features file.
    id: String,
    label: u32,
    bbox: [u32; 4],
    split: Split,
    /// `(slot, [x, y])` in original pixels of the landmarks the annotation calls visible.
    visible: Vec<(usize, [f32; 2])>,
    /// DeepFashion2: the annotation file and item a box reaching past the image is reported
    /// against. DeepFashion's boxes are clamped to the image instead, as they always were.
    strict_box: Option<(PathBuf, u32)>,
}

/// The samples of a data set and what the features file says about its classes and landmarks.
struct Source {
    name: &'static str,
    samples: Vec<Sample>,
    /// Landmark slots per sample.
    k: usize,
    classes: usize,
    class_names: Option<Vec<String>>,
}

fn split_of(p: Partition) -> Split {
    match p {
        Partition::Train => Split::Train,
        Partition::Val => Split::Val,
        Partition::Test => Split::Test,
    }
}

fn deepfashion_source(root: &Path, limit: Option<usize>) -> Result<Source> {
    let mut records = load_deepfashion(root)?;
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    let samples = records
        .into_iter()
        .map(|r| Sample {
            visible: (0..DEEPFASHION_LANDMARKS)
                .filter(|&l| r.visible[l])
                .map(|l| (l, r.landmarks[l]))
                .collect(),
            id: r.image.clone(),
            image: r.image,
            label: r.category,
            bbox: r.bbox,
            split: split_of(r.partition),
            strict_box: None,
        })
        .collect();
    Ok(Source {
        name: "DeepFashion",
        samples,
        k: DEEPFASHION_LANDMARKS,
        classes: DEEPFASHION_CATEGORIES,
        class_names: None,
    })
}

fn deepfashion2_source(root: &Path, limit: Option<usize>) -> Result<Source> {
    let samples = load_deepfashion2(root, limit)?
        .into_iter()
        .map(|it| {
            let first = it.slot_offset();
            Sample {
                visible: it
                    .points
                    .iter()
                    .zip(&it.visibility)
                    .enumerate()
                    .filter(|(_, (_, &v))| v == 2)
                    .map(|(j, (&p, _))| (first + j, p))
                    .collect(),
                id: it.id(),
                strict_box: Some((root.join(&it.annotation), it.item)),
                image: it.image,
                label: it.category,
                bbox: it.bbox,
                split: split_of(it.partition),
            }
        })
        .collect();
    Ok(Source {
        name: "DeepFashion2",
        samples,
        k: DEEPFASHION2_LANDMARKS,
        classes: DEEPFASHION2_CATEGORIES,
        class_names: Some(
            DEEPFASHION2_CATEGORY_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    })
}

/// One prepared sample: normalised CHW pixels and its landmarks on the grid.
struct Prepared {
    pixels: Vec<f32>,
    /// `2k` values.
    xy: Vec<f32>,
    /// `k` values.
    visible: Vec<f32>,
}

/// The last image decoded: DeepFashion2's items of one image come one after the other, and one
/// decode serves them all.
type ImageCache = Option<(String, RgbImage)>;

fn prepare(root: &Path, s: &Sample, k: usize, cache: &mut ImageCache) -> Result<Prepared> {
    let path = root.join(&s.image);
    if cache.as_ref().is_none_or(|(name, _)| *name != s.image) {
        *cache = Some((s.image.clone(), load_rgb(&path)?));
    }
    let img = &cache.as_ref().expect("filled above").1;
    if let Some((annotation, item)) = &s.strict_box {
        let [x1, y1, x2, y2] = s.bbox;
        if x2 > img.width() || y2 > img.height() {
            return Err(Error::bad_file(
                annotation,
                format!(
                    "item{item}: bounding_box [{x1}, {y1}, {x2}, {y2}] reaches past the {}×{} \
                     image {}",
                    img.width(),
                    img.height(),
                    s.image
                ),
            ));
        }
    }
    let (lb, out) = Letterbox::prepare(img, s.bbox, IMAGE_SIZE)
        .map_err(|e| Error::bad_file(&path, e.to_string()))?;
    let mut xy = vec![0.0; 2 * k];
    let mut visible = vec![0.0; k];
    for &(l, [x, y]) in &s.visible {
        let (px, py) = lb.map_point(x, y);
        let (gx, gy) = (
            pixel_to_grid(px, IMAGE_SIZE, HEATMAP_GRID),
            pixel_to_grid(py, IMAGE_SIZE, HEATMAP_GRID),
        );
        // A "visible" landmark outside the bounding box lands off the prepared image; its heatmap
        // would be cut off, so it counts as invisible (not silently clamped to the border).
        let inside = |g: f32| (-0.5..HEATMAP_GRID as f32 - 0.5).contains(&g);
        if inside(gx) && inside(gy) {
            xy[2 * l] = gx;
            xy[2 * l + 1] = gy;
            visible[l] = 1.0;
        }
    }
    Ok(Prepared {
        pixels: imagenet_chw(&out),
        xy,
        visible,
    })
}

/// Runs the extraction and writes the features file (atomically); returns what was written.
pub fn extract(o: &ExtractOptions) -> Result<FeatureSet> {
    if o.batch == 0 {
        return Err(Error::invalid("--batch", "must be at least 1"));
    }
    if o.pool == 0 {
        return Err(Error::invalid("--pool", "must be at least 1"));
    }
    let source = if is_deepfashion2(&o.data) {
        deepfashion2_source(&o.data, o.limit)?
    } else {
        deepfashion_source(&o.data, o.limit)?
    };
    let (records, k) = (&source.samples, source.k);
    if records.is_empty() {
        return Err(Error::invalid(
            source.name,
            format!("no images listed under {}", o.data.display()),
        ));
    }
    let mut gpu = Gpu::default();
    let mut tex = Backbone::open(
        &o.texture_backbone,
        o.texture_output.as_deref(),
        o.device,
        &mut gpu,
    )?;
    let mut shape = match &o.shape_backbone {
        Some(p) => Some(Backbone::open(
            p,
            o.shape_output.as_deref().or(o.texture_output.as_deref()),
            o.device,
            &mut gpu,
        )?),
        None => None,
    };
    let n = records.len();
    let mut rows_t: Vec<f32> = Vec::new();
    let mut rows_s: Vec<f32> = Vec::new();
    let (mut d_t, mut d_s) = (0usize, 0usize);
    let mut lm = Landmarks {
        k,
        xy: Vec::with_capacity(n * 2 * k),
        visible: Vec::with_capacity(n * k),
    };
    let mut cache: ImageCache = None;
    let pb = progress::bar(n as u64, "extract", o.progress);
    for chunk in records.chunks(o.batch) {
        let prepared = chunk
            .iter()
            .map(|r| prepare(&o.data, r, k, &mut cache))
            .collect::<Result<Vec<_>>>()?;
        let mut batch = Vec::with_capacity(chunk.len() * 3 * IMAGE_SIZE * IMAGE_SIZE);
        for p in &prepared {
            batch.extend_from_slice(&p.pixels);
            lm.xy.extend_from_slice(&p.xy);
            lm.visible.extend_from_slice(&p.visible);
        }
        let pooled = adaptive_avg_pool(&tex.run(&batch, chunk.len())?, o.pool)?;
        d_t = pooled.len() / chunk.len();
        rows_t.extend_from_slice(&pooled);
        if let Some(s) = &mut shape {
            let pooled = adaptive_avg_pool(&s.run(&batch, chunk.len())?, o.pool)?;
            d_s = pooled.len() / chunk.len();
            rows_s.extend_from_slice(&pooled);
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    let x = if shape.is_some() {
        let mut x = Vec::with_capacity(n * (d_t + d_s));
        for i in 0..n {
            x.extend_from_slice(&rows_t[i * d_t..(i + 1) * d_t]);
            x.extend_from_slice(&rows_s[i * d_s..(i + 1) * d_s]);
        }
        x
    } else {
        rows_t
    };
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        let w = d_t + d_s;
        return Err(Error::NonFinite(format!(
            "backbone features of image {} ({})",
            i / w,
            records[i / w].id
        )));
    }
    let mut info = BTreeMap::new();
    info.insert("backbone_t".into(), tex.describe());
    info.insert("output_t".into(), tex.output.clone());
    if let Some(s) = &shape {
        info.insert("backbone_s".into(), s.describe());
        info.insert("output_s".into(), s.output.clone());
    }
    info.insert("pool".into(), o.pool.to_string());
    info.insert("image_size".into(), IMAGE_SIZE.to_string());
    info.insert("grid".into(), HEATMAP_GRID.to_string());
    info.insert("source".into(), o.data.display().to_string());
    if let Some(names) = &source.class_names {
        info.insert(
            CLASS_NAMES_KEY.into(),
            serde_json::to_string(names).expect("strings serialise"),
        );
    }
    let set = FeatureSet {
        x,
        d_in_t: d_t,
        d_in_s: shape.as_ref().map(|_| d_s),
        labels: records.iter().map(|r| r.label).collect(),
        classes: source.classes,
        split: records.iter().map(|r| r.split).collect(),
        landmarks: Some(lm),
        image_ids: records.iter().map(|r| r.id.clone()).collect(),
        info,
    };
    set.save(&o.features)?;
    Ok(set)
}
