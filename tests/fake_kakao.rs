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

// ---------------------------------------------------------------------------------------
// The fake: friends, messages, quotas, faults

fn text_template(text: &str) -> Value {
    serde_json::json!({
        "object_type": "text",
        "text": text,
        "link": {"web_url": "https://example.ac.kr/menu", "mobile_web_url": "https://example.ac.kr/menu"},
        "button_title": "메뉴 보기",
    })
}

/// POSTs a form to a kapi path with a bearer token; returns (status, JSON body).
async fn kapi_post(
    fake: &FakeKakao,
    path: &str,
    access_token: &str,
    form: &[(&str, String)],
) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", fake.url()))
        .bearer_auth(access_token)
        .form(form)
        .send()
        .await
        .expect("kapi request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("kapi answers JSON"))
}

async fn send_friends(fake: &FakeKakao, access_token: &str, uuids: &[&str]) -> (u16, Value) {
    kapi_post(
        fake,
        FRIENDS_SEND,
        access_token,
        &[
            (
                "receiver_uuids",
                serde_json::to_string(uuids).expect("json"),
            ),
            ("template_object", text_template("점심 메뉴").to_string()),
        ],
    )
    .await
}

const FRIENDS: &str = "/v1/api/talk/friends";
const MEMO: &str = "/v2/api/talk/memo/default/send";
const FRIENDS_SEND: &str = "/v1/api/talk/friends/message/default/send";

#[tokio::test]
async fn friends_pages_link_to_each_other_with_the_same_parameters() {
    let fake = FakeKakao::start().await;
    for i in 0..250 {
        fake.add_friend(&format!("uuid{i:03}"), &format!("친구{i:03}"), true);
    }
    fake.set_favorite("uuid200", true);
    let at = fake.issue_tokens().access_token;
    let (status, first) = kapi_get(
        &fake,
        &format!("{FRIENDS}?offset=0&limit=100&order=asc&friend_order=favorite"),
        &at,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(first["total_count"], 250);
    assert_eq!(first["favorite_count"], 1);
    assert_eq!(first["elements"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        first["elements"][0]["uuid"], "uuid200",
        "favourites come first"
    );
    assert_eq!(first["before_url"], Value::Null);
    let after = first["after_url"].as_str().expect("after_url");
    assert_eq!(
        after,
        format!(
            "{}{FRIENDS}?offset=100&limit=100&order=asc&friend_order=favorite",
            fake.url()
        )
    );
    let (_, last) = kapi_get(&fake, &format!("{FRIENDS}?offset=200&limit=100"), &at).await;
    assert_eq!(last["elements"].as_array().map(Vec::len), Some(50));
    assert_eq!(last["after_url"], Value::Null);
    assert_eq!(
        last["before_url"].as_str(),
        Some(format!("{}{FRIENDS}?offset=100&limit=100&order=asc", fake.url()).as_str())
    );
}

#[tokio::test]
async fn friends_limit_over_100_is_minus_2_and_missing_consent_is_minus_402() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let (status, body) = kapi_get(&fake, &format!("{FRIENDS}?limit=101"), &at).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-2)));
    fake.configure(|c| c.scopes = vec!["talk_message".into()]);
    let (status, body) = kapi_get(&fake, FRIENDS, &at).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], -402);
    assert_eq!(body["required_scopes"], serde_json::json!(["friends"]));
    assert_eq!(body["api_type"], "FRIENDS");
    assert_eq!(body["allowed_scopes"], serde_json::json!(["talk_message"]));
}

#[tokio::test]
async fn a_scope_disabled_in_the_console_is_minus_3() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.disabled_scopes = vec!["talk_message".into()]);
    let at = fake.issue_tokens().access_token;
    let (status, body) = kapi_post(
        &fake,
        MEMO,
        &at,
        &[("template_object", text_template("hi").to_string())],
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (403, Some(-3)));
    assert!(fake.delivered().is_empty());
}

#[tokio::test]
async fn send_to_me_records_the_template_and_answers_result_code_0() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let template = text_template("오늘의 점심: 비빔밥");
    let (status, body) = kapi_post(
        &fake,
        MEMO,
        &at,
        &[("template_object", template.to_string())],
    )
    .await;
    assert_eq!((status, body), (200, serde_json::json!({"result_code": 0})));
    assert_eq!(fake.delivered_to("me"), vec![template]);
}

