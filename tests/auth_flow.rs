//! Login and the token lifecycle over real HTTP on loopback, against the fake Kakao server.
//!
//! Covers `kbot::auth` end to end at library level: the code exchange with PKCE, the loopback
//! listener receiving the fake's 302 (followed by reqwest as a browser would), the paste
//! path, wrong state, cancel, timeout, refresh (once, with rotation, across two sessions at
//! once) and logout. Tokens live in the file store in a temp dir; time is a test clock.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use kbot::auth::{self, App, AuthError, LoginOptions};
use kbot::clock::Clock;
use kbot::http::{Timeouts, client, oauth_client};
use kbot::secrets::{self, Store, StoreKind, Tokens};
use kbot::session::{self, Session};
use kbot::{Exit, Report};
use secrecy::{ExposeSecret, SecretString};
use support::fake_kakao::FakeKakao;
use support::fake_kakao::oauth::{KOE_PKCE, TOKEN_PATH};
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use url::Url;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A clock the test moves by hand.
#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<TestClock> {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        Arc::new(TestClock(Mutex::new(start)))
    }

    fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A free loopback port for a redirect URI (bound and released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The fake with `redirect_uri` registered, and the kbot app pointing at it.
fn app_for(fake: &FakeKakao, redirect_uri: &str) -> App {
    let redirect = redirect_uri.to_string();
    fake.configure(move |c| c.redirect_uris = vec![redirect]);
    App {
        client_id: fake.config().client_id,
        client_secret: None,
        redirect_uri: Url::parse(redirect_uri).unwrap(),
        auth_url: Url::parse(&fake.url()).unwrap(),
    }
}

fn loopback_app(fake: &FakeKakao) -> App {
    app_for(fake, &format!("http://127.0.0.1:{}/callback", free_port()))
}

fn http() -> reqwest::Client {
    oauth_client(Timeouts::default())
}

/// A writer that forwards what `login` prints, so the test can read the link meanwhile.
struct Printed(mpsc::UnboundedSender<String>);

impl std::io::Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Wait until `login` printed the authorize URL, on a line of its own.
async fn printed_url(rx: &mut mpsc::UnboundedReceiver<String>) -> Url {
    let mut text = String::new();
    loop {
        let chunk = rx
            .recv()
            .await
            .expect("login prints the link before it ends");
        text.push_str(&chunk);
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        if let Some(line) = complete.lines().find(|l| l.starts_with("http")) {
            let url = Url::parse(line.trim()).expect("the printed line is exactly a URL");
            assert_eq!(url.path(), "/oauth/authorize");
            return url;
        }
    }
}

struct Login {
    result: tokio::task::JoinHandle<Result<Tokens, AuthError>>,
    url: Url,
    /// Write here to "paste"; dropping it is EOF on stdin.
    stdin: DuplexStream,
}

/// Start `login` on a task with a pipe as stdin; returns once the link is printed.
async fn start_login(app: &App, timeout: Duration) -> Login {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stdin, input) = tokio::io::duplex(4096);
    let (app, clock) = (app.clone(), TestClock::new());
    let result = tokio::spawn(async move {
        let options = LoginOptions {
            scopes: vec!["talk_message".into()],
            no_browser: true,
            timeout,
        };
        let mut out = Printed(tx);
        auth::login(
            &app,
            &http(),
            &options,
            &*clock,
            &mut out,
            BufReader::new(input),
        )
        .await
    });
    let url = printed_url(&mut rx).await;
    Login { result, url, stdin }
}

