//! The Kakao API client (kapi): user info, token info, logout, the friends list (every
//! page), "send to me" and "send to friends" (≤5 receivers a call), with typed errors and
//! the retry policy.
//!
//! Token-agnostic: the caller passes the bearer access token to each call and decides what
//! to do with `-401` (refresh once, DESIGN §4). Does not own OAuth (`auth.rs`), templates
//! (`message.rs`) or the ledger. I/O: HTTP through the one client of `crate::http`; the
//! retry policy ([`retry_delay`], [`backoff`]) is a pure function apart from its jitter draw.
//!
//! Wire facts (Kakao's API as documented and observed): form-encoded bodies with
//! `template_object` / `receiver_uuids` as JSON strings, `Authorization: Bearer`, errors as
//! `{"msg","code",…}` (read whatever the Content-Type says), partial failures of a
//! multi-receiver send as HTTP 200 with `failure_info`, a single receiver's failure as a
//! plain error. Tokens never go into URLs, so no error message can carry one.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Exit, Report};

/// Receivers Kakao accepts in one "send to friends" call.
pub const MAX_RECEIVERS: usize = 5;

/// Friends asked for per page (Kakao's maximum).
const FRIENDS_PAGE_LIMIT: usize = 100;

/// How much of an unparseable body an error keeps (characters).
const EXCERPT_CHARS: usize = 200;

/// Codes that mean "try again later" (kakao-api.md §7: -1 internal, -7 maintenance,
/// -603 internal timeout).
const RETRYABLE_CODES: [i64; 3] = [-1, -7, -603];

/// Codes that retrying cannot fix, even if the status were a 5xx: bad parameter, consent,
/// receiver blocks messages, quotas (DESIGN §5), a blocked account (`-4`) or app (`-12`).
const NEVER_RETRY_CODES: [i64; 11] = [-2, -402, -530, -10, -531, -532, -533, -536, -401, -4, -12];

/// The retry policy of every call: capped, jittered exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in total, the first included (1 = never retry).
    pub attempts: u32,
    /// The delay before the first retry (doubled for each further one, before jitter).
    pub base: Duration,
    /// No delay is longer than this.
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

/// How long to wait before trying again after attempt number `attempt` (1-based) failed
/// with `err`; `None` when the error is not retryable or the attempts are used up.
///
/// The wait is [`backoff`] with a fresh random jitter, so it lies in
/// `[step / 2, step]` where `step = min(cap, base · 2^(attempt-1))`.
pub fn retry_delay(retry: &Retry, attempt: u32, err: &Error) -> Option<Duration> {
    if !err.is_retryable() || attempt >= retry.attempts {
        return None;
    }
    Some(backoff(retry, attempt, jitter_unit()))
}

/// The pure part of [`retry_delay`]: the step `min(cap, base · 2^(attempt-1))`, of which half
/// is fixed and half scaled by `unit` (clamped to `0.0..=1.0`) — "equal jitter", so clients
/// that failed together spread out but never retry at once.
pub fn backoff(retry: &Retry, attempt: u32, unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    let step = retry.base.saturating_mul(1u32 << doublings).min(retry.cap);
    let half = step / 2;
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    half + (step - half).mul_f64(unit)
}

/// A uniform-ish draw in `[0, 1)`. `RandomState` is seeded randomly per instance, which is
/// all jitter needs; no crate for it.
pub fn jitter_unit() -> f64 {
    let bits = RandomState::new().hash_one(0u8) >> 11; // 53 random bits
    bits as f64 / (1u64 << 53) as f64
}

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Kakao's service user id.
    pub id: i64,
    /// The profile nickname, when the user consented to share it.
    pub nickname: Option<String>,
}

/// What `/v1/user/access_token_info` says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The user the token belongs to.
    pub id: Option<i64>,
    /// Time left before the token expires.
    pub expires_in: Duration,
    /// The app the token was issued to.
    pub app_id: Option<i64>,
}

/// A friend this app may list (and, if `allowed_msg`, message). Serialises as the
/// `kbot friends --json` element of DESIGN §2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Friend {
    /// The app-scoped id used as a receiver.
    pub uuid: String,
    /// The friend's service user id, when Kakao gives it.
    #[serde(skip)]
    pub id: Option<i64>,
    /// The profile nickname (empty when Kakao gives none).
    pub nickname: String,
    /// False when the friend blocks messages from this app (sending gives `-530`). Kakao
    /// may omit the field; absent counts as allowed, and a send then tells for sure.
    pub allowed_msg: bool,
    /// Whether the user marked the friend as a favourite.
    pub favorite: bool,
}

