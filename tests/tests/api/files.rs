//! What the service leaves on disk is its own user's alone: the data directory and every
//! directory under it 0700, every file 0600 (the SQLite database with its WAL and
//! shared-memory files, blobs, the mail spool, keys), under any umask the process has.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::onboard;
use crate::server::TestServer;

on_both_backends!(the_data_directory_is_for_the_service_user_alone,);

/// Every path under `root` (itself included) with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        out.push((path, meta.is_dir(), meta.permissions().mode() & 0o777));
    }
    out
}

async fn the_data_directory_is_for_the_service_user_alone(server: TestServer) {
    let officer = server.officer("officer.files").await;
    let (token, _) = onboard(&server, &officer, "23456789", "Ines").await;
    for (path, body) in [
        ("/v1/my/case/presence", json!({"in_canada": true})),
        ("/v1/my/case/address", crate::address_body()),
    ] {
        let (status, v) = server
            .call(Method::PUT, path, Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (status, v) = server
        .upload(&token, &crate::png(800, 1100, 250), "image/png")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let data_dir = server.mail_dir().parent().unwrap().to_owned();
    let found = modes(&data_dir);
    let kinds = |needle: &str| {
        found
            .iter()
            .any(|(p, dir, _)| !dir && p.to_string_lossy().contains(needle))
    };
    assert!(
        kinds("/mail/") && kinds("/blobs/"),
        "mail and a blob were written: {found:?}"
    );
    let open: Vec<_> = found
        .iter()
        // The test's own log of a binary's output is not the service's.
        .filter(|(p, _, _)| p.file_name().is_none_or(|n| n != "server.log"))
        .filter(|(_, dir, mode)| *mode != if *dir { 0o700 } else { 0o600 })
        .collect();
    assert!(
        open.is_empty(),
        "more open than the service's user: {open:?}"
    );
}
