//! DeepFashion annotations (METHOD.md §6) on generated fixtures in the benchmark's layout, hostile
//! variants of those files, and the crop-resize-pad image preparation.

use std::fs;
use std::path::Path;

use crate::fixture::{write_fixture, FixtureInfo, FixtureSpec, Variation};
use convexgan::data::{
    imagenet_chw, load_deepfashion, load_rgb, ClothesType, Letterbox, Partition, HEATMAP_GRID,
    IMAGENET_MEAN, IMAGENET_STD, IMAGE_SIZE,
};
use convexgan::error::Error;
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CAT: &str = "Anno/list_category_img.txt";
const BBOX: &str = "Anno/list_bbox.txt";
const LM: &str = "Anno/list_landmarks.txt";
const PART: &str = "Eval/list_eval_partition.txt";

fn make(spec: &FixtureSpec) -> (tempfile::TempDir, FixtureInfo) {
    let dir = tempfile::tempdir().unwrap();
    let info = write_fixture(dir.path(), spec);
    (dir, info)
}

fn assert_matches(info: &FixtureInfo) {
    let recs = load_deepfashion(&info.root).unwrap();
    assert_eq!(recs.len(), info.records.len());
    for (got, want) in recs.iter().zip(&info.records) {
        assert_eq!(got.image, want.image);
        assert_eq!(got.category, want.category, "{}", want.image);
        assert_eq!(got.bbox, want.bbox, "{}", want.image);
        assert_eq!(got.clothes_type, want.clothes_type, "{}", want.image);
        assert_eq!(got.landmarks, want.landmarks, "{}", want.image);
        assert_eq!(got.visible, want.visible(), "{}", want.image);
        assert_eq!(got.partition, want.partition, "{}", want.image);
    }
}

/// Token counts of the data rows of `list_landmarks.txt`, split by layout.
fn layouts(root: &Path) -> (usize, usize) {
    let text = fs::read_to_string(root.join(LM)).unwrap();
    let (mut with, mut without) = (0, 0);
    for line in text.lines().skip(2) {
        match line.split_whitespace().count() {
            15 | 21 | 27 => with += 1,
            14 | 20 | 26 => without += 1,
            n => panic!("fixture wrote a landmark row of {n} fields"),
        }
    }
    (with, without)
}

#[test]
fn loader_matches_a_fixture_with_both_row_layouts() {
    let (dir, info) = make(&FixtureSpec::new(vec![12, 9, 7, 5, 10, 3], 7));
    let (with, without) = layouts(dir.path());
    assert!(
        with > 5 && without > 5,
        "{with} rows with variation_type, {without} without"
    );
    assert_matches(&info);
    // The fixture covers all three clothes types and all three visibility codes.
    for t in [ClothesType::Upper, ClothesType::Lower, ClothesType::Full] {
        assert!(info.records.iter().any(|r| r.clothes_type == t));
    }
    for v in 0..=2u8 {
        assert!(info.records.iter().any(|r| r.visibility.contains(&Some(v))));
    }
}

#[test]
fn loader_matches_fixtures_with_one_row_layout() {
    for (variation, seed) in [(Variation::Always, 1), (Variation::Never, 2)] {
        let mut spec = FixtureSpec::new(vec![4, 4, 4, 3], seed);
        spec.variation = variation;
        let (dir, info) = make(&spec);
        let (with, without) = layouts(dir.path());
        match variation {
            Variation::Always => assert_eq!(without, 0),
            _ => assert_eq!(with, 0),
        }
        assert_matches(&info);
    }
}

#[test]
fn loader_accepts_crlf_bom_and_trailing_blank_lines() {
    let mut spec = FixtureSpec::new(vec![3, 3, 3], 3);
    spec.shuffle_annotations = false;
    let (dir, info) = make(&spec);
    for rel in [CAT, BBOX, LM, PART] {
        let path = dir.path().join(rel);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace('\n', "\r\n") + "\r\n\n").unwrap();
    }
    // A byte-order mark, as some editors write.
    let path = dir.path().join(BBOX);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("\u{feff}{text}")).unwrap();
    assert_matches(&info);
}

