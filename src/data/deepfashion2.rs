//! DeepFashion2 annotations (METHOD.md §6; the paper's Sec. IV-A and Table 3).
//!
//! [`load_deepfashion2`] reads `train/annos/*.json` and `validation/annos/*.json` under the data
//! set's root, each beside its image in `train/image/` or `validation/image/`, and returns one
//! [`Item`] per garment: the paper classifies items, not images. It never decodes an image; the
//! one check that needs the image's size (a box reaching past its edge) is made by
//! `convexgan extract` when it decodes it.
//!
//! Each file holds `item1`, `item2`, … with a `category_id` (1–13), a `bounding_box`
//! `[x1, y1, x2, y2]` in pixels and `landmarks`, a flat list of `(x, y, v)` triples whose length is
//! fixed by the category ([`DEEPFASHION2_POINTS`]). Every other key (`source`, `pair_id`, and per
//! item `style`, `segmentation`, `scale`, `occlusion`, `zoom_in`, `viewpoint`, `category_name`) is
//! ignored. Anything wrong is an [`Error::BadFile`] naming the file, and the item where there is
//! one.
//!
//! **Choices** (METHOD.md §6):
//! - Landmark slots: one per category-specific point, `K` = [`DEEPFASHION2_LANDMARKS`] = 294.
//!   Category `c`'s points fill the block starting at [`slot_offset`]`(c)` (the counts of the
//!   categories before it, summed); an item's slots outside its category's block are invisible.
//!   Categories share no slot because their points do not correspond (a skirt's hem and a
//!   dress's hem are different points of the official definitions).
//! - Visibility: only `v = 2` (visible) counts as visible. Occluded points (`v = 1`) are
//!   invisible, as DeepFashion's occluded ones are: the heatmap target is where the point is
//!   seen, and an occluded point's position is a guess of the annotator.
//! - Partitions: `train/` is the training set and `validation/` the test set (the paper's; the
//!   official test set has no public annotations). The pipeline also wants a validation
//!   partition (post-hoc baselines choose their settings on it): every [`VAL_EVERY`]th training
//!   image, counted in file-name order, gives its items to it, so that no image has items on both
//!   sides and the choice is the same on every machine.
//! - Order: by folder (train, then validation), file name, then item number.
//! - Pairing: an annotation without its image and an image (`.jpg`) without its annotation are
//!   both errors: a half-unpacked download would otherwise train on part of the data unnoticed.
//!   Other files in the folders are ignored.
//! - Boxes: `x2`/`y2` are exclusive, as for DeepFashion; fractional coordinates are rounded
//!   outwards to whole pixels.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use super::deepfashion::Partition;
use crate::error::{Error, Result};

/// The data set's 13 clothing categories, labelled 1..=13 in the files.
pub const DEEPFASHION2_CATEGORIES: usize = 13;

/// The categories' names, by 0-based category (the official README's wording).
pub const DEEPFASHION2_CATEGORY_NAMES: [&str; DEEPFASHION2_CATEGORIES] = [
    "short sleeve top",
    "long sleeve top",
    "short sleeve outwear",
    "long sleeve outwear",
    "vest",
    "sling",
    "shorts",
    "trousers",
    "skirt",
    "short sleeve dress",
    "long sleeve dress",
    "vest dress",
    "sling dress",
];

/// Landmarks per category, by 0-based category: the number of `(x, y, v)` triples an item of that
/// category holds (the official definitions).
pub const DEEPFASHION2_POINTS: [usize; DEEPFASHION2_CATEGORIES] =
    [25, 33, 31, 39, 15, 15, 10, 14, 8, 29, 37, 19, 19];

/// Landmark slots of a DeepFashion2 sample: every category's points, one slot each.
pub const DEEPFASHION2_LANDMARKS: usize = 294;

/// The training folder under the root; its items form the training (and validation) partition.
pub const TRAIN_DIR: &str = "train";
/// The validation folder under the root; its items form the test partition.
pub const VALIDATION_DIR: &str = "validation";
/// The annotation folder inside [`TRAIN_DIR`] and [`VALIDATION_DIR`].
pub const ANNOS_DIR: &str = "annos";
/// The image folder inside [`TRAIN_DIR`] and [`VALIDATION_DIR`].
pub const IMAGE_DIR: &str = "image";

/// Every `VAL_EVERY`th training image (the 10th, 20th, … in file-name order) goes to the
/// validation partition.
pub const VAL_EVERY: usize = 10;

/// Largest annotation file read: the segmentation polygons make a few kilobytes usual, and a file
/// of this size is not an annotation.
const MAX_ANNOTATION_BYTES: u64 = 64 << 20;

const _: () = {
    let mut sum = 0;
    let mut c = 0;
    while c < DEEPFASHION2_CATEGORIES {
        sum += DEEPFASHION2_POINTS[c];
        c += 1;
    }
    assert!(sum == DEEPFASHION2_LANDMARKS);
};

/// First landmark slot of 0-based category `category` (below [`DEEPFASHION2_CATEGORIES`], or this
/// panics): the point counts of the categories before it, summed.
pub fn slot_offset(category: usize) -> usize {
    DEEPFASHION2_POINTS[..category].iter().sum()
}

