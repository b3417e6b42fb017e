//! The kauth side of the fake: `GET /oauth/authorize` and `POST /oauth/token`.
//!
//! Owns the OAuth rules of kakao-api.md §1 (redirect URI registration and equality,
//! one-time codes, client secret, PKCE S256, refresh rotation in the last month, issuance
//! limits) and the KOE error bodies. Does not own tokens' storage (`state.rs`) or the kapi
//! endpoints (`api.rs`). I/O: none beyond answering the request it is given.
//!
//! Choices where kakao-api.md is silent or UNCONFIRMED, so tests can rely on them:
//! - authorize shows errors as an HTML page (status 400) naming the KOE code: KOE101 for an
//!   unknown `client_id`, KOE006 for an unregistered `redirect_uri`, KOE001 for a bad
//!   `response_type` or a PKCE method other than `S256` (`plain` is not emulated).
//! - a code is burnt when it is presented, even if the exchange then fails (RFC 6749 §4.1.2).
//! - a PKCE mismatch (or a missing/ill-formed `code_verifier` for a code issued with a
//!   challenge) is `invalid_grant` with [`KOE_PKCE`].
//! - a non-form body is `invalid_request` / KOE001; an unknown grant is
//!   `unsupported_grant_type` / KOE001; a missing `refresh_token` is KOE319.
//! - `invalid_client` (KOE101 unknown client_id, KOE010 bad secret) is HTTP 401, every
//!   other token error 400; KOE237 uses `invalid_request`.
//! - the refresh grant's answer has no `scope` (the doc's table lists none).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{Code, ROTATION_WINDOW, State as Fake, find};
use super::{Shared, is_form, json_response, lock, pairs};

/// The error code the fake uses for a PKCE verification failure (Kakao's own is unknown).
pub const KOE_PKCE: &str = "KOE343";

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token";

/// `GET /oauth/authorize`: no UI. Redirects at once with a code (or `access_denied` when
/// the test made the user refuse), or shows a KOE error page.
pub async fn authorize(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = pairs(query.unwrap_or_default().as_bytes());
    let mut fake = lock(&shared);
    match decide_authorize(&mut fake, &params) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CONTENT_LENGTH, "0".into()),
            ],
        )
            .into_response(),
        Err((koe, why)) => {
            fake.emit(AUTHORIZE_PATH, 400, koe);
            let page = format!(
                "<!doctype html><html><body><h1>Error: {koe}</h1><p>{why}</p></body></html>"
            );
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
                page,
            )
                .into_response()
        }
    }
}

/// The authorize decision: `Ok(Location)` or `Err((KOE code, reason))`.
pub fn decide_authorize(
    fake: &mut Fake,
    params: &[(String, String)],
) -> Result<String, (&'static str, String)> {
    let client_id = find(params, "client_id").unwrap_or_default();
    if client_id != fake.config.client_id {
        return Err(("KOE101", format!("invalid client_id '{client_id}'")));
    }
    let redirect_uri = find(params, "redirect_uri").unwrap_or_default();
    if !fake.config.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err((
            "KOE006",
            format!("unregistered redirect_uri '{redirect_uri}'"),
        ));
    }
    if find(params, "response_type") != Some("code") {
        return Err(("KOE001", "response_type must be 'code'".into()));
    }
    let challenge = find(params, "code_challenge").map(str::to_string);
    if challenge.is_some() && find(params, "code_challenge_method") != Some("S256") {
        return Err(("KOE001", "code_challenge_method must be 'S256'".into()));
    }
    let state = find(params, "state");
    let mut query = Vec::new();
    if fake.config.deny_consent {
        query.push(("error", "access_denied".to_string()));
        query.push(("error_description", "User denied access".to_string()));
    } else {
        // Additional consent: the docs separate scopes with commas, the SDKs with spaces.
        let scopes = find(params, "scope").unwrap_or_default().to_string();
        fake.grant_scopes(scopes.split([',', ' ']));
        let code = fake.mint("fakeCODE");
        let expires_at = fake.now() + fake.config.code_lifetime;
        fake.codes.insert(
            code.clone(),
            Code {
                redirect_uri: redirect_uri.to_string(),
                challenge,
                expires_at,
            },
        );
        query.push(("code", code));
    }
    if let Some(state) = state {
        query.push(("state", state.to_string()));
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    Ok(format!("{redirect_uri}{sep}{}", encoded.join("&")))
}

/// `POST /oauth/token`: both grants, form-encoded only.
pub async fn token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = lock(&shared);
    match exchange(&mut fake, &headers, &body) {
        Ok(answer) => json_response(StatusCode::OK, answer),
        Err(err) => {
            let status = if err.error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            fake.emit(TOKEN_PATH, status.as_u16(), err.code);
            json_response(
                status,
                json!({"error": err.error, "error_description": err.description, "error_code": err.code}),
            )
        }
    }
}

