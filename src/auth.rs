//! Logging in to Kakao: the OAuth 2.0 protocol side of kbot (DESIGN §2, §4).
//!
//! Owns the authorization-code flow with PKCE (S256) and `state` — the authorize URL,
//! reading the redirect (from the loopback listener in `listener.rs` or pasted by the user),
//! the code exchange — plus the refresh-grant call, Kakao's token-endpoint types (a token
//! response that keeps `refresh_token_expires_in`, an error that keeps the `KOE…` code) and
//! what each KOE code means for the user ([`AuthError`]: message, exit code, fix).
//!
//! Does not own when tokens are refreshed or the refresh lock (`session.rs`), where tokens
//! live (`secrets.rs`), the kapi calls (`kakao.rs`) or any CLI printing beyond the login link.
//!
//! I/O: HTTP to the Kakao token endpoint (through oauth2 5 on our `http::oauth_client`), the
//! loopback listener, stdin/stdout during login, the browser. The decisions — URLs, redirect
//! parsing, token arithmetic, error mapping — are pure functions tested below.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use url::Url;

use crate::clock::Clock;
use crate::error::{Exit, Report};
use crate::listener::{Listener, Outcome, Redirect};
use crate::secrets::{SecretsError, Tokens};
use crate::terminal::inert;

/// How long `kbot login` waits for the redirect by default.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The environment variable that supplies the client secret.
pub const CLIENT_SECRET_ENV: &str = "KBOT_CLIENT_SECRET";

/// A Kakao app as kbot uses it (from `[kakao]` in the config).
#[derive(Debug, Clone)]
pub struct App {
    /// The REST API key.
    pub client_id: String,
    /// The client secret, when the app has one enabled (from env, prompt or store).
    pub client_secret: Option<SecretString>,
    /// `kakao.redirect_uri`: must be registered in the Kakao console, exactly.
    pub redirect_uri: Url,
    /// `kakao.auth_url`, e.g. `https://kauth.kakao.com` (tests point it at loopback).
    pub auth_url: Url,
}

impl App {
    /// `{auth_url}/oauth/authorize`.
    pub fn authorize_endpoint(&self) -> Result<Url, AuthError> {
        endpoint(&self.auth_url, "oauth/authorize")
    }

    /// `{auth_url}/oauth/token`.
    pub fn token_endpoint(&self) -> Result<Url, AuthError> {
        endpoint(&self.auth_url, "oauth/token")
    }
}

fn endpoint(base: &Url, path: &str) -> Result<Url, AuthError> {
    let text = format!("{}/{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|err| AuthError::Config {
        detail: format!("kakao.auth_url {base} does not make a URL for {path}: {err}"),
    })
}

/// Kakao's extra token-response field (oauth2's standard response drops unknown fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KakaoTokenFields {
    /// Seconds the refresh token lives; present on login, and on refresh only with a rotated
    /// refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<u64>,
}

impl ExtraTokenFields for KakaoTokenFields {}

/// A token-endpoint success response. Its `Debug` redacts the tokens (oauth2's secret types).
pub type TokenResponse = StandardTokenResponse<KakaoTokenFields, oauth2::basic::BasicTokenType>;

/// A token-endpoint error body: `{"error", "error_description", "error_code": "KOE…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KakaoOAuthError {
    /// The OAuth error, e.g. `invalid_grant`.
    #[serde(default)]
    pub error: String,
    /// Kakao's explanation (may quote the code: pass it through [`scrub`] before showing it).
    #[serde(default)]
    pub error_description: Option<String>,
    /// Kakao's own code, e.g. `KOE320`.
    #[serde(default)]
    pub error_code: Option<String>,
}

impl fmt::Display for KakaoOAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", inert(&self.error))?;
        if let Some(code) = &self.error_code {
            write!(f, " {}", inert(code))?;
        }
        if let Some(description) = &self.error_description {
            write!(f, " ({})", inert(&scrub(description)))?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for KakaoOAuthError {}

/// The oauth2 client kbot uses: auth and token endpoints set, Kakao's response and error types.
type OAuthClient = oauth2::Client<
    KakaoOAuthError,
    TokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn oauth_client(app: &App, secret: Option<&SecretString>) -> Result<OAuthClient, AuthError> {
    let client = oauth2::Client::new(ClientId::new(app.client_id.clone()))
        // Kakao documents client credentials in the form body only.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::from_url(app.authorize_endpoint()?))
        .set_token_uri(TokenUrl::from_url(app.token_endpoint()?))
        .set_redirect_uri(RedirectUrl::from_url(app.redirect_uri.clone()));
    Ok(match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose_secret().into())),
        None => client,
    })
}

/// Which token-endpoint call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Exchanging the authorization code (login).
    Code,
    /// Refreshing the access token.
    Refresh,
}

