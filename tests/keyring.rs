//! The keyring store against a real Secret Service (Linux only).
//!
//! Needs a Secret Service on the session bus. CI (and you) run it headless like this:
//!
//! ```sh
//! XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- sh -c \
//!   'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && cargo test --test keyring'
//! ```
//!
//! Without one the test fails, on purpose, and says how to provide one: a skipped keyring
//! test would let a broken keyring path ship. I/O: D-Bus to the Secret Service.
#![cfg(target_os = "linux")]

use std::path::Path;

use chrono::{TimeZone, Utc};
use kbot::secrets::{SecretsError, Store, StoreKind, Tokens};
use secrecy::{ExposeSecret, SecretString};

const HOWTO: &str = "this test needs a Secret Service; run it as: XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- sh -c 'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && cargo test --test keyring' (Debian/Ubuntu: apt-get install gnome-keyring dbus-daemon dbus-x11)";

/// A client_id no real kbot login uses, so the test never touches a real entry.
fn test_client_id() -> String {
    format!("kbot-keyring-test-{}", std::process::id())
}

fn tokens(refresh: &str) -> Tokens {
    Tokens {
        refresh_token: SecretString::from(refresh.to_string()),
        refresh_token_expires_at: Some(Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()),
        access_token: Some(SecretString::from("keyring-test-at")),
        access_token_expires_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap()),
        scopes: vec!["talk_message".into(), "friends".into()],
        client_secret: Some(SecretString::from("keyring-test-cs")),
        nickname: Some("홍길동".into()),
    }
}

/// The value, or a failure that says what went wrong and how to give the test a keyring.
fn ok<T>(result: Result<T, SecretsError>) -> T {
    result.unwrap_or_else(|err| {
        let what = match err {
            SecretsError::KeyringUnavailable { .. } => "no usable Secret Service",
            _ => "the Secret Service refused the test entry",
        };
        panic!("{what}: {err}\n{HOWTO}")
    })
}

/// Threads whose name says they belong to a D-Bus connection (zbus names its executor).
fn dbus_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .filter(|name| name.to_ascii_lowercase().contains("zbus"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn tokens_round_trip_through_the_secret_service() {
    let client_id = test_client_id();
    let store = Store::new(StoreKind::Keyring, Path::new("/nonexistent"), &client_id);
    assert_eq!(store.describe(), "OS keyring (Secret Service)");

    // Start clean (a previous run with the same pid may have died half-way).
    ok(store.delete().await);
    assert!(ok(store.load().await).is_none());

    ok(store.save(&tokens("keyring-test-rt-1")).await);
    // A fresh Store (as a later process would build) reads what the first one wrote.
    let fresh = Store::new(StoreKind::Keyring, Path::new("/elsewhere"), &client_id);
    let loaded = ok(fresh.load().await).expect("the entry is there");
    assert_eq!(loaded.refresh_token.expose_secret(), "keyring-test-rt-1");
    assert_eq!(
        loaded.access_token.unwrap().expose_secret(),
        "keyring-test-at"
    );
    assert_eq!(
        loaded.client_secret.unwrap().expose_secret(),
        "keyring-test-cs"
    );
    assert_eq!(loaded.scopes, vec!["talk_message", "friends"]);
    assert_eq!(loaded.nickname.as_deref(), Some("홍길동"));
    assert_eq!(
        loaded.refresh_token_expires_at,
        tokens("x").refresh_token_expires_at
    );

    // Saving again replaces the entry (a rotated refresh token), it does not add one.
    ok(fresh.save(&tokens("keyring-test-rt-2")).await);
    let loaded = ok(store.load().await).expect("the entry is still there");
    assert_eq!(loaded.refresh_token.expose_secret(), "keyring-test-rt-2");

    assert!(ok(store.delete().await));
    assert!(ok(fresh.load().await).is_none());
    assert!(!ok(fresh.delete().await));

    // Every call closed its connection: no D-Bus machinery stays behind in an idle daemon.
    // The connection's executor thread ends shortly after the drop, so give it a moment
    // (a loaded CI machine may take longer than an idle one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !dbus_threads().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(dbus_threads(), Vec::<String>::new());
}
