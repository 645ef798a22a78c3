//! Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! Layout: two zero bytes, a dtype byte (only `0x08`, unsigned byte, is supported), a byte giving
//! the number of dimensions, one big-endian `u32` per dimension, then the payload in row-major
//! order. Compression is detected from the gzip magic `1f 8b`, not from the file name, so a
//! decompressed copy under a `.gz` name (or the reverse) still reads.
//!
//! Every failure is an [`Error::BadFile`] or [`Error::Io`] naming the file; nothing here panics on
//! bad input, and the payload size is checked against a hard limit before anything is allocated so
//! that a corrupt header cannot ask for terabytes.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// The IDX dtype byte for unsigned 8-bit payloads, the only one Fashion-MNIST uses.
pub const IDX_DTYPE_U8: u8 = 0x08;

/// Largest payload accepted, in elements. Fashion-MNIST's training images are 47 M; anything past
/// 2^31 is a corrupt header rather than a real data set.
pub const MAX_IDX_ELEMENTS: u64 = 1 << 31;

/// A stack of greyscale images as stored in an IDX3 file: `n` images of `rows × cols` pixels,
/// row-major, image after image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub n: usize,
    /// Height of each image, in pixels (28 for Fashion-MNIST).
    pub rows: usize,
    /// Width of each image, in pixels (28 for Fashion-MNIST).
    pub cols: usize,
    /// `n · rows · cols` grey levels, 0 (black) to 255.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image.
    pub fn dim(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, or `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let d = self.dim();
        self.pixels.get(i * d..(i + 1) * d)
    }
}

/// Reads an IDX file of unsigned bytes with exactly `ndim` dimensions; returns the dimensions and
/// the payload, row-major.
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read; [`Error::BadFile`] naming it if it is not a
/// regular file, is empty, has a wrong magic, a dtype other than [`IDX_DTYPE_U8`] or another number
/// of dimensions, claims more than [`MAX_IDX_ELEMENTS`] elements, is truncated, has trailing bytes,
/// or is a corrupt gzip stream.
pub fn read_idx_u8(path: impl AsRef<Path>, ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let path = path.as_ref();
    let (file, len) = open_idx(path)?;
    decode_idx_u8(path, file, len, ndim, &|_| Ok(()))
}

/// The IDX file at `path` opened for reading, and its length; a FIFO would block and a device
/// never end, so regular files only.
fn open_idx(path: &Path) -> Result<(BufReader<File>, u64)> {
    let len = crate::internal::io::read::check_regular(path, "an IDX file", u64::MAX)?;
    let file = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    Ok((file, len))
}

/// A check of an IDX header's dimensions, run before the payload is read or inflated.
type DimsCheck<'c> = &'c dyn Fn(&[usize]) -> Result<()>;

/// [`read_idx_u8`] on the bytes of a file already in memory, raw or gzip; `path` only names it in
/// errors.
pub fn parse_idx_u8(path: &Path, bytes: &[u8], ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    decode_idx_u8(path, bytes, bytes.len() as u64, ndim, &|_| Ok(()))
}

/// [`read_idx_images`] on the bytes of a file already in memory; `path` only names it in errors.
pub fn parse_idx_images(path: &Path, bytes: &[u8]) -> Result<Images> {
    let (dims, pixels) = parse_idx_u8(path, bytes, 3)?;
    images_from(path, &dims, pixels)
}

/// The decoder proper, over any reader holding `len` bytes (a file, or a slice for the fuzzer).
fn decode_idx_u8(
    path: &Path,
    mut file: impl Read,
    len: u64,
    ndim: usize,
    check_dims: DimsCheck<'_>,
) -> Result<(Vec<usize>, Vec<u8>)> {
    if len == 0 {
        return Err(Error::bad_file(path, "empty file, expected an IDX file"));
    }
    let mut magic = [0u8; 2];
    let got = read_full(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    let gzip = got == 2 && magic == [0x1f, 0x8b];
    let head = &magic[..got];
    let mut reader: Box<dyn Read + '_> = if gzip {
        // Several members (as `cat a.gz b.gz` makes) are one stream; bytes after the last member that
        // are not another member are an error, not silently ignored.
        Box::new(MultiGzDecoder::new(head.chain(file)))
    } else {
        Box::new(head.chain(file))
    };
    // Raw files can be checked against their length before allocating; gzip ones only as they
    // decompress.
    let raw_len = (!gzip).then_some(len);
    let source = if gzip { "gzip " } else { "" };
    let read_err = |e: std::io::Error| -> Error {
        if gzip {
            Error::bad_file(path, format!("corrupt gzip stream: {e}"))
        } else {
            Error::io(path, e)
        }
    };

    let mut header = [0u8; 4];
    let got = read_full(&mut reader, &mut header).map_err(read_err)?;
    if got == 0 {
        return Err(Error::bad_file(
            path,
            format!("empty {source}payload, expected an IDX file"),
        ));
    }
    if got < 4 {
        return Err(Error::bad_file(
            path,
            format!("truncated IDX header: expected 4 bytes, got {got}"),
        ));
    }
    if header[0] != 0 || header[1] != 0 {
        return Err(Error::bad_file(
            path,
            format!(
                "wrong magic: first bytes {:02x} {:02x} {:02x} {:02x}, an IDX file starts with 00 00 <dtype> <ndim> (is this an IDX file?)",
                header[0], header[1], header[2], header[3]
            ),
        ));
    }
    if header[2] != IDX_DTYPE_U8 {
        return Err(Error::bad_file(
            path,
            format!(
                "unsupported IDX dtype 0x{:02x}: only 0x08 (unsigned byte) is supported",
                header[2]
            ),
        ));
    }
    let file_ndim = header[3] as usize;
    if file_ndim != ndim {
        return Err(Error::bad_file(
            path,
            format!("wrong number of dimensions: expected {ndim}, the header says {file_ndim}"),
        ));
    }

    let mut dim_bytes = vec![0u8; 4 * ndim];
    let got = read_full(&mut reader, &mut dim_bytes).map_err(read_err)?;
    if got < dim_bytes.len() {
        return Err(Error::bad_file(
            path,
            format!(
                "truncated IDX header: expected {} bytes of dimensions, got {got}",
                dim_bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&e| e <= MAX_IDX_ELEMENTS)
        .ok_or_else(|| {
            Error::bad_file(
                path,
                format!("dimensions {dims:?} give more than 2^31 elements; corrupt header?"),
            )
        })?;
    check_dims(&dims)?;
    let header_len = 4 + 4 * ndim as u64;
    if let Some(len) = raw_len {
        let got = len.saturating_sub(header_len);
        if got < elements {
            return Err(truncated(path, &dims, elements, got));
        }
    }

    // `take` + `read_to_end` grows the buffer with the data actually present, so a gzip file whose
    // header lies about its size cannot force a large allocation.
    let cap = if raw_len.is_some() {
        elements
    } else {
        elements.min(1 << 24)
    };
    let mut payload = Vec::with_capacity(cap as usize);
    (&mut reader)
        .take(elements)
        .read_to_end(&mut payload)
        .map_err(read_err)?;
    if (payload.len() as u64) < elements {
        return Err(truncated(path, &dims, elements, payload.len() as u64));
    }
    // Reading on to the end also makes the gzip decoder verify its CRC.
    let mut rest = Vec::new();
    let extra = reader
        .take(1 << 20)
        .read_to_end(&mut rest)
        .map_err(read_err)?;
    if extra > 0 {
        return Err(Error::bad_file(
            path,
            format!(
                "{}trailing bytes after the payload of {elements} bytes for dimensions {dims:?}",
                if extra >= 1 << 20 {
                    "1 MiB or more of ".to_string()
                } else {
                    format!("{extra} ")
                }
            ),
        ));
    }
    Ok((dims, payload))
}

/// Reads an IDX3 image file (`n × rows × cols` unsigned bytes). Errors as [`read_idx_u8`], and
/// [`Error::BadFile`] for images with a zero side.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Images> {
    let path = path.as_ref();
    let (dims, pixels) = read_idx_u8(path, 3)?;
    images_from(path, &dims, pixels)
}

fn images_from(path: &Path, dims: &[usize], pixels: Vec<u8>) -> Result<Images> {
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::bad_file(
            path,
            format!("images of {rows}×{cols} pixels: both sides must be positive"),
        ));
    }
    Ok(Images {
        n,
        rows,
        cols,
        pixels,
    })
}

/// [`read_idx_images`] for the `n` labels read from `labels`: a header claiming another image count
/// is refused before its payload is read, so a small gzip file whose header claims millions of
/// images is not inflated first. Errors as [`read_idx_images`], and [`Error::BadFile`] naming
/// both files when the counts differ.
pub fn read_idx_images_for(path: impl AsRef<Path>, n: usize, labels: &Path) -> Result<Images> {
    let path = path.as_ref();
    let (file, len) = open_idx(path)?;
    let check = |dims: &[usize]| {
        if dims[0] == n {
            Ok(())
        } else {
            Err(Error::bad_file(
                path,
                format!(
                    "holds {} images but {} holds {n} labels; the two files must belong together",
                    dims[0],
                    labels.display()
                ),
            ))
        }
    };
    let (dims, pixels) = decode_idx_u8(path, file, len, 3, &check)?;
    images_from(path, &dims, pixels)
}

/// Reads an IDX1 label file (`n` unsigned bytes, one class per image). Errors as
/// [`read_idx_u8`].
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    read_idx_u8(path, 1).map(|(_, labels)| labels)
}

fn truncated(path: &Path, dims: &[usize], expected: u64, got: u64) -> Error {
    Error::bad_file(
        path,
        format!("truncated payload: dimensions {dims:?} need {expected} bytes, got {got}"),
    )
}

/// Reads until `buf` is full or the stream ends; returns how many bytes arrived. Unlike
/// `read_exact` this says how short the stream was, which the error messages report.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
