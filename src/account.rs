//! The logged-in side of kbot: wiring a [`Session`] and the Kakao clients from the config,
//! and the commands about the account itself — `login`, `logout`, `status`, `friends`.
//!
//! `login` and `logout` print their own few lines; `status` and `friends` only gather
//! ([`Status`], the friends list) and `cli` prints them. The OAuth protocol is `auth`, the
//! token lifecycle `session`, the storage `secrets`, the API `kakao`. I/O: all of those,
//! and stdout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret;

use crate::auth::{self, App, LoginOptions};
use crate::clock::Clock;
use crate::config::{Config, Delivery, Paths};
use crate::error::PathIo;
use crate::kakao;
use crate::meal::Meal;
use crate::secrets::{self, Store, StoreKind};
use crate::session::{self, Session};
use crate::{Result, http};

/// Everything a command needs to talk to Kakao as the logged-in user.
#[derive(Debug)]
pub struct Account {
    /// Tokens on demand.
    pub session: Session,
    /// For reads (friends, user): retries per DESIGN §5.
    pub kakao: kakao::Client,
    /// For sends: like `kakao`, but never retried in at-most-once mode.
    pub kakao_send: kakao::Client,
    /// At-least-once or at-most-once.
    pub delivery: Delivery,
}

/// How long kapi calls may take before they count as failed.
fn timeouts() -> http::Timeouts {
    http::Timeouts::default()
}

/// The retry policy; `KBOT_RETRY_BASE_MS` shortens the base delay (tests run in ms).
pub fn retry_policy(env: &dyn Fn(&str) -> Option<String>) -> kakao::Retry {
    let mut retry = kakao::Retry::default();
    if let Some(ms) = env("KBOT_RETRY_BASE_MS").and_then(|v| v.parse::<u64>().ok()) {
        retry.base = Duration::from_millis(ms);
        retry.cap = retry.cap.min(Duration::from_millis(ms.saturating_mul(16)));
    }
    retry
}