/// Why logging in or getting a token failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No tokens in the store.
    #[error("not logged in: no Kakao token in the {store}")]
    NotLoggedIn {
        /// The store, as `secrets::Store::describe` says it.
        store: String,
    },
    /// Kakao refused the refresh token (KOE322: expired, rotated away or unlinked).
    #[error("kakao rejected the refresh token{}: log in again", code_suffix(.code))]
    RefreshRejected {
        /// Kakao's code, normally KOE322.
        code: Option<String>,
    },
    /// The token endpoint answered with an error (see [`Rejection`]).
    #[error("{0}")]
    Kakao(Box<Rejection>),
    /// The redirect came back with a different `state`.
    #[error(
        "the login redirect's state does not match this login (an old browser tab, or a link kbot did not make)"
    )]
    StateMismatch,
    /// The user pressed Cancel on Kakao's consent screen.
    #[error("login was cancelled on Kakao's consent screen ({})", .description.as_deref().unwrap_or("access_denied"))]
    AccessDenied {
        /// Kakao's `error_description`.
        description: Option<String>,
    },
    /// The redirect carried another `error=`.
    #[error("kakao refused the authorization: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Authorize {
        /// The `error` parameter.
        error: String,
        /// The `error_description` parameter, scrubbed.
        description: Option<String>,
    },
    /// The redirect (or pasted text) had no `code`.
    #[error(
        "no authorization code in what came back: expected the redirected address (…?code=…&state=…) or the code itself"
    )]
    MissingCode,
    /// Nothing arrived before `--timeout`.
    #[error("no login redirect arrived within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The timeout.
        after: Duration,
        /// `--no-browser` was given (the hint does not suggest it again).
        no_browser: bool,
        /// `kakao.redirect_uri`, for the hint.
        redirect_uri: String,
    },
    /// Neither the listener nor stdin can deliver the redirect.
    #[error(
        "cannot receive the login redirect: nothing listens on {redirect_uri} and stdin is closed"
    )]
    NoWayBack {
        /// `kakao.redirect_uri`.
        redirect_uri: String,
    },
    /// The token endpoint could not be reached.
    #[error("cannot reach the Kakao token endpoint {url}")]
    Http {
        /// The endpoint.
        url: Url,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint answered something kbot does not understand.
    #[error("unexpected answer from {url}: {detail}")]
    BadResponse {
        /// The endpoint.
        url: Url,
        /// What was wrong (never the body: it may hold a token).
        detail: String,
    },
    /// `[kakao]` settings that cannot work.
    #[error("{detail}")]
    Config {
        /// What is wrong, naming the key.
        detail: String,
    },
    /// Reading the client secret or writing the login link failed.
    #[error("cannot {action}")]
    Terminal {
        /// What kbot was doing.
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// There is no room to save what a refresh returns, so kbot did not ask Kakao.
    #[error(
        "did not refresh the Kakao login: no room to save its result in the {store} (the stored login still works)"
    )]
    NoRoomToRefresh {
        /// The store, as [`crate::secrets::Store::describe`] says it.
        store: String,
        /// Why the space could not be reserved.
        #[source]
        source: SecretsError,
    },
    /// Kakao rotated the refresh token and kbot could not save the new one: the stored one
    /// no longer works and the new one is gone with this process.
    #[error(
        "kakao rotated the refresh token, but kbot could not save the new one in the {store}: the new refresh token is lost and the stored one no longer works"
    )]
    RotatedTokenNotSaved {
        /// The store, as [`crate::secrets::Store::describe`] says it.
        store: String,
        /// Why the save failed.
        #[source]
        source: SecretsError,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl Report for AuthError {
    fn exit(&self) -> Exit {
        match self {
            AuthError::NotLoggedIn { .. }
            | AuthError::RefreshRejected { .. }
            | AuthError::StateMismatch
            | AuthError::AccessDenied { .. }
            | AuthError::Authorize { .. }
            | AuthError::MissingCode
            | AuthError::Timeout { .. }
            | AuthError::NoWayBack { .. } => Exit::Login,
            AuthError::Kakao(rejection) => rejection.exit(),
            AuthError::Config { .. } => Exit::Config,
            AuthError::Http { .. } | AuthError::BadResponse { .. } | AuthError::Terminal { .. } => {
                Exit::Failure
            }
            AuthError::Secrets(err) => err.exit(),
            AuthError::NoRoomToRefresh { .. } => Exit::Failure,
            AuthError::RotatedTokenNotSaved { .. } => Exit::Login,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            AuthError::NotLoggedIn { .. } | AuthError::RefreshRejected { .. } => {
                "kbot login".to_string()
            }
            AuthError::Kakao(rejection) => return rejection.hint(),
            AuthError::StateMismatch => "kbot login, and use the link it prints this time".to_string(),
            AuthError::AccessDenied { .. } => {
                "kbot login, and press Agree (kbot needs the talk_message consent to send)".to_string()
            }
            AuthError::Authorize { .. } => {
                "check that Kakao Login is enabled and kakao.redirect_uri is registered in the Kakao console, then kbot login".to_string()
            }
            AuthError::MissingCode => {
                "kbot login, then paste the whole address the browser ends up on".to_string()
            }
            AuthError::Timeout { no_browser, redirect_uri, .. } => {
                let retry = if *no_browser {
                    "run kbot login again, open the printed link yourself and paste the address you end up on"
                } else {
                    "kbot login --no-browser, open the printed link yourself and paste the address you end up on"
                };
                format!(
                    "if Kakao's page showed KOE006, register exactly {redirect_uri} as a Redirect URI in the Kakao console; KOE101: set kakao.client_id to the app's REST API key. Otherwise: {retry}"
                )
            }
            AuthError::NoWayBack { redirect_uri } => format!(
                "free the port of {redirect_uri}, or run kbot login in a terminal and paste the redirected address"
            ),
            AuthError::Config { .. } => "check [kakao] in the config: kbot config check".to_string(),
            AuthError::Secrets(err) => return err.hint(),
            AuthError::NoRoomToRefresh { .. } => {
                "free some space in kbot's data dir (or fix what the error names), then run the command again".to_string()
            }
            AuthError::RotatedTokenNotSaved { .. } => {
                "fix what the error names (free disk space), then kbot login; a running kbot daemon keeps the new token in memory and saves it by itself once it can".to_string()
            }
            AuthError::Http { .. } | AuthError::BadResponse { .. } | AuthError::Terminal { .. } => {
                return None;
            }
        })
    }
}

/// A token-endpoint error with Kakao's code, turned into a message and a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Which call.
    pub grant: Grant,
    /// The parsed error body.
    pub body: KakaoOAuthError,
    /// The client_id used (named in messages).
    pub client_id: String,
    /// The redirect_uri used (named in messages).
    pub redirect_uri: String,
}

impl Rejection {
    /// Kakao's `KOE…` code, if any.
    pub fn code(&self) -> Option<&str> {
        self.body.error_code.as_deref()
    }

    /// Kakao would not take this login's code for a reason without its own fix (a PKCE
    /// verifier that does not match, say): the login has to start over.
    fn is_spoilt_login(&self) -> bool {
        self.grant == Grant::Code && self.body.error == "invalid_grant"
    }

