//! DeepFashion2 annotations (METHOD.md §6) on a generated fixture in the data set's layout, and a
//! table of hostile annotation files, each of which must be an error naming the file and what is
//! wrong.

use std::fs;
use std::path::Path;

use crate::fixture2::{edit_json, write_df2_fixture, Df2Info, Df2Spec};
use convexgan::data::deepfashion::Partition;
use convexgan::data::deepfashion2::{
    is_deepfashion2, load_deepfashion2, slot_offset, DEEPFASHION2_CATEGORY_NAMES,
    DEEPFASHION2_LANDMARKS, DEEPFASHION2_POINTS,
};
use convexgan::error::Error;
use serde_json::{json, Value};

fn make(spec: &Df2Spec) -> (tempfile::TempDir, Df2Info) {
    let dir = tempfile::tempdir().unwrap();
    let info = write_df2_fixture(dir.path(), spec);
    (dir, info)
}

#[test]
fn loader_matches_the_fixture() {
    let (dir, info) = make(&Df2Spec::every_category(3, 1));
    assert!(is_deepfashion2(dir.path()));
    let items = load_deepfashion2(dir.path(), None).unwrap();
    assert_eq!(items.len(), info.items.len());
    for (got, want) in items.iter().zip(&info.items) {
        let at = format!("{} item{}", want.annotation, want.item);
        assert_eq!(got.image, want.image, "{at}");
        assert_eq!(got.annotation, want.annotation, "{at}");
        assert_eq!(got.item, want.item, "{at}");
        assert_eq!(got.category, want.category, "{at}");
        assert_eq!(got.bbox, want.bbox, "{at}");
        assert_eq!(got.points, want.points, "{at}");
        assert_eq!(got.visibility, want.visibility, "{at}");
        assert_eq!(got.partition, want.partition, "{at}");
        assert_eq!(got.points.len(), DEEPFASHION2_POINTS[got.category as usize]);
        // Only "visible" (2) is visible; occluded (1) and unlabelled (0) points are not.
        let vis: Vec<bool> = want.visibility.iter().map(|&v| v == 2).collect();
        assert_eq!(got.visible(), vis, "{at}");
        assert_eq!(got.id(), format!("{}#item{}", want.image, want.item));
    }
    // Every category's landmark count, several items per image, all three visibility codes and
    // all three partitions are exercised.
    for part in [Partition::Train, Partition::Test] {
        for c in 0..13u32 {
            assert!(
                items.iter().any(|i| i.category == c && i.partition == part),
                "category {c} in {part:?}"
            );
        }
    }
    assert!(items.iter().any(|i| i.partition == Partition::Val));
    assert!(items.iter().any(|i| i.item >= 2));
    for v in 0..=2u8 {
        assert!(items.iter().any(|i| i.visibility.contains(&v)));
    }
    // The validation partition is every 10th training image, by file name, whole images.
    for i in &items {
        let n: usize = i.image[12..18].parse().unwrap_or(0);
        if i.image.starts_with("train/") {
            let want = if n.is_multiple_of(10) {
                Partition::Val
            } else {
                Partition::Train
            };
            assert_eq!(i.partition, want, "{}", i.image);
        }
    }
}

#[test]
fn slots_are_contiguous_blocks_in_category_order() {
    let offsets: Vec<usize> = (0..13).map(slot_offset).collect();
    assert_eq!(
        offsets,
        [0, 25, 58, 89, 128, 143, 158, 168, 182, 190, 219, 256, 275]
    );
    assert_eq!(
        offsets[12] + DEEPFASHION2_POINTS[12],
        DEEPFASHION2_LANDMARKS
    );
    assert_eq!(DEEPFASHION2_LANDMARKS, 294);
}

