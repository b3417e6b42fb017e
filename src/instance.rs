//! What the data dir tells about the daemon beyond its lock (`schedule::lock_instance`):
//! why it last stopped for good (`daemon-stopped.json`, for `kbot status` to say
//! `needs_attention`) and the config text it runs with (`daemon-config.toml`, so `status`
//! never shows a schedule the daemon is not using).
//!
//! Owns those two files (written atomically by the daemon, read by `status`) and the check
//! that the data dir is still there. Does not own the lock, the ledger or the secrets.
//! I/O: files in the data dir; nothing else.

use std::fs::{OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

fn in_force_path(data_dir: &Path) -> PathBuf {
    data_dir.join("daemon-config.toml")
}

/// Keep a copy of the config text the running daemon uses, for `kbot status` to show the
/// schedule in force when the file on disk differs (not yet reloaded, or rejected). Best
/// effort, written atomically.
pub fn record_config_in_force(data_dir: &Path, text: &str) {
    let path = in_force_path(data_dir);
    let tmp = path.with_extension("toml.tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = written {
        tracing::warn!(
            "cannot record the config in force in {}: {err}",
            path.display()
        );
    }
}

/// Drop the copy when the daemon stops.
pub fn forget_config_in_force(data_dir: &Path) {
    let _ = std::fs::remove_file(in_force_path(data_dir));
}

/// The config text a running daemon uses, if a daemon holds the lock in `data_dir`.
pub fn config_in_force(data_dir: &Path) -> Option<String> {
    let lock = OpenOptions::new()
        .read(true)
        .open(data_dir.join(crate::schedule::LOCK_FILE))
        .ok()?;
    // Held by a daemon: `try_lock_shared` would block. Free: nobody runs; let go at once.
    match lock.try_lock_shared() {
        Err(TryLockError::WouldBlock) => std::fs::read_to_string(in_force_path(data_dir)).ok(),
        _ => None,
    }
}

/// Why the daemon last ended because it could not work (exit 3: the login is gone), kept
/// in `<data_dir>/daemon-stopped.json` for `kbot status` until a daemon starts with a
/// working login again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stopped {
    /// When it stopped.
    pub at: DateTime<Utc>,
    /// Its exit code.
    pub exit: u8,
    /// The error it logged (never a token: errors carry none).
    pub reason: String,
    /// What fixes it.
    pub hint: Option<String>,
}

fn stopped_path(data_dir: &Path) -> PathBuf {
    data_dir.join("daemon-stopped.json")
}

/// Record why the daemon stops for good (written atomically; best effort: the log and the
/// exit code say it too).
pub fn record_stopped(data_dir: &Path, stopped: &Stopped) {
    let path = stopped_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(stopped).expect("a Stopped serializes");
    let written = crate::ledger::create_private_dir(data_dir)
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = written {
        tracing::warn!(
            "cannot record why the daemon stopped in {}: {err}",
            path.display()
        );
    }
}

/// Why the daemon last stopped for good, if it has not started with a working login since.
pub fn stopped(data_dir: &Path) -> Option<Stopped> {
    let text = std::fs::read_to_string(stopped_path(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Forget the stop record: a daemon is running with a working login again.
pub fn clear_stopped(data_dir: &Path) {
    match std::fs::remove_file(stopped_path(data_dir)) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!("cannot remove {}: {err}", stopped_path(data_dir).display()),
    }
}

/// The ledger file vanished under the daemon (its data dir deleted or moved).
#[derive(Debug, thiserror::Error)]
#[error(
    "the ledger {} is gone: the data dir was deleted or moved under the daemon, which stops rather than send without a record",
    path.display()
)]
pub struct LedgerGone {
    path: PathBuf,
}

impl crate::error::Report for LedgerGone {
    fn hint(&self) -> Option<String> {
        Some("start the daemon again (systemd does): it recreates the data dir; with the file secret store, run kbot login first".into())
    }
}

/// Whether the ledger the daemon opened is still there: a daemon whose data dir was
/// deleted must stop (exit 1), not log errors at every slot or send without a record.
pub fn check_ledger(ledger: &Path) -> crate::Result<()> {
    if ledger.exists() {
        Ok(())
    } else {
        Err(LedgerGone {
            path: ledger.to_path_buf(),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_record_is_kept_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(stopped(dir.path()), None);
        let record = Stopped {
            at: DateTime::parse_from_rfc3339("2026-03-05T11:30:00+09:00")
                .unwrap()
                .with_timezone(&Utc),
            exit: 3,
            reason: "kakao rejected the refresh token (KOE322): log in again".into(),
            hint: Some("kbot login".into()),
        };
        record_stopped(dir.path(), &record);
        assert_eq!(stopped(dir.path()), Some(record));
        clear_stopped(dir.path());
        assert_eq!(stopped(dir.path()), None);
    }

    #[test]
    fn no_config_in_force_is_reported_without_a_running_daemon() {
        let dir = tempfile::tempdir().unwrap();
        record_config_in_force(dir.path(), "timezone = \"Asia/Seoul\"\n");
        assert_eq!(config_in_force(dir.path()), None, "no lock file");
        let lock = crate::schedule::lock_instance(dir.path()).unwrap();
        assert_eq!(
            config_in_force(dir.path()).as_deref(),
            Some("timezone = \"Asia/Seoul\"\n")
        );
        drop(lock);
        assert_eq!(config_in_force(dir.path()), None, "the daemon stopped");
    }
}