/// The Kakao app of a config, with the client secret from the environment (if set).
pub fn app(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<App> {
    let client_id = config.kakao.require_client_id()?.to_string();
    let client_secret = env(auth::CLIENT_SECRET_ENV)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(secrecy::SecretString::from);
    Ok(App {
        client_id,
        client_secret,
        redirect_uri: config.kakao.redirect_uri.clone(),
        auth_url: config.kakao.auth_url.clone(),
    })
}

/// The secret store to use: `--secret-store`, else the one login remembered, else config.
pub fn store(config: &Config, paths: &Paths, flag: Option<StoreKind>) -> Result<Store> {
    let client_id = config.kakao.require_client_id()?;
    let kind = secrets::resolve(&paths.data_dir, flag, config.secret_store)?;
    Ok(Store::new(kind, &paths.data_dir, client_id))
}

impl Account {
    /// Wire the session and clients for `config`. Reads nothing yet.
    pub fn open(
        config: &Config,
        paths: &Paths,
        clock: Arc<dyn Clock>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Account> {
        let app = app(config, env)?;
        let store = store(config, paths, None)?;
        let mut session = Session::new(
            app,
            store,
            http::oauth_client(timeouts()),
            &paths.data_dir,
            clock,
        );
        let retry = retry_policy(env);
        if env("KBOT_RETRY_BASE_MS").is_some() {
            session.set_save_retry(retry.base);
        }
        let client = http::client(timeouts());
        let api = config.kakao.api_url.clone();
        let send_retry = match config.message.delivery {
            Delivery::AtLeastOnce => retry,
            Delivery::AtMostOnce => kakao::Retry {
                attempts: 1,
                ..retry
            },
        };
        Ok(Account {
            session,
            kakao: kakao::Client::new(client.clone(), api.clone(), retry),
            kakao_send: kakao::Client::new(client, api, send_retry),
            delivery: config.message.delivery,
        })
    }

    /// The sending half, for `deliver`.
    pub fn sender(&self) -> crate::deliver::Sender<'_> {
        crate::deliver::Sender {
            session: &self.session,
            kakao: &self.kakao,
            kakao_send: &self.kakao_send,
            delivery: self.delivery,
        }
    }
}

/// `kbot login`.
#[derive(Debug, Clone)]
pub struct LoginArgs {
    /// `--no-browser`.
    pub no_browser: bool,
    /// `--scope` (repeatable).
    pub scopes: Vec<String>,
    /// `--secret-store`.
    pub secret_store: Option<StoreKind>,
    /// `--timeout`.
    pub timeout: Duration,
}

/// Run the login flow, keep the tokens, and say who is logged in.
pub async fn login(
    config: &Config,
    paths: &Paths,
    args: LoginArgs,
    clock: Arc<dyn Clock>,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> Result<()> {
    let mut app = app(config, env)?;
    let store = store(config, paths, args.secret_store)?;
    // Try the store before anything else (the client-secret prompt, Kakao's pages): an
    // unreachable keyring, a file store others can read or a full disk would otherwise only
    // show once a fresh code was spent.
    let replaces_unreadable = match store.load().await {
        Ok(_) => false,
        // A newer kbot's login is not ours to overwrite with an older format.
        Err(err @ secrets::SecretsError::NewerVersion { .. }) => return Err(err.into()),
        Err(err) if err.is_unreadable() => {
            write(out, &format!("note: {err}\n      this login replaces it\n"))?;
            true
        }
        Err(err) => return Err(err.into()),
    };
    store.check_writable().await?;
    if app.client_secret.is_none() {
        app.client_secret = auth::client_secret_from_env_or_prompt()?;
    }
    let options = LoginOptions {
        scopes: args.scopes,
        no_browser: args.no_browser,
        timeout: args.timeout,
    };
    let oauth = http::oauth_client(timeouts());
    let stdin = auth::detached_stdin();
    let mut tokens = auth::login(&app, &oauth, &options, clock.as_ref(), out, stdin).await?;

    // The nickname is a courtesy: a login without it still works.
    let client = kakao::Client::new(
        http::client(timeouts()),
        config.kakao.api_url.clone(),
        retry_policy(env),
    );
    if let Some(at) = &tokens.access_token {
        match client.me(at.expose_secret()).await {
            Ok(user) => tokens.nickname = user.nickname,
            Err(err) => tracing::warn!("logged in, but cannot read the nickname: {err}"),
        }
    }
    if replaces_unreadable {
        store.delete().await?;
    }
    session::save_login(&store, &paths.data_dir, &tokens).await?;
    // A daemon that stopped for want of a login (exit 3) needs only a restart now.
    let daemon_stopped = crate::instance::stopped(&paths.data_dir).is_some();
    crate::instance::clear_stopped(&paths.data_dir);

    let mut text = format!(
        "logged in as {}\n",
        tokens
            .nickname
            .as_deref()
            .unwrap_or("(nickname not shared)")
    );
    text.push_str(&format!(
        "scopes: {}\n",
        if tokens.scopes.is_empty() {
            "(none reported)".to_string()
        } else {
            tokens.scopes.join(" ")
        }
    ));
    if let Some(expires) = tokens.refresh_token_expires_at {
        text.push_str(&format!(
            "refresh token valid until {} (kbot renews it on its own)\n",
            local(expires, config)
        ));
    }
    text.push_str(&format!("kept in the {}\n", store.describe()));
    if daemon_stopped {
        text.push_str(
            "note: the daemon had stopped for want of a login; start it again (systemctl --user restart kbot, or kbot daemon)\n",
        );
    }
    if !tokens.scopes.iter().any(|s| s == "talk_message") {
        text.push_str(
            "note: the talk_message consent was not granted; sending needs it: kbot login --scope talk_message\n",
        );
    }
    write(out, &text)
}

/// `kbot logout [--revoke]`. With `--revoke`, Kakao is asked first, while the tokens still
/// exist: a rejected access token can then be refreshed and the call retried. The local
/// tokens go whatever Kakao answers, as the SDKs do. A damaged entry is removed too (that is
/// the way out the error for it names). Nothing stored is "not logged in" (exit 3).
pub async fn logout(account: &Account, revoke: bool, out: &mut impl Write) -> Result<()> {
    let revoked = if revoke {
        Some(account.sender().revoke().await)
    } else {
        None
    };
    let store = account.session.store().describe();
    let mut text = match account.session.logout().await? {
        session::LoggedOut::Removed => format!("deleted the local tokens from the {store}\n"),
        session::LoggedOut::RemovedUnreadable(why) => {
            format!("deleted the unreadable kbot entry ({why})\nnext: kbot login\n")
        }
        session::LoggedOut::NothingStored => {
            return Err(auth::AuthError::NotLoggedIn { store }.into());
        }
    };
    match revoked {
        None => {}
        Some(Ok(())) => text.push_str("revoked the tokens at Kakao (/v1/user/logout)\n"),
        Some(Err(err)) if is_login_gone(&err) => text.push_str(
            "nothing to revoke at Kakao: the login had already ended (expired, revoked or never made)\n",
        ),
        Some(Err(err)) if is_unreadable(&err) => text.push_str(
            "nothing revoked at Kakao: the stored login could not be read (it ends on its own when the refresh token expires)\n",
        ),
        Some(Err(err)) => {
            write(out, &text)?;
            return Err(err);
        }
    }
    write(out, &text)
}

/// The store held something this kbot cannot read.
fn is_unreadable(err: &crate::Error) -> bool {
    match err.downcast_ref::<auth::AuthError>() {
        Some(auth::AuthError::Secrets(err)) => err.is_unreadable(),
        _ => err
            .downcast_ref::<secrets::SecretsError>()
            .is_some_and(secrets::SecretsError::is_unreadable),
    }
}

/// No login left to revoke: none stored, or Kakao refused its refresh token.
fn is_login_gone(err: &crate::Error) -> bool {
    matches!(
        err.downcast_ref::<auth::AuthError>(),
        Some(auth::AuthError::NotLoggedIn { .. } | auth::AuthError::RefreshRejected { .. })
    )
}

/// What `kbot status` shows: config, store, login, schedule, last runs. Gathered by
/// [`status`]; `cli` prints it (text or `--json`) and then ends with [`Status::end`].
#[derive(Debug)]
pub struct Status {
    /// The config file.
    pub config: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The configured zone, for the times shown to people.
    pub timezone: Tz,
    /// The stored login; `None` when `kakao.client_id` is not set.
    pub login: Option<session::LoginStatus>,
    /// Why the secret store could not be read (a locked keyring, a 0644 file): the login
    /// then shows as unknown, and the command fails with this once all is printed.
    pub store_error: Option<crate::Error>,
    /// An unreachable keyring with no login recorded (after `kbot logout`): nothing can be
    /// found, but no login is in danger either. Why it is unreachable.
    pub unchecked_keyring: Option<String>,
    /// Kakao rejected the stored login (noted when a refresh was refused): the login is
    /// dead whatever the stored expiry says; the command ends with exit 3.
    pub rejected: Option<secrets::Rejection>,
    /// A refresh whose result (maybe a rotated refresh token) was not saved.
    pub refresh_token_unsaved: bool,
    /// The running daemon, if any.
    pub daemon: Option<crate::schedule::Holder>,
    /// Why the daemon stopped, when it stopped because it cannot work (exit 3).
    pub daemon_stopped: Option<crate::instance::Stopped>,
    /// The running daemon uses another config than the file on disk; `next` is its.
    pub daemon_config_differs: bool,
    /// The next slot of each meal, in the schedule the daemon uses.
    pub next: BTreeMap<Meal, DateTime<Tz>>,
    /// The last runs, newest first.
    pub last_runs: Vec<crate::ledger::Run>,
    /// The ledger rows of the newest slots, newest first (`ran:` lines, one per slot).
    pub recent: Vec<crate::ledger::HistoryRow>,
}

impl Status {
    /// The login, a stopped daemon or an unsaved refresh needs the user.
    pub fn needs_attention(&self) -> bool {
        self.login.as_ref().is_some_and(|l| l.needs_attention)
            || self.rejected.is_some()
            || self.refresh_token_unsaved
            || self.daemon_stopped.is_some()
    }

    /// How the command ends once everything is printed: the store's error, else "not
    /// logged in" or a login Kakao rejected (exit 3, as every command that needs a login),
    /// else success.
    pub fn end(self) -> Result<()> {
        let rejected = self
            .rejected
            .filter(|_| self.login.as_ref().is_some_and(|l| l.logged_in))
            .map(|_| auth::AuthError::RefreshRejected { code: None }.into());
        self.store_error
            .or_else(|| not_logged_in(self.login.as_ref()))
            .or(rejected)
            .map_or(Ok(()), Err)
    }
}

/// `kbot status`: gather what it shows. A store that cannot be read does not fail here
/// (see [`Status::store_error`]); a ledger that cannot be read does.
pub async fn status(config: &Config, paths: &Paths, clock: &dyn Clock) -> Result<Status> {
    let now = clock.now();
    // A store that cannot be read (a locked keyring, a 0644 file) must not hide the rest
    // of the status: show it as "not logged in", say why, and fail at the end.
    let mut store_error: Option<crate::Error> = None;
    let mut unchecked_keyring: Option<String> = None;
    let login = match config.kakao.require_client_id() {
        Ok(_) => {
            let store = store(config, paths, None)?;
            let tokens = match store.load().await {
                Ok(tokens) => tokens,
                // After `kbot logout` no note says which store a login used: an unreachable
                // keyring then only means nothing can be found, not a login in danger.
                Err(err @ secrets::SecretsError::KeyringUnavailable { .. })
                    if secrets::remembered(&paths.data_dir)
                        .ok()
                        .flatten()
                        .is_none() =>
                {
                    unchecked_keyring = Some(err.to_string());
                    None
                }
                Err(err) => {
                    store_error = Some(err.into());
                    None
                }
            };
            Some(session::summarize(&store, tokens.as_ref(), now))
        }
        Err(_) => None,
    };
    // A refresh whose result (maybe a rotated refresh token) was not saved: the stored
    // login may be dead. Not while a refresh runs (it holds the lock).
    let refresh_token_unsaved = login.is_some() && secrets::is_refresh_result_lost(&paths.data_dir);
    let rejected = login
        .as_ref()
        .filter(|l| l.logged_in)
        .and_then(|_| secrets::rejection(&paths.data_dir));
    // The schedule a running daemon uses, when the file on disk differs (not reloaded yet,
    // or rejected): status never shows a schedule the daemon is not using.
    let on_disk = std::fs::read_to_string(&paths.config).ok();
    let in_force = crate::instance::config_in_force(&paths.data_dir)
        .filter(|text| Some(text) != on_disk.as_ref())
        .and_then(|text| Config::from_toml(&text, Some(&paths.config)).ok());
    let next = in_force
        .as_ref()
        .unwrap_or(config)
        .plan()
        .next_per_meal(now);
    let ledger_path = crate::ledger::path_in(&paths.data_dir);
    // A daemon that stopped because it cannot work (exit 3) needs the user.
    let daemon_stopped = crate::instance::stopped(&paths.data_dir);
    let (last_runs, recent) = if ledger_path.exists() {
        let ledger = crate::ledger::Ledger::open_read_only(&ledger_path)?;
        (ledger.last_runs(5)?, ledger.history(RECENT_ROWS)?)
    } else {
        (Vec::new(), Vec::new())
    };
    let daemon = crate::schedule::instance_holder(&paths.data_dir);
    Ok(Status {
        config: paths.config.clone(),
        data_dir: paths.data_dir.clone(),
        timezone: config.timezone,
        login,
        store_error,
        unchecked_keyring,
        rejected,
        refresh_token_unsaved,
        daemon,
        daemon_stopped,
        daemon_config_differs: in_force.is_some(),
        next,
        last_runs,
        recent,
    })
}

/// How many ledger rows `status` reads for its `ran:` lines: the newest slots, whole,
/// for any realistic number of recipients and parts.
const RECENT_ROWS: usize = 400;

/// `kbot status` without a login ends with exit 3, as every command that needs one does.
fn not_logged_in(login: Option<&session::LoginStatus>) -> Option<crate::Error> {
    login.filter(|l| !l.logged_in).map(|l| {
        auth::AuthError::NotLoggedIn {
            store: l.secret_store.clone(),
        }
        .into()
    })
}

/// `kbot friends`: the friends this app may list, as Kakao gives them.
pub async fn friends(account: &Account) -> Result<Vec<kakao::Friend>> {
    account.sender().friends().await
}

fn local(t: DateTime<Utc>, config: &Config) -> String {
    t.with_timezone(&config.timezone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn write(out: &mut impl Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| PathIo::new("cannot write", "<stdout>", e))?;
    Ok(())
}