    fn exit(&self) -> Exit {
        match self.code() {
            Some("KOE320" | "KOE010" | "KOE322") => Exit::Login,
            Some("KOE303" | "KOE006" | "KOE004" | "KOE008" | "KOE101") => Exit::Config,
            Some("KOE237") => Exit::Failure, // wait, don't log in again
            _ if self.is_spoilt_login() => Exit::Login,
            _ => Exit::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        let redirect = &self.redirect_uri;
        Some(match self.code() {
            Some("KOE320") => "kbot login (a code works once, for a few minutes)".to_string(),
            Some("KOE303" | "KOE006") => format!(
                "register exactly {redirect} as a Redirect URI in the Kakao console (or set kakao.redirect_uri to the registered one), then kbot login"
            ),
            Some("KOE010") => format!(
                "set {CLIENT_SECRET_ENV} to the client secret in the Kakao console (or turn the client secret off there), then kbot login"
            ),
            Some("KOE237") => "wait 10 minutes: Kakao allows 20 access and 30 refresh tokens per user per hour window".to_string(),
            Some("KOE004") => "enable Kakao Login for the app in the Kakao console".to_string(),
            Some("KOE008" | "KOE101") => "set kakao.client_id to the app's REST API key".to_string(),
            Some("KOE322") => "kbot login".to_string(),
            _ if self.is_spoilt_login() => {
                "kbot login, and open the link it prints exactly as printed".to_string()
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            Some("KOE320") => write!(
                f,
                "kakao rejected the authorization code (KOE320: expired or already used)"
            ),
            Some("KOE303") => write!(
                f,
                "kakao says redirect_uri {} differs from the one the code was issued for (KOE303)",
                self.redirect_uri
            ),
            Some("KOE006") => write!(
                f,
                "redirect_uri {} is not registered for client_id {} (KOE006)",
                self.redirect_uri, self.client_id
            ),
            Some("KOE010") => write!(
                f,
                "kakao rejected the client credentials of client_id {} (KOE010: client secret missing or wrong)",
                self.client_id
            ),
            Some("KOE237") => write!(f, "kakao is rate-limiting token requests (KOE237)"),
            _ => {
                let call = match self.grant {
                    Grant::Code => "login",
                    Grant::Refresh => "refresh",
                };
                let body = self.body.to_string();
                if body.trim().is_empty() {
                    // E.g. a 5xx whose body is not an OAuth error: nothing to quote.
                    write!(
                        f,
                        "kakao refused the {call} token request without an OAuth error (a passing problem at Kakao?)"
                    )
                } else {
                    write!(f, "kakao refused the {call} token request: {body}")
                }
            }
        }
    }
}

/// Remove values that follow `code=`, `token=`, `verifier=` or `secret=` (Kakao echoes the
/// code in KOE320 descriptions), so an error message never carries one.
pub fn scrub(text: &str) -> String {
    const KEYS: [&str; 4] = ["code=", "token=", "verifier=", "secret="];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, key)) = KEYS
        .iter()
        .filter_map(|key| rest.find(key).map(|at| (at, *key)))
        .min_by_key(|(at, _)| *at)
    {
        let after = at + key.len();
        out.push_str(&rest[..after]);
        out.push('…');
        let value_len = rest[after..]
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | ',' | ';' | ')' | '"'))
            .unwrap_or(rest.len() - after);
        rest = &rest[after + value_len..];
    }
    out.push_str(rest);
    out
}

type RequestError = RequestTokenError<HttpClientError<reqwest::Error>, KakaoOAuthError>;

/// Turn an oauth2 failure into an [`AuthError`] without ever quoting a response body.
fn request_error(err: RequestError, grant: Grant, app: &App, url: &Url) -> AuthError {
    match err {
        RequestTokenError::ServerResponse(mut body) => {
            // Scrub once here so no later Display or Debug can show a code Kakao echoed.
            body.error_description = body.error_description.map(|d| scrub(&d));
            let refresh_refused = grant == Grant::Refresh
                && (body.error_code.as_deref() == Some("KOE322")
                    || (body.error_code.is_none() && body.error == "invalid_grant"));
            if refresh_refused {
                return AuthError::RefreshRejected {
                    code: body.error_code,
                };
            }
            AuthError::Kakao(Box::new(Rejection {
                grant,
                body,
                client_id: app.client_id.clone(),
                redirect_uri: app.redirect_uri.to_string(),
            }))
        }
        RequestTokenError::Request(HttpClientError::Reqwest(source)) => AuthError::Http {
            url: url.clone(),
            source: *source,
        },
        RequestTokenError::Request(other) => AuthError::BadResponse {
            url: url.clone(),
            detail: other.to_string(),
        },
        RequestTokenError::Parse(err, _body) => {
            let what = match err.inner().classify() {
                serde_json::error::Category::Data => "a missing or mistyped field",
                _ => "not JSON",
            };
            AuthError::BadResponse {
                url: url.clone(),
                detail: format!("{what} at `{}`", err.path()),
            }
        }
        RequestTokenError::Other(detail) => AuthError::BadResponse {
            url: url.clone(),
            detail,
        },
    }
}

/// The S256 PKCE challenge of a verifier: unpadded base64url of its SHA-256.
/// `None` unless the verifier is 43–128 unreserved characters (RFC 7636 §4.1).
pub fn pkce_challenge(verifier: &str) -> Option<String> {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    // oauth2 asserts the length itself: only call it with a verifier that passes.
    valid.then(|| {
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_string()))
            .as_str()
            .to_string()
    })
}

/// The authorize URL for a login (pure): client_id, redirect_uri, response_type=code, the
/// scopes (space-separated, as the SDKs send them), state, and the S256 challenge.
pub fn authorize_url(
    app: &App,
    scopes: &[String],
    state: &str,
    verifier: &SecretString,
) -> Result<Url, AuthError> {
    // Checked first: oauth2 asserts on a verifier of the wrong length.
    if pkce_challenge(verifier.expose_secret()).is_none() {
        return Err(AuthError::Config {
            detail: "the PKCE verifier must be 43 to 128 unreserved characters".to_string(),
        });
    }
    let client = oauth_client(app, None)?;
    let state = CsrfToken::new(state.to_string());
    let (url, _) = client
        .authorize_url(move || state)
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(
            &PkceCodeVerifier::new(verifier.expose_secret().to_string()),
        ))
        .url();
    Ok(url)
}

/// One login attempt: the URL to open and what the redirect must match.
#[derive(Debug)]
pub struct LoginRequest {
    /// The authorize URL.
    pub url: Url,
    /// The `state` the redirect must carry.
    pub state: String,
    /// The PKCE verifier sent with the code.
    pub verifier: SecretString,
}

