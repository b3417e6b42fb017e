//! Tests of the fake Kakao server itself (over real HTTP on loopback), and of
//! `kbot::kakao::Client` against it.
//!
//! The fake is what every end-to-end test of kbot trusts, so each rule of kakao-api.md it
//! claims to emulate is checked here from the outside, the way kbot will see it.

mod support;

use std::time::Duration;

use kbot::http::{Timeouts, oauth_client};
use serde_json::Value;
use support::fake_kakao::oauth::KOE_PKCE;
use support::fake_kakao::{FakeKakao, IssuedTokens};

const REDIRECT: &str = "http://localhost:8765/callback";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn http() -> reqwest::Client {
    oauth_client(Timeouts::default())
}

/// A fresh PKCE pair: (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}

/// Runs GET /oauth/authorize and returns the redirect's query pairs.
async fn authorize(fake: &FakeKakao, redirect_uri: &str, challenge: &str) -> Vec<(String, String)> {
    let response = http()
        .get(format!("{}/oauth/authorize", fake.url()))
        .query(&[
            ("client_id", fake.config().client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("state", "st4te"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize request");
    assert_eq!(response.status(), 302, "authorize should redirect");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii location");
    assert!(location.starts_with(redirect_uri), "{location}");
    url::Url::parse(location)
        .expect("location is a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// POSTs a form to /oauth/token; returns (status, JSON body).
async fn token(fake: &FakeKakao, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{}/oauth/token", fake.url()))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.expect("token endpoint answers JSON"),
    )
}

/// The whole code flow; returns the token response.
async fn login(fake: &FakeKakao) -> Value {
    let (verifier, challenge) = pkce();
    let redirect = authorize(fake, REDIRECT, &challenge).await;
    let code = param(&redirect, "code").expect("a code").to_string();
    let client_id = fake.config().client_id;
    let (status, body) = token(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(fake: &FakeKakao, refresh_token: &str) -> (u16, Value) {
    let client_id = fake.config().client_id;
    token(
        fake,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// GET a kapi path with a bearer token; returns (status, JSON body).
async fn kapi_get(fake: &FakeKakao, path: &str, access_token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}{path}", fake.url()))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("kapi request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("kapi answers JSON"))
}

// ---------------------------------------------------------------------------------------
// The fake: OAuth

#[tokio::test]
async fn authorize_redirects_at_once_with_a_code_and_the_same_state() {
    let fake = FakeKakao::start().await;
    let (_, challenge) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    assert!(param(&redirect, "code").is_some_and(|c| !c.is_empty()));
    assert_eq!(param(&redirect, "state"), Some("st4te"));
    let seen = fake.requests_to("/oauth/authorize");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].query_param("code_challenge"),
        Some(challenge.as_str())
    );
}

#[tokio::test]
async fn authorize_with_an_unregistered_redirect_uri_shows_koe006_instead_of_redirecting() {
    let fake = FakeKakao::start().await;
    let response = http()
        .get(format!("{}/oauth/authorize", fake.url()))
        .query(&[
            ("client_id", fake.config().client_id.as_str()),
            ("redirect_uri", "http://evil.example/cb"),
            ("response_type", "code"),
        ])
        .send()
        .await
        .expect("authorize request");
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.expect("page").contains("KOE006"));
    assert!(fake.saw_error_code("KOE006"));
}

#[tokio::test]
async fn a_user_who_cancels_is_redirected_with_access_denied_and_the_state() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.deny_consent = true);
    let response = http()
        .get(format!(
            "{}/oauth/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&state=xyz",
            fake.url(),
            fake.config().client_id
        ))
        .send()
        .await
        .expect("authorize request");
    let location = response.headers()["location"].to_str().expect("ascii");
    assert_eq!(
        location,
        format!(
            "{REDIRECT}?error=access_denied&error_description=User%20denied%20access&state=xyz"
        )
    );
}

#[tokio::test]
async fn code_exchange_answers_with_kakaos_token_shape() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| {
        c.access_lifetime = Duration::from_secs(3_600);
        c.scopes = vec!["talk_message".into(), "friends".into()];
    });
    let body = login(&fake).await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3_600);
    assert_eq!(body["refresh_token_expires_in"], 5_184_000);
    assert_eq!(body["scope"], "talk_message friends");
    let rt = body["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(fake.valid_refresh_tokens(), vec![rt.to_string()]);
    let form = &fake.requests_to("/oauth/token")[0];
    assert_eq!(form.form_field("grant_type"), Some("authorization_code"));
}

