//! Login, the secret stores and the token lifecycle, end to end through the real `kbot`
//! binary against the fake Kakao server.
//!
//! `tests/auth_flow.rs` proves the same rules one level down, on the library; here every
//! step is what a person (or a script) sees: the link `kbot login` prints, a browser's GETs
//! to the fake and then to kbot's loopback listener, the exit code, the `kbot: error:` and
//! `hint:` lines, the file store on disk, and what the fake's token endpoint was sent.
//! The real Secret Service is `tests/keyring_cli.rs`; shared helpers `tests/login_helpers`.
//!
//! I/O: child processes, loopback TCP (the fake, kbot's listener, a free port per login),
//! temp dirs, and `/proc/locks` (Linux) to see two processes waiting on the refresh lock.

mod common;
mod login_helpers;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta};
use common::{TestEnv, flock_waiters};
use login_helpers::*;
use serde_json::Value;
use support::fake_kakao::FakeKakao;
use support::fake_kakao::api::{FRIENDS_PATH, LOGOUT_PATH, ME_PATH};
use support::fake_kakao::oauth::{KOE_PKCE, TOKEN_PATH};
use url::Url;

// ---------------------------------------------------------------------------------------
// 1. Logging in.

#[test]
fn login_through_the_loopback_listener_prints_the_account_and_keeps_tokens_in_a_private_file() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    let query: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], redirect);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!query["state"].is_empty());

    let (status, page) = browse(&link);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let done = login.finish();
    done.assert_success();

    // What the person reads.
    let tokens = stored(&env).expect("the file store holds the login");
    let expiry = tokens
        .refresh_token_expires_at
        .expect("Kakao said when the refresh token expires")
        .with_timezone(&chrono_tz::Asia::Seoul)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    assert!(
        done.stdout.contains("logged in as 홍길동"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("scopes: talk_message friends"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout
            .contains(&format!("refresh token valid until {expiry}")),
        "{}",
        done.stdout
    );

    // The store holds exactly what the fake issued, and is private.
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&tokens.refresh_token)]
    );
    assert!(
        fake.access_tokens()
            .iter()
            .any(|t| t.valid && t.token == access_of(&tokens))
    );
    assert_eq!(tokens.nickname.as_deref(), Some("홍길동"));
    assert!(tokens.client_secret.is_none());
    let file = env.data_dir().join("secrets.json");
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    assert_eq!(mode(&env.data_dir()), 0o700);
    assert_eq!(
        std::fs::read_to_string(env.data_dir().join("store"))
            .unwrap()
            .trim(),
        "file"
    );
    // The exchange proved the PKCE verifier and repeated the redirect URI.
    let exchange = &fake.requests_to(TOKEN_PATH)[0];
    assert_eq!(
        exchange.form_field("grant_type"),
        Some("authorization_code")
    );
    assert_eq!(exchange.form_field("redirect_uri"), Some(redirect.as_str()));
    assert!(exchange.form_field("code_verifier").is_some());

    // A second process uses the login.
    with_friend(&fake);
    let friends = run(&env, &["friends"], &[]);
    friends.assert_success();
    assert!(friends.stdout.contains("이서연"), "{friends:#?}");
    assert_eq!(bearers(&fake, FRIENDS_PATH), vec![access_of(&tokens)]);
}

#[test]
fn login_on_a_headless_server_takes_the_pasted_redirect_address() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    // The browser runs on another machine: its redirect to localhost never reaches kbot,
    // so the person copies the address the browser ends up on into kbot's terminal.
    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    let told = login.line_starting("Waiting for Kakao to redirect");
    assert!(told.contains("Or paste the address"), "{told}");
    let location = redirect_location(&fake, &link);
    assert!(location.starts_with(&redirect), "{location}");
    writeln!(login.stdin(), "{location}").expect("paste into kbot");
    let done = login.finish();
    done.assert_success();
    assert!(
        done.stdout.contains("logged in as 홍길동"),
        "{}",
        done.stdout
    );
    let tokens = stored(&env).expect("tokens kept");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&tokens.refresh_token)]
    );
}

