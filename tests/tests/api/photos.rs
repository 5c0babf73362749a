//! Photos over HTTP, black-box: a JPEG or PNG cut short is refused (422 `photo_unreadable`)
//! and nothing is stored or recorded, never padded out to a grey photo.

use std::io::Cursor;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::onboard;
use crate::server::TestServer;

on_both_backends!(a_photo_cut_short_is_refused_and_nothing_is_recorded,);

fn portrait(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(800, 1120, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

async fn a_photo_cut_short_is_refused_and_nothing_is_recorded(server: TestServer) {
    let officer = server.officer("officer.a").await;
    let (token, _) = onboard(&server, &officer, "12345678", "Ana").await;
    for (path, body) in [
        ("/v1/my/case/presence", json!({"in_canada": true})),
        (
            "/v1/my/case/address",
            json!({"residential": {"line1": "1 Main St", "city": "Ottawa",
                   "province": "ON", "postal_code": "K1A 0B1"}}),
        ),
    ] {
        let (status, v) = server
            .call(Method::PUT, path, Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let events = server.count_events().await;
    for (format, mime) in [
        (image::ImageFormat::Jpeg, "image/jpeg"),
        (image::ImageFormat::Png, "image/png"),
    ] {
        let whole = portrait(format);
        let (status, problem) = server.upload(&token, &whole[..whole.len() / 2], mime).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("photo_unreadable")),
            "{mime}: {problem}"
        );
    }
    assert_eq!(server.count_events().await, events, "nothing recorded");
    let (status, v) = server
        .upload(&token, &portrait(image::ImageFormat::Jpeg), "image/jpeg")
        .await;
    assert_eq!(status, StatusCode::OK, "the whole photo is taken: {v}");
}
