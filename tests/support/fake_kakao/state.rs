//! Everything the fake Kakao server remembers: its configuration, its clock, the codes and
//! tokens it issued, and every request it saw.
//!
//! Owns the data and the small rules that several endpoints share (token issuance, bearer
//! checks, issuance limits, the error log). Does not own HTTP: `oauth.rs` and `api.rs`
//! turn requests into calls on [`State`] under the lock. No I/O; time is a real monotonic
//! clock plus an offset that tests move with `FakeKakao::advance`.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Seconds in a day: quotas reset when the fake's clock crosses a multiple of this.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A refresh token is rotated when it has less than this left (kakao-api.md §1.3: "one month").
pub const ROTATION_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The window of the access-token issuance limit (20 per 10 minutes, §1.3).
pub const ACCESS_ISSUE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The window of the refresh-token issuance limit (30 per 60 minutes, §1.3).
pub const REFRESH_ISSUE_WINDOW: Duration = Duration::from_secs(60 * 60);

/// What the fake answers to a `template_object` whose text is over 200 characters
/// (kakao-api.md §4.2: the real behaviour is UNCONFIRMED, so tests choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongText {
    /// Deliver it (Kakao's limits read like display limits).
    Accept,
    /// Reject the call with `-2`.
    Reject,
}

/// The fake app and user. Every field is public: tests change it through
/// `FakeKakao::configure`, at any time, also while the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The app's REST API key.
    pub client_id: String,
    /// When `Some`, `/oauth/token` requires this exact `client_secret` (else KOE010).
    pub client_secret: Option<String>,
    /// The registered redirect URIs (exact match; anything else is KOE006 at authorize).
    pub redirect_uris: Vec<String>,
    /// Access-token lifetime (`expires_in`); the REST default is 6 h.
    pub access_lifetime: Duration,
    /// Refresh-token lifetime (`refresh_token_expires_in`); 2 months.
    pub refresh_lifetime: Duration,
    /// How long an authorization code can be exchanged (real value UNCONFIRMED; RFC 6749 says ≤10 min).
    pub code_lifetime: Duration,
    /// Access tokens the user may be issued per 10 minutes (KOE237 beyond).
    pub access_issue_limit: usize,
    /// Refresh tokens the user may be issued per 60 minutes (KOE237 beyond).
    pub refresh_issue_limit: usize,
    /// The logged-in user's service user id.
    pub user_id: i64,
    /// The user's nickname (`/v2/user/me`).
    pub nickname: String,
    /// The app id reported by `/v1/user/access_token_info`.
    pub app_id: i64,
    /// The consent items the user has agreed to. `scope` at authorize adds to these
    /// (additional consent); `-402` names what is missing.
    pub scopes: Vec<String>,
    /// The consent items switched off in the Kakao console: calls that need them get `-3`.
    pub disabled_scopes: Vec<String>,
    /// When true, authorize redirects with `error=access_denied` (the user pressed Cancel).
    pub deny_consent: bool,
    /// What to do with text templates over 200 characters.
    pub long_text: LongText,
    /// Messages one sender may send to friends per day (`-532` beyond).
    pub sender_daily_quota: u32,
    /// Messages one receiver may receive from this app per day (`-533` beyond).
    pub receiver_daily_quota: u32,
    /// Messages per sender↔receiver pair per day (`-536` beyond).
    pub pair_daily_quota: u32,
    /// A delay before every response (to make a run slow enough to interrupt).
    pub delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: "fake-rest-api-key".into(),
            client_secret: None,
            redirect_uris: vec!["http://localhost:8765/callback".into()],
            access_lifetime: Duration::from_secs(21_600),
            refresh_lifetime: Duration::from_secs(5_184_000),
            code_lifetime: Duration::from_secs(600),
            access_issue_limit: 20,
            refresh_issue_limit: 30,
            user_id: 4_100_000_001,
            nickname: "홍길동".into(),
            app_id: 1_234_567,
            scopes: vec!["talk_message".into(), "friends".into()],
            disabled_scopes: Vec::new(),
            deny_consent: false,
            long_text: LongText::Accept,
            sender_daily_quota: 100,
            receiver_daily_quota: 100,
            pair_daily_quota: 20,
            delay: Duration::ZERO,
        }
    }
}

/// One HTTP request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Decoded form fields when the body was form-encoded, in order; empty otherwise.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// The `Content-Type` header, verbatim.
    pub content_type: Option<String>,
    /// The raw body (lossy UTF-8).
    pub body: String,
}

impl Recorded {
    /// The first form field with this name.
    pub fn form_field(&self, name: &str) -> Option<&str> {
        find(&self.form, name)
    }

    /// The first query parameter with this name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        find(&self.query, name)
    }
}

/// Looks a field up in decoded pairs (first occurrence wins, as most servers do).
pub fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An error the fake answered with: the KOE code (`"KOE322"`) or the kapi code (`"-401"`),
/// including each code in a multi-receiver send's `failure_info` (logged with status 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The path of the request that got it.
    pub path: String,
    /// The HTTP status sent.
    pub status: u16,
    /// `"KOE…"` for kauth errors, the negative number as text for kapi errors.
    pub code: String,
}