#[test]
fn a_new_login_clears_the_record_of_a_daemon_that_stopped_for_want_of_one() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    // What a daemon leaves when Kakao rejected its refresh token (exit 3).
    std::fs::create_dir_all(env.data_dir()).unwrap();
    std::fs::write(
        env.data_dir().join("daemon-stopped.json"),
        r#"{"at": "2026-11-29T00:00:00Z", "exit": 3, "reason": "kakao rejected the refresh token (KOE322)", "hint": "kbot login"}"#,
    )
    .unwrap();
    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    let location = redirect_location(&fake, &link);
    writeln!(login.stdin(), "{location}").expect("paste into kbot");
    let done = login.finish();
    done.assert_success();
    assert!(
        done.stdout
            .contains("the daemon had stopped for want of a login; start it again"),
        "{}",
        done.stdout
    );
    let status = env.kbot().args(["status", "--json"]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(shown["daemon_stopped"], serde_json::Value::Null, "{shown}");
    assert_eq!(shown["needs_attention"], false, "{shown}");
}

#[test]
fn a_pasted_line_that_is_not_a_redirect_address_is_refused_as_such_and_asked_again() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    writeln!(login.stdin(), "yes").expect("type into kbot");
    let told = login.line_starting("kbot: that is not the address");
    assert!(told.contains("paste it again"), "{told}");
    writeln!(login.stdin(), "{}", redirect_location(&fake, &link)).expect("paste into kbot");
    let done = login.finish();
    done.assert_success();
    assert!(!done.all().contains("KOE320"), "{done:#?}");
    assert_eq!(
        fake.count(TOKEN_PATH),
        1,
        "only the real code was exchanged"
    );
}

#[test]
fn a_taken_redirect_port_is_said_and_a_pasted_address_still_logs_in() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    let port = Url::parse(&redirect).unwrap().port().unwrap();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    let told = login.line_starting("Nothing can listen on");
    assert!(told.contains(&redirect) && told.contains("paste"), "{told}");
    writeln!(login.stdin(), "{}", redirect_location(&fake, &link)).expect("paste into kbot");
    let done = login.finish();
    done.assert_success();
    assert!(
        done.stdout.contains("logged in as 홍길동"),
        "{}",
        done.stdout
    );
    assert!(stored(&env).is_some());
}

#[test]
fn a_stray_callback_gets_an_error_page_and_the_login_then_succeeds() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    // Any local process or web page can hit the port: another state, none at all, and an
    // error with terminal escapes in its description.
    let location = redirect_location(&fake, &link);
    let forged = with_param(&location, "state", "not-this-login");
    let hostile = format!(
        "{redirect}?error=access_denied&error_description=%1B%5D0%3Bpwned%07%0Akbot%3A%20error%3A%20forged%E2%80%AE"
    );
    for stray in [forged.as_str(), redirect.as_str(), hostile.as_str()] {
        let (status, _, page) = http_get(stray);
        assert_eq!(status, 400, "{stray}: {page:?}");
        assert!(page.contains("kbot keeps waiting"), "{page}");
    }
    assert_eq!(fake.count(TOKEN_PATH), 0, "nothing was exchanged yet");

    // The real redirect still finds kbot listening.
    let (status, _, page) = http_get(&location);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let done = login.finish();
    done.assert_success();
    assert!(stored(&env).is_some());
    assert!(
        !done.all().contains('\u{1b}') && !done.all().contains("pwned"),
        "{done:#?}"
    );
    assert!(!done.stderr.contains("kbot: error"), "{done:#?}");
}

