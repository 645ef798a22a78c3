//! Features and labels from other tools: NumPy's `.npy` and `.npz` (through ndarray-npy) and CSV
//! with a named label column. Everything is checked before it is used, and every error names the
//! file and what is wrong with it: the dtype, the number of dimensions, a NaN or an infinity (with
//! its row and column), a ragged CSV row (with its line), labels that are not non-negative
//! integers, features and labels of different lengths.

use std::io::Cursor;
use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::{NpzWriter, ReadNpyExt};

use crate::error::{Error, Result};

/// The largest input file read (bytes): a bound checked before anything is read or allocated.
pub const MAX_FILE_BYTES: u64 = 32 << 30;

/// A dense row-major `rows × cols` matrix of f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// The `rows · cols` values, row after row.
    pub data: Vec<f32>,
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (features per sample).
    pub cols: usize,
}

impl Matrix {
    /// Row `r`, `cols` values. Panics past the end, like slice indexing.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// The matrix borrowed.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// A borrowed row-major `rows × cols` matrix of f32 (a NumPy array's buffer, without a copy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatrixRef<'a> {
    /// The `rows · cols` values, row after row.
    pub data: &'a [f32],
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (features per sample).
    pub cols: usize,
}

impl<'a> From<&'a Matrix> for MatrixRef<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

/// Features and one class label per row, as [`read_labelled`] returns them.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// Features, one row per sample.
    pub x: Matrix,
    /// Class label of each row (`x.rows` of them), non-negative integers as given in the file.
    pub y: Vec<u32>,
}

/// The kinds of file this module reads, from the extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Npy,
    Npz,
    Csv,
}

fn kind(path: &Path) -> Result<Kind> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("npy") => Ok(Kind::Npy),
        Some("npz") => Ok(Kind::Npz),
        Some("csv") => Ok(Kind::Csv),
        other => Err(Error::bad_file(
            path,
            format!(
                "unknown file type {}; give a .npy, .npz or .csv file",
                other
                    .map(|e| format!("`.{e}`"))
                    .unwrap_or_else(|| "(no extension)".into())
            ),
        )),
    }
}

/// The whole file, after checking it is a regular file of bounded size.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::internal::io::read::read_regular(path, "an array file", MAX_FILE_BYTES)?;
    if bytes.is_empty() {
        return Err(Error::bad_file(path, "empty file"));
    }
    Ok(bytes)
}

/// The `descr` field of a `.npy` header (`<f4`, `<i8`, `|u1`, ...), for dispatch and messages.
fn npy_descr(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return None;
    }
    let (start, len) = match bytes[6] {
        1 => (10usize, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        _ if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        _ => return None,
    };
    let header = std::str::from_utf8(bytes.get(start..start.checked_add(len)?)?).ok()?;
    let at = header.find("'descr'")?;
    let rest = &header[at + "'descr'".len()..];
    let open = rest.find('\'')?;
    let close = rest[open + 1..].find('\'')?;
    Some(rest[open + 1..open + 1 + close].to_string())
}

fn npy_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::bad_file(path, format!("{what}: {e}"))
}

/// A 2-D feature array of any real or integer dtype, as f32.
fn features_from_npy(path: &Path, bytes: &[u8], what: &str) -> Result<Matrix> {
    let descr = npy_descr(bytes)
        .ok_or_else(|| Error::bad_file(path, format!("{what}: not a NumPy .npy array")))?;
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    macro_rules! as_f32 {
        ($t:ty) => {{
            let a =
                Array2::<$t>::read_npy(Cursor::new(bytes)).map_err(|e| npy_err(path, what, e))?;
            a.mapv(|v| v as f32)
        }};
    }
    let a: Array2<f32> = match code {
        "f4" => Array2::<f32>::read_npy(Cursor::new(bytes)).map_err(|e| npy_err(path, what, e))?,
        "f8" => as_f32!(f64),
        "i1" => as_f32!(i8),
        "i2" => as_f32!(i16),
        "i4" => as_f32!(i32),
        "i8" => as_f32!(i64),
        "u1" => as_f32!(u8),
        "u2" => as_f32!(u16),
        "u4" => as_f32!(u32),
        "u8" => as_f32!(u64),
        _ => {
            return Err(Error::bad_file(
                path,
                format!("{what} has dtype `{descr}`; features must be a real or integer array"),
            ))
        }
    };
    let (rows, cols) = a.dim();
    // `as_standard_layout` turns a Fortran-ordered array into row-major order.
    let data: Vec<f32> = a.as_standard_layout().iter().copied().collect();
    let m = Matrix { data, rows, cols };
    check_features(path, what, &m)?;
    Ok(m)
}

