//! How kbot reaches one source's server: the source's `ca_file`, `tls` and `headers`, a
//! cookie jar per fetch (a JSP page that sets `JSESSIONID` on a redirect to itself gets it
//! back), redirects that never carry secrets to another origin, and what a failure means in
//! words: which key would fix it, and whether trying again could help.
//!
//! A [`Session`] is one fetch's client. After a failed attempt [`Session::after_failure`]
//! does the two things a browser would: fetch a missing intermediate certificate named by the
//! leaf's AIA URL (then one more attempt), or, when the server refused the handshake before
//! showing a certificate, probe once with the legacy stack (OpenSSL, TLS 1.0–1.2, old
//! suites, a bare handshake and no request) to tell "this server speaks only old TLS" from
//! other refusals.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use super::fetch::FetchError;
use super::tls::{self, SeenSlot};
use crate::http;

/// The `tls` key of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// rustls: TLS 1.2 and 1.3 with modern suites (the default).
    #[default]
    Modern,
    /// OpenSSL, for this source only: TLS 1.0–1.2 and the old suites (RSA key exchange,
    /// CBC) old servers offer. Weaker: use it only for a server that offers nothing else.
    Legacy,
}

impl TlsMode {
    /// The config words, in order.
    pub const WORDS: [&'static str; 2] = ["modern", "legacy"];

    /// Parse the config word.
    pub fn from_word(word: &str) -> Option<TlsMode> {
        match word {
            "modern" => Some(TlsMode::Modern),
            "legacy" => Some(TlsMode::Legacy),
            _ => None,
        }
    }
}

/// A source's way in: `ca_file`, `tls`, `headers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Extra certificates trusted for this source only (absolute: resolved against the
    /// config file's directory).
    pub ca_file: Option<PathBuf>,
    /// Which TLS stack.
    pub tls: TlsMode,
    /// Request headers (name, value template) for table and image sources; json sources
    /// keep theirs in their spec.
    pub headers: Vec<(String, String)>,
}

/// Whether `path` is a usable `ca_file` (for `config check`); the error says why not.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    tls::load_ca_file(path).map(|_| ())
}

/// The words every failure that cannot heal by itself ends with: `deliver` warns "me" at
/// once instead of waiting for the meal's window to close.
pub const WILL_NOT_HEAL: &str = "(trying again will not help)";

/// A TLS failure, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate's issuer is not trusted (self-signed, private CA, or a missing
    /// intermediate that could not be fetched); `note` says who issued it and what kbot tried.
    UnknownIssuer {
        /// Issuer and AIA attempt, in words (may be empty).
        note: String,
    },
    /// The certificate has expired (or is not valid yet).
    Expired,
    /// The certificate is for other host names.
    WrongName,
    /// The server refused modern TLS and accepted the legacy stack's handshake.
    OldServer,
    /// The handshake failed otherwise.
    Handshake {
        /// What the TLS library said.
        why: String,
        /// Whether the server refused before showing its certificate (a suite or version
        /// refusal: worth a legacy probe).
        early: bool,
        /// Whether the legacy stack was tried too (and refused).
        probed: bool,
    },
    /// The certificate was refused for another reason.
    Certificate(String),
}

impl std::fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsProblem::UnknownIssuer { note } => write!(
                f,
                "the site's certificate is not from an authority kbot trusts{note}; if the site uses a private or self-signed certificate, save it (or its CA's) as PEM and set ca_file = \"that.pem\" in the source"
            ),
            TlsProblem::Expired => f.write_str(
                "the site's certificate has expired (or is not valid yet); ca_file does not fix that: the site must renew it (check this machine's clock too)",
            ),
            TlsProblem::WrongName => f.write_str(
                "the site's certificate is for another host name; ca_file does not fix that: check the host in the source's url (the name the site's certificate shows in a browser)",
            ),
            TlsProblem::OldServer => f.write_str(
                "the server offers only old TLS (TLS 1.0–1.2 with RSA key exchange or CBC suites), which kbot refuses by default; set tls = \"legacy\" in the source to allow it for this source only",
            ),
            TlsProblem::Handshake {
                why, probed: true, ..
            } => write!(
                f,
                "the server refused the TLS handshake ({why}), and the old suites of tls = \"legacy\" too: open the URL in a browser to see what it wants"
            ),
            TlsProblem::Handshake {
                why, early: true, ..
            } => write!(
                f,
                "the server refused the TLS versions and cipher suites kbot offers ({why}): if it is an old server, set tls = \"legacy\" in the source"
            ),
            TlsProblem::Handshake { why, .. } => {
                write!(f, "the TLS handshake with the server failed ({why})")
            }
            TlsProblem::Certificate(why) => write!(f, "the site's certificate was refused: {why}"),
        }
    }
}

