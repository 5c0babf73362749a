//! The machine pre-check of a PR-card photo: a few measurements of its pixels, and flags named
//! like the reasons an officer can return a photo for. It helps; the officer still decides, so
//! a flag never refuses an upload (only the hard rules on format, size and dimensions do).
//!
//! Pure: it reads a luma (grey) buffer that the command layer decoded and shrank to fit
//! [`WORKING_MAX_WIDTH`] x [`WORKING_MAX_HEIGHT`], and the upload's original dimensions. Every
//! measurement is an integer computed with integer arithmetic: the same pixels give the same
//! report on every machine, and the report can be recorded in the event log, whose canonical
//! form admits no floats.
//!
//! Where it looks, as shares of the working image (a 50 x 70 mm portrait whose head, chin to
//! crown, is 31 to 36 mm tall and centred, shoulders below):
//! - the *face region*, the centre: 35–65 % of the width, 22–52 % of the height (forehead to
//!   mouth). Narrow on purpose: even the smallest head the rules allow fills it, so no
//!   background (often clipped white) beside the head or the jaw is counted as glare or as
//!   the face's contrast;
//! - the *background band*: the top 8 % of the height across the whole width, and the outer 8 %
//!   of the width on each side down to 45 % of the height, where only background should be
//!   (beside the head, above the shoulders).
//!
//! The thresholds are first estimates from the published rules and the measurements of generated
//! test images; the event records every measurement so they can be tuned against officers'
//! decisions.

use serde::{Deserialize, Serialize};

use crate::values::{PHOTO_MAX_SIZE, PHOTO_MIN_SIZE};

/// Widest working image. The upload is shrunk to fit this box before it is measured, so that a
/// check costs the same few milliseconds for every size, and sharpness is judged at one scale
/// (that of an officer's screen, where blur that matters is still visible).
pub const WORKING_MAX_WIDTH: u32 = 360;
/// Tallest working image (360 x 504 is the 5:7 portrait).
pub const WORKING_MAX_HEIGHT: u32 = 504;
/// Smallest working side: below it the regions would be a handful of pixels.
pub const WORKING_MIN_SIDE: u32 = 32;

/// `too_dark` when the whole image's mean luma is below this. A white background covers a good
/// third of a compliant photo, so even with a very dark face and dark clothes the mean stays
/// well above 80; below it the photo as a whole is under-exposed.
pub const DARK_MEAN_LUMA: u8 = 80;
/// `too_dark` when the face region's mean luma is below this, whatever the background. Set low
/// on purpose: well-lit dark skin measures some 70–110, so only a face in shadow or an
/// under-exposed face (backlit against a bright background) falls under 45.
pub const DARK_FACE_LUMA: u8 = 45;
/// A pixel at or above this luma is clipped: a highlight with no detail left (JPEG ringing
/// leaves a clipped 255 somewhere between 250 and 255).
pub const NEAR_WHITE_LUMA: u8 = 250;
/// `glare` when more than this share (per mille) of the face region is clipped. Skin, even pale
/// and well lit, stays below 250; a flash reflected by the forehead or by glasses clips a patch
/// of a few per cent of the region. 2 % leaves room for the white of the eyes and teeth.
pub const GLARE_PERMILLE: u16 = 20;
/// `features_not_visible` when the standard deviation of the face region's luma is below this.
/// Eyes, brows, hair and mouth against skin give 25–50 levels in a real portrait; a washed-out
/// or fogged photo (or a blank one) falls under 12.
pub const MIN_FACE_CONTRAST: u8 = 12;
/// `features_not_visible` when the variance of the Laplacian over the face region is below this
/// (at working size). Sharp edges of eyes and brows give hundreds; a photo out of focus or
/// shaken enough to blur them at screen size gives tens at most, a blank one zero.
pub const MIN_SHARPNESS: u32 = 30;
/// `background_not_white` when the background band's mean luma is below this. Plain white paper
/// or a wall under even light measures 220–255 in a correctly exposed photo; light grey,
/// beige or a dim room falls under 200.
pub const MIN_BACKGROUND_LUMA: u8 = 200;
/// `background_not_white` when the background band's standard deviation exceeds this: shadows,
/// a gradient from uneven light, or a patterned or cluttered background. A plain background
/// with sensor noise and JPEG artefacts stays within a few levels.
pub const MAX_BACKGROUND_SPREAD: u8 = 16;
/// `wrong_dimensions` when width : height differs from the 50 x 70 mm portrait's 5 : 7 by more
/// than this (per mille). The extreme sizes the rules name, 715 x 1000 and 2000 x 2800, are
/// within 1 ‰ of it; 4 % leaves room for cropping by hand.
pub const ASPECT_TOLERANCE_PERMILLE: u32 = 40;