/// A token-endpoint error before it becomes a response.
#[derive(Debug)]
pub struct OAuthError {
    error: &'static str,
    description: String,
    code: &'static str,
}

fn fail(error: &'static str, description: impl Into<String>, code: &'static str) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
        code,
    }
}

fn exchange(fake: &mut Fake, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    if !is_form(headers) {
        return Err(fail(
            "invalid_request",
            "the request body must be application/x-www-form-urlencoded",
            "KOE001",
        ));
    }
    let form = pairs(body);
    let grant = find(&form, "grant_type").unwrap_or_default();
    if grant != "authorization_code" && grant != "refresh_token" {
        return Err(fail(
            "unsupported_grant_type",
            format!("unsupported grant_type '{grant}'"),
            "KOE001",
        ));
    }
    if find(&form, "client_id") != Some(fake.config.client_id.as_str()) {
        return Err(fail("invalid_client", "Not exist client_id", "KOE101"));
    }
    if let Some(secret) = &fake.config.client_secret
        && find(&form, "client_secret") != Some(secret.as_str())
    {
        return Err(fail("invalid_client", "Bad client credentials", "KOE010"));
    }
    if grant == "authorization_code" {
        exchange_code(fake, &form)
    } else {
        refresh(fake, &form)
    }
}

fn rate_limited() -> OAuthError {
    fail(
        "invalid_request",
        "token issuance limit exceeded, try again later",
        "KOE237",
    )
}

fn exchange_code(fake: &mut Fake, form: &[(String, String)]) -> Result<Value, OAuthError> {
    if !fake.may_issue(true) {
        return Err(rate_limited());
    }
    let presented = find(form, "code").unwrap_or_default();
    let not_found = || {
        fail(
            "invalid_grant",
            format!("authorization code not found for code={presented}"),
            "KOE320",
        )
    };
    let code = fake.codes.remove(presented).ok_or_else(not_found)?;
    if code.expires_at <= fake.now() {
        return Err(not_found());
    }
    if find(form, "redirect_uri") != Some(code.redirect_uri.as_str()) {
        return Err(fail("invalid_grant", "Redirect URI mismatch.", "KOE303"));
    }
    if let Some(challenge) = &code.challenge {
        let verifier = find(form, "code_verifier").unwrap_or_default();
        if !pkce_matches(verifier, challenge) {
            return Err(fail(
                "invalid_grant",
                "PKCE verification failed: code_verifier does not match code_challenge",
                KOE_PKCE,
            ));
        }
    }
    let access = fake.issue_access();
    let refresh = fake.issue_refresh();
    Ok(json!({
        "token_type": "bearer",
        "access_token": access,
        "expires_in": fake.config.access_lifetime.as_secs(),
        "refresh_token": refresh,
        "refresh_token_expires_in": fake.config.refresh_lifetime.as_secs(),
        "scope": fake.config.scopes.join(" "),
    }))
}

/// RFC 7636 S256: `base64url_nopad(sha256(verifier)) == challenge`, for a verifier of
/// 43–128 characters (outside that range it cannot be valid, and oauth2 would panic).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !(43..=128).contains(&verifier.len()) {
        return false;
    }
    let verifier = oauth2::PkceCodeVerifier::new(verifier.to_string());
    oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier).as_str() == challenge
}

fn refresh(fake: &mut Fake, form: &[(String, String)]) -> Result<Value, OAuthError> {
    let Some(presented) = find(form, "refresh_token") else {
        return Err(fail(
            "invalid_request",
            "refresh_token is required",
            "KOE319",
        ));
    };
    let now = fake.now();
    let left = match fake.live_refresh(presented) {
        Some(t) => t.expires_at.saturating_sub(now),
        None => {
            return Err(fail(
                "invalid_grant",
                "expired_or_invalid_refresh_token",
                "KOE322",
            ));
        }
    };
    let rotate = left < ROTATION_WINDOW;
    if !fake.may_issue(rotate) {
        return Err(rate_limited());
    }
    let access = fake.issue_access();
    let mut answer = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": fake.config.access_lifetime.as_secs(),
    });
    if rotate {
        // The old token dies the moment the new one exists (kakao-api.md §1.3).
        if let Some(old) = fake.live_refresh(presented) {
            old.revoked = true;
        }
        answer["refresh_token"] = json!(fake.issue_refresh());
        answer["refresh_token_expires_in"] = json!(fake.config.refresh_lifetime.as_secs());
    }
    Ok(answer)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so a space is `%20`,
/// as in Kakao's `error_description=User%20denied%20access`).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