/// A reqwest error as a [`FetchError`]: TLS failures become [`FetchError::Tls`] (never
/// retried), the rest [`FetchError::Network`].
pub fn network(url: &str, source: reqwest::Error) -> FetchError {
    match tls_problem(&source) {
        Some(problem) => FetchError::Tls {
            url: url.to_string(),
            problem,
        },
        None => FetchError::Network {
            url: url.to_string(),
            source: source.without_url(),
        },
    }
}

fn tls_problem(err: &reqwest::Error) -> Option<TlsProblem> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut text = String::new();
    while let Some(e) = cause {
        if let Some(found) = from_error(e) {
            return Some(found);
        }
        // hyper-rustls wraps rustls's error in an io::Error, itself in another; an
        // io::Error's `source()` skips what it wraps, so look inside.
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(std::io::Error::get_ref) {
            if let Some(found) = from_error(inner) {
                return Some(found);
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        text.push_str(&e.to_string());
        text.push('\n');
        cause = e.source();
    }
    from_openssl_text(&text)
}

fn from_error(e: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(from_rustls(tls));
    }
    if let Some(native) = e.downcast_ref::<native_tls::Error>() {
        return from_openssl_text(&native.to_string()).or(Some(TlsProblem::Handshake {
            why: native.to_string(),
            early: false,
            probed: false,
        }));
    }
    None
}

fn from_rustls(err: &rustls::Error) -> TlsProblem {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::UnknownIssuer) => TlsProblem::UnknownIssuer {
            note: String::new(),
        },
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => TlsProblem::Expired,
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsProblem::WrongName
        }
        // A self-signed certificate marked CA:TRUE (`openssl req -x509` makes those).
        E::InvalidCertificate(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            TlsProblem::UnknownIssuer {
                note: String::new(),
            }
        }
        E::InvalidCertificate(other) => TlsProblem::Certificate(format!("{other:?}")),
        E::AlertReceived(
            alert @ (A::HandshakeFailure
            | A::ProtocolVersion
            | A::InsufficientSecurity
            | A::IllegalParameter),
        ) => TlsProblem::Handshake {
            why: format!("it answered {alert:?}"),
            early: true,
            probed: false,
        },
        E::PeerIncompatible(why) => TlsProblem::Handshake {
            why: format!("{why:?}"),
            early: true,
            probed: false,
        },
        other => TlsProblem::Handshake {
            why: other.to_string(),
            early: false,
            probed: false,
        },
    }
}

/// OpenSSL's words (the legacy stack) as a problem.
fn from_openssl_text(text: &str) -> Option<TlsProblem> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate has expired") || lower.contains("certificate is not yet valid") {
        Some(TlsProblem::Expired)
    } else if lower.contains("hostname mismatch") || lower.contains("ip address mismatch") {
        Some(TlsProblem::WrongName)
    } else if lower.contains("unable to get local issuer")
        || lower.contains("self-signed certificate")
        || lower.contains("self signed certificate")
        || lower.contains("unable to get issuer")
        || lower.contains("certificate verify failed")
    {
        Some(TlsProblem::UnknownIssuer {
            note: String::new(),
        })
    } else if lower.contains("ssl routines") || lower.contains("handshake failure") {
        Some(TlsProblem::Handshake {
            why: text.lines().next().unwrap_or_default().to_string(),
            early: false,
            probed: false,
        })
    } else {
        None
    }
}

/// A redirect that would carry `secret_headers` to another origin.
#[derive(Debug)]
struct CrossOrigin(String);

impl std::fmt::Display for CrossOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server redirected to {}, another origin than the source's url: kbot does not send secret_headers there; put the final address in url",
            self.0
        )
    }
}

impl std::error::Error for CrossOrigin {}

/// Most redirects followed in one fetch.
const MAX_REDIRECTS: usize = 10;

/// One fetch's client and what it learned.
#[derive(Debug)]
pub struct Session {
    client: reqwest::Client,
    /// `None` for a session around a shared client (no recovery, no facts).
    own: Option<Own>,
}

#[derive(Debug)]
struct Own {
    tls: TlsMode,
    roots: Vec<CertificateDer<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    headers: Vec<(String, String)>,
    guard: Option<url::Origin>,
    jar: Arc<reqwest::cookie::Jar>,
    seen: SeenSlot,
    /// AIA URLs fetched in this session.
    fetched: Vec<String>,
    /// Whether an intermediate from the cache was offered.
    from_cache: bool,
    /// The shared client, which downloads intermediates.
    shared: reqwest::Client,
}