/// Face region, in per mille of the working image: x from, x to, y from, y to.
const FACE: (u32, u32, u32, u32) = (350, 650, 220, 520);
/// Top background strip: the whole width, the top 8 %.
const BACKGROUND_TOP: (u32, u32, u32, u32) = (0, 1000, 0, 80);
/// Side background strips beside the head, above the shoulders.
const BACKGROUND_LEFT: (u32, u32, u32, u32) = (0, 80, 80, 450);
const BACKGROUND_RIGHT: (u32, u32, u32, u32) = (920, 1000, 80, 450);

/// What the pre-check found, named like the published return reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QualityFlag {
    TooDark,
    BackgroundNotWhite,
    /// Very low contrast or blur in the face region.
    FeaturesNotVisible,
    Glare,
    /// Outside the published range, or not a 5 : 7 portrait.
    WrongDimensions,
}

/// The measurements behind the flags. Luma levels are 0 (black) to 255 (white), measured on the
/// working image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QualityMeasurements {
    /// The upload's width in pixels.
    pub width: u32,
    /// The upload's height in pixels.
    pub height: u32,
    /// Mean luma of the whole image.
    pub brightness: u8,
    /// Mean luma of the face region.
    pub face_brightness: u8,
    /// Share of the face region at or above [`NEAR_WHITE_LUMA`], per mille.
    pub face_highlights_permille: u16,
    /// Standard deviation of the face region's luma.
    pub face_contrast: u8,
    /// Variance of the Laplacian (4-neighbour) over the face region.
    pub sharpness: u32,
    /// Mean luma of the background band.
    pub background_brightness: u8,
    /// Standard deviation of the background band's luma.
    pub background_spread: u8,
}

/// The measurements and the flags they raise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityReport {
    pub measurements: QualityMeasurements,
    /// Sorted, each at most once; empty when nothing looks wrong.
    pub flags: Vec<QualityFlag>,
}

/// The luma buffer cannot be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LumaError {
    #[error("a luma buffer of {len} bytes does not hold {width} x {height} pixels")]
    Length { len: usize, width: u32, height: u32 },
    #[error(
        "the working image must be {WORKING_MIN_SIDE} to {WORKING_MAX_WIDTH} x {WORKING_MAX_HEIGHT} pixels, got {width} x {height}"
    )]
    Size { width: u32, height: u32 },
}

/// Measures a photo and flags what looks wrong.
///
/// `original` is the upload's size; `luma` is the photo shrunk to fit the working size, one
/// byte per pixel, row by row, `width` x `height`.
///
/// # Errors
/// [`LumaError`] if the buffer's length does not match its size, or the size is not a working
/// size.
pub fn assess(
    original: (u32, u32),
    luma: &[u8],
    width: u32,
    height: u32,
) -> Result<QualityReport, LumaError> {
    let image = Luma::new(luma, width, height)?;
    let measurements = image.measure(original);
    Ok(QualityReport {
        flags: flags(&measurements),
        measurements,
    })
}

/// The flags `m` raises, sorted. Pure in the measurements, so a recorded report can be
/// re-judged.
pub fn flags(m: &QualityMeasurements) -> Vec<QualityFlag> {
    let mut out = Vec::new();
    if m.brightness < DARK_MEAN_LUMA || m.face_brightness < DARK_FACE_LUMA {
        out.push(QualityFlag::TooDark);
    }
    if m.background_brightness < MIN_BACKGROUND_LUMA || m.background_spread > MAX_BACKGROUND_SPREAD
    {
        out.push(QualityFlag::BackgroundNotWhite);
    }
    if m.face_contrast < MIN_FACE_CONTRAST || m.sharpness < MIN_SHARPNESS {
        out.push(QualityFlag::FeaturesNotVisible);
    }
    if m.face_highlights_permille > GLARE_PERMILLE {
        out.push(QualityFlag::Glare);
    }
    if !dimensions_fit(m.width, m.height) {
        out.push(QualityFlag::WrongDimensions);
    }
    out
}

/// Within the published range and within [`ASPECT_TOLERANCE_PERMILLE`] of 5 : 7.
fn dimensions_fit(width: u32, height: u32) -> bool {
    let in_range = (PHOTO_MIN_SIZE.0..=PHOTO_MAX_SIZE.0).contains(&width)
        && (PHOTO_MIN_SIZE.1..=PHOTO_MAX_SIZE.1).contains(&height);
    // |7w - 5h| / 5h, in per mille, without floats.
    let (w7, h5) = (u64::from(width) * 7, u64::from(height) * 5);
    in_range && w7.abs_diff(h5) * 1000 <= u64::from(ASPECT_TOLERANCE_PERMILLE) * h5
}

/// A checked luma buffer.
struct Luma<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
}

/// A rectangle of the working image, in pixels: `x0..x1`, `y0..y1`.
#[derive(Clone, Copy)]
struct Rect {
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
}