/// Why Kakao did not deliver to one receiver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiFailure {
    /// Kakao's error code (e.g. `-530`, `-532`).
    pub code: i64,
    /// Kakao's message.
    #[serde(default)]
    pub msg: String,
}

/// The per-receiver outcome of one "send to friends" call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FriendsSend {
    /// Receivers Kakao accepted.
    pub delivered: Vec<String>,
    /// Receivers Kakao refused, each with the reason.
    pub failed: Vec<(String, ApiFailure)>,
}

/// A failed Kakao API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kakao answered with an error body (`{"msg","code",…}`).
    #[error("kakao refused the call{}: {} (code {code}, HTTP {status})", api_type.as_deref().map(|t| format!(" {t}")).unwrap_or_default(), msg.trim_end_matches('.'))]
    Api {
        /// HTTP status.
        status: u16,
        /// Kakao's error code (negative).
        code: i64,
        /// Kakao's message.
        msg: String,
        /// For `-402`: the consent items the call needs.
        required_scopes: Vec<String>,
        /// For `-402`: the API that was refused (e.g. `TALK_MEMO_DEFAULT_SEND`).
        api_type: Option<String>,
    },
    /// No answer: connection refused or reset, timeout, broken body.
    #[error("cannot reach kakao at {url}")]
    Network {
        /// The endpoint (never carries a token: tokens go in a header).
        url: String,
        /// The cause, with its own copy of the URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// An answer kbot cannot read (not JSON, or not the expected shape).
    #[error("unexpected answer from kakao (HTTP {status}): {body}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// The first ~200 characters of the body.
        body: String,
    },
    /// A "send to friends" call was asked for more receivers than Kakao allows.
    #[error("{0} receivers in one call to send to friends, kakao allows at most {MAX_RECEIVERS}")]
    TooManyReceivers(usize),
}

impl Error {
    /// Kakao's error code, for [`Error::Api`].
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `-401`: the access token is unknown or expired (refresh it once and retry).
    pub fn is_invalid_token(&self) -> bool {
        self.code() == Some(-401)
    }

    /// Whether trying the same call again may succeed: network failures, HTTP 5xx, and
    /// `-1`, `-7`, `-603`; never bad parameters, consent, blocked receivers or quotas.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network { .. } => true,
            Error::Api { status, code, .. } => {
                RETRYABLE_CODES.contains(code)
                    || (*status >= 500 && !NEVER_RETRY_CODES.contains(code))
            }
            Error::Decode { status, .. } => *status >= 500,
            Error::TooManyReceivers(_) => false,
        }
    }

    /// Whether the request may have reached Kakao and been acted on although no answer
    /// came back: a reset, a timeout or a body cut short after the request went out. A
    /// failure to connect (refused, DNS, TLS) or any answer with a status is not: the
    /// message certainly did not go out, or Kakao said it did not.
    pub fn may_have_arrived(&self) -> bool {
        match self {
            Error::Network { source, .. } => !source.is_connect() && !source.is_builder(),
            _ => false,
        }
    }

    /// A quota that stops every further send from this sender today: `-532` (sender per
    /// day) or `-10` (the app's API quota).
    pub fn is_sender_quota(&self) -> bool {
        matches!(self.code(), Some(-532 | -10))
    }

    /// `-402`: the consent items the user must agree to first.
    pub fn needs_consent(&self) -> Option<&[String]> {
        match self {
            Error::Api {
                code: -402,
                required_scopes,
                ..
            } => Some(required_scopes),
            _ => None,
        }
    }
}

impl Report for Error {
    fn exit(&self) -> Exit {
        if self.is_invalid_token() {
            Exit::Login
        } else {
            Exit::Delivery
        }
    }

