//! PR-card photos: checked from their bytes, decoded within memory limits, measured by the
//! quality pre-check, re-encoded so that no EXIF, GPS or XMP data survives, and stored
//! content-addressed (SHA-256) in the blob store under the data directory. The event log holds
//! only the reference and the pre-check's report.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, GenericImageView, ImageFormat as Format, ImageReader, Limits};
use prconfirm_domain::photo_quality::{self, QualityReport};
use prconfirm_domain::values::{ImageFormat, PhotoRef, Sha256Hex, ValueError, PHOTO_MAX_BYTES};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// The largest decoded image the rules allow is 2000 x 2800 RGBA; anything asking for more
/// memory than a few of those is a decompression bomb.
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;

/// Why a photo was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is not a JPEG or PNG image")]
    NotJpegOrPng,
    #[error("photo must be at most {PHOTO_MAX_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Rules(#[from] ValueError),
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
    #[error("blob store: {0}")]
    Store(#[from] std::io::Error),
}

/// A photo ready to store: the re-encoded bytes, their reference, and what the pre-check
/// found (advice for the applicant and the officer: it never refuses the photo).
#[derive(Debug, Clone)]
pub struct ProcessedPhoto {
    pub reference: PhotoRef,
    pub bytes: Vec<u8>,
    pub quality: QualityReport,
}

/// Decodes allowed at once (see [`process_bounded`]): each may take up to
/// [`MAX_DECODE_ALLOC`] and a re-encoded copy, so two dozen uploads at once queue here
/// instead of taking gigabytes.
pub const MAX_CONCURRENT_DECODES: usize = 2;

static DECODES: Semaphore = Semaphore::const_new(MAX_CONCURRENT_DECODES);

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most photos that were ever being decoded at once in this process.
pub fn peak_concurrent_decodes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// [`process`] on a blocking thread, at most [`MAX_CONCURRENT_DECODES`] at once in the
/// process (like the Argon2 pool for passwords): the others wait their turn.
///
/// # Errors
/// As [`process`].
pub async fn process_bounded<B: AsRef<[u8]> + Send + 'static>(
    raw: B,
) -> Result<ProcessedPhoto, PhotoError> {
    let _permit = DECODES
        .acquire()
        .await
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        let outcome = process(raw.as_ref());
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        outcome
    })
    .await
    .map_err(|e| PhotoError::Undecodable(e.to_string()))?
}

/// Checks and cleans an uploaded photo. CPU-bound: call from a blocking thread.
///
/// # Errors
/// [`PhotoError`] naming the rule the photo breaks.
pub fn process(raw: &[u8]) -> Result<ProcessedPhoto, PhotoError> {
    if raw.len() as u64 > PHOTO_MAX_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let format = match image::guess_format(raw) {
        Ok(Format::Jpeg) => ImageFormat::Jpeg,
        Ok(Format::Png) => ImageFormat::Png,
        _ => return Err(PhotoError::NotJpegOrPng),
    };
    // A file cut short still decodes (the JPEG decoder pads the missing scan with grey):
    // refuse one that does not end its image.
    if !complete(format, raw) {
        return Err(PhotoError::Undecodable(
            "the file is cut short: the image does not end".into(),
        ));
    }
    let reader = || {
        ImageReader::with_format(
            Cursor::new(raw),
            match format {
                ImageFormat::Jpeg => Format::Jpeg,
                ImageFormat::Png => Format::Png,
            },
        )
    };
    // The header alone says the size: refuse out-of-range images before decoding a pixel.
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    let digest = Sha256Hex::parse(&"0".repeat(64))?;
    PhotoRef::new(digest, format, width, height, raw.len() as u64)?;
    let mut limited = reader();
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limited.limits(limits);
    let pixels = limited
        .decode()
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    let quality = pre_check(&pixels)?;
    let mut clean = Vec::with_capacity(raw.len());
    let encoded = match format {
        ImageFormat::Png => pixels.write_to(&mut Cursor::new(&mut clean), Format::Png),
        ImageFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut clean, 92);
            pixels.to_rgb8().write_with_encoder(encoder)
        }
    };
    encoded.map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    let digest = Sha256Hex::parse(&hex(&Sha256::digest(&clean)))?;
    let reference = PhotoRef::new(digest, format, width, height, clean.len() as u64)?;
    Ok(ProcessedPhoto {
        reference,
        bytes: clean,
        quality,
    })
}