/// Whether `root` looks like DeepFashion2: it has `train/annos/`.
pub fn is_deepfashion2(root: &Path) -> bool {
    root.join(TRAIN_DIR).join(ANNOS_DIR).is_dir()
}

/// One garment of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The image, relative to the root (`train/image/000001.jpg`).
    pub image: String,
    /// The annotation file, relative to the root (`train/annos/000001.json`).
    pub annotation: String,
    /// `N` of the file's `itemN` key.
    pub item: u32,
    /// 0-based category (`category_id` − 1), below [`DEEPFASHION2_CATEGORIES`].
    pub category: u32,
    /// `x1 y1 x2 y2` in pixels, `x2 > x1`, `y2 > y1`, `x2`/`y2` exclusive.
    pub bbox: [u32; 4],
    /// `(x, y)` in pixels of the category's points, in file order
    /// ([`DEEPFASHION2_POINTS`]`[category]` of them).
    pub points: Vec<[f32; 2]>,
    /// The file's `v` of each point: 0 not labelled, 1 occluded, 2 visible.
    pub visibility: Vec<u8>,
    /// Training, validation (held-out training images, see [`VAL_EVERY`]) or test (`validation/`).
    pub partition: Partition,
}

impl Item {
    /// The sample's identifier in a features file: `<image>#item<N>`.
    pub fn id(&self) -> String {
        format!("{}#item{}", self.image, self.item)
    }

    /// First of the item's landmark slots ([`slot_offset`] of its category).
    pub fn slot_offset(&self) -> usize {
        slot_offset(self.category as usize)
    }

    /// Visible in the sense of the landmark targets: `v = 2` only.
    pub fn visible(&self) -> Vec<bool> {
        self.visibility.iter().map(|&v| v == 2).collect()
    }
}

/// The fields of an item that are read; the rest are skipped.
#[derive(Deserialize)]
#[serde(expecting = "an object with category_id, bounding_box and landmarks")]
struct RawItem {
    category_id: i64,
    bounding_box: Vec<f64>,
    landmarks: Vec<f64>,
}

/// The `.json` (or `.jpg`) files of a folder by stem, sorted.
fn stems(dir: &Path, ext: &str) -> Result<BTreeSet<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = BTreeSet::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(ext) {
            if !stem.is_empty() && !stem.starts_with('.') {
                out.insert(stem.to_owned());
            }
        }
    }
    Ok(out)
}

/// One annotation file to read, and what its items get.
struct Job {
    path: PathBuf,
    image: String,
    annotation: String,
    partition: Partition,
}

