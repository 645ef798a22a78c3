//! Reports: table contents (numbers, mean ± std, Δ against the first row) and the recall plot
//! (a real PNG of the stated size, written atomically; bad paths give errors, not panics).

use std::path::Path;

use convexgan::data::FASHION_MNIST_CLASS_NAMES;
use convexgan::internal::report::{
    compare_table, mean_std, metrics_table, per_class_table, plot_recall, PLOT_SIZE,
};
use convexgan::{metrics::Metrics, Error};

fn metrics(top1: f64, top5: Option<f64>, acsa: f64, gm: f64, recall: Vec<f64>) -> Metrics {
    let n = recall.len();
    Metrics {
        top1,
        top5,
        acsa,
        gm,
        recall,
        support: vec![1000; n],
        confusion: vec![vec![0; n]; n],
        per_class: Vec::new(),
        calibration: None,
    }
}

fn simple(top1: f64, acsa: f64, gm: f64) -> Metrics {
    metrics(top1, None, acsa, gm, vec![acsa; 10])
}

/// The table's data rows as cells, without the header and the alignment row.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap()
        .trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn metrics_table_has_three_decimals_and_optional_top5() {
    let t = metrics_table(&[
        ("Phase 1".into(), simple(0.81234, 0.7, 0.65432)),
        ("Ours".into(), simple(0.8, 0.75, 0.7)),
    ]);
    assert_eq!(header(&t), ["Method", "Top-1", "ACSA", "GM"]);
    assert_eq!(
        rows(&t),
        [
            ["Phase 1", "0.812", "0.700", "0.654"],
            ["Ours", "0.800", "0.750", "0.700"]
        ]
    );
    assert_eq!(t.lines().nth(1).unwrap(), "| --- | ---: | ---: | ---: |");

    let t = metrics_table(&[
        ("a".into(), simple(0.5, 0.5, 0.5)),
        (
            "b".into(),
            metrics(0.5, Some(0.9876), 0.5, 0.5, vec![0.5; 10]),
        ),
    ]);
    assert_eq!(header(&t), ["Method", "Top-1", "Top-5", "ACSA", "GM"]);
    assert_eq!(rows(&t)[0][2], "—");
    assert_eq!(rows(&t)[1][2], "0.988");
}

#[test]
fn method_names_cannot_break_the_table() {
    let t = metrics_table(&[("a|b".into(), simple(0.5, 0.5, 0.5))]);
    assert!(t.contains("| a\\|b |"), "{t}");
}

#[test]
fn mean_std_is_sample_std() {
    // 0.70, 0.72, 0.74: mean 0.72, sample variance (0.0004 + 0 + 0.0004) / 2 = 0.0004, std 0.02.
    let (m, s) = mean_std(&[0.70, 0.72, 0.74]);
    assert!((m.unwrap() - 0.72).abs() < 1e-12, "{m:?}");
    assert!((s.unwrap() - 0.02).abs() < 1e-12, "{s:?}");
    assert_eq!(mean_std(&[0.3]), (Some(0.3), None));
    assert_eq!(mean_std(&[]), (None, None));
}

#[test]
fn compare_table_mean_std_and_delta() {
    let baseline = vec![
        simple(0.80, 0.70, 0.60),
        simple(0.82, 0.72, 0.62),
        simple(0.84, 0.74, 0.64),
    ];
    // ACSA 0.75, 0.79 -> mean 0.77, std sqrt(0.0008) = 0.028284; GM 0.61, 0.63 -> 0.62 ± 0.014.
    let ours = vec![simple(0.85, 0.75, 0.61), simple(0.87, 0.79, 0.63)];
    let single = vec![simple(0.9, 0.65, 0.5)];
    let t = compare_table(&[
        ("Phase 1".into(), baseline),
        ("Ours".into(), ours),
        ("One seed".into(), single),
    ]);
    assert_eq!(
        header(&t),
        ["Method", "Seeds", "Top-1", "ACSA", "Δ ACSA", "GM", "Δ GM"]
    );
    let r = rows(&t);
    assert_eq!(
        r[0],
        [
            "Phase 1",
            "3",
            "0.820 ± 0.020",
            "0.720 ± 0.020",
            "+0.000",
            "0.620 ± 0.020",
            "+0.000"
        ]
    );
    assert_eq!(
        r[1],
        [
            "Ours",
            "2",
            "0.860 ± 0.014",
            "0.770 ± 0.028",
            "+0.050",
            "0.620 ± 0.014",
            "+0.000"
        ]
    );
    // One seed: the mean alone; a drop shows as negative.
    assert_eq!(
        r[2],
        ["One seed", "1", "0.900", "0.650", "-0.070", "0.500", "-0.120"]
    );
}