#[tokio::test]
async fn additional_consent_scopes_are_granted_and_reported() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.scopes = vec!["talk_message".into()]);
    let location = fake
        .visit_authorize(&format!(
            "{}/oauth/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&scope=friends,talk_message",
            fake.url(),
            fake.config().client_id
        ))
        .expect("a redirect");
    assert!(location.starts_with(&format!("{REDIRECT}?code=")));
    assert_eq!(fake.config().scopes, vec!["talk_message", "friends"]);
}

#[tokio::test]
async fn token_endpoint_rejects_a_json_body() {
    let fake = FakeKakao::start().await;
    let response = http()
        .post(format!("{}/oauth/token", fake.url()))
        .json(&serde_json::json!({"grant_type": "refresh_token", "client_id": fake.config().client_id}))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    assert!(fake.valid_refresh_tokens().is_empty());
}

#[tokio::test]
async fn an_authorization_code_works_once_then_is_koe320() {
    let fake = FakeKakao::start().await;
    let (verifier, challenge) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    let code = param(&redirect, "code").expect("code");
    let client_id = fake.config().client_id;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code", code),
        ("code_verifier", verifier.as_str()),
    ];
    assert_eq!(token(&fake, &form).await.0, 200);
    let (status, body) = token(&fake, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_code"], "KOE320");
    assert_eq!(fake.valid_refresh_tokens().len(), 1);
}

#[tokio::test]
async fn an_expired_code_is_koe320() {
    let fake = FakeKakao::start().await;
    let (verifier, challenge) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    fake.advance(fake.config().code_lifetime);
    let client_id = fake.config().client_id;
    let (status, body) = token(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code", param(&redirect, "code").expect("code")),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("KOE320")));
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_invalid_grant() {
    let fake = FakeKakao::start().await;
    let (_, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    let client_id = fake.config().client_id;
    for verifier in [other_verifier.as_str(), "short", ""] {
        // A fresh code each time: a presented code is burnt even when the exchange fails.
        let redirect = if verifier == other_verifier {
            redirect.clone()
        } else {
            authorize(&fake, REDIRECT, &challenge).await
        };
        let (status, body) = token(
            &fake,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("redirect_uri", REDIRECT),
                ("code", param(&redirect, "code").expect("code")),
                ("code_verifier", verifier),
            ],
        )
        .await;
        assert_eq!(status, 400, "verifier {verifier:?}");
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_code"], KOE_PKCE);
    }
    assert!(fake.valid_refresh_tokens().is_empty());
}

#[tokio::test]
async fn a_redirect_uri_that_differs_from_the_authorize_one_is_koe303() {
    let fake = FakeKakao::start().await;
    let other = "http://127.0.0.1:9999/callback";
    fake.configure(|c| c.redirect_uris.push(other.into()));
    let (verifier, challenge) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    let client_id = fake.config().client_id;
    let (status, body) = token(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("redirect_uri", other),
            ("code", param(&redirect, "code").expect("code")),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], "KOE303");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn an_enabled_client_secret_is_required_and_checked_koe010() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.client_secret = Some("s3cret".into()));
    let client_id = fake.config().client_id;
    for secret in [None, Some("wrong")] {
        let (verifier, challenge) = pkce();
        let redirect = authorize(&fake, REDIRECT, &challenge).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code", param(&redirect, "code").expect("code")),
            ("code_verifier", verifier.as_str()),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret));
        }
        let (status, body) = token(&fake, &form).await;
        assert_eq!(status, 401, "secret {secret:?}");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_code"], "KOE010");
    }
    let (verifier, challenge) = pkce();
    let redirect = authorize(&fake, REDIRECT, &challenge).await;
    let (status, _) = token(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", "s3cret"),
            ("redirect_uri", REDIRECT),
            ("code", param(&redirect, "code").expect("code")),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn refresh_before_the_last_month_gives_a_new_access_token_and_no_refresh_fields() {
    let fake = FakeKakao::start().await;
    let tokens = login(&fake).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    fake.advance(29 * DAY);
    let (status, body) = refresh(&fake, rt).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_ne!(body["access_token"], tokens["access_token"]);
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("refresh_token_expires_in").is_none(), "{body}");
    assert_eq!(fake.valid_refresh_tokens(), vec![rt.to_string()]);
}

#[tokio::test]
async fn refresh_in_the_last_month_rotates_and_the_old_refresh_token_dies_at_once() {
    let fake = FakeKakao::start().await;
    let tokens = login(&fake).await;
    let old = tokens["refresh_token"].as_str().expect("rt");
    fake.advance(31 * DAY);
    let (status, body) = refresh(&fake, old).await;
    assert_eq!(status, 200, "{body}");
    let new = body["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    assert_ne!(new, old);
    assert_eq!(body["refresh_token_expires_in"], 5_184_000);
    assert_eq!(fake.valid_refresh_tokens(), vec![new.to_string()]);

    let (status, body) = refresh(&fake, old).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({"error": "invalid_grant", "error_description": "expired_or_invalid_refresh_token", "error_code": "KOE322"})
    );
    assert_eq!(refresh(&fake, new).await.0, 200);
}

