//! The IDX reader on arbitrary bytes, raw or gzip (the reader detects gzip from the magic), as an
//! image file and as a label file. It must return an error or a consistent result, never panic.
#![no_main]

use std::path::Path;

use convexgan::data::idx::{parse_idx_images, parse_idx_u8};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    if let Ok(images) = parse_idx_images(path, data) {
        assert_eq!(images.pixels.len(), images.n * images.dim());
    }
    if let Ok((dims, labels)) = parse_idx_u8(path, data, 1) {
        assert_eq!(dims.len(), 1);
        assert_eq!(labels.len(), dims[0]);
    }
});
