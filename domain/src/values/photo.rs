//! The reference to an uploaded PR-card photo. The photo itself lives in the blob store; the
//! event log holds only its digest, format, size and dimensions.

use serde::{Deserialize, Serialize};

use super::{string_value, ValueError};

/// Largest photo accepted: 4 MB, as the published rules say (read as 4 x 1024 x 1024 bytes).
pub const PHOTO_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Smallest photo accepted, width x height in pixels.
pub const PHOTO_MIN_SIZE: (u32, u32) = (715, 1000);
/// Largest photo accepted, width x height in pixels (a 50 x 70 mm portrait at 1016 dpi).
pub const PHOTO_MAX_SIZE: (u32, u32) = (2000, 2800);

/// A SHA-256 digest as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// # Errors
    /// [`ValueError::Sha256`] unless exactly 64 lowercase hex digits.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::Sha256)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Sha256Hex);

/// The photo's format, as judged from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
}

/// A photo that meets the size rules: 715x1000 to 2000x2800 pixels and at most 4 MB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoRef {
    sha256: Sha256Hex,
    format: ImageFormat,
    width: u32,
    height: u32,
    bytes: u64,
}

impl PhotoRef {
    /// # Errors
    /// [`ValueError::PhotoDimensions`], [`ValueError::PhotoTooLarge`] or [`ValueError::PhotoEmpty`].
    pub fn new(
        sha256: Sha256Hex,
        format: ImageFormat,
        width: u32,
        height: u32,
        bytes: u64,
    ) -> Result<Self, ValueError> {
        if bytes == 0 {
            return Err(ValueError::PhotoEmpty);
        }
        if bytes > PHOTO_MAX_BYTES {
            return Err(ValueError::PhotoTooLarge {
                bytes,
                max: PHOTO_MAX_BYTES,
            });
        }
        let fits = (PHOTO_MIN_SIZE.0..=PHOTO_MAX_SIZE.0).contains(&width)
            && (PHOTO_MIN_SIZE.1..=PHOTO_MAX_SIZE.1).contains(&height);
        if !fits {
            return Err(ValueError::PhotoDimensions { width, height });
        }
        Ok(Self {
            sha256,
            format,
            width,
            height,
            bytes,
        })
    }
    pub fn sha256(&self) -> &Sha256Hex {
        &self.sha256
    }
    pub fn format(&self) -> ImageFormat {
        self.format
    }
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhotoRef {
    sha256: Sha256Hex,
    format: ImageFormat,
    width: u32,
    height: u32,
    bytes: u64,
}

impl<'de> Deserialize<'de> for PhotoRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawPhotoRef::deserialize(d)?;
        Self::new(r.sha256, r.format, r.width, r.height, r.bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Sha256Hex {
        Sha256Hex::parse(&"ab".repeat(32)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn digest_is_sixty_four_lowercase_hex_digits() {
        assert!(Sha256Hex::parse(&"0f".repeat(32)).is_ok());
        assert_eq!(Sha256Hex::parse(&"0F".repeat(32)), Err(ValueError::Sha256));
        assert_eq!(Sha256Hex::parse("abc"), Err(ValueError::Sha256));
    }

    #[test]
    fn photo_dimensions_are_within_the_published_range() {
        for (w, h) in [(715, 1000), (2000, 2800), (1000, 1400)] {
            assert!(PhotoRef::new(digest(), ImageFormat::Jpeg, w, h, 1).is_ok());
        }
        for (w, h) in [(714, 1000), (715, 999), (2001, 2800), (2000, 2801)] {
            assert_eq!(
                PhotoRef::new(digest(), ImageFormat::Png, w, h, 1),
                Err(ValueError::PhotoDimensions {
                    width: w,
                    height: h
                })
            );
        }
    }

    #[test]
    fn photo_is_at_most_four_megabytes() {
        assert!(PhotoRef::new(digest(), ImageFormat::Jpeg, 800, 1100, PHOTO_MAX_BYTES).is_ok());
        assert_eq!(
            PhotoRef::new(digest(), ImageFormat::Jpeg, 800, 1100, PHOTO_MAX_BYTES + 1),
            Err(ValueError::PhotoTooLarge {
                bytes: PHOTO_MAX_BYTES + 1,
                max: PHOTO_MAX_BYTES
            })
        );
        assert_eq!(
            PhotoRef::new(digest(), ImageFormat::Jpeg, 800, 1100, 0),
            Err(ValueError::PhotoEmpty)
        );
    }
}