#[tokio::test]
async fn send_to_me_rejects_bad_templates_and_json_bodies_with_minus_2() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let no_link = serde_json::json!({"object_type": "text", "text": "hi"});
    let one_content = serde_json::json!({
        "object_type": "list", "header_title": "점심", "header_link": {},
        "contents": [{"title": "a", "link": {}}],
    });
    for bad in [
        no_link.to_string(),
        one_content.to_string(),
        "[1,2]".into(),
        "not json".into(),
    ] {
        let (status, body) = kapi_post(&fake, MEMO, &at, &[("template_object", bad.clone())]).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(-2)), "{bad}");
    }
    let response = http()
        .post(format!("{}{MEMO}", fake.url()))
        .bearer_auth(&at)
        .json(&serde_json::json!({"template_object": text_template("hi")}))
        .send()
        .await
        .expect("memo request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], -2);
    assert!(fake.delivered().is_empty());
}

#[tokio::test]
async fn text_over_200_characters_is_accepted_or_rejected_as_configured() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let long = text_template(&"밥".repeat(201)).to_string();
    let exactly = text_template(&"밥".repeat(200)).to_string();
    assert_eq!(
        kapi_post(&fake, MEMO, &at, &[("template_object", long.clone())])
            .await
            .0,
        200
    );
    fake.configure(|c| c.long_text = support::fake_kakao::LongText::Reject);
    let (status, body) = kapi_post(&fake, MEMO, &at, &[("template_object", long)]).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-2)));
    assert_eq!(
        kapi_post(&fake, MEMO, &at, &[("template_object", exactly)])
            .await
            .0,
        200
    );
    assert_eq!(fake.delivered_to("me").len(), 2);
}

#[tokio::test]
async fn send_to_friends_allows_at_most_5_receivers() {
    let fake = FakeKakao::start().await;
    let uuids: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    for uuid in &uuids {
        fake.add_friend(uuid, uuid, true);
    }
    let at = fake.issue_tokens().access_token;
    let six: Vec<&str> = uuids.iter().map(String::as_str).collect();
    let (status, body) = send_friends(&fake, &at, &six).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-2)));
    assert!(fake.delivered().is_empty());
    let (status, body) = send_friends(&fake, &at, &six[..5]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["successful_receiver_uuids"],
        serde_json::json!(six[..5])
    );
    assert!(body.get("failure_info").is_none());
}

#[tokio::test]
async fn an_unknown_receiver_fails_the_whole_call_with_minus_2() {
    let fake = FakeKakao::start().await;
    fake.add_friend("known", "친구", true);
    let at = fake.issue_tokens().access_token;
    let (status, body) = send_friends(&fake, &at, &["known", "stranger"]).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], -2);
    assert_eq!(
        body["msg"],
        "Not allowed to send a message to some of receivers."
    );
    assert!(fake.delivered().is_empty());
}

#[tokio::test]
async fn a_friend_who_blocks_messages_gets_minus_530_plain_alone_and_in_failure_info_with_others() {
    let fake = FakeKakao::start().await;
    fake.add_friend("open", "열림", true);
    fake.add_friend("closed", "닫힘", false);
    let at = fake.issue_tokens().access_token;
    let (status, body) = send_friends(&fake, &at, &["closed"]).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-530)));
    assert!(body.get("failure_info").is_none());
    let (status, body) = send_friends(&fake, &at, &["open", "closed"]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["successful_receiver_uuids"],
        serde_json::json!(["open"])
    );
    assert_eq!(body["failure_info"][0]["code"], -530);
    assert_eq!(
        body["failure_info"][0]["receiver_uuids"],
        serde_json::json!(["closed"])
    );
    assert_eq!(fake.delivered_to("open").len(), 1);
    assert!(fake.delivered_to("closed").is_empty());
}

