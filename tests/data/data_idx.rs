//! IDX reader: round trips (raw and gzip) and every malformed-file case, each of which must be an
//! `Err` whose message names the file (and never a panic).

use std::io::Write;
use std::path::{Path, PathBuf};

use convexgan::data::{read_idx_images, read_idx_labels, Images};
use flate2::write::GzEncoder;
use flate2::Compression;

fn idx_bytes(dtype: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, dtype, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(payload);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts an error whose message names the file and contains every one of `needles`.
fn assert_err<T: std::fmt::Debug>(r: convexgan::Result<T>, path: &Path, needles: &[&str]) {
    let name = path.file_name().unwrap().to_str().unwrap();
    match r {
        Ok(v) => panic!("{name}: expected an error, got Ok({v:?})"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "error does not name {name}: {msg}");
            for n in needles {
                assert!(msg.contains(n), "error for {name} lacks {n:?}: {msg}");
            }
        }
    }
}

fn sample_images() -> (Vec<u32>, Vec<u8>) {
    let dims = vec![3, 2, 4];
    let payload: Vec<u8> = (0..24u8).map(|v| v.wrapping_mul(37)).collect();
    (dims, payload)
}

#[test]
fn images_round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (dims, payload) = sample_images();
    let raw = idx_bytes(0x08, &dims, &payload);
    let want = Images {
        n: 3,
        rows: 2,
        cols: 4,
        pixels: payload.clone(),
    };
    let p = write(dir.path(), "img-idx3-ubyte", &raw);
    assert_eq!(read_idx_images(&p).unwrap(), want);
    let p = write(dir.path(), "img-idx3-ubyte.gz", &gzip(&raw));
    assert_eq!(read_idx_images(&p).unwrap(), want);
    // Compression is detected from the content, not the name.
    let p = write(dir.path(), "misnamed-raw.gz", &raw);
    assert_eq!(read_idx_images(&p).unwrap(), want);
    let p = write(dir.path(), "misnamed-gzip", &gzip(&raw));
    assert_eq!(read_idx_images(&p).unwrap(), want);
    assert_eq!(want.image(2).unwrap(), &payload[16..24]);
    assert!(want.image(3).is_none());
}

#[test]
fn labels_round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<u8> = vec![9, 0, 3, 3, 7, 1];
    let raw = idx_bytes(0x08, &[6], &labels);
    let p = write(dir.path(), "lab-idx1-ubyte", &raw);
    assert_eq!(read_idx_labels(&p).unwrap(), labels);
    let p = write(dir.path(), "lab-idx1-ubyte.gz", &gzip(&raw));
    assert_eq!(read_idx_labels(&p).unwrap(), labels);
    // Zero labels is a well-formed (if useless) file.
    let p = write(dir.path(), "none.gz", &gzip(&idx_bytes(0x08, &[0], &[])));
    assert_eq!(read_idx_labels(&p).unwrap(), Vec::<u8>::new());
}

#[test]
fn missing_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("does-not-exist.gz");
    assert_err(read_idx_images(&p), &p, &[]);
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    assert_err(read_idx_labels(&sub), &sub, &["directory"]);
}

#[test]
fn empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty-raw", &[]);
    assert_err(read_idx_images(&p), &p, &["empty"]);
    let p = write(dir.path(), "empty-payload.gz", &gzip(&[]));
    assert_err(read_idx_images(&p), &p, &["empty"]);
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "short-magic", &[0, 0]);
    assert_err(
        read_idx_labels(&p),
        &p,
        &["truncated", "expected 4", "got 2"],
    );
    let full = idx_bytes(0x08, &[3, 2, 4], &[]);
    let p = write(dir.path(), "short-dims", &full[..9]);
    assert_err(
        read_idx_images(&p),
        &p,
        &["truncated", "expected 12", "got 5"],
    );
    let p = write(dir.path(), "short-dims.gz", &gzip(&full[..9]));
    assert_err(
        read_idx_images(&p),
        &p,
        &["truncated", "expected 12", "got 5"],
    );
}

#[test]
fn truncated_payload_says_expected_and_got() {
    let dir = tempfile::tempdir().unwrap();
    let (dims, payload) = sample_images();
    let raw = idx_bytes(0x08, &dims, &payload[..20]);
    let p = write(dir.path(), "short-payload", &raw);
    assert_err(read_idx_images(&p), &p, &["truncated", "24", "got 20"]);
    let p = write(dir.path(), "short-payload.gz", &gzip(&raw));
    assert_err(read_idx_images(&p), &p, &["truncated", "24", "got 20"]);
    let raw = idx_bytes(0x08, &[10], &[1, 2, 3]);
    let p = write(dir.path(), "short-labels.gz", &gzip(&raw));
    assert_err(read_idx_labels(&p), &p, &["truncated", "10", "got 3"]);
}

