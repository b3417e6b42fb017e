//! Where kbot keeps its Kakao tokens: the OS keyring or a private file (DESIGN §4).
//!
//! Owns the [`Tokens`] record (one per Kakao app: service `"kbot"`, user = client_id), the two
//! backends behind [`Store`], the choice between them ([`resolve_kind`]) and the small `store`
//! file that remembers which one `kbot login` used; telling a damaged or newer-format entry
//! ([`SecretsError::is_unreadable`]) from a missing one, and removing it; the room a refresh
//! reserves for its result (`refresh.pending`). Secrets in memory are [`SecretString`]s, so
//! `Debug` never shows them, and nothing here logs a value.
//!
//! Does not decide when tokens are refreshed or how they are obtained (`auth.rs`).
//!
//! I/O: the keyring (Secret Service over D-Bus, macOS Keychain, Windows Credential Manager),
//! always through `spawn_blocking` with a fresh connection per call; and files in the data dir
//! (`secrets.json`, `secrets.lock`, `store`, `refresh.pending`), written atomically. Everything that decides
//! something — serialisation, permission checks, store resolution — is pure and tested here.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Exit, Report};

/// The keyring service name of every kbot entry (the user is the Kakao client_id).
pub const SERVICE: &str = "kbot";

/// File name of the file store inside the data dir.
pub const SECRETS_FILE: &str = "secrets.json";

/// File name of the note that remembers which store `kbot login` used.
pub const STORE_FILE: &str = "store";

/// A refresh in flight: the space its result needs (file store), reserved in the data dir
/// before Kakao is called, and renamed over `secrets.json` once the result is written into
/// it. Left behind, it says a refresh's result was not saved (`kbot status` reports it).
pub const REFRESH_PENDING: &str = "refresh.pending";

/// A note that Kakao rejected the stored login (a refresh token refused: expired, revoked,
/// the app unlinked): when, and what Kakao said. `kbot status` shows it until a new login.
pub const LOGIN_REJECTED: &str = "login.rejected";

/// The lock that serialises refreshes across processes (taken by `session.rs`).
pub const REFRESH_LOCK: &str = "refresh.lock";

/// How much more than the current `secrets.json` a refresh reserves (a new refresh token,
/// its expiry and scopes fit many times over).
const RESERVE_MARGIN: u64 = 4096;

/// Lock taken around read-modify-write of `secrets.json` (several apps share one file).
const FILE_LOCK: &str = "secrets.lock";

/// How long one keyring call may take. A locked Secret Service collection can wait forever
/// for an unlock prompt nobody will see on a headless machine; better to stop with a hint.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(20);

/// Version of the serialised entry, so a later kbot can migrate it.
const FORMAT_VERSION: u32 = 1;

/// Everything kbot keeps about one login to one Kakao app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The refresh token (two months; Kakao rotates it in the last month).
    #[serde(serialize_with = "expose")]
    pub refresh_token: SecretString,
    /// When the refresh token expires, if Kakao said.
    #[serde(default)]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The cached access token.
    #[serde(default, serialize_with = "expose_opt")]
    pub access_token: Option<SecretString>,
    /// When the cached access token expires.
    #[serde(default)]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// The consent scopes Kakao granted (e.g. `talk_message`, `friends`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The app's client secret, if it has one enabled.
    #[serde(default, serialize_with = "expose_opt")]
    pub client_secret: Option<SecretString>,
    /// The Kakao account's nickname (filled in from `/v2/user/me` after login).
    #[serde(default)]
    pub nickname: Option<String>,
}

impl Tokens {
    /// Serialise for a backend. The JSON carries the secrets, so it comes back as a secret.
    pub fn to_json(&self) -> SecretString {
        let entry = Entry {
            version: FORMAT_VERSION,
            tokens: self.clone(),
        };
        // Serialising plain strings, numbers and dates cannot fail.
        SecretString::from(serde_json::to_string(&entry).unwrap_or_default())
    }

    /// Parse what [`Tokens::to_json`] wrote. The error never quotes the input.
    pub fn from_json(json: &str) -> Result<Tokens, Unreadable> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|err| Unreadable::Corrupt(describe_json_error(err)))?;
        check_version(&value)?;
        // From the text again (not the value), so the error can say where.
        serde_json::from_str::<Entry>(json)
            .map(|entry| entry.tokens)
            .map_err(|err| Unreadable::Corrupt(describe_json_error(err)))
    }
}

/// The serialised form of one entry: a version next to the token fields.
#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(default = "format_version")]
    version: u32,
    #[serde(flatten)]
    tokens: Tokens,
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

/// The file store: every app's entry, keyed by client_id. Entries stay raw JSON until one
/// is asked for, so one damaged entry neither hides nor loses the others.
#[derive(Default)]
struct FileContents {
    apps: BTreeMap<String, serde_json::Value>,
}

/// Why stored bytes are not a kbot entry (never quoting them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Not what kbot writes: what is wrong and where.
    Corrupt(String),
    /// Written by a newer kbot, in a format this one does not know.
    NewerVersion(u64),
}

/// Refuse a `"version"` this kbot does not know (a newer kbot's format would otherwise be
/// read as far as it goes and rewritten as an older one).
fn check_version(value: &serde_json::Value) -> Result<(), Unreadable> {
    match value.get("version") {
        None => Ok(()),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= u64::from(FORMAT_VERSION) => Ok(()),
            Some(v) => Err(Unreadable::NewerVersion(v)),
            None => Err(Unreadable::Corrupt(
                "\"version\" is not a whole number".into(),
            )),
        },
        Some(_) => Err(Unreadable::Corrupt("\"version\" is not a number".into())),
    }
}