/// What a browser does with the printed link: follow the fake's 302 to the listener.
async fn browse(url: &Url) -> (u16, String) {
    let response = client(Timeouts::default())
        .get(url.clone())
        .send()
        .await
        .expect("the browser reaches the listener");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn store_in(dir: &std::path::Path, app: &App) -> Store {
    Store::new(StoreKind::File, dir, &app.client_id)
}

fn session(app: &App, dir: &std::path::Path, clock: &Arc<TestClock>) -> Session {
    Session::new(
        app.clone(),
        store_in(dir, app),
        http(),
        dir,
        clock.clone() as Arc<dyn Clock>,
    )
}

/// Tokens as a logged-in kbot holds them, minted by the fake; the access token expires
/// `at_left` after the test clock's now.
fn logged_in(fake: &FakeKakao, clock: &TestClock, at_left: TimeDelta) -> Tokens {
    let issued = fake.issue_tokens();
    Tokens {
        refresh_token: SecretString::from(issued.refresh_token),
        refresh_token_expires_at: Some(clock.now() + TimeDelta::days(60)),
        access_token: Some(SecretString::from(issued.access_token)),
        access_token_expires_at: Some(clock.now() + at_left),
        scopes: vec!["talk_message".into()],
        client_secret: None,
        nickname: None,
    }
}

fn refresh_tokens_sent(fake: &FakeKakao) -> Vec<String> {
    fake.requests_to(TOKEN_PATH)
        .iter()
        .filter(|r| r.form_field("grant_type") == Some("refresh_token"))
        .filter_map(|r| r.form_field("refresh_token").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_listener_receives_the_redirect_and_login_returns_working_tokens() {
    let fake = FakeKakao::start().await;
    let app = loopback_app(&fake);
    let mut login = start_login(&app, Duration::from_secs(30)).await;

    let q: std::collections::HashMap<_, _> = login.url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], app.redirect_uri.as_str());
    assert_eq!(q["scope"], "talk_message");

    // EOF on stdin is not an error: login keeps waiting for the listener.
    login.stdin.shutdown().await.unwrap();
    drop(login.stdin);

    let (status, page) = browse(&login.url).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("kbot: login complete, you can close this tab"),
        "{page}"
    );

    let tokens = login.result.await.unwrap().expect("login succeeds");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![tokens.refresh_token.expose_secret().to_string()]
    );
    assert!(fake.access_tokens()[0].token == tokens.access_token.unwrap().expose_secret());
    assert_eq!(tokens.scopes, vec!["talk_message", "friends"]);
    assert!(tokens.refresh_token_expires_at.is_some() && tokens.access_token_expires_at.is_some());

    let exchange = &fake.requests_to(TOKEN_PATH)[0];
    assert_eq!(
        exchange.form_field("grant_type"),
        Some("authorization_code")
    );
    assert!(
        exchange
            .form_field("code_verifier")
            .is_some_and(|v| v.len() == 43)
    );
    assert_eq!(
        exchange.form_field("redirect_uri"),
        Some(app.redirect_uri.as_str())
    );
    assert!(
        exchange
            .content_type
            .as_deref()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn other_paths_on_the_listener_get_404_and_do_not_end_the_login() {
    let fake = FakeKakao::start().await;
    let app = loopback_app(&fake);
    let login = start_login(&app, Duration::from_secs(30)).await;

    let favicon = app.redirect_uri.join("/favicon.ico").unwrap();
    let (status, _) = browse(&favicon).await;
    assert_eq!(status, 404);
    assert!(!login.result.is_finished());

    let (status, _) = browse(&login.url).await;
    assert_eq!(status, 200);
    assert!(login.result.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_pasted_redirect_url_completes_the_login_without_a_listener() {
    let fake = FakeKakao::start().await;
    // Not loopback: nothing can listen, pasting is the only way back.
    let app = app_for(&fake, "https://example.com/kakao/callback");
    let mut login = start_login(&app, Duration::from_secs(30)).await;

    let location = fake
        .visit_authorize(login.url.as_str())
        .expect("the fake redirects");
    assert!(location.starts_with("https://example.com/kakao/callback?code="));
    login.stdin.write_all(b"\n").await.unwrap(); // a stray Enter is ignored
    login
        .stdin
        .write_all(format!("{location}\n").as_bytes())
        .await
        .unwrap();

    let tokens = login.result.await.unwrap().expect("login succeeds");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![tokens.refresh_token.expose_secret().to_string()]
    );
}

#[tokio::test]
async fn a_pasted_bare_code_is_accepted() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let mut login = start_login(&app, Duration::from_secs(30)).await;
    let location = Url::parse(&fake.visit_authorize(login.url.as_str()).unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    login
        .stdin
        .write_all(format!("{code}\n").as_bytes())
        .await
        .unwrap();
    assert!(login.result.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_redirect_with_the_wrong_state_is_refused_in_the_browser_and_the_login_waits_on() {
    let fake = FakeKakao::start().await;
    let app = loopback_app(&fake);
    let login = start_login(&app, Duration::from_secs(30)).await;

    let forged = app
        .redirect_uri
        .join("/callback?code=fakeCODE000001x&state=not-ours")
        .unwrap();
    let (status, page) = browse(&forged).await;
    assert_eq!(status, 400);
    assert!(page.contains("state does not match"), "{page}");
    assert!(
        !login.result.is_finished(),
        "a forged redirect ends nothing"
    );
    assert_eq!(
        fake.count(TOKEN_PATH),
        0,
        "no exchange for a forged redirect"
    );

    let (status, page) = browse(&login.url).await;
    assert_eq!(status, 200, "{page}");
    assert!(login.result.await.unwrap().is_ok());
}

#[tokio::test]
async fn cancelling_on_the_consent_screen_is_access_denied_with_kakaos_description() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.deny_consent = true);
    let app = loopback_app(&fake);
    let login = start_login(&app, Duration::from_secs(30)).await;

    let (status, page) = browse(&login.url).await;
    assert_eq!(status, 400);
    assert!(page.contains("cancelled"), "{page}");
    let err = login.result.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "login was cancelled on Kakao's consent screen (User denied access)"
    );
    assert_eq!(err.exit(), Exit::Login);
}

#[tokio::test]
async fn no_redirect_before_the_timeout_is_its_own_error() {
    let fake = FakeKakao::start().await;
    let app = loopback_app(&fake);
    let login = start_login(&app, Duration::from_millis(50)).await;
    let err = login.result.await.unwrap().unwrap_err();
    assert!(matches!(err, AuthError::Timeout { .. }), "{err}");
    assert_eq!(err.to_string(), "no login redirect arrived within 50ms");
    // --no-browser was given: the hint points at the console settings, not at the flag.
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("KOE006") && !hint.contains("--no-browser"),
        "{hint}"
    );
    drop(login.stdin);
}