#[test]
fn trailing_bytes_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let raw = idx_bytes(0x08, &[3], &[1, 2, 3, 4, 5]);
    let p = write(dir.path(), "long-labels", &raw);
    assert_err(read_idx_labels(&p), &p, &["2 trailing bytes"]);
    let p = write(dir.path(), "long-labels.gz", &gzip(&raw));
    assert_err(read_idx_labels(&p), &p, &["2 trailing bytes"]);
    // Junk after the gzip stream is refused too, not ignored.
    let good = idx_bytes(0x08, &[3], &[1, 2, 3]);
    let mut junk = gzip(&good);
    junk.extend_from_slice(b"junk after the stream");
    let p = write(dir.path(), "junk.gz", &junk);
    assert_err(read_idx_labels(&p), &p, &["corrupt gzip stream"]);
}

#[test]
fn a_gzip_of_several_members_is_one_stream() {
    // `cat head.gz rest.gz`: the header in one member, the payload in the next.
    let dir = tempfile::tempdir().unwrap();
    let good = idx_bytes(0x08, &[3], &[1, 2, 3]);
    let mut two = gzip(&good[..8]);
    two.extend(gzip(&good[8..]));
    let p = write(dir.path(), "two-members.gz", &two);
    assert_eq!(read_idx_labels(&p).unwrap(), vec![1, 2, 3]);
}

#[test]
fn an_image_count_disagreeing_with_the_labels_is_refused_before_inflating() {
    use convexgan::data::idx::read_idx_images_for;
    let dir = tempfile::tempdir().unwrap();
    // A header claiming 2.7 M images over a few bytes of payload: refused from the header.
    let lying = idx_bytes(0x08, &[2_700_000, 28, 28], &[0; 16]);
    let p = write(dir.path(), "images.gz", &gzip(&lying));
    let labels = dir.path().join("labels.gz");
    let e = read_idx_images_for(&p, 60_000, &labels)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2700000 images") && e.contains("60000 labels"),
        "{e}"
    );
}

#[test]
fn wrong_magic_dtype_ndim() {
    let dir = tempfile::tempdir().unwrap();
    let (dims, payload) = sample_images();
    let mut bad = idx_bytes(0x08, &dims, &payload);
    bad[0] = 0x50;
    bad[1] = 0x4b;
    let p = write(dir.path(), "zip-not-idx", &bad);
    assert_err(read_idx_images(&p), &p, &["wrong magic"]);

    let p = write(
        dir.path(),
        "floats.gz",
        &gzip(&idx_bytes(0x0d, &dims, &payload)),
    );
    assert_err(read_idx_images(&p), &p, &["dtype 0x0d"]);

    let labels = idx_bytes(0x08, &[24], &payload);
    let p = write(dir.path(), "labels-as-images", &labels);
    assert_err(read_idx_images(&p), &p, &["expected 3", "says 1"]);
    let images = idx_bytes(0x08, &dims, &payload);
    let p = write(dir.path(), "images-as-labels.gz", &gzip(&images));
    assert_err(read_idx_labels(&p), &p, &["expected 1", "says 3"]);
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (dims, payload) = sample_images();
    let gz = gzip(&idx_bytes(0x08, &dims, &payload));

    // Cut inside the deflate stream.
    let p = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    assert_err(read_idx_images(&p), &p, &[]);
    // Cut off the CRC/size trailer only.
    let p = write(dir.path(), "no-trailer.gz", &gz[..gz.len() - 8]);
    assert_err(read_idx_images(&p), &p, &[]);
    // Wrong CRC.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let p = write(dir.path(), "bad-crc.gz", &bad_crc);
    assert_err(read_idx_images(&p), &p, &["gzip"]);
    // Garbage after a valid gzip magic.
    let mut garbage = vec![0x1f, 0x8b];
    garbage.extend((0..64u8).map(|v| v.wrapping_mul(91).wrapping_add(7)));
    let p = write(dir.path(), "garbage.gz", &garbage);
    assert_err(read_idx_images(&p), &p, &["gzip"]);
}

#[test]
fn absurd_dims_rejected_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // 2^96 elements: the product overflows u64.
    let raw = idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[0; 8]);
    let p = write(dir.path(), "overflow", &raw);
    assert_err(read_idx_images(&p), &p, &["2^31"]);
    // 2^31 + 2^16 elements: fits u64 but over the limit.
    let raw = idx_bytes(0x08, &[32769, 256, 256], &[0; 8]);
    let p = write(dir.path(), "too-big.gz", &gzip(&raw));
    assert_err(read_idx_images(&p), &p, &["2^31"]);
    // Under the limit (1.5 GB) but the gzip holds 8 bytes: must report truncation, not try to
    // allocate the claimed size up front.
    let raw = idx_bytes(0x08, &[24000, 256, 256], &[0; 8]);
    let p = write(dir.path(), "liar.gz", &gzip(&raw));
    assert_err(
        read_idx_images(&p),
        &p,
        &["truncated", "1572864000", "got 8"],
    );
    let p = write(dir.path(), "liar-raw", &raw);
    assert_err(
        read_idx_images(&p),
        &p,
        &["truncated", "1572864000", "got 8"],
    );
}

#[test]
fn zero_sized_images_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "flat", &idx_bytes(0x08, &[4, 0, 28], &[]));
    assert_err(read_idx_images(&p), &p, &["0×28"]);
}