/// An access or refresh token the fake issued.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token string.
    pub token: String,
    /// When it stops working, on the fake's clock.
    pub expires_at: Duration,
    /// Killed before its expiry: rotated away, logged out or revoked by a test.
    pub revoked: bool,
}

/// A test's view of an issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// The token string.
    pub token: String,
    /// Whether the fake would accept it now.
    pub valid: bool,
    /// Time left before it expires (zero once expired), regardless of revocation.
    pub expires_in: Duration,
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct Code {
    /// The redirect URI the code was delivered to (must be repeated at `/oauth/token`).
    pub redirect_uri: String,
    /// The PKCE S256 challenge sent with the authorize request, if any.
    pub challenge: Option<String>,
    /// When the code stops being exchangeable.
    pub expires_at: Duration,
}

/// A friend of the user, as the friends API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    /// The app-scoped uuid used in `receiver_uuids`.
    pub uuid: String,
    /// The friend's service user id.
    pub id: i64,
    /// `profile_nickname`.
    pub nickname: String,
    /// Whether the friend is a favourite (sorted first by `friend_order=favorite`).
    pub favorite: bool,
    /// `false`: the friend blocks messages from this app (`-530`).
    pub allowed_msg: bool,
}

/// A message the fake accepted for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `"me"` or the receiver's uuid.
    pub recipient: String,
    /// The parsed `template_object`.
    pub template: Value,
}

/// A failure the fake injects into the next request whose path matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with `{"code":-1,"msg":"internal error"}`.
    ServerError,
    /// A kapi error body with this HTTP status and code, e.g. `(400, -7)` for maintenance.
    Code {
        /// HTTP status.
        status: u16,
        /// Kakao error code.
        code: i64,
        /// Message.
        msg: String,
    },
    /// Close the connection without any response.
    Reset,
    /// Wait this long, then answer normally (lets a client's timeout fire).
    Slow(Duration),
    /// Handle the request (a send is recorded as delivered), then close the connection
    /// instead of answering: the client cannot tell the message went out.
    ResetAfterRecording,
}

/// A queued fault and the path it waits for.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Exact request path this fault applies to, or `None` for any path.
    pub path: Option<String>,
    /// What to do.
    pub fault: Fault,
}

/// The whole fake, behind one mutex.
#[derive(Debug)]
pub struct State {
    /// Knobs.
    pub config: Config,
    /// The server's own base URL (for the friends API's `after_url` / `before_url`).
    pub base_url: String,
    epoch: Instant,
    offset: Duration,
    serial: u64,
    nonce: String,
    /// Codes waiting for exchange, by code.
    pub codes: HashMap<String, Code>,
    /// Issued access tokens, in issue order.
    pub access: Vec<Token>,
    /// Issued refresh tokens, in issue order.
    pub refresh: Vec<Token>,
    /// When each access token was issued (for the issuance limit).
    access_issued: VecDeque<Duration>,
    /// When each refresh token was issued (for the issuance limit).
    refresh_issued: VecDeque<Duration>,
    /// Every request, in arrival order.
    pub requests: Vec<Recorded>,
    /// Every error answered, in order.
    pub emitted: Vec<Emitted>,
    /// The user's friends, in insertion order.
    pub friends: Vec<Friend>,
    /// Every message accepted, in order.
    pub delivered: Vec<Delivery>,
    /// Messages counted per quota key (sender, receiver or pair) and fake day.
    pub sent_counts: HashMap<(u64, String), u32>,
    /// Faults waiting for a matching request.
    pub faults: VecDeque<Queued>,
    /// Kakao down for a span of time (see [`Outage`]).
    pub outage: Option<Outage>,
}

/// kapi down until `until` (real time): every kapi request in the span fails — reads
/// (GET) with a reset connection, sends with HTTP 500 `-1` — and no message is accepted.
/// kauth stays up. A reset on a send would count toward the "may have arrived" limit of
/// that (recipient, part), so an outage resets only reads.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// When kapi answers again.
    pub until: Instant,
}

impl State {
    /// A fresh fake with the default configuration.
    pub fn new(base_url: String) -> Self {
        // A per-instance suffix keeps tokens from two fakes in one test process apart.
        let nonce = format!("{:016x}", RandomState::new().hash_one(Instant::now()));
        State {
            config: Config::default(),
            base_url,
            epoch: Instant::now(),
            offset: Duration::ZERO,
            serial: 0,
            nonce,
            codes: HashMap::new(),
            access: Vec::new(),
            refresh: Vec::new(),
            access_issued: VecDeque::new(),
            refresh_issued: VecDeque::new(),
            requests: Vec::new(),
            emitted: Vec::new(),
            friends: Vec::new(),
            delivered: Vec::new(),
            sent_counts: HashMap::new(),
            faults: VecDeque::new(),
            outage: None,
        }
    }

