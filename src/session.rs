//! The token lifecycle of a logged-in kbot (DESIGN §4): [`Session`].
//!
//! Owns when an access token is reused (until 5 minutes before expiry) and when it is
//! refreshed, the cross-process refresh lock (`<data_dir>/refresh.lock`), re-reading the
//! store after taking it (another process may have rotated the refresh token already),
//! reserving room for a refresh's result before Kakao is called and saving a rotated refresh
//! token before the new access token is used (a daemon keeps one it cannot save and retries
//! the save), the `-401` path, the daemon's keep-alive, logout (a damaged entry too), and
//! the login summary for `kbot status`.
//!
//! Does not own the OAuth protocol (`auth.rs`: the login flow and the token-endpoint call)
//! or where tokens live (`secrets.rs`).
//!
//! I/O: the secret store, the lock file, and the token endpoint through `auth`. The decisions
//! ([`is_fresh`], [`decide`], [`summarize`]) are pure and tested here with fixed times.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::auth::{self, App, AuthError};
use crate::clock::Clock;
use crate::secrets::{self, SecretsError, Store, StoreKind, Tokens};

/// An access token is used until this long before it expires, then refreshed.
pub const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// `kbot status` warns when the refresh token has less than this left.
pub const ATTENTION_WINDOW: TimeDelta = TimeDelta::days(14);

/// The lock file that serialises refreshes across processes.
pub const REFRESH_LOCK: &str = secrets::REFRESH_LOCK;

/// Whether the cached access token can still be used: present and more than
/// [`REFRESH_MARGIN`] from expiry. No known expiry counts as stale.
pub fn is_fresh(tokens: &Tokens, now: DateTime<Utc>) -> bool {
    match (&tokens.access_token, tokens.access_token_expires_at) {
        (Some(_), Some(expires)) => now + REFRESH_MARGIN < expires,
        _ => false,
    }
}

/// What the refresh path should do after re-reading the store under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The store already holds a usable access token (another process refreshed).
    UseStored,
    /// Call the token endpoint.
    Refresh,
}

/// Why a refresh was asked for.
#[derive(Debug, Clone)]
pub enum Need {
    /// The cached access token is (nearly) expired.
    Fresh,
    /// kapi answered `-401` to this access token.
    Rejected(SecretString),
    /// The daemon's weekly keep-alive: refresh even when the token is fresh.
    Force,
}

/// Decide between the stored access token and a refresh (pure).
pub fn decide(stored: &Tokens, now: DateTime<Utc>, need: &Need) -> Decision {
    let usable = match need {
        Need::Fresh => is_fresh(stored, now),
        Need::Rejected(rejected) => {
            let differs = stored
                .access_token
                .as_ref()
                .is_some_and(|at| at.expose_secret() != rejected.expose_secret());
            differs && is_fresh(stored, now)
        }
        Need::Force => false,
    };
    if usable {
        Decision::UseStored
    } else {
        Decision::Refresh
    }
}

/// The login state for `kbot status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginStatus {
    /// The store in use, for people ("OS keyring (Secret Service)", "file /…/secrets.json").
    pub secret_store: String,
    /// The store in use, for scripts.
    pub secret_store_kind: StoreKind,
    /// Whether the store holds a refresh token.
    pub logged_in: bool,
    /// The Kakao nickname, if known.
    pub nickname: Option<String>,
    /// Granted consent scopes.
    pub scopes: Vec<String>,
    /// When the cached access token expires.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The refresh token has less than [`ATTENTION_WINDOW`] left (or has expired).
    pub needs_attention: bool,
    /// Why, in words, when it does.
    pub attention: Option<String>,
}

/// Summarise the stored login (pure).
pub fn summarize(store: &Store, tokens: Option<&Tokens>, now: DateTime<Utc>) -> LoginStatus {
    let rt_expiry = tokens.and_then(|t| t.refresh_token_expires_at);
    let attention = match rt_expiry {
        Some(expires) if expires <= now => {
            Some("the refresh token has expired: kbot login".to_string())
        }
        Some(expires) if expires - now < ATTENTION_WINDOW => Some(format!(
            "the refresh token expires in {} days: a refresh renews it (the daemon does one weekly), or kbot login",
            (expires - now).num_days()
        )),
        _ => None,
    };
    LoginStatus {
        secret_store: store.describe(),
        secret_store_kind: store.kind(),
        logged_in: tokens.is_some(),
        nickname: tokens.and_then(|t| t.nickname.clone()),
        scopes: tokens.map(|t| t.scopes.clone()).unwrap_or_default(),
        access_token_expires_at: tokens.and_then(|t| t.access_token_expires_at),
        refresh_token_expires_at: rt_expiry,
        needs_attention: attention.is_some(),
        attention,
    }
}