/// Whether the file holds its whole image: a PNG ends with its `IEND` chunk; a JPEG's last
/// scan (`SOS`, `FF DA`) is followed by the end-of-image marker (`FF D9`). Inside a scan a
/// 0xFF byte is always stuffed (`FF 00`), so `FF D9` there is the real marker; an end marker
/// before the last scan (an embedded thumbnail's) does not count.
fn complete(format: ImageFormat, raw: &[u8]) -> bool {
    const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];
    let last = |marker: u8| raw.windows(2).rposition(|w| w == [0xFF, marker]);
    match format {
        ImageFormat::Png => raw.ends_with(&IEND),
        ImageFormat::Jpeg => match (last(0xDA), last(0xD9)) {
            (Some(scan), Some(end)) => end > scan,
            _ => false,
        },
    }
}

/// The quality pre-check of a decoded photo: shrunk to the working size, turned to luma,
/// measured. A few milliseconds for the largest photo the rules allow.
///
/// # Errors
/// [`PhotoError::Undecodable`] if the image is too thin to shrink to a working size, which a
/// photo within the size rules never is.
pub fn pre_check(pixels: &DynamicImage) -> Result<QualityReport, PhotoError> {
    let (luma, width, height) = working_luma(pixels);
    photo_quality::assess(pixels.dimensions(), &luma, width, height)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))
}

/// Rec. 709 luma weights, in ten-thousandths (the ones `image` uses for its own conversion).
const LUMA_WEIGHTS: [u32; 3] = [2126, 7152, 722];

/// The image as luma, shrunk to fit the pre-check's working size: each working pixel is the
/// mean of the box of source pixels that falls on it, every source pixel counted once, in
/// integers. `image`'s own `thumbnail` took 25 ms or more on a 2000 x 2800 photo (release
/// build, 2 busy cores); summing whole rows first, then columns, takes some 5 ms.
fn working_luma(pixels: &DynamicImage) -> (Vec<u8>, u32, u32) {
    let (width, height) = pixels.dimensions();
    let (tw, th) = working_size(width, height);
    let converted;
    let (raw, channels): (&[u8], usize) = match pixels {
        DynamicImage::ImageLuma8(i) => (i.as_raw(), 1),
        DynamicImage::ImageLumaA8(i) => (i.as_raw(), 2),
        DynamicImage::ImageRgb8(i) => (i.as_raw(), 3),
        DynamicImage::ImageRgba8(i) => (i.as_raw(), 4),
        other => {
            converted = other.to_rgb8();
            (converted.as_raw(), 3)
        }
    };
    let (w, h, tw_us) = (width as usize, height as usize, tw as usize);
    // The source columns of each working column: `bounds[c]..bounds[c + 1]`.
    let bounds: Vec<usize> = (0..=tw_us).map(|c| (c * w).div_ceil(tw_us)).collect();
    let mut out = Vec::with_capacity(tw_us * th as usize);
    // The band of source rows of one working row, summed byte by byte (a loop the compiler
    // vectorizes); each working pixel then adds up its columns of the band once.
    let mut band = vec![0u32; w * channels];
    let mut y = 0usize;
    for ty in 0..th as usize {
        band.fill(0);
        let mut rows = 0u64;
        while y < h && y * th as usize / h == ty {
            let row = raw
                .get(y * w * channels..(y + 1) * w * channels)
                .unwrap_or(&[]);
            for (total, &v) in band.iter_mut().zip(row) {
                *total += u32::from(v);
            }
            rows += 1;
            y += 1;
        }
        for span in bounds.windows(2) {
            let run = band
                .get(span[0] * channels..span[1] * channels)
                .unwrap_or(&[]);
            let mut sum = [0u64; 3];
            for px in run.chunks_exact(channels) {
                for (total, &v) in sum.iter_mut().zip(px) {
                    *total += u64::from(v);
                }
            }
            let weighted: u64 = if channels >= 3 {
                sum.iter()
                    .zip(LUMA_WEIGHTS)
                    .map(|(s, k)| s * u64::from(k))
                    .sum()
            } else {
                sum[0] * 10_000
            };
            let n = ((span[1] - span[0]) as u64 * rows).max(1) * 10_000;
            out.push(u8::try_from((weighted + n / 2) / n).unwrap_or(u8::MAX));
        }
    }
    (out, tw, th)
}