    /// The fake's clock: real time since start plus whatever tests advanced it by.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed() + self.offset
    }

    /// Move the fake's clock forward (tokens age, codes expire, quotas reset).
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }

    /// The fake day number, for daily quotas.
    pub fn day(&self) -> u64 {
        self.now().as_secs() / DAY.as_secs()
    }

    /// A new opaque string with a kind prefix, unique within this fake.
    pub fn mint(&mut self, kind: &str) -> String {
        self.serial += 1;
        format!("{kind}{:06}{}", self.serial, self.nonce)
    }

    /// Records an error response so tests can ask `saw_error_code`.
    pub fn emit(&mut self, path: &str, status: u16, code: impl Into<String>) {
        self.emitted.push(Emitted {
            path: path.to_string(),
            status,
            code: code.into(),
        });
    }

    /// Whether the issuance limits allow one more access token (and a refresh token if
    /// `with_refresh`). Old issuance times fall out of the windows as the clock moves.
    pub fn may_issue(&mut self, with_refresh: bool) -> bool {
        let now = self.now();
        prune(&mut self.access_issued, now, ACCESS_ISSUE_WINDOW);
        prune(&mut self.refresh_issued, now, REFRESH_ISSUE_WINDOW);
        self.access_issued.len() < self.config.access_issue_limit
            && (!with_refresh || self.refresh_issued.len() < self.config.refresh_issue_limit)
    }

    /// Issues a new access token, counting it against the limit.
    pub fn issue_access(&mut self) -> String {
        let now = self.now();
        let token = self.mint("fakeAT");
        self.access_issued.push_back(now);
        self.access.push(Token {
            token: token.clone(),
            expires_at: now + self.config.access_lifetime,
            revoked: false,
        });
        token
    }

    /// Issues a new refresh token, counting it against the limit.
    pub fn issue_refresh(&mut self) -> String {
        let now = self.now();
        let token = self.mint("fakeRT");
        self.refresh_issued.push_back(now);
        self.refresh.push(Token {
            token: token.clone(),
            expires_at: now + self.config.refresh_lifetime,
            revoked: false,
        });
        token
    }

    /// The live refresh token with this value, if any.
    pub fn live_refresh(&mut self, token: &str) -> Option<&mut Token> {
        let now = self.now();
        self.refresh
            .iter_mut()
            .find(|t| t.token == token && !t.revoked && t.expires_at > now)
    }

    /// Checks a bearer access token: `Ok` if live, else the `-401` message Kakao sends.
    pub fn check_access(&self, token: &str) -> Result<(), &'static str> {
        let now = self.now();
        match self.access.iter().find(|t| t.token == token) {
            Some(t) if t.revoked => Err("this access token does not exist"),
            Some(t) if t.expires_at <= now => Err("this access token is already expired"),
            Some(_) => Ok(()),
            None => Err("this access token does not exist"),
        }
    }

    /// Revokes every token the user holds (logout, unlink, `revoke_all`).
    pub fn revoke_all(&mut self) {
        for t in self.access.iter_mut().chain(self.refresh.iter_mut()) {
            t.revoked = true;
        }
    }

    /// Makes every access token expire now (refresh tokens keep working).
    pub fn expire_access_tokens(&mut self) {
        let now = self.now();
        for t in &mut self.access {
            t.expires_at = t.expires_at.min(now);
        }
    }

    /// A test's view of some tokens.
    pub fn view(&self, tokens: &[Token]) -> Vec<TokenView> {
        let now = self.now();
        tokens
            .iter()
            .map(|t| TokenView {
                token: t.token.clone(),
                valid: !t.revoked && t.expires_at > now,
                expires_in: t.expires_at.saturating_sub(now),
            })
            .collect()
    }

    /// The consent items of `needed` that the user has not agreed to.
    pub fn missing_scopes(&self, needed: &[&str]) -> Vec<String> {
        needed
            .iter()
            .filter(|s| !self.config.scopes.iter().any(|have| have == *s))
            .map(|s| s.to_string())
            .collect()
    }

    /// The first of `needed` that is switched off in the console.
    pub fn disabled_scope(&self, needed: &[&str]) -> Option<String> {
        needed
            .iter()
            .find(|s| self.config.disabled_scopes.iter().any(|off| off == *s))
            .map(|s| s.to_string())
    }

    /// Adds consent items (additional consent at authorize), keeping order, no duplicates.
    pub fn grant_scopes<'a>(&mut self, scopes: impl IntoIterator<Item = &'a str>) {
        for scope in scopes {
            if !scope.is_empty() && !self.config.scopes.iter().any(|s| s == scope) {
                self.config.scopes.push(scope.to_string());
            }
        }
    }
}

fn prune(issued: &mut VecDeque<Duration>, now: Duration, window: Duration) {
    while issued.front().is_some_and(|at| *at + window <= now) {
        issued.pop_front();
    }
}
