//! Image preparation (METHOD.md §6): crop to the bounding box, letterbox to a square, ImageNet normalisation.
//!
//! Coordinates are pixel indices throughout: pixel `p` covers `[p, p + 1)` and has its centre at
//! `p + 0.5`, the convention of [`super::pixel_to_grid`] and of the `image` crate's resampling,
//! which maps output pixel centres to input pixel centres. Rounding happens in one place only: the
//! resized crop's shorter side, `round(short · size / long)` (at least 1), and the padding before
//! it, `floor((size − resized) / 2)`. [`Letterbox::map_point`] uses the scale that rounding
//! produced, per axis, so that it agrees with [`Letterbox::apply`] exactly up to the filter's blur.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::RgbImage;

use super::landmarks::pixel_to_grid;
use crate::error::{Error, Result};

/// Side of the prepared square image (METHOD.md §1, §6).
pub const IMAGE_SIZE: usize = 224;

/// ImageNet channel means (R, G, B), on values scaled to `[0, 1]`; see [`imagenet_chw`].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (R, G, B), on values scaled to `[0, 1]`.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The crop-resize-pad transform of one image: its bounding box clamped to the image, resized so
/// that the longer side is `size`, centred on a black `size × size` square.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// `x1 y1 x2 y2` within the image, non-empty.
    crop: [u32; 4],
    img_w: u32,
    img_h: u32,
    /// Size of the resized crop.
    out_w: u32,
    out_h: u32,
    /// Where the resized crop's top-left corner lands in the square.
    off_x: u32,
    off_y: u32,
    /// `out / crop` per axis, after rounding `out`.
    scale_x: f32,
    scale_y: f32,
    size: u32,
}

impl Letterbox {
    /// The transform for `bbox` (`x1 y1 x2 y2`, `x2`/`y2` exclusive) in an `img_w × img_h` image.
    /// The box is clamped to the image; one that is empty after clamping is an [`Error::Invalid`],
    /// as is a `size` of 0 or one that does not fit in `u32`.
    pub fn new(bbox: [u32; 4], img_w: u32, img_h: u32, size: usize) -> Result<Self> {
        let size_u32 = u32::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| Error::invalid("letterbox size", format!("{size} is not in 1..2^32")))?;
        let [x1, y1, x2, y2] = [
            bbox[0].min(img_w),
            bbox[1].min(img_h),
            bbox[2].min(img_w),
            bbox[3].min(img_h),
        ];
        if x2 <= x1 || y2 <= y1 {
            return Err(Error::invalid(
                "bounding box",
                format!(
                    "x1 {} y1 {} x2 {} y2 {} is empty within the {img_w}×{img_h} image",
                    bbox[0], bbox[1], bbox[2], bbox[3]
                ),
            ));
        }
        let (cw, ch) = (x2 - x1, y2 - y1);
        let long = cw.max(ch) as f64;
        let side =
            |c: u32| -> u32 { ((c as f64 * size as f64 / long).round() as u32).clamp(1, size_u32) };
        let (out_w, out_h) = (side(cw), side(ch));
        Ok(Letterbox {
            crop: [x1, y1, x2, y2],
            img_w,
            img_h,
            out_w,
            out_h,
            off_x: (size_u32 - out_w) / 2,
            off_y: (size_u32 - out_h) / 2,
            scale_x: out_w as f32 / cw as f32,
            scale_y: out_h as f32 / ch as f32,
            size: size_u32,
        })
    }

    /// The transform for `bbox` in `img`, and `img` prepared by it (`size × size`). Errors as
    /// [`Letterbox::new`].
    pub fn prepare(img: &RgbImage, bbox: [u32; 4], size: usize) -> Result<(Self, RgbImage)> {
        let lb = Letterbox::new(bbox, img.width(), img.height(), size)?;
        let out = lb.apply(img);
        Ok((lb, out))
    }

    /// The clamped box, `x1 y1 x2 y2`.
    pub fn crop(&self) -> [u32; 4] {
        self.crop
    }

    /// Where the resized crop lies in the square: `x y width height`; the rest is black.
    pub fn content(&self) -> [u32; 4] {
        [self.off_x, self.off_y, self.out_w, self.out_h]
    }

    /// Side of the prepared square.
    pub fn size(&self) -> usize {
        self.size as usize
    }

    /// Crops `img`, resizes it with a triangle (bilinear) filter and pads it with black to
    /// `size × size`.
    ///
    /// # Panics
    /// If `img` is not the size given to [`Letterbox::new`] (use [`Letterbox::prepare`] to build
    /// both from the image).
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        assert_eq!(
            img.dimensions(),
            (self.img_w, self.img_h),
            "Letterbox::apply: image size differs from the one the transform was made for"
        );
        let [x1, y1, x2, y2] = self.crop;
        let cropped = imageops::crop_imm(img, x1, y1, x2 - x1, y2 - y1).to_image();
        let resized = imageops::resize(&cropped, self.out_w, self.out_h, FilterType::Triangle);
        let mut out = RgbImage::new(self.size, self.size);
        imageops::replace(&mut out, &resized, self.off_x as i64, self.off_y as i64);
        out
    }

    /// Maps a pixel position of the original image to the prepared image, consistently with
    /// [`Letterbox::apply`]: pixel centres map to pixel centres. Points outside the box map
    /// outside the resized crop (possibly outside the square).
    pub fn map_point(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.crop[0] as f32 + 0.5) * self.scale_x - 0.5 + self.off_x as f32,
            (y - self.crop[1] as f32 + 0.5) * self.scale_y - 0.5 + self.off_y as f32,
        )
    }

    /// [`Letterbox::map_point`] followed by [`pixel_to_grid`]: the position in cells of a
    /// `grid × grid` heatmap (x = column, y = row).
    pub fn grid_point(&self, x: f32, y: f32, grid: usize) -> (f32, f32) {
        let (px, py) = self.map_point(x, y);
        let size = self.size as usize;
        (pixel_to_grid(px, size, grid), pixel_to_grid(py, size, grid))
    }
}

/// Channel-major (`3 × h × w`) floats normalised with the ImageNet statistics:
/// `(p / 255 − mean[c]) / std[c]`.
pub fn imagenet_chw(img: &RgbImage) -> Vec<f32> {
    let hw = img.width() as usize * img.height() as usize;
    let mut out = vec![0.0f32; 3 * hw];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * hw + i] = (p[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}

/// Decodes an image file (JPEG or PNG, told by its contents) to 8-bit RGB. A file that cannot be
/// read is an [`Error::Io`]; one that does not decode (corrupt, truncated, unknown format) is an
/// [`Error::BadFile`] naming it.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let reader = image::io::Reader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| Error::io(path, e))?;
    let img = reader
        .decode()
        .map_err(|e| Error::bad_file(path, format!("cannot decode the image: {e}")))?;
    Ok(img.into_rgb8())
}
