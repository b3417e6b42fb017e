//! Fetching a page: http(s) with two retries (backon, jittered exponential backoff) on HTTP
//! 5xx and network errors, or a `file://` read. Bytes only: decoding is `charset`'s job,
//! because reqwest decodes by the header alone. A source's own way in (`ca_file`, `tls`,
//! `headers`, cookies, the missing-intermediate fetch and the legacy probe) is `reach`'s;
//! failures that cannot heal (TLS refused, 401/403) are never retried and say what fixes them.
//!
//! Fetches go through the page cache (`cache.rs`) once `use_cache` names its directory:
//! conditional requests, and the kept copy, marked [`Page::stale`], when the site fails.
//!
//! Does I/O (network, file reads, the cache directory); the retry decision
//! (`FetchError::is_retryable`) is pure.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};

use super::cache::{CACHE, Meta, settle_with_cache};
use super::reach::{Session, TlsProblem, WILL_NOT_HEAL};
use super::template::TemplateError;
use crate::error::{Exit, Report};

/// Largest page kbot reads; menu pages are ~150 KB, so this only stops runaways.
const MAX_PAGE_BYTES: usize = 8 << 20;

/// Retry settings for fetching pages: DESIGN asks for two retries with backoff on 5xx and
/// network errors; tests shrink the delays to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub times: usize,
    /// The first delay; later ones grow exponentially, jittered.
    pub min_delay: Duration,
    /// The cap on one delay.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            times: 2,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Why a page could not be fetched. Messages name the URL or path, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The expanded URL does not parse.
    #[error("invalid page URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// Neither http(s) nor file.
    #[error("unsupported scheme in {url}: use http://, https:// or file://")]
    Scheme { url: String },
    /// The server answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    /// No answer: connection refused, timeout, TLS, a body cut short…
    #[error("cannot fetch {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A `file://` page that cannot be read.
    #[error("cannot read {path}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TLS connection was refused: a certificate kbot does not trust, an old server…
    #[error("cannot fetch {url}: {problem}")]
    Tls { url: String, problem: TlsProblem },
    /// The source's `ca_file` cannot be used.
    #[error("ca_file: {why}")]
    CaFile { why: String },
    /// A header of the source's `headers` cannot be sent.
    #[error("headers.{name}: {why}")]
    Header { name: String, why: String },
    /// A body past the size cap.
    #[error("{url} is larger than {} MiB", MAX_PAGE_BYTES >> 20)]
    TooLarge { url: String },
    /// The URL template does not expand.
    #[error("bad source url: {0}")]
    Template(#[from] TemplateError),
}

impl FetchError {
    /// Whether trying again may help: HTTP 5xx and network trouble, not 4xx or bad URLs.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => status.is_server_error(),
            FetchError::Network { source, .. } => !source.is_builder() && !source.is_redirect(),
            _ => false,
        }
    }

    /// Whether the failure stays until the user changes something: TLS refused, a site
    /// that refuses kbot (401, 403), a source that cannot be set up. Its detail ends with
    /// [`WILL_NOT_HEAL`].
    pub fn is_lasting(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => matches!(status.as_u16(), 401 | 403),
            FetchError::Tls { .. } | FetchError::CaFile { .. } | FetchError::Header { .. } => true,
            _ => false,
        }
    }

    /// What the user could do, for statuses that have a fix.
    fn fix(&self) -> Option<&'static str> {
        let FetchError::Status { status, .. } = self else {
            return None;
        };
        match status.as_u16() {
            403 => Some(
                "the site refuses kbot, as many sites refuse programs: give the source a browser's User-Agent in headers (headers = { User-Agent = \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\" })",
            ),
            401 => Some(
                "the page needs a login, which kbot cannot do: use a page that shows the menu without one",
            ),
            404 => Some("the page is not there (yet): check the source's url"),
            _ => None,
        }
    }

    /// The message with its causes, for a report's `detail`.
    pub fn detail(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            let more = err.to_string();
            if !more.is_empty() && !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = err.source();
        }
        if let Some(fix) = self.fix() {
            text.push_str(": ");
            text.push_str(fix);
        }
        if self.is_lasting() {
            text.push(' ');
            text.push_str(WILL_NOT_HEAL);
        }
        text
    }
}

impl Report for FetchError {
    fn exit(&self) -> Exit {
        match self {
            FetchError::Url { .. } | FetchError::Scheme { .. } | FetchError::Template(_) => {
                Exit::Config
            }
            _ => Exit::Delivery,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            FetchError::Url { .. } | FetchError::Scheme { .. } | FetchError::Template(_) => {
                "fix `url` in this [[source]] of config.toml, then run `kbot config check`".into()
            }
            FetchError::File { .. } => "check the path in the source's `url = \"file://…\"`".into(),
            FetchError::Tls { .. } => "see \"When the site cannot be reached\" in docs/sources.md".into(),
            FetchError::CaFile { .. } => "fix the source's `ca_file` (a PEM file, relative to config.toml)".into(),
            FetchError::Header { .. } => "fix the source's `headers`".into(),
            _ => "open the URL in a browser; `kbot scrape --explain` retries and shows what kbot sees".into(),
        })
    }
}

/// A fetched page: its bytes and the `Content-Type` header (none for `file://`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The body, undecoded.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Set when the site failed and this is the cached copy: why, and when it was fetched.
    pub stale: Option<Stale>,
    /// What the TLS connection showed (protocol, issuer, intermediate fetched, legacy), for
    /// `--explain`; `None` for plain HTTP, files and shared clients.
    pub tls: Option<String>,
}

