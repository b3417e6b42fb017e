//! A fake Kakao (kauth + kapi) on 127.0.0.1 for kbot's tests.
//!
//! Owns the server's life (on the test's runtime with [`FakeKakao::start`] or on its own
//! thread with [`FakeKakao::start_on_thread`] for sync tests that drive the `kbot` binary),
//! request recording, the global delay and fault injection (including closing a connection
//! without an answer), and the handle tests use to configure and inspect it. The endpoint
//! rules live in `oauth.rs` (kauth) and `api.rs` (kapi); the data in `state.rs`.
//! Cutting connections is `conn.rs`. I/O: a TCP listener on a loopback port; nothing else.
//!
//! ```ignore
//! mod support;
//! use support::fake_kakao::FakeKakao;
//! let fake = FakeKakao::start().await;
//! fake.configure(|c| c.client_secret = Some("s3cret".into()));
//! // point kbot's auth_url and api_url at fake.url()
//! ```
//!
//! One server answers both hosts' paths, so `auth_url` and `api_url` are both [`FakeKakao::url`].
//! All handle methods are synchronous: they work from async and sync tests alike.
//!
//! Routes: `GET /oauth/authorize`, `POST /oauth/token`, `GET|POST /v2/user/me`,
//! `GET /v1/user/access_token_info`, `POST /v1/user/logout`, `GET /v1/api/talk/friends`,
//! `POST /v2/api/talk/memo/default/send`, `POST /v1/api/talk/friends/message/default/send`.
//! Defaults (see [`Config`]): client_id `fake-rest-api-key`, no client secret, redirect URI
//! `http://localhost:8765/callback`, tokens 6 h / 60 days, scopes `talk_message friends`.

pub mod api;
pub mod conn;
pub mod oauth;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use state::{Config, Delivery, Emitted, Fault, Friend, LongText, Outage, Recorded, TokenView};

use conn::{Conn, KillableListener, kill};
use state::{Queued, State};

/// The fake's state, shared by the handle and the handlers.
pub type Shared = Arc<Mutex<State>>;

/// Locks the state; a panicking test thread must not make every later call panic too.
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Tokens minted directly by a test (no login flow), as a logged-in kbot would hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// A live access token.
    pub access_token: String,
    /// A live refresh token.
    pub refresh_token: String,
}

/// A running fake Kakao server. Stops when dropped.
#[derive(Debug)]
pub struct FakeKakao {
    shared: Shared,
    url: String,
    runner: Runner,
}