#[test]
fn compare_table_top5_and_empty_method() {
    let with5 = |t5| metrics(0.8, Some(t5), 0.7, 0.6, vec![0.7; 10]);
    let t = compare_table(&[
        ("a".into(), vec![with5(0.95), with5(0.97)]),
        ("none".into(), vec![]),
    ]);
    assert_eq!(header(&t)[3], "Top-5");
    let r = rows(&t);
    assert_eq!(r[0][3], "0.960 ± 0.014");
    assert_eq!(r[1], ["none", "0", "—", "—", "—", "—", "—", "—"]);
}

#[test]
fn per_class_table_counts_shares_and_recalls() {
    let names = ["head", "mid", "tail"];
    let counts = [600, 300, 100];
    let before = metrics(0.0, None, 0.0, 0.0, vec![0.95, 0.8, 0.1]);
    let after = metrics(0.0, None, 0.0, 0.0, vec![0.93, 0.82, 0.55]);
    let t = per_class_table(&names, &counts, &before, &after);
    assert_eq!(header(&t).len(), 6);
    assert_eq!(
        rows(&t),
        [
            ["head", "600", "60.00%", "0.950", "0.930", "-0.020"],
            ["mid", "300", "30.00%", "0.800", "0.820", "+0.020"],
            ["tail", "100", "10.00%", "0.100", "0.550", "+0.450"],
        ]
    );
    // Disagreeing lengths pad rather than panic.
    let t = per_class_table(&names[..2], &counts, &before, &after);
    assert_eq!(rows(&t)[2][0], "class 2");
}

/// Width and height from the IHDR chunk, which the PNG format requires to come first.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is not IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(be(8), 13, "IHDR length");
    (be(16), be(20))
}

fn lt_example() -> (Vec<usize>, Metrics, Metrics) {
    // The default Fashion-MNIST-LT profile: n_c = floor(5000 · 100^(−c/9)).
    let counts: Vec<usize> = (0..10)
        .map(|c| (5000.0 * 100f64.powf(-(c as f64) / 9.0)).floor() as usize)
        .collect();
    let before: Vec<f64> = (0..10).map(|c| 0.95 - 0.09 * c as f64).collect();
    let after: Vec<f64> = (0..10).map(|c| 0.9 - 0.04 * c as f64).collect();
    (
        counts,
        metrics(0.8, None, 0.5, 0.4, before),
        metrics(0.82, None, 0.7, 0.65, after),
    )
}

#[test]
fn plot_writes_png_of_the_right_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recall.png");
    let (counts, before, after) = lt_example();
    plot_recall(
        &path,
        &FASHION_MNIST_CLASS_NAMES,
        &counts,
        &before,
        &after,
        "ConvexGAN oversampling",
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(png_size(&bytes), PLOT_SIZE);
    assert_eq!(PLOT_SIZE, (900, 500));
    // The temporary file was renamed, not left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("recall.png")]);

    // Overwriting an existing plot works (rename over it).
    plot_recall(
        &path,
        &FASHION_MNIST_CLASS_NAMES,
        &counts,
        &after,
        &before,
        "x",
    )
    .unwrap();
    assert_eq!(png_size(&std::fs::read(&path).unwrap()), PLOT_SIZE);

    // Keep a copy for looking at by hand when asked to.
    if let Ok(out) = std::env::var("REPORT_PLOT_OUT") {
        plot_recall(
            Path::new(&out),
            &FASHION_MNIST_CLASS_NAMES,
            &counts,
            &before,
            &after,
            "ConvexGAN oversampling",
        )
        .unwrap();
    }
}

#[test]
fn plot_to_unwritable_place_is_an_error() {
    let (counts, before, after) = lt_example();
    let path = Path::new("/proc/no/such/dir/recall.png");
    let err = plot_recall(
        path,
        &FASHION_MNIST_CLASS_NAMES,
        &counts,
        &before,
        &after,
        "x",
    )
    .expect_err("writing under /proc must fail");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/proc/no/such/dir/recall.png"),
        "{err}"
    );
}

#[test]
fn plot_rejects_mismatched_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let (counts, before, after) = lt_example();
    let err = plot_recall(
        &dir.path().join("x.png"),
        &FASHION_MNIST_CLASS_NAMES[..9],
        &counts,
        &before,
        &after,
        "x",
    )
    .expect_err("9 names for 10 classes");
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn plot_tolerates_non_finite_and_out_of_range_recall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.png");
    let (counts, mut before, after) = lt_example();
    before.recall[3] = f64::NAN;
    before.recall[4] = 1.5;
    before.recall[5] = -0.2;
    plot_recall(
        &path,
        &FASHION_MNIST_CLASS_NAMES,
        &counts,
        &before,
        &after,
        "x",
    )
    .unwrap();
    assert_eq!(png_size(&std::fs::read(&path).unwrap()), PLOT_SIZE);
}