/// The largest size within the working box with the photo's proportions (the photo's own size
/// if it already fits).
fn working_size(width: u32, height: u32) -> (u32, u32) {
    let (mw, mh) = (
        u64::from(photo_quality::WORKING_MAX_WIDTH),
        u64::from(photo_quality::WORKING_MAX_HEIGHT),
    );
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let (tw, th) = if w <= mw && h <= mh {
        (w, h)
    } else if w * mh >= h * mw {
        (mw, ((h * mw + w / 2) / w).max(1))
    } else {
        (((w * mh + h / 2) / h).max(1), mh)
    };
    (
        u32::try_from(tw).unwrap_or(1),
        u32::try_from(th).unwrap_or(1),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content-addressed files under `<root>/sha256/ab/abcdef...`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, digest: &Sha256Hex) -> PathBuf {
        let d = digest.as_str();
        self.root.join("sha256").join(&d[..2]).join(d)
    }

    /// Stores `bytes` under `digest` (durably: written, synced, then renamed into place).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put(&self, digest: &Sha256Hex, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(digest);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        prconfirm_migrations::private::create_dir(dir)?;
        let partial = dir.join(format!(".{}.partial", digest.as_str()));
        let written = (|| {
            use std::io::Write;
            let mut file = prconfirm_migrations::private::create_file(&partial)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        })();
        if written.is_err() {
            // A full store keeps no half-written file taking the space that is left.
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    /// The bytes stored under `digest`.
    ///
    /// # Errors
    /// I/O errors, `NotFound` if absent.
    pub fn get(&self, digest: &Sha256Hex) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(digest))
    }

    /// Copies every stored blob that `other` lacks into it (as [`BlobStore::put`] stores:
    /// synced, then renamed into place), for a backup. Blobs never change once stored, so a
    /// copy into an earlier backup's store adds only the new ones; half-written files
    /// (`.*.partial`) and anything not named by a digest are left behind. Answers how many
    /// blobs were copied and how many `other` had already.
    ///
    /// # Errors
    /// I/O errors (a missing store is an empty one).
    pub fn copy_into(&self, other: &BlobStore) -> std::io::Result<(u64, u64)> {
        let (mut copied, mut present) = (0, 0);
        let top = match std::fs::read_dir(self.root.join("sha256")) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            other => other?,
        };
        for prefix in top {
            let prefix = prefix?;
            if !prefix.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(prefix.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(digest) = name.to_str().and_then(|n| Sha256Hex::parse(n).ok()) else {
                    continue;
                };
                if other.path(&digest).exists() {
                    present += 1;
                    continue;
                }
                other.put(&digest, &std::fs::read(entry.path())?)?;
                copied += 1;
            }
        }
        Ok((copied, present))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([240, 240, 240]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), Format::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_good_png_is_re_encoded_and_addressed_by_its_digest() {
        let photo = process(&png(800, 1100)).unwrap();
        assert_eq!(photo.reference.dimensions(), (800, 1100));
        assert_eq!(photo.reference.format(), ImageFormat::Png);
        assert_eq!(
            photo.reference.sha256().as_str(),
            hex(&Sha256::digest(&photo.bytes))
        );
    }

    #[test]
    fn the_format_is_judged_from_the_bytes() {
        assert!(matches!(
            process(b"GIF89a....."),
            Err(PhotoError::NotJpegOrPng)
        ));
        assert!(matches!(
            process(b"hello, I am a jpeg"),
            Err(PhotoError::NotJpegOrPng)
        ));
    }

    #[test]
    fn dimensions_outside_the_rules_are_refused_before_decoding() {
        assert!(matches!(
            process(&png(700, 1000)),
            Err(PhotoError::Rules(ValueError::PhotoDimensions { .. }))
        ));
    }

    #[test]
    fn the_working_size_keeps_the_proportions_within_the_box() {
        assert_eq!(working_size(2000, 2800), (360, 504));
        assert_eq!(working_size(715, 1000), (360, 503));
        assert_eq!(working_size(2000, 1000), (360, 180));
        assert_eq!(working_size(715, 2800), (129, 504));
        assert_eq!(working_size(300, 400), (300, 400));
    }

    #[test]
    fn the_working_image_has_the_luma_that_image_computes_in_every_pixel_layout() {
        // Left half one colour, right half another, in every pixel layout a decoder yields.
        let rgb = image::RgbImage::from_fn(1000, 1400, |x, _| {
            image::Rgb(if x < 500 {
                [200, 30, 90]
            } else {
                [10, 250, 40]
            })
        });
        let expected = |x: u32| {
            let px = *rgb.get_pixel(if x < 180 { 0 } else { 999 }, 0);
            image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1, 1, px))
                .to_luma8()
                .get_pixel(0, 0)
                .0[0]
        };
        let decoded = image::DynamicImage::ImageRgb8(rgb.clone());
        for pixels in [
            decoded.clone(),
            image::DynamicImage::ImageRgba8(decoded.to_rgba8()),
            image::DynamicImage::ImageRgb16(decoded.to_rgb16()),
        ] {
            let (luma, w, h) = working_luma(&pixels);
            assert_eq!((w, h, luma.len()), (360, 504, 360 * 504));
            for (i, &v) in luma.iter().enumerate() {
                let x = (i % 360) as u32;
                assert_eq!(v, expected(x), "pixel {i}");
            }
        }
        let grey =
            image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(715, 1000, [77].into()));
        assert!(working_luma(&grey).0.iter().all(|&v| v == 77));
    }

    #[test]
    fn the_blob_store_round_trips_and_is_idempotent() {
        let dir = tempfile_dir();
        let store = BlobStore::new(&dir);
        let digest = Sha256Hex::parse(&"ab".repeat(32)).unwrap();
        store.put(&digest, b"bytes").unwrap();
        store.put(&digest, b"bytes").unwrap();
        assert_eq!(store.get(&digest).unwrap(), b"bytes");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_copy_of_the_blob_store_takes_every_blob_once_and_no_partial_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let (from, to) = (
            BlobStore::new(dir.join("from")),
            BlobStore::new(dir.join("to")),
        );
        let (a, b) = (
            Sha256Hex::parse(&"ab".repeat(32)).unwrap(),
            Sha256Hex::parse(&"cd".repeat(32)).unwrap(),
        );
        from.put(&a, b"first").unwrap();
        assert_eq!(from.copy_into(&to).unwrap(), (1, 0));
        from.put(&b, b"second").unwrap();
        std::fs::write(dir.join("from/sha256/cd/.partial"), b"half").unwrap();

        assert_eq!(from.copy_into(&to).unwrap(), (1, 1));

        assert_eq!(to.get(&a).unwrap(), b"first");
        assert_eq!(to.get(&b).unwrap(), b"second");
        assert!(!dir.join("to/sha256/cd/.partial").exists());
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("prconfirm-blobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
