//! Photo benchmark: what the quality pre-check adds to an upload of the largest photo the rules
//! allow (2000 x 2800), beside the whole of `photo::process` (decode, check, re-encode, hash)
//! on the same image. Prints the fastest and the median of `BENCH_PHOTO_RUNS` runs (default 20).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use prconfirm_commands::photo::{pre_check, process};

fn figures(name: &str, runs: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name:<40} fastest {:>8.2} ms   median {:>8.2} ms",
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3
    );
}

fn main() {
    let runs = std::env::var("BENCH_PHOTO_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize)
        .max(1);
    // A grey head on white with some texture, so that neither codec has an easy time.
    let img = RgbImage::from_fn(2000, 2800, |x, y| {
        let (dx, dy) = (f64::from(x) - 1000.0, f64::from(y) - 1060.0);
        let v = if (dx / 480.0).powi(2) + (dy / 700.0).powi(2) < 1.0 {
            120 + ((x ^ y) % 40) as u8
        } else {
            245
        };
        Rgb([v, v, v.saturating_sub(10)])
    });
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    let decoded = DynamicImage::ImageRgb8(img);
    figures("pre-check of a decoded 2000 x 2800", runs, || {
        pre_check(&decoded).unwrap();
    });
    figures("process (PNG 2000 x 2800, all steps)", runs.min(5), || {
        process(&png).unwrap();
    });
}