/// Parse the whole `secrets.json` (pure): an object with a known `version` and an `apps`
/// object. Which entries are sound is checked per entry, on use.
fn parse_file(text: &str) -> Result<FileContents, Unreadable> {
    if text.trim().is_empty() {
        return Err(Unreadable::Corrupt("the file is empty".into()));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| Unreadable::Corrupt(describe_json_error(err)))?;
    let serde_json::Value::Object(mut top) = value else {
        return Err(Unreadable::Corrupt(format!(
            "expected a JSON object, found {}",
            json_kind(&value)
        )));
    };
    check_version(&serde_json::Value::Object(top.clone()))?;
    let apps = match top.remove("apps") {
        None => BTreeMap::new(),
        Some(serde_json::Value::Object(apps)) => apps.into_iter().collect(),
        Some(other) => {
            return Err(Unreadable::Corrupt(format!(
                "\"apps\" should be an object, found {}",
                json_kind(&other)
            )));
        }
    };
    Ok(FileContents { apps })
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

fn expose_opt<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// A serde_json error without the offending value (it could be a token): category and place.
fn describe_json_error(err: serde_json::Error) -> String {
    let what = match err.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "missing or mistyped field",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    if err.line() == 0 {
        // From a parsed value: no position. serde names a missing field without its value;
        // other messages quote the value (possibly a token), so they are not repeated.
        let message = err.to_string();
        return match message.strip_prefix("missing field ") {
            Some(field) => format!("missing field {field}"),
            None => "a field of the wrong type".to_string(),
        };
    }
    format!("{what} at line {} column {}", err.line(), err.column())
}

/// Which backend holds the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The OS keyring.
    Keyring,
    /// `secrets.json` (0600) in the data dir.
    File,
}

impl StoreKind {
    /// The name used by `--secret-store`, `secrets.store` and the `store` file.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Keyring => "keyring",
            StoreKind::File => "file",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreKind {
    type Err = SecretsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "keyring" => Ok(StoreKind::Keyring),
            "file" => Ok(StoreKind::File),
            other => Err(SecretsError::UnknownKind(other.to_string())),
        }
    }
}

/// Why a secret store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The keyring could not be reached at all (no D-Bus session, locked, no provider, …).
    #[error("the {what} is unreachable: {reason}")]
    KeyringUnavailable {
        /// Which keyring (e.g. "OS keyring (Secret Service)").
        what: &'static str,
        /// What the platform said.
        reason: String,
    },
    /// The keyring answered but refused the operation.
    #[error("the {what} refused the kbot entry for client_id {client_id}: {reason}")]
    Keyring {
        /// Which keyring.
        what: &'static str,
        /// The entry's user.
        client_id: String,
        /// What the platform said.
        reason: String,
    },
    /// The stored entry is not what kbot wrote.
    #[error("cannot read the kbot entry for client_id {client_id} in the {place}: {detail}")]
    Corrupt {
        /// The keyring or the file (as [`Store::describe`] says it).
        place: String,
        /// The entry's user.
        client_id: String,
        /// What is wrong (never the content).
        detail: String,
    },
    /// The whole `secrets.json` is not what kbot writes (empty, not JSON, `null`, …).
    #[error("cannot read the secrets file {path}: {detail}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content).
        detail: String,
    },
    /// A newer kbot wrote the entry in a format this one does not know.
    #[error(
        "the {place} holds a kbot entry in format version {version}, newer than this kbot reads ({FORMAT_VERSION})"
    )]
    NewerVersion {
        /// The keyring or the file (as [`Store::describe`] says it).
        place: String,
        /// The version found.
        version: u64,
    },
    /// The file store can be read or written by other users.
    #[error("refusing to use {path}: other users can access it (mode {mode:04o})")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file or directory operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What kbot was doing ("read", "write", "lock", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The `store` file names no known store.
    #[error("{path} names an unknown secret store `{value}`")]
    Remembered {
        /// The `store` file.
        path: PathBuf,
        /// What it contains (a store name, never a secret).
        value: String,
    },
    /// `--secret-store` or `secrets.store` names no known store.
    #[error("unknown secret store `{0}`: expected keyring or file")]
    UnknownKind(String),
    /// A blocking task died (it panicked or the runtime is shutting down).
    #[error("the secret store task did not finish: {0}")]
    Task(String),
}

impl Report for SecretsError {
    fn exit(&self) -> Exit {
        match self {
            SecretsError::Corrupt { .. }
            | SecretsError::CorruptFile { .. }
            | SecretsError::NewerVersion { .. } => Exit::Login,
            SecretsError::UnknownKind(_) => Exit::Usage,
            SecretsError::Remembered { .. } => Exit::Config,
            _ => Exit::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            SecretsError::KeyringUnavailable { .. } => {
                Some("kbot login --secret-store file".to_string())
            }
            SecretsError::Keyring { .. } => {
                Some("kbot logout, then kbot login (or kbot login --secret-store file)".to_string())
            }
            SecretsError::Corrupt { .. } => Some(
                "kbot logout removes the damaged entry (other apps' entries stay), then kbot login"
                    .to_string(),
            ),
            SecretsError::CorruptFile { path, .. } => Some(format!(
                "kbot logout removes the damaged file (or delete {} yourself), then kbot login",
                path.display()
            )),
            SecretsError::NewerVersion { .. } => Some(
                "use the newer kbot that wrote it; or kbot logout to delete the entry, then kbot login"
                    .to_string(),
            ),
            SecretsError::TooOpen { path, .. } => Some(format!("chmod 600 {}", path.display())),
            SecretsError::Remembered { path, .. } => Some(format!(
                "kbot login --secret-store keyring|file (or delete {})",
                path.display()
            )),
            SecretsError::UnknownKind(_) => {
                Some("use --secret-store keyring or --secret-store file".to_string())
            }
            SecretsError::Io { .. } | SecretsError::Task(_) => None,
        }
    }
}