/// Save a fresh login: under the refresh lock (a daemon may be refreshing the old login),
/// then note which store was used so later processes use it too.
pub async fn save_login(store: &Store, data_dir: &Path, tokens: &Tokens) -> Result<(), AuthError> {
    let _lock = refresh_lock(data_dir).await?;
    store.save(tokens).await?;
    // A refresh whose result was lost is moot now.
    secrets::end_pending(data_dir);
    secrets::clear_rejection(data_dir);
    secrets::remember(data_dir, store.kind())?;
    Ok(())
}

/// Take `<data_dir>/refresh.lock` (blocking, so off the async threads).
async fn refresh_lock(data_dir: &Path) -> Result<std::fs::File, AuthError> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        secrets::ensure_private_dir(&dir).map_err(|source| SecretsError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        secrets::lock_file(&dir.join(REFRESH_LOCK))
    })
    .await
    .map_err(|err| SecretsError::Task(err.to_string()))?
    .map_err(AuthError::from)
}

/// What a keep-alive refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Kakao issued a new refresh token (it does in the token's last month).
    pub rotated: bool,
    /// When the (possibly new) refresh token expires.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

/// What `kbot logout` found and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedOut {
    /// A login was stored and is gone.
    Removed,
    /// What was stored could not be read (damaged, or from a newer kbot); it is gone. Why.
    RemovedUnreadable(String),
    /// Nothing was stored.
    NothingStored,
}

/// The token lifecycle of one Kakao app for one process.
#[derive(Debug)]
pub struct Session {
    app: App,
    store: Store,
    http: reqwest::Client,
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    /// Tokens as last read or written by this process; also serialises in-process callers.
    cache: tokio::sync::Mutex<Option<Tokens>>,
    /// Keep a rotated refresh token that could not be saved, and retry (the daemon).
    holds_unsaved: AtomicBool,
    /// That token, while its save is retried.
    unsaved: Arc<std::sync::Mutex<Option<Unsaved>>>,
    /// The first pause between retries of that save (doubling to [`SAVE_RETRY_CAP`]).
    save_retry: Duration,
}

/// A refresh result whose save failed after Kakao rotated the refresh token.
#[derive(Debug, Clone)]
struct Unsaved {
    /// The tokens to save: the only working refresh token.
    tokens: Tokens,
    /// The refresh token the store still holds (dead). A different one in the store means
    /// someone logged in anew meanwhile: then the unsaved tokens are dropped.
    replaced: SecretString,
}

/// The longest pause between retries of an unsaved rotated token's save.
const SAVE_RETRY_CAP: Duration = Duration::from_secs(5 * 60);