#[tokio::test]
async fn the_code_exchange_needs_the_matching_pkce_verifier() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let clock = TestClock::new();
    let code_for = |request: &auth::LoginRequest| {
        let location = Url::parse(&fake.visit_authorize(request.url.as_str()).unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        SecretString::from(code)
    };

    let request = auth::LoginRequest::new(&app, &[]).unwrap();
    let code = code_for(&request);
    let wrong = SecretString::from("x".repeat(43));
    let err = auth::exchange_code(&app, &http(), &code, &wrong, &*clock)
        .await
        .unwrap_err();
    match &err {
        AuthError::Kakao(rejection) => assert_eq!(rejection.code(), Some(KOE_PKCE)),
        other => panic!("expected a Kakao rejection, got {other}"),
    }
    assert!(!err.to_string().contains(code.expose_secret()), "{err}");

    let request = auth::LoginRequest::new(&app, &[]).unwrap();
    let code = code_for(&request);
    let tokens = auth::exchange_code(&app, &http(), &code, &request.verifier, &*clock)
        .await
        .expect("the right verifier works");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![tokens.refresh_token.expose_secret().to_string()]
    );

    // The same code twice: KOE320, which means "log in again".
    let err = auth::exchange_code(&app, &http(), &code, &request.verifier, &*clock)
        .await
        .unwrap_err();
    assert_eq!(err.exit(), Exit::Login);
    assert!(err.to_string().contains("KOE320"), "{err}");
    assert!(!format!("{err} {err:?}").contains(code.expose_secret()));
}

