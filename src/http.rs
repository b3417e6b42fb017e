//! The HTTP clients kbot uses: built with timeouts and a `kbot/<version>` user agent. The
//! shared one (Kakao, OAuth) speaks TLS through rustls; a page's client ([`page_client`])
//! carries its source's TLS settings, headers and a cookie jar of its own.
//!
//! `clippy.toml` bans `reqwest::Client::new` elsewhere so no request goes out without
//! timeouts. Base URLs are never decided here: they come from config.

use std::time::Duration;

/// `kbot/<version>`, sent as the User-Agent of every request.
pub const USER_AGENT: &str = concat!("kbot/", env!("CARGO_PKG_VERSION"));

/// Timeouts for one client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// The whole request, body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(30),
        }
    }
}

/// The client for pages and the Kakao API (follows up to 5 redirects).
pub fn client(timeouts: Timeouts) -> reqwest::Client {
    builder(timeouts)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .expect("a rustls client with static settings always builds")
}

/// The client for OAuth calls: never follows redirects (an open redirect must not carry a
/// code or a token elsewhere).
pub fn oauth_client(timeouts: Timeouts) -> reqwest::Client {
    builder(timeouts)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a rustls client with static settings always builds")
}

/// The TLS stack of a page's client.
#[derive(Debug)]
pub enum PageTls {
    /// rustls with these settings (roots, verifier).
    Rustls(rustls::ClientConfig),
    /// OpenSSL with TLS 1.0–1.2 and old suites allowed, trusting these certificates beside
    /// the system's (`tls = "legacy"`).
    Legacy(Vec<reqwest::Certificate>),
}

/// A client for one fetch of a page: its TLS stack, default `headers` (a source's
/// `headers`, overriding the user agent), `jar` for the cookies of this fetch, and the
/// redirect `policy`.
pub fn page_client(
    timeouts: Timeouts,
    tls: PageTls,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    headers: reqwest::header::HeaderMap,
    policy: reqwest::redirect::Policy,
) -> reqwest::Result<reqwest::Client> {
    let builder = builder(timeouts)
        .default_headers(headers)
        .cookie_provider(jar)
        .redirect(policy);
    match tls {
        PageTls::Rustls(config) => builder.use_preconfigured_tls(config),
        PageTls::Legacy(roots) => roots.into_iter().fold(
            builder
                .use_native_tls()
                .min_tls_version(reqwest::tls::Version::TLS_1_0),
            reqwest::ClientBuilder::add_root_certificate,
        ),
    }
    .build()
}

fn builder(timeouts: Timeouts) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
}
