//! The daemon's config reload: the file is read again at every wake of the loop (a change
//! is noticed within a minute) and at once on SIGHUP (`systemctl --user reload kbot`). It
//! is read the way start-up reads it (a regular file, at most `config::MAX_SIZE` bytes,
//! UTF-8), on a thread of its own so a slow or blocking file never holds the daemon, and a
//! change is taken only once it holds still: the same bytes on two reads [`SETTLE`] apart
//! (an editor saving in place is not read half-way). A valid change takes effect, and what
//! it drops (friends, sources, meals) is logged; an invalid one is rejected with the
//! reason, once, and the config in force stays. The text in force is kept in the data dir
//! for `kbot status` ([`crate::instance::config_in_force`]).
//!
//! Does not own what a new config means to the schedule (the daemon builds the plan) or the
//! parsing (`config`). I/O: reads the config file, writes the copy in the data dir, listens
//! for SIGHUP.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, Config, Paths};
use crate::instance;

/// Between the two reads of a changed file.
pub const SETTLE: Duration = Duration::from_millis(250);
/// How long one read may take before this wake gives up on it (the read goes on, and the
/// next wake waits for it rather than starting another).
pub const READ_WAIT: Duration = Duration::from_millis(500);

type Read = Result<String, String>;

/// Watches the config file of a running daemon.
#[derive(Debug)]
pub struct Watch {
    path: PathBuf,
    data_dir: PathBuf,
    /// The text of the config in force.
    in_force: String,
    /// The text last read whole and still (so a rejected file is reported once, not at
    /// every wake); `None` after a read failed or found the file changing.
    seen: Option<String>,
    /// The last reason the file could not be read, reported once.
    problem: Option<String>,
    /// A read that has not finished (a file that blocks): waited for, never doubled.
    pending: Option<tokio::sync::oneshot::Receiver<Read>>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Watch {
    /// Start watching: the text in force is the file as it is now (a change made since the
    /// daemon parsed it is picked up at the first wake), and SIGHUP is listened for from now.
    pub fn start(paths: &Paths) -> Self {
        let in_force = config::read(&paths.config).unwrap_or_default();
        instance::record_config_in_force(&paths.data_dir, &in_force);
        Watch {
            path: paths.config.clone(),
            data_dir: paths.data_dir.clone(),
            seen: Some(in_force.clone()),
            in_force,
            problem: None,
            pending: None,
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .inspect_err(|err| tracing::warn!("cannot listen for SIGHUP: {err}"))
                .ok(),
        }
    }

    /// The file's text, read on a thread of its own and waited for at most [`READ_WAIT`].
    async fn read(&mut self) -> Read {
        let mut reading = match self.pending.take() {
            Some(reading) => reading,
            None => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let path = self.path.clone();
                let spawned = std::thread::Builder::new()
                    .name("kbot-reload".into())
                    .spawn(move || {
                        let _ = tx.send(config::read(&path).map_err(|e| e.to_string()));
                    });
                if let Err(err) = spawned {
                    return Err(format!("cannot start a thread to read it: {err}"));
                }
                rx
            }
        };
        match tokio::time::timeout(READ_WAIT, &mut reading).await {
            Ok(Ok(read)) => read,
            Ok(Err(_)) => Err("its reader stopped".into()),
            Err(_) => {
                self.pending = Some(reading);
                Err(format!(
                    "reading {} takes longer than {} ms",
                    self.path.display(),
                    READ_WAIT.as_millis()
                ))
            }
        }
    }

    /// A read that failed: said once per reason (and at every SIGHUP).
    fn unreadable(&mut self, why: String, forced: bool) {
        if forced || self.problem.as_ref() != Some(&why) {
            tracing::warn!(path = %self.path.display(), "cannot read the config; the one loaded stays in force: {why}");
        }
        self.problem = Some(why);
        self.seen = None;
    }

