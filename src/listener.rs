//! The loopback listener that receives Kakao's login redirect during `kbot login`.
//!
//! Owns a deliberately tiny HTTP/1.1 server: bind 127.0.0.1 on the port of `redirect_uri`,
//! read one request line per connection, answer GETs on the redirect path with a small HTML
//! page and hand their query to [`auth::parse_query`]; everything else (favicon, other paths,
//! other methods) gets a 404/405 and is otherwise ignored. No web framework in the binary for
//! one request.
//!
//! Does not own what the query means (`auth.rs`) or the token exchange.
//!
//! I/O: one TCP listener on loopback, for the duration of a login.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::auth::{self, AuthError};
use crate::error::Report;

/// A request head larger than this is not a browser following a redirect.
const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request. Browsers open speculative
/// connections that send nothing; each gets its own task, so a slow one blocks nobody.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound loopback listener for one login.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    path: String,
}

impl Listener {
    /// Bind 127.0.0.1 on the port of `redirect_uri`. `Ok(None)` when the redirect does not
    /// point at this machine (`localhost`, `127.0.0.1`, `[::1]`): then only pasting works.
    pub async fn bind(redirect_uri: &Url) -> io::Result<Option<Listener>> {
        let loopback = match redirect_uri.host() {
            Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback || redirect_uri.scheme() != "http" {
            return Ok(None);
        }
        let port = redirect_uri.port_or_known_default().unwrap_or(80);
        let socket = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let path = match redirect_uri.path() {
            "" => "/".to_string(),
            path => path.to_string(),
        };
        Ok(Some(Listener { socket, path }))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serve until a request on the redirect path arrives; its outcome (the code, or why
    /// there is none) is the result. The browser gets a page saying which.
    pub async fn receive(&self, expected_state: &str) -> Result<SecretString, AuthError> {
        let (tx, mut rx) = mpsc::channel(1);
        // Dropped with this future: pending connections are closed when the login ends.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.socket.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (tx, path, state) = (tx.clone(), self.path.clone(), expected_state.to_string());
                        connections.spawn(async move {
                            if let Some(outcome) = serve(stream, &path, &state).await {
                                let _ = tx.send(outcome).await;
                            }
                        });
                    }
                    // Transient accept errors (e.g. too many open files): keep listening.
                    Err(err) => tracing::debug!(error = %err, "accept failed"),
                },
                Some(outcome) = rx.recv() => return outcome,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

/// Handle one connection; `Some` when it was the redirect.
async fn serve(
    mut stream: TcpStream,
    path: &str,
    state: &str,
) -> Option<Result<SecretString, AuthError>> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        _ => return None,
    };
    let (status, body, outcome) = match route(&head, path) {
        Route::Redirect(query) => {
            let outcome = auth::parse_query(query, state);
            let (status, body) = match &outcome {
                Ok(_) => (
                    "200 OK",
                    page("kbot: login complete, you can close this tab"),
                ),
                Err(err) => ("400 Bad Request", error_page(err)),
            };
            (status, body, Some(outcome))
        }
        Route::NotFound => ("404 Not Found", page("kbot: not found"), None),
        Route::NotAllowed => (
            "405 Method Not Allowed",
            page("kbot: method not allowed"),
            None,
        ),
        Route::Malformed => ("400 Bad Request", page("kbot: bad request"), None),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    outcome
}

/// Read up to the end of the request head (or [`MAX_HEAD`] bytes).
async fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_HEAD && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// GET on the redirect path, with this query string (may be empty).
    Redirect(&'a str),
    NotFound,
    NotAllowed,
    Malformed,
}

/// Route a request head by its first line (pure).
fn route<'a>(head: &'a str, path: &str) -> Route<'a> {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::Malformed;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Malformed;
    }
    let (target_path, query) = target.split_once('?').unwrap_or((target, ""));
    if target_path != path {
        Route::NotFound
    } else if method != "GET" {
        Route::NotAllowed
    } else {
        Route::Redirect(query)
    }
}

fn page(message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kbot</title></head><body><p>{}</p></body></html>",
        escape(message)
    )
}

fn error_page(err: &AuthError) -> String {
    let mut text = format!("kbot: login failed: {err}");
    if let Some(hint) = err.hint() {
        text.push_str(&format!(" — {hint}"));
    }
    page(&text)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_redirect_path_and_nothing_else() {
        let head = "GET /callback?code=abc&state=s HTTP/1.1\r\nHost: localhost\r\n\r\n";
        assert_eq!(
            route(head, "/callback"),
            Route::Redirect("code=abc&state=s")
        );
        assert_eq!(
            route("GET /callback HTTP/1.1\r\n\r\n", "/callback"),
            Route::Redirect("")
        );
        assert_eq!(
            route("GET /favicon.ico HTTP/1.1\r\n\r\n", "/callback"),
            Route::NotFound
        );
        assert_eq!(
            route("POST /callback HTTP/1.1\r\n\r\n", "/callback"),
            Route::NotAllowed
        );
        assert_eq!(route("garbage\r\n\r\n", "/callback"), Route::Malformed);
        assert_eq!(route("", "/callback"), Route::Malformed);
    }

    #[test]
    fn error_pages_escape_what_they_show() {
        let err = AuthError::Authorize {
            error: "<script>".into(),
            description: None,
        };
        let html = error_page(&err);
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script>"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_redirect_elsewhere_gets_no_listener() {
        let url = Url::parse("https://example.com/callback").unwrap();
        assert!(Listener::bind(&url).await.unwrap().is_none());
    }
}
