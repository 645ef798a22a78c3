//! Over-sampling your own features: rows from any network (here three Gaussian blobs standing in
//! for a backbone's embeddings), saved as NumPy `.npz`, read back, fitted with the convex GAN
//! sampler, resampled the way imbalanced-learn's `fit_resample` does, saved to one file and
//! loaded again to draw more rows without refitting.
//!
//! `cargo run --release --example oversample_features`

use std::collections::BTreeMap;

use convexgan::data::arrays::{read_labelled, write_npz};
use convexgan::data::{synthetic_blobs, Matrix};
use convexgan::sampler::{fit, FittedSampler, SamplerOptions, Strategy};
use convexgan::Cpu;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DIM: usize = 6;

fn counts(y: &[u32]) -> BTreeMap<u32, usize> {
    let mut m = BTreeMap::new();
    for &c in y {
        *m.entry(c).or_insert(0) += 1;
    }
    m
}

/// Per-column `[min, max]` of the rows of class `c`: every convex combination of them lies inside.
fn class_box(x: &Matrix, y: &[u32], c: u32) -> Vec<(f32, f32)> {
    let mut b = vec![(f32::INFINITY, f32::NEG_INFINITY); x.cols];
    for (row, _) in x.data.chunks(x.cols).zip(y).filter(|(_, &l)| l == c) {
        for (bj, &v) in b.iter_mut().zip(row) {
            *bj = (bj.0.min(v), bj.1.max(v));
        }
    }
    b
}

fn inside(rows: &[f32], b: &[(f32, f32)]) -> bool {
    // Standardising and mapping back rounds, so the box gets a little slack.
    rows.chunks(b.len()).all(|r| {
        r.iter()
            .zip(b)
            .all(|(&v, &(lo, hi))| v >= lo - 1e-4 && v <= hi + 1e-4)
    })
}

fn main() -> convexgan::Result<()> {
    let dir = std::env::temp_dir().join(format!("convexgan-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| convexgan::Error::io(&dir, e))?;

    // 400, 80 and 16 rows: a 25 : 1 imbalance. Labels need not start at 0 or be contiguous.
    let blobs = synthetic_blobs(3, DIM, &[400, 80, 16], 3)?;
    let x = Matrix {
        data: blobs.x,
        rows: blobs.n,
        cols: DIM,
    };
    let y: Vec<u32> = blobs.y.iter().map(|&c| [10, 20, 30][c as usize]).collect();
    let file = dir.join("features.npz");
    write_npz(&file, &x, &y)?;

    let data = read_labelled(&file, None, "label")?;
    let options = SamplerOptions {
        iterations: Some(100),
        q_epochs: 3,
        ..Default::default()
    };
    let be = Cpu::<f32>::new();
    let sampler = fit(&be, &data.x, &data.y, &options, false)?;
    println!("fitted: labels {:?}, N_s = {}", sampler.labels, sampler.ns);

    // `auto`: every class raised to the majority's 400 rows, the real rows first.
    let (xr, yr) = sampler.resample(&be, &data.x, &data.y, &Strategy::Auto)?;
    println!("before {:?}", counts(&data.y));
    println!("after  {:?}", counts(&yr));
    assert_eq!(
        counts(&yr),
        BTreeMap::from([(10, 400), (20, 400), (30, 400)])
    );
    assert_eq!(&xr.data[..x.data.len()], &data.x.data[..]);
    let synthetic = &xr.data[x.data.len()..];
    let synthetic_y = &yr[y.len()..];
    for c in [20, 30] {
        let rows: Vec<f32> = synthetic
            .chunks(DIM)
            .zip(synthetic_y)
            .filter(|(_, &l)| l == c)
            .flat_map(|(r, _)| r.iter().copied())
            .collect();
        assert!(
            inside(&rows, &class_box(&x, &y, c)),
            "class {c} rows outside its box"
        );
    }

    // Saved once, loaded anywhere: the loaded sampler draws the same rows as the fitted one.
    let saved = dir.join("sampler.safetensors");
    sampler.save(&saved)?;
    let loaded = FittedSampler::load(&saved)?;
    let plan = loaded.plan(&"30:100".parse()?)?;
    assert_eq!(plan, vec![(10, 0), (20, 0), (30, 84)]);
    let (a, _) = sampler.generate(&be, &plan)?;
    let (b, _) = loaded.generate(&be, &plan)?;
    assert_eq!(a, b);

    // Rows class by class with your own random stream.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let five = loaded.on(&be)?.sample(30, 5, &mut rng)?;
    println!("five more rows of class 30: {} × {}", five.rows, five.cols);
    assert!(inside(&five.data, &class_box(&x, &y, 30)));

    std::fs::remove_dir_all(&dir).map_err(|e| convexgan::Error::io(&dir, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_runs() {
        super::main().unwrap();
    }
}