/// The annotation files of one folder (`train` or `validation`) in order, each paired with its
/// image.
fn folder_jobs(root: &Path, folder: &str) -> Result<Vec<Job>> {
    let annos = root.join(folder).join(ANNOS_DIR);
    let images = root.join(folder).join(IMAGE_DIR);
    let a = stems(&annos, ".json")?;
    let i = stems(&images, ".jpg")?;
    if let Some(s) = a.difference(&i).next() {
        let missing = a.difference(&i).count();
        return Err(Error::bad_file(
            annos.join(format!("{s}.json")),
            format!(
                "no image {folder}/{IMAGE_DIR}/{s}.jpg for this annotation ({missing} annotation{} \
                 of {folder}/ without an image)",
                if missing == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(s) = i.difference(&a).next() {
        let missing = i.difference(&a).count();
        return Err(Error::bad_file(
            images.join(format!("{s}.jpg")),
            format!(
                "no annotation {folder}/{ANNOS_DIR}/{s}.json for this image ({missing} image{} of \
                 {folder}/ without an annotation)",
                if missing == 1 { "" } else { "s" }
            ),
        ));
    }
    let test = folder == VALIDATION_DIR;
    Ok(a.into_iter()
        .enumerate()
        .map(|(n, s)| Job {
            path: annos.join(format!("{s}.json")),
            image: format!("{folder}/{IMAGE_DIR}/{s}.jpg"),
            annotation: format!("{folder}/{ANNOS_DIR}/{s}.json"),
            partition: if test {
                Partition::Test
            } else if n % VAL_EVERY == VAL_EVERY - 1 {
                Partition::Val
            } else {
                Partition::Train
            },
        })
        .collect())
}

/// Checks one item's fields; errors name the item, the caller adds the file.
fn parse_item(job: &Job, n: u32, raw: RawItem) -> std::result::Result<Item, String> {
    let c = raw.category_id;
    if !(1..=DEEPFASHION2_CATEGORIES as i64).contains(&c) {
        return Err(format!(
            "category_id {c} is not one of 1..={DEEPFASHION2_CATEGORIES}"
        ));
    }
    let category = (c - 1) as usize;
    let b = &raw.bounding_box;
    // As written in the file (`[50, 10, 20, 60]`), not as f64's Debug (`[50.0, …]`).
    let shown = format!(
        "[{}]",
        b.iter().map(f64::to_string).collect::<Vec<_>>().join(", ")
    );
    if b.len() != 4 {
        return Err(format!(
            "bounding_box has {} numbers, expected 4 (x1, y1, x2, y2)",
            b.len()
        ));
    }
    if let Some(v) = b.iter().find(|v| **v < 0.0 || **v > u32::MAX as f64) {
        return Err(format!(
            "bounding_box {shown}: {v} is not a pixel coordinate (0 to 2^32 − 1)"
        ));
    }
    let bbox = [
        b[0].floor() as u32,
        b[1].floor() as u32,
        b[2].ceil() as u32,
        b[3].ceil() as u32,
    ];
    if b[2] <= b[0] || b[3] <= b[1] {
        return Err(format!(
            "empty box: bounding_box {shown} (need x2 > x1 and y2 > y1)"
        ));
    }
    let want = DEEPFASHION2_POINTS[category];
    let l = &raw.landmarks;
    if !l.len().is_multiple_of(3) {
        return Err(format!(
            "landmarks has {} values, not a whole number of (x, y, v) triples",
            l.len()
        ));
    }
    if l.len() / 3 != want {
        return Err(format!(
            "category {c} ({}) has {want} landmarks but the list holds {} ({} values)",
            DEEPFASHION2_CATEGORY_NAMES[category],
            l.len() / 3,
            l.len()
        ));
    }
    let mut points = Vec::with_capacity(want);
    let mut visibility = Vec::with_capacity(want);
    for (j, t) in l.chunks_exact(3).enumerate() {
        let v = t[2];
        if !(v == 0.0 || v == 1.0 || v == 2.0) {
            return Err(format!(
                "landmark {} visibility {v} is not 0, 1 or 2",
                j + 1
            ));
        }
        points.push([t[0] as f32, t[1] as f32]);
        visibility.push(v as u8);
    }
    Ok(Item {
        image: job.image.clone(),
        annotation: job.annotation.clone(),
        item: n,
        category: category as u32,
        bbox,
        points,
        visibility,
        partition: job.partition,
    })
}

/// The items of one annotation file, by item number.
fn parse_file(job: &Job) -> Result<Vec<Item>> {
    let bad = |msg: String| Error::bad_file(&job.path, msg);
    let bytes = crate::internal::io::read::read_regular(
        &job.path,
        "a DeepFashion2 annotation",
        MAX_ANNOTATION_BYTES,
    )?;
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad(
            "not a JSON object (expected item1, item2, … at the top level)".into(),
        ));
    };
    let mut numbered: Vec<(u32, serde_json::Value)> = Vec::new();
    for (key, v) in map {
        let Some(n) = key.strip_prefix("item").and_then(|d| d.parse::<u32>().ok()) else {
            continue;
        };
        numbered.push((n, v));
    }
    if numbered.is_empty() {
        return Err(bad("no items (item1, item2, …)".into()));
    }
    numbered.sort_by_key(|(n, _)| *n);
    numbered
        .into_iter()
        .map(|(n, v)| {
            let raw = RawItem::deserialize(v).map_err(|e| bad(format!("item{n}: {e}")))?;
            parse_item(job, n, raw).map_err(|e| bad(format!("item{n}: {e}")))
        })
        .collect()
}

/// The items of one folder, at most `limit` of them (the first, in order).
fn read_folder(jobs: &[Job], limit: Option<usize>) -> Result<Vec<Item>> {
    match limit {
        // A quick look reads only as many files as it needs.
        Some(limit) => {
            let mut items = Vec::new();
            for job in jobs {
                if items.len() >= limit {
                    break;
                }
                items.extend(parse_file(job)?);
            }
            items.truncate(limit);
            Ok(items)
        }
        None => {
            let per_file: Vec<Result<Vec<Item>>> = jobs.par_iter().map(parse_file).collect();
            let mut items = Vec::with_capacity(per_file.len() * 2);
            // The first bad file in order, whichever thread met it first.
            for r in per_file {
                items.extend(r?);
            }
            Ok(items)
        }
    }
}

/// Reads DeepFashion2's training and validation annotations under `root` (see the module notes
/// for the layout, the partitions and the order). With `limit`, only the first `limit` items of
/// each folder, so that a quick look still has training and test items; the files after those
/// are not read.
///
/// # Errors
/// [`Error::Io`] if a folder or file cannot be read, and [`Error::BadFile`] naming the file (and
/// the item) for anything else: an annotation without its image or an image without its
/// annotation, text that is not JSON or not an object, a file with no items, an item that is not
/// an object or lacks `category_id`, `bounding_box` or `landmarks` or has one of the wrong type, a
/// `category_id` outside 1..=13, a box that is not four non-negative numbers or is empty, a
/// landmark list whose length is not the category's count of triples, a visibility other than 0,
/// 1 or 2.
pub fn load_deepfashion2(root: &Path, limit: Option<usize>) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for folder in [TRAIN_DIR, VALIDATION_DIR] {
        let jobs = folder_jobs(root, folder)?;
        items.extend(read_folder(&jobs, limit)?);
    }
    Ok(items)
}