/// Running sums for a mean and a standard deviation.
#[derive(Default)]
struct Sums {
    n: u64,
    sum: u64,
    squares: u64,
}

impl Sums {
    fn add(&mut self, v: u8) {
        let v = u64::from(v);
        self.n += 1;
        self.sum += v;
        self.squares += v * v;
    }
    /// Rounded to the nearest level.
    fn mean(&self) -> u8 {
        if self.n == 0 {
            return 0;
        }
        u8::try_from((self.sum + self.n / 2) / self.n).unwrap_or(u8::MAX)
    }
    /// Rounded down to a whole level.
    fn std_dev(&self) -> u8 {
        let n = u128::from(self.n);
        if n == 0 {
            return 0;
        }
        let sum = u128::from(self.sum);
        let variance = (n * u128::from(self.squares)).saturating_sub(sum * sum) / (n * n);
        u8::try_from(variance.isqrt()).unwrap_or(u8::MAX)
    }
}

impl<'a> Luma<'a> {
    fn new(pixels: &'a [u8], width: u32, height: u32) -> Result<Self, LumaError> {
        let fits = (WORKING_MIN_SIDE..=WORKING_MAX_WIDTH).contains(&width)
            && (WORKING_MIN_SIDE..=WORKING_MAX_HEIGHT).contains(&height);
        if !fits {
            return Err(LumaError::Size { width, height });
        }
        if pixels.len() as u64 != u64::from(width) * u64::from(height) {
            return Err(LumaError::Length {
                len: pixels.len(),
                width,
                height,
            });
        }
        Ok(Self {
            pixels,
            width,
            height,
        })
    }