impl LoginRequest {
    /// A fresh random state and PKCE verifier (32 random bytes each, base64url).
    pub fn new(app: &App, scopes: &[String]) -> Result<LoginRequest, AuthError> {
        let state = CsrfToken::new_random().secret().clone();
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        let verifier = SecretString::from(verifier.secret().clone());
        let url = authorize_url(app, scopes, &state, &verifier)?;
        Ok(LoginRequest {
            url,
            state,
            verifier,
        })
    }
}

/// Read the authorization code out of what came back (pure). Accepts the full redirected
/// URL, its query string (with or without `?`), or the bare code. A bare code cannot be
/// checked against `state`; it is accepted because the user pasted it from their own browser.
pub fn parse_redirect(input: &str, expected_state: &str) -> Result<SecretString, AuthError> {
    let input = input.trim();
    if is_bare_code(input) {
        return Ok(SecretString::from(input.to_string()));
    }
    let query = match Url::parse(input) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            url.query().unwrap_or("").to_string()
        }
        _ if input.contains('=') => input.trim_start_matches('?').to_string(),
        _ => return Err(AuthError::MissingCode),
    };
    parse_query(&query, expected_state)
}

/// Kakao's codes are long (tens of characters); a short word is a mistake, not a code.
const MIN_BARE_CODE: usize = 20;

fn is_bare_code(input: &str) -> bool {
    input.len() >= MIN_BARE_CODE
        && input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// Read the code out of a redirect's query string (pure); used by the listener too.
pub fn parse_query(query: &str, expected_state: &str) -> Result<SecretString, AuthError> {
    let (mut code, mut state, mut error, mut description) = (None, None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "error" => error = Some(inert(&value)),
            "error_description" => description = Some(inert(&scrub(&value))),
            _ => {}
        }
    }
    // Kakao may omit state on errors; a mismatching one still means "not our login".
    let state_ok = state.as_deref() == Some(expected_state);
    if let Some(error) = error {
        if state.is_some() && !state_ok {
            return Err(AuthError::StateMismatch);
        }
        return Err(if error == "access_denied" {
            AuthError::AccessDenied { description }
        } else {
            AuthError::Authorize { error, description }
        });
    }
    match code {
        Some(code) if !code.is_empty() => {
            if state_ok {
                Ok(SecretString::from(code))
            } else {
                Err(AuthError::StateMismatch)
            }
        }
        _ => Err(AuthError::MissingCode),
    }
}

/// Tokens from the login (code) response (pure). `client_secret` is kept for refreshes.
pub fn tokens_from_login(
    response: &TokenResponse,
    client_secret: Option<SecretString>,
    now: DateTime<Utc>,
) -> Option<Tokens> {
    let refresh_token = response.refresh_token()?;
    Some(Tokens {
        refresh_token: SecretString::from(refresh_token.secret().clone()),
        refresh_token_expires_at: expiry(now, response.extra_fields().refresh_token_expires_in),
        access_token: Some(SecretString::from(response.access_token().secret().clone())),
        access_token_expires_at: expiry(now, response.expires_in().map(|d| d.as_secs())),
        scopes: scopes_of(response).unwrap_or_default(),
        client_secret,
        nickname: None,
    })
}

/// The stored tokens after a refresh response (pure): a new access token; the refresh token
/// and its expiry replaced only when Kakao rotated it, kept otherwise.
pub fn apply_refresh(old: &Tokens, response: &TokenResponse, now: DateTime<Utc>) -> Tokens {
    let mut new = old.clone();
    new.access_token = Some(SecretString::from(response.access_token().secret().clone()));
    new.access_token_expires_at = expiry(now, response.expires_in().map(|d| d.as_secs()));
    if let Some(rotated) = response.refresh_token() {
        new.refresh_token = SecretString::from(rotated.secret().clone());
        new.refresh_token_expires_at =
            expiry(now, response.extra_fields().refresh_token_expires_in);
    }
    if let Some(scopes) = scopes_of(response) {
        new.scopes = scopes;
    }
    new
}

fn scopes_of(response: &TokenResponse) -> Option<Vec<String>> {
    response
        .scopes()
        .map(|scopes| scopes.iter().map(|s| s.to_string()).collect())
}

fn expiry(now: DateTime<Utc>, seconds: Option<u64>) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(seconds?).ok()?;
    now.checked_add_signed(TimeDelta::try_seconds(seconds)?)
}

/// Exchange an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    app: &App,
    http: &reqwest::Client,
    code: &SecretString,
    verifier: &SecretString,
    clock: &dyn Clock,
) -> Result<Tokens, AuthError> {
    let url = app.token_endpoint()?;
    let client = oauth_client(app, app.client_secret.as_ref())?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.expose_secret().to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()))
        .request_async(http)
        .await
        .map_err(|err| request_error(err, Grant::Code, app, &url))?;
    tokens_from_login(&response, app.client_secret.clone(), clock.now()).ok_or(
        AuthError::BadResponse {
            url,
            detail: "the login response has no refresh_token".to_string(),
        },
    )
}

/// One refresh-grant call with the stored refresh token; the result still has to be saved.
pub(crate) async fn refresh_grant(
    app: &App,
    http: &reqwest::Client,
    stored: &Tokens,
    now: DateTime<Utc>,
) -> Result<(Tokens, bool), AuthError> {
    let url = app.token_endpoint()?;
    // A secret given now (env) beats the one stored at login: it may have been changed.
    let secret = app.client_secret.as_ref().or(stored.client_secret.as_ref());
    let client = oauth_client(app, secret)?;
    let refresh_token = RefreshToken::new(stored.refresh_token.expose_secret().to_string());
    let response = client
        .exchange_refresh_token(&refresh_token)
        .request_async(http)
        .await
        .map_err(|err| request_error(err, Grant::Refresh, app, &url))?;
    let rotated = response.refresh_token().is_some();
    Ok((apply_refresh(stored, &response, now), rotated))
}

