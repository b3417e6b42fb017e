//! A running `kbot daemon` (or a long `send-now`) for the clock and signal tests: spawned
//! from the real binary with `TestEnv`'s cleared environment, optionally under libfaketime,
//! its stderr in a file the test polls with deadlines (never fixed sleeps).
#![allow(dead_code)] // each test crate uses a different subset

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Seoul;
use chrono_tz::Tz;
use kbot::clock::{Clock, SystemClock};
use serde_json::Value;

use crate::common::{TestEnv, json, kakao_section, seed_login};
use crate::support::fake_kakao::{FakeKakao, IssuedTokens};

pub const CLIENT_ID: &str = "fake-rest-api-key";

/// How long a process may take to reach a point the test waits for (a debug build on a
/// busy two-core machine); only a failing test waits this long.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The dishes of the test page; the page carries no date, so it is "today" on any day.
pub const DISHES: [&str; 3] = ["쌀밥", "된장국", "제육볶음"];

pub fn now() -> DateTime<Utc> {
    SystemClock.now()
}

/// A 6-field cron that fires once a day at `slot`'s local time of day (whole seconds).
pub fn daily_at(slot: DateTime<Tz>) -> String {
    format!("{} {} {} * * *", slot.second(), slot.minute(), slot.hour())
}

/// A slot `offset` from now, in Seoul, on a whole second.
pub fn slot_from_now(offset: chrono::Duration) -> DateTime<Tz> {
    let t = (now() + offset).with_timezone(&Seoul);
    t.with_nanosecond(0).expect("second 0 exists")
}

/// The config of a bot with the test page and `schedule` (the `[schedule]` body).
pub fn write_config(fake: &FakeKakao, env: &TestEnv, schedule: &str, recipients: &str) {
    let page = env.path("menu.html");
    std::fs::write(
        &page,
        format!(
            "<html><body><h2>오늘의 메뉴</h2><div class=\"lunch\">{}</div><div class=\"dinner\">{}</div></body></html>",
            DISHES.join("<br>"),
            DISHES.join("<br>")
        ),
    )
    .expect("write the menu page");
    let url = url::Url::from_file_path(&page).expect("absolute path");
    env.write_config(&format!(
        "timezone = \"Asia/Seoul\"\n{}[[source]]\nname = \"학생식당\"\nurl = \"{url}\"\n[source.select]\nlunch = \"div.lunch\"\ndinner = \"div.dinner\"\n[recipients]\n{recipients}\n[schedule]\n{schedule}\n",
        kakao_section(&fake.url(), CLIENT_ID),
    ));
}

/// A logged-in bot: [`write_config`] and a seeded file-store login.
pub fn logged_in(
    fake: &FakeKakao,
    env: &TestEnv,
    schedule: &str,
    recipients: &str,
) -> IssuedTokens {
    write_config(fake, env, schedule, recipients);
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    tokens
}

/// `kbot` as a `std::process::Command` with exactly the environment `TestEnv::kbot` gives
/// it, so it can be spawned and signalled.
pub fn kbot_process(env: &TestEnv) -> Command {
    let template = env.kbot();
    let mut cmd = Command::new(template.get_program());
    cmd.env_clear();
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    if let Some(dir) = template.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd
}

/// The preload library of libfaketime, as the `faketime` command from apt (package
/// `faketime`) sets it; fails the test, never skips it, when `faketime` is missing.
fn libfaketime() -> String {
    let output = Command::new("faketime")
        .args(["-f", "+0", "sh", "-c", "printf %s \"$LD_PRELOAD\""])
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run `faketime` ({err}); these tests need it: apt-get install -y faketime"
            )
        });
    let preload = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && preload.contains("faketime"),
        "`faketime` did not preload libfaketime: {output:?}"
    );
    preload
}

/// `kbot_process(env)` with libfaketime preloaded and the fake time read from `rc` at every
/// clock read (a `FAKETIME` spec such as `+0` or `+365d`; rewrite the file to move the clock
/// of the running process). The monotonic clock stays real, as it does when a real wall
/// clock is set: tokio's timers run on it. The library is preloaded directly rather than
/// through the `faketime` wrapper, which would set `FAKETIME` (it wins over the file) and
/// stand between the test and kbot's pid.
pub fn under_faketime(env: &TestEnv, rc: &std::path::Path) -> Command {
    let mut cmd = kbot_process(env);
    cmd.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", rc)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    cmd
}

/// A running kbot process whose stderr goes to a file in the temp dir. Killed on drop, so
/// a failing test leaves no process behind.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    /// Spawn `cmd` (its arguments already given) with info logs from kbot (debug for the
    /// scheduler's "next slot"), short retries, and stderr to `<name>.log`.
    pub fn spawn(env: &TestEnv, mut cmd: Command, name: &str) -> Running {
        let log = env.path(&format!("{name}.log"));
        let stderr = File::create(&log).expect("create the log file");
        let child = cmd
            .env("KBOT_LOG", "kbot=debug,warn")
            .env("KBOT_RETRY_BASE_MS", "10")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start kbot");
        Running { child, log }
    }

    /// `kbot daemon` as [`Running::spawn`] starts it.
    pub fn daemon(env: &TestEnv, name: &str) -> Running {
        let mut cmd = kbot_process(env);
        cmd.arg("daemon");
        Running::spawn(env, cmd, name)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `done` holds; fail with the log if the process exits or the deadline passes.
    pub fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Running) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if let Some(status) = self.child.try_wait().expect("poll the process") {
                panic!(
                    "kbot exited ({status}) before {what}; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; kbot's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until kbot has logged a line containing all of `words`.
    pub fn wait_for_log(&mut self, words: &[&str]) {
        let what = format!("a log line with {words:?}");
        self.wait_until(&what, |d| {
            d.log()
                .lines()
                .any(|line| words.iter().all(|w| line.contains(w)))
        });
    }

    /// Send a signal (`TERM`, `INT`, `HUP`) to the process.
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Wait (up to the deadline) for the process to end on its own.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the process") {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "kbot did not stop; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote to stdout (call after it exited).
    pub fn stdout(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut text).expect("read stdout");
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// `kbot history --json` rows.
pub fn history(env: &TestEnv) -> Vec<Value> {
    let output = env.kbot().args(["history", "--json"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    json(&output)
        .as_array()
        .expect("history --json is an array")
        .clone()
}

/// The status of each history row for (`date`, `meal`), as `recipient:status`, sorted.
pub fn statuses(env: &TestEnv, date: NaiveDate, meal: &str) -> Vec<String> {
    let mut rows: Vec<String> = history(env)
        .iter()
        .filter(|row| row["date"] == date.to_string() && row["meal"] == meal)
        .map(|row| {
            format!(
                "{}:{}",
                row["recipient"].as_str().unwrap_or("-"),
                row["status"].as_str().unwrap_or("-")
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The text of every template delivered to `recipient`.
pub fn texts(fake: &FakeKakao, recipient: &str) -> Vec<String> {
    fake.delivered_to(recipient)
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect()
}