    fn hint(&self) -> Option<String> {
        let (code, msg) = match self {
            Error::Api { code, msg, .. } => (*code, msg.as_str()),
            Error::Network { .. } => {
                return Some(
                    "check the network connection and `api_url` under [kakao] in config.toml"
                        .into(),
                );
            }
            Error::Decode { .. } => {
                return Some(
                    "check that `api_url` under [kakao] in config.toml is https://kapi.kakao.com"
                        .into(),
                );
            }
            Error::TooManyReceivers(_) => return None,
        };
        let hint = match code {
            -401 => "kbot login".to_string(),
            -402 => {
                let scopes = self.needs_consent().unwrap_or_default();
                let mut command = String::from("kbot login");
                if scopes.is_empty() {
                    command.push_str(" --scope talk_message");
                }
                for scope in scopes {
                    command.push_str(" --scope ");
                    command.push_str(scope);
                }
                command
            }
            -3 => {
                let item = disabled_item(msg).unwrap_or("talk_message");
                format!(
                    "turn on the `{item}` consent item in the Kakao developers console (My Application > Kakao Login > Consent Items)"
                )
            }
            -5 => "the app lacks permission for this API: request it in the Kakao developers console (My Application > Permissions)".into(),
            -530 => "this friend blocks messages from the app (allowed_msg is false in `kbot friends`): remove them from `friends` under [recipients]".into(),
            -531 => "the monthly message quota of this Kakao account is used up: try again next month".into(),
            -532 | -533 | -536 | -10 => "Kakao's daily message quota is used up: try again tomorrow".into(),
            -501 | -502 => "the receiver cannot get messages from you: check `friends` under [recipients] against `kbot friends`".into(),
            -2 if msg.contains("receiver") => {
                "check `friends` under [recipients] against `kbot friends`".into()
            }
            -1 | -7 | -603 | -9798 => {
                "Kakao has a temporary problem: run `kbot send-now` again later".into()
            }
            _ => return None,
        };
        Some(hint)
    }
}

/// The consent item named in a `-3` message ("App disabled [talk_message] scopes …").
fn disabled_item(msg: &str) -> Option<&str> {
    let rest = msg.split_once("disabled [")?.1;
    rest.split_once(']').map(|(item, _)| item)
}

/// The Kakao API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    api_url: Url,
    retry: Retry,
}

impl Client {
    /// A client for `api_url` (`https://kapi.kakao.com`, or a test server), using `http`
    /// (from `crate::http::client`) and retrying by `retry`.
    pub fn new(http: reqwest::Client, api_url: Url, retry: Retry) -> Self {
        Client {
            http,
            api_url,
            retry,
        }
    }

    /// `GET /v2/user/me`: the user's id and nickname.
    pub async fn me(&self, token: &str) -> Result<User, Error> {
        #[derive(Deserialize)]
        struct Nick {
            nickname: Option<String>,
        }
        #[derive(Deserialize)]
        struct Account {
            profile: Option<Nick>,
        }
        #[derive(Deserialize)]
        struct Me {
            id: i64,
            properties: Option<Nick>,
            kakao_account: Option<Account>,
        }
        let url = self.endpoint("/v2/user/me");
        let me: Me = self
            .call(&url, || self.http.get(url.clone()).bearer_auth(token))
            .await?;
        let nickname = me
            .kakao_account
            .and_then(|a| a.profile)
            .and_then(|p| p.nickname)
            .or_else(|| me.properties.and_then(|p| p.nickname));
        Ok(User {
            id: me.id,
            nickname,
        })
    }

    /// `GET /v1/user/access_token_info`.
    pub async fn token_info(&self, token: &str) -> Result<TokenInfo, Error> {
        #[derive(Deserialize)]
        struct Wire {
            id: Option<i64>,
            expires_in: i64,
            app_id: Option<i64>,
        }
        let url = self.endpoint("/v1/user/access_token_info");
        let info: Wire = self
            .call(&url, || self.http.get(url.clone()).bearer_auth(token))
            .await?;
        Ok(TokenInfo {
            id: info.id,
            expires_in: Duration::from_secs(u64::try_from(info.expires_in).unwrap_or(0)),
            app_id: info.app_id,
        })
    }