impl SecretsError {
    /// The store answered, but what it holds is not a login this kbot can read: damaged, or
    /// from a newer kbot. `kbot logout` removes it; `kbot login` may replace it.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            SecretsError::Corrupt { .. }
                | SecretsError::CorruptFile { .. }
                | SecretsError::NewerVersion { .. }
        )
    }

    fn unreadable(why: Unreadable, place: String, client_id: &str) -> SecretsError {
        match why {
            Unreadable::Corrupt(detail) => SecretsError::Corrupt {
                place,
                client_id: client_id.to_string(),
                detail,
            },
            Unreadable::NewerVersion(version) => SecretsError::NewerVersion { place, version },
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SecretsError + use<> {
    let path = path.to_path_buf();
    move |source| SecretsError::Io {
        action,
        path,
        source,
    }
}

/// The store to use: an explicit `--secret-store` wins, then the one `kbot login`
/// remembered, then the config's `secrets.store`.
pub fn resolve_kind(
    flag: Option<StoreKind>,
    remembered: Option<StoreKind>,
    configured: StoreKind,
) -> StoreKind {
    flag.or(remembered).unwrap_or(configured)
}

/// [`resolve_kind`] with the remembered choice read from `<data_dir>/store`.
pub fn resolve(
    data_dir: &Path,
    flag: Option<StoreKind>,
    configured: StoreKind,
) -> Result<StoreKind, SecretsError> {
    let remembered = if flag.is_some() {
        None // no need to read (or fail on) a note the flag overrides anyway
    } else {
        remembered(data_dir)?
    };
    Ok(resolve_kind(flag, remembered, configured))
}

/// The store `kbot login` last used, if it left a note in the data dir.
pub fn remembered(data_dir: &Path) -> Result<Option<StoreKind>, SecretsError> {
    let path = data_dir.join(STORE_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse() {
            Ok(kind) => Ok(Some(kind)),
            Err(_) => Err(SecretsError::Remembered {
                value: text.trim().chars().take(40).collect(),
                path,
            }),
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_err("read", &path)(err)),
    }
}

/// Note in the data dir which store `kbot login` used, for later processes.
pub fn remember(data_dir: &Path, kind: StoreKind) -> Result<(), SecretsError> {
    ensure_private_dir(data_dir).map_err(io_err("create", data_dir))?;
    let line = format!("{kind}\n");
    write_atomic(data_dir, STORE_FILE, line.as_bytes())
        .map_err(io_err("write", &data_dir.join(STORE_FILE)))
}

/// When Kakao rejected the stored login, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// When kbot was told.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Kakao's answer in words (`kakao rejected the refresh token (KOE322): log in again`).
    pub reason: String,
}

/// Note that Kakao rejected the stored login (best effort: a note that cannot be written
/// only leaves `kbot status` less informed, and is logged).
pub fn record_rejection(data_dir: &Path, rejection: &Rejection) {
    let text = format!("{}\n{}\n", rejection.at.to_rfc3339(), rejection.reason);
    if let Err(err) = write_atomic(data_dir, LOGIN_REJECTED, text.as_bytes()) {
        tracing::warn!(
            "cannot note in {} that kakao rejected the login: {err}",
            data_dir.join(LOGIN_REJECTED).display()
        );
    }
}

/// The rejection noted by [`record_rejection`], if any (and readable).
pub fn rejection(data_dir: &Path) -> Option<Rejection> {
    let text = fs::read_to_string(data_dir.join(LOGIN_REJECTED)).ok()?;
    let (at, reason) = text.split_once('\n')?;
    Some(Rejection {
        at: chrono::DateTime::parse_from_rfc3339(at.trim())
            .ok()?
            .to_utc(),
        reason: reason.trim().to_string(),
    })
}

/// Remove the rejection note (a new login, a logout).
pub fn clear_rejection(data_dir: &Path) {
    match fs::remove_file(data_dir.join(LOGIN_REJECTED)) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(
            "cannot remove {}: {err}",
            data_dir.join(LOGIN_REJECTED).display()
        ),
    }
}

/// The secret store of one Kakao app.
#[derive(Debug, Clone)]
pub enum Store {
    /// The OS keyring.
    Keyring(KeyringStore),
    /// `secrets.json` in the data dir.
    File(FileStore),
}

/// The OS keyring backend: one entry, service `"kbot"`, user = client_id.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    client_id: String,
}

/// The file backend: `<data_dir>/secrets.json`, 0600 in a 0700 dir, one object per app.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    client_id: String,
}

