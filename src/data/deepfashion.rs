//! DeepFashion (Category and Attribute Prediction benchmark) annotations (METHOD.md §6).
//!
//! [`load_deepfashion`] reads the four annotation files under the benchmark's root and joins them
//! by image name; it never opens an image (see [`super::letterbox`] for that). Every file starts
//! with a row count and a header; rows are separated by runs of spaces. Any inconsistency is an
//! [`Error::BadFile`] naming the file and the 1-based line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::landmarks::DEEPFASHION_LANDMARKS;
use crate::error::{Error, Result};

/// The benchmark's 50 clothing categories, labelled 1..=50 in the files.
pub const DEEPFASHION_CATEGORIES: usize = 50;

/// Category label (1..=50) of each image, relative to the benchmark's root.
pub const CATEGORY_FILE: &str = "Anno/list_category_img.txt";
/// Bounding box `x_1 y_1 x_2 y_2` of each image, in original pixels, relative to the root.
pub const BBOX_FILE: &str = "Anno/list_bbox.txt";
/// Clothes type and landmarks (visibility, x, y) of each image, relative to the root.
pub const LANDMARK_FILE: &str = "Anno/list_landmarks.txt";
/// Train / val / test partition of each image, relative to the root; it also fixes the order of
/// [`load_deepfashion`]'s records.
pub const PARTITION_FILE: &str = "Eval/list_eval_partition.txt";

/// Canonical slots (of [`DEEPFASHION_LANDMARKS`]) filled by each clothes type, in the order of the
/// landmarks on a row of `list_landmarks.txt`.
const UPPER_SLOTS: [usize; 6] = [0, 1, 2, 3, 6, 7];
const LOWER_SLOTS: [usize; 4] = [4, 5, 6, 7];
const FULL_SLOTS: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

/// The evaluation split an image belongs to (`Eval/list_eval_partition.txt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// `train`: the (long-tailed) training set; 209,222 images in the benchmark's file.
    Train,
    /// `val`: validation; 40,000 images.
    Val,
    /// `test`: held out for the final metrics; 40,000 images.
    Test,
}

impl Partition {
    /// The word used in `list_eval_partition.txt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Train => "train",
            Partition::Val => "val",
            Partition::Test => "test",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "train" => Some(Partition::Train),
            "val" => Some(Partition::Val),
            "test" => Some(Partition::Test),
            _ => None,
        }
    }
}

/// The `clothes_type` column of `list_landmarks.txt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClothesType {
    /// 1: six landmarks (collar, sleeve, hem; each left and right).
    Upper,
    /// 2: four landmarks (waistline, hem).
    Lower,
    /// 3: eight landmarks (collar, sleeve, waistline, hem).
    Full,
}

impl ClothesType {
    /// The value in the file, 1..=3.
    pub fn code(self) -> u8 {
        match self {
            ClothesType::Upper => 1,
            ClothesType::Lower => 2,
            ClothesType::Full => 3,
        }
    }

    /// Which of the canonical slots this type's landmarks fill, in file order.
    pub fn slots(self) -> &'static [usize] {
        match self {
            ClothesType::Upper => &UPPER_SLOTS,
            ClothesType::Lower => &LOWER_SLOTS,
            ClothesType::Full => &FULL_SLOTS,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ClothesType::Upper),
            2 => Some(ClothesType::Lower),
            3 => Some(ClothesType::Full),
            _ => None,
        }
    }
}

/// One image's annotations, joined over the four files.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Path relative to the root, as written in the files (`img/<Folder>/img_XXXXXXXX.jpg`).
    pub image: String,
    /// 0-based category (the file's label − 1), below [`DEEPFASHION_CATEGORIES`].
    pub category: u32,
    /// `x1 y1 x2 y2` in original pixels, `x2 > x1`, `y2 > y1`.
    pub bbox: [u32; 4],
    /// Upper-, lower- or full-body; decides which canonical landmark slots the row fills.
    pub clothes_type: ClothesType,
    /// `(x, y)` in original pixels per canonical slot; `(0, 0)` for slots the type lacks.
    pub landmarks: [[f32; 2]; DEEPFASHION_LANDMARKS],
    /// True only where the file says visibility 0; occluded (1), truncated (2) and absent slots are
    /// false.
    pub visible: [bool; DEEPFASHION_LANDMARKS],
    /// The evaluation split the image belongs to.
    pub partition: Partition,
}

/// One annotation file after its count and header were checked. Rows stay slices of the text,
/// so that the full benchmark (about 290,000 rows a file) costs one allocation per file, not one
/// per field.
struct Table {
    path: PathBuf,
    text: String,
    /// `(1-based line, byte range in text)`, blank lines skipped.
    rows: Vec<(usize, std::ops::Range<usize>)>,
}