#[test]
fn limit_takes_the_first_items_of_each_folder() {
    let (dir, info) = make(&Df2Spec::every_category(2, 2));
    let items = load_deepfashion2(dir.path(), Some(5)).unwrap();
    let train: Vec<_> = info
        .items
        .iter()
        .filter(|i| i.image.starts_with("train/"))
        .take(5)
        .collect();
    let val: Vec<_> = info
        .items
        .iter()
        .filter(|i| i.image.starts_with("validation/"))
        .take(5)
        .collect();
    assert_eq!(items.len(), 10);
    for (got, want) in items.iter().zip(train.iter().chain(&val)) {
        assert_eq!((&got.image, got.item), (&want.image, want.item));
    }
    // The files after the limit are not read: a broken one there does not matter.
    let last = info
        .items
        .iter()
        .rfind(|i| i.image.starts_with("train/"))
        .unwrap();
    fs::write(dir.path().join(&last.annotation), "{").unwrap();
    assert_eq!(load_deepfashion2(dir.path(), Some(5)).unwrap(), items);
    assert!(load_deepfashion2(dir.path(), None).is_err());
}

#[test]
fn a_byte_order_mark_and_unknown_keys_are_accepted() {
    let (dir, info) = make(&Df2Spec::every_category(1, 3));
    let path = info.annotation_path(0);
    edit_json(dir.path(), &info.items[0].annotation, |v| {
        v["item1"]["future_field"] = json!({"nested": [1, 2, 3]});
        v["comment"] = json!("not an item");
        v["items_total"] = json!(3);
    });
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("\u{feff}{text}")).unwrap();
    let items = load_deepfashion2(dir.path(), None).unwrap();
    assert_eq!(items.len(), info.items.len());
}

// ---- Hostile annotation files ----

/// What a case breaks, relative to the fixture's first train image (its annotation `a`, its
/// image `i`).
type Corrupt = Box<dyn Fn(&Path, &str, &str)>;

struct Case {
    name: &'static str,
    corrupt: Corrupt,
    /// The file the message must name: the first image's annotation unless `names_image`.
    names_image: bool,
    needles: Vec<String>,
}