impl Store {
    /// The store of `kind` for the app `client_id`; the file store lives in `data_dir`.
    /// Nothing is opened yet.
    pub fn new(kind: StoreKind, data_dir: &Path, client_id: &str) -> Store {
        match kind {
            StoreKind::Keyring => Store::Keyring(KeyringStore {
                client_id: client_id.to_string(),
            }),
            StoreKind::File => Store::File(FileStore {
                dir: data_dir.to_path_buf(),
                client_id: client_id.to_string(),
            }),
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        match self {
            Store::Keyring(_) => StoreKind::Keyring,
            Store::File(_) => StoreKind::File,
        }
    }

    /// For people: "OS keyring (Secret Service)" or "file /path/secrets.json".
    pub fn describe(&self) -> String {
        match self {
            Store::Keyring(_) => KEYRING_NAME.to_string(),
            Store::File(file) => format!("file {}", file.path().display()),
        }
    }

    /// The app's tokens, or `None` when nobody logged in.
    pub async fn load(&self) -> Result<Option<Tokens>, SecretsError> {
        match self {
            Store::Keyring(k) => {
                let client_id = k.client_id.clone();
                let json = keyring_call(move || os_keyring::get(&client_id)).await?;
                match json {
                    None => Ok(None),
                    Some(json) => {
                        Tokens::from_json(json.expose_secret())
                            .map(Some)
                            .map_err(|why| {
                                SecretsError::unreadable(
                                    why,
                                    KEYRING_NAME.to_string(),
                                    &k.client_id,
                                )
                            })
                    }
                }
            }
            Store::File(f) => {
                let f = f.clone();
                blocking(move || f.load()).await
            }
        }
    }

    /// Replace the app's tokens.
    pub async fn save(&self, tokens: &Tokens) -> Result<(), SecretsError> {
        match self {
            Store::Keyring(k) => {
                let client_id = k.client_id.clone();
                let json = tokens.to_json();
                keyring_call(move || os_keyring::set(&client_id, &json)).await
            }
            Store::File(f) => {
                let (f, tokens) = (f.clone(), tokens.clone());
                blocking(move || f.save(tokens)).await
            }
        }
    }

    /// Prove the store can take an entry before anything depends on it (`kbot login` asks
    /// before the browser opens): the file store writes and removes a temp file of an
    /// entry's size in the data dir. The keyring is proved reachable by [`Store::load`].
    pub async fn check_writable(&self) -> Result<(), SecretsError> {
        match self {
            Store::Keyring(_) => Ok(()),
            Store::File(f) => {
                let f = f.clone();
                blocking(move || f.probe()).await
            }
        }
    }

    /// Before a refresh (under the refresh lock): write `<data_dir>/refresh.pending`, as
    /// big as `secrets.json` will be, so that the result can be saved even if the disk
    /// fills meanwhile. For the keyring it is only the marker (empty).
    pub async fn reserve(&self, data_dir: &Path) -> Result<(), SecretsError> {
        let (dir, size) = match self {
            Store::Keyring(_) => (data_dir.to_path_buf(), 0),
            Store::File(f) => {
                let size = fs::metadata(f.path()).map(|m| m.len()).unwrap_or(0) + RESERVE_MARGIN;
                (f.dir.clone(), size)
            }
        };
        blocking(move || {
            ensure_private_dir(&dir).map_err(io_err("create", &dir))?;
            let path = dir.join(REFRESH_PENDING);
            let filler = vec![b' '; usize::try_from(size).unwrap_or(usize::MAX)];
            write_temp(&path, &filler).map_err(|err| {
                let _ = fs::remove_file(&path);
                io_err("reserve space in", &path)(err)
            })
        })
        .await
    }

    /// Save the result of a refresh into the space [`Store::reserve`] set aside, which
    /// ends the pending mark. Without a reservation (it was lost), like [`Store::save`].
    pub async fn save_reserved(
        &self,
        tokens: &Tokens,
        data_dir: &Path,
    ) -> Result<(), SecretsError> {
        match self {
            Store::Keyring(_) => {
                self.save(tokens).await?;
                end_pending(data_dir);
                Ok(())
            }
            Store::File(f) => {
                let (f, tokens) = (f.clone(), tokens.clone());
                let value = serde_json::to_value(&tokens).unwrap_or_default();
                blocking(move || {
                    f.modify_into(false, true, |apps| {
                        apps.insert(f.client_id.clone(), value);
                        true
                    })
                    .map(drop)
                })
                .await
            }
        }
    }

    /// Delete the app's tokens; `false` when there were none.
    pub async fn delete(&self) -> Result<bool, SecretsError> {
        match self {
            Store::Keyring(k) => {
                let client_id = k.client_id.clone();
                keyring_call(move || os_keyring::delete(&client_id)).await
            }
            Store::File(f) => {
                let f = f.clone();
                blocking(move || f.delete()).await
            }
        }
    }
}

async fn blocking<T, F>(f: F) -> Result<T, SecretsError>
where
    F: FnOnce() -> Result<T, SecretsError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| SecretsError::Task(err.to_string()))?
}

/// Run a keyring call off the async threads (the zbus store must not run inside the runtime)
/// and give up after [`KEYRING_TIMEOUT`].
async fn keyring_call<T, F>(f: F) -> Result<T, SecretsError>
where
    F: FnOnce() -> Result<T, SecretsError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::time::timeout(KEYRING_TIMEOUT, blocking(f)).await {
        Ok(result) => result,
        Err(_) => Err(SecretsError::KeyringUnavailable {
            what: KEYRING_NAME,
            reason: format!(
                "no answer within {}s (a locked collection waiting for an unlock prompt?)",
                KEYRING_TIMEOUT.as_secs()
            ),
        }),
    }
}

#[cfg(target_os = "linux")]
const KEYRING_NAME: &str = "OS keyring (Secret Service)";
#[cfg(target_os = "macos")]
const KEYRING_NAME: &str = "OS keyring (macOS Keychain)";
#[cfg(target_os = "windows")]
const KEYRING_NAME: &str = "OS keyring (Windows Credential Manager)";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const KEYRING_NAME: &str = "OS keyring";

/// The blocking keyring calls. Each opens the platform store, does one thing and drops it:
/// a Secret Service connection kept open costs an idle daemon threads and wakeups.
mod os_keyring {
    use secrecy::{ExposeSecret, SecretString};

    use super::{KEYRING_NAME, SERVICE, SecretsError};

    /// A fresh entry on a fresh Secret Service connection (dropped with the entry).
    #[cfg(target_os = "linux")]
    fn entry(client_id: &str) -> Result<keyring_core::Entry, keyring_core::Error> {
        use keyring_core::api::CredentialStoreApi;
        let store = zbus_secret_service_keyring_store::Store::new()?;
        store.build(SERVICE, client_id, None)
    }

    /// Keychain and Credential Manager hold no connection: the `keyring` crate's default
    /// platform store is fine there.
    #[cfg(not(target_os = "linux"))]
    fn entry(client_id: &str) -> Result<::keyring::Entry, keyring_core::Error> {
        ::keyring::Entry::new(SERVICE, client_id)
    }

    pub(super) fn get(client_id: &str) -> Result<Option<SecretString>, SecretsError> {
        match entry(client_id).and_then(|entry| entry.get_password()) {
            Ok(json) => Ok(Some(SecretString::from(json))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) => Err(map(err, client_id)),
        }
    }