#[tokio::test]
async fn daily_quotas_per_sender_receiver_and_pair_reset_the_next_day() {
    let fake = FakeKakao::start().await;
    for uuid in ["a", "b", "c"] {
        fake.add_friend(uuid, uuid, true);
    }
    let at = fake.issue_tokens().access_token;

    fake.configure(|c| c.pair_daily_quota = 1);
    assert_eq!(send_friends(&fake, &at, &["a"]).await.0, 200);
    assert_eq!(send_friends(&fake, &at, &["a"]).await.1["code"], -536);

    fake.configure(|c| {
        c.pair_daily_quota = 20;
        c.receiver_daily_quota = 1;
    });
    assert_eq!(send_friends(&fake, &at, &["a"]).await.1["code"], -533);

    fake.configure(|c| {
        c.receiver_daily_quota = 100;
        c.sender_daily_quota = 2;
    });
    assert_eq!(send_friends(&fake, &at, &["b"]).await.0, 200);
    let (status, body) = send_friends(&fake, &at, &["b", "c"]).await;
    assert_eq!(status, 200);
    assert_eq!(body["failure_info"][0]["code"], -532);
    assert_eq!(
        body["failure_info"][0]["receiver_uuids"],
        serde_json::json!(["b", "c"])
    );

    fake.advance(DAY);
    let at = fake.issue_tokens().access_token; // yesterday's expired after 6 h
    assert_eq!(send_friends(&fake, &at, &["c"]).await.0, 200);
    assert!(
        fake.saw_error_code("-532") && fake.saw_error_code("-533") && fake.saw_error_code("-536")
    );
}

#[tokio::test]
async fn injected_faults_fire_in_order_once_each_on_their_path() {
    use support::fake_kakao::Fault;
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject("/v2/user/me", Fault::ServerError);
    fake.inject(
        "/v2/user/me",
        Fault::Code {
            status: 400,
            code: -7,
            msg: "service under maintenance".into(),
        },
    );
    fake.inject("/v2/user/me", Fault::Reset);
    assert_eq!(
        kapi_get(&fake, "/v1/user/access_token_info", &at).await.0,
        200,
        "other paths unaffected"
    );
    let (status, body) = kapi_get(&fake, "/v2/user/me", &at).await;
    assert_eq!(
        (status, body),
        (
            500,
            serde_json::json!({"code": -1, "msg": "internal error"})
        )
    );
    let (status, body) = kapi_get(&fake, "/v2/user/me", &at).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-7)));
    let reset = http()
        .get(format!("{}/v2/user/me", fake.url()))
        .bearer_auth(&at)
        .send()
        .await;
    assert!(
        reset.is_err(),
        "a reset connection gives no response: {reset:?}"
    );
    assert_eq!(kapi_get(&fake, "/v2/user/me", &at).await.0, 200);
    assert_eq!(fake.pending_faults(), 0);
    assert_eq!(fake.count("/v2/user/me"), 4);
}

#[tokio::test]
async fn reset_after_recording_delivers_but_the_client_sees_an_error() {
    use support::fake_kakao::Fault;
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject(MEMO, Fault::ResetAfterRecording);
    let result = http()
        .post(format!("{}{MEMO}", fake.url()))
        .bearer_auth(&at)
        .form(&[("template_object", text_template("hi").to_string())])
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(fake.delivered_to("me").len(), 1);
}

#[tokio::test]
async fn the_global_delay_holds_every_answer() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.configure(|c| c.delay = Duration::from_millis(30));
    let started = std::time::Instant::now();
    assert_eq!(kapi_get(&fake, "/v2/user/me", &at).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

// ---------------------------------------------------------------------------------------
// The client against the fake

use kbot::kakao::{self, Client, FriendsSend, Retry};
use support::fake_kakao::Fault;

fn client(fake: &FakeKakao) -> Client {
    client_with(fake, fast_retry(3), Timeouts::default())
}

fn fast_retry(attempts: u32) -> Retry {
    Retry {
        attempts,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    }
}

fn client_with(fake: &FakeKakao, retry: Retry, timeouts: Timeouts) -> Client {
    Client::new(
        kbot::http::client(timeouts),
        url::Url::parse(&fake.url()).expect("fake url"),
        retry,
    )
}

#[tokio::test]
async fn client_reads_the_user_and_token_info_and_logs_out() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let kakao = client(&fake);
    let me = kakao.me(&at).await.expect("me");
    assert_eq!(
        (me.id, me.nickname.as_deref()),
        (fake.config().user_id, Some("홍길동"))
    );
    let info = kakao.token_info(&at).await.expect("token info");
    assert_eq!(info.id, Some(fake.config().user_id));
    assert!(info.expires_in <= fake.config().access_lifetime);
    assert!(info.expires_in >= fake.config().access_lifetime - Duration::from_secs(5));
    kakao.logout(&at).await.expect("logout");
    assert!(fake.valid_refresh_tokens().is_empty());
    let err = kakao.me(&at).await.expect_err("token revoked");
    assert!(err.is_invalid_token(), "{err:?}");
}