impl Session {
    /// A session over `store`; `http` should be `http::oauth_client(..)`; `data_dir` holds
    /// the refresh lock. Nothing is read yet.
    pub fn new(
        app: App,
        store: Store,
        http: reqwest::Client,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Session {
        Session {
            app,
            store,
            http,
            data_dir: data_dir.to_path_buf(),
            clock,
            cache: tokio::sync::Mutex::new(None),
            holds_unsaved: AtomicBool::new(false),
            unsaved: Arc::new(std::sync::Mutex::new(None)),
            save_retry: Duration::from_secs(30),
        }
    }

    /// For a long-running process (the daemon): a rotated refresh token that cannot be
    /// saved is kept in memory, used, and its save retried in the background until it
    /// lands, instead of failing the call. `first_retry` is the first pause (it doubles).
    pub fn hold_unsaved_tokens(&self) {
        self.holds_unsaved.store(true, Ordering::Relaxed);
    }

    /// Shorten the pause before the first retry of an unsaved token's save (tests).
    pub fn set_save_retry(&mut self, first_retry: Duration) {
        self.save_retry = first_retry;
    }

    /// Whether this process holds a rotated refresh token it could not save yet.
    pub fn has_unsaved_tokens(&self) -> bool {
        self.unsaved.lock().is_ok_and(|u| u.is_some())
    }

    fn unsaved_tokens(&self) -> Option<Tokens> {
        self.unsaved
            .lock()
            .ok()
            .and_then(|u| u.as_ref().map(|u| u.tokens.clone()))
    }

    /// Keep `tokens` (whose save failed) and retry the save until it lands.
    fn keep_unsaved(&self, tokens: Tokens, replaced: SecretString) {
        let Ok(mut slot) = self.unsaved.lock() else {
            return;
        };
        let first = slot.is_none();
        let replaced = slot.as_ref().map_or(replaced, |u| u.replaced.clone());
        *slot = Some(Unsaved { tokens, replaced });
        drop(slot);
        if first {
            let (unsaved, store, dir) = (
                self.unsaved.clone(),
                self.store.clone(),
                self.data_dir.clone(),
            );
            tokio::spawn(retry_save(unsaved, store, dir, self.save_retry));
        }
    }

    /// The store this session reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A usable access token: the cached one until 5 minutes before it expires, else a
    /// refreshed one (saved before it is returned).
    pub async fn access_token(&self) -> Result<SecretString, AuthError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some(tokens) = cache.as_ref().filter(|t| is_fresh(t, now)) {
            return Ok(access_token_of(tokens));
        }
        // Another process may have refreshed since: look before taking the lock.
        let stored = self.load().await?;
        let tokens = if is_fresh(&stored, now) {
            stored
        } else {
            self.refresh_locked(&Need::Fresh).await?.0
        };
        let token = access_token_of(&tokens);
        *cache = Some(tokens);
        Ok(token)
    }