impl Session {
    /// A session around an existing client: failures are classified (an early handshake
    /// refusal probed once with the legacy stack), nothing else.
    pub fn shared(client: &reqwest::Client) -> Session {
        Session {
            client: client.clone(),
            own: None,
        }
    }

    /// A client for one fetch of a source: its `ca_file` and `tls`, `headers` (expanded),
    /// a fresh cookie jar, and redirects kept to the origin of `guard` when set (a source
    /// with secret headers).
    pub fn new(
        reach: &Reach,
        headers: Vec<(String, String)>,
        guard: Option<url::Origin>,
        shared: &reqwest::Client,
    ) -> Result<Session, FetchError> {
        let roots = match &reach.ca_file {
            None => Vec::new(),
            Some(path) => tls::load_ca_file(path).map_err(|why| FetchError::CaFile { why })?,
        };
        let intermediates = tls::cached_intermediates();
        let own = Own {
            tls: reach.tls,
            from_cache: !intermediates.is_empty(),
            roots,
            intermediates,
            headers,
            guard,
            jar: Arc::new(reqwest::cookie::Jar::default()),
            seen: Arc::new(Mutex::new(tls::Seen::default())),
            fetched: Vec::new(),
            shared: shared.clone(),
        };
        let client = own.build()?;
        Ok(Session {
            client,
            own: Some(own),
        })
    }

    /// The client to send with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A failure in the user's terms: an early handshake refusal probed once with the
    /// legacy stack, an unknown issuer with who issued the certificate and what kbot tried.
    pub async fn after_failure(&mut self, err: FetchError, url: &url::Url) -> FetchError {
        let FetchError::Tls {
            url: shown,
            problem,
        } = err
        else {
            return err;
        };
        let problem = match problem {
            TlsProblem::Handshake {
                why, early: true, ..
            } if self.own.as_ref().is_none_or(|o| o.tls == TlsMode::Modern)
                && self.leaf().is_none() =>
            {
                if probe_legacy(url).await {
                    TlsProblem::OldServer
                } else {
                    TlsProblem::Handshake {
                        why,
                        early: true,
                        probed: true,
                    }
                }
            }
            TlsProblem::UnknownIssuer { .. } => TlsProblem::UnknownIssuer {
                note: self.issuer_note(),
            },
            other => other,
        };
        FetchError::Tls {
            url: shown,
            problem,
        }
    }

    /// Whether fetching the leaf's missing intermediate is worth one more attempt: true when
    /// it was fetched now (the client is rebuilt with it).
    pub async fn fetch_missing_intermediate(&mut self, err: &FetchError) -> bool {
        let unknown = matches!(
            err,
            FetchError::Tls {
                problem: TlsProblem::UnknownIssuer { .. },
                ..
            }
        );
        let Some(leaf) = self.leaf() else {
            return false;
        };
        let Some(own) = self.own.as_mut() else {
            return false;
        };
        if !unknown || own.tls != TlsMode::Modern || !own.fetched.is_empty() {
            return false;
        }
        let Some(facts) = tls::leaf_facts(leaf.as_ref()) else {
            return false;
        };
        let Some(aia) = facts
            .ca_issuers
            .iter()
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
        else {
            return false;
        };
        own.fetched.push(aia.clone());
        match tls::fetch_intermediate(&own.shared, aia).await {
            Ok(cert) => {
                tracing::info!(url = %aia, "fetched the intermediate certificate the server did not send");
                own.intermediates.push(cert);
                match own.build() {
                    Ok(client) => {
                        self.client = client;
                        true
                    }
                    Err(_) => false,
                }
            }
            Err(why) => {
                tracing::warn!("{why}");
                false
            }
        }
    }

