//! The kapi side of the fake: user endpoints (me, token info, logout), the friends list,
//! and the two default-template message APIs (send to me, send to friends).
//!
//! Owns the bearer check every kapi route starts with (`-401`), the consent checks (`-402`
//! with `required_scopes`, `-3` for items switched off in the console), the form-only rule
//! (`-2` for other bodies), the `{"msg","code"}` error bodies of kakao-api.md §7, friends
//! paging (§5), template validation (§4.2) and the receiver rules and daily quotas of §3
//! and §6.3. Does not own OAuth (`oauth.rs`) or faults (`mod.rs`). I/O: none beyond
//! answering the request it is given.
//!
//! Choices where kakao-api.md is silent or UNCONFIRMED:
//! - friends `limit` defaults to 10 (the doc text; the test tool says 100), must be 1..=100;
//!   `friend_order=favorite` sorts favourites first, then by nickname; `desc` reverses.
//! - an unknown receiver uuid fails the whole call with `-2` (any number of receivers);
//!   per-receiver checks run in order: `-530` (allowed_msg false), `-532` sender/day,
//!   `-533` receiver/day, `-536` pair/day; only deliveries count against quotas.
//! - with two or more receivers the answer is 200 with `successful_receiver_uuids` (maybe
//!   empty) and, when something failed, `failure_info` grouped by code.
//! - "send to me" has no quota (DevTalk says none).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{Delivery, LongText, State as Fake, find};
use super::{Shared, is_form, json_response, lock, pairs};

/// User info (GET or POST).
pub const ME_PATH: &str = "/v2/user/me";
/// Access-token info.
pub const TOKEN_INFO_PATH: &str = "/v1/user/access_token_info";
/// Logout (revokes the user's tokens).
pub const LOGOUT_PATH: &str = "/v1/user/logout";
/// The friends list.
pub const FRIENDS_PATH: &str = "/v1/api/talk/friends";
/// "Send to me" with a default template.
pub const MEMO_PATH: &str = "/v2/api/talk/memo/default/send";
/// "Send to friends" with a default template.
pub const FRIENDS_SEND_PATH: &str = "/v1/api/talk/friends/message/default/send";

/// Kakao shows at most this many characters of a text template (and of a list header).
pub const TEXT_LIMIT: usize = 200;

/// Receivers per "send to friends" call.
pub const MAX_RECEIVERS: usize = 5;

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

/// `GET /v1/api/talk/friends`: one page of the user's friends.
pub async fn friends(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = pairs(query.unwrap_or_default().as_bytes());
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers)
        .and_then(|()| require_scopes(&fake, &["friends"], "FRIENDS"))
        .and_then(|()| friends_page(&fake, &params));
    respond(&mut fake, FRIENDS_PATH, outcome)
}

fn int_param(params: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    match find(params, name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            bad_param(format!(
                "Constraints on the parameter [{name}] are unsatisfied. '{raw}' is not a non-negative integer."
            ))
        }),
    }
}

fn choice<'a>(
    params: &'a [(String, String)],
    name: &str,
    allowed: &[&'a str],
) -> Result<&'a str, ApiError> {
    match find(params, name) {
        None => Ok(allowed[0]),
        Some(value) if allowed.contains(&value) => Ok(value),
        Some(value) => Err(bad_param(format!(
            "Constraints on the parameter [{name}] are unsatisfied. '{value}' is not one of {allowed:?}."
        ))),
    }
}

fn friends_page(fake: &Fake, params: &[(String, String)]) -> Result<Value, ApiError> {
    let offset = int_param(params, "offset", 0)?;
    let limit = int_param(params, "limit", 10)?;
    if !(1..=100).contains(&limit) {
        return Err(bad_param(
            "Constraints on the parameter [limit] are unsatisfied. limit must be between 1 and 100.",
        ));
    }
    let order = choice(params, "order", &["asc", "desc"])?;
    let friend_order = choice(params, "friend_order", &["favorite", "nickname"])?;
    let mut sorted: Vec<_> = fake.friends.iter().collect();
    if friend_order == "favorite" {
        sorted.sort_by(|a, b| {
            (!a.favorite, &a.nickname, &a.uuid).cmp(&(!b.favorite, &b.nickname, &b.uuid))
        });
    } else {
        sorted.sort_by(|a, b| (&a.nickname, &a.uuid).cmp(&(&b.nickname, &b.uuid)));
    }
    if order == "desc" {
        sorted.reverse();
    }
    let total = sorted.len();
    let elements: Vec<Value> = sorted
        .iter()
        .skip(offset)
        .take(limit)
        .map(|f| {
            json!({
                "id": f.id,
                "uuid": f.uuid,
                "profile_nickname": f.nickname,
                "profile_thumbnail_image": "",
                "favorite": f.favorite,
                "allowed_msg": f.allowed_msg,
            })
        })
        .collect();
    // Paging links repeat the request's own parameters, on the fake's own base URL.
    let page_url = |at: usize| {
        let mut url = format!(
            "{}{FRIENDS_PATH}?offset={at}&limit={limit}&order={order}",
            fake.base_url
        );
        if find(params, "friend_order").is_some() {
            url.push_str(&format!("&friend_order={friend_order}"));
        }
        url
    };
    let after = (offset + limit < total).then(|| page_url(offset + limit));
    let before = (offset > 0).then(|| page_url(offset.saturating_sub(limit)));
    Ok(json!({
        "elements": elements,
        "total_count": total,
        "favorite_count": fake.friends.iter().filter(|f| f.favorite).count(),
        "after_url": after,
        "before_url": before,
    }))
}