    /// After kapi answered `-401` to `rejected`: if the store already holds a different,
    /// fresh access token (another process refreshed), use it; else refresh now.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &SecretString,
    ) -> Result<SecretString, AuthError> {
        let mut cache = self.cache.lock().await;
        let tokens = self
            .refresh_locked(&Need::Rejected(rejected.clone()))
            .await?
            .0;
        let token = access_token_of(&tokens);
        *cache = Some(tokens);
        Ok(token)
    }

    /// The daemon's weekly refresh, so an idle bot's refresh token gets rotated in its last
    /// month instead of expiring.
    pub async fn keep_alive(&self) -> Result<Refreshed, AuthError> {
        let mut cache = self.cache.lock().await;
        let (tokens, rotated) = self.refresh_locked(&Need::Force).await?;
        let refreshed = Refreshed {
            rotated,
            refresh_token_expires_at: tokens.refresh_token_expires_at,
        };
        *cache = Some(tokens);
        Ok(refreshed)
    }

    /// The login state for `kbot status` (reads the store, calls nobody).
    pub async fn status(&self) -> Result<LoginStatus, AuthError> {
        let tokens = self.store.load().await?;
        Ok(summarize(&self.store, tokens.as_ref(), self.clock.now()))
    }

    /// Delete the local tokens (a damaged or newer-format entry too). The remembered store
    /// stays: later commands look there and say "not logged in" (not that some other
    /// store cannot be reached) until a login picks a store again. Revoking at Kakao (`/v1/user/logout`) is the caller's, before this,
    /// with a token this session hands out (`kbot logout --revoke` does it through the -401
    /// retry path).
    pub async fn logout(&self) -> Result<LoggedOut, AuthError> {
        let mut cache = self.cache.lock().await;
        let _lock = refresh_lock(&self.data_dir).await?;
        let before = match self.store.load().await {
            Ok(Some(_)) => LoggedOut::Removed,
            Ok(None) => LoggedOut::NothingStored,
            Err(err) if err.is_unreadable() => LoggedOut::RemovedUnreadable(err.to_string()),
            // No note of a login here and a keyring that cannot be asked: nothing to log out
            // of that kbot knows of (the usual case after a logout on a headless machine).
            Err(SecretsError::KeyringUnavailable { .. })
                if secrets::remembered(&self.data_dir).ok().flatten().is_none() =>
            {
                return Ok(LoggedOut::NothingStored);
            }
            Err(err) => return Err(err.into()),
        };
        let deleted = self.store.delete().await?;
        secrets::end_pending(&self.data_dir);
        if let Ok(mut unsaved) = self.unsaved.lock() {
            *unsaved = None;
        }
        secrets::clear_rejection(&self.data_dir);
        *cache = None;
        Ok(match before {
            LoggedOut::NothingStored if deleted => LoggedOut::Removed,
            other => other,
        })
    }

    async fn load(&self) -> Result<Tokens, AuthError> {
        self.store
            .load()
            .await?
            .ok_or_else(|| AuthError::NotLoggedIn {
                store: self.store.describe(),
            })
    }

    /// Under the cross-process lock: re-read the store, use what another process saved if
    /// that satisfies `need`, else refresh and save before returning. The room for the
    /// result is reserved before Kakao is called: once Kakao rotates the refresh token the
    /// stored one is dead, so its successor must not be lost to a full disk.
    async fn refresh_locked(&self, need: &Need) -> Result<(Tokens, bool), AuthError> {
        let _lock = refresh_lock(&self.data_dir).await?;
        // A rotated token this process could not save yet is the only one that works.
        let held = self.unsaved_tokens();
        let stored = match &held {
            Some(tokens) => tokens.clone(),
            None => self.load().await?,
        };
        let now = self.clock.now();
        if decide(&stored, now, need) == Decision::UseStored {
            tracing::debug!("another process refreshed the access token; using it");
            return Ok((stored, false));
        }
        self.store
            .reserve(&self.data_dir)
            .await
            .map_err(|source| AuthError::NoRoomToRefresh {
                store: self.store.describe(),
                source,
            })?;
        tracing::debug!("refreshing the Kakao access token");
        let (tokens, rotated) = match auth::refresh_grant(&self.app, &self.http, &stored, now).await
        {
            Ok(refreshed) => refreshed,
            Err(err) => {
                secrets::end_pending(&self.data_dir);
                if matches!(err, AuthError::RefreshRejected { .. }) {
                    secrets::record_rejection(
                        &self.data_dir,
                        &secrets::Rejection {
                            at: now,
                            reason: err.to_string(),
                        },
                    );
                }
                return Err(err);
            }
        };
        // The old refresh token is dead once Kakao rotates it: save before anything else.
        match self.store.save_reserved(&tokens, &self.data_dir).await {
            Ok(()) => {
                if let Ok(mut unsaved) = self.unsaved.lock() {
                    *unsaved = None;
                }
                if rotated {
                    tracing::info!(expires = ?tokens.refresh_token_expires_at, "kakao rotated the refresh token; saved the new one");
                }
                Ok((tokens, rotated))
            }
            Err(source) if rotated || held.is_some() => {
                let store = self.store.describe();
                if !self.holds_unsaved.load(Ordering::Relaxed) {
                    return Err(AuthError::RotatedTokenNotSaved { store, source });
                }
                tracing::error!(
                    "kakao rotated the refresh token, but kbot could not save the new one in the {store}: {source}; keeping it in memory and retrying the save"
                );
                self.keep_unsaved(tokens.clone(), stored.refresh_token.clone());
                Ok((tokens, rotated))
            }
            Err(err) => {
                // Not rotated: the stored refresh token still works; only the new access
                // token is not cached for other processes.
                secrets::end_pending(&self.data_dir);
                tracing::warn!(
                    "cannot keep the new access token in the {}: {err}",
                    self.store.describe()
                );
                Ok((tokens, false))
            }
        }
    }
}

/// Retry saving an unsaved rotated token until it lands (or a new login replaced it).
async fn retry_save(
    unsaved: Arc<std::sync::Mutex<Option<Unsaved>>>,
    store: Store,
    data_dir: PathBuf,
    first: Duration,
) {
    let mut pause = first;
    loop {
        tokio::time::sleep(pause).await;
        let Some(pending) = unsaved.lock().ok().and_then(|u| u.clone()) else {
            return; // a later refresh saved it
        };
        match save_unsaved(&store, &data_dir, &pending).await {
            Ok(()) => {
                if let Ok(mut slot) = unsaved.lock() {
                    let same = slot.as_ref().is_some_and(|u| {
                        u.tokens.refresh_token.expose_secret()
                            == pending.tokens.refresh_token.expose_secret()
                    });
                    if same {
                        *slot = None;
                    }
                }
                return;
            }
            Err(err) => {
                tracing::warn!("still cannot save the rotated refresh token: {err}");
                pause = (pause * 2).min(SAVE_RETRY_CAP);
            }
        }
    }
}