    fn leaf(&self) -> Option<CertificateDer<'static>> {
        tls::seen(&self.own.as_ref()?.seen).leaf.clone()
    }

    /// ` (issued by …; the intermediate from … did not help)` for an unknown issuer.
    fn issuer_note(&self) -> String {
        let Some(facts) = self.leaf().and_then(|l| tls::leaf_facts(l.as_ref())) else {
            return String::new();
        };
        let mut note = format!(" (issued by {}", facts.issuer);
        match self.own.as_ref().and_then(|o| o.fetched.first()) {
            Some(url) => note.push_str(&format!(
                "; kbot fetched the missing intermediate from {url}, which did not complete the chain"
            )),
            None if facts.ca_issuers.is_empty() => {}
            None => note.push_str(&format!(
                "; the intermediate at {} could not be fetched",
                facts.ca_issuers.join(", ")
            )),
        }
        note.push(')');
        note
    }

    /// The TLS facts of this fetch, for `--explain` and `doctor`: protocol, issuer, whether
    /// an intermediate was fetched, whether the legacy stack was used. `None` for plain HTTP.
    pub fn facts(&self, url: &url::Url) -> Option<String> {
        if url.scheme() != "https" {
            return None;
        }
        let own = self.own.as_ref()?;
        if own.tls == TlsMode::Legacy {
            return Some(
                "TLS: tls = \"legacy\": OpenSSL with TLS 1.0–1.2 and old cipher suites allowed for this source (weaker than the default)".into(),
            );
        }
        let seen = tls::seen(&own.seen).clone();
        let mut text = format!("TLS: {}", seen.protocol.unwrap_or("TLS"));
        if let Some(facts) = seen.leaf.as_ref().and_then(|l| tls::leaf_facts(l.as_ref())) {
            text.push_str(&format!(", certificate issued by {}", facts.issuer));
        }
        if let Some(aia) = own.fetched.first() {
            text.push_str(&format!(
                "; the server did not send its intermediate certificate: kbot fetched it from {aia} (AIA) and keeps it"
            ));
        } else if own.from_cache && !own.intermediates.is_empty() {
            text.push_str("; intermediate certificates kept from earlier fetches were offered");
        }
        if !own.roots.is_empty() {
            text.push_str("; ca_file trusted for this source");
        }
        Some(text)
    }
}

impl Own {
    fn build(&self) -> Result<reqwest::Client, FetchError> {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            let bad = |why: String| FetchError::Header {
                name: name.clone(),
                why,
            };
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let value =
                reqwest::header::HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
            defaults.insert(name, value);
        }
        let guard = self.guard.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match &guard {
                Some(origin) if &attempt.url().origin() != origin => {
                    let to = attempt.url().origin().ascii_serialization();
                    attempt.error(CrossOrigin(to))
                }
                _ => attempt.follow(),
            }
        });
        let stack = match self.tls {
            TlsMode::Modern => http::PageTls::Rustls(
                tls::client_config(&self.roots, self.intermediates.clone(), self.seen.clone())
                    .map_err(|why| FetchError::CaFile { why })?,
            ),
            TlsMode::Legacy => http::PageTls::Legacy(
                self.roots
                    .iter()
                    .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
                    .collect(),
            ),
        };
        http::page_client(
            http::Timeouts::default(),
            stack,
            self.jar.clone(),
            defaults,
            policy,
        )
        .map_err(|e| FetchError::CaFile {
            why: format!("cannot set up the client: {e}"),
        })
    }
}

/// One bare handshake with the legacy stack (no request): whether the server accepts it.
async fn probe_legacy(url: &url::Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let probe = move || -> bool {
        use std::net::ToSocketAddrs;
        let timeout = Duration::from_secs(5);
        let Some(addr) = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
        else {
            return false;
        };
        let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        let Ok(connector) = native_tls::TlsConnector::builder()
            .min_protocol_version(Some(native_tls::Protocol::Tlsv10))
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build()
        else {
            return false;
        };
        match connector.connect(&host, stream) {
            Ok(mut tls) => {
                let _ = tls.shutdown();
                true
            }
            Err(_) => false,
        }
    };
    tokio::task::spawn_blocking(probe).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_what_fixes_them() {
        let unknown = TlsProblem::UnknownIssuer {
            note: String::new(),
        }
        .to_string();
        assert!(unknown.contains("ca_file"), "{unknown}");
        let expired = TlsProblem::Expired.to_string();
        assert!(
            expired.contains("expired") && expired.contains("ca_file does not fix"),
            "{expired}"
        );
        assert!(
            TlsProblem::OldServer
                .to_string()
                .contains("tls = \"legacy\"")
        );
    }

    #[test]
    fn openssl_words_are_sorted_into_problems() {
        assert_eq!(
            from_openssl_text(
                "error:0A000086:SSL routines::certificate verify failed (certificate has expired)"
            ),
            Some(TlsProblem::Expired)
        );
        assert!(matches!(
            from_openssl_text("certificate verify failed (self-signed certificate)"),
            Some(TlsProblem::UnknownIssuer { .. })
        ));
        assert_eq!(from_openssl_text("connection refused"), None);
    }

    #[test]
    fn tls_words_parse() {
        assert_eq!(TlsMode::from_word("legacy"), Some(TlsMode::Legacy));
        assert_eq!(TlsMode::from_word("modern"), Some(TlsMode::Modern));
        assert_eq!(TlsMode::from_word("old"), None);
    }
}