#[test]
fn pressing_cancel_on_kakaos_consent_screen_exits_3_with_its_hint() {
    let fake = FakeKakao::start_on_thread();
    fake.configure(|c| c.deny_consent = true);
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let (status, page) = browse(&login.authorize_url());
    assert_eq!(status, 400);
    assert!(page.contains("cancelled"), "{page}");
    let done = login.finish();
    done.assert_error(
        3,
        "login was cancelled on Kakao's consent screen (User denied access)",
        "press Agree",
    );
    assert!(stored(&env).is_none());
}

#[test]
fn no_redirect_before_the_timeout_ends_the_login_with_its_own_message() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    // Nobody opens the link; stdin stays open (a terminal nobody types into).
    let mut login = spawn(&env, &["login", "--no-browser", "--timeout", "1s"], &[]);
    login.authorize_url();
    let done = login.finish();
    done.assert_error(3, "no login redirect arrived within 1s", "KOE006");
    let hint = done
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap();
    assert!(
        hint.contains("KOE101") && hint.contains(&redirect),
        "{hint}"
    );
    assert!(
        !hint.contains("--no-browser"),
        "the flag was already given: {hint}"
    );
    assert_eq!(fake.count(TOKEN_PATH), 0);
}

#[test]
fn a_missing_client_secret_is_koe010_and_kbot_client_secret_fixes_it() {
    let fake = FakeKakao::start_on_thread();
    const CLIENT_SECRET: &str = "console-client-secret";
    fake.configure(|c| c.client_secret = Some(CLIENT_SECRET.into()));
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let (status, page) = browse(&login.authorize_url());
    // The browser tab waits for the exchange and tells the truth.
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("login failed, see the terminal"), "{page}");
    let done = login.finish();
    assert!(fake.saw_error_code("KOE010"));
    done.assert_error(
        3,
        "kakao rejected the client credentials of client_id fake-rest-api-key (KOE010",
        "set KBOT_CLIENT_SECRET to the client secret in the Kakao console",
    );
    assert!(stored(&env).is_none());

    let mut login = spawn(
        &env,
        &["login", "--no-browser"],
        &[("KBOT_CLIENT_SECRET", CLIENT_SECRET)],
    );
    browse(&login.authorize_url());
    login.finish().assert_success();
    let tokens = stored(&env).expect("logged in");
    assert_eq!(
        tokens.client_secret.as_ref().map(secret).as_deref(),
        Some(CLIENT_SECRET)
    );
}

// ---------------------------------------------------------------------------------------
// 2. PKCE, checked by the fake.

#[test]
fn a_link_whose_pkce_challenge_was_changed_cannot_be_exchanged() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let link = login.authorize_url();
    // Someone swapped the challenge for one of their own verifier: the code Kakao issues
    // is bound to it, and kbot's verifier no longer matches.
    let foreign = oauth2::PkceCodeChallenge::from_code_verifier_sha256(
        &oauth2::PkceCodeVerifier::new("x".repeat(64)),
    );
    assert_ne!(
        link.query_pairs()
            .find(|(k, _)| k == "code_challenge")
            .map(|(_, v)| v.into_owned()),
        Some(foreign.as_str().to_string())
    );
    let tampered = Url::parse(&with_param(
        link.as_str(),
        "code_challenge",
        foreign.as_str(),
    ))
    .unwrap();
    // The listener takes the code (its state is right); the exchange fails, and the tab
    // says so.
    let (status, page) = browse(&tampered);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("login failed, see the terminal"), "{page}");
    let done = login.finish();
    assert!(fake.saw_error_code(KOE_PKCE), "{:?}", fake.errors());
    done.assert_error(
        3,
        "code_verifier does not match code_challenge",
        "kbot login, and open the link it prints exactly as printed",
    );
    assert!(stored(&env).is_none());
    assert!(fake.valid_refresh_tokens().is_empty(), "nothing was issued");
}