/// How `kbot login` runs.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// Extra consent scopes to ask for (`--scope`); empty = the console's defaults.
    pub scopes: Vec<String>,
    /// `--no-browser`: only print the link.
    pub no_browser: bool,
    /// `--timeout` (default [`DEFAULT_LOGIN_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            scopes: Vec::new(),
            no_browser: false,
            timeout: DEFAULT_LOGIN_TIMEOUT,
        }
    }
}

/// The interactive login: print the authorize URL on a line of its own, open the browser
/// (unless `no_browser`), then take whichever comes first — the redirect on the loopback
/// listener or a line pasted on `input` (the redirected URL or the code; EOF just stops
/// reading) — and exchange the code. Returns the tokens, not yet saved (see
/// `session::save_login`).
pub async fn login<W, R>(
    app: &App,
    http: &reqwest::Client,
    options: &LoginOptions,
    clock: &dyn Clock,
    out: &mut W,
    input: R,
) -> Result<Tokens, AuthError>
where
    W: std::io::Write,
    R: AsyncBufRead + Unpin,
{
    let request = LoginRequest::new(app, &options.scopes)?;
    let listener = match Listener::bind(&app.redirect_uri).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(redirect_uri = %app.redirect_uri, error = %err, "cannot listen for the redirect");
            None
        }
    };
    let write_err = |source| AuthError::Terminal {
        action: "write the login link",
        source,
    };
    writeln!(out, "Open this link to log in to Kakao:").map_err(write_err)?;
    writeln!(out, "{}", request.url).map_err(write_err)?;
    match &listener {
        Some(_) => writeln!(
            out,
            "Waiting for Kakao to redirect to {}. Or paste the address you end up on (or the code) here.",
            app.redirect_uri
        ),
        None => writeln!(
            out,
            "Nothing can listen on {}: after logging in, paste the address you end up on (or the code) here.",
            app.redirect_uri
        ),
    }
    .and_then(|()| out.flush())
    .map_err(write_err)?;
    if !options.no_browser {
        open_browser(request.url.to_string());
    }

    let (code, tab) =
        receive_code(listener.as_ref(), input, &request.state, options, app, out).await?;
    drop(listener); // stop accepting before the (slower) exchange
    let exchanged = exchange_code(app, http, &code, &request.verifier, clock).await;
    if let Some(tab) = tab {
        tab.reply(match &exchanged {
            Ok(_) => Outcome::LoggedIn,
            Err(err) => Outcome::Failed(format!("kakao did not issue the tokens: {err}")),
        })
        .await;
    }
    exchanged
}

/// Stdin for [`login`], read on a detached thread. `tokio::io::stdin` cannot cancel its
/// blocking read, so after a login won through the listener the runtime's shutdown would
/// hang until the user pressed Enter; a detached thread just dies with the process.
pub fn detached_stdin() -> impl AsyncBufRead + Unpin + Send + 'static {
    use std::io::BufRead as _;
    use tokio::io::AsyncWriteExt as _;
    let (mut tx, rx) = tokio::io::duplex(8 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = SecretString::from(format!("{line}\n")); // may hold a code
            if runtime
                .block_on(tx.write_all(line.expose_secret().as_bytes()))
                .is_err()
            {
                break; // login is over and dropped the reader
            }
        }
        // Dropping `tx` is EOF for the reader.
    });
    tokio::io::BufReader::new(rx)
}

/// Open the browser without waiting for it (a text browser would block until it exits).
/// The browser must not inherit [`CLIENT_SECRET_ENV`], and the opener (the `webbrowser`
/// crate) spawns it with this process's environment: so a child `kbot open-browser` does
/// the opening, started without the secret.
fn open_browser(url: String) {
    let child = std::env::current_exe().and_then(|kbot| {
        std::process::Command::new(kbot)
            .args(["open-browser", &url])
            .env_remove(CLIENT_SECRET_ENV)
            .spawn()
    });
    match child {
        // Reaped off the async threads; it ends when the browser has been handed the link.
        Ok(mut child) => drop(tokio::task::spawn_blocking(move || child.wait())),
        Err(err) => {
            tracing::info!(error = %err, "could not open a browser; open the printed link yourself")
        }
    }
}

/// `kbot open-browser URL`: hand the link to the platform's browser (blocking).
pub fn open_browser_here(url: &str) {
    if let Err(err) = webbrowser::open(url) {
        tracing::info!(error = %err, "could not open a browser; open the printed link yourself");
    }
}