/// A 1-D array of class labels: an integer dtype, every value non-negative and below 2^32.
fn labels_from_npy(path: &Path, bytes: &[u8], what: &str) -> Result<Vec<u32>> {
    let descr = npy_descr(bytes)
        .ok_or_else(|| Error::bad_file(path, format!("{what}: not a NumPy .npy array")))?;
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    macro_rules! ints {
        ($t:ty) => {{
            let a =
                Array1::<$t>::read_npy(Cursor::new(bytes)).map_err(|e| npy_err(path, what, e))?;
            a.iter().map(|&v| v as i128).collect::<Vec<i128>>()
        }};
    }
    let values: Vec<i128> = match code {
        "i1" => ints!(i8),
        "i2" => ints!(i16),
        "i4" => ints!(i32),
        "i8" => ints!(i64),
        "u1" => ints!(u8),
        "u2" => ints!(u16),
        "u4" => ints!(u32),
        "u8" => ints!(u64),
        _ => {
            return Err(Error::bad_file(
                path,
                format!(
                "{what} has dtype `{descr}`; labels must be integers (e.g. `y.astype(np.int64)`)"
            ),
            ))
        }
    };
    labels_from_ints(path, what, values)
}

fn labels_from_ints(path: &Path, what: &str, values: Vec<i128>) -> Result<Vec<u32>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            u32::try_from(v).map_err(|_| {
                Error::bad_file(
                    path,
                    format!("{what}[{i}] = {v}: labels must be non-negative and below 2^32"),
                )
            })
        })
        .collect()
}

fn check_features(path: &Path, what: &str, m: &Matrix) -> Result<()> {
    if m.rows == 0 || m.cols == 0 {
        return Err(Error::bad_file(
            path,
            format!("{what} is {} × {}: no features", m.rows, m.cols),
        ));
    }
    if let Some(i) = m.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::bad_file(
            path,
            format!(
                "{what} has {} at row {}, column {}; features must be finite",
                m.data[i],
                i / m.cols,
                i % m.cols
            ),
        ));
    }
    Ok(())
}

/// The arrays of an `.npz` archive (plain or compressed), by name without `.npy`, as `.npy` bytes.
fn npz_arrays(path: &Path, bytes: Vec<u8>) -> Result<Vec<(String, Vec<u8>)>> {
    let bad =
        |e: &dyn std::fmt::Display| Error::bad_file(path, format!("not a NumPy .npz archive: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| bad(&e))?;
        let name = f.name().to_string();
        if f.size() > MAX_FILE_BYTES {
            return Err(Error::bad_file(
                path,
                format!("entry {name} inflates to {} bytes", f.size()),
            ));
        }
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut buf)
            .map_err(|e| Error::bad_file(path, format!("entry {name}: {e}")))?;
        out.push((name.trim_end_matches(".npy").to_string(), buf));
    }
    if out.is_empty() {
        return Err(Error::bad_file(path, "an .npz archive with no arrays"));
    }
    Ok(out)
}

/// Picks `key` (or, when the archive holds one array, that one).
fn npz_pick<'a>(
    path: &Path,
    arrays: &'a [(String, Vec<u8>)],
    keys: &[&str],
) -> Result<&'a (String, Vec<u8>)> {
    if let Some(a) = arrays.iter().find(|(n, _)| keys.contains(&n.as_str())) {
        return Ok(a);
    }
    if arrays.len() == 1 {
        return Ok(&arrays[0]);
    }
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    Err(Error::bad_file(
        path,
        format!(
            "no array named {} among {names:?}",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    ))
}