// ---------------------------------------------------------------------------------------
// 3. Refresh and rotation.

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_next_process_reuses_it() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(50));

    let first = run(&env, &["friends"], &[]);
    first.assert_success();
    assert!(first.stdout.contains("이서연"), "{first:#?}");
    assert_eq!(
        refresh_tokens_sent(&fake),
        vec![secret(&seeded.refresh_token)]
    );
    let after = stored(&env).unwrap();
    assert_ne!(access_of(&after), access_of(&seeded));
    assert!(after.access_token_expires_at > Some(now() + TimeDelta::hours(5)));
    // No rotation outside the last month: the refresh token and its expiry are kept.
    assert_eq!(secret(&after.refresh_token), secret(&seeded.refresh_token));
    assert_eq!(
        after.refresh_token_expires_at,
        seeded.refresh_token_expires_at
    );
    // The friends call carried the new token, never the expired one.
    assert_eq!(bearers(&fake, FRIENDS_PATH), vec![access_of(&after)]);

    let second = run(&env, &["friends", "--json"], &[]);
    second.assert_success();
    assert_eq!(fake.count(TOKEN_PATH), 1, "the saved token was reused");
    assert_eq!(bearers(&fake, FRIENDS_PATH)[1], access_of(&after));
}

#[test]
fn a_rotated_refresh_token_is_kept_and_the_old_one_is_never_sent_again() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(25));
    let old_rt = secret(&seeded.refresh_token);
    fake.advance(35 * DAY); // the refresh token is in its last month: Kakao rotates it

    run(&env, &["friends"], &[]).assert_success();
    let after = stored(&env).unwrap();
    let new_rt = secret(&after.refresh_token);
    assert_ne!(new_rt, old_rt);
    assert_eq!(fake.valid_refresh_tokens(), vec![new_rt.clone()]);
    let expires = after.refresh_token_expires_at.expect("a new expiry");
    assert!(
        expires > now() + TimeDelta::days(59),
        "the new token's two months: {expires}"
    );

    // Kakao rejects the access token (-401): kbot refreshes with the new refresh token and
    // retries the call once.
    fake.expire_access_tokens();
    let again = run(&env, &["friends"], &[]);
    again.assert_success();
    assert!(again.stdout.contains("이서연"));
    assert_eq!(refresh_tokens_sent(&fake), vec![old_rt, new_rt.clone()]);
    assert!(!fake.saw_error_code("KOE322"), "{:?}", fake.errors());
    assert_eq!(fake.valid_refresh_tokens(), vec![new_rt]);
    assert!(fake.saw_error_code("-401"));
    assert_eq!(fake.count(FRIENDS_PATH), 3, "one call, one -401, one retry");
}

#[cfg(target_os = "linux")]
#[test]
fn two_processes_refreshing_at_once_share_one_refresh_and_keep_one_valid_refresh_token() {
    use std::os::unix::fs::MetadataExt;

    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(20));
    fake.advance(40 * DAY); // rotation: a second refresh with the old token would be KOE322

    // Hold the refresh lock so both processes reach it before either may refresh.
    let lock_path = env.data_dir().join(kbot::session::REFRESH_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    let inode = std::fs::metadata(&lock_path).unwrap().ino();

    let a = spawn(&env, &["friends", "-vv"], &[]);
    let b = spawn(&env, &["friends", "-vv"], &[]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let waiting = flock_waiters(inode);
        if waiting.contains(&a.pid()) && waiting.contains(&b.pid()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both kbot processes should wait for the refresh lock; waiting: {waiting:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fake.count(TOKEN_PATH), 0);
    drop(lock);

    let (a, b) = (a.finish(), b.finish());
    a.assert_success();
    b.assert_success();
    assert!(a.stdout.contains("이서연") && b.stdout.contains("이서연"));
    assert_eq!(
        refresh_tokens_sent(&fake),
        vec![secret(&seeded.refresh_token)],
        "one refreshed; the other re-read the store under the lock and used its result"
    );
    assert!(
        format!("{}{}", a.stderr, b.stderr).contains("another process refreshed"),
        "{a:#?}\n{b:#?}"
    );
    assert!(!fake.saw_error_code("KOE322"), "{:?}", fake.errors());
    let after = stored(&env).unwrap();
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&after.refresh_token)]
    );
    assert_ne!(secret(&after.refresh_token), secret(&seeded.refresh_token));
    assert_eq!(
        bearers(&fake, FRIENDS_PATH),
        vec![access_of(&after), access_of(&after)]
    );
}