#[tokio::test]
async fn a_missing_client_secret_is_koe010_and_the_stored_one_is_used_for_refresh() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.client_secret = Some("s3cret".into()));
    let mut app = app_for(&fake, "https://example.com/cb");
    let clock = TestClock::new();

    let request = auth::LoginRequest::new(&app, &[]).unwrap();
    let location = Url::parse(&fake.visit_authorize(request.url.as_str()).unwrap()).unwrap();
    let code = SecretString::from(
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned(),
    );
    let err = auth::exchange_code(&app, &http(), &code, &request.verifier, &*clock)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KOE010"), "{err}");
    assert!(err.hint().unwrap().contains("KBOT_CLIENT_SECRET"));

    app.client_secret = Some(SecretString::from("s3cret"));
    let request = auth::LoginRequest::new(&app, &[]).unwrap();
    let location = Url::parse(&fake.visit_authorize(request.url.as_str()).unwrap()).unwrap();
    let code = SecretString::from(
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned(),
    );
    let mut tokens = auth::exchange_code(&app, &http(), &code, &request.verifier, &*clock)
        .await
        .expect("login with the secret");
    assert_eq!(
        tokens.client_secret.as_ref().unwrap().expose_secret(),
        "s3cret"
    );

    // A later process without KBOT_CLIENT_SECRET refreshes with the stored secret.
    let dir = tempfile::tempdir().unwrap();
    tokens.access_token_expires_at = Some(clock.now() - TimeDelta::minutes(1));
    session::save_login(&store_in(dir.path(), &app), dir.path(), &tokens)
        .await
        .unwrap();
    app.client_secret = None;
    let session = session(&app, dir.path(), &clock);
    session
        .access_token()
        .await
        .expect("refresh with the stored secret");
    let refresh = fake.requests_to(TOKEN_PATH).pop().unwrap();
    assert_eq!(refresh.form_field("grant_type"), Some("refresh_token"));
    assert_eq!(refresh.form_field("client_secret"), Some("s3cret"));
}

#[tokio::test]
async fn a_fresh_access_token_is_reused_without_calling_kakao() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, TimeDelta::hours(6));
    store_in(dir.path(), &app).save(&tokens).await.unwrap();

    let session = session(&app, dir.path(), &clock);
    let at = session.access_token().await.unwrap();
    clock.advance(TimeDelta::hours(5)); // 1 h left: still more than 5 minutes
    let again = session.access_token().await.unwrap();
    assert_eq!(
        at.expose_secret(),
        tokens.access_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(again.expose_secret(), at.expose_secret());
    assert_eq!(fake.count(TOKEN_PATH), 0);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_exactly_once() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, TimeDelta::minutes(4)); // inside the 5-minute margin
    store_in(dir.path(), &app).save(&tokens).await.unwrap();

    let session = session(&app, dir.path(), &clock);
    let first = session.access_token().await.unwrap();
    let second = session.access_token().await.unwrap();
    assert_eq!(fake.count(TOKEN_PATH), 1);
    assert_ne!(
        first.expose_secret(),
        tokens.access_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(first.expose_secret(), second.expose_secret());

    // The new access token is in the store for the next process, the refresh token kept.
    let stored = store_in(dir.path(), &app).load().await.unwrap().unwrap();
    assert_eq!(
        stored.access_token.unwrap().expose_secret(),
        first.expose_secret()
    );
    assert_eq!(
        stored.refresh_token.expose_secret(),
        tokens.refresh_token.expose_secret()
    );
    assert_eq!(
        stored.refresh_token_expires_at,
        tokens.refresh_token_expires_at
    );
    assert_eq!(
        stored.access_token_expires_at,
        Some(clock.now() + TimeDelta::hours(6))
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_saved_and_the_old_one_never_sent_again() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, TimeDelta::minutes(1));
    let old_rt = tokens.refresh_token.expose_secret().to_string();
    store_in(dir.path(), &app).save(&tokens).await.unwrap();
    fake.advance(31 * DAY); // the refresh token is in its last month: Kakao rotates it

    let session = session(&app, dir.path(), &clock);
    session.access_token().await.unwrap();
    let stored = store_in(dir.path(), &app).load().await.unwrap().unwrap();
    let new_rt = stored.refresh_token.expose_secret().to_string();
    assert_ne!(new_rt, old_rt);
    assert_eq!(fake.valid_refresh_tokens(), vec![new_rt.clone()]);
    assert_eq!(
        stored.refresh_token_expires_at,
        Some(clock.now() + TimeDelta::seconds(5_184_000))
    );

    // Later refreshes (expiry, keep-alive, a -401) all present the new one.
    clock.advance(TimeDelta::hours(6));
    fake.expire_access_tokens();
    session.access_token().await.unwrap();
    let refreshed = session.keep_alive().await.unwrap();
    assert!(!refreshed.rotated);
    let current = session.access_token().await.unwrap();
    session.refresh_after_rejection(&current).await.unwrap();
    assert_eq!(
        refresh_tokens_sent(&fake),
        vec![old_rt.clone(), new_rt.clone(), new_rt.clone(), new_rt]
    );
    assert!(!fake.saw_error_code("KOE322"));
}

