//! The checkpoint loader on arbitrary bytes: the parameter store underneath (also the format of
//! phase1.safetensors and phase2.safetensors), the checkpoint's metadata, the identity check and
//! the restore into a game. Anything it accepts must restore without a panic; the seeds are
//! checkpoints of the `micro` configuration this target builds its game from.
#![no_main]

use std::path::Path;

use convexgan::backend::{Cpu, Precision};
use convexgan::config::Config;
use convexgan::model::Heads;
use convexgan::nn::ParamStore;
use convexgan::train::checkpoint::{Checkpoint, Identity};
use convexgan::train::dictionary::Dictionary;
use convexgan::train::phase2::Game;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seeds' configuration: 10 classes, streams of width 2, Q a single Linear, G and D with one
/// hidden layer of 2, N_s = 1.
fn micro() -> Config {
    let mut c = Config::tiny();
    c.model.stream_widths = vec![2];
    c.model.q_hidden = 0;
    c.model.z_dim = 2;
    c.model.g_hidden = vec![2];
    c.model.d_hidden = vec![2];
    c.phase2.ns = 1;
    c.phase2.epochs = 20000;
    c
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let _ = ParamStore::from_bytes(path, data);
    let Ok(ck) = Checkpoint::from_bytes(path, data) else {
        return;
    };
    let be = Cpu::<f32>::new();
    let cfg = micro();
    let classes = 10;
    let y: Vec<u32> = (0..20).map(|i| i % classes).collect();
    let f = vec![0.5f32; 40];
    let dict = Dictionary::build(
        &f,
        &f,
        2,
        2,
        &y,
        classes as usize,
        4,
        Precision::F32,
        0,
        "x",
    )
    .expect("dictionary");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let q = Heads::new(&be, &cfg.model, 4, classes as usize, &mut rng)
        .expect("heads")
        .q;
    let mut game = Game::new(&be, &cfg.model, &dict, 1, q, &mut rng).expect("game");
    let identity = Identity::of(&be, &cfg, &dict, &game.q).expect("identity");
    let same = ck.check_identity(path, &identity);
    let restored = ck.restore(&be, path, &mut game, &mut rng, &cfg.phase2, 3);
    // `FUZZ_DEBUG=1 cargo fuzz run checkpoint <file>` shows what one input does.
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("identity: {same:?}\nrestore: {restored:?}");
    }
    if restored.is_ok() {
        assert_eq!(game.iteration, ck.iteration);
    }
});