#[tokio::test]
async fn client_friends_returns_every_page() {
    let fake = FakeKakao::start().await;
    for i in 0..250 {
        fake.add_friend(&format!("uuid{i:03}"), &format!("친구{i:03}"), i % 7 != 0);
    }
    let at = fake.issue_tokens().access_token;
    let friends = client(&fake).friends(&at).await.expect("friends");
    assert_eq!(friends.len(), 250);
    let mut uuids: Vec<&str> = friends.iter().map(|f| f.uuid.as_str()).collect();
    uuids.sort_unstable();
    uuids.dedup();
    assert_eq!(uuids.len(), 250);
    assert!(
        friends
            .iter()
            .any(|f| f.uuid == "uuid007" && !f.allowed_msg)
    );
    let pages = fake.requests_to(FRIENDS);
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|p| p.query_param("limit") == Some("100")));
    assert_eq!(pages[2].query_param("offset"), Some("200"));
}

#[tokio::test]
async fn client_sends_form_encoded_with_a_bearer_header() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let template = text_template("아침: 토스트");
    client(&fake)
        .send_to_me(&at, &template)
        .await
        .expect("sent");
    assert_eq!(fake.delivered_to("me"), vec![template.clone()]);
    let seen = &fake.requests_to(MEMO)[0];
    assert!(
        seen.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    );
    assert_eq!(seen.authorization, Some(format!("Bearer {at}")));
    let sent: Value = serde_json::from_str(seen.form_field("template_object").expect("field"))
        .expect("json string");
    assert_eq!(sent, template);
    assert!(!seen.path.contains(&at) && seen.query.iter().all(|(_, v)| v != &at));
}

#[tokio::test]
async fn client_maps_partial_failures_to_each_recipient() {
    let fake = FakeKakao::start().await;
    fake.add_friend("ok1", "하나", true);
    fake.add_friend("blocked", "둘", false);
    fake.add_friend("ok2", "셋", true);
    let at = fake.issue_tokens().access_token;
    let uuids: Vec<String> = ["ok1", "blocked", "ok2"].map(String::from).to_vec();
    let FriendsSend { delivered, failed } = client(&fake)
        .send_to_friends(&at, &uuids, &text_template("저녁"))
        .await
        .expect("partial success is Ok");
    assert_eq!(delivered, vec!["ok1", "ok2"]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "blocked");
    assert_eq!(failed[0].1.code, -530);
    let seen = &fake.requests_to(FRIENDS_SEND)[0];
    assert_eq!(
        seen.form_field("receiver_uuids"),
        Some(r#"["ok1","blocked","ok2"]"#)
    );
}

#[tokio::test]
async fn client_surfaces_a_single_receivers_failure_as_an_api_error() {
    let fake = FakeKakao::start().await;
    fake.add_friend("blocked", "둘", false);
    let at = fake.issue_tokens().access_token;
    let err = client(&fake)
        .send_to_friends(&at, &["blocked".to_string()], &text_template("저녁"))
        .await
        .expect_err("a single receiver's failure is an error");
    assert!(
        matches!(
            err,
            kakao::Error::Api {
                status: 400,
                code: -530,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.count(FRIENDS_SEND), 1, "-530 is not retried");
    assert!(kbot::Report::hint(&err).is_some_and(|h| h.contains("blocks messages")));
}

#[tokio::test]
async fn client_refuses_more_than_5_receivers_without_a_request() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    let uuids: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let err = client(&fake)
        .send_to_friends(&at, &uuids, &text_template("x"))
        .await
        .expect_err("too many");
    assert!(matches!(err, kakao::Error::TooManyReceivers(6)));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn client_retries_a_burst_of_server_errors_to_success() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject(MEMO, Fault::ServerError);
    fake.inject(MEMO, Fault::ServerError);
    client(&fake)
        .send_to_me(&at, &text_template("x"))
        .await
        .expect("third try succeeds");
    assert_eq!(fake.count(MEMO), 3);
    assert_eq!(fake.delivered_to("me").len(), 1);
}

#[tokio::test]
async fn client_gives_up_after_the_configured_attempts() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    for _ in 0..3 {
        fake.inject(
            "/v2/user/me",
            Fault::Code {
                status: 400,
                code: -7,
                msg: "maintenance".into(),
            },
        );
    }
    let err = client(&fake).me(&at).await.expect_err("still failing");
    assert_eq!(err.code(), Some(-7));
    assert_eq!(fake.count("/v2/user/me"), 3);
}

#[tokio::test]
async fn client_retries_a_reset_connection() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject("/v2/user/me", Fault::Reset);
    let me = client(&fake).me(&at).await.expect("second try succeeds");
    assert_eq!(me.id, fake.config().user_id);
    assert_eq!(fake.count("/v2/user/me"), 2);
}

