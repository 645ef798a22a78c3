//! The features-file loader on arbitrary bytes. A file it accepts must be consistent (every
//! tensor sized by the header's image count and widths, labels below the class count) and each
//! of its partitions must become a data set without a panic.
#![no_main]

use std::path::Path;

use convexgan::data::features_file::{FeatureSet, Split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = FeatureSet::from_bytes(Path::new("fuzz.safetensors"), data) else {
        return;
    };
    let n = f.n();
    assert!(n > 0 && f.dim() > 0 && f.classes > 0);
    assert_eq!(f.x.len(), n * f.dim());
    assert_eq!(f.split.len(), n);
    assert_eq!(f.image_ids.len(), n);
    assert!(f.labels.iter().all(|&c| (c as usize) < f.classes));
    assert!(f.x.iter().all(|v| v.is_finite()));
    for which in [Split::Train, Split::Val, Split::Test] {
        if let Ok(d) = f.dataset(which) {
            assert_eq!(d.x.len(), d.n * d.dim);
        }
    }
});
