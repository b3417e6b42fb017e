//! The ledger: a SQLite record of runs and per-recipient deliveries (DESIGN §5).
//!
//! Owns the schema and its migrations (`PRAGMA user_version`), the idempotency key
//! `(date, meal, recipient, kind, part)` (`kind`: a menu part or a warning to "me"), the
//! rule that a `sent` row is never downgraded, the count of calls that may have reached
//! Kakao (the second makes a row `unknown`, never resent), crash recovery of `pending`
//! rows, and the rows `history` and `status` show.
//!
//! Does not own: deciding what to send (deliver), when to run (schedule) or what a scrape
//! found (scrape); those pass their results in as plain values.
//!
//! I/O: this module is the only one that touches the SQLite file (WAL, `synchronous=FULL`,
//! a busy timeout so two kbot processes wait for each other instead of failing). Every call
//! is one short transaction and is synchronous; async callers wrap it in `spawn_blocking`.
//! Time is never read here: every writer takes `now`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::{Exit, Report};
use crate::meal::Meal;

/// How long a writer waits for another kbot process to finish its transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations; entry `i` takes `user_version` from `i` to `i + 1`. Append only:
/// a released step is never edited, so every old file walks the same path.
const MIGRATIONS: &[&str] = &[
    // 1: runs (one row per attempt at a slot) and deliveries (one row per message part).
    "CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        date        TEXT NOT NULL,
        meal        TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT,
        detail      TEXT
    );
    CREATE INDEX runs_slot ON runs(date, meal);
    CREATE TABLE deliveries (
        id         INTEGER PRIMARY KEY,
        date       TEXT NOT NULL,
        meal       TEXT NOT NULL,
        recipient  TEXT NOT NULL,
        nickname   TEXT,
        part       INTEGER NOT NULL CHECK (part >= 1),
        status     TEXT NOT NULL
                   CHECK (status IN ('pending', 'sent', 'failed', 'unknown', 'missed')),
        code       INTEGER,
        detail     TEXT,
        updated_at TEXT NOT NULL,
        UNIQUE (date, meal, recipient, part)
    );
    CREATE INDEX deliveries_status ON deliveries(status);",
    // 2: a warning to "me" is its own kind of row, never menu part 1, and each
    // row counts the calls that may have reached Kakao without an answer, so such a call
    // is retried at most once whatever reruns follow.
    "CREATE TABLE deliveries_v2 (
        id         INTEGER PRIMARY KEY,
        date       TEXT NOT NULL,
        meal       TEXT NOT NULL,
        recipient  TEXT NOT NULL,
        nickname   TEXT,
        kind       TEXT NOT NULL DEFAULT 'menu' CHECK (kind IN ('menu', 'warning', 'alert')),
        part       INTEGER NOT NULL CHECK (part >= 1),
        status     TEXT NOT NULL
                   CHECK (status IN ('pending', 'sent', 'failed', 'unknown', 'missed')),
        code       INTEGER,
        detail     TEXT,
        updated_at TEXT NOT NULL,
        ambiguous  INTEGER NOT NULL DEFAULT 0,
        UNIQUE (date, meal, recipient, kind, part)
    );
    INSERT INTO deliveries_v2 (id, date, meal, recipient, nickname, part, status, code, detail, updated_at)
        SELECT id, date, meal, recipient, nickname, part, status, code, detail, updated_at
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v2 RENAME TO deliveries;
    CREATE INDEX deliveries_status ON deliveries(status);",
    // 3: a correction (the menu changed after it was sent) is its own kind of row.
    "CREATE TABLE deliveries_v3 (
        id         INTEGER PRIMARY KEY,
        date       TEXT NOT NULL,
        meal       TEXT NOT NULL,
        recipient  TEXT NOT NULL,
        nickname   TEXT,
        kind       TEXT NOT NULL DEFAULT 'menu'
                   CHECK (kind IN ('menu', 'warning', 'alert', 'correction')),
        part       INTEGER NOT NULL CHECK (part >= 1),
        status     TEXT NOT NULL
                   CHECK (status IN ('pending', 'sent', 'failed', 'unknown', 'missed')),
        code       INTEGER,
        detail     TEXT,
        updated_at TEXT NOT NULL,
        ambiguous  INTEGER NOT NULL DEFAULT 0,
        UNIQUE (date, meal, recipient, kind, part)
    );
    INSERT INTO deliveries_v3 (id, date, meal, recipient, nickname, kind, part, status, code, detail, updated_at, ambiguous)
        SELECT id, date, meal, recipient, nickname, kind, part, status, code, detail, updated_at, ambiguous
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v3 RENAME TO deliveries;
    CREATE INDEX deliveries_status ON deliveries(status);
    CREATE TABLE menus (
        date       TEXT NOT NULL,
        meal       TEXT NOT NULL,
        source     TEXT NOT NULL,
        dishes     TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (date, meal, source)
    );",
];

/// Data fixes run right after the migration step that reaches `version`, for files that
/// take that step (a file already past it is not touched again). `(version, sql)`.
const FIXUPS: &[(i64, &str)] = &[(2, V1_WARNINGS)];

/// Schema 1 kept a warning to "me" as a menu part: the parts after the menu's, or every
/// part of a run that found no menu. Each such row of "me" becomes a warning, numbered
/// from 1 again, so it no longer keeps "me" from that day's menu. A row belongs to the
/// latest run of its slot started before it was written; the menu's part count is the
/// highest part the friends got in that same run (with no friends, a run with a menu or a
/// closed notice keeps its rows as menu parts).
const V1_WARNINGS: &str = "
    CREATE TEMP TABLE v1_mine AS
      SELECT d.id, d.date, d.meal, d.part,
             (SELECT r.id FROM runs r
              WHERE r.date = d.date AND r.meal = d.meal AND r.started_at <= d.updated_at
              ORDER BY r.started_at DESC, r.id DESC LIMIT 1) AS run
      FROM deliveries d WHERE d.recipient = 'me' AND d.kind = 'menu';
    CREATE TEMP TABLE v1_warnings AS
      SELECT id, shift FROM (
        SELECT m.id, m.part,
               (SELECT r.outcome FROM runs r WHERE r.id = m.run) AS outcome,
               COALESCE((SELECT MAX(f.part) FROM deliveries f
                         WHERE f.date = m.date AND f.meal = m.meal AND f.recipient <> 'me'
                           AND (SELECT r.id FROM runs r
                                WHERE r.date = f.date AND r.meal = f.meal
                                  AND r.started_at <= f.updated_at
                                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) = m.run), 0)
                 AS shift
        FROM v1_mine m)
      WHERE outcome IS NOT NULL AND part > shift
        AND (outcome NOT IN ('menu', 'closed') OR shift > 0);
    UPDATE deliveries
       SET kind = 'warning',
           part = part - (SELECT w.shift FROM v1_warnings w WHERE w.id = deliveries.id)
     WHERE id IN (SELECT id FROM v1_warnings);
    DROP TABLE v1_mine;
    DROP TABLE v1_warnings;";

/// Calls that may have reached Kakao without an answer that one (recipient, part) gets
/// under at-least-once: the first is retried once, the second makes the row `unknown`.
pub const MAY_HAVE_ARRIVED_LIMIT: i64 = 2;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A ledger error; every message names the database file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created.
    #[error("cannot create the ledger directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed while opening, migrating, reading or writing.
    #[error("ledger {}: cannot {action}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What kbot was doing, e.g. "record a delivery".
        action: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer kbot with a schema this build does not know.
    #[error("ledger {} has schema version {found}, newer than this kbot understands ({SCHEMA_VERSION})", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i64,
    },
    /// The lock that serialises runs across processes could not be taken.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored value does not parse (hand-edited or damaged file).
    #[error("ledger {}: unreadable {column} value {value:?}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The column holding it.
        column: &'static str,
        /// The stored text.
        value: String,
    },
}

impl Report for Error {
    fn exit(&self) -> Exit {
        Exit::Failure
    }

    fn hint(&self) -> Option<String> {
        match self {
            Error::CreateDir { path, .. } | Error::Lock { path, .. } => Some(format!(
                "make {} writable, or set KBOT_DATA_DIR to a writable directory",
                path.display()
            )),
            Error::Sqlite { path, source, .. } => match source.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Some(
                    "another kbot process is holding the ledger; retry, or stop the daemon with `systemctl --user stop kbot`"
                        .into(),
                ),
                Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
                    Some(format!(
                        "make {} and its directory writable, or set KBOT_DATA_DIR to a writable directory",
                        path.display()
                    ))
                }
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Some(format!(
                    "move {} aside; kbot starts a new, empty ledger",
                    path.display()
                )),
                // Opening on a full disk fails as "disk I/O error" when the WAL's index
                // (`-shm`) cannot grow, and as "database or disk is full" elsewhere.
                Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => {
                    let dir = path
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    Some(format!(
                        "the disk holding {dir} may be full: check with `df -h {dir}`, free some space and run again",
                        dir = dir.display()
                    ))
                }
                _ => None,
            },
            Error::TooNew { path, .. } => Some(format!(
                "upgrade kbot, or move {} aside to start a new ledger",
                path.display()
            )),
            Error::Corrupt { path, .. } => Some(format!(
                "move {} aside; kbot starts a new, empty ledger",
                path.display()
            )),
        }
    }
}

