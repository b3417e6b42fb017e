//! The loopback listener that receives Kakao's login redirect during `kbot login`.
//!
//! Owns a deliberately tiny HTTP/1.1 server: bind 127.0.0.1 on the port of `redirect_uri`,
//! read one request line per connection, and wait for the one request that matters — a GET
//! on the redirect path carrying this login's `state`. Its query goes to the caller as a
//! [`Redirect`], whose browser tab is answered only once the caller knows how the login
//! ended ([`Redirect::reply`]). Everything else — a wrong or missing `state` (another tab,
//! a local process, a web page poking the port), other paths, other methods — gets an
//! error page and the listener keeps waiting. Accept errors (out of file descriptors) back
//! off instead of spinning. No web framework in the binary for one request.
//!
//! Does not own what the query means (`auth.rs` parses it; this module depends on nothing
//! of kbot's) or the token exchange.
//!
//! I/O: one TCP listener on loopback, for the duration of a login.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// A request head larger than this is not a browser following a redirect.
const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request. Browsers open speculative
/// connections that send nothing; each gets its own task, so a slow one blocks nobody.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the redirect's tab waits for the login's outcome (the token exchange).
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long [`Redirect::reply`] waits for the page to be written before the caller goes on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound loopback listener for one login.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    path: String,
}

/// The redirect of this login: its query (it holds the code) and its open browser tab.
#[derive(Debug)]
pub struct Redirect {
    /// The query string of the redirect (`code=…&state=…`, or `error=…&state=…`).
    pub query: SecretString,
    reply: oneshot::Sender<(Outcome, oneshot::Sender<()>)>,
}

/// What the redirect's browser tab is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Logged in.
    LoggedIn,
    /// The login failed; the words for the tab (the terminal has the details).
    Failed(String),
}

impl Redirect {
    /// Answer the redirect's browser tab and wait (briefly) until the page is written.
    pub async fn reply(self, outcome: Outcome) {
        let (written, done) = oneshot::channel();
        if self.reply.send((outcome, written)).is_ok() {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, done).await;
        }
    }
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

    /// Serve until the redirect carrying `expected_state` arrives, and hand it over. Any
    /// other request is answered with an error page and changes nothing.
    pub async fn receive(&self, expected_state: &str) -> Redirect {
        let (tx, mut rx) = mpsc::channel(1);
        let mut failures = 0u32;
        loop {
            tokio::select! {
                accepted = self.socket.accept() => match accepted {
                    Ok((stream, _)) => {
                        failures = 0;
                        let (tx, path, state) = (tx.clone(), self.path.clone(), expected_state.to_string());
                        // Detached: the redirect's task must outlive this call to answer
                        // its tab; stray connections end after READ_TIMEOUT.
                        tokio::spawn(async move { serve(stream, &path, &state, tx).await });
                    }
                    Err(err) => {
                        // E.g. EMFILE: the error repeats at once until a descriptor frees up.
                        let pause = accept_backoff(failures);
                        failures = failures.saturating_add(1);
                        tracing::debug!(error = %err, pause_ms = pause.as_millis() as u64, "accept failed");
                        tokio::time::sleep(pause).await;
                    }
                },
                Some(redirect) = rx.recv() => return redirect,
            }
        }
    }
}

/// The pause after the `failures`-th accept error in a row (pure): 10 ms doubling to 1 s.
pub fn accept_backoff(failures: u32) -> Duration {
    Duration::from_millis(10u64.saturating_mul(1 << failures.min(7)).min(1000))
}

/// Handle one connection; the redirect of this login goes to `tx`, and its tab waits.
async fn serve(mut stream: TcpStream, path: &str, state: &str, tx: mpsc::Sender<Redirect>) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        _ => return,
    };
    let (status, body, written) = match route(&head, path) {
        Route::Redirect(query) if carries_state(query, state) => {
            let (reply, answer) = oneshot::channel();
            let redirect = Redirect {
                query: SecretString::from(query.to_string()),
                reply,
            };
            if tx.send(redirect).await.is_err() {
                return; // the login is already over
            }
            match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
                Ok(Ok((Outcome::LoggedIn, written))) => (
                    "200 OK",
                    page("kbot: login complete, you can close this tab"),
                    Some(written),
                ),
                Ok(Ok((Outcome::Failed(why), written))) => (
                    "400 Bad Request",
                    page(&format!("kbot: login failed, see the terminal. {why}")),
                    Some(written),
                ),
                _ => (
                    "500 Internal Server Error",
                    page("kbot: login failed, see the terminal"),
                    None,
                ),
            }
        }
        Route::Redirect(_) => {
            tracing::warn!(
                "ignored a request to the login address without this login's state (another tab, or not from Kakao); still waiting"
            );
            (
                "400 Bad Request",
                page(
                    "kbot: this is not the redirect of the login kbot is waiting for (its state does not match). kbot keeps waiting: use the link it printed.",
                ),
                None,
            )
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
    if let Some(written) = written {
        let _ = written.send(());
    }
}

/// Whether a redirect's query carries this login's `state` (pure).
fn carries_state(query: &str, state: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "state" && v == state)
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
    fn pages_escape_what_they_show() {
        let html = page("kbot: login failed: <script>");
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script>"),
            "{html}"
        );
    }

    #[test]
    fn only_this_logins_state_counts() {
        assert!(carries_state("code=c&state=s1", "s1"));
        assert!(carries_state("error=access_denied&state=s%31", "s1"));
        assert!(!carries_state("code=c&state=s2", "s1"));
        assert!(!carries_state("code=c", "s1"));
        assert!(!carries_state("", "s1"));
        assert!(!carries_state("state=", "s1"));
    }

    #[test]
    fn accept_errors_back_off_from_ten_milliseconds_to_a_second() {
        assert_eq!(accept_backoff(0), Duration::from_millis(10));
        assert_eq!(accept_backoff(1), Duration::from_millis(20));
        assert_eq!(accept_backoff(6), Duration::from_millis(640));
        assert_eq!(accept_backoff(7), Duration::from_secs(1));
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    /// A GET over a fresh connection; the status line and the body.
    async fn get(addr: SocketAddr, target: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn stray_requests_get_an_error_page_and_the_real_redirect_still_arrives() {
        let url = Url::parse("http://127.0.0.1:0/callback").unwrap();
        let listener = Listener::bind(&url).await.unwrap().unwrap();
        let addr = listener.local_addr().unwrap();
        let strays = tokio::spawn(async move {
            let mut pages = Vec::new();
            for target in [
                "/callback",
                "/callback?state=wrong&code=x",
                "/callback?error=access_denied&error_description=%1B%5D0%3Bx%07",
                "/favicon.ico",
            ] {
                pages.push(get(addr, target).await);
            }
            let real = tokio::spawn(get(addr, "/callback?code=c0de&state=s1"));
            (pages, real)
        });
        let redirect = listener.receive("s1").await;
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&redirect.query),
            "code=c0de&state=s1"
        );
        let (pages, real) = strays.await.unwrap();
        for answer in &pages[..3] {
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
            assert!(answer.contains("kbot keeps waiting"), "{answer}");
        }
        assert!(pages[3].starts_with("HTTP/1.1 404"));
        // The tab is answered with the login's outcome, once it is known.
        redirect
            .reply(Outcome::Failed("the token exchange failed".into()))
            .await;
        let answer = real.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("login failed, see the terminal"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_redirect_elsewhere_gets_no_listener() {
        let url = Url::parse("https://example.com/callback").unwrap();
        assert!(Listener::bind(&url).await.unwrap().is_none());
    }
}
