//! The keys of personal data as an operator meets them: made private on the first start,
//! shared by every instance (one without the KEK that wraps the keys refuses to start and
//! says which setting to fix), and rotated with `prconfirm privacy rotate-key`, after which
//! the new KEK alone opens every field.

use std::path::Path;

use chrono::Utc;
use prconfirm_commands::privacy::{
    blind, kek, Binding, CacheSettings, Kek, KekRing, Opened, PersonKeys, Sealed,
};
use reqwest::Method;

use crate::instances::serve_briefly;
use crate::server::TestServer;

on_both_backends!(
    the_first_start_makes_the_privacy_keys_private,
    a_server_without_the_kek_that_wraps_the_keys_refuses_to_start,
    privacy_rotate_key_rewraps_every_key_and_status_counts_them,
);

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Waits until the server answers, so that its start-up (keys included) is done.
async fn started(server: &TestServer) {
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert!(status.is_success());
}

fn person_keys(server: &TestServer, kek_file: &Path) -> PersonKeys {
    PersonKeys::new(
        server.db().clone(),
        KekRing::new(Kek::load(kek_file).unwrap(), vec![]),
        CacheSettings {
            capacity: 0,
            ..CacheSettings::default()
        },
    )
}

async fn seal(keys: &PersonKeys, case: &str) -> Sealed {
    keys.seal(&Binding::new(case, 1, "given_name"), case.as_bytes())
        .await
        .unwrap()
}

async fn open(keys: &PersonKeys, case: &str, sealed: &Sealed) -> Option<String> {
    match keys
        .open(&Binding::new(case, 1, "given_name"), sealed)
        .await
        .ok()?
    {
        Opened::Plain(p) => p.as_str().map(str::to_owned),
        Opened::Disposed => Some("[disposed]".to_owned()),
    }
}

async fn the_first_start_makes_the_privacy_keys_private(server: TestServer) {
    // Act
    started(&server).await;

    // Assert
    let keys = server.data_dir().join("keys");
    for file in [
        kek::default_key_path(server.data_dir()),
        blind::default_key_path(server.data_dir()),
    ] {
        assert!(file.exists(), "{} was not made", file.display());
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    #[cfg(unix)]
    assert_eq!(mode(&keys), 0o700);
}

async fn a_server_without_the_kek_that_wraps_the_keys_refuses_to_start(server: TestServer) {
    // Arrange: a person's key wrapped by the first instance's KEK.
    started(&server).await;
    let shared = kek::default_key_path(server.data_dir());
    seal(&person_keys(&server, &shared), "case-1").await;
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("kek.key");
    let server = &server;
    let second = |kek: &Path, previous: Option<&Path>| {
        let kek = kek.to_owned();
        let previous = previous.map(Path::to_owned);
        async move {
            let mut command = server.binary().await;
            command.env("PRCONFIRM_KEK_FILE", &kek);
            match previous {
                Some(p) => command.env("PRCONFIRM_KEK_PREVIOUS", p),
                None => command.env_remove("PRCONFIRM_KEK_PREVIOUS"),
            };
            command
        }
    };

    // Act and assert: without a KEK, it refuses, names the setting, and makes none.
    let (ok, log) = serve_briefly(second(&missing, None).await)
        .await
        .expect("it must not serve without the KEK");
    assert!(!ok, "{log}");
    assert!(log.contains("PRCONFIRM_KEK_FILE"), "{log}");
    assert!(!missing.exists(), "a KEK nobody can use was made");

    // With a KEK of its own, likewise, naming the KEK that wraps the keys.
    let own = Kek::load_or_create(&missing).unwrap();
    let (ok, log) = serve_briefly(second(&missing, None).await)
        .await
        .expect("it must not serve with another KEK");
    assert!(!ok, "{log}");
    assert!(log.contains("PRCONFIRM_KEK_FILE"), "{log}");
    assert!(
        log.contains(Kek::load(&shared).unwrap().id().as_str()),
        "{log}"
    );

    // With its own as the current KEK and the shared one as the previous (a rotation under
    // way), it serves; with the shared one, too.
    assert_eq!(
        serve_briefly(second(&missing, Some(&shared)).await).await,
        None
    );
    assert_eq!(serve_briefly(second(&shared, None).await).await, None);
    drop(own);
}

async fn privacy_rotate_key_rewraps_every_key_and_status_counts_them(server: TestServer) {
    // Arrange: three persons, one disposed of, under the KEK the server made.
    started(&server).await;
    let old_file = kek::default_key_path(server.data_dir());
    let old = Kek::load(&old_file).unwrap();
    let keys = person_keys(&server, &old_file);
    let mut sealed = Vec::new();
    for case in ["case-a", "case-b", "case-c"] {
        sealed.push((case, seal(&keys, case).await));
    }
    keys.destroy("case-c", Utc::now()).await.unwrap();
    let before = server.cli(&["privacy", "status"]).await;
    let line = |text: &str, id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no line for {id}:\n{text}"))
    };
    assert_eq!(line(&before, old.id().as_str())[1..3], ["2", "current"]);
    assert!(before.contains("disposed of: 1"), "{before}");

    // Act
    let new_file = server.data_dir().join("keys").join("kek-2.key");
    let out = server
        .cli(&[
            "privacy",
            "rotate-key",
            "--new-kek",
            new_file.to_str().unwrap(),
            "--batch",
            "1",
        ])
        .await;

    // Assert: both keys moved; the new KEK is a private file; status says the configured
    // KEK wraps nothing now and the new one is not configured yet.
    let new = Kek::load(&new_file).unwrap();
    assert!(
        out.contains(&format!("re-wrapped 2 key(s) under KEK {}", new.id())),
        "{out}"
    );
    assert!(out.contains("PRCONFIRM_KEK_FILE"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&new_file), 0o600);
    let after = server.cli(&["privacy", "status"]).await;
    assert_eq!(line(&after, new.id().as_str())[1..3], ["2", "NOT"]);
    assert_eq!(line(&after, old.id().as_str())[1..3], ["0", "current"]);
    let mut configured = server.binary().await;
    configured.env("PRCONFIRM_KEK_FILE", &new_file);
    let now = prconfirm_tests::run_cli(configured, &["privacy", "status"], "");
    assert_eq!(line(&now, new.id().as_str())[1..3], ["2", "current"]);
    // The new KEK alone opens every field; the old one, none.
    std::fs::remove_file(&old_file).unwrap();
    let fresh = person_keys(&server, &new_file);
    let stale = PersonKeys::new(
        server.db().clone(),
        KekRing::new(old, vec![]),
        CacheSettings::default(),
    );
    for (case, field) in &sealed {
        let expected = if *case == "case-c" {
            "[disposed]"
        } else {
            case
        };
        assert_eq!(open(&fresh, case, field).await.as_deref(), Some(expected));
        if *case != "case-c" {
            assert_eq!(open(&stale, case, field).await, None);
        }
    }
}