    fn at(&self, x: u32, y: u32) -> u8 {
        self.pixels
            .get(y as usize * self.width as usize + x as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The rectangle of per-mille bounds `(x from, x to, y from, y to)`, never empty.
    fn rect(&self, (x0, x1, y0, y1): (u32, u32, u32, u32)) -> Rect {
        let scale = |v: u32, side: u32| u32::try_from(u64::from(v) * u64::from(side) / 1000);
        let x0 = scale(x0, self.width).unwrap_or(0);
        let y0 = scale(y0, self.height).unwrap_or(0);
        Rect {
            x0,
            y0,
            x1: scale(x1, self.width).unwrap_or(self.width).max(x0 + 1),
            y1: scale(y1, self.height).unwrap_or(self.height).max(y0 + 1),
        }
    }

    fn sums(&self, rects: &[Rect]) -> Sums {
        let mut sums = Sums::default();
        for r in rects {
            for y in r.y0..r.y1 {
                for x in r.x0..r.x1 {
                    sums.add(self.at(x, y));
                }
            }
        }
        sums
    }

    /// Variance of `4c - n - s - e - w` over the pixels of `r` that have four neighbours.
    fn laplacian_variance(&self, r: Rect) -> u32 {
        let (mut n, mut sum, mut squares) = (0i128, 0i128, 0i128);
        for y in r.y0.max(1)..r.y1.min(self.height - 1) {
            for x in r.x0.max(1)..r.x1.min(self.width - 1) {
                let l = 4 * i128::from(self.at(x, y))
                    - i128::from(self.at(x - 1, y))
                    - i128::from(self.at(x + 1, y))
                    - i128::from(self.at(x, y - 1))
                    - i128::from(self.at(x, y + 1));
                n += 1;
                sum += l;
                squares += l * l;
            }
        }
        if n == 0 {
            return 0;
        }
        let variance = (n * squares - sum * sum) / (n * n);
        u32::try_from(variance).unwrap_or(u32::MAX)
    }

    fn measure(&self, (width, height): (u32, u32)) -> QualityMeasurements {
        let whole = Rect {
            x0: 0,
            x1: self.width,
            y0: 0,
            y1: self.height,
        };
        let face = self.rect(FACE);
        let face_sums = self.sums(&[face]);
        let background = self.sums(&[
            self.rect(BACKGROUND_TOP),
            self.rect(BACKGROUND_LEFT),
            self.rect(BACKGROUND_RIGHT),
        ]);
        let mut clipped = 0u64;
        for y in face.y0..face.y1 {
            for x in face.x0..face.x1 {
                if self.at(x, y) >= NEAR_WHITE_LUMA {
                    clipped += 1;
                }
            }
        }
        let highlights = (clipped * 1000 + face_sums.n / 2) / face_sums.n.max(1);
        QualityMeasurements {
            width,
            height,
            brightness: self.sums(&[whole]).mean(),
            face_brightness: face_sums.mean(),
            face_highlights_permille: u16::try_from(highlights).unwrap_or(u16::MAX),
            face_contrast: face_sums.std_dev(),
            sharpness: self.laplacian_variance(face),
            background_brightness: background.mean(),
            background_spread: background.std_dev(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const W: u32 = 360;
    const H: u32 = 504;

    /// A working image drawn by `f(x, y)`.
    fn draw(f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        (0..H)
            .flat_map(|y| (0..W).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect()
    }

    /// White background, a striped mid-grey head (half the width, half the height, centred a
    /// little above the middle), dark shoulders.
    fn portrait(x: u32, y: u32) -> u8 {
        let (cx, cy) = (x as i64 - 180, y as i64 - 192);
        if y > 380 {
            70
        } else if cx * cx * 126 * 126 + cy * cy * 90 * 90 < 90 * 90 * 126 * 126 {
            // Stripes 6 px wide, 40 levels apart: features with sharp edges.
            if (x / 6 + y / 6).is_multiple_of(2) {
                110
            } else {
                150
            }
        } else {
            240
        }
    }

    fn report(pixels: &[u8]) -> QualityReport {
        assess((1000, 1400), pixels, W, H).unwrap()
    }

    #[test]
    fn a_plain_portrait_on_white_raises_no_flag() {
        let r = report(&draw(portrait));
        assert_eq!(r.flags, vec![], "{:?}", r.measurements);
        assert_eq!(r.measurements.background_brightness, 240);
        assert_eq!(r.measurements.background_spread, 0);
    }

    #[test]
    fn a_blank_grey_frame_raises_dark_background_and_no_features() {
        let r = report(&draw(|_, _| 40));
        assert_eq!(
            r.flags,
            vec![
                QualityFlag::TooDark,
                QualityFlag::BackgroundNotWhite,
                QualityFlag::FeaturesNotVisible
            ]
        );
        assert_eq!(
            (r.measurements.face_contrast, r.measurements.sharpness),
            (0, 0)
        );
    }

    #[test]
    fn a_clipped_centre_is_glare() {
        let r = report(&draw(|x, y| {
            let (cx, cy) = (x as i64 - 180, y as i64 - 170);
            if cx * cx + cy * cy < 30 * 30 {
                255
            } else {
                portrait(x, y)
            }
        }));
        assert_eq!(r.flags, vec![QualityFlag::Glare], "{:?}", r.measurements);
    }

    #[test]
    fn dimensions_must_be_in_range_and_five_by_seven() {
        for (w, h) in [(715, 1000), (2000, 2800), (1000, 1400), (900, 1300)] {
            assert!(dimensions_fit(w, h), "{w}x{h}");
        }
        for (w, h) in [
            (1000, 1000),
            (1000, 1200),
            (714, 1000),
            (2000, 2801),
            (800, 1300),
        ] {
            assert!(!dimensions_fit(w, h), "{w}x{h}");
        }
    }

    #[test]
    fn a_buffer_that_does_not_match_its_size_is_refused() {
        assert_eq!(
            assess((1000, 1400), &[0; 10], W, H),
            Err(LumaError::Length {
                len: 10,
                width: W,
                height: H
            })
        );
        assert_eq!(
            assess((1000, 1400), &vec![0; 1000 * 1400], 1000, 1400),
            Err(LumaError::Size {
                width: 1000,
                height: 1400
            })
        );
    }

    #[test]
    fn flags_follow_each_threshold_at_its_edge() {
        let good = report(&draw(portrait)).measurements;
        /// Sets one measurement at its threshold (`false`) or one step past it (`true`).
        type Nudge = fn(&mut QualityMeasurements, bool);
        let cases: [(Nudge, QualityFlag); 5] = [
            (
                |m, over| m.brightness = DARK_MEAN_LUMA - u8::from(over),
                QualityFlag::TooDark,
            ),
            (
                |m, over| m.background_spread = MAX_BACKGROUND_SPREAD + u8::from(over),
                QualityFlag::BackgroundNotWhite,
            ),
            (
                |m, over| m.sharpness = MIN_SHARPNESS - u32::from(over),
                QualityFlag::FeaturesNotVisible,
            ),
            (
                |m, over| m.face_highlights_permille = GLARE_PERMILLE + u16::from(over),
                QualityFlag::Glare,
            ),
            (
                |m, over| m.width = if over { 1100 } else { 1000 },
                QualityFlag::WrongDimensions,
            ),
        ];
        for (set, flag) in cases {
            let mut m = good;
            set(&mut m, false);
            assert_eq!(flags(&m), vec![], "at the edge of {flag:?}");
            set(&mut m, true);
            assert_eq!(flags(&m), vec![flag], "past the edge of {flag:?}");
        }
    }

    #[test]
    fn flags_serialize_as_the_return_reasons_do() {
        let json =
            serde_json::to_value([QualityFlag::FeaturesNotVisible, QualityFlag::TooDark]).unwrap();
        assert_eq!(
            json,
            serde_json::json!(["features_not_visible", "too_dark"])
        );
    }
}