#[test]
fn friends_shows_korean_nicknames_in_aligned_columns() {
    use unicode_width::UnicodeWidthStr;

    let fake = FakeKakao::start_on_thread();
    fake.add_friend("uuid-seoyeon", "이서연", true);
    fake.add_friend("uuid-alex", "Alex Kim", false);
    fake.add_friend("uuid-minjun", "박민준이라는긴이름", true);
    fake.set_favorite("uuid-minjun", true);
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));

    let done = run(&env, &["friends"], &[]);
    done.assert_success();
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", done.stdout);
    // The column (in terminal cells) where `needle` starts on `line`.
    let column = |line: &str, needle: &str| {
        let at = line
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in {line:?}"));
        line[..at].width()
    };
    let (uuid_at, messages_at) = (column(lines[0], "uuid"), column(lines[0], "messages"));
    for (uuid, verdict) in [
        ("uuid-minjun", "allowed"),
        ("uuid-alex", "blocked"),
        ("uuid-seoyeon", "allowed"),
    ] {
        let line = lines.iter().find(|l| l.contains(uuid)).expect("listed");
        assert_eq!(column(line, uuid), uuid_at, "{}", done.stdout);
        assert_eq!(column(line, verdict), messages_at, "{}", done.stdout);
        assert_eq!(line.ends_with('★'), uuid == "uuid-minjun", "{line}");
    }
}

// ---------------------------------------------------------------------------------------
// Losing the login: logout, revocation at Kakao.

#[test]
fn logout_deletes_the_local_tokens_and_the_next_command_asks_for_login() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));

    let done = run(&env, &["logout"], &[]);
    done.assert_success();
    assert!(
        done.stdout
            .contains("deleted the local tokens from the file"),
        "{done:#?}"
    );
    assert!(stored(&env).is_none());
    assert!(!env.data_dir().join("secrets.json").exists());
    assert_eq!(
        fake.count(LOGOUT_PATH),
        0,
        "nothing revoked without --revoke"
    );
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&seeded.refresh_token)]
    );

    run(&env, &["friends"], &[]).assert_error(3, "not logged in", "kbot login");
    run(&env, &["status"], &[]).assert_error(3, "not logged in", "kbot login");
    run(&env, &["logout"], &[]).assert_error(3, "not logged in", "kbot login");
}

#[test]
fn logout_with_revoke_revokes_the_tokens_at_kakao() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));

    let done = run(&env, &["logout", "--revoke"], &[]);
    done.assert_success();
    assert!(
        done.stdout.contains("deleted the local tokens"),
        "{done:#?}"
    );
    assert!(
        done.stdout.contains("revoked the tokens at Kakao"),
        "{done:#?}"
    );
    assert_eq!(bearers(&fake, LOGOUT_PATH), vec![access_of(&seeded)]);
    assert!(fake.valid_refresh_tokens().is_empty());
    assert!(fake.access_tokens().iter().all(|t| !t.valid));
    assert!(stored(&env).is_none());

    run(&env, &["friends"], &[]).assert_error(3, "not logged in", "kbot login");
}

#[test]
fn logout_with_revoke_refreshes_a_rejected_access_token_and_still_revokes() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    fake.expire_access_tokens(); // kbot's copy looks fresh; Kakao says -401

    let done = run(&env, &["logout", "--revoke"], &[]);
    done.assert_success();
    assert!(
        done.stdout.contains("revoked the tokens at Kakao"),
        "{done:#?}"
    );
    assert_eq!(
        refresh_tokens_sent(&fake),
        vec![secret(&seeded.refresh_token)]
    );
    assert_eq!(fake.count(LOGOUT_PATH), 2, "-401, then the retry");
    assert!(
        fake.valid_refresh_tokens().is_empty(),
        "no live refresh token left behind at Kakao"
    );
    assert!(stored(&env).is_none());
}

