//! What every stage does with `phase1.safetensors`, on arbitrary bytes: the parameter store, its
//! metadata (`d_in`, `d_in_s`, `classes`, `landmarks`) checked against its tensors, and heads of
//! the `micro` model built from it and filled. A hostile header must be an error, never an
//! allocation the machine cannot make or a panic; the seeds are Phase 1 files of that model.
#![no_main]

use std::path::Path;

use convexgan::internal::app::phase1_heads_from_bytes;
use convexgan::backend::Cpu;
use convexgan::config::Config;
use libfuzzer_sys::fuzz_target;

/// The seeds' model: streams of width 2 and Q a single Linear.
fn micro() -> Config {
    let mut c = Config::tiny();
    c.model.stream_widths = vec![2];
    c.model.q_hidden = 0;
    c
}

fuzz_target!(|data: &[u8]| {
    let be = Cpu::<f32>::new();
    if let Ok(h) = phase1_heads_from_bytes(&be, &micro(), Path::new("phase1.safetensors"), data) {
        assert!(h.classes > 0 && h.d_t() > 0 && h.d_s() > 0);
    }
});