/// The state of one delivery (one message part to one recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Recorded before the Kakao call; still pending after a crash.
    Pending,
    /// Kakao accepted it.
    Sent,
    /// Kakao (or the network) refused it after retries.
    Failed,
    /// Interrupted mid-call under at-most-once delivery: maybe sent, never resent.
    Unknown,
    /// The slot passed while kbot was not running and was not sent.
    Missed,
}

impl Status {
    /// The word stored in the ledger and shown by `history --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
            Status::Missed => "missed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Status::Pending,
            "sent" => Status::Sent,
            "failed" => Status::Failed,
            "unknown" => Status::Unknown,
            "missed" => Status::Missed,
            _ => return Err(()),
        })
    }
}

/// What a delivery row carries: a part of the menu, or a warning to "me" (a scrape that
/// failed). Numbered separately, so a warning never stands in for menu part 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A part of the menu (or of a closed-day notice).
    #[default]
    Menu,
    /// A warning to "me" about the scrape.
    Warning,
    /// The favourite alert to "me".
    Alert,
    /// A correction: the menu changed after it was sent (at most one per meal and
    /// recipient, numbered apart from the menu).
    Correction,
}

impl Kind {
    /// The word stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Menu => "menu",
            Kind::Warning => "warning",
            Kind::Alert => "alert",
            Kind::Correction => "correction",
        }
    }
}

impl FromStr for Kind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "menu" => Ok(Kind::Menu),
            "warning" => Ok(Kind::Warning),
            "alert" => Ok(Kind::Alert),
            "correction" => Ok(Kind::Correction),
            _ => Err(()),
        }
    }
}

/// The idempotency key of a delivery: one part of one slot's message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The menu's date.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// `"me"` or a friend's uuid.
    pub recipient: String,
    /// 1-based part number of a split message (menu and warning parts count apart).
    pub part: u32,
    /// Menu part or warning.
    pub kind: Kind,
}

impl Key {
    /// A key for `recipient`'s `part` of the (`date`, `meal`) menu message.
    pub fn new(date: NaiveDate, meal: Meal, recipient: impl Into<String>, part: u32) -> Self {
        Key {
            date,
            meal,
            recipient: recipient.into(),
            part,
            kind: Kind::Menu,
        }
    }

    /// The same key for a warning part instead of a menu part.
    pub fn with_kind(self, kind: Kind) -> Self {
        Key { kind, ..self }
    }
}

/// One row of `kbot history`; serializes exactly as DESIGN §2 `history --json`, plus
/// `outcome` (the slot's latest run outcome).
///
/// A slot whose runs left no delivery rows (missed, or closed and skipped, or a scrape
/// failure nobody was told about) still shows up, once, with `recipient`, `nickname` and
/// `part` null; its `status` is `"missed"` for a missed slot and null otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    /// The menu's date (`YYYY-MM-DD`).
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// `"me"` or a friend's uuid; null for a slot-level row.
    pub recipient: Option<String>,
    /// The friend's nickname when known.
    pub nickname: Option<String>,
    /// 1-based part number; null for a slot-level row.
    pub part: Option<u32>,
    /// `menu` or `warning` (a warning to "me" about the scrape); null for a slot-level row.
    pub kind: Option<Kind>,
    /// The delivery status.
    pub status: Option<Status>,
    /// Kakao's result code for a failure, if it gave one.
    pub code: Option<i64>,
    /// A short human-readable detail (no tokens).
    pub detail: Option<String>,
    /// When the row last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// The outcome of the slot's latest finished run (`menu`, `closed`, `missed`, …).
    pub outcome: Option<String>,
    /// The detail of that run: what no delivery row shows, such as friends that could not
    /// be resolved or a friends list that could not be read.
    pub run_detail: Option<String>,
}

/// A delivery row as the deliver pipeline and recovery see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The idempotency key.
    pub key: Key,
    /// The friend's nickname when known.
    pub nickname: Option<String>,
    /// The current status.
    pub status: Status,
    /// Kakao's result code, if any.
    pub code: Option<i64>,
    /// Detail text, if any.
    pub detail: Option<String>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Calls for this row that may have reached Kakao without an answer.
    pub ambiguous: i64,
}

/// One attempt at a slot, for `status --json` `last_runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The menu's date.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// When the attempt began.
    pub started_at: DateTime<Utc>,
    /// When it ended; null while running or after a crash.
    pub finished_at: Option<DateTime<Utc>>,
    /// `menu`, `closed`, `not_found`, `wrong_date`, `fetch_failed`, `missed`, …
    pub outcome: Option<String>,
    /// Detail text, if any.
    pub detail: Option<String>,
    /// The run never recorded its end and no kbot process is running it (a crash, a kill,
    /// a write that failed): it is over, not running.
    pub interrupted: bool,
}

/// What [`Ledger::recover`] found after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Pending rows to send again (at-least-once, inside the window, first interruption).
    /// They turn `failed`, which the next run sends again; the interruption is counted
    /// (see [`MAY_HAVE_ARRIVED_LIMIT`]).
    pub resend: Vec<Delivery>,
    /// Rows turned `unknown`: every pending row under at-most-once, and under at-least-once
    /// those older than the window (too late to send).
    pub unknown: Vec<Delivery>,
}