/// Features from a `.npy` (2-D), an `.npz` (its `x` or `X`, or its only array) or a CSV whose
/// every column is a feature, told apart by the extension; any real or integer dtype is converted
/// to f32, Fortran order to row-major.
///
/// # Errors
/// [`Error::Io`] or [`Error::BadFile`] naming the file: an unknown extension, a file that is not
/// a regular file or is larger than [`MAX_FILE_BYTES`], an empty or malformed array, a dtype
/// other than real or integer, not 2-D, no rows or columns, or a value that is not finite.
pub fn read_features(path: &Path) -> Result<Matrix> {
    match kind(path)? {
        Kind::Npy => features_from_npy(path, &read_bounded(path)?, "the array"),
        Kind::Npz => {
            let arrays = npz_arrays(path, read_bounded(path)?)?;
            let (name, bytes) = npz_pick(path, &arrays, &["x", "X"])?;
            features_from_npy(path, bytes, &format!("array `{name}`"))
        }
        Kind::Csv => Ok(read_csv(path, None)?.0),
    }
}

/// Labels from a `.npy` (1-D integers), an `.npz` (its `y`, or its only array) or a one-column CSV.
///
/// # Errors
/// [`Error::Io`] or [`Error::BadFile`] naming the file, as [`read_features`], and for a label that
/// is not an integer in `0..2^32`.
pub fn read_labels(path: &Path) -> Result<Vec<u32>> {
    match kind(path)? {
        Kind::Npy => labels_from_npy(path, &read_bounded(path)?, "the labels"),
        Kind::Npz => {
            let arrays = npz_arrays(path, read_bounded(path)?)?;
            let (name, bytes) = npz_pick(path, &arrays, &["y", "Y"])?;
            labels_from_npy(path, bytes, &format!("array `{name}`"))
        }
        Kind::Csv => {
            let (m, _) = read_csv(path, None)?;
            if m.cols != 1 {
                return Err(Error::bad_file(
                    path,
                    format!("{} columns; a labels CSV has one", m.cols),
                ));
            }
            let ints = m
                .data
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if v.fract() == 0.0 {
                        Ok(v as i128)
                    } else {
                        Err(Error::bad_file(
                            path,
                            format!("row {i}: label {v} is not an integer"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            labels_from_ints(path, "the labels", ints)
        }
    }
}

/// A CSV of numbers. The first row is a header when any of its fields is not a number. With
/// `label_column`, that column (named in the header) is returned as the labels and the others
/// as the features. Returns the features and the labels (empty without `label_column`). Blank
/// lines are skipped.
///
/// # Errors
/// [`Error::Io`] or [`Error::BadFile`] naming the file and the line: a ragged row, a field that is
/// not a number, a non-finite feature, a label that is not an integer in `0..2^32`, no column named
/// `label_column` (or no header at all), no data.
pub fn read_csv(path: &Path, label_column: Option<&str>) -> Result<(Matrix, Vec<u32>)> {
    let bytes = read_bounded(path)?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Cursor::new(bytes));
    let mut records = r.records();
    let first = match records.next() {
        Some(rec) => rec.map_err(|e| Error::bad_file(path, format!("not CSV: {e}")))?,
        None => return Err(Error::bad_file(path, "empty file")),
    };
    let is_header = first.iter().any(|f| f.parse::<f64>().is_err());
    let width = first.len();
    let label = match (label_column, is_header) {
        (None, _) => None,
        (Some(name), true) => Some(first.iter().position(|f| f == name).ok_or_else(|| {
            Error::bad_file(
                path,
                format!(
                    "no column named `{name}`; the header has {:?}",
                    first.iter().collect::<Vec<_>>()
                ),
            )
        })?),
        (Some(name), false) => {
            return Err(Error::bad_file(
                path,
                format!("the first row is numbers, not a header, so no column is named `{name}`"),
            ))
        }
    };
    let cols = width - usize::from(label.is_some());
    let mut data = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0usize;
    let pending = if is_header { None } else { Some(Ok(first)) };
    for (i, rec) in pending.into_iter().chain(records).enumerate() {
        let line = i + 1 + usize::from(is_header);
        let rec = rec.map_err(|e| Error::bad_file(path, format!("line {line}: {e}")))?;
        if rec.len() == 1 && rec.get(0) == Some("") {
            continue;
        }
        if rec.len() != width {
            return Err(Error::bad_file(
                path,
                format!(
                    "line {line} has {} fields, the {} has {width}",
                    rec.len(),
                    if is_header { "header" } else { "first row" }
                ),
            ));
        }
        for (c, field) in rec.iter().enumerate() {
            if Some(c) == label {
                let v: i64 = field.parse().map_err(|_| {
                    Error::bad_file(
                        path,
                        format!("line {line}: label `{field}` is not an integer"),
                    )
                })?;
                labels.push(u32::try_from(v).map_err(|_| {
                    Error::bad_file(
                        path,
                        format!("line {line}: label {v} must be non-negative and below 2^32"),
                    )
                })?);
                continue;
            }
            let v: f32 = field.parse().map_err(|_| {
                Error::bad_file(
                    path,
                    format!("line {line}, column {}: `{field}` is not a number", c + 1),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "line {line}, column {}: {v}; features must be finite",
                        c + 1
                    ),
                ));
            }
            data.push(v);
        }
        rows += 1;
    }
    let m = Matrix { data, rows, cols };
    check_features(path, "the CSV", &m)?;
    Ok((m, labels))
}

/// Features and labels: `x` as [`read_features`] (or a CSV with the labels in `label_column`
/// when `y` is `None`, or an `.npz` holding both `x` and `y`), `y` as [`read_labels`]; one label
/// per row.
///
/// # Errors
/// Those of the readers, and [`Error::Invalid`] when `y` is `None` and `x` is a `.npy` (it holds
/// no labels) or an `.npz` without a `y` array, or when the row and label counts differ.
pub fn read_labelled(x: &Path, y: Option<&Path>, label_column: &str) -> Result<Labelled> {
    let (x_m, labels) = match y {
        Some(y_path) => (read_features(x)?, read_labels(y_path)?),
        None if kind(x)? == Kind::Csv => read_csv(x, Some(label_column))?,
        None if kind(x)? == Kind::Npz => {
            // Not `read_labels`: an archive's only array is its features here, not its labels.
            // One read of the archive for both arrays.
            let arrays = npz_arrays(x, read_bounded(x)?)?;
            let (x_name, x_bytes) = npz_pick(x, &arrays, &["x", "X"])?;
            let features = features_from_npy(x, x_bytes, &format!("array `{x_name}`"))?;
            let Some((name, bytes)) = arrays.iter().find(|(n, _)| n == "y" || n == "Y") else {
                let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::invalid(
                    "labels",
                    format!(
                        "{} holds no labels array `y` (its arrays: {names:?}); give the labels \
                         too (--y FILE)",
                        x.display()
                    ),
                ));
            };
            (
                features,
                labels_from_npy(x, bytes, &format!("array `{name}`"))?,
            )
        }
        None => {
            return Err(Error::invalid(
                "labels",
                format!(
                    "{} holds features only; give the labels too (--y FILE), or an .npz with `x` \
                     and `y`, or a CSV with a `{label_column}` column",
                    x.display()
                ),
            ))
        }
    };
    if labels.len() != x_m.rows {
        return Err(Error::invalid(
            "features and labels",
            format!(
                "{} has {} rows but {} labels",
                x.display(),
                x_m.rows,
                labels.len()
            ),
        ));
    }
    Ok(Labelled { x: x_m, y: labels })
}

/// Writes `x` (f32, `rows × cols`) and `y` (int64) to an `.npz`, atomically; [`read_labelled`]
/// reads it back.
///
/// # Errors
/// [`Error::Invalid`] if `x.data` does not hold `rows · cols` values; [`Error::BadFile`] or
/// [`Error::Io`] if the archive cannot be written.
pub fn write_npz(path: &Path, x: &Matrix, y: &[u32]) -> Result<()> {
    write_npz_arrays(path, &[("x", x)], &[("y", y)])
}

/// Writes the f32 matrices `matrices` and the int64 vectors `labels` to an `.npz` under their
/// names, atomically (a temporary file renamed over `path`); errors as [`write_npz`].
pub fn write_npz_arrays(
    path: &Path,
    matrices: &[(&str, &Matrix)],
    labels: &[(&str, &[u32])],
) -> Result<()> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut w = NpzWriter::new(&mut buf);
        for (name, m) in matrices {
            let a = Array2::from_shape_vec((m.rows, m.cols), m.data.clone())
                .map_err(|e| Error::invalid("npz output", e.to_string()))?;
            w.add_array(*name, &a)
                .map_err(|e| Error::bad_file(path, format!("writing {name}: {e}")))?;
        }
        for (name, v) in labels {
            let a: Array1<i64> = v.iter().map(|&v| v as i64).collect();
            w.add_array(*name, &a)
                .map_err(|e| Error::bad_file(path, format!("writing {name}: {e}")))?;
        }
        w.finish()
            .map_err(|e| Error::bad_file(path, format!("writing the archive: {e}")))?;
    }
    crate::internal::io::atomic::write(path, &buf.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;
    use ndarray_npy::{WritableElement, WriteNpyExt};

    fn npy<A: WritableElement, D: ndarray::Dimension>(a: &ndarray::Array<A, D>) -> Vec<u8> {
        let mut v = Vec::new();
        a.write_npy(&mut v).unwrap();
        v
    }

    fn put(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn npy_features_of_every_real_and_integer_dtype_and_both_orders() {
        let d = tempfile::tempdir().unwrap();
        let want = Matrix {
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            rows: 2,
            cols: 3,
        };
        let f64s = Array2::from_shape_vec((2, 3), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let p = put(d.path(), "a.npy", &npy(&f64s));
        assert_eq!(read_features(&p).unwrap(), want);
        let p = put(d.path(), "b.npy", &npy(&f64s.mapv(|v| v as f32)));
        assert_eq!(read_features(&p).unwrap(), want);
        let p = put(d.path(), "c.npy", &npy(&f64s.mapv(|v| v as u8)));
        assert_eq!(read_features(&p).unwrap(), want);
        let p = put(d.path(), "d.npy", &npy(&f64s.mapv(|v| v as i64)));
        assert_eq!(read_features(&p).unwrap(), want);
        // Fortran order: the same logical matrix stored column by column.
        let mut fo = Array2::<f32>::zeros((2, 3).f());
        fo.assign(&f64s.mapv(|v| v as f32));
        let p = put(d.path(), "e.npy", &npy(&fo));
        assert_eq!(read_features(&p).unwrap(), want);
    }

    #[test]
    fn bad_feature_arrays_are_named() {
        let d = tempfile::tempdir().unwrap();
        let mut a = Array2::<f32>::zeros((3, 2));
        a[[2, 1]] = f32::NAN;
        let p = put(d.path(), "nan.npy", &npy(&a));
        let m = msg(read_features(&p));
        assert!(
            m.contains("nan.npy") && m.contains("row 2, column 1"),
            "{m}"
        );
        let p = put(d.path(), "vec.npy", &npy(&Array1::<f32>::zeros(4)));
        assert!(msg(read_features(&p)).contains("vec.npy"));
        let p = put(d.path(), "empty.npy", b"");
        assert!(msg(read_features(&p)).contains("empty file"));
        let p = put(d.path(), "junk.npy", b"not numpy at all");
        assert!(msg(read_features(&p)).contains("not a NumPy .npy array"));
        let p = put(d.path(), "x.parquet", b"PAR1");
        assert!(msg(read_features(&p)).contains("unknown file type `.parquet`"));
        let dir = d.path().join("dir.npy");
        std::fs::create_dir(&dir).unwrap();
        assert!(msg(read_features(&dir)).contains("is a directory"));
        let m = msg(read_features(&d.path().join("missing.npy")));
        assert!(m.contains("missing.npy"), "{m}");
    }

    #[test]
    fn labels_must_be_non_negative_integers() {
        let d = tempfile::tempdir().unwrap();
        let p = put(d.path(), "y.npy", &npy(&Array1::from(vec![0i64, 2, 1])));
        assert_eq!(read_labels(&p).unwrap(), vec![0, 2, 1]);
        let p = put(d.path(), "y8.npy", &npy(&Array1::from(vec![3u8, 0])));
        assert_eq!(read_labels(&p).unwrap(), vec![3, 0]);
        let p = put(d.path(), "yf.npy", &npy(&Array1::from(vec![0.0f64, 1.0])));
        let m = msg(read_labels(&p));
        assert!(
            m.contains("yf.npy") && m.contains("`<f8`") && m.contains("integers"),
            "{m}"
        );
        let p = put(d.path(), "yn.npy", &npy(&Array1::from(vec![0i32, -1])));
        let m = msg(read_labels(&p));
        assert!(m.contains("[1] = -1") && m.contains("non-negative"), "{m}");
    }

    #[test]
    fn npz_by_name_or_alone_and_xy_lengths() {
        let d = tempfile::tempdir().unwrap();
        let x = Matrix {
            data: vec![0.5, -1.0, 2.0, 3.0],
            rows: 2,
            cols: 2,
        };
        let p = d.path().join("xy.npz");
        write_npz(&p, &x, &[4, 1]).unwrap();
        let got = read_labelled(&p, None, "label").unwrap();
        assert_eq!(got.x, x);
        assert_eq!(got.y, vec![4, 1]);
        // Labels from another file of the wrong length.
        let y = put(d.path(), "y.npy", &npy(&Array1::from(vec![0i64, 1, 2])));
        let m = msg(read_labelled(&p, Some(&y), "label"));
        assert!(m.contains("2 rows but 3 labels"), "{m}");
        // An archive without `x` and with two arrays names what it has.
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = NpzWriter::new(&mut buf);
            w.add_array("a", &Array2::<f32>::zeros((1, 1))).unwrap();
            w.add_array("b", &Array2::<f32>::zeros((1, 1))).unwrap();
            w.finish().unwrap();
        }
        let p = put(d.path(), "ab.npz", &buf.into_inner());
        let m = msg(read_features(&p));
        assert!(m.contains("`x` or `X`") && m.contains("\"a\""), "{m}");
        let p = put(d.path(), "bad.npz", b"PK\x03\x04 truncated");
        assert!(msg(read_features(&p)).contains("not a NumPy .npz archive"));
        // Features only: the labels must come from somewhere.
        let p = put(d.path(), "x.npy", &npy(&Array2::<f32>::zeros((2, 2))));
        assert!(msg(read_labelled(&p, None, "label")).contains("--y FILE"));
    }

    #[test]
    fn an_npz_of_features_alone_asks_for_the_labels() {
        let d = tempfile::tempdir().unwrap();
        let x = Matrix {
            data: vec![0.5; 6],
            rows: 3,
            cols: 2,
        };
        let p = d.path().join("x.npz");
        write_npz_arrays(&p, &[("x", &x)], &[]).unwrap();
        let e = msg(read_labelled(&p, None, "label"));
        assert!(
            e.contains("holds no labels array `y`") && e.contains("--y"),
            "{e}"
        );
        write_npz(&p, &x, &[0, 1, 1]).unwrap();
        assert_eq!(read_labelled(&p, None, "label").unwrap().y, vec![0, 1, 1]);
    }

    #[test]
    fn csv_with_a_named_label_column() {
        let d = tempfile::tempdir().unwrap();
        let p = put(d.path(), "t.csv", b"f0, label ,f1\n1.5,2,-3\n0,0,4e-1\n\n");
        let got = read_labelled(&p, None, "label").unwrap();
        assert_eq!(got.x.data, vec![1.5, -3.0, 0.0, 0.4]);
        assert_eq!((got.x.rows, got.x.cols), (2, 2));
        assert_eq!(got.y, vec![2, 0]);
        // Without a label column every column is a feature.
        let all = read_features(&p).unwrap();
        assert_eq!((all.rows, all.cols), (2, 3));
        assert_eq!(all.row(1), &[0.0, 0.0, 0.4]);
        let p = put(d.path(), "ragged.csv", b"a,label\n1,0\n2\n");
        let m = msg(read_labelled(&p, None, "label"));
        assert!(
            m.contains("ragged.csv") && m.contains("line 3 has 1 fields, the header has 2"),
            "{m}"
        );
        let p = put(d.path(), "nolabel.csv", b"a,b\n1,0\n");
        assert!(msg(read_labelled(&p, None, "label")).contains("no column named `label`"));
        let p = put(d.path(), "frac.csv", b"a,label\n1,0.5\n");
        assert!(msg(read_labelled(&p, None, "label")).contains("label `0.5` is not an integer"));
        let p = put(d.path(), "inf.csv", b"a,label\ninf,1\n");
        assert!(msg(read_labelled(&p, None, "label")).contains("line 2, column 1: inf"));
        let p = put(d.path(), "word.csv", b"a,label\nx1,1\n");
        assert!(msg(read_labelled(&p, None, "label")).contains("`x1` is not a number"));
        let p = put(d.path(), "numbers.csv", b"1,2\n3,4\n");
        assert!(msg(read_labelled(&p, None, "label")).contains("not a header"));
        assert_eq!(read_features(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        let p = put(d.path(), "ycol.csv", b"y\n1\n0\n");
        assert_eq!(read_labels(&p).unwrap(), vec![1, 0]);
    }
}
