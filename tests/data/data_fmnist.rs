//! Fashion-MNIST loading and the long-tailed split of METHOD.md §6, on a synthetic "full" training set
//! (and on the real files when they are installed), plus the synthetic blobs.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use convexgan::data::{
    exponential_counts, load_fashion_mnist, make_long_tailed, subset_per_class, synthetic_blobs,
    Dataset, LtCounts, LtSpec, DEFAULT_DATA_DIR,
};

/// The METHOD.md §6 default profile, `floor(5000 · 100^(−c/9))`, worked out by hand.
const DEFAULT_LT: [usize; 10] = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];

/// A balanced stand-in for the Fashion-MNIST training set: `per_class` rows of each class,
/// interleaved; row `i` is `[i, label]` so that a row's origin can be read back from its features.
fn full_set(classes: usize, per_class: usize) -> Dataset {
    let n = classes * per_class;
    let y: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, y[i] as f32]).collect();
    Dataset::new(x, y, 2, classes).unwrap()
}

fn origins(ds: &Dataset) -> Vec<usize> {
    (0..ds.n).map(|i| ds.row(i)[0] as usize).collect()
}

#[test]
fn exponential_profile_follows_the_formula() {
    let got = exponential_counts(10, 5000, 100.0).unwrap();
    assert_eq!(got, DEFAULT_LT);
    let formula: Vec<usize> = (0..10)
        .map(|c| (5000.0 * 100f64.powf(-(c as f64) / 9.0) + 1e-6).floor() as usize)
        .collect();
    assert_eq!(got, formula);
    assert_eq!(exponential_counts(1, 300, 10.0).unwrap(), vec![300]);
    assert_eq!(
        exponential_counts(3, 1000, 10.0).unwrap(),
        vec![1000, 316, 100]
    );
    assert!(exponential_counts(3, 1000, 0.5).is_err());
    assert!(exponential_counts(3, 1000, f64::NAN).is_err());
}

#[test]
fn long_tailed_split_on_a_synthetic_full_set() {
    let full = full_set(10, 6000);
    let spec = LtSpec {
        seed: 7,
        ..LtSpec::default()
    };
    let split = make_long_tailed(&full, &spec).unwrap();
    assert_eq!(split.counts, DEFAULT_LT);
    assert_eq!(split.train.class_counts(), DEFAULT_LT);
    assert_eq!(split.val.class_counts(), vec![500; 10]);
    assert_eq!(split.train.n, DEFAULT_LT.iter().sum::<usize>());
    assert_eq!((split.train.dim, split.train.classes), (2, 10));

    // Rows carry their features and labels along, stay in original order, and train ∩ val = ∅.
    let tr = origins(&split.train);
    let va = origins(&split.val);
    for (ds, idx) in [(&split.train, &tr), (&split.val, &va)] {
        assert!(
            idx.windows(2).all(|w| w[0] < w[1]),
            "rows not in original order"
        );
        for (i, &o) in idx.iter().enumerate() {
            assert_eq!(ds.y[i], full.y[o], "label of row {i} (origin {o})");
            assert_eq!(ds.row(i)[1], full.y[o] as f32);
        }
    }
    let tr_set: HashSet<usize> = tr.iter().copied().collect();
    assert!(
        va.iter().all(|o| !tr_set.contains(o)),
        "validation overlaps training"
    );

    // The split is a random choice, not the first rows of each class.
    let first_rows = (0..10 * 500).collect::<Vec<_>>();
    assert_ne!(va, first_rows);

    let again = make_long_tailed(&full, &spec).unwrap();
    assert_eq!(again, split, "same seed, different split");
    let other = make_long_tailed(
        &full,
        &LtSpec {
            seed: 8,
            ..spec.clone()
        },
    )
    .unwrap();
    assert_eq!(other.counts, split.counts);
    assert_ne!(
        origins(&other.train),
        tr,
        "different seed, same training rows"
    );
    assert_ne!(
        origins(&other.val),
        va,
        "different seed, same validation rows"
    );
}