/// An open ledger. One connection; `Send` but not `Sync` (wrap in a mutex to share).
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn fmt_time(t: DateTime<Utc>) -> String {
    // Whole seconds and a `Z`: fixed width, so text order is time order in SQL.
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl Ledger {
    /// Open (creating if needed) the ledger at `path`, its parent directory included, and
    /// migrate it to the current schema.
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|source| Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // A ledger from a newer kbot is refused before anything writes to it: reading its
        // version read-only leaves its bytes (and its journal mode) as they are.
        if path.exists() {
            let found = Self::open_file_read_only(path)?.schema_version()?;
            if found > SCHEMA_VERSION {
                return Err(Error::TooNew {
                    path: path.to_path_buf(),
                    found,
                });
            }
        }
        let conn = Connection::open(path).map_err(sqlite_err(path, "open the database"))?;
        // WAL: readers (`kbot history`) never block the daemon's writes; FULL: a row the
        // ledger reported as written survives a power cut, which the dedupe relies on.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sqlite_err(path, "switch to WAL mode"))?;
        tracing::debug!(path = %path.display(), journal_mode = %mode, "ledger opened");
        Self::setup(conn, path.to_path_buf())
    }

    /// Open an existing ledger for reading only (`status`, `history`): creates and
    /// migrates nothing on disk, so it works in a read-only data dir. While a writer has
    /// the WAL open (its `-wal` file exists) it reads through the WAL as usual; otherwise
    /// nobody is writing and the file is read as immutable, which needs no `-shm`/`-wal`
    /// files. A ledger of an older schema is copied into memory and migrated there, so
    /// every reader sees the current schema; a newer one is refused.
    pub fn open_read_only(path: &Path) -> Result<Self, Error> {
        let ledger = Self::open_file_read_only(path)?;
        let found = ledger.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(Error::TooNew {
                path: path.to_path_buf(),
                found,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(ledger);
        }
        drop(ledger);
        Self::migrated_in_memory(path, found)
    }

    /// The read-only URI of `path`: `immutable=1` unless a writer's `-wal` file is there.
    fn read_only_uri(path: &Path) -> Option<String> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut uri = url::Url::from_file_path(&absolute).ok()?;
        uri.set_query(Some(if Path::new(&wal).exists() {
            "mode=ro"
        } else {
            "immutable=1"
        }));
        Some(uri.to_string())
    }

    fn open_file_read_only(path: &Path) -> Result<Self, Error> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match Self::read_only_uri(path) {
            Some(uri) => Connection::open_with_flags(uri, flags),
            None => Connection::open_with_flags(path, flags),
        }
        .map_err(sqlite_err(path, "open the database"))?;
        let ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(ledger.err("set the busy timeout"))?;
        Ok(ledger)
    }

    /// A copy of the ledger at `path` (schema `found`) in memory, migrated to the current
    /// schema; the file is only read.
    fn migrated_in_memory(path: &Path, found: i64) -> Result<Self, Error> {
        use rusqlite::OpenFlags;
        let action = "read an older ledger";
        let conn = Connection::open_with_flags(
            ":memory:",
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err(path, action))?;
        let steps = usize::try_from(found).unwrap_or(0).min(MIGRATIONS.len());
        for sql in &MIGRATIONS[..steps] {
            conn.execute_batch(sql).map_err(sqlite_err(path, action))?;
        }
        let uri = Self::read_only_uri(path).unwrap_or_else(|| path.display().to_string());
        conn.execute("ATTACH DATABASE ?1 AS old", [uri])
            .map_err(sqlite_err(path, action))?;
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM old.sqlite_master WHERE type = 'table'
                 AND name IN (SELECT name FROM main.sqlite_master WHERE type = 'table')",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(sqlite_err(path, action))?;
        for table in tables {
            let quoted = table.replace('"', "\"\"");
            conn.execute_batch(&format!(
                "INSERT INTO main.\"{quoted}\" SELECT * FROM old.\"{quoted}\";"
            ))
            .map_err(sqlite_err(path, action))?;
        }
        conn.execute_batch("DETACH DATABASE old;")
            .map_err(sqlite_err(path, action))?;
        conn.pragma_update(None, "user_version", found)
            .map_err(sqlite_err(path, action))?;
        let mut ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger.migrate()?;
        Ok(ledger)
    }

    /// An empty ledger in memory, for tests and `--dry-run`.
    pub fn open_in_memory() -> Result<Self, Error> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(sqlite_err(&path, "open the database"))?;
        Self::setup(conn, path)
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Self, Error> {
        let mut ledger = Ledger { conn, path };
        ledger
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(ledger.err("set synchronous=FULL"))?;
        ledger
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(ledger.err("set the busy timeout"))?;
        ledger.migrate()?;
        Ok(ledger)
    }

    /// The database file (`:memory:` for an in-memory ledger).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<i64, Error> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.err("read the schema version"))
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        sqlite_err(&self.path, action)
    }

    fn migrate(&mut self) -> Result<(), Error> {
        // IMMEDIATE takes the write lock before reading the version, so two processes
        // starting together cannot both run the same step.
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_err(path, "migrate the schema"))?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sqlite_err(path, "read the schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(Error::TooNew {
                path: path.clone(),
                found,
            });
        }
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            let reached = version as i64 + 1;
            tx.execute_batch(sql)
                .map_err(sqlite_err(path, "migrate the schema"))?;
            for (_, fix) in FIXUPS.iter().filter(|(at, _)| *at == reached) {
                tx.execute_batch(fix)
                    .map_err(sqlite_err(path, "migrate the schema"))?;
            }
            tx.pragma_update(None, "user_version", reached)
                .map_err(sqlite_err(path, "migrate the schema"))?;
        }
        tx.commit().map_err(sqlite_err(path, "migrate the schema"))
    }

    /// Record that an attempt at (`date`, `meal`) began.
    pub fn start_run(&self, date: NaiveDate, meal: Meal, now: DateTime<Utc>) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO runs (date, meal, started_at) VALUES (?1, ?2, ?3)",
                params![fmt_date(date), meal.as_str(), fmt_time(now)],
            )
            .map_err(self.err("record a run"))?;
        Ok(())
    }

    /// Record how the latest unfinished attempt at (`date`, `meal`) ended. Without a
    /// started attempt (a caller that skipped `start_run`) a finished row is added, so the
    /// outcome is never lost.
    pub fn finish_run(
        &self,
        date: NaiveDate,
        meal: Meal,
        outcome: &str,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (date, now) = (fmt_date(date), fmt_time(now));
        let updated = self
            .conn
            .execute(
                "UPDATE runs SET finished_at = ?3, outcome = ?4, detail = ?5
                 WHERE id = (SELECT MAX(id) FROM runs
                             WHERE date = ?1 AND meal = ?2 AND finished_at IS NULL)",
                params![date, meal.as_str(), now, outcome, detail],
            )
            .map_err(self.err("record a run"))?;
        if updated == 0 {
            self.conn
                .execute(
                    "INSERT INTO runs (date, meal, started_at, finished_at, outcome, detail)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                    params![date, meal.as_str(), now, outcome, detail],
                )
                .map_err(self.err("record a run"))?;
        }
        Ok(())
    }

    /// Record a slot that passed while kbot was not running and is too old to send.
    pub fn record_missed(
        &self,
        date: NaiveDate,
        meal: Meal,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO runs (date, meal, started_at, finished_at, outcome)
                 VALUES (?1, ?2, ?3, ?3, 'missed')",
                params![fmt_date(date), meal.as_str(), fmt_time(now)],
            )
            .map_err(self.err("record a missed slot"))?;
        Ok(())
    }

    /// Mark `key` pending just before the Kakao call: insert it, or reset a failed or
    /// pending row. A `sent` or `unknown` row (one that may have arrived already) is left
    /// alone unless `force` (`send-now --force`). Returns whether the row is now pending,
    /// i.e. whether to send.
    pub fn mark_pending(
        &self,
        key: &Key,
        nickname: Option<&str>,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // One statement, so the check and the write cannot interleave with another process.
        let changed = self
            .conn
            .execute(
                "INSERT INTO deliveries (date, meal, recipient, nickname, part, status, updated_at, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?8)
                 ON CONFLICT (date, meal, recipient, kind, part) DO UPDATE SET
                     status = 'pending', code = NULL, detail = NULL,
                     nickname = COALESCE(excluded.nickname, nickname),
                     updated_at = excluded.updated_at,
                     ambiguous = CASE WHEN ?7 THEN 0 ELSE ambiguous END
                 WHERE status NOT IN ('sent', 'unknown') OR ?7",
                params![
                    fmt_date(key.date),
                    key.meal.as_str(),
                    key.recipient,
                    nickname,
                    key.part,
                    fmt_time(now),
                    force,
                    key.kind.as_str()
                ],
            )
            .map_err(self.err("record a pending delivery"))?;
        Ok(changed == 1)
    }

    /// Kakao accepted `key`.
    pub fn mark_sent(&self, key: &Key, now: DateTime<Utc>) -> Result<(), Error> {
        self.set_status(key, Status::Sent, None, None, now)
    }

    /// `key` failed after retries, with Kakao's code when it gave one. A `sent` row stays
    /// sent: a message cannot be unsent.
    pub fn mark_failed(
        &self,
        key: &Key,
        code: Option<i64>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.set_status(key, Status::Failed, code, Some(detail), now)
    }

    /// `key` may or may not have reached Kakao and will not be resent (at-most-once).
    pub fn mark_unknown(&self, key: &Key, detail: &str, now: DateTime<Utc>) -> Result<(), Error> {
        self.set_status(key, Status::Unknown, None, Some(detail), now)
    }

    /// A call for `key` may have reached Kakao but brought no answer (a reset or timeout
    /// after the request went out). Counts it; once `limit` such calls were made the row is
    /// `unknown` (never resent), before that `failed` (tried again). Returns the new status.
    /// A `sent` row stays sent.
    pub fn note_may_have_arrived(
        &self,
        key: &Key,
        detail: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Status, Error> {
        let status: Option<String> = self
            .conn
            .query_row(
                "INSERT INTO deliveries (date, meal, recipient, part, kind, status, detail, updated_at, ambiguous)
                 VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN 1 >= ?8 THEN 'unknown' ELSE 'failed' END, ?6, ?7, 1)
                 ON CONFLICT (date, meal, recipient, kind, part) DO UPDATE SET
                     ambiguous = ambiguous + 1,
                     status = CASE WHEN ambiguous + 1 >= ?8 THEN 'unknown' ELSE 'failed' END,
                     code = NULL, detail = excluded.detail, updated_at = excluded.updated_at
                 WHERE status <> 'sent'
                 RETURNING status",
                params![
                    fmt_date(key.date),
                    key.meal.as_str(),
                    key.recipient,
                    key.part,
                    key.kind.as_str(),
                    detail,
                    fmt_time(now),
                    limit
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.err("record a delivery result"))?;
        Ok(match status {
            Some(s) => self.parse(s, "status")?,
            None => Status::Sent,
        })
    }

    /// Keep the dishes of each source of (`date`, `meal`) as its recipients have them now:
    /// what the first message sent showed (`replace` false keeps an earlier record), or
    /// what a correction showed (`replace` true). Corrections compare the page with this.
    pub fn remember_menus(
        &self,
        date: NaiveDate,
        meal: Meal,
        menus: &[(String, Vec<String>)],
        replace: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let verb = if replace { "REPLACE" } else { "IGNORE" };
        let sql = format!(
            "INSERT OR {verb} INTO menus (date, meal, source, dishes, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)"
        );
        for (source, dishes) in menus {
            let dishes = serde_json::to_string(dishes).unwrap_or_else(|_| "[]".into());
            self.conn
                .execute(
                    &sql,
                    params![fmt_date(date), meal.as_str(), source, dishes, fmt_time(now)],
                )
                .map_err(self.err("record the menu sent"))?;
        }
        Ok(())
    }

    /// The dishes per source that (`date`, `meal`)'s recipients have (see
    /// [`Ledger::remember_menus`]); empty when no menu was sent.
    pub fn menus(&self, date: NaiveDate, meal: Meal) -> Result<Vec<(String, Vec<String>)>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT source, dishes FROM menus WHERE date = ?1 AND meal = ?2")
            .map_err(self.err("read the menus sent"))?;
        let rows = stmt
            .query_map(params![fmt_date(date), meal.as_str()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(self.err("read the menus sent"))?;
        let mut out = Vec::new();
        for row in rows {
            let (source, dishes) = row.map_err(self.err("read the menus sent"))?;
            let dishes: Vec<String> =
                serde_json::from_str(&dishes).map_err(|_| Error::Corrupt {
                    path: self.path.clone(),
                    column: "dishes",
                    value: dishes.clone(),
                })?;
            out.push((source, dishes));
        }
        Ok(out)
    }

    /// Whether a sender-wide quota (`-532` sender per day, `-10` app) refused a send on
    /// `date`: nothing more goes to friends that day.
    pub fn sender_quota_hit(&self, date: NaiveDate) -> Result<bool, Error> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM deliveries
                                WHERE date = ?1 AND status = 'failed' AND code IN (-532, -10))",
                params![fmt_date(date)],
                |row| row.get(0),
            )
            .map_err(self.err("read the deliveries"))
    }

    /// Whether the slot (`date`, `meal`) still has work its window may finish: a delivery
    /// that failed or is pending, or a latest run that found no menu (`wrong_date`,
    /// `fetch_failed`, `not_found`) while no warning went to "me" yet. The daemon returns
    /// to such a slot after a restart inside its window.
    pub fn is_open(&self, date: NaiveDate, meal: Meal) -> Result<bool, Error> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM deliveries
                                WHERE date = ?1 AND meal = ?2 AND status IN ('failed', 'pending'))
                     OR (COALESCE((SELECT outcome FROM runs WHERE date = ?1 AND meal = ?2
                                   ORDER BY id DESC LIMIT 1), '')
                             IN ('wrong_date', 'fetch_failed', 'not_found')
                         AND NOT EXISTS (SELECT 1 FROM deliveries
                                         WHERE date = ?1 AND meal = ?2 AND kind = 'warning'))",
                params![fmt_date(date), meal.as_str()],
                |row| row.get(0),
            )
            .map_err(self.err("read the runs"))
    }

    fn set_status(
        &self,
        key: &Key,
        status: Status,
        code: Option<i64>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        // An upsert rather than an update: a result is recorded even when the pending row
        // is missing, and only `sent` may overwrite `sent`.
        self.conn
            .execute(
                "INSERT INTO deliveries (date, meal, recipient, part, status, code, detail, updated_at, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (date, meal, recipient, kind, part) DO UPDATE SET
                     status = excluded.status, code = excluded.code,
                     detail = excluded.detail, updated_at = excluded.updated_at
                 WHERE status <> 'sent' OR excluded.status = 'sent'",
                params![
                    fmt_date(key.date),
                    key.meal.as_str(),
                    key.recipient,
                    key.part,
                    status.as_str(),
                    code,
                    detail,
                    fmt_time(now),
                    key.kind.as_str()
                ],
            )
            .map_err(self.err("record a delivery result"))?;
        Ok(())
    }

    /// The status of `key`, or `None` if it was never recorded.
    pub fn status(&self, key: &Key) -> Result<Option<Status>, Error> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT status FROM deliveries
                 WHERE date = ?1 AND meal = ?2 AND recipient = ?3 AND part = ?4 AND kind = ?5",
                params![
                    fmt_date(key.date),
                    key.meal.as_str(),
                    key.recipient,
                    key.part,
                    key.kind.as_str()
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.err("read a delivery"))?;
        text.map(|t| self.parse(t, "status")).transpose()
    }

    /// Whether Kakao already accepted `key`.
    pub fn is_sent(&self, key: &Key) -> Result<bool, Error> {
        Ok(self.status(key)? == Some(Status::Sent))
    }

    /// The pending deliveries of (`date`, `meal`).
    pub fn pending_for(&self, date: NaiveDate, meal: Meal) -> Result<Vec<Delivery>, Error> {
        query_deliveries(
            &self.conn,
            &self.path,
            "WHERE status = 'pending' AND date = ?1 AND meal = ?2",
            params![fmt_date(date), meal.as_str()],
        )
    }

    /// Whether the slot (`date`, `meal`) has any trace in the ledger (a run, a missed mark
    /// or a delivery); the daemon's catch-up leaves such a slot alone.
    pub fn has_run(&self, date: NaiveDate, meal: Meal) -> Result<bool, Error> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE date = ?1 AND meal = ?2)
                     OR EXISTS (SELECT 1 FROM deliveries WHERE date = ?1 AND meal = ?2)",
                params![fmt_date(date), meal.as_str()],
                |row| row.get(0),
            )
            .map_err(self.err("read the runs"))
    }

    /// Slots whose latest run started at or after `since` and never finished: a crash
    /// interrupted them, possibly before every part or recipient was claimed. Re-running
    /// such a slot is safe: the deliveries already `sent` are skipped.
    pub fn interrupted_runs(&self, since: DateTime<Utc>) -> Result<Vec<(NaiveDate, Meal)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.date, r.meal FROM runs r
                 WHERE r.finished_at IS NULL AND r.started_at >= ?1
                   AND NOT EXISTS (SELECT 1 FROM runs later
                                   WHERE later.date = r.date AND later.meal = r.meal
                                     AND later.id > r.id)
                 ORDER BY r.started_at",
            )
            .map_err(self.err("read the runs"))?;
        let raw = stmt
            .query_map(params![fmt_time(since)], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("read the runs"))?;
        raw.into_iter()
            .map(|(date, meal)| Ok((self.parse(date, "date")?, self.parse(meal, "meal")?)))
            .collect()
    }

    /// When the ledger last recorded anything (a run started or finished, a delivery
    /// changed); `None` when it is empty. The daemon's start-up catch-up looks at the slots
    /// after it.
    pub fn last_activity(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT MAX(t) FROM (
                     SELECT MAX(COALESCE(finished_at, started_at)) AS t FROM runs
                     UNION ALL SELECT MAX(updated_at) FROM deliveries)",
                [],
                |row| row.get(0),
            )
            .map_err(self.err("read the runs"))?;
        text.map(|t| self.parse_time(t, "updated_at")).transpose()
    }

    /// Crash recovery (DESIGN §5), run once when the daemon starts. Pending rows updated
    /// within `window` of `now` are returned for resending under at-least-once; under
    /// at-most-once they, and under either mode older ones, become `unknown` (reported,
    /// never resent) so no row stays pending forever.
    pub fn recover(
        &mut self,
        at_most_once: bool,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Recovery, Error> {
        let cutoff = chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| now.checked_sub_signed(w))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        const ACTION: &str = "recover pending deliveries";
        let path = &self.path;
        let tx = self.conn.transaction().map_err(sqlite_err(path, ACTION))?;
        let pending = query_deliveries(&tx, path, "WHERE status = 'pending'", params![])?;
        let mut recovery = Recovery::default();
        for mut row in pending {
            // A pending row's call may have reached Kakao: it counts as one such call.
            row.ambiguous += 1;
            let key_params = params![
                fmt_date(row.key.date),
                row.key.meal.as_str(),
                row.key.recipient,
                row.key.part,
                row.key.kind.as_str()
            ];
            if !at_most_once && row.updated_at >= cutoff && row.ambiguous < MAY_HAVE_ARRIVED_LIMIT {
                // `failed`, not `pending`: the next run sends it again, and a second
                // recovery before that does not count the same interruption twice.
                tx.execute(
                    "UPDATE deliveries SET ambiguous = ambiguous + 1, status = 'failed',
                         detail = 'interrupted before the result was recorded; sent again once'
                     WHERE date = ?1 AND meal = ?2 AND recipient = ?3 AND part = ?4 AND kind = ?5",
                    key_params,
                )
                .map_err(sqlite_err(path, ACTION))?;
                row.status = Status::Failed;
                recovery.resend.push(row);
                continue;
            }
            let detail = if at_most_once {
                "interrupted before the result was recorded; not resent (delivery = at-most-once)"
            } else if row.ambiguous >= MAY_HAVE_ARRIVED_LIMIT {
                "interrupted twice before the result was recorded; not resent (it may have arrived)"
            } else {
                "interrupted before the result was recorded; too late to resend"
            };
            tx.execute(
                "UPDATE deliveries SET status = 'unknown', detail = ?6, updated_at = ?7,
                     ambiguous = ambiguous + 1
                 WHERE date = ?1 AND meal = ?2 AND recipient = ?3 AND part = ?4 AND kind = ?5",
                params![
                    fmt_date(row.key.date),
                    row.key.meal.as_str(),
                    row.key.recipient,
                    row.key.part,
                    row.key.kind.as_str(),
                    detail,
                    fmt_time(now)
                ],
            )
            .map_err(sqlite_err(path, ACTION))?;
            row.status = Status::Unknown;
            row.detail = Some(detail.to_string());
            row.updated_at = now;
            recovery.unknown.push(row);
        }
        tx.commit().map_err(sqlite_err(path, ACTION))?;
        Ok(recovery)
    }

    /// Refuse every write from now on, as a full disk would (fault injection for tests).
    #[cfg(test)]
    pub(crate) fn refuse_writes(&self) {
        self.conn
            .pragma_update(None, "query_only", true)
            .expect("set query_only");
    }

    /// The newest `limit` history rows, newest first (see [`HistoryRow`]).
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.date, d.meal, d.recipient, d.nickname, d.part, d.status, d.code,
                        d.detail, d.updated_at,
                        (SELECT r.outcome FROM runs r
                         WHERE r.date = d.date AND r.meal = d.meal AND r.outcome IS NOT NULL
                         ORDER BY r.id DESC LIMIT 1) AS outcome,
                        (SELECT r.detail FROM runs r
                         WHERE r.date = d.date AND r.meal = d.meal AND r.outcome IS NOT NULL
                         ORDER BY r.id DESC LIMIT 1) AS run_detail,
                        d.id AS seq, d.kind
                 FROM deliveries d
                 UNION ALL
                 SELECT r.date, r.meal, NULL, NULL, NULL,
                        CASE r.outcome WHEN 'missed' THEN 'missed' END, NULL,
                        r.detail, COALESCE(r.finished_at, r.started_at), r.outcome, r.detail,
                        r.id, NULL
                 FROM runs r
                 WHERE r.id = (SELECT MAX(id) FROM runs r2 WHERE r2.date = r.date AND r2.meal = r.meal)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d
                                   WHERE d.date = r.date AND d.meal = r.meal)
                 ORDER BY updated_at DESC, date DESC, seq DESC
                 LIMIT ?1",
            )
            .map_err(self.err("read the history"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let raw = stmt
            .query_map(params![limit], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<u32>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, Option<String>>(10)?,
                    row.get::<_, Option<String>>(12)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("read the history"))?;
        raw.into_iter()
            .map(
                |(
                    date,
                    meal,
                    recipient,
                    nickname,
                    part,
                    status,
                    code,
                    detail,
                    updated,
                    outcome,
                    run_detail,
                    kind,
                )| {
                    Ok(HistoryRow {
                        kind: kind.map(|k| self.parse(k, "kind")).transpose()?,
                        date: self.parse(date, "date")?,
                        meal: self.parse(meal, "meal")?,
                        recipient,
                        nickname,
                        part,
                        status: status.map(|s| self.parse(s, "status")).transpose()?,
                        code,
                        detail,
                        updated_at: self.parse_time(updated, "updated_at")?,
                        outcome,
                        run_detail,
                    })
                },
            )
            .collect()
    }

    /// The outcome of each of the newest `n` dates before `before` on which `meal` ran
    /// (the latest finished run of each date; missed slots left out), newest first. The
    /// vacation pause (`pause.rs`) counts the days in a row without a menu from it.
    pub fn recent_outcomes(
        &self,
        meal: Meal,
        before: NaiveDate,
        n: usize,
    ) -> Result<Vec<(NaiveDate, String)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.date, r.outcome FROM runs r
                 WHERE r.meal = ?1 AND r.date < ?2 AND r.outcome IS NOT NULL
                   AND r.outcome != 'missed'
                   AND r.id = (SELECT MAX(x.id) FROM runs x
                               WHERE x.date = r.date AND x.meal = r.meal
                                 AND x.outcome IS NOT NULL AND x.outcome != 'missed')
                 ORDER BY r.date DESC LIMIT ?3",
            )
            .map_err(self.err("read the runs"))?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let raw = stmt
            .query_map(params![meal.as_str(), fmt_date(before), n], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("read the runs"))?;
        raw.into_iter()
            .map(|(date, outcome)| Ok((self.parse(date, "date")?, outcome)))
            .collect()
    }

    /// The newest `n` runs, newest first.
    pub fn last_runs(&self, n: usize) -> Result<Vec<Run>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT date, meal, started_at, finished_at, outcome, detail FROM runs
                 ORDER BY started_at DESC, id DESC LIMIT ?1",
            )
            .map_err(self.err("read the runs"))?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let raw = stmt
            .query_map(params![n], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("read the runs"))?;
        let mut runs = raw
            .into_iter()
            .map(|(date, meal, started, finished, outcome, detail)| {
                Ok(Run {
                    date: self.parse(date, "date")?,
                    meal: self.parse(meal, "meal")?,
                    started_at: self.parse_time(started, "started_at")?,
                    finished_at: finished
                        .map(|f| self.parse_time(f, "finished_at"))
                        .transpose()?,
                    outcome,
                    detail,
                    interrupted: false,
                })
            })
            .collect::<Result<Vec<Run>, Error>>()?;
        // One run sends at a time and holds the runs lock from its start to its end: only
        // the newest unfinished run can still be running, and only while the lock is held.
        let mut running = is_run_in_progress(&self.path);
        for run in runs.iter_mut().filter(|r| r.finished_at.is_none()) {
            run.interrupted = !running;
            running = false;
        }
        Ok(runs)
    }

    fn parse<T: FromStr>(&self, value: String, column: &'static str) -> Result<T, Error> {
        parse_column(&self.path, value, column)
    }

    fn parse_time(&self, value: String, column: &'static str) -> Result<DateTime<Utc>, Error> {
        parse_time_column(&self.path, value, column)
    }
}

