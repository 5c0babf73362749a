//! PR-card photos: checked from their bytes, decoded within memory limits, re-encoded so that
//! no EXIF, GPS or XMP data survives, and stored content-addressed (SHA-256) in the blob
//! store under the data directory. The event log holds only the reference.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat as Format, ImageReader, Limits};
use prconfirm_domain::values::{ImageFormat, PhotoRef, Sha256Hex, ValueError, PHOTO_MAX_BYTES};
use sha2::{Digest, Sha256};

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

/// A photo ready to store: the re-encoded bytes and their reference.
#[derive(Debug, Clone)]
pub struct ProcessedPhoto {
    pub reference: PhotoRef,
    pub bytes: Vec<u8>,
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
    })
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
        std::fs::create_dir_all(dir)?;
        let partial = dir.join(format!(".{}.partial", digest.as_str()));
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&partial, &path)?;
        Ok(())
    }

    /// The bytes stored under `digest`.
    ///
    /// # Errors
    /// I/O errors, `NotFound` if absent.
    pub fn get(&self, digest: &Sha256Hex) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(digest))
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
    fn the_blob_store_round_trips_and_is_idempotent() {
        let dir = tempfile_dir();
        let store = BlobStore::new(&dir);
        let digest = Sha256Hex::parse(&"ab".repeat(32)).unwrap();
        store.put(&digest, b"bytes").unwrap();
        store.put(&digest, b"bytes").unwrap();
        assert_eq!(store.get(&digest).unwrap(), b"bytes");
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("prconfirm-blobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