#[test]
fn fixture_is_deterministic_and_split_per_category() {
    let spec = FixtureSpec::new(vec![20, 10, 30, 7], 11);
    let (a, info) = make(&spec);
    let (b, _) = make(&spec);
    for rel in [CAT, BBOX, LM, PART] {
        assert_eq!(
            fs::read(a.path().join(rel)).unwrap(),
            fs::read(b.path().join(rel)).unwrap(),
            "{rel}"
        );
    }
    for r in info.records.iter().step_by(9) {
        assert_eq!(
            fs::read(a.path().join(&r.image)).unwrap(),
            fs::read(b.path().join(&r.image)).unwrap()
        );
    }
    let (c, _) = make(&FixtureSpec::new(vec![20, 10, 30, 7], 12));
    assert_ne!(
        fs::read(a.path().join(BBOX)).unwrap(),
        fs::read(c.path().join(BBOX)).unwrap()
    );
    for (cat, &n) in spec.per_category.iter().enumerate() {
        let count = |p| {
            info.records
                .iter()
                .filter(|r| r.category == cat as u32 && r.partition == p)
                .count()
        };
        let want_train = (n as f64 * 0.7).round() as usize;
        let want_val = (n as f64 * 0.1).round() as usize;
        assert_eq!(count(Partition::Train), want_train, "category {cat}");
        assert_eq!(count(Partition::Val), want_val, "category {cat}");
        assert_eq!(count(Partition::Test), n - want_train - want_val);
    }
}

/// The images decode at the recorded size, show the garment inside its box, and the landmarks,
/// mapped through the letterbox, land on the heatmap grid and move over several cells from image
/// to image.
#[test]
fn fixture_images_agree_with_their_annotations() {
    let (_dir, info) = make(&FixtureSpec::new(vec![8, 8, 8], 5));
    let g = HEATMAP_GRID as f32;
    // Per slot: min and max grid x and y over the records that have it.
    let mut spread = [[
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ]; 8];
    for (i, r) in info.records.iter().enumerate() {
        let img = load_rgb(&info.image_path(i)).unwrap();
        assert_eq!(img.dimensions(), (r.width, r.height));
        let [x1, y1, x2, y2] = r.bbox;
        assert!(x1 < x2 && x2 <= r.width && y1 < y2 && y2 <= r.height);
        let mut garment = 0;
        for y in y1..y2 {
            for x in x1..x2 {
                let p = img.get_pixel(x, y);
                let d: i32 = (0..3)
                    .map(|c| (p[c] as i32 - r.colour[c] as i32).abs())
                    .sum();
                garment += (d < 60) as u32;
            }
        }
        let area = (x2 - x1) * (y2 - y1);
        assert!(
            garment * 5 > area,
            "{}: {garment} garment pixels in a box of {area}",
            r.image
        );
        let (lb, out) = Letterbox::prepare(&img, r.bbox, IMAGE_SIZE).unwrap();
        assert_eq!(out.dimensions(), (224, 224));
        for (slot, v) in r.visibility.iter().enumerate() {
            if v.is_none() {
                continue;
            }
            let [x, y] = r.landmarks[slot];
            let (gx, gy) = lb.grid_point(x, y, HEATMAP_GRID);
            assert!(
                (-0.5..g - 0.5).contains(&gx) && (-0.5..g - 0.5).contains(&gy),
                "{} slot {slot}: grid ({gx}, {gy})",
                r.image
            );
            let s = &mut spread[slot];
            *s = [s[0].min(gx), s[1].max(gx), s[2].min(gy), s[3].max(gy)];
        }
    }
    for (slot, s) in spread.iter().enumerate() {
        assert!(
            s[1] - s[0] >= 2.0 || s[3] - s[2] >= 2.0,
            "slot {slot} moves little over the fixture: {s:?}"
        );
    }
}

#[test]
fn generating_300_images_is_fast() {
    let t = std::time::Instant::now();
    let (_dir, info) = make(&FixtureSpec::new(vec![30; 10], 9));
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(info.records.len(), 300);
    eprintln!("300 fixture images in {secs:.2} s");
    // Loose: the machine may be shared; the target is well under a second in release.
    assert!(secs < 20.0, "{secs} s");
}

// ---- Hostile annotation files ----