#[tokio::test]
async fn two_sessions_refreshing_at_once_share_one_refresh_and_one_valid_refresh_token() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, -TimeDelta::minutes(1));
    store_in(dir.path(), &app).save(&tokens).await.unwrap();
    fake.advance(40 * DAY); // rotation: a second refresh with the old token would be KOE322

    // Two sessions = two processes: separate stores, separate lock file handles.
    let a = session(&app, dir.path(), &clock);
    let b = session(&app, dir.path(), &clock);
    let (at_a, at_b) = tokio::join!(a.access_token(), b.access_token());
    let (at_a, at_b) = (at_a.expect("a succeeds"), at_b.expect("b succeeds"));

    assert_eq!(at_a.expose_secret(), at_b.expose_secret());
    assert_eq!(
        fake.count(TOKEN_PATH),
        1,
        "the second waited for the lock and reused"
    );
    assert!(!fake.saw_error_code("KOE322"));
    let stored = store_in(dir.path(), &app).load().await.unwrap().unwrap();
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![stored.refresh_token.expose_secret().to_string()]
    );
}

#[tokio::test]
async fn after_a_401_a_token_another_process_saved_is_used_without_refreshing() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, TimeDelta::hours(3));
    store_in(dir.path(), &app).save(&tokens).await.unwrap();
    let session = session(&app, dir.path(), &clock);
    let rejected = session.access_token().await.unwrap();

    // Another process refreshed and saved a new token meanwhile.
    let other = refreshed_elsewhere(&app, dir.path(), &clock).await;
    let token = session.refresh_after_rejection(&rejected).await.unwrap();
    assert_eq!(token.expose_secret(), other.expose_secret());
    assert_eq!(
        fake.count(TOKEN_PATH),
        1,
        "only the other process refreshed"
    );

    // Rejected again with the newest token: now it refreshes.
    let newest = session.refresh_after_rejection(&token).await.unwrap();
    assert_ne!(newest.expose_secret(), token.expose_secret());
    assert_eq!(fake.count(TOKEN_PATH), 2);
}

/// Another process (its own Session) refreshes and saves; returns the access token it saved.
async fn refreshed_elsewhere(
    app: &App,
    dir: &std::path::Path,
    clock: &Arc<TestClock>,
) -> SecretString {
    session(app, dir, clock).keep_alive().await.unwrap();
    let stored = store_in(dir, app).load().await.unwrap().unwrap();
    stored.access_token.unwrap()
}

#[tokio::test]
async fn a_rejected_refresh_token_means_exit_3_and_kbot_login() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    store_in(dir.path(), &app)
        .save(&logged_in(&fake, &clock, -TimeDelta::hours(1)))
        .await
        .unwrap();
    fake.revoke_all(); // e.g. the user unlinked the app

    let err = session(&app, dir.path(), &clock)
        .access_token()
        .await
        .unwrap_err();
    assert!(fake.saw_error_code("KOE322"));
    assert!(matches!(err, AuthError::RefreshRejected { .. }), "{err}");
    let err: kbot::Error = err.into();
    assert_eq!(err.exit(), Exit::Login);
    assert_eq!(err.hint().as_deref(), Some("kbot login"));
}