/// A cached copy served because the site failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// When the copy was fetched.
    pub fetched_at: DateTime<Utc>,
    /// Why the site could not be read now (the fetch error's detail).
    pub failure: String,
}

/// Fetch an expanded URL through `client`: http(s) with `retry`, or a `file://` path.
pub async fn fetch(client: &reqwest::Client, url: &str, retry: &Retry) -> Result<Page, FetchError> {
    fetch_in(&mut Session::shared(client), url, retry).await
}

/// Fetch an expanded URL in a source's own session (see `reach`): http(s) with `retry`,
/// one more attempt when a missing intermediate certificate was fetched, or a `file://` path.
pub async fn fetch_in(session: &mut Session, url: &str, retry: &Retry) -> Result<Page, FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "file" => {
            let path = parsed.to_file_path().map_err(|()| FetchError::Url {
                url: url.to_string(),
                reason: "not a local file path".into(),
            })?;
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|source| FetchError::File { path, source })?;
            Ok(Page {
                bytes,
                content_type: None,
                stale: None,
                tls: None,
            })
        }
        "http" | "https" => {
            let cache = CACHE.get();
            let cached = cache.and_then(|c| c.load(url));
            let validators = cached.as_ref().map(|(meta, _)| meta);
            let mut fetched = with_retries(session.client(), &parsed, url, validators, retry).await;
            if let Err(err) = &fetched
                && session.fetch_missing_intermediate(err).await
            {
                fetched = with_retries(session.client(), &parsed, url, validators, retry).await;
            }
            let fetched = match fetched {
                Ok(got) => Ok(got),
                Err(err) => Err(session.after_failure(err, &parsed).await),
            };
            let tls = session.facts(&parsed);
            let Some(cache) = cache else {
                return fetched.map(|got| Page { tls, ..got.page });
            };
            settle_with_cache(cache, url, fetched, cached).map(|page| match page.stale {
                None => Page { tls, ..page },
                Some(_) => page,
            })
        }
        _ => Err(FetchError::Scheme {
            url: url.to_string(),
        }),
    }
}

/// One fetch attempt and its retries.
async fn with_retries(
    client: &reqwest::Client,
    parsed: &url::Url,
    url: &str,
    validators: Option<&Meta>,
    retry: &Retry,
) -> Result<Got, FetchError> {
    retrying(retry, || get(client, parsed, url, validators)).await
}

/// `once` tried again with jittered exponential backoff while its error may pass
/// ([`FetchError::is_retryable`]), each retry logged with its rounded pause.
pub(super) async fn retrying<T, F, Fut>(retry: &Retry, once: F) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FetchError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(retry.min_delay)
        .with_max_delay(retry.max_delay)
        .with_max_times(retry.times)
        .with_jitter();
    once.retry(backoff)
        .sleep(tokio::time::sleep)
        .when(FetchError::is_retryable)
        .notify(|err, delay| {
            tracing::warn!(
                "{}; retrying in {}",
                err.detail(),
                humantime::format_duration(std::time::Duration::from_millis(
                    delay.as_millis() as u64
                ))
            )
        })
        .await
}

/// A fresh answer: the page, or "not modified" (`304`), with the validators to keep.
pub(super) struct Got {
    pub(super) page: Page,
    pub(super) not_modified: bool,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

async fn get(
    client: &reqwest::Client,
    parsed: &url::Url,
    url: &str,
    cached: Option<&Meta>,
) -> Result<Got, FetchError> {
    let network = |source: reqwest::Error| super::reach::network(url, source);
    let mut request = client.get(parsed.clone());
    if let Some(meta) = cached {
        if let Some(etag) = &meta.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &meta.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
    }
    let response = request.send().await.map_err(network)?;
    let status = response.status();
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, last_modified) = (
        header(reqwest::header::ETAG),
        header(reqwest::header::LAST_MODIFIED),
    );
    if status == reqwest::StatusCode::NOT_MODIFIED && cached.is_some() {
        return Ok(Got {
            page: Page::default(),
            not_modified: true,
            etag,
            last_modified,
        });
    }
    Ok(Got {
        page: read_body(response, url, MAX_PAGE_BYTES).await?,
        not_modified: false,
        etag,
        last_modified,
    })
}

/// The body of `response` as a page, if its status is a success and the body is at most
/// `limit` bytes (read in chunks, so a huge body is never held whole); errors name
/// `shown_url` (a JSON source's is redacted).
pub(super) async fn read_body(
    mut response: reqwest::Response,
    shown_url: &str,
    limit: usize,
) -> Result<Page, FetchError> {
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: shown_url.to_string(),
            status,
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| super::reach::network(shown_url, source))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge {
                url: shown_url.to_string(),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Page {
        bytes,
        content_type,
        stale: None,
        tls: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_retried_and_client_errors_are_not() {
        let status = |code: u16| FetchError::Status {
            url: "http://127.0.0.1/menu".into(),
            status: reqwest::StatusCode::from_u16(code).expect("valid status"),
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(
            !FetchError::Scheme {
                url: "ftp://x".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn a_bad_url_is_a_config_error_and_a_dead_server_a_scrape_failure() {
        let scheme = FetchError::Scheme {
            url: "ftp://x".into(),
        };
        assert_eq!(scheme.exit(), Exit::Config);
        assert!(
            scheme
                .hint()
                .is_some_and(|h| h.contains("kbot config check"))
        );
        let status = FetchError::Status {
            url: "http://127.0.0.1/menu".into(),
            status: reqwest::StatusCode::BAD_GATEWAY,
        };
        assert_eq!(status.exit(), Exit::Delivery);
        assert_eq!(
            status.detail(),
            "http://127.0.0.1/menu answered HTTP 502 Bad Gateway"
        );
    }
}
