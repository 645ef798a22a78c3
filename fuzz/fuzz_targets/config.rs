//! The configuration parser on arbitrary text. An accepted configuration must pass the memory
//! estimate without a panic (it multiplies every size in it), and must load again once written.
#![no_main]

use std::path::Path;

use convexgan::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(c) = Config::from_toml(path, text) {
        let _ = convexgan::internal::memory::estimate(&c);
        let written = c.to_toml().expect("a loaded configuration serialises");
        Config::from_toml(path, &written).expect("a written configuration loads again");
    }
});