fn sqlite_err(path: &Path, action: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Sqlite {
        path,
        action,
        source: without_sql(source),
    }
}

/// SQLite's complaint about a statement without the statement itself: a ledger whose
/// tables are not what this kbot expects must not print a page of SQL.
fn without_sql(err: rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqlInputError { error, msg, .. } => {
            rusqlite::Error::SqliteFailure(error, Some(msg))
        }
        other => other,
    }
}

fn parse_column<T: FromStr>(path: &Path, value: String, column: &'static str) -> Result<T, Error> {
    value.parse().map_err(|_| Error::Corrupt {
        path: path.to_path_buf(),
        column,
        value,
    })
}

fn parse_time_column(
    path: &Path,
    value: String,
    column: &'static str,
) -> Result<DateTime<Utc>, Error> {
    match DateTime::parse_from_rfc3339(&value) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => Err(Error::Corrupt {
            path: path.to_path_buf(),
            column,
            value,
        }),
    }
}

fn query_deliveries(
    conn: &Connection,
    path: &Path,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Delivery>, Error> {
    let sql = format!(
        "SELECT date, meal, recipient, nickname, part, status, code, detail, updated_at, kind,
                ambiguous
         FROM deliveries {filter} ORDER BY date, meal, recipient, kind, part"
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(sqlite_err(path, "read the deliveries"))?;
    let raw = stmt
        .query_map(params, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, u32>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, String>(9)?,
                row.get::<_, i64>(10)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_err(path, "read the deliveries"))?;
    raw.into_iter()
        .map(
            |(
                date,
                meal,
                recipient,
                nickname,
                part,
                status,
                code,
                detail,
                updated,
                kind,
                ambiguous,
            )| {
                Ok(Delivery {
                    key: Key {
                        date: parse_column(path, date, "date")?,
                        meal: parse_column(path, meal, "meal")?,
                        recipient,
                        part,
                        kind: parse_column(path, kind, "kind")?,
                    },
                    ambiguous,
                    nickname,
                    status: parse_column(path, status, "status")?,
                    code,
                    detail,
                    updated_at: parse_time_column(path, updated, "updated_at")?,
                })
            },
        )
        .collect()
}

/// The name of the lock, beside the database, that lets one run at a time send.
pub const RUNS_LOCK: &str = "runs.lock";

/// Take the lock that serialises runs across processes (`runs.lock` beside the database
/// at `db`), waiting while another kbot (the daemon, a `send-now`) is sending. Held until
/// the returned file is dropped or the process ends. `None` for an in-memory ledger.
/// Blocking: call it off the async threads.
pub fn lock_runs(db: &Path) -> Result<Option<std::fs::File>, Error> {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(None);
    };
    let path = dir.join(RUNS_LOCK);
    let err = |source| Error::Lock {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(lock = %path.display(), "another kbot run is sending; waiting for it");
            file.lock().map_err(err)?;
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(err(source)),
    }
    Ok(Some(file))
}

/// Whether a kbot process holds the runs lock beside the database at `db` now (a run is
/// sending). Reads only: a missing lock file means no run.
pub fn is_run_in_progress(db: &Path) -> bool {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(dir.join(RUNS_LOCK)) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// The ledger file in the data dir.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.sqlite3")
}

/// Create `dir` (and its parents) readable only by the user: the data directory also
/// holds the file secret store, which refuses a directory others can read.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    fn key(recipient: &str, part: u32) -> Key {
        Key::new(day("2026-03-02"), Meal::Lunch, recipient, part)
    }

    #[test]
    fn a_run_a_crash_cut_short_is_listed_until_a_later_run_finishes_it() {
        let ledger = Ledger::open_in_memory().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let t0: DateTime<Utc> = "2026-11-23T02:30:00Z".parse().unwrap();
        ledger.start_run(date, Meal::Lunch, t0).unwrap();
        ledger.start_run(date, Meal::Breakfast, t0).unwrap();
        ledger
            .finish_run(date, Meal::Breakfast, "menu", None, t0)
            .unwrap();
        let since = t0 - chrono::Duration::minutes(45);
        assert_eq!(
            ledger.interrupted_runs(since).unwrap(),
            [(date, Meal::Lunch)]
        );
        // Too old to matter.
        assert!(
            ledger
                .interrupted_runs(t0 + chrono::Duration::seconds(1))
                .unwrap()
                .is_empty()
        );
        // A later attempt that finished settles it.
        ledger.start_run(date, Meal::Lunch, t0).unwrap();
        ledger
            .finish_run(date, Meal::Lunch, "menu", None, t0)
            .unwrap();
        assert!(ledger.interrupted_runs(since).unwrap().is_empty());
    }

    #[test]
    fn the_same_key_is_one_row_and_a_different_part_is_another() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = at("2026-03-02T02:30:00Z");
        assert!(
            ledger
                .mark_pending(&key("me", 1), None, false, now)
                .unwrap()
        );
        assert!(
            ledger
                .mark_pending(&key("me", 1), None, false, now)
                .unwrap()
        );
        assert!(
            ledger
                .mark_pending(&key("me", 2), None, false, now)
                .unwrap()
        );
        let other_meal = Key::new(day("2026-03-02"), Meal::Dinner, "me", 1);
        assert!(ledger.mark_pending(&other_meal, None, false, now).unwrap());
        let lunch = ledger.pending_for(day("2026-03-02"), Meal::Lunch).unwrap();
        let parts: Vec<u32> = lunch.iter().map(|d| d.key.part).collect();
        assert_eq!(parts, [1, 2]);
        assert_eq!(ledger.history(100).unwrap().len(), 3);
    }

    #[test]
    fn a_sent_row_is_not_downgraded_without_force() {
        let ledger = Ledger::open_in_memory().unwrap();
        let k = key("fuuid0001", 1);
        let t0 = at("2026-03-02T02:30:00Z");
        assert!(ledger.mark_pending(&k, Some("이서연"), false, t0).unwrap());
        ledger.mark_sent(&k, t0).unwrap();
        assert!(ledger.is_sent(&k).unwrap());

        let t1 = at("2026-03-02T02:31:00Z");
        assert!(
            !ledger.mark_pending(&k, None, false, t1).unwrap(),
            "must say: do not send"
        );
        ledger
            .mark_failed(&k, Some(-500), "late failure", t1)
            .unwrap();
        ledger.mark_unknown(&k, "late unknown", t1).unwrap();
        assert_eq!(ledger.status(&k).unwrap(), Some(Status::Sent));

        assert!(
            ledger.mark_pending(&k, None, true, t1).unwrap(),
            "--force resends"
        );
        assert_eq!(ledger.status(&k).unwrap(), Some(Status::Pending));
        let row = &ledger.pending_for(k.date, k.meal).unwrap()[0];
        assert_eq!(
            row.nickname.as_deref(),
            Some("이서연"),
            "nickname kept across resets"
        );
    }

    #[test]
    fn a_failed_row_keeps_its_code_and_is_retried_by_the_next_run() {
        let ledger = Ledger::open_in_memory().unwrap();
        let k = key("me", 1);
        let t0 = at("2026-03-02T02:30:00Z");
        ledger.mark_pending(&k, None, false, t0).unwrap();
        ledger
            .mark_failed(&k, Some(-10), "quota exceeded", t0)
            .unwrap();
        let row = &ledger.history(1).unwrap()[0];
        assert_eq!((row.status, row.code), (Some(Status::Failed), Some(-10)));
        assert_eq!(row.detail.as_deref(), Some("quota exceeded"));
        assert!(ledger.mark_pending(&k, None, false, t0).unwrap());
        let row = &ledger.history(1).unwrap()[0];
        assert_eq!(
            (row.status, row.code, row.detail.clone()),
            (Some(Status::Pending), None, None)
        );
    }

    #[test]
    fn unknown_key_has_no_status() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.status(&key("me", 1)).unwrap(), None);
        assert!(!ledger.is_sent(&key("me", 1)).unwrap());
    }

    fn crashed_ledger() -> (Ledger, Key, Key) {
        // Two pending rows left by a crash: one recent, one from the day before.
        let ledger = Ledger::open_in_memory().unwrap();
        let recent = key("me", 1);
        let old = Key::new(day("2026-03-01"), Meal::Dinner, "fuuid0001", 1);
        ledger
            .mark_pending(&old, Some("이서연"), false, at("2026-03-01T08:00:00Z"))
            .unwrap();
        ledger
            .mark_pending(&recent, None, false, at("2026-03-02T02:30:00Z"))
            .unwrap();
        (ledger, recent, old)
    }

    #[test]
    fn recovery_at_least_once_resends_recent_pending_rows_and_closes_old_ones() {
        let (mut ledger, recent, old) = crashed_ledger();
        let now = at("2026-03-02T02:40:00Z");
        let rec = ledger
            .recover(false, Duration::from_secs(45 * 60), now)
            .unwrap();
        assert_eq!(
            rec.resend.iter().map(|d| &d.key).collect::<Vec<_>>(),
            [&recent]
        );
        assert_eq!(
            rec.unknown.iter().map(|d| &d.key).collect::<Vec<_>>(),
            [&old]
        );
        assert_eq!(ledger.status(&recent).unwrap(), Some(Status::Failed));
        assert_eq!(ledger.status(&old).unwrap(), Some(Status::Unknown));
        // A second recovery does not count the same interruption again.
        let again = ledger
            .recover(false, Duration::from_secs(45 * 60), now)
            .unwrap();
        assert!(again.resend.is_empty() && again.unknown.is_empty());
        // The resend claims it again; a second interruption makes it `unknown`.
        assert!(ledger.mark_pending(&recent, None, false, now).unwrap());
        let twice = ledger
            .recover(false, Duration::from_secs(45 * 60), now)
            .unwrap();
        assert_eq!(
            twice.unknown.iter().map(|d| &d.key).collect::<Vec<_>>(),
            [&recent]
        );
        assert!(!ledger.mark_pending(&recent, None, false, now).unwrap());
    }

    #[test]
    fn recovery_at_most_once_turns_every_pending_row_unknown() {
        let (mut ledger, recent, old) = crashed_ledger();
        let now = at("2026-03-02T02:40:00Z");
        let rec = ledger
            .recover(true, Duration::from_secs(45 * 60), now)
            .unwrap();
        assert!(rec.resend.is_empty());
        assert_eq!(rec.unknown.len(), 2);
        for k in [&recent, &old] {
            assert_eq!(ledger.status(k).unwrap(), Some(Status::Unknown));
        }
        let row = ledger.history(1).unwrap().remove(0);
        assert_eq!(row.updated_at, now);
        assert!(row.detail.unwrap().contains("at-most-once"));
        assert!(
            ledger
                .pending_for(recent.date, recent.meal)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn any_trace_of_a_slot_counts_as_run() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = at("2026-03-02T02:30:00Z");
        let (d, other) = (day("2026-03-02"), day("2026-03-03"));
        assert!(!ledger.has_run(d, Meal::Lunch).unwrap());
        ledger.start_run(d, Meal::Lunch, now).unwrap();
        assert!(ledger.has_run(d, Meal::Lunch).unwrap());
        ledger.record_missed(d, Meal::Dinner, now).unwrap();
        assert!(ledger.has_run(d, Meal::Dinner).unwrap());
        ledger
            .mark_pending(&Key::new(other, Meal::Breakfast, "me", 1), None, false, now)
            .unwrap();
        assert!(ledger.has_run(other, Meal::Breakfast).unwrap());
        assert!(!ledger.has_run(other, Meal::Lunch).unwrap());
    }

    #[test]
    fn last_activity_is_the_newest_change_of_any_row() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.last_activity().unwrap(), None);
        let d = day("2026-03-02");
        ledger
            .start_run(d, Meal::Lunch, at("2026-03-02T02:30:00Z"))
            .unwrap();
        assert_eq!(
            ledger.last_activity().unwrap(),
            Some(at("2026-03-02T02:30:00Z"))
        );
        ledger
            .mark_pending(&key("me", 1), None, false, at("2026-03-02T02:30:02Z"))
            .unwrap();
        assert_eq!(
            ledger.last_activity().unwrap(),
            Some(at("2026-03-02T02:30:02Z"))
        );
        ledger
            .finish_run(d, Meal::Lunch, "menu", None, at("2026-03-02T02:30:05Z"))
            .unwrap();
        assert_eq!(
            ledger.last_activity().unwrap(),
            Some(at("2026-03-02T02:30:05Z"))
        );
    }

    #[test]
    fn finish_run_closes_the_latest_attempt_and_last_runs_lists_newest_first() {
        let ledger = Ledger::open_in_memory().unwrap();
        let d = day("2026-03-02");
        ledger
            .start_run(d, Meal::Breakfast, at("2026-03-01T22:30:00Z"))
            .unwrap();
        ledger
            .finish_run(
                d,
                Meal::Breakfast,
                "closed",
                Some("휴무"),
                at("2026-03-01T22:30:05Z"),
            )
            .unwrap();
        ledger
            .start_run(d, Meal::Lunch, at("2026-03-02T02:30:00Z"))
            .unwrap();
        ledger
            .finish_run(d, Meal::Lunch, "menu", None, at("2026-03-02T02:30:04Z"))
            .unwrap();
        // Finishing without a start still records the outcome.
        ledger
            .finish_run(
                d,
                Meal::Dinner,
                "fetch_failed",
                Some("timeout"),
                at("2026-03-02T08:00:09Z"),
            )
            .unwrap();

        let runs = ledger.last_runs(2).unwrap();
        let seen: Vec<(Meal, Option<&str>)> = runs
            .iter()
            .map(|r| (r.meal, r.outcome.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (Meal::Dinner, Some("fetch_failed")),
                (Meal::Lunch, Some("menu"))
            ]
        );
        assert_eq!(runs[1].finished_at, Some(at("2026-03-02T02:30:04Z")));
        assert_eq!(ledger.last_runs(10).unwrap().len(), 3);
    }

    #[test]
    fn history_is_newest_first_in_the_design_json_shape() {
        let ledger = Ledger::open_in_memory().unwrap();
        let d = day("2026-03-02");
        let lunch = Key::new(d, Meal::Lunch, "fuuid0001", 1);
        ledger
            .start_run(d, Meal::Lunch, at("2026-03-02T02:30:00Z"))
            .unwrap();
        ledger
            .mark_pending(&lunch, Some("이서연"), false, at("2026-03-02T02:30:01Z"))
            .unwrap();
        ledger
            .mark_failed(
                &lunch,
                Some(-402),
                "insufficient scope",
                at("2026-03-02T02:30:02Z"),
            )
            .unwrap();
        ledger
            .finish_run(d, Meal::Lunch, "menu", None, at("2026-03-02T02:30:03Z"))
            .unwrap();
        ledger
            .record_missed(d, Meal::Dinner, at("2026-03-02T09:30:00Z"))
            .unwrap();

        let rows = ledger.history(10).unwrap();
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"date": "2026-03-02", "meal": "dinner", "recipient": null, "nickname": null,
                 "part": null, "kind": null, "status": "missed", "code": null, "detail": null,
                 "updated_at": "2026-03-02T09:30:00Z", "outcome": "missed", "run_detail": null},
                {"date": "2026-03-02", "meal": "lunch", "recipient": "fuuid0001",
                 "nickname": "이서연", "part": 1, "kind": "menu", "status": "failed", "code": -402,
                 "detail": "insufficient scope", "updated_at": "2026-03-02T02:30:02Z",
                 "outcome": "menu", "run_detail": null}
            ])
        );
        assert_eq!(ledger.history(1).unwrap().len(), 1, "limit applies");
    }

    #[test]
    fn a_real_file_is_created_in_wal_mode_with_its_directory_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data/ledger.sqlite3");
        let k = key("me", 1);
        {
            let ledger = Ledger::open(&path).unwrap();
            assert_eq!(ledger.schema_version().unwrap(), SCHEMA_VERSION);
            ledger
                .mark_pending(&k, None, false, at("2026-03-02T02:30:00Z"))
                .unwrap();
            ledger.mark_sent(&k, at("2026-03-02T02:30:01Z")).unwrap();
            // While the connection is open the WAL and its index sit beside the file.
            assert!(path.with_extension("sqlite3-wal").exists());
            assert!(path.with_extension("sqlite3-shm").exists());
            let mode: String = ledger
                .conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = ledger
                .conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
        }
        let reopened = Ledger::open(&path).unwrap();
        assert_eq!(reopened.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(reopened.is_sent(&k).unwrap(), "rows survive a reopen");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn an_empty_existing_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        std::fs::write(&path, b"").unwrap();
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(ledger.history(10).unwrap().is_empty());
    }

    #[test]
    fn a_ledger_from_a_newer_kbot_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, Error::TooNew { found: 99, .. }));
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(err.hint().unwrap().contains("upgrade kbot"));
    }

    #[test]
    fn a_file_that_is_not_a_database_names_the_path_and_says_to_move_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("ledger {}", path.display())),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("move"), "{:?}", err.hint());
    }

    #[test]
    fn a_ledger_of_schema_1_keeps_its_rows_as_menu_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO deliveries (date, meal, recipient, part, status, updated_at)
                 VALUES ('2026-03-02', 'lunch', 'me', 1, 'sent', '2026-03-02T02:30:00Z')",
                [],
            )
            .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(ledger.status(&key("me", 1)).unwrap(), Some(Status::Sent));
        let warning = key("me", 1).with_kind(Kind::Warning);
        assert_eq!(ledger.status(&warning).unwrap(), None);
    }

    /// A schema-1 file, built with the schema-1 DDL, holding `rows` of SQL inserts.
    fn schema_1_file(dir: &Path, rows: &str) -> PathBuf {
        let path = dir.join("ledger.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(rows).unwrap();
        path
    }

    /// 03-02: the 11:30 run found no menu and warned me (part 1); the 11:45 recheck sent
    /// the menu to the friend but skipped me, whose part 1 was "sent". 03-03: a menu (part
    /// 1) with a warning after it (part 2); 03-04: a closed notice to me alone.
    const SCHEMA_1_DAYS: &str = "
        INSERT INTO runs (id, date, meal, started_at, finished_at, outcome) VALUES
          (1, '2026-03-02', 'lunch', '2026-03-02T02:30:00Z', '2026-03-02T02:30:09Z', 'not_found'),
          (2, '2026-03-02', 'lunch', '2026-03-02T02:45:00Z', '2026-03-02T02:45:09Z', 'menu'),
          (3, '2026-03-03', 'lunch', '2026-03-03T02:30:00Z', '2026-03-03T02:30:09Z', 'menu'),
          (4, '2026-03-04', 'lunch', '2026-03-04T02:30:00Z', '2026-03-04T02:30:09Z', 'closed');
        INSERT INTO deliveries (date, meal, recipient, part, status, updated_at) VALUES
          ('2026-03-02', 'lunch', 'me', 1, 'sent', '2026-03-02T02:30:05Z'),
          ('2026-03-02', 'lunch', 'friend-1', 1, 'sent', '2026-03-02T02:45:05Z'),
          ('2026-03-03', 'lunch', 'me', 1, 'sent', '2026-03-03T02:30:05Z'),
          ('2026-03-03', 'lunch', 'friend-1', 1, 'sent', '2026-03-03T02:30:06Z'),
          ('2026-03-03', 'lunch', 'me', 2, 'sent', '2026-03-03T02:30:07Z'),
          ('2026-03-04', 'lunch', 'me', 1, 'sent', '2026-03-04T02:30:05Z');";

    fn on(day: &str, recipient: &str, part: u32, kind: Kind) -> Key {
        Key::new(self::day(day), Meal::Lunch, recipient, part).with_kind(kind)
    }

    #[test]
    fn schema_1_warnings_to_me_migrate_as_warnings_and_no_longer_keep_me_from_the_menu() {
        let dir = tempfile::tempdir().unwrap();
        let path = schema_1_file(dir.path(), SCHEMA_1_DAYS);
        let ledger = Ledger::open(&path).unwrap();
        let status = |key: Key| ledger.status(&key).unwrap();
        // 03-02: the warning is a warning; the menu to me is not sent yet, so it will be.
        assert_eq!(
            status(on("2026-03-02", "me", 1, Kind::Warning)),
            Some(Status::Sent)
        );
        assert_eq!(status(on("2026-03-02", "me", 1, Kind::Menu)), None);
        assert_eq!(
            status(on("2026-03-02", "friend-1", 1, Kind::Menu)),
            Some(Status::Sent)
        );
        // 03-03: part 1 was the menu, part 2 the warning (now warning part 1).
        assert_eq!(
            status(on("2026-03-03", "me", 1, Kind::Menu)),
            Some(Status::Sent)
        );
        assert_eq!(
            status(on("2026-03-03", "me", 1, Kind::Warning)),
            Some(Status::Sent)
        );
        assert_eq!(status(on("2026-03-03", "me", 2, Kind::Menu)), None);
        // 03-04: a closed notice stays a menu part.
        assert_eq!(
            status(on("2026-03-04", "me", 1, Kind::Menu)),
            Some(Status::Sent)
        );
        assert_eq!(status(on("2026-03-04", "me", 1, Kind::Warning)), None);
    }

    #[test]
    fn history_reads_a_schema_1_ledger_read_only_and_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = schema_1_file(dir.path(), SCHEMA_1_DAYS);
        let before = std::fs::read(&path).unwrap();
        let ledger = Ledger::open_read_only(&path).unwrap();
        let rows = ledger.history(100).unwrap();
        assert_eq!(rows.len(), 6, "{rows:?}");
        let warned = rows
            .iter()
            .filter(|r| r.kind == Some(Kind::Warning))
            .count();
        assert_eq!(warned, 2, "{rows:?}");
        assert_eq!(ledger.last_runs(10).unwrap().len(), 4);
        drop(ledger);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file is unchanged"
        );
        let on_disk: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(on_disk, 1);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["ledger.sqlite3"], "no journal or WAL beside it");
    }

    #[test]
    fn a_newer_ledger_is_refused_before_anything_touches_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1);")
                .unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        for err in [
            Ledger::open(&path).unwrap_err(),
            Ledger::open_read_only(&path).unwrap_err(),
        ] {
            assert!(matches!(err, Error::TooNew { found: 99, .. }), "{err}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "bytes unchanged");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["ledger.sqlite3"], "no WAL switch, no side files");
    }

    #[test]
    fn a_run_that_never_recorded_its_end_is_interrupted_unless_a_kbot_holds_the_runs_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let ledger = Ledger::open(&path).unwrap();
        ledger
            .start_run(day("2026-03-02"), Meal::Lunch, at("2026-03-02T02:30:00Z"))
            .unwrap();
        ledger
            .start_run(day("2026-03-03"), Meal::Lunch, at("2026-03-03T02:30:00Z"))
            .unwrap();
        let interrupted = |ledger: &Ledger| -> Vec<bool> {
            ledger
                .last_runs(5)
                .unwrap()
                .iter()
                .map(|r| r.interrupted)
                .collect()
        };
        assert_eq!(interrupted(&ledger), [true, true], "nobody is running them");
        let held = lock_runs(&path).unwrap().expect("a lock file");
        let reader = Ledger::open_read_only(&path).unwrap();
        assert_eq!(
            interrupted(&reader),
            [false, true],
            "the newest one may be running"
        );
        drop(held);
        assert_eq!(interrupted(&reader), [true, true]);
    }

    #[test]
    fn a_ledger_whose_tables_are_not_as_expected_names_the_problem_not_the_query() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE runs (id INTEGER PRIMARY KEY); CREATE TABLE deliveries (id INTEGER PRIMARY KEY);")
                .unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .unwrap();
        }
        let err = Ledger::open_read_only(&path)
            .unwrap()
            .history(10)
            .unwrap_err();
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert!(text.contains("no such column"), "{text}");
        assert!(!text.contains("SELECT"), "{text}");
    }

    #[test]
    fn a_disk_io_error_on_open_points_at_free_space() {
        let err = Error::Sqlite {
            path: PathBuf::from("/srv/kbot/ledger.sqlite3"),
            action: "switch to WAL mode",
            // SQLITE_IOERR_SHMSIZE: what a full disk gives when the WAL index cannot grow.
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(4874),
                Some("disk I/O error".into()),
            ),
        };
        let hint = err.hint().expect("a hint");
        assert!(
            hint.contains("may be full") && hint.contains("df -h /srv/kbot"),
            "{hint}"
        );
    }

    #[test]
    fn the_menu_sent_is_kept_once_and_a_correction_replaces_it_and_has_its_own_rows() {
        let ledger = Ledger::open_in_memory().unwrap();
        let (date, now) = (day("2026-03-02"), at("2026-03-02T02:30:00Z"));
        assert!(ledger.menus(date, Meal::Lunch).unwrap().is_empty());
        let first = vec![("학생식당".to_string(), vec!["쌀밥".to_string()])];
        let later = vec![("학생식당".to_string(), vec!["라면".to_string()])];
        ledger
            .remember_menus(date, Meal::Lunch, &first, false, now)
            .unwrap();
        ledger
            .remember_menus(date, Meal::Lunch, &later, false, now)
            .unwrap();
        assert_eq!(
            ledger.menus(date, Meal::Lunch).unwrap(),
            first,
            "the first stays"
        );
        ledger
            .remember_menus(date, Meal::Lunch, &later, true, now)
            .unwrap();
        assert_eq!(ledger.menus(date, Meal::Lunch).unwrap(), later);
        assert!(ledger.menus(date, Meal::Dinner).unwrap().is_empty());
        // A correction is its own kind: part 1 of it is not menu part 1.
        let correction = key("me", 1).with_kind(Kind::Correction);
        assert!(ledger.mark_pending(&correction, None, false, now).unwrap());
        ledger.mark_sent(&correction, now).unwrap();
        assert_eq!(ledger.status(&correction).unwrap(), Some(Status::Sent));
        assert_eq!(ledger.status(&key("me", 1)).unwrap(), None);
    }

    #[test]
    fn a_warning_sent_to_me_does_not_stand_in_for_menu_part_1() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = at("2026-03-02T02:30:00Z");
        let warning = key("me", 1).with_kind(Kind::Warning);
        assert!(ledger.mark_pending(&warning, None, false, now).unwrap());
        ledger.mark_sent(&warning, now).unwrap();
        assert!(
            ledger
                .mark_pending(&key("me", 1), None, false, now)
                .unwrap()
        );
        assert!(!ledger.mark_pending(&warning, None, false, now).unwrap());
    }

    #[test]
    fn a_second_call_that_may_have_arrived_makes_the_row_unknown_and_never_resent() {
        let ledger = Ledger::open_in_memory().unwrap();
        let now = at("2026-03-02T02:30:00Z");
        let k = key("fuuid0001", 1);
        assert!(ledger.mark_pending(&k, None, false, now).unwrap());
        let first = ledger.note_may_have_arrived(&k, "reset", MAY_HAVE_ARRIVED_LIMIT, now);
        assert_eq!(first.unwrap(), Status::Failed);
        assert!(
            ledger.mark_pending(&k, None, false, now).unwrap(),
            "retried once"
        );
        let second = ledger.note_may_have_arrived(&k, "reset", MAY_HAVE_ARRIVED_LIMIT, now);
        assert_eq!(second.unwrap(), Status::Unknown);
        assert!(
            !ledger.mark_pending(&k, None, false, now).unwrap(),
            "never again"
        );
        assert!(
            ledger.mark_pending(&k, None, true, now).unwrap(),
            "unless forced"
        );
        // A sent row stays sent whatever is noted after it.
        ledger.mark_sent(&k, now).unwrap();
        let late = ledger.note_may_have_arrived(&k, "reset", MAY_HAVE_ARRIVED_LIMIT, now);
        assert_eq!(late.unwrap(), Status::Sent);
        assert_eq!(ledger.status(&k).unwrap(), Some(Status::Sent));
    }

    #[test]
    fn a_hand_edited_row_is_reported_not_panicked_on() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .mark_pending(&key("me", 1), None, false, at("2026-03-02T02:30:00Z"))
            .unwrap();
        ledger
            .conn
            .execute("UPDATE deliveries SET updated_at = 'yesterday'", [])
            .unwrap();
        let err = ledger.history(10).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    column: "updated_at",
                    ..
                }
            ),
            "{err}"
        );
    }
}