#[test]
fn logout_with_revoke_of_a_login_kakao_already_ended_deletes_it_and_says_so() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    fake.revoke_all(); // unlinked on the phone

    let done = run(&env, &["logout", "--revoke"], &[]);
    done.assert_success();
    assert!(
        done.stdout.contains("deleted the local tokens"),
        "{done:#?}"
    );
    assert!(
        done.stdout
            .contains("nothing to revoke at Kakao: the login had already ended"),
        "{done:#?}"
    );
    assert!(fake.saw_error_code("KOE322"));
    assert!(stored(&env).is_none());
}

#[test]
fn a_refresh_token_kakao_revoked_exits_3_with_kbot_login() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    fake.revoke_all(); // the user unlinked the app on their phone

    // kbot still thinks its access token is fresh: -401, refresh, KOE322.
    let done = run(&env, &["friends"], &[]);
    assert!(fake.saw_error_code("-401"));
    assert!(fake.saw_error_code("KOE322"));
    done.assert_error(3, "kakao rejected the refresh token (KOE322)", "kbot login");
    assert_eq!(
        done.stderr.lines().find(|l| l.starts_with("hint: ")),
        Some("hint: kbot login")
    );
}

#[cfg(unix)]
#[test]
fn a_secrets_file_others_can_read_is_refused_with_the_chmod_that_fixes_it() {
    use std::os::unix::fs::PermissionsExt;

    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    let file = env.data_dir().join("secrets.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let chmod = format!("chmod 600 {}", file.display());
    for args in [&["friends"][..], &["status"], &["login", "--no-browser"]] {
        let done = run(&env, args, &[]);
        done.assert_error(1, "other users can access it (mode 0644)", &chmod);
        assert!(!done.stdout.contains("oauth/authorize"), "{done:#?}");
    }
    assert_eq!(
        fake.requests().len(),
        0,
        "nothing was sent with an exposed login"
    );
    assert_eq!(mode(&file), 0o644, "kbot does not quietly change it");
}

// ---------------------------------------------------------------------------------------
// The keyring that is not there.

#[test]
fn an_unreachable_keyring_stops_with_a_hint_naming_the_file_store() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "keyring");
    // A session bus address where no bus listens: the Secret Service is unreachable.
    let nowhere = format!("unix:path={}", env.path("no-bus").display());
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", nowhere.as_str())];

    // Nobody logged in here (no note says which store a login used): status says "not
    // logged in" and why it could not look further, not a keyring error.
    let status = run(&env, &["status"], &no_bus);
    status.assert_error(3, "not logged in", "kbot login");
    assert!(status.stdout.contains("config: "), "{status:#?}");
    assert!(
        status
            .stdout
            .contains("login:  not logged in: no login recorded in")
            && status.stdout.contains("unreachable"),
        "{status:#?}"
    );

    // Login says so before the person goes through Kakao's pages for nothing.
    let login = run(
        &env,
        &["login", "--no-browser", "--timeout", "30s"],
        &no_bus,
    );
    login.assert_error(1, "unreachable", "kbot login --secret-store file");
    assert!(
        !login.stdout.contains("oauth/authorize"),
        "no link before the store works: {login:#?}"
    );
    assert!(
        !env.data_dir().join("secrets.json").exists(),
        "no silent fallback"
    );
}

// ---------------------------------------------------------------------------------------
// 6. Never a token, code, verifier or secret in what kbot prints.