/// What a pasted line is.
#[derive(Debug)]
enum Pasted {
    /// The code of this login.
    Code(SecretString),
    /// This login's redirect, telling why there is no code (cancelled, refused).
    Ended(AuthError),
    /// Not this login's redirect: say why and read the next line.
    Again(&'static str),
}

/// Classify a pasted line (pure): only this login's redirect (or a bare code) ends the wait.
fn read_pasted(line: &str, state: &str) -> Pasted {
    match parse_redirect(line, state) {
        Ok(code) => Pasted::Code(code),
        Err(AuthError::MissingCode) => Pasted::Again(
            "that is not the address the browser ended up on (it looks like http://…/callback?code=…&state=…): paste it again",
        ),
        Err(AuthError::StateMismatch) => Pasted::Again(
            "that address belongs to another login (its state differs): paste the one this login's link leads to",
        ),
        Err(err) => Pasted::Ended(err),
    }
}

/// Wait for this login's redirect: on the listener, or pasted on `input`. With the
/// listener's redirect comes its browser tab, to be told how the login ended.
async fn receive_code<R: AsyncBufRead + Unpin, W: std::io::Write>(
    listener: Option<&Listener>,
    input: R,
    state: &str,
    options: &LoginOptions,
    app: &App,
    out: &mut W,
) -> Result<(SecretString, Option<Redirect>), AuthError> {
    let deadline = tokio::time::sleep(options.timeout);
    tokio::pin!(deadline);
    let from_listener = async {
        match listener {
            Some(listener) => listener.receive(state).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(from_listener);
    let mut lines = input.lines();
    let mut reading = true;
    loop {
        if !reading && listener.is_none() {
            return Err(AuthError::NoWayBack {
                redirect_uri: app.redirect_uri.to_string(),
            });
        }
        tokio::select! {
            redirect = &mut from_listener => {
                return match parse_query(secrecy::ExposeSecret::expose_secret(&redirect.query), state) {
                    Ok(code) => Ok((code, Some(redirect))),
                    Err(err) => {
                        redirect.reply(Outcome::Failed(err.to_string())).await;
                        Err(err)
                    }
                };
            }
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => match read_pasted(&line, state) {
                    Pasted::Code(code) => return Ok((code, None)),
                    Pasted::Ended(err) => return Err(err),
                    Pasted::Again(why) => {
                        writeln!(out, "kbot: {why}")
                            .and_then(|()| out.flush())
                            .map_err(|source| AuthError::Terminal { action: "write to the terminal", source })?;
                    }
                },
                Ok(None) => reading = false, // EOF: keep waiting for the listener
                Err(err) => {
                    tracing::debug!(error = %err, "stdin unreadable; waiting for the listener only");
                    reading = false;
                }
            },
            () = &mut deadline => {
                return Err(AuthError::Timeout {
                    after: options.timeout,
                    no_browser: options.no_browser,
                    redirect_uri: app.redirect_uri.to_string(),
                });
            }
        }
    }
}

/// The client secret for login: `KBOT_CLIENT_SECRET`, else a no-echo prompt when stdin is a
/// terminal, else none. Call it before [`login`] (the prompt reads the terminal directly).
pub fn client_secret_from_env_or_prompt() -> Result<Option<SecretString>, AuthError> {
    resolve_client_secret(
        std::env::var(CLIENT_SECRET_ENV).ok(),
        std::io::stdin().is_terminal(),
        || rpassword::prompt_password("Kakao client secret (press Enter if the app has none): "),
    )
}

/// [`client_secret_from_env_or_prompt`] with its inputs passed in; blank means none.
pub fn resolve_client_secret(
    env: Option<String>,
    is_terminal: bool,
    prompt: impl FnOnce() -> std::io::Result<String>,
) -> Result<Option<SecretString>, AuthError> {
    let text = match env {
        Some(text) => text,
        None if is_terminal => prompt().map_err(|source| AuthError::Terminal {
            action: "read the client secret",
            source,
        })?,
        None => return Ok(None),
    };
    let text = SecretString::from(text);
    let trimmed = text.expose_secret().trim();
    Ok((!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn app() -> App {
        App {
            client_id: "rest-key".into(),
            client_secret: None,
            redirect_uri: Url::parse("http://localhost:8765/callback").unwrap(),
            auth_url: Url::parse("https://kauth.kakao.com").unwrap(),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap()
    }

    fn query_of(url: &Url) -> std::collections::HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    fn tokens(at_expires_in: TimeDelta) -> Tokens {
        Tokens {
            refresh_token: SecretString::from("rt-1"),
            refresh_token_expires_at: Some(t0() + TimeDelta::days(40)),
            access_token: Some(SecretString::from("at-1")),
            access_token_expires_at: Some(t0() + at_expires_in),
            scopes: vec!["talk_message".into()],
            client_secret: None,
            nickname: None,
        }
    }

    fn response(json: &str) -> TokenResponse {
        serde_json::from_str(json).expect("a token response")
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").as_deref(),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
    }

    #[test]
    fn pkce_challenge_refuses_a_bad_verifier_instead_of_panicking() {
        assert_eq!(pkce_challenge("too-short"), None);
        assert_eq!(pkce_challenge(&"a".repeat(129)), None);
        assert_eq!(pkce_challenge(&format!("{}+", "a".repeat(42))), None);
        assert!(pkce_challenge(&"a".repeat(43)).is_some());
    }

    #[test]
    fn authorize_url_carries_every_parameter_kakao_and_pkce_need() {
        let verifier = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let scopes = vec!["talk_message".to_string(), "friends".to_string()];
        let url = authorize_url(&app(), &scopes, "st4te", &verifier).unwrap();
        assert_eq!(
            url.origin().ascii_serialization(),
            "https://kauth.kakao.com"
        );
        assert_eq!(url.path(), "/oauth/authorize");
        let q = query_of(&url);
        assert_eq!(q["client_id"], "rest-key");
        assert_eq!(q["redirect_uri"], "http://localhost:8765/callback");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "talk_message friends");
        assert_eq!(q["state"], "st4te");
        assert_eq!(
            q["code_challenge"],
            pkce_challenge(verifier.expose_secret()).unwrap()
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(!q["code_challenge"].contains('='), "unpadded base64url");
    }

    #[test]
    fn authorize_url_without_scopes_leaves_the_consent_items_to_the_console() {
        let verifier = SecretString::from("a".repeat(43));
        let url = authorize_url(&app(), &[], "s", &verifier).unwrap();
        assert!(!query_of(&url).contains_key("scope"));
    }

    #[test]
    fn endpoints_keep_a_base_path_and_ignore_a_trailing_slash() {
        let mut app = app();
        app.auth_url = Url::parse("http://127.0.0.1:9000/kauth/").unwrap();
        assert_eq!(
            app.token_endpoint().unwrap().as_str(),
            "http://127.0.0.1:9000/kauth/oauth/token"
        );
        assert_eq!(
            app.authorize_endpoint().unwrap().as_str(),
            "http://127.0.0.1:9000/kauth/oauth/authorize"
        );
    }

    #[test]
    fn each_login_request_has_its_own_state_and_verifier() {
        let a = LoginRequest::new(&app(), &[]).unwrap();
        let b = LoginRequest::new(&app(), &[]).unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier.expose_secret(), b.verifier.expose_secret());
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert_eq!(query_of(&a.url)["state"], a.state);
    }

    fn code_of(result: Result<SecretString, AuthError>) -> String {
        result.map(|c| c.expose_secret().to_string()).unwrap()
    }

    #[test]
    fn parse_redirect_accepts_the_url_the_query_or_the_bare_code() {
        let url = "http://localhost:8765/callback?code=c0de-_x&state=s1";
        assert_eq!(code_of(parse_redirect(url, "s1")), "c0de-_x");
        assert_eq!(code_of(parse_redirect("?code=c0de&state=s1", "s1")), "c0de");
        assert_eq!(code_of(parse_redirect("state=s1&code=c0de", "s1")), "c0de");
        assert_eq!(
            code_of(parse_redirect(
                "  c0de-XYZ_9-long-enough-to-be-one  \n",
                "s1"
            )),
            "c0de-XYZ_9-long-enough-to-be-one"
        );
    }

    #[test]
    fn parse_redirect_rejects_a_foreign_or_missing_state() {
        for input in [
            "http://localhost:8765/callback?code=c&state=other",
            "code=c",
        ] {
            assert!(
                matches!(parse_redirect(input, "s1"), Err(AuthError::StateMismatch)),
                "{input}"
            );
        }
    }

    #[test]
    fn parse_redirect_reports_cancel_and_other_errors_distinctly() {
        let denied = parse_redirect(
            "http://localhost:8765/callback?error=access_denied&error_description=User%20denied%20access&state=s1",
            "s1",
        )
        .unwrap_err();
        assert!(matches!(denied, AuthError::AccessDenied { .. }));
        assert_eq!(
            denied.to_string(),
            "login was cancelled on Kakao's consent screen (User denied access)"
        );
        assert_eq!(denied.exit(), Exit::Login);

        let other = parse_redirect(
            "error=consent_required&error_description=user+consent+required.",
            "s1",
        )
        .unwrap_err();
        assert_eq!(
            other.to_string(),
            "kakao refused the authorization: consent_required (user consent required.)"
        );
        // An error for somebody else's login is still "not ours".
        assert!(matches!(
            parse_redirect("error=access_denied&state=zzz", "s1"),
            Err(AuthError::StateMismatch)
        ));
    }

    #[test]
    fn parse_redirect_without_a_code_says_so() {
        for input in [
            "http://localhost:8765/callback",
            "http://localhost:8765/callback?state=s1",
            "state=s1&code=",
            "",
            "not a code at all",
        ] {
            assert!(
                matches!(parse_redirect(input, "s1"), Err(AuthError::MissingCode)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn callback_text_loses_control_and_bidi_characters() {
        // Whole escape sequences go (an OSC title's text too), each leaving a space.
        assert_eq!(
            inert("a\u{1b}]0;title\u{7}b\u{1b}[2Jc\nkbot: error: forged\u{202e}dcba\u{9b}"),
            "a b c kbot: error: forged dcba"
        );
        let err = parse_redirect(
            "error=x%1B%5B2J&error_description=hi%0Akbot%3A%20error%3A%20forged%E2%80%AE&state=s1",
            "s1",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\n') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert_eq!(
            text,
            "kakao refused the authorization: x (hi kbot: error: forged)"
        );
    }

    #[test]
    fn a_pasted_line_that_is_not_this_logins_redirect_is_asked_again() {
        for line in [
            "hello",
            "yes",
            "https://example.com/",
            "http://localhost:8765/callback",
        ] {
            assert!(
                matches!(read_pasted(line, "s1"), Pasted::Again(why) if why.contains("not the address")),
                "{line}"
            );
        }
        assert!(matches!(
            read_pasted("http://localhost:8765/callback?code=c&state=other", "s1"),
            Pasted::Again(why) if why.contains("another login")
        ));
        assert!(matches!(
            read_pasted(
                "http://localhost:8765/callback?error=access_denied&state=s1",
                "s1"
            ),
            Pasted::Ended(AuthError::AccessDenied { .. })
        ));
        assert!(matches!(
            read_pasted("http://localhost:8765/callback?code=c&state=s1", "s1"),
            Pasted::Code(_)
        ));
    }

    #[test]
    fn the_timeout_hint_names_koe006_and_koe101_and_no_flag_already_given() {
        let timeout = |no_browser| AuthError::Timeout {
            after: Duration::from_secs(1),
            no_browser,
            redirect_uri: "http://localhost:8765/callback".into(),
        };
        let hint = timeout(false).hint().unwrap();
        assert!(hint.contains("KOE006") && hint.contains("KOE101"), "{hint}");
        assert!(hint.contains("http://localhost:8765/callback"), "{hint}");
        assert!(hint.contains("kbot login --no-browser"), "{hint}");
        let hint = timeout(true).hint().unwrap();
        assert!(
            hint.contains("KOE006") && !hint.contains("--no-browser"),
            "{hint}"
        );
    }

    #[test]
    fn scrub_hides_codes_and_tokens_in_kakao_descriptions() {
        assert_eq!(
            scrub("authorization code not found for code=AbC123-xyz"),
            "authorization code not found for code=…"
        );
        assert_eq!(
            scrub("bad refresh_token=r1, access_token=a2 (x)"),
            "bad refresh_token=…, access_token=… (x)"
        );
        assert_eq!(scrub("Redirect URI mismatch."), "Redirect URI mismatch.");
    }

    #[test]
    fn login_response_gives_both_tokens_their_expiry_and_the_scopes() {
        let r = response(
            r#"{"token_type":"bearer","access_token":"AT","expires_in":21599,
                "refresh_token":"RT","refresh_token_expires_in":5183999,"scope":"talk_message friends"}"#,
        );
        let t = tokens_from_login(&r, Some(SecretString::from("cs")), t0()).unwrap();
        assert_eq!(t.access_token.unwrap().expose_secret(), "AT");
        assert_eq!(t.refresh_token.expose_secret(), "RT");
        assert_eq!(
            t.access_token_expires_at,
            Some(t0() + TimeDelta::seconds(21599))
        );
        assert_eq!(
            t.refresh_token_expires_at,
            Some(t0() + TimeDelta::seconds(5183999))
        );
        assert_eq!(t.scopes, vec!["talk_message", "friends"]);
        assert_eq!(t.client_secret.unwrap().expose_secret(), "cs");
    }

    #[test]
    fn login_response_without_refresh_token_is_unusable() {
        let r = response(r#"{"token_type":"bearer","access_token":"AT","expires_in":21599}"#);
        assert!(tokens_from_login(&r, None, t0()).is_none());
    }

    #[test]
    fn refresh_without_rotation_keeps_the_refresh_token_and_its_expiry() {
        let old = tokens(TimeDelta::minutes(1));
        let r = response(r#"{"access_token":"AT2","token_type":"bearer","expires_in":21599}"#);
        let new = apply_refresh(&old, &r, t0());
        assert_eq!(new.access_token.unwrap().expose_secret(), "AT2");
        assert_eq!(
            new.access_token_expires_at,
            Some(t0() + TimeDelta::seconds(21599))
        );
        assert_eq!(new.refresh_token.expose_secret(), "rt-1");
        assert_eq!(new.refresh_token_expires_at, old.refresh_token_expires_at);
        assert_eq!(new.scopes, old.scopes);
    }

    #[test]
    fn refresh_with_rotation_replaces_the_refresh_token_and_its_expiry() {
        let old = tokens(TimeDelta::minutes(1));
        let r = response(
            r#"{"access_token":"AT2","token_type":"bearer","refresh_token":"RT2",
                "refresh_token_expires_in":5183999,"expires_in":21599}"#,
        );
        let new = apply_refresh(&old, &r, t0());
        assert_eq!(new.refresh_token.expose_secret(), "RT2");
        assert_eq!(
            new.refresh_token_expires_at,
            Some(t0() + TimeDelta::seconds(5183999))
        );
    }

    #[test]
    fn token_error_body_keeps_kakaos_code() {
        let e: KakaoOAuthError = serde_json::from_str(
            r#"{"error":"invalid_grant","error_description":"expired_or_invalid_refresh_token","error_code":"KOE322"}"#,
        )
        .unwrap();
        assert_eq!(e.error_code.as_deref(), Some("KOE322"));
        assert_eq!(
            e.to_string(),
            "invalid_grant KOE322 (expired_or_invalid_refresh_token)"
        );
    }

    fn rejected(grant: Grant, code: &str, description: &str) -> AuthError {
        let url = app().token_endpoint().unwrap();
        let body = KakaoOAuthError {
            error: "invalid_grant".into(),
            error_description: Some(description.into()),
            error_code: Some(code.into()),
        };
        request_error(RequestTokenError::ServerResponse(body), grant, &app(), &url)
    }

    #[test]
    fn a_refused_refresh_token_means_log_in_again() {
        let err = rejected(Grant::Refresh, "KOE322", "expired_or_invalid_refresh_token");
        assert!(matches!(err, AuthError::RefreshRejected { .. }));
        assert_eq!(err.exit(), Exit::Login);
        assert_eq!(err.hint().as_deref(), Some("kbot login"));
        assert_eq!(
            err.to_string(),
            "kakao rejected the refresh token (KOE322): log in again"
        );
    }

    #[test]
    fn koe_codes_get_their_own_message_and_fix_without_echoing_the_code() {
        let err = rejected(
            Grant::Code,
            "KOE320",
            "authorization code not found for code=SECRETCODE",
        );
        assert_eq!(err.exit(), Exit::Login);
        assert!(err.hint().unwrap().starts_with("kbot login"));
        assert!(!format!("{err} {err:?}").contains("SECRETCODE"));

        let err = rejected(Grant::Code, "KOE303", "Redirect URI mismatch.");
        assert_eq!(err.exit(), Exit::Config);
        assert!(err.to_string().contains("http://localhost:8765/callback"));
        assert!(
            err.hint()
                .unwrap()
                .contains("register exactly http://localhost:8765/callback")
        );

        let err = rejected(Grant::Code, "KOE010", "Bad client credentials");
        assert!(err.to_string().contains("client_id rest-key"));
        assert!(err.hint().unwrap().contains("KBOT_CLIENT_SECRET"));

        let err = rejected(
            Grant::Refresh,
            "KOE237",
            "token request rate limit exceeded",
        );
        assert_eq!(err.exit(), Exit::Failure);
        assert!(err.hint().unwrap().starts_with("wait"));

        let err = rejected(Grant::Code, "KOE006", "");
        assert!(err.hint().unwrap().contains("Redirect URI"));

        // An unknown reason not to take the code (e.g. a PKCE mismatch) still means "log in
        // again", and is said without the code.
        let err = rejected(Grant::Code, "KOE999", "something new with code=SECRETCODE");
        assert_eq!(
            err.to_string(),
            "kakao refused the login token request: invalid_grant KOE999 (something new with code=…)"
        );
        assert_eq!(err.exit(), Exit::Login);
        assert!(err.hint().unwrap().starts_with("kbot login"));

        let err = rejected(Grant::Refresh, "KOE999", "something new");
        assert_eq!(err.exit(), Exit::Failure);
        assert_eq!(err.hint(), None);

        // A 5xx whose body is no OAuth error (every field defaulted) still says something.
        let url = app().token_endpoint().unwrap();
        let empty = KakaoOAuthError {
            error: String::new(),
            error_description: None,
            error_code: None,
        };
        let err = request_error(
            RequestTokenError::ServerResponse(empty),
            Grant::Refresh,
            &app(),
            &url,
        );
        assert_eq!(
            err.to_string(),
            "kakao refused the refresh token request without an OAuth error (a passing problem at Kakao?)"
        );
    }

    #[test]
    fn client_secret_comes_from_env_then_a_terminal_prompt_else_none() {
        let never = || -> std::io::Result<String> { panic!("must not prompt") };
        let from_env = resolve_client_secret(Some("env-secret".into()), true, never).unwrap();
        assert_eq!(from_env.unwrap().expose_secret(), "env-secret");
        let prompted = resolve_client_secret(None, true, || Ok("typed\n".into())).unwrap();
        assert_eq!(prompted.unwrap().expose_secret(), "typed");
        assert!(resolve_client_secret(None, false, never).unwrap().is_none());
        assert!(
            resolve_client_secret(None, true, || Ok("  ".into()))
                .unwrap()
                .is_none()
        );
        assert!(
            resolve_client_secret(Some(String::new()), false, never)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn not_logged_in_is_exit_three_with_the_login_hint() {
        let err = AuthError::NotLoggedIn {
            store: "file /d/secrets.json".into(),
        };
        assert_eq!(err.exit(), Exit::Login);
        assert_eq!(err.hint().as_deref(), Some("kbot login"));
        assert_eq!(
            err.to_string(),
            "not logged in: no Kakao token in the file /d/secrets.json"
        );
        let top: crate::Error = err.into();
        assert_eq!(top.exit(), Exit::Login);
    }
}