    /// `POST /v1/user/logout`: revokes the user's tokens at Kakao.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let url = self.endpoint("/v1/user/logout");
        let _: serde_json::Value = self
            .call(&url, || self.http.post(url.clone()).bearer_auth(token))
            .await?;
        Ok(())
    }

    /// `GET /v1/api/talk/friends`, every page (100 a page). The next page's parameters are
    /// read from `after_url`, but the request always goes to the configured API host: a
    /// token never follows a link elsewhere.
    pub async fn friends(&self, token: &str) -> Result<Vec<Friend>, Error> {
        let url = self.endpoint("/v1/api/talk/friends");
        let mut params = first_page_params();
        let mut friends: Vec<Friend> = Vec::new();
        loop {
            let page: FriendsPage = self
                .call(&url, || {
                    self.http.get(url.clone()).query(&params).bearer_auth(token)
                })
                .await?;
            let offset = page_offset(&params);
            let got = page.elements.len();
            friends.extend(page.elements.into_iter().map(Friend::from));
            let done = got == 0
                || page.total_count.is_some_and(|total| friends.len() >= total)
                || page.after_url.is_none();
            if done {
                return Ok(friends);
            }
            let next = next_page_params(page.after_url.as_deref(), offset + got);
            // A server that does not move forward would loop forever.
            if page_offset(&next) <= offset {
                return Ok(friends);
            }
            params = next;
        }
    }

    /// `POST /v2/api/talk/memo/default/send`: a default template to the user's own chat.
    pub async fn send_to_me(&self, token: &str, template: &serde_json::Value) -> Result<(), Error> {
        #[derive(Deserialize)]
        struct Wire {
            result_code: Option<i64>,
        }
        let url = self.endpoint("/v2/api/talk/memo/default/send");
        let form = [("template_object", template.to_string())];
        let answer: Wire = self
            .call_once_if_sent(&url, || {
                self.http.post(url.clone()).bearer_auth(token).form(&form)
            })
            .await?;
        match answer.result_code {
            None | Some(0) => Ok(()),
            Some(code) => Err(Error::Decode {
                status: 200,
                body: format!("{{\"result_code\":{code}}}"),
            }),
        }
    }

    /// `POST /v1/api/talk/friends/message/default/send` to at most [`MAX_RECEIVERS`]
    /// uuids (more is `TooManyReceivers`, without a request; none is an empty outcome).
    /// With one receiver Kakao reports a failure as a plain error, which comes back as
    /// `Err(Error::Api{..})`: the caller attributes it to that receiver.
    pub async fn send_to_friends(
        &self,
        token: &str,
        uuids: &[String],
        template: &serde_json::Value,
    ) -> Result<FriendsSend, Error> {
        #[derive(Deserialize)]
        struct Failure {
            code: i64,
            #[serde(default)]
            msg: String,
            #[serde(default)]
            receiver_uuids: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Wire {
            successful_receiver_uuids: Option<Vec<String>>,
            #[serde(default)]
            failure_info: Vec<Failure>,
        }
        if uuids.len() > MAX_RECEIVERS {
            return Err(Error::TooManyReceivers(uuids.len()));
        }
        if uuids.is_empty() {
            return Ok(FriendsSend::default());
        }
        let receivers = serde_json::to_string(uuids).unwrap_or_default();
        let url = self.endpoint("/v1/api/talk/friends/message/default/send");
        let form = [
            ("receiver_uuids", receivers),
            ("template_object", template.to_string()),
        ];
        let answer: Wire = self
            .call_once_if_sent(&url, || {
                self.http.post(url.clone()).bearer_auth(token).form(&form)
            })
            .await?;
        let failed: Vec<(String, ApiFailure)> = answer
            .failure_info
            .into_iter()
            .flat_map(|f| {
                let failure = ApiFailure {
                    code: f.code,
                    msg: crate::terminal::inert(&f.msg),
                };
                f.receiver_uuids
                    .into_iter()
                    .map(move |uuid| (uuid, failure.clone()))
            })
            .collect();
        // Both fields are optional: a 200 without a success list means "all but the failed".
        let delivered = answer.successful_receiver_uuids.unwrap_or_else(|| {
            uuids
                .iter()
                .filter(|u| !failed.iter().any(|(f, _)| f == *u))
                .cloned()
                .collect()
        });
        Ok(FriendsSend { delivered, failed })
    }

    /// The URL of an API path under the configured base (which may carry a path prefix).
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.api_url.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query(None);
        url
    }

    /// One call with retries: `request` builds a fresh request for each attempt.
    async fn call<T: DeserializeOwned>(
        &self,
        url: &Url,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        self.call_with(url, request, true).await
    }

    /// A send: retried only when it certainly did not go out (no connection, or an error
    /// answer). One that may have reached Kakao comes back at once, for the caller to
    /// count in the ledger (a message must not multiply).
    async fn call_once_if_sent<T: DeserializeOwned>(
        &self,
        url: &Url,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        self.call_with(url, request, false).await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        url: &Url,
        request: impl Fn() -> reqwest::RequestBuilder,
        idempotent: bool,
    ) -> Result<T, Error> {
        let mut attempt = 1;
        loop {
            let err = match once(url, request()).await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            if !idempotent && err.may_have_arrived() {
                return Err(err);
            }
            let Some(wait) = retry_delay(&self.retry, attempt, &err) else {
                return Err(err);
            };
            tracing::warn!(url = %url, attempt, error = %err, "kakao call failed, retrying in {}", humantime::format_duration(std::time::Duration::from_millis(wait.as_millis() as u64)));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// One attempt: send, read the body, turn it into `T` or a typed error.
async fn once<T: DeserializeOwned>(
    url: &Url,
    request: reqwest::RequestBuilder,
) -> Result<T, Error> {
    let network = |source: reqwest::Error| Error::Network {
        url: url.to_string(),
        source: source.without_url(),
    };
    let response = request.send().await.map_err(network)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(network)?;
    if (200..300).contains(&status) {
        serde_json::from_slice(&body).map_err(|_| decode_error(status, &body))
    } else {
        Err(api_error(status, &body))
    }
}

/// A kapi error body (`{"msg","code",…}`), whatever the Content-Type claims.
pub fn api_error(status: u16, body: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct Wire {
        code: i64,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        required_scopes: Vec<String>,
        api_type: Option<String>,
    }
    match serde_json::from_slice::<Wire>(body) {
        Ok(wire) => Error::Api {
            status,
            code: wire.code,
            // Kakao's words reach the terminal, the log and the ledger: inert there.
            msg: crate::terminal::inert(&wire.msg),
            required_scopes: wire.required_scopes,
            api_type: wire.api_type.map(|t| crate::terminal::inert(&t)),
        },
        Err(_) => decode_error(status, body),
    }
}

fn decode_error(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String =
        crate::terminal::inert(&text.chars().take(EXCERPT_CHARS).collect::<String>());
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        excerpt.push('…');
    }
    Error::Decode {
        status,
        body: excerpt,
    }
}

#[derive(Deserialize)]
struct FriendsPage {
    #[serde(default)]
    elements: Vec<WireFriend>,
    total_count: Option<usize>,
    after_url: Option<String>,
}

#[derive(Deserialize)]
struct WireFriend {
    uuid: String,
    id: Option<i64>,
    profile_nickname: Option<String>,
    favorite: Option<bool>,
    allowed_msg: Option<bool>,
}

impl From<WireFriend> for Friend {
    fn from(wire: WireFriend) -> Self {
        Friend {
            uuid: wire.uuid,
            id: wire.id,
            nickname: wire.profile_nickname.unwrap_or_default(),
            allowed_msg: wire.allowed_msg.unwrap_or(true),
            favorite: wire.favorite.unwrap_or(false),
        }
    }
}

/// Query parameters of one friends page.
type PageParams = Vec<(String, String)>;

fn first_page_params() -> PageParams {
    vec![
        ("offset".into(), "0".into()),
        ("limit".into(), FRIENDS_PAGE_LIMIT.to_string()),
    ]
}

fn page_offset(params: &PageParams) -> usize {
    params
        .iter()
        .find(|(k, _)| k == "offset")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The parameters of the page after the one that started at `fallback_offset - got`:
/// `offset`, `limit`, `order`, `friend_order` taken from `after_url` (as the SDKs do), or
/// simply the next offset when `after_url` cannot be read. Only these keys are kept, and
/// only the parameters: the host of `after_url` is never used.
fn next_page_params(after_url: Option<&str>, fallback_offset: usize) -> PageParams {
    const KEYS: [&str; 4] = ["offset", "limit", "order", "friend_order"];
    let from_link: Option<PageParams> =
        after_url
            .and_then(|link| Url::parse(link).ok())
            .map(|link| {
                link.query_pairs()
                    .into_owned()
                    .filter(|(k, _)| KEYS.contains(&k.as_str()))
                    .collect()
            });
    match from_link {
        Some(params)
            if params
                .iter()
                .any(|(k, v)| k == "offset" && v.parse::<usize>().is_ok()) =>
        {
            params
        }
        _ => vec![
            ("offset".into(), fallback_offset.to_string()),
            ("limit".into(), FRIENDS_PAGE_LIMIT.to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: i64) -> Error {
        Error::Api {
            status,
            code,
            msg: "x".into(),
            required_scopes: Vec::new(),
            api_type: None,
        }
    }

    fn policy(attempts: u32, base_ms: u64, cap_ms: u64) -> Retry {
        Retry {
            attempts,
            base: Duration::from_millis(base_ms),
            cap: Duration::from_millis(cap_ms),
        }
    }

    #[test]
    fn backoff_doubles_each_attempt_until_the_cap() {
        let retry = policy(10, 100, 1_000);
        let full: Vec<u128> = (1..=6)
            .map(|a| backoff(&retry, a, 1.0).as_millis())
            .collect();
        assert_eq!(full, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn jitter_keeps_the_delay_between_half_the_step_and_the_step() {
        let retry = policy(10, 100, 1_000);
        assert_eq!(backoff(&retry, 3, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(&retry, 3, 0.5), Duration::from_millis(300));
        assert_eq!(backoff(&retry, 3, 7.0), Duration::from_millis(400));
        assert_eq!(backoff(&retry, 3, f64::NAN), Duration::from_millis(200));
        for attempt in 1..=9 {
            let step = backoff(&retry, attempt, 1.0);
            for _ in 0..50 {
                let wait = retry_delay(&retry, attempt, &api(500, -1)).expect("retryable");
                assert!(
                    wait >= step / 2 && wait <= step,
                    "{wait:?} vs step {step:?}"
                );
                assert!(wait <= retry.cap);
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let retry = policy(3, 1_000, 10_000);
        let waits: std::collections::HashSet<Duration> = (0..20)
            .filter_map(|_| retry_delay(&retry, 1, &api(503, -1)))
            .collect();
        assert!(waits.len() > 1, "{waits:?}");
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_the_cap() {
        let retry = policy(u32::MAX, 500, 30_000);
        assert_eq!(backoff(&retry, u32::MAX - 1, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn no_retry_once_the_attempts_are_used() {
        let retry = policy(3, 1, 10);
        assert!(retry_delay(&retry, 1, &api(500, -1)).is_some());
        assert!(retry_delay(&retry, 2, &api(500, -1)).is_some());
        assert_eq!(retry_delay(&retry, 3, &api(500, -1)), None);
        assert_eq!(retry_delay(&policy(1, 1, 10), 1, &api(500, -1)), None);
    }

    #[tokio::test]
    async fn a_send_that_could_not_connect_certainly_did_not_arrive_and_may_be_retried() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let client = Client::new(
            crate::http::client(crate::http::Timeouts::default()),
            Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
            policy(2, 1, 2),
        );
        let err = client
            .send_to_me("token", &serde_json::json!({"object_type": "text"}))
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, Error::Network { .. }), "{err:?}");
        assert!(err.is_retryable() && !err.may_have_arrived(), "{err:?}");
    }

    #[test]
    fn non_retryable_errors_are_never_retried() {
        let retry = policy(5, 1, 10);
        for code in [-2, -401, -402, -530, -10, -531, -532, -533, -536, -4, -12] {
            assert_eq!(retry_delay(&retry, 1, &api(400, code)), None, "code {code}");
            assert_eq!(
                retry_delay(&retry, 1, &api(500, code)),
                None,
                "code {code} on 500"
            );
        }
        assert_eq!(retry_delay(&retry, 1, &Error::TooManyReceivers(6)), None);
        let bad_body = Error::Decode {
            status: 200,
            body: "<html>".into(),
        };
        assert_eq!(retry_delay(&retry, 1, &bad_body), None);
    }

    #[test]
    fn transient_errors_are_retried() {
        let retry = policy(5, 1, 10);
        for (status, code) in [(400, -1), (400, -7), (400, -603), (500, -1), (502, -9999)] {
            assert!(
                retry_delay(&retry, 1, &api(status, code)).is_some(),
                "{status} {code}"
            );
        }
        let gateway = Error::Decode {
            status: 502,
            body: "<html>bad gateway</html>".into(),
        };
        assert!(retry_delay(&retry, 1, &gateway).is_some());
    }

    #[test]
    fn error_bodies_parse_whatever_the_content_type_and_keep_consent_details() {
        let err = api_error(
            403,
            br#"{"msg":"insufficient scopes.","code":-402,"api_type":"TALK_MEMO_DEFAULT_SEND","required_scopes":["talk_message"],"allowed_scopes":["profile"]}"#,
        );
        assert_eq!(err.code(), Some(-402));
        assert_eq!(err.needs_consent(), Some(&["talk_message".to_string()][..]));
        assert_eq!(
            err.hint().as_deref(),
            Some("kbot login --scope talk_message")
        );
        assert_eq!(
            err.to_string(),
            "kakao refused the call TALK_MEMO_DEFAULT_SEND: insufficient scopes (code -402, HTTP 403)"
        );
        assert_eq!(err.exit(), Exit::Delivery);
    }

    #[test]
    fn a_non_json_body_becomes_a_decode_error_with_a_short_excerpt() {
        let page = format!("<html>{}</html>", "x".repeat(1_000));
        let err = api_error(502, page.as_bytes());
        let Error::Decode { status, body } = &err else {
            panic!("expected Decode, got {err:?}");
        };
        assert_eq!(*status, 502);
        assert!(body.starts_with("<html>xxx"));
        assert_eq!(body.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn an_invalid_token_asks_for_login_with_exit_code_3() {
        let err = api_error(
            401,
            br#"{"msg":"this access token does not exist","code":-401}"#,
        );
        assert!(err.is_invalid_token());
        assert_eq!(err.exit(), Exit::Login);
        assert_eq!(err.hint().as_deref(), Some("kbot login"));
    }

    #[test]
    fn hints_name_the_fix_for_consent_blocked_friends_and_quotas() {
        let disabled = api_error(
            403,
            br#"{"msg":"[APP] App disabled [friends] scopes for [FRIENDS] API on developers.kakao.com. Enable it first.","code":-3}"#,
        );
        assert!(
            disabled
                .hint()
                .is_some_and(|h| h.contains("`friends` consent item"))
        );
        assert!(
            api(400, -530)
                .hint()
                .is_some_and(|h| h.contains("blocks messages"))
        );
        for code in [-532, -533, -536] {
            assert!(
                api(400, code)
                    .hint()
                    .is_some_and(|h| h.contains("tomorrow")),
                "{code}"
            );
        }
        assert_eq!(
            Error::TooManyReceivers(7).to_string(),
            "7 receivers in one call to send to friends, kakao allows at most 5"
        );
    }

    #[test]
    fn next_page_keeps_paging_parameters_but_never_the_links_host() {
        let next = next_page_params(
            Some(
                "https://elsewhere.example/v1/api/talk/friends?offset=100&limit=100&order=asc&friend_order=nickname&steal=1",
            ),
            100,
        );
        assert_eq!(
            next,
            vec![
                ("offset".to_string(), "100".to_string()),
                ("limit".to_string(), "100".to_string()),
                ("order".to_string(), "asc".to_string()),
                ("friend_order".to_string(), "nickname".to_string()),
            ]
        );
        assert_eq!(page_offset(&next_page_params(Some("not a url"), 42)), 42);
        assert_eq!(page_offset(&next_page_params(None, 7)), 7);
    }

    #[test]
    fn friends_serialise_as_the_friends_json_of_the_design() {
        let friend = Friend {
            uuid: "u1".into(),
            id: Some(9),
            nickname: "이서연".into(),
            allowed_msg: true,
            favorite: false,
        };
        assert_eq!(
            serde_json::to_string(&friend).expect("serialise"),
            r#"{"uuid":"u1","nickname":"이서연","allowed_msg":true,"favorite":false}"#
        );
    }

    #[test]
    fn endpoints_keep_a_base_path_prefix() {
        let client = Client::new(
            crate::http::client(crate::http::Timeouts::default()),
            Url::parse("http://127.0.0.1:9/kapi/").expect("url"),
            Retry::default(),
        );
        assert_eq!(
            client.endpoint("/v2/user/me").as_str(),
            "http://127.0.0.1:9/kapi/v2/user/me"
        );
    }
}