#[derive(Debug)]
enum Runner {
    Task(tokio::task::JoinHandle<()>),
    Thread {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

impl Drop for FakeKakao {
    fn drop(&mut self) {
        match &mut self.runner {
            Runner::Task(task) => task.abort(),
            Runner::Thread { stop, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

impl FakeKakao {
    /// Starts the fake on the current tokio runtime, on `127.0.0.1:0`.
    pub async fn start() -> FakeKakao {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Kakao server");
        let url = base_url(&listener);
        let shared: Shared = Arc::new(Mutex::new(State::new(url.clone())));
        let task = tokio::spawn(serve(listener, shared.clone()));
        FakeKakao {
            shared,
            url,
            runner: Runner::Task(task),
        }
    }

    /// Starts the fake on its own thread with its own runtime, for sync tests (assert_cmd).
    pub fn start_on_thread() -> FakeKakao {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a loopback port for the fake Kakao server");
        listener
            .set_nonblocking(true)
            .expect("make the fake's listener non-blocking");
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has a local address")
        );
        let shared: Shared = Arc::new(Mutex::new(State::new(url.clone())));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_state = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the fake Kakao server's runtime");
            runtime.block_on(async move {
                let listener =
                    TcpListener::from_std(listener).expect("hand the fake's listener to tokio");
                tokio::select! {
                    () = serve(listener, server_state) => {}
                    _ = stopped => {}
                }
            });
        });
        FakeKakao {
            shared,
            url,
            runner: Runner::Thread {
                stop: Some(stop),
                thread: Some(thread),
            },
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`), for both `auth_url` and `api_url`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Changes the configuration (client secret, lifetimes, scopes, quotas, …) at any time.
    pub fn configure(&self, change: impl FnOnce(&mut Config)) {
        change(&mut lock(&self.shared).config);
    }

    /// A copy of the current configuration (e.g. the scopes after additional consent).
    pub fn config(&self) -> Config {
        lock(&self.shared).config.clone()
    }

    /// Moves the fake's clock forward: tokens age and expire, codes expire, a new day
    /// resets the message quotas, issuance limits forget old tokens.
    pub fn advance(&self, by: Duration) {
        lock(&self.shared).advance(by);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// The requests to one path, in order.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests hit this path.
    pub fn count(&self, path: &str) -> usize {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Every error the fake answered with, in order.
    pub fn errors(&self) -> Vec<Emitted> {
        lock(&self.shared).emitted.clone()
    }

    /// Whether the fake answered some request with this code (`"KOE322"`, `"-401"`, …).
    pub fn saw_error_code(&self, code: &str) -> bool {
        lock(&self.shared).emitted.iter().any(|e| e.code == code)
    }

    /// Every refresh token issued, with whether it still works.
    pub fn refresh_tokens(&self) -> Vec<TokenView> {
        let fake = lock(&self.shared);
        fake.view(&fake.refresh)
    }

    /// The refresh tokens that still work.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.refresh_tokens()
            .into_iter()
            .filter(|t| t.valid)
            .map(|t| t.token)
            .collect()
    }

    /// Every access token issued, with whether it still works.
    pub fn access_tokens(&self) -> Vec<TokenView> {
        let fake = lock(&self.shared);
        fake.view(&fake.access)
    }

    /// Mints a live token pair without the login flow, as a logged-in kbot would hold it.
    /// Nothing is recorded as a request, but it counts against the issuance limits.
    pub fn issue_tokens(&self) -> IssuedTokens {
        let mut fake = lock(&self.shared);
        IssuedTokens {
            access_token: fake.issue_access(),
            refresh_token: fake.issue_refresh(),
        }
    }

    /// Revokes every token (as if the user unlinked the app): kapi answers `-401`,
    /// refresh answers KOE322.
    pub fn revoke_all(&self) {
        lock(&self.shared).revoke_all();
    }

    /// Makes every access token expire now; refresh tokens keep working.
    pub fn expire_access_tokens(&self) {
        lock(&self.shared).expire_access_tokens();
    }

    /// What a browser would get from an authorize URL kbot printed, without HTTP: the
    /// `Location` to follow (`Ok`), or the KOE code of the error page (`Err`). The visit is
    /// recorded like a request.
    pub fn visit_authorize(&self, authorize_url: &str) -> Result<String, String> {
        let url = url::Url::parse(authorize_url).map_err(|e| format!("bad authorize URL: {e}"))?;
        let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut fake = lock(&self.shared);
        fake.requests.push(Recorded {
            method: "GET".into(),
            path: url.path().to_string(),
            query: params.clone(),
            form: Vec::new(),
            authorization: None,
            content_type: None,
            body: String::new(),
        });
        oauth::decide_authorize(&mut fake, &params).map_err(|(koe, _)| {
            fake.emit(oauth::AUTHORIZE_PATH, 400, koe);
            koe.to_string()
        })
    }

    /// Queues a fault for the next request to exactly this path. Faults for a path fire
    /// in the order they were queued, one per request.
    pub fn inject(&self, path: &str, fault: Fault) {
        lock(&self.shared).faults.push_back(Queued {
            path: Some(path.to_string()),
            fault,
        });
    }

    /// Queues a fault for the next request to any path.
    pub fn inject_any(&self, fault: Fault) {
        lock(&self.shared)
            .faults
            .push_back(Queued { path: None, fault });
    }

    /// Adds a friend who also uses this app (visible in the friends API, messageable by
    /// uuid unless `allowed_msg` is false). Returns the friend's service user id.
    pub fn add_friend(&self, uuid: &str, nickname: &str, allowed_msg: bool) -> i64 {
        let mut fake = lock(&self.shared);
        let id = 5_000_000_000 + i64::try_from(fake.friends.len()).unwrap_or(i64::MAX / 2);
        fake.friends.push(Friend {
            uuid: uuid.to_string(),
            id,
            nickname: nickname.to_string(),
            favorite: false,
            allowed_msg,
        });
        id
    }

    /// Marks a friend as a favourite (or not).
    pub fn set_favorite(&self, uuid: &str, favorite: bool) {
        let mut fake = lock(&self.shared);
        for friend in fake.friends.iter_mut().filter(|f| f.uuid == uuid) {
            friend.favorite = favorite;
        }
    }

    /// Changes whether a friend accepts messages from this app.
    pub fn set_allowed_msg(&self, uuid: &str, allowed_msg: bool) {
        let mut fake = lock(&self.shared);
        for friend in fake.friends.iter_mut().filter(|f| f.uuid == uuid) {
            friend.allowed_msg = allowed_msg;
        }
    }

    /// Every message accepted so far, in order.
    pub fn delivered(&self) -> Vec<Delivery> {
        lock(&self.shared).delivered.clone()
    }

    /// The templates delivered to one recipient (`"me"` or a uuid), in order.
    pub fn delivered_to(&self, recipient: &str) -> Vec<Value> {
        lock(&self.shared)
            .delivered
            .iter()
            .filter(|d| d.recipient == recipient)
            .map(|d| d.template.clone())
            .collect()
    }

    /// Faults still waiting for a request.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared).faults.len()
    }

    /// Takes kapi down from now for `span` (see [`Outage`]).
    pub fn outage_for(&self, span: Duration) {
        lock(&self.shared).outage = Some(Outage {
            until: std::time::Instant::now() + span,
        });
    }

    /// How many kapi requests the outage turned away so far.
    pub fn turned_away(&self) -> usize {
        lock(&self.shared)
            .emitted
            .iter()
            .filter(|e| e.code == OUTAGE_CODE)
            .count()
    }
}

fn base_url(listener: &TcpListener) -> String {
    let addr = listener
        .local_addr()
        .expect("a bound listener has a local address");
    format!("http://{addr}")
}

async fn serve(listener: TcpListener, shared: Shared) {
    let app = router(shared).into_make_service_with_connect_info::<Conn>();
    // `serve` only returns on an accept-loop failure; the test will see refused connections.
    let _ = axum::serve(KillableListener(listener), app).await;
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route(oauth::AUTHORIZE_PATH, get(oauth::authorize))
        .route(oauth::TOKEN_PATH, post(oauth::token))
        .route(api::ME_PATH, get(api::me).post(api::me))
        .route(api::TOKEN_INFO_PATH, get(api::token_info))
        .route(api::LOGOUT_PATH, post(api::logout))
        .route(api::FRIENDS_PATH, get(api::friends))
        .route(api::MEMO_PATH, post(api::send_to_me))
        .route(api::FRIENDS_SEND_PATH, post(api::send_to_friends))
        .layer(middleware::from_fn_with_state(shared.clone(), intercept))
        .with_state(shared)
}

/// Decoded `application/x-www-form-urlencoded` pairs (also used for query strings).
pub fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// Whether the request says its body is form-encoded (any charset parameter).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A JSON answer with Kakao's content type.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// The code recorded in [`Emitted`] for a request an [`Outage`] turned away.
pub const OUTAGE_CODE: &str = "outage";

/// Records the request, applies the global delay, an outage, and the next matching fault.
async fn intercept(AxumState(shared): AxumState<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path().to_string();
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        query: pairs(parts.uri.query().unwrap_or_default().as_bytes()),
        form: if is_form(&parts.headers) {
            pairs(&bytes)
        } else {
            Vec::new()
        },
        authorization: header_text(header::AUTHORIZATION),
        content_type: header_text(header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let is_read = parts.method == axum::http::Method::GET;
    let (delay, fault) = {
        let mut fake = lock(&shared);
        fake.requests.push(recorded);
        let down = fake
            .outage
            .is_some_and(|o| std::time::Instant::now() < o.until);
        if down && path.starts_with("/v") {
            fake.emit(&path, 500, OUTAGE_CODE);
            drop(fake);
            if is_read {
                let conn = parts
                    .extensions
                    .get::<ConnectInfo<Conn>>()
                    .map(|i| i.0.clone());
                kill(conn.as_ref());
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"code": -1, "msg": "internal error (outage)"}),
            );
        }
        let position = fake
            .faults
            .iter()
            .position(|q| q.path.as_deref().is_none_or(|p| p == path));
        let fault = position
            .and_then(|i| fake.faults.remove(i))
            .map(|q| q.fault);
        (fake.config.delay, fault)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let conn = parts
        .extensions
        .get::<ConnectInfo<Conn>>()
        .map(|info| info.0.clone());
    let request = Request::from_parts(parts, Body::from(bytes));
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    match fault {
        Fault::ServerError => {
            lock(&shared).emit(&path, 500, "-1");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"code": -1, "msg": "internal error"}),
            )
        }
        Fault::Code { status, code, msg } => {
            lock(&shared).emit(&path, status, code.to_string());
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, json!({"code": code, "msg": msg}))
        }
        Fault::Slow(wait) => {
            tokio::time::sleep(wait).await;
            next.run(request).await
        }
        Fault::Reset => {
            kill(conn.as_ref());
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Fault::ResetAfterRecording => {
            let response = next.run(request).await;
            kill(conn.as_ref());
            response
        }
    }
}