/// A small fixture with annotations in partition order, so line numbers are predictable: image
/// `i` is on line `i + 3` of every file.
fn plain() -> (tempfile::TempDir, FixtureInfo) {
    let mut spec = FixtureSpec::new(vec![3, 3, 3], 21);
    spec.shuffle_annotations = false;
    make(&spec)
}

fn edit(root: &Path, rel: &str, f: impl FnOnce(&mut Vec<String>)) {
    let path = root.join(rel);
    let mut lines: Vec<String> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Replaces field `k` of line `line` (1-based).
fn set_field(root: &Path, rel: &str, line: usize, k: usize, value: &str) {
    edit(root, rel, |l| {
        let mut t: Vec<String> = l[line - 1].split_whitespace().map(str::to_owned).collect();
        t[k] = value.to_owned();
        l[line - 1] = t.join("  ");
    });
}

fn expect_bad(root: &Path, rel: &str, line: usize, needle: &str) {
    let err = load_deepfashion(root).expect_err("hostile input was accepted");
    let msg = err.to_string();
    assert!(matches!(err, Error::BadFile { .. }), "{msg}");
    assert!(msg.contains(rel), "{msg} does not name {rel}");
    assert!(
        msg.contains(&format!("line {line}: ")),
        "{msg} does not name line {line}"
    );
    assert!(msg.contains(needle), "{msg} does not say {needle:?}");
}

#[test]
fn wrong_or_missing_count_line() {
    let (dir, info) = plain();
    let n = info.records.len();
    edit(dir.path(), BBOX, |l| l[0] = (n + 1).to_string());
    expect_bad(
        dir.path(),
        BBOX,
        1,
        &format!("says {} rows but the file has {n}", n + 1),
    );

    let (dir, _) = plain();
    edit(dir.path(), CAT, |l| l[0] = "many".into());
    expect_bad(dir.path(), CAT, 1, "number of rows");

    let (dir, _) = plain();
    edit(dir.path(), PART, |l| {
        l.remove(1);
    });
    expect_bad(dir.path(), PART, 2, "header");

    let (dir, _) = plain();
    fs::write(dir.path().join(LM), "").unwrap();
    expect_bad(dir.path(), LM, 1, "empty");
}

#[test]
fn landmark_rows_with_bad_token_counts() {
    // Two fields short fits neither layout.
    let (dir, _) = plain();
    edit(dir.path(), LM, |l| {
        let t: Vec<&str> = l[4].split_whitespace().collect();
        l[4] = t[..t.len() - 2].join(" ");
    });
    expect_bad(dir.path(), LM, 5, "fields");

    // One field short of a row with variation_type has the count of a row without it, so the
    // fields shift; the shifted row still fails (a coordinate read as a visibility, or the
    // count), on its line.
    let (dir, info) = plain();
    let i = info.records.iter().position(|r| r.with_variation).unwrap();
    edit(dir.path(), LM, |l| {
        let t: Vec<&str> = l[i + 2].split_whitespace().collect();
        l[i + 2] = t[..t.len() - 1].join(" ");
    });
    let err = load_deepfashion(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(LM) && err.contains(&format!("line {}: ", i + 3)),
        "{err}"
    );

    // Three fields too many is a well-formed row of one more landmark, which no type has.
    let (dir, _) = plain();
    edit(dir.path(), LM, |l| l[3].push_str("  0 10 10"));
    let err = load_deepfashion(dir.path()).unwrap_err().to_string();
    assert!(err.contains(LM) && err.contains("line 4: "), "{err}");
}

#[test]
fn clothes_type_must_match_the_landmark_count() {
    let (dir, info) = plain();
    // The first upper-body image (6 landmarks) claims to be lower-body (4).
    let i = info
        .records
        .iter()
        .position(|r| r.clothes_type == ClothesType::Upper)
        .unwrap();
    set_field(dir.path(), LM, i + 3, 1, "2");
    expect_bad(
        dir.path(),
        LM,
        i + 3,
        "clothes_type 2 has 4 landmarks but the row has 6",
    );

    let (dir, _) = plain();
    set_field(dir.path(), LM, 3, 1, "4");
    expect_bad(dir.path(), LM, 3, "clothes_type 4");
}

#[test]
fn labels_outside_1_to_50() {
    for label in ["0", "51"] {
        let (dir, _) = plain();
        set_field(dir.path(), CAT, 6, 1, label);
        expect_bad(
            dir.path(),
            CAT,
            6,
            &format!("category_label {label} is outside"),
        );
    }
    let (dir, _) = plain();
    set_field(dir.path(), CAT, 4, 1, "-3");
    expect_bad(dir.path(), CAT, 4, "not a valid number");
}

#[test]
fn inverted_or_non_numeric_boxes() {
    let (dir, info) = plain();
    let [x1, _, x2, _] = info.records[2].bbox;
    set_field(dir.path(), BBOX, 5, 1, &x2.to_string());
    set_field(dir.path(), BBOX, 5, 3, &x1.to_string());
    expect_bad(dir.path(), BBOX, 5, "empty box");

    let (dir, info) = plain();
    let y1 = info.records[0].bbox[1];
    set_field(dir.path(), BBOX, 3, 4, &y1.to_string());
    expect_bad(dir.path(), BBOX, 3, "empty box");

    let (dir, _) = plain();
    set_field(dir.path(), BBOX, 7, 2, "12a");
    expect_bad(dir.path(), BBOX, 7, "y_1");
}

#[test]
fn non_numeric_or_out_of_range_landmark_fields() {
    // Field 2 + 3·j (+1 with variation_type) is a visibility; these rows are written without
    // variation_type to fix the offsets.
    let mut spec = FixtureSpec::new(vec![3, 3, 3], 22);
    spec.shuffle_annotations = false;
    spec.variation = Variation::Never;
    for (field, value, needle) in [
        (2, "3", "visibility 3"),
        (3, "x", "landmark coordinate"),
        (4, "NaN", "not a finite number"),
        (1, "upper", "clothes_type"),
    ] {
        let (dir, _) = make(&spec);
        set_field(dir.path(), LM, 4, field, value);
        expect_bad(dir.path(), LM, 4, needle);
    }
}

#[test]
fn images_missing_from_or_extra_in_a_file() {
    let (dir, info) = plain();
    let n = info.records.len();
    edit(dir.path(), BBOX, |l| {
        l.remove(4 + 2);
        l[0] = (n - 1).to_string();
    });
    // Reported where the image is listed: line 7 of the partition file.
    expect_bad(
        dir.path(),
        PART,
        7,
        &format!("{} has no row in {BBOX}", info.records[4].image),
    );

    let (dir, info) = plain();
    edit(dir.path(), PART, |l| {
        l.remove(2);
        l[0] = (n - 1).to_string();
    });
    expect_bad(
        dir.path(),
        CAT,
        3,
        &format!("{} is not in {PART}", info.records[0].image),
    );
}

#[test]
fn duplicate_names_and_unknown_partition_words() {
    let (dir, info) = plain();
    let n = info.records.len();
    edit(dir.path(), CAT, |l| {
        let dup = l[3].clone();
        l.push(dup);
        l[0] = (n + 1).to_string();
    });
    expect_bad(dir.path(), CAT, n + 3, "listed again (first on line 4)");

    let (dir, _) = plain();
    set_field(dir.path(), PART, 8, 1, "training");
    expect_bad(
        dir.path(),
        PART,
        8,
        "\"training\" is not train, val or test",
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let (dir, _) = plain();
    fs::remove_file(dir.path().join(PART)).unwrap();
    let err = load_deepfashion(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("list_eval_partition.txt"), "{err}");
}

#[test]
fn corrupt_or_truncated_jpegs_are_errors() {
    let (dir, info) = plain();
    let good = fs::read(info.image_path(0)).unwrap();
    let path = dir.path().join("bad.jpg");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("magic only".into(), good[..4].to_vec()),
        ("text".into(), b"not an image at all".to_vec()),
    ];
    for frac in [0.1, 0.3, 0.5, 0.8, 0.95] {
        let k = (good.len() as f64 * frac) as usize;
        cases.push((
            format!("first {k} of {} bytes", good.len()),
            good[..k].to_vec(),
        ));
    }
    let mut garbage = good[..20].to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    garbage.extend((0..2000).map(|_| rng.gen::<u8>()));
    cases.push(("header then noise".into(), garbage));
    for (what, bytes) in cases {
        fs::write(&path, &bytes).unwrap();
        let err = load_rgb(&path).expect_err(&what);
        assert!(matches!(err, Error::BadFile { .. }), "{what}: {err}");
        assert!(err.to_string().contains("bad.jpg"), "{what}: {err}");
    }
    // Flipped bits in the entropy-coded data may or may not decode; either way, no panic.
    for seed in 0..20 {
        let mut bytes = good.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..8 {
            let i = rng.gen_range(good.len() / 3..good.len() - 2);
            bytes[i] ^= 1 << rng.gen_range(0..8);
        }
        fs::write(&path, &bytes).unwrap();
        let _ = load_rgb(&path);
    }
    let err = load_rgb(&dir.path().join("absent.jpg")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("absent.jpg"));
}

// ---- Letterbox ----

/// Intensity-weighted centroid of channel `c` of the pixels where the other channels are dark.
fn centroid(img: &RgbImage, c: usize) -> (f32, f32) {
    let (mut sx, mut sy, mut s) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in img.enumerate_pixels() {
        let v = p[c] as f64;
        sx += v * x as f64;
        sy += v * y as f64;
        s += v;
    }
    assert!(s > 0.0, "channel {c} vanished");
    ((sx / s) as f32, (sy / s) as f32)
}

#[test]
fn map_point_follows_apply() {
    // (image w, h, bbox): wide, tall, square, upscaled small crop, box past the image's edge.
    let cases: [(u32, u32, [u32; 4]); 5] = [
        (300, 200, [20, 40, 280, 150]),
        (160, 320, [30, 10, 120, 300]),
        (120, 120, [0, 0, 120, 120]),
        (100, 90, [40, 30, 70, 50]),
        (180, 150, [60, 20, 400, 500]),
    ];
    for (w, h, bbox) in cases {
        let lb = Letterbox::new(bbox, w, h, IMAGE_SIZE).unwrap();
        let [x1, y1, x2, y2] = lb.crop();
        let (cw, ch) = (x2 - x1, y2 - y1);
        // One 5×5 block per channel, centres at known pixels inside the crop, away from its edge.
        let centres = [
            (x1 + cw / 4, y1 + ch / 3),
            (x1 + 3 * cw / 4, y1 + ch / 2),
            (x1 + cw / 2, y1 + 4 * ch / 5),
        ];
        let mut img = RgbImage::new(w, h);
        for (c, &(cx, cy)) in centres.iter().enumerate() {
            for y in cy - 2..=cy + 2 {
                for x in cx - 2..=cx + 2 {
                    let mut p = [0u8; 3];
                    p[c] = 255;
                    img.put_pixel(x, y, Rgb(p));
                }
            }
        }
        let out = lb.apply(&img);
        assert_eq!(out.dimensions(), (224, 224));
        for (c, &(cx, cy)) in centres.iter().enumerate() {
            let (mx, my) = lb.map_point(cx as f32, cy as f32);
            let (ox, oy) = centroid(&out, c);
            assert!(
                (mx - ox).abs() <= 1.0 && (my - oy).abs() <= 1.0,
                "{w}×{h} box {bbox:?} channel {c}: mapped ({mx}, {my}), drawn at ({ox}, {oy})"
            );
        }
    }
}

/// Bounding box of the non-black pixels: `x0 y0 x1 y1`, inclusive.
fn lit(img: &RgbImage) -> [u32; 4] {
    let mut b = [u32::MAX, u32::MAX, 0, 0];
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 != [0, 0, 0] {
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    b
}

#[test]
fn wide_and_tall_boxes_are_centred() {
    for (w, h, bbox) in [
        (400u32, 300u32, [50u32, 100, 350, 200]), // 300×100: 224×75 after resizing
        (300, 400, [100, 20, 160, 380]),          // 60×360: 37×224
        (50, 500, [0, 0, 50, 500]),
        (90, 60, [10, 10, 80, 47]), // upscaled, 70×37
    ] {
        let img = RgbImage::from_pixel(w, h, Rgb([200, 180, 160]));
        let (lb, out) = Letterbox::prepare(&img, bbox, IMAGE_SIZE).unwrap();
        assert_eq!(out.dimensions(), (224, 224));
        let [x0, y0, x1, y1] = lit(&out);
        let (cw, ch) = ((bbox[2] - bbox[0]) as f32, (bbox[3] - bbox[1]) as f32);
        let long = cw.max(ch);
        let (rw, rh) = (x1 - x0 + 1, y1 - y0 + 1);
        assert!(((rw as f32) - cw * 224.0 / long).abs() <= 1.0, "width {rw}");
        assert!(
            ((rh as f32) - ch * 224.0 / long).abs() <= 1.0,
            "height {rh}"
        );
        assert!(rw == 224 || rh == 224, "longer side not 224: {rw}×{rh}");
        // Padding on both sides of the short axis differs by at most one pixel.
        let (left, right) = (x0 as i32, 223 - x1 as i32);
        let (top, bottom) = (y0 as i32, 223 - y1 as i32);
        assert!((left - right).abs() <= 1, "left {left} right {right}");
        assert!((top - bottom).abs() <= 1, "top {top} bottom {bottom}");
        assert_eq!(lb.content(), [x0, y0, rw, rh]);
        // The crop's outer pixel edges map exactly to the content's outer pixel edges (edge of
        // pixel p is p − 0.5 in centre coordinates).
        let (ax, ay) = lb.map_point(bbox[0] as f32 - 0.5, bbox[1] as f32 - 0.5);
        let (bx, by) = lb.map_point(bbox[2] as f32 - 0.5, bbox[3] as f32 - 0.5);
        for (got, want) in [
            (ax, x0 as f32 - 0.5),
            (ay, y0 as f32 - 0.5),
            (bx, x1 as f32 + 0.5),
            (by, y1 as f32 + 0.5),
        ] {
            assert!((got - want).abs() <= 1e-3, "{got} vs {want}");
        }
    }
}

#[test]
fn output_is_always_square_and_empty_boxes_are_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    for _ in 0..40 {
        let (w, h) = (rng.gen_range(1..300u32), rng.gen_range(1..300u32));
        let x1 = rng.gen_range(0..w);
        let y1 = rng.gen_range(0..h);
        let bbox = [
            x1,
            y1,
            rng.gen_range(x1 + 1..w + 40),
            rng.gen_range(y1 + 1..h + 40),
        ];
        let img = RgbImage::from_pixel(w, h, Rgb([9, 9, 9]));
        let (_, out) = Letterbox::prepare(&img, bbox, IMAGE_SIZE).unwrap();
        assert_eq!(out.dimensions(), (224, 224), "{w}×{h} {bbox:?}");
    }
    for (bbox, w, h) in [
        ([10, 10, 10, 20], 50, 50),
        ([10, 30, 20, 20], 50, 50),
        ([60, 10, 80, 20], 50, 50),
        ([0, 0, 5, 5], 0, 0),
    ] {
        let err = Letterbox::new(bbox, w, h, IMAGE_SIZE).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
    assert!(Letterbox::new([0, 0, 5, 5], 10, 10, 0).is_err());
}

#[test]
fn imagenet_normalisation_is_channel_major() {
    let rgb = [10u8, 128, 250];
    let mut img = RgbImage::from_pixel(5, 3, Rgb(rgb));
    let v = imagenet_chw(&img);
    assert_eq!(v.len(), 3 * 5 * 3);
    for c in 0..3 {
        let want = (rgb[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        for &x in &v[c * 15..(c + 1) * 15] {
            assert!(
                (x - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{x} vs {want}"
            );
        }
    }
    // Worked by hand: (10/255 − 0.485)/0.229, (128/255 − 0.456)/0.224, (250/255 − 0.406)/0.225.
    for (c, want) in [(0, -1.946_656), (1, 0.205_182), (2, 2.552_854)] {
        assert!(
            (v[c * 15] - want).abs() < 1e-5,
            "channel {c}: {}",
            v[c * 15]
        );
    }
    // One distinct pixel at (x 3, y 2) lands at c·h·w + y·w + x.
    img.put_pixel(3, 2, Rgb([255, 255, 255]));
    let v = imagenet_chw(&img);
    for c in 0..3 {
        let want = (1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        assert!((v[c * 15 + 2 * 5 + 3] - want).abs() < 1e-6);
        assert_eq!(v.iter().filter(|&&x| (x - want).abs() < 1e-6).count(), 1);
    }
}