/// `POST /v2/api/talk/memo/default/send`: "send to me".
pub async fn send_to_me(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers)
        .and_then(|()| require_scopes(&fake, &["talk_message"], "TALK_MEMO_DEFAULT_SEND"))
        .and_then(|()| form_fields(&headers, &body))
        .and_then(|form| validate_template(find(&form, "template_object"), fake.config.long_text))
        .map(|template| {
            fake.delivered.push(Delivery {
                recipient: "me".into(),
                template,
            });
            json!({"result_code": 0})
        });
    respond(&mut fake, MEMO_PATH, outcome)
}

/// `POST /v1/api/talk/friends/message/default/send`: "send to friends" (≤5 receivers).
pub async fn send_to_friends(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = lock(&shared);
    let outcome = authenticate(&fake, &headers)
        .and_then(|()| require_scopes(&fake, &["talk_message", "friends"], "TALK_MESSAGE_SEND"))
        .and_then(|()| form_fields(&headers, &body))
        .and_then(|form| {
            let receivers = parse_receivers(find(&form, "receiver_uuids"))?;
            let template =
                validate_template(find(&form, "template_object"), fake.config.long_text)?;
            deliver_to_friends(&mut fake, &receivers, &template)
        });
    respond(&mut fake, FRIENDS_SEND_PATH, outcome)
}

fn parse_receivers(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw else {
        return Err(bad_param("The Parameter [receiver_uuids] cannot be null."));
    };
    let receivers: Vec<String> = serde_json::from_str(raw).map_err(|_| {
        bad_param(
            "Constraints on the parameter [receiver_uuids] are unsatisfied. The input receiver id(s) is invalid format.",
        )
    })?;
    if receivers.is_empty() {
        return Err(bad_param("The Parameter [receiver_uuids] cannot be empty."));
    }
    if receivers.len() > MAX_RECEIVERS {
        return Err(bad_param(format!(
            "Constraints on the parameter [receiver_uuids] are unsatisfied. At most {MAX_RECEIVERS} receivers are allowed."
        )));
    }
    Ok(receivers)
}