    pub(super) fn set(client_id: &str, json: &SecretString) -> Result<(), SecretsError> {
        entry(client_id)
            .and_then(|entry| entry.set_password(json.expose_secret()))
            .map_err(|err| map(err, client_id))
    }

    pub(super) fn delete(client_id: &str) -> Result<bool, SecretsError> {
        match entry(client_id).and_then(|entry| entry.delete_credential()) {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(err) => Err(map(err, client_id)),
        }
    }

    /// keyring errors never carry the secret in their `Display`, but `BadEncoding` and
    /// `BadDataFormat` carry the raw bytes: never format those with `Debug`.
    pub(super) fn map(err: keyring_core::Error, client_id: &str) -> SecretsError {
        use keyring_core::Error as E;
        match err {
            E::PlatformFailure(cause) => SecretsError::KeyringUnavailable {
                what: KEYRING_NAME,
                reason: cause.to_string(),
            },
            // The Secret Service's own words ("result not returned from SS API") do not say
            // that the usual cause is a locked or missing login keyring.
            E::NoStorageAccess(cause) => SecretsError::KeyringUnavailable {
                what: KEYRING_NAME,
                reason: format!("locked, or no default collection to write to ({cause})"),
            },
            E::NoDefaultStore => SecretsError::KeyringUnavailable {
                what: KEYRING_NAME,
                reason: "no platform credential store could be opened".to_string(),
            },
            E::BadEncoding(_) | E::BadDataFormat(..) => SecretsError::Corrupt {
                place: KEYRING_NAME.to_string(),
                client_id: client_id.to_string(),
                detail: "the stored value is not UTF-8 text".to_string(),
            },
            E::Ambiguous(entries) => SecretsError::Keyring {
                what: KEYRING_NAME,
                client_id: client_id.to_string(),
                reason: format!(
                    "{} entries match service {SERVICE}; remove all but one",
                    entries.len()
                ),
            },
            other => SecretsError::Keyring {
                what: KEYRING_NAME,
                client_id: client_id.to_string(),
                reason: other.to_string(),
            },
        }
    }
}

impl FileStore {
    /// `<data_dir>/secrets.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SECRETS_FILE)
    }

    fn place(&self) -> String {
        format!("file {}", self.path().display())
    }

    fn load(&self) -> Result<Option<Tokens>, SecretsError> {
        let Some(value) = self.read_all()?.apps.remove(&self.client_id) else {
            return Ok(None);
        };
        self.entry(value).map(Some)
    }

    /// One app's entry (pure apart from naming the file in the error).
    fn entry(&self, value: serde_json::Value) -> Result<Tokens, SecretsError> {
        check_version(&value)
            .and_then(|()| {
                serde_json::from_value::<Tokens>(value)
                    .map_err(|err| Unreadable::Corrupt(describe_json_error(err)))
            })
            .map_err(|why| SecretsError::unreadable(why, self.place(), &self.client_id))
    }

    fn probe(&self) -> Result<(), SecretsError> {
        ensure_private_dir(&self.dir).map_err(io_err("create", &self.dir))?;
        let probe = self
            .dir
            .join(format!(".{SECRETS_FILE}.probe-{}", std::process::id()));
        let result = write_temp(&probe, &[b' '; PROBE_SIZE]);
        let _ = fs::remove_file(&probe);
        result.map_err(io_err("write", &probe))
    }

    fn save(&self, tokens: Tokens) -> Result<(), SecretsError> {
        let value = serde_json::to_value(&tokens).unwrap_or_default();
        self.modify(false, |apps| {
            apps.insert(self.client_id.clone(), value);
            true
        })
        .map(drop)
    }

    /// Remove this app's entry, damaged or not. A file that cannot be read as a whole (or
    /// that a newer kbot wrote) is removed: nothing in it can be used by this kbot.
    fn delete(&self) -> Result<bool, SecretsError> {
        self.modify(true, |apps| apps.remove(&self.client_id).is_some())
    }

    /// Read-modify-write under `secrets.lock`; `change` says whether it changed anything.
    /// The file is removed when its last app goes, or, with `drop_unreadable`, when it
    /// cannot be read at all.
    fn modify(
        &self,
        drop_unreadable: bool,
        change: impl FnOnce(&mut BTreeMap<String, serde_json::Value>) -> bool,
    ) -> Result<bool, SecretsError> {
        self.modify_into(drop_unreadable, false, change)
    }

    /// [`FileStore::modify`]; with `reserved`, the new file is written into the space of
    /// `refresh.pending` when that exists.
    fn modify_into(
        &self,
        drop_unreadable: bool,
        reserved: bool,
        change: impl FnOnce(&mut BTreeMap<String, serde_json::Value>) -> bool,
    ) -> Result<bool, SecretsError> {
        ensure_private_dir(&self.dir).map_err(io_err("create", &self.dir))?;
        let _lock = lock_file(&self.dir.join(FILE_LOCK))?;
        let path = self.path();
        let mut contents = match self.read_all() {
            Ok(contents) => contents,
            Err(err) if drop_unreadable && err.is_unreadable() => {
                tracing::warn!(file = %path.display(), "removing an unreadable secrets file: {err}");
                return fs::remove_file(&path)
                    .map(|()| true)
                    .map_err(io_err("remove", &path));
            }
            Err(err) => return Err(err),
        };
        if !change(&mut contents.apps) {
            return Ok(false);
        }
        if contents.apps.is_empty() {
            return match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
                Err(err) => Err(io_err("remove", &path)(err)),
            };
        }
        let json = SecretString::from(file_json(&contents));
        let pending = self.dir.join(REFRESH_PENDING);
        if reserved && pending.exists() {
            write_reserved(
                &pending,
                &self.dir,
                SECRETS_FILE,
                json.expose_secret().as_bytes(),
            )
            .map_err(io_err("write", &path))?;
        } else {
            write_atomic(&self.dir, SECRETS_FILE, json.expose_secret().as_bytes())
                .map_err(io_err("write", &path))?;
        }
        Ok(true)
    }

    fn read_all(&self) -> Result<FileContents, SecretsError> {
        let path = self.path();
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(FileContents::default()),
            Err(err) => return Err(io_err("read", &path)(err)),
        };
        let meta = file.metadata().map_err(io_err("read", &path))?;
        if let Some(mode) = too_open_mode(&meta) {
            return Err(SecretsError::TooOpen { path, mode });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => SecretString::from(text),
            Err(_) => {
                return Err(SecretsError::CorruptFile {
                    path,
                    detail: "not UTF-8 text".into(),
                });
            }
        };
        parse_file(text.expose_secret()).map_err(|why| match why {
            Unreadable::Corrupt(detail) => SecretsError::CorruptFile { path, detail },
            Unreadable::NewerVersion(version) => SecretsError::NewerVersion {
                place: self.place(),
                version,
            },
        })
    }
}

