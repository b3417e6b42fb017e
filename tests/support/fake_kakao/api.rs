//! The kapi side of the fake: user endpoints (me, token info, logout).
//!
//! Owns the bearer check every kapi route starts with (`-401`), the consent checks (`-402`
//! with `required_scopes`, `-3` for items switched off in the console), the form-only rule
//! (`-2` for other bodies) and the `{"msg","code"}` error bodies of kakao-api.md §7. Does
//! not own OAuth (`oauth.rs`). I/O: none beyond answering the request it is given.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::state::State as Fake;
use super::{Shared, is_form, json_response, lock, pairs};

pub const ME_PATH: &str = "/v2/user/me";
pub const TOKEN_INFO_PATH: &str = "/v1/user/access_token_info";
pub const LOGOUT_PATH: &str = "/v1/user/logout";

/// A kapi error before it becomes a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

/// `{"msg","code"}` with the HTTP status Kakao uses for that code.
pub fn api_error(status: StatusCode, code: i64, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        body: json!({"msg": msg.into(), "code": code}),
    }
}

/// `-2`: a bad or missing parameter.
pub fn bad_param(msg: impl Into<String>) -> ApiError {
    api_error(StatusCode::BAD_REQUEST, -2, msg)
}

/// Turns a handler's outcome into a response, logging the error code.
pub fn respond(fake: &mut Fake, path: &str, outcome: Result<Value, ApiError>) -> Response {
    match outcome {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(err) => {
            let code = err.body["code"].as_i64().unwrap_or_default();
            fake.emit(path, err.status.as_u16(), code.to_string());
            json_response(err.status, err.body)
        }
    }
}

/// The `Authorization: Bearer` check of every kapi route.
pub fn authenticate(fake: &Fake, headers: &HeaderMap) -> Result<(), ApiError> {
    fake.check_access(bearer(headers))
        .map_err(|msg| api_error(StatusCode::UNAUTHORIZED, -401, msg))
}

/// The consent check: `-3` when an item is off in the console, `-402` when the user has
/// not agreed to it.
pub fn require_scopes(fake: &Fake, needed: &[&str], api_type: &str) -> Result<(), ApiError> {
    if let Some(off) = fake.disabled_scope(needed) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            -3,
            format!(
                "[APP] App disabled [{off}] scopes for [{api_type}] API on developers.kakao.com. Enable it first."
            ),
        ));
    }
    let missing = fake.missing_scopes(needed);
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        body: json!({
            "msg": "insufficient scopes.",
            "code": -402,
            "api_type": api_type,
            "required_scopes": missing,
            "allowed_scopes": fake.config.scopes,
        }),
    })
}

/// The form fields of a kapi POST: form-encoded or empty, anything else is `-2`.
pub fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if !is_form(headers) {
        return Err(bad_param(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(pairs(body))
}

/// `GET|POST /v2/user/me`: the nickname in both the legacy `properties` and `kakao_account`.
pub async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers).map(|()| {
        json!({
            "id": fake.config.user_id,
            "connected_at": "2026-01-05T09:00:00Z",
            "properties": {"nickname": fake.config.nickname},
            "kakao_account": {
                "profile_nickname_needs_agreement": false,
                "profile": {"nickname": fake.config.nickname, "is_default_nickname": false},
            },
        })
    });
    respond(&mut fake, ME_PATH, outcome)
}

/// `GET /v1/user/access_token_info`: user id, seconds left on the presented token, app id.
pub async fn token_info(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers).map(|()| {
        let token = bearer(&headers);
        let now = fake.now();
        let left = fake
            .access
            .iter()
            .find(|t| t.token == token)
            .map(|t| t.expires_at.saturating_sub(now).as_secs())
            .unwrap_or_default();
        json!({"id": fake.config.user_id, "expires_in": left, "app_id": fake.config.app_id})
    });
    respond(&mut fake, TOKEN_INFO_PATH, outcome)
}

/// `POST /v1/user/logout`: revokes every token of the user, answers `{"id"}`.
pub async fn logout(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers)
        .and_then(|()| form_fields(&headers, &body))
        .map(|_| {
            fake.revoke_all();
            json!({"id": fake.config.user_id})
        });
    respond(&mut fake, LOGOUT_PATH, outcome)
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}
