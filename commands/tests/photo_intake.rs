//! What an upload must be before it becomes a photo: whole (a JPEG or PNG cut short is
//! refused, never padded out to a grey picture), and decoded a few at a time however many
//! arrive at once. Every image is drawn here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};
use prconfirm_commands::photo::{
    peak_concurrent_decodes, process, process_bounded, PhotoError, MAX_CONCURRENT_DECODES,
};

/// A `width` x `height` image of noise (so that every part of the file carries pixels), as
/// `format`.
fn noise(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    let img = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        Rgb([r, g, b])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// The largest photo the rules allow, smooth enough to stay under the size limit.
fn largest() -> Vec<u8> {
    let img = RgbImage::from_fn(2000, 2800, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

#[test]
fn photos_cut_in_half_are_refused_not_padded_out() {
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        let whole = noise(800, 1120, format);
        assert!(process(&whole).is_ok(), "{format:?} whole");
        for cut in [whole.len() / 2, whole.len() - 2] {
            let outcome = process(&whole[..cut]);
            assert!(
                matches!(outcome, Err(PhotoError::Undecodable(_))),
                "{format:?} cut to {cut} of {} bytes: {:?}",
                whole.len(),
                outcome.map(|p| p.reference)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_the_allowed_number_of_photos_decode_at_once() {
    let photo = std::sync::Arc::new(largest());
    let mut uploads = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let photo = photo.clone();
        uploads.spawn(async move { process_bounded(photo.as_slice().to_vec()).await });
    }
    while let Some(done) = uploads.join_next().await {
        let outcome = done.unwrap();
        assert!(outcome.is_ok(), "{:?}", outcome.map(|p| p.reference));
    }
    let peak = peak_concurrent_decodes();
    assert!(
        (1..=MAX_CONCURRENT_DECODES).contains(&peak),
        "{peak} decodes ran at once; the cap is {MAX_CONCURRENT_DECODES}"
    );
}