    /// The new config when the file changed (or `forced`, after SIGHUP) and is valid;
    /// `None` to keep `current`. Rejections and unreadable files are logged once each.
    pub async fn changed(&mut self, forced: bool, current: &Config) -> Option<Config> {
        let text = match self.read().await {
            Ok(text) => text,
            Err(why) => {
                self.unreadable(why, forced);
                return None;
            }
        };
        if !forced && self.seen.as_ref() == Some(&text) {
            return None;
        }
        if text == self.in_force {
            self.seen = Some(text);
            self.problem = None;
            if forced {
                tracing::info!(path = %self.path.display(), "config unchanged");
            }
            return None;
        }
        // A change: taken only when a second read a moment later finds the same bytes.
        tokio::time::sleep(SETTLE).await;
        match self.read().await {
            Ok(again) if again == text => {}
            Ok(_) => {
                tracing::info!(path = %self.path.display(), "the config file is changing (being written?); it is read again at the next wake");
                self.seen = None;
                return None;
            }
            Err(why) => {
                self.unreadable(why, forced);
                return None;
            }
        }
        self.problem = None;
        self.seen = Some(text.clone());
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
                for gone in dropped(current, &new) {
                    tracing::warn!(path = %self.path.display(), "the reloaded config drops {gone}");
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

/// What `new` no longer has of `old`, in words: friends, sources (by name), meals and
/// "me". Pure.
pub fn dropped(old: &Config, new: &Config) -> Vec<String> {
    let mut gone = Vec::new();
    if old.recipients.me && !new.recipients.me {
        gone.push("the message to me (recipients.me)".to_string());
    }
    let friends: Vec<&str> = old
        .recipients
        .friends
        .iter()
        .filter(|f| !new.recipients.friends.contains(f))
        .map(String::as_str)
        .collect();
    if !friends.is_empty() {
        gone.push(format!("friends: {}", friends.join(", ")));
    }
    let sources: Vec<&str> = old
        .sources
        .iter()
        .filter(|s| !new.sources.iter().any(|n| n.name == s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !sources.is_empty() {
        gone.push(format!("sources: {}", sources.join(", ")));
    }
    let meals: Vec<&str> = old
        .schedule
        .meals
        .keys()
        .filter(|m| !new.schedule.meals.contains_key(m))
        .map(|m| m.as_str())
        .collect();
    if !meals.is_empty() {
        gone.push(format!("meals: {}", meals.join(", ")));
    }
    gone
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
        assert!(watch.changed(false, &current).await.is_none(), "unchanged");

        std::fs::write(&paths.config, config_text("0 12 * * *")).unwrap();
        let new = watch
            .changed(false, &current)
            .await
            .expect("the change is taken");
        assert_ne!(
            format!("{:?}", new.schedule),
            format!("{:?}", current.schedule)
        );
        assert!(watch.changed(false, &new).await.is_none(), "taken once");

        std::fs::write(&paths.config, config_text("half past eleven")).unwrap();
        assert!(watch.changed(false, &new).await.is_none(), "rejected");
        assert!(
            watch.changed(true, &new).await.is_none(),
            "still rejected on SIGHUP"
        );
    }

    #[tokio::test]
    async fn a_fifo_or_a_huge_file_is_refused_without_waiting_or_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config: dir.path().join("config.toml"),
            data_dir: dir.path().join("data"),
        };
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        std::fs::write(&paths.config, config_text("30 11 * * *")).unwrap();
        let current = crate::config::load(&paths.config).unwrap();
        let mut watch = Watch::start(&paths);

        std::fs::remove_file(&paths.config).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&paths.config)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
        let started = std::time::Instant::now();
        assert!(watch.changed(true, &current).await.is_none(), "a FIFO");
        assert!(
            watch
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("is not a regular file")),
            "{:?}",
            watch.problem
        );
        assert!(started.elapsed() < READ_WAIT * 2, "{:?}", started.elapsed());
        assert!(watch.pending.is_none(), "nothing left blocked on the FIFO");

        std::fs::remove_file(&paths.config).unwrap();
        let huge = std::fs::File::create(&paths.config).unwrap();
        huge.set_len(1 << 30).unwrap();
        let started = std::time::Instant::now();
        assert!(watch.changed(true, &current).await.is_none(), "1 GiB");
        assert!(started.elapsed() < READ_WAIT * 2, "{:?}", started.elapsed());
        assert!(
            watch
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("1073741824 bytes; a configuration is at most 1 MB")),
            "{:?}",
            watch.problem
        );
    }

    #[test]
    fn what_a_new_config_drops_is_named() {
        let old = crate::config::Config::from_toml(
            &format!(
                "{}[recipients]\nme = true\nfriends = [\"이서연\", \"박민준\"]\n",
                config_text("30 11 * * *")
                    .replace("[schedule]\n", "[schedule]\ndinner = \"0 17 * * *\"\n")
            ),
            None,
        )
        .unwrap();
        let new = crate::config::Config::from_toml(
            &format!(
                "{}[recipients]\nme = true\nfriends = [\"이서연\"]\n",
                config_text("30 11 * * *")
            ),
            None,
        )
        .unwrap();
        assert_eq!(dropped(&old, &new), ["friends: 박민준", "meals: dinner"]);
        assert!(dropped(&new, &new).is_empty());
    }
}
