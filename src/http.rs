//! The HTTP client kbot uses for every request: built once, with timeouts and a
//! `kbot/<version>` user agent.
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

fn builder(timeouts: Timeouts) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
}