fn case(
    name: &'static str,
    needles: &[&str],
    corrupt: impl Fn(&Path, &str, &str) + 'static,
) -> Case {
    Case {
        name,
        corrupt: Box::new(corrupt),
        names_image: false,
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

fn set(key: &'static str, value: Value) -> impl Fn(&Path, &str, &str) {
    move |root, a, _| edit_json(root, a, |v| v["item1"][key] = value.clone())
}

fn raw(text: &'static str) -> impl Fn(&Path, &str, &str) {
    move |root, a, _| fs::write(root.join(a), text).unwrap()
}

#[test]
fn hostile_annotations_are_errors_naming_the_file_and_the_problem() {
    let (dir, info) = make(&Df2Spec::every_category(1, 4));
    let root = dir.path();
    let first = info.items[0].clone();
    let (cat, n) = (
        first.category as usize,
        DEEPFASHION2_POINTS[first.category as usize],
    );
    let wrong_count = format!(
        "category {} ({}) has {n} landmarks but the list holds {}",
        cat + 1,
        DEEPFASHION2_CATEGORY_NAMES[cat],
        n - 1
    );
    let mut cases = vec![
        case("empty file", &["not valid JSON"], raw("")),
        case(
            "cut JSON",
            &["not valid JSON", "line 1"],
            raw("{\"item1\": {\"category_id\": 1,"),
        ),
        case("not an object", &["not a JSON object"], raw("[1, 2, 3]")),
        case(
            "no items",
            &["no items"],
            raw("{\"source\": \"user\", \"pair_id\": 1}"),
        ),
        case(
            "item not an object",
            &["item1", "expected an object with category_id"],
            |root, a, _| edit_json(root, a, |v| v["item1"] = json!(5)),
        ),
        case(
            "missing category_id",
            &["item1", "missing field `category_id`"],
            |root, a, _| {
                edit_json(root, a, |v| {
                    v["item1"].as_object_mut().unwrap().remove("category_id");
                })
            },
        ),
        case(
            "missing bounding_box",
            &["item1", "missing field `bounding_box`"],
            |root, a, _| {
                edit_json(root, a, |v| {
                    v["item1"].as_object_mut().unwrap().remove("bounding_box");
                })
            },
        ),
        case(
            "missing landmarks",
            &["item1", "missing field `landmarks`"],
            |root, a, _| {
                edit_json(root, a, |v| {
                    v["item1"].as_object_mut().unwrap().remove("landmarks");
                })
            },
        ),
        case(
            "category_id a string",
            &["item1", "invalid type: string \"1\""],
            set("category_id", json!("1")),
        ),
        case(
            "landmarks not a list",
            &["item1", "invalid type"],
            set("landmarks", json!({"x": 1})),
        ),
        case(
            "a landmark value a string",
            &["item1", "invalid type: string"],
            |root, a, _| edit_json(root, a, |v| v["item1"]["landmarks"][0] = json!("12")),
        ),
        case(
            "category_id 0",
            &["item1", "category_id 0 is not one of 1..=13"],
            set("category_id", json!(0)),
        ),
        case(
            "category_id 14",
            &["item1", "category_id 14 is not one of 1..=13"],
            set("category_id", json!(14)),
        ),
        case("a triple short", &["item1", &wrong_count], |root, a, _| {
            edit_json(root, a, |v| {
                let l = v["item1"]["landmarks"].as_array_mut().unwrap();
                l.truncate(l.len() - 3);
            })
        }),
        case(
            "a stray value",
            &["item1", "not a whole number of (x, y, v) triples"],
            |root, a, _| {
                edit_json(root, a, |v| {
                    v["item1"]["landmarks"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!(0))
                })
            },
        ),
        case(
            "inverted box",
            &["item1", "empty box", "x2 > x1"],
            set("bounding_box", json!([50, 10, 20, 60])),
        ),
        case(
            "zero-height box",
            &["item1", "empty box"],
            set("bounding_box", json!([10, 30, 20, 30])),
        ),
        case(
            "three-number box",
            &["item1", "bounding_box has 3 numbers, expected 4"],
            set("bounding_box", json!([10, 30, 20])),
        ),
        case(
            "negative box",
            &["item1", "-5 is not a pixel coordinate"],
            set("bounding_box", json!([-5, 3, 20, 30])),
        ),
        case(
            "visibility 3",
            &["item1", "landmark 2 visibility 3 is not 0, 1 or 2"],
            |root, a, _| edit_json(root, a, |v| v["item1"]["landmarks"][5] = json!(3)),
        ),
        case(
            "visibility -1",
            &["item1", "landmark 1 visibility -1 is not 0, 1 or 2"],
            |root, a, _| edit_json(root, a, |v| v["item1"]["landmarks"][2] = json!(-1)),
        ),
        case(
            "visibility 1.5",
            &["item1", "visibility 1.5 is not 0, 1 or 2"],
            |root, a, _| edit_json(root, a, |v| v["item1"]["landmarks"][2] = json!(1.5)),
        ),
        case(
            "annotation without its image",
            &["no image train/image/000001.jpg for this annotation"],
            |root, _, i| fs::remove_file(root.join(i)).unwrap(),
        ),
    ];
    let mut orphan = case(
        "image without its annotation",
        &["no annotation train/annos/000001.json for this image"],
        |root, a, _| fs::remove_file(root.join(a)).unwrap(),
    );
    orphan.names_image = true;
    cases.push(orphan);

    let a_bytes = fs::read(root.join(&first.annotation)).unwrap();
    let i_bytes = fs::read(root.join(&first.image)).unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        (c.corrupt)(root, &first.annotation, &first.image);
        let result = load_deepfashion2(root, None);
        fs::write(root.join(&first.annotation), &a_bytes).unwrap();
        fs::write(root.join(&first.image), &i_bytes).unwrap();
        let err = match result {
            Ok(_) => {
                failures.push(format!("{}: accepted", c.name));
                continue;
            }
            Err(e) => e,
        };
        let msg = err.to_string();
        println!("{:<32} {msg}", c.name);
        let file = if c.names_image {
            &first.image
        } else {
            &first.annotation
        };
        if !matches!(err, Error::BadFile { .. }) {
            failures.push(format!("{}: not a BadFile error: {msg}", c.name));
        }
        for needle in std::iter::once(file).chain(&c.needles) {
            if !msg.contains(needle.as_str()) {
                failures.push(format!("{}: {msg:?} does not say {needle:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The fixture is whole again after the cases.
    assert_eq!(
        load_deepfashion2(root, None).unwrap().len(),
        info.items.len()
    );
}

#[test]
fn a_missing_folder_is_an_io_error_naming_it() {
    let (dir, _) = make(&Df2Spec::every_category(1, 5));
    fs::remove_dir_all(dir.path().join("validation/annos")).unwrap();
    let err = load_deepfashion2(dir.path(), None).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("validation/annos"), "{err}");
}