impl Table {
    fn read(root: &Path, rel: &str) -> Result<Table> {
        let path = root.join(rel);
        let bytes = crate::internal::io::read::read_regular(
            &path,
            "an annotation list",
            crate::internal::io::read::MAX_TEXT_BYTES,
        )?;
        let mut text = String::from_utf8(bytes)
            .map_err(|e| Error::bad_file(&path, format!("not UTF-8 text: {e}")))?;
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let base = text.as_ptr() as usize;
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let count_line = lines
            .next()
            .ok_or_else(|| Error::bad_file(&path, "line 1: empty file, expected a row count"))?
            .1
            .trim();
        let count: usize = count_line.parse().map_err(|_| {
            Error::bad_file(
                &path,
                format!("line 1: expected the number of rows, found {count_line:?}"),
            )
        })?;
        match lines.next() {
            Some((_, header)) if header.split_whitespace().next() == Some("image_name") => {}
            Some((_, header)) => {
                return Err(Error::bad_file(
                    &path,
                    format!("line 2: expected a header starting with image_name, found {header:?}"),
                ))
            }
            None => {
                return Err(Error::bad_file(
                    &path,
                    "line 2: missing header (expected image_name ...)",
                ))
            }
        }
        let rows: Vec<(usize, std::ops::Range<usize>)> = lines
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let start = l.as_ptr() as usize - base;
                (n, start..start + l.len())
            })
            .collect();
        if rows.len() != count {
            return Err(Error::bad_file(
                &path,
                format!(
                    "line 1: the count says {count} rows but the file has {}",
                    rows.len()
                ),
            ));
        }
        Ok(Table { path, text, rows })
    }

    /// `(1-based line, fields)` of each row.
    fn iter(&self) -> impl Iterator<Item = (usize, Vec<&str>)> {
        self.rows
            .iter()
            .map(|(n, r)| (*n, self.text[r.clone()].split_whitespace().collect()))
    }

    fn err(&self, line: usize, msg: impl std::fmt::Display) -> Error {
        Error::bad_file(&self.path, format!("line {line}: {msg}"))
    }

    /// Checks the field count and that each image name is listed once; maps each name to its
    /// row index.
    fn index(&self, expected_fields: Option<usize>) -> Result<HashMap<&str, usize>> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.rows.len());
        for (i, (line, fields)) in self.iter().enumerate() {
            if let Some(want) = expected_fields {
                if fields.len() != want {
                    return Err(self.err(
                        line,
                        format!("expected {want} fields, found {}", fields.len()),
                    ));
                }
            }
            if let Some(&first) = seen.get(fields[0]) {
                return Err(self.err(
                    line,
                    format!(
                        "{} is listed again (first on line {})",
                        fields[0], self.rows[first].0
                    ),
                ));
            }
            seen.insert(fields[0], i);
        }
        Ok(seen)
    }

    fn parse<T: std::str::FromStr>(&self, line: usize, token: &str, what: &str) -> Result<T> {
        token
            .parse()
            .map_err(|_| self.err(line, format!("{what}: {token:?} is not a valid number")))
    }
}

/// Landmarks of one row of `list_landmarks.txt`.
struct LandmarkRow {
    clothes_type: ClothesType,
    landmarks: [[f32; 2]; DEEPFASHION_LANDMARKS],
    visible: [bool; DEEPFASHION_LANDMARKS],
}

/// Parses a landmark row, telling the two layouts apart by the token count: `3 + 3k` with the
/// `variation_type` column, `2 + 3k` without (the counts never coincide for k ∈ {4, 6, 8}).
fn parse_landmark_row(t: &Table, line: usize, tokens: &[&str]) -> Result<LandmarkRow> {
    let n = tokens.len();
    let (k, first) = match n {
        15 | 21 | 27 => ((n - 3) / 3, 3),
        14 | 20 | 26 => ((n - 2) / 3, 2),
        _ => {
            return Err(t.err(
                line,
                format!(
                "{n} fields; expected the image name, clothes_type, optionally variation_type, \
                 then 4, 6 or 8 landmarks of 3 fields each (14, 15, 20, 21, 26 or 27 fields)"
            ),
            ));
        }
    };
    let code: u8 = t.parse(line, tokens[1], "clothes_type")?;
    let clothes_type = ClothesType::from_code(code)
        .ok_or_else(|| t.err(line, format!("clothes_type {code} is not 1, 2 or 3")))?;
    let slots = clothes_type.slots();
    if slots.len() != k {
        return Err(t.err(
            line,
            format!(
                "clothes_type {code} has {} landmarks but the row has {k}",
                slots.len()
            ),
        ));
    }
    if first == 3 {
        let _: u32 = t.parse(line, tokens[2], "variation_type")?;
    }
    let mut landmarks = [[0.0f32; 2]; DEEPFASHION_LANDMARKS];
    let mut visible = [false; DEEPFASHION_LANDMARKS];
    for (j, &slot) in slots.iter().enumerate() {
        let f = &tokens[first + 3 * j..first + 3 * j + 3];
        let vis: u8 = t.parse(line, f[0], "landmark visibility")?;
        if vis > 2 {
            return Err(t.err(
                line,
                format!("landmark {} visibility {vis} is not 0, 1 or 2", j + 1),
            ));
        }
        for (c, axis) in ["x", "y"].iter().enumerate() {
            let v: f32 = t.parse(line, f[1 + c], "landmark coordinate")?;
            if !v.is_finite() {
                return Err(t.err(
                    line,
                    format!("landmark {} {axis} is {v}, not a finite number", j + 1),
                ));
            }
            landmarks[slot][c] = v;
        }
        visible[slot] = vis == 0;
    }
    Ok(LandmarkRow {
        clothes_type,
        landmarks,
        visible,
    })
}