fn deliver_to_friends(
    fake: &mut Fake,
    receivers: &[String],
    template: &Value,
) -> Result<Value, ApiError> {
    if receivers
        .iter()
        .any(|uuid| !fake.friends.iter().any(|f| &f.uuid == uuid))
    {
        return Err(bad_param(
            "Not allowed to send a message to some of receivers.",
        ));
    }
    let day = fake.day();
    let mut delivered = Vec::new();
    let mut failures: Vec<(i64, &'static str, Vec<String>)> = Vec::new();
    for uuid in receivers {
        let allowed = fake
            .friends
            .iter()
            .any(|f| &f.uuid == uuid && f.allowed_msg);
        let count = |fake: &Fake, key: String| {
            fake.sent_counts
                .get(&(day, key))
                .copied()
                .unwrap_or_default()
        };
        let failure = if !allowed {
            Some((-530, "this receiver does not allow messages from this app."))
        } else if count(fake, "sender".into()) >= fake.config.sender_daily_quota {
            Some((-532, "daily message limit per sender has been exceeded."))
        } else if count(fake, format!("receiver:{uuid}")) >= fake.config.receiver_daily_quota {
            Some((-533, "daily message limit per receiver has been exceeded."))
        } else if count(fake, format!("pair:{uuid}")) >= fake.config.pair_daily_quota {
            Some((
                -536,
                "daily message limit per sender and receiver pair has been exceeded.",
            ))
        } else {
            None
        };
        match failure {
            Some((code, msg)) => match failures.iter_mut().find(|(c, _, _)| *c == code) {
                Some((_, _, uuids)) => uuids.push(uuid.clone()),
                None => failures.push((code, msg, vec![uuid.clone()])),
            },
            None => {
                for key in [
                    "sender".to_string(),
                    format!("receiver:{uuid}"),
                    format!("pair:{uuid}"),
                ] {
                    *fake.sent_counts.entry((day, key)).or_default() += 1;
                }
                fake.delivered.push(Delivery {
                    recipient: uuid.clone(),
                    template: template.clone(),
                });
                delivered.push(uuid.clone());
            }
        }
    }
    // One receiver: a failure is a plain error (kakao-api.md §3.2).
    if receivers.len() == 1
        && let Some((code, msg, _)) = failures.first()
    {
        return Err(api_error(StatusCode::BAD_REQUEST, *code, *msg));
    }
    // Partial failures are answers too: log their codes so `saw_error_code` finds them.
    for (code, _, _) in &failures {
        fake.emit(FRIENDS_SEND_PATH, 200, code.to_string());
    }
    let mut answer = json!({"successful_receiver_uuids": delivered});
    if !failures.is_empty() {
        answer["failure_info"] = failures
            .into_iter()
            .map(|(code, msg, uuids)| json!({"code": code, "msg": msg, "receiver_uuids": uuids}))
            .collect();
    }
    Ok(answer)
}

fn template_error(detail: impl std::fmt::Display) -> ApiError {
    bad_param(format!(
        "Constraints on the parameter [template_object] are unsatisfied. {detail}"
    ))
}

/// Checks a `template_object` form field against kakao-api.md §4.2 (text, list, feed).
pub fn validate_template(raw: Option<&str>, long_text: LongText) -> Result<Value, ApiError> {
    let Some(raw) = raw else {
        return Err(bad_param("The Parameter [template_object] cannot be null."));
    };
    let template: Value =
        serde_json::from_str(raw).map_err(|e| template_error(format!("invalid JSON: {e}")))?;
    let Some(object) = template.as_object() else {
        return Err(template_error("not a JSON object"));
    };
    let is_object = |key: &str| object.get(key).is_some_and(Value::is_object);
    let string = |key: &str| object.get(key).and_then(Value::as_str);
    let too_long = |text: &str| long_text == LongText::Reject && text.chars().count() > TEXT_LIMIT;
    match string("object_type") {
        Some("text") => {
            let text = string("text").ok_or_else(|| template_error("text is required"))?;
            if !is_object("link") {
                return Err(template_error("link is required"));
            }
            if too_long(text) {
                return Err(template_error(format!(
                    "text is longer than {TEXT_LIMIT} characters"
                )));
            }
        }
        Some("list") => {
            let title =
                string("header_title").ok_or_else(|| template_error("header_title is required"))?;
            if !is_object("header_link") {
                return Err(template_error("header_link is required"));
            }
            let contents = object.get("contents").and_then(Value::as_array);
            if !contents
                .is_some_and(|c| (2..=3).contains(&c.len()) && c.iter().all(Value::is_object))
            {
                return Err(template_error("contents must hold 2 or 3 content objects"));
            }
            if too_long(title) {
                return Err(template_error(format!(
                    "header_title is longer than {TEXT_LIMIT} characters"
                )));
            }
        }
        Some("feed") => {
            if !is_object("content") {
                return Err(template_error("content is required"));
            }
            // kakao-api.md §4.1: content needs its link; Kakao fetches image_url itself.
            let content = &object["content"];
            if !content.get("link").is_some_and(Value::is_object) {
                return Err(template_error("content.link is required"));
            }
            if let Some(image) = content.get("image_url") {
                let fetchable = image
                    .as_str()
                    .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"));
                if !fetchable {
                    return Err(template_error("content.image_url must be an http(s) URL"));
                }
            }
        }
        other => {
            return Err(template_error(format!(
                "object_type {other:?} is not one of text, list, feed"
            )));
        }
    }
    if let Some(buttons) = object.get("buttons") {
        let ok = buttons.as_array().is_some_and(|b| {
            b.len() <= 2
                && b.iter().all(|button| {
                    button.get("title").is_some_and(Value::is_string)
                        && button.get("link").is_some_and(Value::is_object)
                })
        });
        if !ok {
            return Err(template_error(
                "buttons must be at most 2 objects with a title and a link",
            ));
        }
    }
    Ok(template)
}