/// The text of `secrets.json` for `contents` (carries secrets: wrap it at once).
fn file_json(contents: &FileContents) -> String {
    let value = serde_json::json!({
        "version": FORMAT_VERSION,
        "apps": contents.apps,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// Whether permission bits let group or others at a file (pure, so it is testable).
pub fn is_too_open(mode: u32) -> bool {
    mode & 0o077 != 0
}

#[cfg(unix)]
fn too_open_mode(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    is_too_open(mode).then_some(mode)
}

#[cfg(not(unix))]
fn too_open_mode(_meta: &fs::Metadata) -> Option<u32> {
    None // NTFS ACLs of the user's profile dir protect it; there are no mode bits to check
}

/// Create the data dir as 0700, or tighten it to 0700: it holds the secrets file, and a dir
/// others can list or write lets them see or replace it.
pub(crate) fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = fs::metadata(dir)?.permissions().mode() & 0o7777;
        if is_too_open(mode) {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:04o}"), "tightening the data dir to 0700");
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

/// How much a login's entry takes, rounded up generously (tokens, scopes, secret, JSON).
const PROBE_SIZE: usize = 4096;

/// Write `bytes` to a new 0600 file at `path` and fsync it.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// End the pending mark of a refresh whose result is saved (best effort: a mark left
/// behind only makes `kbot status` warn).
pub(crate) fn end_pending(data_dir: &Path) {
    match fs::remove_file(data_dir.join(REFRESH_PENDING)) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(
            "cannot remove {}: {err}",
            data_dir.join(REFRESH_PENDING).display()
        ),
    }
}

/// Whether a refresh's result was left unsaved: its pending mark is there and no process
/// holds the refresh lock ([`REFRESH_LOCK`]) while refreshing.
pub fn is_refresh_result_lost(data_dir: &Path) -> bool {
    if !data_dir.join(REFRESH_PENDING).exists() {
        return false;
    }
    // Opened without creating it: status may run on a read-only data dir.
    match File::open(data_dir.join(REFRESH_LOCK)) {
        Ok(lock) => match lock.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(_)) => true,
        },
        Err(_) => true,
    }
}