#[tokio::test]
async fn an_expired_or_unknown_refresh_token_is_koe322() {
    let fake = FakeKakao::start().await;
    let tokens = login(&fake).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(
        refresh(&fake, "no-such-token").await.1["error_code"],
        "KOE322"
    );
    fake.advance(fake.config().refresh_lifetime);
    assert_eq!(refresh(&fake, rt).await.1["error_code"], "KOE322");
    assert!(fake.saw_error_code("KOE322"));
}

#[tokio::test]
async fn issuing_more_tokens_than_the_limit_is_koe237_until_the_window_passes() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.access_issue_limit = 2);
    let tokens = login(&fake).await; // one access token
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(refresh(&fake, rt).await.0, 200); // two
    let (status, body) = refresh(&fake, rt).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], "KOE237");
    fake.advance(Duration::from_secs(10 * 60));
    assert_eq!(refresh(&fake, rt).await.0, 200);
}

// ---------------------------------------------------------------------------------------
// The fake: user endpoints and bearer checks

#[tokio::test]
async fn kapi_rejects_unknown_and_expired_access_tokens_with_401() {
    let fake = FakeKakao::start().await;
    let (status, body) = kapi_get(&fake, "/v2/user/me", "nope").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"msg": "this access token does not exist", "code": -401})
    );
    let IssuedTokens { access_token, .. } = fake.issue_tokens();
    fake.expire_access_tokens();
    let (status, body) = kapi_get(&fake, "/v1/user/access_token_info", &access_token).await;
    assert_eq!(status, 401);
    assert_eq!(body["msg"], "this access token is already expired");
    assert!(fake.saw_error_code("-401"));
}

#[tokio::test]
async fn user_me_has_the_nickname_in_properties_and_kakao_account() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.nickname = "김민수".into());
    let tokens = fake.issue_tokens();
    let (status, body) = kapi_get(&fake, "/v2/user/me", &tokens.access_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], fake.config().user_id);
    assert_eq!(body["properties"]["nickname"], "김민수");
    assert_eq!(body["kakao_account"]["profile"]["nickname"], "김민수");
    let seen = &fake.requests_to("/v2/user/me")[0];
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {}", tokens.access_token).as_str())
    );
}

#[tokio::test]
async fn token_info_reports_the_seconds_left_on_the_token() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.access_lifetime = Duration::from_secs(7_200));
    let tokens = fake.issue_tokens();
    fake.advance(Duration::from_secs(1_200));
    let (status, body) = kapi_get(&fake, "/v1/user/access_token_info", &tokens.access_token).await;
    assert_eq!(status, 200);
    let left = body["expires_in"].as_u64().expect("expires_in");
    assert!((5_998..=6_000).contains(&left), "{left}");
    assert_eq!(body["app_id"], fake.config().app_id);
    assert_eq!(body["id"], fake.config().user_id);
}

#[tokio::test]
async fn logout_revokes_every_token_of_the_user() {
    let fake = FakeKakao::start().await;
    let tokens = login(&fake).await;
    let at = tokens["access_token"].as_str().expect("at");
    let response = http()
        .post(format!("{}/v1/user/logout", fake.url()))
        .bearer_auth(at)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], fake.config().user_id);
    assert_eq!(kapi_get(&fake, "/v2/user/me", at).await.0, 401);
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(refresh(&fake, rt).await.1["error_code"], "KOE322");
    assert!(fake.valid_refresh_tokens().is_empty());
}

#[tokio::test]
async fn revoke_all_makes_kapi_answer_401_and_refresh_koe322() {
    let fake = FakeKakao::start().await;
    let tokens = fake.issue_tokens();
    fake.revoke_all();
    assert_eq!(
        kapi_get(&fake, "/v2/user/me", &tokens.access_token).await.0,
        401
    );
    assert_eq!(
        refresh(&fake, &tokens.refresh_token).await.1["error_code"],
        "KOE322"
    );
}

#[test]
fn the_fake_runs_on_its_own_thread_for_sync_tests() {
    let fake = FakeKakao::start_on_thread();
    let tokens = fake.issue_tokens();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body) = runtime.block_on(kapi_get(&fake, "/v2/user/me", &tokens.access_token));
    assert_eq!(status, 200);
    assert_eq!(body["id"], fake.config().user_id);
    assert_eq!(fake.count("/v2/user/me"), 1);
}