/// One retry: under the refresh lock, save the held tokens unless the store meanwhile holds
/// another login than the one they replaced.
async fn save_unsaved(store: &Store, data_dir: &Path, pending: &Unsaved) -> Result<(), AuthError> {
    let _lock = refresh_lock(data_dir).await?;
    if let Ok(Some(stored)) = store.load().await
        && stored.refresh_token.expose_secret() != pending.replaced.expose_secret()
    {
        tracing::info!("a new login replaced the one whose rotated token was not saved");
        return Ok(());
    }
    store.save_reserved(&pending.tokens, data_dir).await?;
    tracing::info!("saved the rotated refresh token kept in memory");
    Ok(())
}

fn access_token_of(tokens: &Tokens) -> SecretString {
    // Callers only reach here with tokens that passed `is_fresh` or came from a refresh,
    // both of which carry an access token.
    tokens
        .access_token
        .clone()
        .unwrap_or_else(|| SecretString::from(String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap()
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

    #[test]
    fn access_token_is_reused_until_five_minutes_before_expiry() {
        assert!(is_fresh(&tokens(TimeDelta::minutes(6)), t0()));
        assert!(!is_fresh(&tokens(TimeDelta::minutes(5)), t0()));
        assert!(!is_fresh(&tokens(TimeDelta::minutes(4)), t0()));
        assert!(!is_fresh(&tokens(-TimeDelta::hours(1)), t0()));
        let mut no_expiry = tokens(TimeDelta::hours(1));
        no_expiry.access_token_expires_at = None;
        assert!(!is_fresh(&no_expiry, t0()));
        let mut no_token = tokens(TimeDelta::hours(1));
        no_token.access_token = None;
        assert!(!is_fresh(&no_token, t0()));
    }

    #[test]
    fn after_a_rejection_a_different_fresh_token_is_used_else_refresh() {
        let stored = tokens(TimeDelta::hours(5));
        let same = Need::Rejected(SecretString::from("at-1"));
        let other = Need::Rejected(SecretString::from("at-0"));
        assert_eq!(decide(&stored, t0(), &same), Decision::Refresh);
        assert_eq!(decide(&stored, t0(), &other), Decision::UseStored);
        let stale = tokens(TimeDelta::minutes(2));
        assert_eq!(decide(&stale, t0(), &other), Decision::Refresh);
        assert_eq!(decide(&stored, t0(), &Need::Fresh), Decision::UseStored);
        assert_eq!(decide(&stale, t0(), &Need::Fresh), Decision::Refresh);
        assert_eq!(decide(&stored, t0(), &Need::Force), Decision::Refresh);
    }

    #[test]
    fn status_warns_when_the_refresh_token_has_under_fourteen_days() {
        let store = Store::new(StoreKind::File, Path::new("/d"), "rest-key");
        let mut t = tokens(TimeDelta::hours(1));
        t.nickname = Some("민지".into());
        t.refresh_token_expires_at = Some(t0() + TimeDelta::days(15));
        let s = summarize(&store, Some(&t), t0());
        assert!(s.logged_in && !s.needs_attention && s.attention.is_none());
        assert_eq!(s.secret_store, "file /d/secrets.json");
        assert_eq!(s.nickname.as_deref(), Some("민지"));
        assert_eq!(s.scopes, vec!["talk_message"]);

        t.refresh_token_expires_at = Some(t0() + TimeDelta::days(13) + TimeDelta::hours(2));
        let s = summarize(&store, Some(&t), t0());
        assert!(s.needs_attention);
        assert!(s.attention.unwrap().contains("expires in 13 days"));

        t.refresh_token_expires_at = Some(t0() - TimeDelta::days(1));
        assert!(
            summarize(&store, Some(&t), t0())
                .attention
                .unwrap()
                .contains("has expired")
        );

        let none = summarize(&store, None, t0());
        assert!(!none.logged_in && !none.needs_attention && none.scopes.is_empty());
    }

    #[test]
    fn status_json_uses_the_documented_field_names() {
        let store = Store::new(StoreKind::File, Path::new("/d"), "rest-key");
        let json =
            serde_json::to_value(summarize(&store, Some(&tokens(TimeDelta::hours(1))), t0()))
                .unwrap();
        for key in [
            "secret_store",
            "logged_in",
            "nickname",
            "scopes",
            "access_token_expires_at",
            "refresh_token_expires_at",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert!(!json.to_string().contains("at-1") && !json.to_string().contains("rt-1"));
    }
}