#[test]
fn explicit_counts_and_their_errors() {
    let full = full_set(4, 600);
    let spec = |counts: Vec<usize>| LtSpec {
        counts: LtCounts::Explicit(counts),
        val_per_class: 100,
        seed: 1,
    };
    let split = make_long_tailed(&full, &spec(vec![500, 3, 250, 1])).unwrap();
    assert_eq!(split.train.class_counts(), vec![500, 3, 250, 1]);
    assert_eq!(split.val.class_counts(), vec![100; 4]);

    let msg = |s: &LtSpec| make_long_tailed(&full, s).unwrap_err().to_string();
    let m = msg(&spec(vec![500, 501, 2, 2]));
    assert!(
        m.contains("class 1") && m.contains("501") && m.contains("500"),
        "{m}"
    );
    let m = msg(&spec(vec![5, 5, 5]));
    assert!(m.contains('3') && m.contains('4'), "{m}");
    let m = msg(&spec(vec![5, 0, 5, 5]));
    assert!(m.contains("class 1") && m.contains('0'), "{m}");
    let m = msg(&LtSpec {
        val_per_class: 601,
        ..spec(vec![1; 4])
    });
    assert!(m.contains("class 0") && m.contains("601"), "{m}");
    // An exponential profile whose tail floors to 0.
    let m = msg(&LtSpec {
        counts: LtCounts::Exponential {
            n_max: 50,
            ratio: 100.0,
        },
        ..spec(vec![])
    });
    assert!(m.contains("class 3") && m.contains("0 training"), "{m}");
}

#[test]
fn subset_per_class_caps_each_class() {
    let split = make_long_tailed(&full_set(10, 6000), &LtSpec::default()).unwrap();
    let sub = subset_per_class(&split.train, 100, 3).unwrap();
    let want: Vec<usize> = DEFAULT_LT.iter().map(|&k| k.min(100)).collect();
    assert_eq!(sub.class_counts(), want);
    let o = origins(&sub);
    assert!(o.windows(2).all(|w| w[0] < w[1]));
    let train_rows: HashSet<usize> = origins(&split.train).into_iter().collect();
    assert!(o.iter().all(|r| train_rows.contains(r)));
    assert_eq!(subset_per_class(&split.train, 100, 3).unwrap(), sub);
    assert_ne!(subset_per_class(&split.train, 100, 4).unwrap(), sub);
    assert!(subset_per_class(&split.train, 0, 3).is_err());
}

#[test]
fn dataset_validation() {
    assert!(Dataset::new(vec![0.0; 6], vec![0, 1, 2], 2, 3).is_ok());
    let e = Dataset::new(vec![0.0; 6], vec![0, 3, 2], 2, 3).unwrap_err();
    assert!(e.to_string().contains("label 3"), "{e}");
    assert!(Dataset::new(vec![0.0; 5], vec![0, 1, 2], 2, 3).is_err());
    let e = Dataset::new(vec![0.0, 1.0, f32::NAN, 0.0], vec![0, 1], 2, 3).unwrap_err();
    assert!(e.to_string().contains("row 1 column 0"), "{e}");
    let mut ds = Dataset::new(vec![0.0; 6], vec![0, 1, 2], 2, 3).unwrap();
    ds.n = 4;
    assert!(ds.validate().is_err());
    assert!(ds.select(&[0]).is_ok());
    assert!(ds.select(&[4]).is_err());
}

#[test]
fn synthetic_blobs_are_imbalanced_and_moderately_separable() {
    let counts = [400, 200, 100, 50, 25];
    let (classes, dim) = (5, 16);
    let ds = synthetic_blobs(classes, dim, &counts, 5).unwrap();
    assert_eq!(ds.class_counts(), counts);
    assert_eq!((ds.n, ds.dim, ds.classes), (775, 16, 5));
    assert_eq!(synthetic_blobs(classes, dim, &counts, 5).unwrap(), ds);
    assert_ne!(synthetic_blobs(classes, dim, &counts, 6).unwrap(), ds);
    assert!(
        ds.y[..20].windows(2).any(|w| w[0] != w[1]),
        "rows not shuffled"
    );

    // Nearest class mean: clearly better than chance, clearly not perfect.
    let mut means = vec![vec![0.0f64; dim]; classes];
    for i in 0..ds.n {
        let c = ds.y[i] as usize;
        for (m, &v) in means[c].iter_mut().zip(ds.row(i)) {
            *m += v as f64 / counts[c] as f64;
        }
    }
    let correct = (0..ds.n)
        .filter(|&i| {
            let d = |c: usize| -> f64 {
                means[c]
                    .iter()
                    .zip(ds.row(i))
                    .map(|(m, &v)| (m - v as f64).powi(2))
                    .sum()
            };
            let best = (0..classes).min_by(|&a, &b| d(a).total_cmp(&d(b))).unwrap();
            best == ds.y[i] as usize
        })
        .count();
    let acc = correct as f64 / ds.n as f64;
    assert!(acc > 0.5 && acc < 0.98, "nearest-mean accuracy {acc}");

    assert!(synthetic_blobs(5, 16, &counts[..4], 5).is_err());
    assert!(synthetic_blobs(5, 0, &counts, 5).is_err());
}