/// [`write_atomic`] through a file whose blocks were reserved beforehand: overwrite it in
/// place from the start (the blocks are reused, so a full disk does not stop it), cut it to
/// length, fsync, rename over `dir/name`, fsync the dir. On failure the reserved file keeps
/// no secret: it is blanked again, as far as that goes.
fn write_reserved(reserved: &Path, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let result = (|| {
        let mut file = OpenOptions::new().write(true).open(reserved)?;
        file.write_all(bytes)?;
        file.set_len(bytes.len() as u64)?;
        file.sync_all()?;
        drop(file);
        fs::rename(reserved, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() && reserved.exists() {
        let blank = OpenOptions::new()
            .write(true)
            .open(reserved)
            .and_then(|mut f| f.write_all(&vec![b' '; bytes.len()]));
        if let Err(err) = blank {
            tracing::debug!("cannot blank {}: {err}", reserved.display());
        }
    }
    result
}

/// Write `dir/name` so that readers see the old or the new content, never a mix, and a
/// crash leaves one of the two: a 0600 temp file in the same dir, fsync, rename, fsync dir.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    // Unique per process and per call: two writers never share a temp file.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // A temp file left by a crashed run keeps its old mode: set it again.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(()) // Windows cannot open a directory as a file; rename there is already durable
}

/// Take an exclusive lock on `path` (created 0600 if missing), blocking until it is free.
/// The lock goes away when the returned file is dropped, or when the process dies.
pub(crate) fn lock_file(path: &Path) -> Result<File, SecretsError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(io_err("open", path))?;
    file.lock().map_err(io_err("lock", path))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Tokens {
        Tokens {
            refresh_token: SecretString::from("rt-secret-value"),
            refresh_token_expires_at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            access_token: Some(SecretString::from("at-secret-value")),
            access_token_expires_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).unwrap()),
            scopes: vec!["talk_message".into(), "friends".into()],
            client_secret: Some(SecretString::from("cs-secret-value")),
            nickname: Some("민지".into()),
        }
    }

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let text = format!("{:?}", sample());
        for secret in ["rt-secret-value", "at-secret-value", "cs-secret-value"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        assert!(text.contains("민지"));
    }

    #[test]
    fn tokens_survive_a_json_round_trip() {
        let tokens = sample();
        let json = tokens.to_json();
        assert!(json.expose_secret().contains("\"version\":1"));
        let back = Tokens::from_json(json.expose_secret()).unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "rt-secret-value");
        assert_eq!(
            back.access_token
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            Some("at-secret-value".into())
        );
        assert_eq!(
            back.client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            Some("cs-secret-value".into())
        );
        assert_eq!(
            back.refresh_token_expires_at,
            tokens.refresh_token_expires_at
        );
        assert_eq!(back.access_token_expires_at, tokens.access_token_expires_at);
        assert_eq!(back.scopes, tokens.scopes);
        assert_eq!(back.nickname, tokens.nickname);
    }

    #[test]
    fn a_minimal_entry_parses_with_defaults() {
        let back = Tokens::from_json(r#"{"refresh_token":"r"}"#).unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "r");
        assert!(back.access_token.is_none() && back.scopes.is_empty());
    }

    #[test]
    fn a_parse_error_does_not_quote_the_stored_value() {
        let Unreadable::Corrupt(err) =
            Tokens::from_json(r#"{"refresh_token": 12345678, "x": "abcdefgh"}"#).unwrap_err()
        else {
            panic!("a mistyped field is corrupt, not a newer version")
        };
        assert!(
            !err.contains("12345678") && !err.contains("abcdefgh"),
            "{err}"
        );
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_keyring_entry_from_a_newer_kbot_is_refused_not_downgraded() {
        assert_eq!(
            Tokens::from_json(r#"{"version":2,"refresh_token":"r"}"#).unwrap_err(),
            Unreadable::NewerVersion(2)
        );
        assert!(matches!(
            Tokens::from_json(r#"{"version":"one","refresh_token":"r"}"#),
            Err(Unreadable::Corrupt(_))
        ));
        assert!(Tokens::from_json(r#"{"version":1,"refresh_token":"r"}"#).is_ok());
    }

    #[test]
    fn every_kind_of_damaged_secrets_file_is_named_as_damaged() {
        for (text, says) in [
            ("", "the file is empty"),
            ("  \n", "the file is empty"),
            ("{\"version\":1,\"apps\":{", "truncated JSON"),
            ("not json", "not valid JSON"),
            ("null", "expected a JSON object, found null"),
            ("[1,2]", "expected a JSON object, found an array"),
            (
                "{\"apps\":[]}",
                "\"apps\" should be an object, found an array",
            ),
            ("{\"version\":\"1\"}", "\"version\" is not a number"),
        ] {
            match parse_file(text) {
                Err(Unreadable::Corrupt(detail)) => {
                    assert!(detail.contains(says), "{text:?}: {detail}")
                }
                other => panic!("{text:?} gave {:?}", other.map(|_| ())),
            }
        }
        assert!(matches!(
            parse_file("{\"version\":7,\"apps\":{}}"),
            Err(Unreadable::NewerVersion(7))
        ));
        assert!(parse_file("{\"version\":1,\"apps\":{}}").is_ok());
    }

    #[tokio::test]
    async fn logout_removes_a_damaged_file_and_login_can_save_again() {
        for text in [
            "",
            "{oops",
            "null",
            "{\"apps\":{\"app\":{\"refresh_token\":5}}}",
            "{\"version\":9}",
        ] {
            let dir = temp();
            let store = Store::new(StoreKind::File, dir.path(), "app");
            write_atomic(dir.path(), SECRETS_FILE, text.as_bytes()).unwrap();
            let err = store.load().await.unwrap_err();
            assert!(err.is_unreadable(), "{text:?}: {err}");
            assert_eq!(err.exit(), Exit::Login);
            assert!(err.hint().unwrap().contains("kbot logout"), "{text:?}");
            assert!(store.delete().await.unwrap(), "{text:?}");
            assert!(store.load().await.unwrap().is_none(), "{text:?}");
            store.save(&sample()).await.unwrap();
            assert!(store.load().await.unwrap().is_some(), "{text:?}");
        }
    }

    #[tokio::test]
    async fn a_damaged_entry_goes_alone_and_other_apps_keep_theirs() {
        let dir = temp();
        let other = Store::new(StoreKind::File, dir.path(), "other");
        other.save(&sample()).await.unwrap();
        let text = fs::read_to_string(dir.path().join(SECRETS_FILE)).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["apps"]["app"] = serde_json::json!({"refresh_token": null});
        write_atomic(dir.path(), SECRETS_FILE, value.to_string().as_bytes()).unwrap();

        let store = Store::new(StoreKind::File, dir.path(), "app");
        let err = store.load().await.unwrap_err();
        assert!(matches!(err, SecretsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("client_id app"), "{err}");
        assert!(store.delete().await.unwrap());
        assert!(store.load().await.unwrap().is_none());
        assert!(
            other.load().await.unwrap().is_some(),
            "the other app's login stays"
        );
    }

    #[test]
    fn store_kind_parses_and_prints_its_config_names() {
        for kind in [StoreKind::Keyring, StoreKind::File] {
            assert_eq!(kind.to_string().parse::<StoreKind>().unwrap(), kind);
        }
        let err = "vault".parse::<StoreKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown secret store `vault`: expected keyring or file"
        );
        assert_eq!(err.exit(), Exit::Usage);
    }

    #[test]
    fn flag_beats_remembered_beats_config() {
        use StoreKind::*;
        assert_eq!(resolve_kind(Some(File), Some(Keyring), Keyring), File);
        assert_eq!(resolve_kind(Some(Keyring), Some(File), File), Keyring);
        assert_eq!(resolve_kind(None, Some(File), Keyring), File);
        assert_eq!(resolve_kind(None, None, File), File);
        assert_eq!(resolve_kind(None, None, Keyring), Keyring);
    }

    #[test]
    fn resolve_reads_the_note_login_left() {
        let dir = temp();
        assert_eq!(
            resolve(dir.path(), None, StoreKind::Keyring).unwrap(),
            StoreKind::Keyring
        );
        remember(dir.path(), StoreKind::File).unwrap();
        assert_eq!(remembered(dir.path()).unwrap(), Some(StoreKind::File));
        assert_eq!(
            resolve(dir.path(), None, StoreKind::Keyring).unwrap(),
            StoreKind::File
        );
        assert_eq!(
            resolve(dir.path(), Some(StoreKind::Keyring), StoreKind::File).unwrap(),
            StoreKind::Keyring
        );
    }

    #[test]
    fn a_rejection_is_noted_with_its_time_until_cleared() {
        let dir = temp();
        assert_eq!(rejection(dir.path()), None);
        let noted = Rejection {
            at: "2026-12-07T01:13:00Z".parse().unwrap(),
            reason: "kakao rejected the refresh token (KOE322): log in again".into(),
        };
        record_rejection(dir.path(), &noted);
        assert_eq!(rejection(dir.path()), Some(noted));
        clear_rejection(dir.path());
        assert_eq!(rejection(dir.path()), None);
    }

    #[test]
    fn a_garbled_note_is_an_error_naming_the_file() {
        let dir = temp();
        fs::write(dir.path().join(STORE_FILE), "vault\n").unwrap();
        let err = resolve(dir.path(), None, StoreKind::Keyring).unwrap_err();
        assert!(
            err.to_string()
                .contains(&dir.path().join(STORE_FILE).display().to_string())
        );
        assert!(err.to_string().contains("`vault`"));
    }

    #[tokio::test]
    async fn file_store_round_trip_keeps_other_apps() {
        let dir = temp();
        let a = Store::new(StoreKind::File, dir.path(), "app-a");
        let b = Store::new(StoreKind::File, dir.path(), "app-b");
        assert!(a.load().await.unwrap().is_none());
        a.save(&sample()).await.unwrap();
        let mut other = sample();
        other.refresh_token = SecretString::from("rt-of-b");
        b.save(&other).await.unwrap();

        let loaded = a.load().await.unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), "rt-secret-value");
        assert!(a.delete().await.unwrap());
        assert!(!a.delete().await.unwrap());
        assert!(a.load().await.unwrap().is_none());
        let b_loaded = b.load().await.unwrap().unwrap();
        assert_eq!(b_loaded.refresh_token.expose_secret(), "rt-of-b");
        assert!(b.delete().await.unwrap());
        assert!(
            !dir.path().join(SECRETS_FILE).exists(),
            "last delete removes the file"
        );
    }

    #[test]
    fn describe_names_the_file() {
        let store = Store::new(StoreKind::File, Path::new("/data/kbot"), "id");
        assert_eq!(store.describe(), "file /data/kbot/secrets.json");
        assert_eq!(store.kind(), StoreKind::File);
        let keyring = Store::new(StoreKind::Keyring, Path::new("/data/kbot"), "id");
        assert!(keyring.describe().starts_with("OS keyring"));
    }

    #[test]
    fn an_unreachable_keyring_says_why_and_points_to_the_file_store() {
        let cause = Box::new(io::Error::other("Failed to connect to the session bus"));
        let err = os_keyring::map(keyring_core::Error::PlatformFailure(cause), "app");
        assert!(matches!(err, SecretsError::KeyringUnavailable { .. }));
        assert!(
            err.to_string()
                .ends_with("unreachable: Failed to connect to the session bus")
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("kbot login --secret-store file")
        );

        let locked = Box::new(io::Error::other("SS error: object locked"));
        let err = os_keyring::map(keyring_core::Error::NoStorageAccess(locked), "app");
        assert!(err.to_string().contains("locked"), "{err}");
        assert_eq!(
            err.hint().as_deref(),
            Some("kbot login --secret-store file")
        );

        let err = os_keyring::map(
            keyring_core::Error::BadEncoding(b"rt-secret".to_vec()),
            "app",
        );
        assert!(!format!("{err} {err:?}").contains("rt-secret"));
    }

    #[test]
    fn group_or_other_bits_are_too_open() {
        assert!(!is_too_open(0o600));
        assert!(!is_too_open(0o400));
        assert!(is_too_open(0o640));
        assert!(is_too_open(0o604));
        assert!(is_too_open(0o660));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn file_store_is_private_and_refuses_a_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let parent = temp();
        let dir = parent.path().join("data");
        let store = Store::new(StoreKind::File, &dir, "app");
        store.save(&sample()).await.unwrap();
        let path = dir.join(SECRETS_FILE);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to use {}: other users can access it (mode 0644)",
                path.display()
            )
        );
        assert_eq!(err.hint(), Some(format!("chmod 600 {}", path.display())));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_existing_open_data_dir_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Store::new(StoreKind::File, dir.path(), "app")
            .save(&sample())
            .await
            .unwrap();
        assert_eq!(
            fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn atomic_write_replaces_the_whole_file_and_leaves_no_temp() {
        let dir = temp();
        write_atomic(dir.path(), "f.json", b"first version, rather long").unwrap();
        write_atomic(dir.path(), "f.json", b"second").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("f.json")).unwrap(),
            "second"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["f.json".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_atomic_write_leaves_no_temp_file_behind() {
        let dir = temp();
        // A non-empty directory in the way makes the rename fail after the temp file was written.
        fs::create_dir(dir.path().join("g.json")).unwrap();
        fs::write(dir.path().join("g.json").join("x"), b"").unwrap();
        assert!(write_atomic(dir.path(), "g.json", b"new").is_err());
        assert!(dir.path().join("g.json").join("x").exists());
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count();
        assert_eq!(leftovers, 0, "the temp file is cleaned up");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_without_its_content() {
        let dir = temp();
        let store = Store::new(StoreKind::File, dir.path(), "app");
        store.save(&sample()).await.unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        write_atomic(
            dir.path(),
            SECRETS_FILE,
            text.replace("\"rt-secret-value\"", "7").as_bytes(),
        )
        .unwrap();
        let err = store.load().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains("secret-value"), "{msg}");
        assert_eq!(err.exit(), Exit::Login);
    }
}
