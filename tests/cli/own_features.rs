//! `convexgan resample`, `sample` and `predict` on NumPy and CSV files, as a user runs them.

use std::path::Path;
use std::process::Output;

use ndarray::{Array1, Array2};
use ndarray_npy::{write_npy, NpzReader};

use crate::cli_support::{
    assert_ok, bin, clean_failure, convexgan, small_config_value, write_config, write_small_dataset,
};

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// Class `c` of `counts.len()` classes around `10·c` in each of `dim` columns.
fn write_features(dir: &Path, counts: &[usize], dim: usize) -> (String, String) {
    let (mut x, mut y) = (Vec::new(), Vec::<i64>::new());
    for (c, &n) in counts.iter().enumerate() {
        for i in 0..n {
            x.extend((0..dim).map(|j| 10.0 * c as f32 + ((i * 7 + j * 3) % 11) as f32 * 0.1));
            y.push(c as i64 * 2 + 1);
        }
    }
    let xp = dir.join("x.npy");
    let yp = dir.join("y.npy");
    write_npy(&xp, &Array2::from_shape_vec((y.len(), dim), x).unwrap()).unwrap();
    write_npy(&yp, &Array1::from(y)).unwrap();
    (xp.to_str().unwrap().into(), yp.to_str().unwrap().into())
}

fn read_npz(path: &Path) -> (Array2<f32>, Array1<i64>) {
    let mut r = NpzReader::new(std::fs::File::open(path).unwrap()).unwrap();
    (r.by_name("x").unwrap(), r.by_name("y").unwrap())
}

#[test]
fn resample_then_sample_from_the_saved_sampler() {
    let d = tempfile::tempdir().unwrap();
    let (x, y) = write_features(d.path(), &[40, 12, 6], 4);
    let out = d.path().join("res.npz");
    let saved = d.path().join("sampler.safetensors");
    let o = run(&[
        "resample",
        "--x",
        &x,
        "--y",
        &y,
        "--out",
        out.to_str().unwrap(),
        "--iterations",
        "20",
        "--save-sampler",
        saved.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&o, "resample");
    let (xr, yr) = read_npz(&out);
    assert_eq!(xr.dim(), (120, 4));
    for label in [1, 3, 5] {
        assert_eq!(
            yr.iter().filter(|&&l| l == label).count(),
            40,
            "label {label}"
        );
    }
    // Class 5 (centred at 20) got 34 rows, each within its class's range.
    for (row, &l) in xr.outer_iter().zip(&yr).skip(58) {
        let centre = 10.0 * ((l - 1) / 2) as f32;
        assert!(
            row.iter()
                .all(|&v| v >= centre - 1e-3 && v <= centre + 1.0 + 1e-3),
            "{row}"
        );
    }
    let sampled = d.path().join("s.npz");
    let o = run(&[
        "sample",
        "--sampler",
        saved.to_str().unwrap(),
        "--class",
        "5",
        "-n",
        "9",
        "--out",
        sampled.to_str().unwrap(),
    ]);
    assert_ok(&o, "sample");
    let (xs, ys) = read_npz(&sampled);
    assert_eq!(xs.dim(), (9, 4));
    assert!(ys.iter().all(|&l| l == 5));
    let o = run(&[
        "sample",
        "--sampler",
        saved.to_str().unwrap(),
        "--class",
        "4",
        "-n",
        "1",
        "--out",
        sampled.to_str().unwrap(),
    ]);
    clean_failure(&o, &["4 is not among the fitted classes [1, 3, 5]"]).unwrap();
}

#[test]
fn resample_reads_a_csv_with_a_label_column_and_a_strategy() {
    let d = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,label\n");
    for i in 0..30 {
        csv.push_str(&format!("{},{},0\n", i % 5, i % 3));
    }
    for i in 0..8 {
        csv.push_str(&format!("{},{},1\n", 10 + i % 4, 10 + i % 2));
    }
    let p = d.path().join("data.csv");
    std::fs::write(&p, csv).unwrap();
    let out = d.path().join("res.npz");
    let o = run(&[
        "resample",
        "--x",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--strategy",
        "1:20",
        "--iterations",
        "10",
        "--quiet",
    ]);
    assert_ok(&o, "resample from CSV");
    let (_, yr) = read_npz(&out);
    assert_eq!(yr.iter().filter(|&&l| l == 1).count(), 20);
}

#[test]
fn resample_refuses_bad_input_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    let (x, y) = write_features(d.path(), &[40, 12, 6], 4);
    let out = d.path().join("res.npz");
    let out_s = out.to_str().unwrap();
    let short = d.path().join("short.npy");
    write_npy(&short, &Array1::from(vec![1i64; 10])).unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--y", short.to_str().unwrap()],
            vec!["58 rows but 10 labels"],
        ),
        (vec!["--y", &y, "--ns", "7"], vec!["N_s = 7", "class 5"]),
        (
            vec!["--y", &y, "--shape-columns", "4"],
            vec!["shape_columns"],
        ),
        (
            vec!["--y", &y, "--strategy", "sideways"],
            vec!["sampling strategy", "sideways"],
        ),
        (vec![], vec!["holds features only", "--y"]),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["resample", "--x", &x, "--out", out_s, "--quiet"];
        args.extend(extra);
        clean_failure(&run(&args), &needles).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(!out.exists(), "{args:?} wrote its output");
    }
    // An output that is a directory is refused before the fit.
    let o = run(&[
        "resample",
        "--x",
        &x,
        "--y",
        &y,
        "--out",
        d.path().to_str().unwrap(),
        "--quiet",
    ]);
    clean_failure(&o, &["--out", "is a directory"]).unwrap();
}

#[test]
fn predict_scores_new_rows_with_a_runs_q() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_small_dataset(&data, 60);
    let cfg = write_config(&d.path().join("c.toml"), &small_config_value(&data));
    let run_dir = d.path().join("run");
    let cfg_s = cfg.to_str().unwrap();
    for stage in [
        vec!["phase1", "--config", cfg_s],
        vec!["build-dict"],
        vec!["phase2"],
    ] {
        assert_ok(&convexgan(&stage, &run_dir), stage[0]);
    }
    // Pixels scaled to [0, 1], as the run saw them.
    let rows: Vec<f32> = (0..5 * 784)
        .map(|i| ((i * 7) % 256) as f32 / 255.0)
        .collect();
    let xp = d.path().join("new.npy");
    write_npy(&xp, &Array2::from_shape_vec((5, 784), rows).unwrap()).unwrap();
    let out = d.path().join("pred.npz");
    let o = run(&[
        "predict",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--x",
        xp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ok(&o, "predict");
    let mut r = NpzReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let proba: Array2<f32> = r.by_name("proba").unwrap();
    let label: Array1<i64> = r.by_name("label").unwrap();
    assert_eq!(proba.dim(), (5, 10));
    for (p, &l) in proba.outer_iter().zip(&label) {
        assert!((p.sum() - 1.0).abs() < 1e-5, "{p}");
        let best = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(best as i64, l);
    }
    let narrow = d.path().join("narrow.npy");
    write_npy(&narrow, &Array2::<f32>::zeros((2, 10))).unwrap();
    let o = run(&[
        "predict",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--x",
        narrow.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    clean_failure(&o, &["narrow.npy", "10 columns", "take 784"]).unwrap();
}