fn write_gz_idx(path: &Path, dims: &[u32], payload: &[u8]) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(payload);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&b).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

#[test]
fn loader_on_small_fake_files_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("nowhere");
    let e = load_fashion_mnist(&missing).unwrap_err().to_string();
    assert!(
        e.contains("nowhere") && e.contains("dataset-fashion-mnist") && e.contains("--data"),
        "{e}"
    );

    let pixels: Vec<u8> = (0..5 * 4).map(|v| (v * 13) as u8).collect();
    write_gz_idx(&d.join("train-images-idx3-ubyte.gz"), &[5, 2, 2], &pixels);
    write_gz_idx(
        &d.join("train-labels-idx1-ubyte.gz"),
        &[5],
        &[0, 9, 3, 3, 1],
    );
    write_gz_idx(
        &d.join("t10k-images-idx3-ubyte.gz"),
        &[2, 2, 2],
        &pixels[..8],
    );
    let e = load_fashion_mnist(d).unwrap_err().to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("--data"),
        "{e}"
    );

    // An uncompressed labels file under the name without .gz is found too.
    let mut raw = vec![0, 0, 8, 1, 0, 0, 0, 2];
    raw.extend_from_slice(&[4, 2]);
    std::fs::write(d.join("t10k-labels-idx1-ubyte"), &raw).unwrap();
    let (train, test) = load_fashion_mnist(d).unwrap();
    assert_eq!((train.n, train.dim, test.n, test.dim), (5, 4, 2, 4));
    assert_eq!(train.y, vec![0, 9, 3, 3, 1]);
    assert_eq!(test.y, vec![4, 2]);
    assert_eq!(
        train.row(1),
        &[52.0 / 255.0, 65.0 / 255.0, 78.0 / 255.0, 91.0 / 255.0]
    );

    // Counts that disagree: the message names both files.
    write_gz_idx(&d.join("train-labels-idx1-ubyte.gz"), &[4], &[0, 9, 3, 3]);
    let e = load_fashion_mnist(d).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("train-labels-idx1-ubyte.gz"),
        "{e}"
    );
    assert!(e.contains('5') && e.contains('4'), "{e}");

    // A label outside 0..10.
    write_gz_idx(
        &d.join("train-labels-idx1-ubyte.gz"),
        &[5],
        &[0, 9, 10, 3, 1],
    );
    let e = load_fashion_mnist(d).unwrap_err().to_string();
    assert!(
        e.contains("train-labels-idx1-ubyte.gz") && e.contains("label 10"),
        "{e}"
    );
}

#[test]
fn real_fashion_mnist_if_installed() {
    let dir = Path::new(DEFAULT_DATA_DIR);
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        println!("SKIPPED real_fashion_mnist_if_installed: {DEFAULT_DATA_DIR} not present");
        return;
    }
    let (train, test) = load_fashion_mnist(dir).unwrap();
    assert_eq!((train.n, train.dim, train.classes), (60000, 784, 10));
    assert_eq!((test.n, test.dim, test.classes), (10000, 784, 10));
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    let max = train.x.iter().fold(0.0f32, |a, &b| a.max(b));
    assert_eq!(max, 1.0, "pixels should reach 255 → 1.0");
    assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));

    let split = make_long_tailed(&train, &LtSpec::default()).unwrap();
    assert_eq!(split.counts, DEFAULT_LT);
    assert_eq!(split.train.class_counts(), DEFAULT_LT);
    assert_eq!(split.val.class_counts(), vec![500; 10]);
    // Full-size classes leave 5500 after validation: 5501 is one too many.
    let mut asked = vec![10; 10];
    asked[4] = 5501;
    let e = make_long_tailed(
        &train,
        &LtSpec {
            counts: LtCounts::Explicit(asked),
            ..LtSpec::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("class 4") && e.contains("5501") && e.contains("5500"),
        "{e}"
    );
}
