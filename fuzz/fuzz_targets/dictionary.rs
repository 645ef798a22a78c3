//! The dictionary loader on arbitrary bytes. A dictionary it accepts must be usable by Phase 2
//! without a panic: consistent row layout and widths, finite values.
#![no_main]

use std::path::Path;

use convexgan::train::dictionary::Dictionary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Dictionary::from_bytes(Path::new("fuzz.safetensors"), data) {
        let rows = d.layout.total();
        assert_eq!(d.texture.len(), rows * d.d_t);
        assert_eq!(d.shape.len(), rows * d.d_s);
        assert_eq!(d.classes(), d.layout.classes());
        assert!(d.min_rows() >= 1);
    }
});