#[tokio::test]
async fn client_retries_a_response_slower_than_its_timeout() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject("/v2/user/me", Fault::Slow(Duration::from_secs(30)));
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        total: Duration::from_millis(100),
    };
    // Spare attempts: on a loaded machine a normal answer may also miss 100 ms now and then.
    let me = client_with(&fake, fast_retry(5), timeouts)
        .me(&at)
        .await
        .expect("retry succeeds");
    assert_eq!(me.id, fake.config().user_id);
    assert!(
        fake.count("/v2/user/me") >= 2,
        "the hung first call was retried"
    );
}

#[tokio::test]
async fn a_reset_after_delivery_is_an_error_the_client_does_not_retry_itself() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.inject(MEMO, Fault::ResetAfterRecording);
    let err = client_with(&fake, fast_retry(1), Timeouts::default())
        .send_to_me(&at, &text_template("x"))
        .await
        .expect_err("no answer");
    assert!(matches!(err, kakao::Error::Network { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(
        fake.delivered_to("me").len(),
        1,
        "Kakao got it although the client cannot know"
    );

    // A send that may have reached Kakao is not retried by the client (the
    // caller counts it in the ledger and retries it at most once).
    assert!(err.may_have_arrived());
    fake.inject(MEMO, Fault::ResetAfterRecording);
    let again = client(&fake)
        .send_to_me(&at, &text_template("x"))
        .await
        .expect_err("no answer, no retry");
    assert!(again.may_have_arrived());
    assert_eq!(fake.delivered_to("me").len(), 2, "one copy per call");
}

#[tokio::test]
async fn client_does_not_retry_a_quota_error() {
    let fake = FakeKakao::start().await;
    fake.add_friend("a", "a", true);
    fake.configure(|c| c.sender_daily_quota = 0);
    let at = fake.issue_tokens().access_token;
    let err = client(&fake)
        .send_to_friends(&at, &["a".to_string()], &text_template("x"))
        .await
        .expect_err("quota");
    assert_eq!(err.code(), Some(-532));
    assert!(!err.is_retryable());
    assert_eq!(fake.count(FRIENDS_SEND), 1);
    assert!(kbot::Report::hint(&err).is_some_and(|h| h.contains("tomorrow")));
}

#[tokio::test]
async fn client_reports_an_invalid_token_for_login() {
    let fake = FakeKakao::start().await;
    let at = fake.issue_tokens().access_token;
    fake.expire_access_tokens();
    let err = client(&fake).friends(&at).await.expect_err("expired");
    assert!(err.is_invalid_token());
    assert_eq!(kbot::Report::exit(&err), kbot::Exit::Login);
    assert_eq!(fake.count(FRIENDS), 1, "-401 is not retried");
    assert!(!err.to_string().contains(&at), "{err}");
}

#[tokio::test]
async fn client_reports_missing_consent_with_the_required_scopes() {
    let fake = FakeKakao::start().await;
    fake.configure(|c| c.scopes = vec!["profile_nickname".into()]);
    let at = fake.issue_tokens().access_token;
    let err = client(&fake)
        .send_to_me(&at, &text_template("x"))
        .await
        .expect_err("-402");
    assert_eq!(err.needs_consent(), Some(&["talk_message".to_string()][..]));
    assert_eq!(
        kbot::Report::hint(&err).as_deref(),
        Some("kbot login --scope talk_message")
    );
}

#[tokio::test]
async fn client_network_errors_name_the_endpoint_but_never_the_token() {
    let fake = FakeKakao::start().await;
    let url = fake.url();
    drop(fake);
    let listener_gone = Client::new(
        kbot::http::client(Timeouts::default()),
        url::Url::parse(&url).expect("url"),
        fast_retry(2),
    );
    let err = listener_gone
        .me("SECRET-TOKEN")
        .await
        .expect_err("nobody listens");
    let shown = kbot::Error::from(err).to_string();
    assert!(
        shown.starts_with(&format!("cannot reach kakao at {url}/v2/user/me")),
        "{shown}"
    );
    assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
}
