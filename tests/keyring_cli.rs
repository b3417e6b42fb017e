//! `kbot login --secret-store keyring` against a real Secret Service, through the binary:
//! the login lands in the keyring (not in a file), and later kbot processes find it there,
//! refresh into it and delete it. Linux only.
//!
//! Needs a Secret Service on the session bus; `scripts/test.sh` (CI) provides one. By hand:
//!
//! ```sh
//! XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- sh -c \
//!   'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && cargo test --test keyring_cli'
//! ```
//!
//! Without one the test fails and says how to provide one: a skipped keyring test would let
//! a broken keyring path ship. `TestEnv` clears the environment, so the bus address is
//! handed to each kbot process explicitly. I/O: D-Bus, child processes, loopback TCP.
#![cfg(target_os = "linux")]

mod common;
mod login_helpers;
mod support;

use std::path::Path;

use common::TestEnv;
use kbot::secrets::{SecretsError, Store, StoreKind, Tokens};
use login_helpers::*;
use serde_json::Value;
use support::fake_kakao::FakeKakao;
use support::fake_kakao::api::FRIENDS_PATH;

const HOWTO: &str = "this test needs a Secret Service on the session bus; run it as: XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- sh -c 'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && cargo test --test keyring_cli' (Debian/Ubuntu: apt-get install --no-install-recommends gnome-keyring dbus-daemon dbus-x11), or scripts/test.sh";

/// The session-bus variables kbot needs to find the Secret Service.
fn bus_env() -> Vec<(&'static str, String)> {
    let Ok(address) = std::env::var("DBUS_SESSION_BUS_ADDRESS") else {
        panic!("DBUS_SESSION_BUS_ADDRESS is not set\n{HOWTO}");
    };
    let mut vars = vec![("DBUS_SESSION_BUS_ADDRESS", address)];
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        vars.push(("XDG_RUNTIME_DIR", dir));
    }
    vars
}

/// The entry as a later process would read it, straight from the Secret Service.
fn keyring_entry(client_id: &str) -> Option<Tokens> {
    let store = Store::new(StoreKind::Keyring, Path::new("/nonexistent"), client_id);
    block_on(store.load()).unwrap_or_else(|err| keyring_failure(&err))
}

fn keyring_failure(err: &SecretsError) -> ! {
    panic!("the Secret Service did not answer: {err}\n{HOWTO}")
}

/// Fails with [`HOWTO`] when the output says the keyring could not be reached.
fn assert_ok(done: &Finished) {
    assert!(
        !done.stderr.contains("unreachable"),
        "kbot found no usable Secret Service:\n{}\n{HOWTO}",
        done.stderr
    );
    done.assert_success();
}

#[test]
fn a_keyring_login_is_used_refreshed_and_deleted_by_later_processes() {
    let bus = bus_env();
    let bus: Vec<(&str, &str)> = bus.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fake = FakeKakao::start_on_thread();
    // An app of its own, so the test never touches a real kbot entry or another run's.
    let client_id = format!("kbot-keyring-cli-test-{}", std::process::id());
    let id = client_id.clone();
    fake.configure(move |c| c.client_id = id);
    fake.add_friend("uuid-seoyeon", "이서연", true);
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    // The config says file: the flag chooses the keyring, and later processes follow it.
    write_config(&env, &fake, &redirect, "file");
    let clean = Store::new(StoreKind::Keyring, Path::new("/nonexistent"), &client_id);
    block_on(clean.delete()).unwrap_or_else(|err| keyring_failure(&err));

    let mut login = spawn(
        &env,
        &["login", "--no-browser", "--secret-store", "keyring"],
        &bus,
    );
    let (status, page) = browse(&login.authorize_url());
    let done = login.finish();
    assert_ok(&done);
    assert_eq!(status, 200, "{page}");
    assert!(
        done.stdout
            .contains("kept in the OS keyring (Secret Service)"),
        "{}",
        done.stdout
    );
    let entry = keyring_entry(&client_id).expect("the login is in the keyring");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&entry.refresh_token)]
    );
    assert_eq!(entry.nickname.as_deref(), Some("홍길동"));
    assert!(
        !env.data_dir().join("secrets.json").exists(),
        "nothing in the file store"
    );

    // A second process finds the login through the remembered store.
    let status = run(&env, &["status", "--json"], &bus);
    assert_ok(&status);
    let json: Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!(json["secret_store"], "keyring");
    assert_eq!(json["logged_in"], Value::Bool(true));
    assert_eq!(json["nickname"], "홍길동");

    // Kakao rejects the access token: kbot refreshes and saves into the keyring.
    fake.expire_access_tokens();
    let friends = run(&env, &["friends"], &bus);
    assert_ok(&friends);
    assert!(friends.stdout.contains("이서연"), "{}", friends.stdout);
    let refreshed = keyring_entry(&client_id).expect("still in the keyring");
    assert_ne!(access_of(&refreshed), access_of(&entry));
    assert_eq!(
        bearers(&fake, FRIENDS_PATH),
        vec![access_of(&entry), access_of(&refreshed)]
    );

    let logout = run(&env, &["logout"], &bus);
    assert_ok(&logout);
    assert!(
        logout
            .stdout
            .contains("deleted the local tokens from the OS keyring"),
        "{}",
        logout.stdout
    );
    assert!(keyring_entry(&client_id).is_none(), "the entry is gone");
    assert!(!env.data_dir().join("secrets.json").exists());
}

#[test]
fn a_damaged_keyring_entry_is_named_with_its_fix_and_logout_then_login_recovers() {
    use keyring_core::api::CredentialStoreApi;
    let bus = bus_env();
    let bus: Vec<(&str, &str)> = bus.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fake = FakeKakao::start_on_thread();
    let client_id = format!("kbot-keyring-damaged-test-{}", std::process::id());
    let id = client_id.clone();
    fake.configure(move |c| c.client_id = id);
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "keyring");
    // What a crash or another program could leave: not kbot's JSON.
    zbus_secret_service_keyring_store::Store::new()
        .and_then(|store| store.build("kbot", &client_id, None))
        .and_then(|entry| entry.set_password("{\"refresh_token\": nul"))
        .unwrap_or_else(|err| panic!("cannot write the keyring entry: {err}\n{HOWTO}"));

    let status = run(&env, &["friends"], &bus);
    status.assert_error(3, "cannot read the kbot entry", "kbot logout");
    assert!(status.stderr.contains("OS keyring"), "{status:#?}");

    let logout = run(&env, &["logout"], &bus);
    assert_ok(&logout);
    assert!(
        logout.stdout.contains("deleted the unreadable kbot entry"),
        "{logout:#?}"
    );
    assert!(keyring_entry(&client_id).is_none());

    let mut login = spawn(&env, &["login", "--no-browser"], &bus);
    let (status, page) = browse(&login.authorize_url());
    assert_ok(&login.finish());
    assert_eq!(status, 200, "{page}");
    assert!(keyring_entry(&client_id).is_some(), "the new login is kept");
    block_on(Store::new(StoreKind::Keyring, Path::new("/nonexistent"), &client_id).delete())
        .unwrap_or_else(|err| keyring_failure(&err));
}