#[test]
fn verbose_output_and_json_never_contain_a_token_code_verifier_or_client_secret() {
    let fake = FakeKakao::start_on_thread();
    const CLIENT_SECRET: &str = "fake-client-secret-0123456789";
    fake.configure(|c| c.client_secret = Some(CLIENT_SECRET.into()));
    with_friend(&fake);
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config_with(
        &env,
        &fake,
        &redirect,
        "file",
        "[recipients]\nme = true\nfriends = [\"이서연\"]\n",
    );
    let secret_env = [("KBOT_CLIENT_SECRET", CLIENT_SECRET)];
    let mut outputs = Vec::new();

    let mut login = spawn(&env, &["login", "--no-browser", "-vv"], &secret_env);
    let (status, page) = browse(&login.authorize_url());
    assert_eq!(status, 200);
    let done = login.finish();
    done.assert_success();
    outputs.push(("the login page", page));
    outputs.push(("login -vv", done.all()));

    // Later processes have no KBOT_CLIENT_SECRET: the stored secret is used. Rotate the
    // refresh token and get a -401 so every kind of token passes through kbot.
    fake.advance(35 * DAY);
    fake.expire_access_tokens();
    for args in [
        &["friends", "-vv"][..],
        &["friends", "--json", "-vv"],
        &["status", "--json", "-vv"],
        &["status", "-vv"],
        &["send-now", "lunch", "--date", "2023-04-10", "--json", "-vv"],
        &["history", "--json", "-vv"],
        &["logout", "--revoke", "-vv"],
    ] {
        let done = run(&env, args, &[]);
        done.assert_success();
        outputs.push((args[0], done.all()));
    }
    // And the failures after the revocation.
    let denied = run(&env, &["friends", "-vv"], &[]);
    assert_eq!(denied.code, Some(3));
    outputs.push(("friends after logout", denied.all()));

    // Even with every dependency's logs on (KBOT_LOG=trace): a second login and a refresh.
    let trace = [("KBOT_CLIENT_SECRET", CLIENT_SECRET), ("KBOT_LOG", "trace")];
    let mut login = spawn(&env, &["login", "--no-browser"], &trace);
    browse(&login.authorize_url());
    let done = login.finish();
    done.assert_success();
    outputs.push(("login with KBOT_LOG=trace", done.all()));
    fake.expire_access_tokens();
    let done = run(&env, &["friends"], &[("KBOT_LOG", "trace")]);
    done.assert_success();
    assert!(done.stderr.contains("TRACE"), "trace logs are on");
    outputs.push(("friends with KBOT_LOG=trace", done.all()));

    // Everything the fake handed out or was shown.
    let mut needles: Vec<(&str, String)> = vec![("client secret", CLIENT_SECRET.to_string())];
    needles.extend(
        fake.access_tokens()
            .into_iter()
            .map(|t| ("access token", t.token)),
    );
    needles.extend(
        fake.refresh_tokens()
            .into_iter()
            .map(|t| ("refresh token", t.token)),
    );
    for request in fake.requests_to(TOKEN_PATH) {
        for field in ["code", "code_verifier"] {
            if let Some(value) = request.form_field(field) {
                needles.push((field, value.to_string()));
            }
        }
    }
    // Each needle list is what it should be: two logins, several refresh tokens.
    let count = |kind: &str| needles.iter().filter(|(k, _)| *k == kind).count();
    assert_eq!((count("code"), count("code_verifier")), (2, 2));
    assert!(count("refresh token") >= 3, "{needles:?}");
    assert!(fake.count(ME_PATH) >= 1 && fake.delivered_to("me").len() == 1);
    for (what, text) in &outputs {
        for (kind, needle) in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{what} shows a {kind}:\n{text}"
            );
        }
    }
}

#[test]
fn a_code_that_was_already_used_is_koe320_and_the_message_does_not_echo_it() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");

    let mut login = spawn(&env, &["login", "--no-browser", "-vv"], &[]);
    let location = redirect_location(&fake, &login.authorize_url());
    let code = Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code in the redirect");
    // Somebody (an old tab, a second paste) presents the code first: it is burnt.
    let burn =
        format!("grant_type=authorization_code&client_id={CLIENT_ID}&redirect_uri=x&code={code}");
    let port = Url::parse(&fake.url()).unwrap().port().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{burn}",
        burn.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("KOE303"), "{answer}");

    writeln!(login.stdin(), "{location}").unwrap();
    let done = login.finish();
    assert!(fake.saw_error_code("KOE320"));
    done.assert_error(3, "KOE320", "kbot login");
    assert!(!done.all().contains(&code), "{done:#?}");
}

