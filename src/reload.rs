//! The daemon's config reload: the file is read again at every wake of the loop (a change
//! is noticed within a minute) and at once on SIGHUP (`systemctl --user reload kbot`). A
//! valid change takes effect; an invalid one is rejected with the reason, once, and the
//! config in force stays. The text in force is kept in the data dir for `kbot status`
//! ([`crate::instance::config_in_force`]).
//!
//! Does not own what a new config means to the schedule (the daemon builds the plan) or the
//! parsing (`config`). I/O: reads the config file, writes the copy in the data dir, listens
//! for SIGHUP.

use std::path::PathBuf;

use crate::config::{Config, Paths};
use crate::instance;

/// Watches the config file of a running daemon.
#[derive(Debug)]
pub struct Watch {
    path: PathBuf,
    data_dir: PathBuf,
    /// The text of the config in force.
    in_force: String,
    /// The text last read (so a rejected file is reported once, not at every wake);
    /// `None` after the file could not be read.
    seen: Option<String>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Watch {
    /// Start watching: the text in force is the file as it is now (a change made since the
    /// daemon parsed it is picked up at the first wake), and SIGHUP is listened for from now.
    pub fn start(paths: &Paths) -> Self {
        let in_force = std::fs::read_to_string(&paths.config).unwrap_or_default();
        instance::record_config_in_force(&paths.data_dir, &in_force);
        Watch {
            path: paths.config.clone(),
            data_dir: paths.data_dir.clone(),
            seen: Some(in_force.clone()),
            in_force,
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .inspect_err(|err| tracing::warn!("cannot listen for SIGHUP: {err}"))
                .ok(),
        }
    }

    /// The new config when the file changed (or `forced`, after SIGHUP) and is valid;
    /// `None` to keep `current`. Rejections and unreadable files are logged once each.
    pub fn changed(&mut self, forced: bool, current: &Config) -> Option<Config> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) => {
                if forced || self.seen.is_some() {
                    tracing::warn!(path = %self.path.display(), "cannot read the config; the one loaded stays in force: {err}");
                }
                self.seen = None;
                return None;
            }
        };
        if !forced && self.seen.as_ref() == Some(&text) {
            return None;
        }
        self.seen = Some(text.clone());
        if text == self.in_force {
            if forced {
                tracing::info!(path = %self.path.display(), "config unchanged");
            }
            return None;
        }
        match Config::from_toml(&text, Some(&self.path)) {
            Ok(new) => {
                // The login and the Kakao clients were built from the old values.
                if format!("{:?}{:?}", new.kakao, new.secret_store)
                    != format!("{:?}{:?}", current.kakao, current.secret_store)
                {
                    tracing::warn!(
                        "[kakao] and [secrets] changes take effect when the daemon restarts"
                    );
                }
                self.in_force = text;
                instance::record_config_in_force(&self.data_dir, &self.in_force);
                tracing::info!(path = %self.path.display(), "config file changed; reloading");
                Some(new)
            }
            Err(err) => {
                tracing::error!(path = %self.path.display(), "the changed config is rejected; the one loaded before stays in force: {err}");
                None
            }
        }
    }

    /// Resolves on SIGHUP; never where it cannot be heard.
    pub async fn hangup(&mut self) {
        #[cfg(unix)]
        if let Some(hangup) = &mut self.hangup
            && hangup.recv().await.is_some()
        {
            tracing::info!("SIGHUP: re-reading the config");
            return;
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_text(lunch: &str) -> String {
        format!(
            "timezone = \"Asia/Seoul\"\n[kakao]\nclient_id = \"abc\"\n[[source]]\nname = \"s\"\nurl = \"https://example.ac.kr/menu\"\n[source.select]\nlunch = \"div.lunch\"\n[schedule]\nlunch = \"{lunch}\"\n"
        )
    }

    #[tokio::test]
    async fn a_changed_file_is_taken_once_and_a_broken_one_keeps_the_config_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config: dir.path().join("config.toml"),
            data_dir: dir.path().join("data"),
        };
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        std::fs::write(&paths.config, config_text("30 11 * * *")).unwrap();
        let current = crate::config::load(&paths.config).unwrap();
        let mut watch = Watch::start(&paths);
        assert!(watch.changed(false, &current).is_none(), "unchanged");

        std::fs::write(&paths.config, config_text("0 12 * * *")).unwrap();
        let new = watch.changed(false, &current).expect("the change is taken");
        assert_ne!(
            format!("{:?}", new.schedule),
            format!("{:?}", current.schedule)
        );
        assert!(watch.changed(false, &new).is_none(), "taken once");

        std::fs::write(&paths.config, config_text("half past eleven")).unwrap();
        assert!(watch.changed(false, &new).is_none(), "rejected");
        assert!(
            watch.changed(true, &new).is_none(),
            "still rejected on SIGHUP"
        );
    }
}