/// Reads the benchmark's annotations under `root` and joins them by image name, in the order of
/// `Eval/list_eval_partition.txt`. Every image must be listed exactly once in each of the four
/// files; labels must be in 1..=50, boxes non-empty, landmark rows consistent with their clothes
/// type. The landmark file may have the `variation_type` column or not; each row's layout is told
/// from its token count.
///
/// # Errors
/// [`Error::Io`] if a file cannot be read, and [`Error::BadFile`] naming the file and the 1-based
/// line for anything else: a wrong row count or header, a field count or number that does not
/// parse, a label outside 1..=50, an empty box, a clothes type or visibility out of range, a
/// non-finite coordinate, an image listed twice in one file or missing from another.
pub fn load_deepfashion(root: &Path) -> Result<Vec<Record>> {
    let cat = Table::read(root, CATEGORY_FILE)?;
    let bbox = Table::read(root, BBOX_FILE)?;
    let lm = Table::read(root, LANDMARK_FILE)?;
    let part = Table::read(root, PARTITION_FILE)?;

    let cat_idx = cat.index(Some(2))?;
    let bbox_idx = bbox.index(Some(5))?;
    let lm_idx = lm.index(None)?;
    let part_idx = part.index(Some(2))?;

    // Parse every row of every file, so that a bad row is reported even if its image is missing
    // elsewhere.
    let mut categories = Vec::with_capacity(cat.rows.len());
    for (line, t) in cat.iter() {
        let label: u32 = cat.parse(line, t[1], "category_label")?;
        if !(1..=DEEPFASHION_CATEGORIES as u32).contains(&label) {
            return Err(cat.err(
                line,
                format!("category_label {label} is outside 1..={DEEPFASHION_CATEGORIES}"),
            ));
        }
        categories.push(label - 1);
    }
    let mut boxes = Vec::with_capacity(bbox.rows.len());
    for (line, t) in bbox.iter() {
        let mut b = [0u32; 4];
        for (v, (tok, what)) in b
            .iter_mut()
            .zip(t[1..].iter().zip(["x_1", "y_1", "x_2", "y_2"]))
        {
            *v = bbox.parse(line, tok, what)?;
        }
        if b[2] <= b[0] || b[3] <= b[1] {
            return Err(bbox.err(
                line,
                format!(
                    "empty box: x_1 {} y_1 {} x_2 {} y_2 {} (need x_2 > x_1 and y_2 > y_1)",
                    b[0], b[1], b[2], b[3]
                ),
            ));
        }
        boxes.push(b);
    }
    let mut marks = Vec::with_capacity(lm.rows.len());
    for (line, t) in lm.iter() {
        marks.push(parse_landmark_row(&lm, line, &t)?);
    }
    let mut partitions = Vec::with_capacity(part.rows.len());
    for (line, t) in part.iter() {
        let p = Partition::parse(t[1]).ok_or_else(|| {
            part.err(
                line,
                format!("evaluation_status {:?} is not train, val or test", t[1]),
            )
        })?;
        partitions.push(p);
    }

    // Every annotated image must be in the partition list; the reverse is checked while joining.
    for table in [&cat, &bbox, &lm] {
        if let Some((line, t)) = table.iter().find(|(_, t)| !part_idx.contains_key(t[0])) {
            return Err(table.err(line, format!("{} is not in {PARTITION_FILE}", t[0])));
        }
    }

    let mut records = Vec::with_capacity(part.rows.len());
    for (i, (line, t)) in part.iter().enumerate() {
        let name = t[0];
        let missing = |file: &str| part.err(line, format!("{name} has no row in {file}"));
        let c = *cat_idx.get(name).ok_or_else(|| missing(CATEGORY_FILE))?;
        let b = *bbox_idx.get(name).ok_or_else(|| missing(BBOX_FILE))?;
        let l = *lm_idx.get(name).ok_or_else(|| missing(LANDMARK_FILE))?;
        let row = &marks[l];
        records.push(Record {
            image: name.to_owned(),
            category: categories[c],
            bbox: boxes[b],
            clothes_type: row.clothes_type,
            landmarks: row.landmarks,
            visible: row.visible,
            partition: partitions[i],
        });
    }
    Ok(records)
}