// ---------------------------------------------------------------------------------------
// 7. `kbot status`.

#[test]
fn status_json_has_the_documented_shape_and_types() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");

    // Before login: logged out (exit 3, as every command that needs a login), the store
    // named, nothing to leak.
    let before = run(&env, &["status", "--json"], &[]);
    before.assert_error(3, "not logged in", "kbot login");
    let json: Value = serde_json::from_str(&before.stdout).expect("JSON");
    assert_eq!(json["logged_in"], Value::Bool(false));
    assert_eq!(json["secret_store"], "file");
    assert!(json["nickname"].is_null() && json["refresh_token_expires_at"].is_null());

    let seeded = seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    run(&env, &["send-now", "lunch", "--date", "2023-04-10"], &[]).assert_success();
    let done = run(&env, &["status", "--json"], &[]);
    done.assert_success();
    let json: Value = serde_json::from_str(&done.stdout).expect("JSON");
    let object = json.as_object().expect("an object");
    for key in [
        "config",
        "secret_store",
        "logged_in",
        "nickname",
        "scopes",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "next",
        "last_runs",
    ] {
        assert!(object.contains_key(key), "{key} missing from {json:#}");
    }
    assert_eq!(
        json["config"].as_str(),
        Some(env.config_path().to_str().unwrap())
    );
    assert_eq!(json["secret_store"], "file");
    assert_eq!(json["logged_in"], Value::Bool(true));
    assert_eq!(json["nickname"], "홍길동");
    assert_eq!(
        json["scopes"],
        serde_json::json!(["talk_message", "friends"])
    );
    let rfc3339 = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{v} is no string")))
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    assert_eq!(
        rfc3339(&json["access_token_expires_at"]).timestamp(),
        seeded.access_token_expires_at.unwrap().timestamp()
    );
    assert_eq!(
        rfc3339(&json["refresh_token_expires_at"]).timestamp(),
        seeded.refresh_token_expires_at.unwrap().timestamp()
    );
    let next = json["next"].as_object().expect("next is an object");
    assert_eq!(
        next.keys().map(String::as_str).collect::<Vec<_>>(),
        ["dinner", "lunch"]
    );
    for (meal, at) in next {
        let at = rfc3339(at);
        assert!(at > now(), "{meal} next at {at}");
        assert_eq!(at.offset().local_minus_utc(), 9 * 3600, "Asia/Seoul time");
    }
    let runs = json["last_runs"].as_array().expect("last_runs is an array");
    assert_eq!(runs.len(), 1, "{json:#}");
    assert_eq!(runs[0]["date"], "2023-04-10");
    assert_eq!(runs[0]["meal"], "lunch");
    rfc3339(&runs[0]["started_at"]);
}

#[test]
fn status_warns_when_the_refresh_token_has_under_fourteen_days_left() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    seed(
        &env,
        &fake,
        TimeDelta::hours(5),
        TimeDelta::days(10) + TimeDelta::hours(1),
    );

    let done = run(&env, &["status"], &[]);
    done.assert_success();
    assert!(
        done.stdout
            .lines()
            .any(|l| l.starts_with("warning: ")
                && l.contains("the refresh token expires in 10 days")),
        "{}",
        done.stdout
    );
    let json = run(&env, &["status", "--json"], &[]);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["needs_attention"], Value::Bool(true));

    // With weeks left there is nothing to warn about.
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(40));
    let calm = run(&env, &["status"], &[]);
    calm.assert_success();
    assert!(!calm.stdout.contains("warning"), "{}", calm.stdout);
    assert!(calm.stdout.contains("login:  홍길동"), "{}", calm.stdout);
}