#[tokio::test]
async fn without_a_login_access_token_is_not_logged_in() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let err = session(&app, dir.path(), &clock)
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NotLoggedIn { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Login);
    assert_eq!(err.hint().as_deref(), Some("kbot login"));
    assert_eq!(fake.count(TOKEN_PATH), 0);
}

#[tokio::test]
async fn login_is_remembered_and_logout_with_revoke_hands_back_a_live_token() {
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let mut tokens = logged_in(&fake, &clock, TimeDelta::hours(6));
    tokens.nickname = Some("홍길동".into());
    session::save_login(&store_in(dir.path(), &app), dir.path(), &tokens)
        .await
        .unwrap();
    assert_eq!(
        secrets::resolve(dir.path(), None, StoreKind::Keyring).unwrap(),
        StoreKind::File,
        "later processes use the store login used"
    );

    let session = session(&app, dir.path(), &clock);
    let status = session.status().await.unwrap();
    assert!(status.logged_in && !status.needs_attention);
    assert_eq!(status.nickname.as_deref(), Some("홍길동"));
    assert_eq!(
        status.secret_store,
        format!("file {}", dir.path().join("secrets.json").display())
    );

    assert_eq!(session.logout().await.unwrap(), session::LoggedOut::Removed);
    assert!(store_in(dir.path(), &app).load().await.unwrap().is_none());
    // The store stays remembered: later commands look there and find no login, rather
    // than asking a store the login never used.
    assert_eq!(
        secrets::remembered(dir.path()).unwrap(),
        Some(StoreKind::File)
    );
    assert_eq!(
        session.logout().await.unwrap(),
        session::LoggedOut::NothingStored
    );
}

#[tokio::test]
async fn a_daemon_keeps_a_rotated_token_it_cannot_save_uses_it_and_saves_it_once_it_can() {
    use std::os::unix::fs::DirBuilderExt;
    let fake = FakeKakao::start().await;
    let app = app_for(&fake, "https://example.com/cb");
    let (dir, clock) = (tempfile::tempdir().unwrap(), TestClock::new());
    let tokens = logged_in(&fake, &clock, TimeDelta::minutes(1));
    store_in(dir.path(), &app).save(&tokens).await.unwrap();
    fake.advance(31 * DAY); // Kakao rotates the refresh token at the next refresh
    let mut session = session(&app, dir.path(), &clock);
    session.hold_unsaved_tokens();
    session.set_save_retry(Duration::from_millis(20));

    // While Kakao answers (slowly), the secrets file stops being writable.
    fake.configure(|c| c.delay = Duration::from_millis(200));
    let file = dir.path().join(secrets::SECRETS_FILE);
    let aside = dir.path().join("aside");
    let refresh = tokio::spawn(async move {
        let token = session.access_token().await;
        (session, token)
    });
    while fake.count(TOKEN_PATH) == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    std::fs::rename(&file, &aside).unwrap();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&file)
        .unwrap();
    let (session, token) = refresh.await.unwrap();
    fake.configure(|c| c.delay = Duration::ZERO);

    // The daemon goes on with the new token instead of failing, and says it holds one.
    let token = token.expect("the daemon keeps working with the unsaved token");
    assert!(
        fake.access_tokens()
            .iter()
            .any(|t| t.valid && t.token == token.expose_secret())
    );
    assert!(session.has_unsaved_tokens());
    assert!(
        secrets::is_refresh_result_lost(dir.path()),
        "status would warn"
    );
    let new_rt = fake.valid_refresh_tokens();
    assert_eq!(
        new_rt.len(),
        1,
        "the stored token is dead; only the held one works"
    );

    // The disk is fixed: the retry saves the held token without being asked.
    std::fs::remove_dir(&file).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    let saved = async {
        loop {
            let stored = store_in(dir.path(), &app).load().await.unwrap().unwrap();
            if stored.refresh_token.expose_secret() == new_rt[0] && !session.has_unsaved_tokens() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), saved)
        .await
        .expect("the held token is saved once the store takes it");
    assert!(!secrets::is_refresh_result_lost(dir.path()));
    assert_eq!(fake.count(TOKEN_PATH), 1, "saved without another refresh");
}
