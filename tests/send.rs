//! End-to-end tests of sending through the real binary against the fake Kakao server:
//! recipients, parts, the ledger's exactly-once behaviour, faults and crash recovery.
//!
//! Every test drives `kbot` as a person would (`send-now`, `history`, `preview`, `friends`)
//! with the file secret store seeded as after `kbot login`, and reads what the fake Kakao
//! received. Helpers for these tests live here, not in `tests/common`.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[cfg(target_os = "linux")]
use common::flock_waiters;
use common::{TestEnv, json, kakao_section, pages_dir, seed_login, source_block};
use support::fake_kakao::api::{FRIENDS_PATH, FRIENDS_SEND_PATH, MEMO_PATH};
use support::fake_kakao::oauth::TOKEN_PATH;
use support::fake_kakao::{FakeKakao, Fault, LongText};
use support::pages::{PageServer, week_page};

const CLIENT_ID: &str = "fake-rest-api-key";

/// The small JBNU page: one part, lunch on 2023-04-10.
const JBNU: &str = "jbnu-jinsuwon-2023-04-10";
const JBNU_TABLE: &str = "table.tblType03";
const JBNU_LUNCH: [&str; 3] = ["lunch", "--date", "2023-04-10"];

/// How long the fake holds each answer in the kill and expiry tests: long enough that the
/// test reliably acts while a call is in flight on a busy 2-core machine.
const KAKAO_PAUSE: Duration = Duration::from_millis(200);

/// Twelve friends who use the app: (uuid, nickname).
const TWELVE: [(&str, &str); 12] = [
    ("fuuid-01-seoyeon", "이서연"),
    ("fuuid-02-minjun", "박민준"),
    ("fuuid-03-jiwoo", "김지우"),
    ("fuuid-04-hayoon", "최하윤"),
    ("fuuid-05-doyoon", "정도윤"),
    ("fuuid-06-seojun", "강서준"),
    ("fuuid-07-yeeun", "조예은"),
    ("fuuid-08-siwoo", "윤시우"),
    ("fuuid-09-hajun", "장하준"),
    ("fuuid-10-jiho", "임지호"),
    ("fuuid-11-sua", "한수아"),
    ("fuuid-12-eunwoo", "오은우"),
];

/// How `recipients.friends` names the twelve: even ones by nickname, odd ones by uuid.
fn twelve_as_configured() -> Vec<&'static str> {
    TWELVE
        .iter()
        .enumerate()
        .map(|(i, (uuid, nick))| if i % 2 == 0 { *nick } else { *uuid })
        .collect()
}

fn uuids(friends: &[(&str, &str)]) -> Vec<String> {
    friends.iter().map(|(u, _)| u.to_string()).collect()
}

/// A fake Kakao, a kbot home and a login: what every test here starts from.
struct Bot {
    fake: FakeKakao,
    env: TestEnv,
}

impl Bot {
    /// A fake that knows `friends` as the user's friends (all accept messages).
    fn new(friends: &[(&str, &str)]) -> Bot {
        let fake = FakeKakao::start_on_thread();
        for (uuid, nickname) in friends {
            fake.add_friend(uuid, nickname, true);
        }
        Bot {
            fake,
            env: TestEnv::new(),
        }
    }

    /// Write the config: one source (a saved page and its table selector) and `rest`
    /// (`[recipients]`, `[message]`, …).
    fn config(&self, page: &str, table: &str, rest: &str) {
        let page = pages_dir().join(format!("{page}.html"));
        self.env.write_config(&format!(
            "{}{}{rest}",
            kakao_section(&self.fake.url(), CLIENT_ID),
            source_block("학생식당", &page, table, "")
        ));
    }

    /// The JBNU page (one part) to me and to `friends` (nicknames or uuids).
    fn jbnu_to(&self, friends: &[&str], extra: &str) {
        self.config(JBNU, JBNU_TABLE, &format!("{}{extra}", recipients(friends)));
    }

    /// Seed the file store as `kbot login` would, with a live token pair from the fake.
    fn login(&self) {
        let tokens = self.fake.issue_tokens();
        seed_login(
            &self.env.data_dir(),
            CLIENT_ID,
            &tokens.access_token,
            &tokens.refresh_token,
            chrono::Duration::hours(5),
        );
    }

    /// `kbot ARGS…` with retries shortened to milliseconds.
    fn kbot(&self, args: &[&str]) -> Output {
        self.env
            .kbot()
            .env("KBOT_RETRY_BASE_MS", "1")
            .args(args)
            .output()
            .expect("run kbot")
    }

    /// `kbot send-now ARGS…`.
    fn send(&self, args: &[&str]) -> Output {
        let mut all = vec!["send-now"];
        all.extend_from_slice(args);
        self.kbot(&all)
    }

    /// `kbot send-now ARGS…` started in the background (to be killed).
    fn spawn_send(&self, args: &[&str]) -> Child {
        let env = &self.env;
        std::process::Command::new(env!("CARGO_BIN_EXE_kbot"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.dir.path())
            .env("XDG_CONFIG_HOME", env.path("xdg-config"))
            .env("XDG_DATA_HOME", env.path("xdg-data"))
            .env("KBOT_CONFIG", env.config_path())
            .env("KBOT_DATA_DIR", env.data_dir())
            .env("KBOT_RETRY_BASE_MS", "1")
            .current_dir(env.dir.path())
            .arg("send-now")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kbot")
    }

    /// `kbot history --json --limit 1000`, parsed.
    fn history(&self) -> Vec<Value> {
        let output = self.kbot(&["history", "--json", "--limit", "1000"]);
        assert!(output.status.success(), "{}", all_text(&output));
        json(&output).as_array().expect("a JSON array").clone()
    }

    /// `recipient → status` of every part-1 row of the history.
    fn statuses(&self) -> BTreeMap<String, String> {
        self.history()
            .iter()
            .filter(|row| row["part"] == 1)
            .map(|row| {
                (
                    row["recipient"].as_str().unwrap_or_default().to_string(),
                    row["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// How many messages reached `recipient` ("me" or a uuid).
    fn copies(&self, recipient: &str) -> usize {
        self.fake.delivered_to(recipient).len()
    }

    /// The texts that reached `recipient`, in order.
    fn texts(&self, recipient: &str) -> Vec<String> {
        self.fake
            .delivered_to(recipient)
            .iter()
            .map(|t| t["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// A `[recipients]` section: me and `friends`.
fn recipients(friends: &[&str]) -> String {
    let list: Vec<String> = friends.iter().map(|f| format!("{f:?}")).collect();
    format!("[recipients]\nme = true\nfriends = [{}]\n", list.join(", "))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// stdout and stderr together, for assertion messages.
fn all_text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// The first line of `text` that mentions `who`.
fn line_of<'a>(text: &'a str, who: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(who))
        .unwrap_or_else(|| panic!("no line mentions {who:?} in:\n{text}"))
}

/// The display column (Hangul counts two) where `needle` starts in `line`.
fn column_of(line: &str, needle: &str) -> usize {
    let at = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {line:?}"));
    unicode_width::UnicodeWidthStr::width(&line[..at])
}

/// Poll `done` every few milliseconds until it holds; panic after `limit`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The receivers of every "send to friends" call, in order.
fn batches(fake: &FakeKakao) -> Vec<Vec<String>> {
    fake.requests_to(FRIENDS_SEND_PATH)
        .iter()
        .map(|r| {
            serde_json::from_str(r.form_field("receiver_uuids").unwrap_or("[]"))
                .expect("receiver_uuids is a JSON array")
        })
        .collect()
}

// ─── 1. me and twelve friends, exactly once ─────────────────────────────────────────────

#[test]
fn send_now_reaches_me_and_twelve_friends_once_and_a_second_run_sends_nothing() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(&twelve_as_configured(), "");
    bot.login();

    let first = bot.send(&JBNU_LUNCH);
    assert!(first.status.success(), "{}", all_text(&first));
    assert_eq!(bot.copies("me"), 1);
    let text = stdout(&first);
    let column = column_of(line_of(&text, "me "), " sent");
    for (uuid, nick) in TWELVE {
        assert_eq!(bot.copies(uuid), 1, "{nick} ({uuid})");
        let line = line_of(&text, uuid);
        assert!(line.contains(nick), "{text}");
        assert_eq!(column_of(line, " sent"), column, "misaligned:\n{text}");
    }
    // Kakao takes at most five receivers a call: 12 friends are three calls.
    let calls = batches(&bot.fake);
    assert_eq!(
        calls.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 5, 2],
        "{calls:?}"
    );
    let all: BTreeSet<String> = calls.into_iter().flatten().collect();
    assert_eq!(all, uuids(&TWELVE).into_iter().collect());

    let delivered = bot.fake.delivered().len();
    let again = bot.send(&["lunch", "--date", "2023-04-10", "--json"]);
    assert!(again.status.success(), "{}", all_text(&again));
    assert_eq!(bot.fake.delivered().len(), delivered, "the second run sent");
    let deliveries = json(&again)["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone();
    assert_eq!(deliveries.len(), 13);
    assert!(
        deliveries.iter().all(|d| d["status"] == "skipped"),
        "{deliveries:?}"
    );
}

// ─── 2. a long menu in numbered parts ───────────────────────────────────────────────────

/// The DGU page in its real encoding, its selector and lunch lines from the ground truth.
fn dgu_truth() -> (String, Vec<(String, Vec<String>)>) {
    let text = std::fs::read_to_string(pages_dir().join("dgu-coop-week-2026-09-27.json"))
        .expect("read the DGU ground truth");
    let truth: Value = serde_json::from_str(&text).expect("ground truth is JSON");
    // "div#sdetail > table:nth-of-type(2)  (no id/class …)": the selector, then a remark.
    let selector = truth["table_selector"]
        .as_str()
        .expect("table_selector")
        .split("  (")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let groups = truth["days"]["2026-09-28"]["lunch"]
        .as_object()
        .expect("lunch on 2026-09-28")
        .iter()
        .map(|(label, lines)| {
            let lines = lines
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| l.as_str().unwrap_or_default().to_string())
                .collect();
            (label.clone(), lines)
        })
        .collect();
    (selector, groups)
}

#[test]
fn a_long_menu_arrives_as_numbered_parts_of_at_most_200_characters_in_order_everywhere() {
    let friends = &TWELVE[..3];
    let bot = Bot::new(friends);
    bot.fake.configure(|c| c.long_text = LongText::Reject);
    let (selector, groups) = dgu_truth();
    bot.config(
        "dgu-coop-week-2026-09-27-euckr",
        &selector,
        // Every line, as many parts as needed (max_parts = 0, noise kept).
        &format!(
            "{}[message]\nmax_parts = 0\nnoise = []\n",
            recipients(&[friends[0].1, friends[1].0, friends[2].1])
        ),
    );
    bot.login();
    let args = ["lunch", "--date", "2026-09-28"];

    let preview = bot.kbot(&["preview", "lunch", "--date", "2026-09-28", "--json"]);
    assert!(preview.status.success(), "{}", all_text(&preview));
    let planned: Vec<String> = json(&preview)["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            p["template_object"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();

    let output = bot.send(&args);
    assert!(output.status.success(), "{}", all_text(&output));

    let mine = bot.texts("me");
    let n = mine.len();
    assert!(n > 1, "a menu this long needs several parts: {mine:?}");
    assert_eq!(mine, planned, "what arrived is what preview showed");
    let title = mine[0].lines().next().unwrap_or_default().to_string();
    let title = title.rsplit_once(" (").map_or(title.as_str(), |(t, _)| t);
    for (i, text) in mine.iter().enumerate() {
        assert!(
            text.chars().count() <= 200,
            "part {} has {} characters",
            i + 1,
            text.chars().count()
        );
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(first, format!("{title} ({}/{n})", i + 1), "part {}", i + 1);
    }
    for (uuid, nick) in friends {
        assert_eq!(
            bot.texts(uuid),
            mine,
            "{nick} got other parts or another order"
        );
    }

    // Every lunch line of the ground truth arrives, each group's lines together and in
    // page order, even where a part boundary falls inside a group (the headings between
    // them name each restaurant once and each corner: docs/messages.md).
    let body: Vec<&str> = mine.iter().flat_map(|t| t.lines().skip(1)).collect();
    let dishes: Vec<&str> = body
        .iter()
        .copied()
        .filter(|l| !(l.starts_with("■ ") || (l.starts_with('[') && l.ends_with(']'))))
        .collect();
    for (label, lines) in &groups {
        assert!(
            dishes.windows(lines.len()).any(|w| w == lines.as_slice()),
            "{label}: {lines:?} not together in {dishes:#?}"
        );
    }
    assert_eq!(
        dishes.len(),
        groups.iter().map(|(_, l)| l.len()).sum::<usize>()
    );

    // Sent once: a second run sends none of the parts again.
    let delivered = bot.fake.delivered().len();
    assert_eq!(delivered, n * 4);
    let again = bot.send(&args);
    assert!(again.status.success(), "{}", all_text(&again));
    assert_eq!(bot.fake.delivered().len(), delivered);
}

// ─── 3. faults ──────────────────────────────────────────────────────────────────────────

#[test]
fn server_errors_and_a_reset_on_the_friends_call_still_serve_every_recipient_once() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(&twelve_as_configured(), "");
    bot.login();
    bot.fake.inject(FRIENDS_PATH, Fault::Reset);
    bot.fake.inject(FRIENDS_PATH, Fault::ServerError);
    bot.fake.inject(MEMO_PATH, Fault::ServerError);
    for _ in 0..2 {
        bot.fake.inject(FRIENDS_SEND_PATH, Fault::ServerError);
    }

    let output = bot.send(&JBNU_LUNCH);
    assert!(output.status.success(), "{}", all_text(&output));
    assert_eq!(bot.fake.pending_faults(), 0, "every fault was hit");
    assert_eq!(bot.fake.count(FRIENDS_PATH), 3, "reset, 500, answer");
    assert_eq!(bot.copies("me"), 1);
    for (uuid, nick) in TWELVE {
        assert_eq!(bot.copies(uuid), 1, "{nick}");
    }
    assert!(bot.statuses().values().all(|s| s == "sent"));
}

#[test]
fn a_daily_quota_refusal_fails_only_that_friend_and_history_shows_its_code() {
    let friends = &TWELVE[..3];
    let bot = Bot::new(friends);
    // The sender may send two messages today: the third receiver of the batch trips -532.
    bot.fake.configure(|c| c.sender_daily_quota = 2);
    bot.jbnu_to(&[friends[0].1, friends[1].1, friends[2].1], "");
    bot.login();

    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(batches(&bot.fake).len(), 1, "one call for three friends");
    let (refused, refused_nick) = friends[2];
    assert_eq!(bot.copies(refused), 0);
    for (uuid, _) in &friends[..2] {
        assert_eq!(bot.copies(uuid), 1);
    }
    assert_eq!(bot.copies("me"), 1);
    let text = stdout(&output);
    assert!(line_of(&text, refused).contains("-532"), "{text}");
    for (uuid, _) in &friends[..2] {
        assert!(!line_of(&text, uuid).contains("-532"), "{text}");
    }
    assert!(
        stderr(&output).contains(refused_nick),
        "the error names who was not served: {}",
        stderr(&output)
    );

    let rows = bot.history();
    let row = rows
        .iter()
        .find(|r| r["recipient"] == refused)
        .expect("a history row for the refused friend");
    assert_eq!(row["status"], "failed");
    assert_eq!(row["code"], -532);
    let others: Vec<&Value> = rows.iter().filter(|r| r["recipient"] != refused).collect();
    assert_eq!(others.len(), 3);
    assert!(others.iter().all(|r| r["status"] == "sent"), "{others:?}");

    let history = bot.kbot(&["history"]);
    assert!(history.status.success(), "{}", all_text(&history));
    let text = stdout(&history);
    let line = line_of(&text, refused);
    assert!(line.contains("failed") && line.contains("-532"), "{text}");
}

// ─── 4. kill -9 mid-run ─────────────────────────────────────────────────────────────────

/// Kill `child` with SIGKILL and reap it.
fn kill_9(mut child: Child) {
    child.kill().expect("SIGKILL kbot");
    let status = child.wait().expect("reap kbot");
    assert!(
        !status.success(),
        "kbot finished before the kill: {status:?}"
    );
}

/// A SQLite write lock on the ledger, held by the test: kbot's next ledger write waits for
/// it (busy timeout), which holds kbot right after Kakao accepted a call and before the
/// ledger records it.
struct LedgerLock {
    _held: rusqlite::Connection,
}

impl LedgerLock {
    fn take(bot: &Bot) -> LedgerLock {
        let conn = rusqlite::Connection::open(bot.env.data_dir().join("ledger.sqlite3"))
            .expect("open the ledger");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute_batch("BEGIN IMMEDIATE")
            .expect("take the ledger's write lock");
        LedgerLock { _held: conn }
    }
}

/// A `send-now` while another run (the daemon's, say) is sending waits for it, then finds
/// that run's deliveries settled and sends nothing twice.
#[cfg(target_os = "linux")]
#[test]
fn a_send_now_waits_while_another_run_is_sending_and_then_sends_nothing_twice() {
    use std::os::unix::fs::MetadataExt;

    let bot = Bot::new(&TWELVE[..2]);
    bot.jbnu_to(&twelve_as_configured()[..2], "");
    bot.login();
    // The test plays the other run: it holds the runs lock beside the ledger.
    let path = bot.env.data_dir().join(kbot::ledger::RUNS_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    lock.lock().unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let mut waiting = bot.spawn_send(&JBNU_LUNCH);
    let pid = waiting.id();
    wait_until(
        "send-now to wait for the runs lock",
        Duration::from_secs(20),
        || flock_waiters(inode).contains(&pid),
    );
    assert!(
        bot.fake.delivered().is_empty(),
        "nothing is sent while another run holds the lock"
    );

    // Meanwhile the other run delivered to me (its rows are in the ledger as sent).
    let ledger = kbot::ledger::Ledger::open(&kbot::ledger::path_in(&bot.env.data_dir())).unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2023, 4, 10).unwrap();
    let key = kbot::ledger::Key::new(date, kbot::Meal::Lunch, "me", 1);
    let now = kbot::clock::Clock::now(&kbot::clock::SystemClock);
    assert!(ledger.mark_pending(&key, None, false, now).unwrap());
    ledger.mark_sent(&key, now).unwrap();
    drop(ledger);
    drop(lock);

    assert!(waiting.wait().unwrap().success());
    assert_eq!(
        bot.copies("me"),
        0,
        "what the other run sent is not sent again"
    );
    for (uuid, nick) in &TWELVE[..2] {
        assert_eq!(bot.copies(uuid), 1, "{nick} ({uuid})");
    }
}

#[test]
fn kill_9_mid_send_then_send_now_again_leaves_nobody_without_the_menu() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(&twelve_as_configured(), "");
    bot.login();
    bot.fake.configure(|c| c.delay = KAKAO_PAUSE);

    let child = bot.spawn_send(&JBNU_LUNCH);
    // The second of three batches has reached the fake and waits in its delay.
    wait_until("the second batch", Duration::from_secs(20), || {
        bot.fake.count(FRIENDS_SEND_PATH) >= 2
    });
    kill_9(child);
    let at_kill = bot.statuses();
    let pending: BTreeSet<&String> = at_kill
        .iter()
        .filter(|(_, s)| *s == "pending")
        .map(|(r, _)| r)
        .collect();
    assert!(
        bot.fake.delivered().len() < 13,
        "the kill landed after the run"
    );
    // Only the call in flight is pending: the batch not tried yet has no row at all.
    let in_flight = batches(&bot.fake).pop().unwrap_or_default();
    assert_eq!(
        pending,
        in_flight.iter().collect::<BTreeSet<_>>(),
        "{at_kill:?}"
    );
    // And nobody Kakao was not asked about yet has a row at all.
    let asked: BTreeSet<String> = batches(&bot.fake).into_iter().flatten().collect();
    assert!(
        at_kill.keys().all(|r| r == "me" || asked.contains(r)),
        "{at_kill:?}"
    );
    assert!(asked.len() < 12, "every friend was asked before the kill");

    bot.fake.configure(|c| c.delay = Duration::ZERO);
    let again = bot.send(&JBNU_LUNCH);
    assert!(again.status.success(), "{}", all_text(&again));
    for recipient in std::iter::once("me").chain(TWELVE.iter().map(|(u, _)| *u)) {
        let copies = bot.copies(recipient);
        assert!(copies >= 1, "{recipient} is missing the menu");
        assert!(
            copies == 1 || (copies == 2 && pending.contains(&recipient.to_string())),
            "{recipient} got {copies} copies; its row at the kill was {:?}",
            at_kill.get(recipient)
        );
    }
    assert!(bot.statuses().values().all(|s| s == "sent"));
}

#[test]
fn a_kill_after_kakao_accepted_a_batch_duplicates_only_that_batch() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(&twelve_as_configured(), "");
    bot.login();
    bot.fake.configure(|c| c.delay = KAKAO_PAUSE);

    let child = bot.spawn_send(&JBNU_LUNCH);
    wait_until("the first batch", Duration::from_secs(20), || {
        bot.fake.count(FRIENDS_SEND_PATH) >= 1
    });
    // Kakao is holding the first batch; hold the ledger so its answer cannot be recorded.
    let lock = LedgerLock::take(&bot);
    let first = batches(&bot.fake).remove(0);
    wait_until(
        "Kakao to accept the first batch",
        Duration::from_secs(20),
        || first.iter().all(|u| bot.copies(u) == 1),
    );
    kill_9(child);
    drop(lock);

    let at_kill = bot.statuses();
    for uuid in &first {
        assert_eq!(
            at_kill.get(uuid).map(String::as_str),
            Some("pending"),
            "{uuid}"
        );
    }
    let again = bot.send(&JBNU_LUNCH);
    assert!(again.status.success(), "{}", all_text(&again));
    for (uuid, nick) in TWELVE {
        let expected = if first.contains(&uuid.to_string()) {
            2
        } else {
            1
        };
        assert_eq!(bot.copies(uuid), expected, "{nick} ({uuid})");
    }
    assert_eq!(bot.copies("me"), 1);
}

#[test]
fn at_most_once_turns_an_interrupted_batch_into_unknown_and_never_resends_it() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(
        &twelve_as_configured(),
        "[message]\ndelivery = \"at-most-once\"\n",
    );
    bot.login();
    bot.fake.configure(|c| c.delay = KAKAO_PAUSE);

    let child = bot.spawn_send(&JBNU_LUNCH);
    wait_until("the first batch", Duration::from_secs(20), || {
        bot.fake.count(FRIENDS_SEND_PATH) >= 1
    });
    let lock = LedgerLock::take(&bot);
    let first = batches(&bot.fake).remove(0);
    wait_until(
        "Kakao to accept the first batch",
        Duration::from_secs(20),
        || first.iter().all(|u| bot.copies(u) == 1),
    );
    kill_9(child);
    drop(lock);
    let pending: Vec<String> = bot
        .statuses()
        .into_iter()
        .filter(|(_, s)| s == "pending")
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        pending.iter().collect::<BTreeSet<_>>(),
        first.iter().collect::<BTreeSet<_>>(),
        "only the batch in flight is pending"
    );

    bot.fake.configure(|c| c.delay = Duration::ZERO);
    let again = bot.send(&JBNU_LUNCH);
    assert_eq!(again.status.code(), Some(5), "{}", all_text(&again));
    let after = bot.statuses();
    for (uuid, nick) in TWELVE {
        assert_eq!(bot.copies(uuid), 1, "{nick} ({uuid})");
        let expected = if first.contains(&uuid.to_string()) {
            "unknown"
        } else {
            "sent"
        };
        assert_eq!(
            after.get(uuid).map(String::as_str),
            Some(expected),
            "{nick}"
        );
    }
    // And a third run still leaves them alone.
    let third = bot.send(&JBNU_LUNCH);
    assert_eq!(third.status.code(), Some(5), "{}", all_text(&third));
    assert!(TWELVE.iter().all(|(uuid, _)| bot.copies(uuid) == 1));
}

#[test]
fn at_most_once_does_not_retry_a_send_whose_answer_was_lost() {
    let bot = Bot::new(&TWELVE[..2]);
    bot.jbnu_to(
        &[TWELVE[0].1, TWELVE[1].1],
        "[message]\ndelivery = \"at-most-once\"\n",
    );
    bot.login();
    bot.fake
        .inject(FRIENDS_SEND_PATH, Fault::ResetAfterRecording);

    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 1, "never retried");
    let statuses = bot.statuses();
    for (uuid, _) in &TWELVE[..2] {
        assert_eq!(bot.copies(uuid), 1);
        assert_eq!(statuses.get(*uuid).map(String::as_str), Some("unknown"));
    }
    let again = bot.send(&JBNU_LUNCH);
    assert_eq!(again.status.code(), Some(5), "{}", all_text(&again));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 1, "not resent");
}

// ─── 5. an access token that expires mid-run ────────────────────────────────────────────

#[test]
fn an_access_token_that_expires_mid_run_is_refreshed_once_and_the_run_completes() {
    let bot = Bot::new(&TWELVE);
    bot.jbnu_to(&twelve_as_configured(), "");
    bot.login();
    bot.fake.configure(|c| c.delay = KAKAO_PAUSE / 2);

    let child = bot.spawn_send(&JBNU_LUNCH);
    // kbot holds a token it believes good for hours; Kakao expires it after the first call.
    wait_until("the friends call", Duration::from_secs(20), || {
        bot.fake.count(FRIENDS_PATH) >= 1
    });
    bot.fake.expire_access_tokens();
    let status = child.wait_with_output().expect("kbot finishes").status;
    assert!(status.success(), "{status:?}");

    assert!(bot.fake.saw_error_code("-401"), "the old token was refused");
    let refreshes = bot
        .fake
        .requests_to(TOKEN_PATH)
        .iter()
        .filter(|r| r.form_field("grant_type") == Some("refresh_token"))
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(bot.copies("me"), 1);
    for (uuid, nick) in TWELVE {
        assert_eq!(bot.copies(uuid), 1, "{nick}");
    }
}

// ─── recipients ─────────────────────────────────────────────────────────────────────────

#[test]
fn an_unknown_or_ambiguous_nickname_is_reported_and_the_others_are_still_served() {
    let bot = Bot::new(&TWELVE[..3]);
    bot.fake.add_friend("fuuid-kim-1", "김민수", true);
    bot.fake.add_friend("fuuid-kim-2", "김민수", true);
    // "이서현" is one letter off "이서연".
    bot.jbnu_to(&["이서현", "김민수", TWELVE[1].1, TWELVE[2].0], "");
    bot.login();

    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    let text = stdout(&output);
    let unknown = line_of(&text, "\"이서현\"");
    assert!(
        unknown.contains("closest") && unknown.contains("이서연"),
        "{text}"
    );
    let ambiguous = line_of(&text, "\"김민수\"");
    assert!(
        ambiguous.contains("fuuid-kim-1") && ambiguous.contains("fuuid-kim-2"),
        "{text}"
    );
    assert_eq!(bot.copies("me"), 1);
    assert_eq!(bot.copies(TWELVE[1].0), 1);
    assert_eq!(bot.copies(TWELVE[2].0), 1);
    for nobody in [TWELVE[0].0, "fuuid-kim-1", "fuuid-kim-2"] {
        assert_eq!(bot.copies(nobody), 0, "{nobody}");
    }
    assert!(stderr(&output).contains("이서현"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("hint: correct `friends` under [recipients]"),
        "{}",
        stderr(&output)
    );
    let history = stdout(&bot.kbot(&["history"]));
    let note = line_of(&history, "note:");
    assert!(
        note.contains("이서현") && note.contains("김민수"),
        "{history}"
    );
}

#[test]
fn a_friend_who_blocks_messages_is_skipped_with_a_warning() {
    let bot = Bot::new(&TWELVE[..2]);
    bot.fake.add_friend("fuuid-blocked", "차단한친구", false);
    bot.jbnu_to(&[TWELVE[0].1, "차단한친구", TWELVE[1].1], "");
    bot.login();

    let output = bot.send(&JBNU_LUNCH);
    assert!(output.status.success(), "{}", all_text(&output));
    assert!(
        line_of(&stdout(&output), "차단한친구").contains("skipped"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("차단한친구"),
        "{}",
        stderr(&output)
    );
    assert!(
        batches(&bot.fake)
            .iter()
            .flatten()
            .all(|u| u != "fuuid-blocked"),
        "kbot asked Kakao to message a friend who blocks it"
    );
    assert_eq!(bot.copies(TWELVE[0].0), 1);
    assert_eq!(bot.copies(TWELVE[1].0), 1);
}

#[test]
fn a_missing_consent_names_the_login_scope_that_fixes_it() {
    let bot = Bot::new(&TWELVE[..1]);
    bot.jbnu_to(&[TWELVE[0].1], "");
    bot.login();

    // No talk_message consent: "send to me" is refused with -402.
    bot.fake.configure(|c| c.scopes = vec!["friends".into()]);
    let output = bot.send(&["lunch", "--date", "2023-04-10", "--to", "me"]);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert!(
        stderr(&output).contains("hint: kbot login --scope talk_message"),
        "{}",
        all_text(&output)
    );
    assert!(
        line_of(&stdout(&output), "me").contains("-402"),
        "{}",
        all_text(&output)
    );

    // No friends consent: the friends list is refused, "me" still gets the menu.
    bot.fake
        .configure(|c| c.scopes = vec!["talk_message".into()]);
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert!(
        stderr(&output).contains("hint: kbot login --scope friends"),
        "{}",
        all_text(&output)
    );
    assert_eq!(bot.copies("me"), 1);
    assert_eq!(bot.copies(TWELVE[0].0), 0);
    assert!(
        stdout(&output).contains("cannot read the friends list"),
        "{}",
        all_text(&output)
    );
    // History says so too, instead of looking like a run that served everyone.
    let history = stdout(&bot.kbot(&["history"]));
    assert!(
        line_of(&history, "note:").contains("cannot read the friends list"),
        "{history}"
    );
}

#[test]
fn to_me_and_to_friends_each_send_only_their_part_of_the_run() {
    let bot = Bot::new(&TWELVE[..2]);
    bot.jbnu_to(&[TWELVE[0].1, TWELVE[1].0], "");
    bot.login();

    let me = bot.send(&["lunch", "--date", "2023-04-10", "--to", "me"]);
    assert!(me.status.success(), "{}", all_text(&me));
    assert_eq!(bot.copies("me"), 1);
    assert_eq!(bot.fake.count(FRIENDS_PATH), 0, "--to me reads no friends");
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 0);

    let friends = bot.send(&["lunch", "--date", "2023-04-10", "--to", "friends"]);
    assert!(friends.status.success(), "{}", all_text(&friends));
    assert_eq!(bot.copies("me"), 1, "--to friends sent to me");
    assert_eq!(bot.copies(TWELVE[0].0), 1);
    assert_eq!(bot.copies(TWELVE[1].0), 1);
}

#[test]
fn force_sends_again_what_was_already_delivered() {
    let bot = Bot::new(&TWELVE[..2]);
    bot.jbnu_to(&[TWELVE[0].1, TWELVE[1].0], "");
    bot.login();
    let first = bot.send(&JBNU_LUNCH);
    assert!(first.status.success(), "{}", all_text(&first));

    let forced = bot.send(&["lunch", "--date", "2023-04-10", "--force"]);
    assert!(forced.status.success(), "{}", all_text(&forced));
    assert_eq!(bot.copies("me"), 2);
    assert_eq!(bot.copies(TWELVE[0].0), 2);
    assert_eq!(bot.copies(TWELVE[1].0), 2);
    assert_eq!(bot.texts("me")[0], bot.texts("me")[1]);
}

#[test]
fn a_page_that_changed_sends_nothing_to_friends_and_a_warning_to_me() {
    let bot = Bot::new(&TWELVE[..2]);
    bot.config(
        JBNU,
        "table.menu-that-is-gone",
        &recipients(&[TWELVE[0].1, TWELVE[1].0]),
    );
    bot.login();

    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 0);
    let mine = bot.texts("me");
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(
        mine[0].contains("학생식당") && mine[0].contains("⚠"),
        "{}",
        mine[0]
    );
    assert!(
        stdout(&output).contains("not_found"),
        "{}",
        all_text(&output)
    );
}

// ─── preview ────────────────────────────────────────────────────────────────────────────

#[test]
fn preview_shows_friends_as_uuids_when_logged_in_and_as_configured_names_offline() {
    let bot = Bot::new(&TWELVE[..3]);
    bot.jbnu_to(&[TWELVE[0].1, TWELVE[1].0, TWELVE[2].1], "");
    let preview = |bot: &Bot| {
        let output = bot.kbot(&["preview", "lunch", "--date", "2023-04-10", "--json"]);
        assert!(output.status.success(), "{}", all_text(&output));
        json(&output)["parts"][0]["recipients"].clone()
    };

    // No login: the names as written in the config, and no call to Kakao.
    assert_eq!(
        preview(&bot),
        serde_json::json!(["me", TWELVE[0].1, TWELVE[1].0, TWELVE[2].1])
    );
    assert_eq!(bot.fake.requests().len(), 0);

    bot.login();
    assert_eq!(
        preview(&bot),
        serde_json::json!(["me", TWELVE[0].0, TWELVE[1].0, TWELVE[2].0])
    );
    let text = bot.kbot(&["preview", "lunch", "--date", "2023-04-10"]);
    assert!(text.status.success(), "{}", all_text(&text));
    let text = stdout(&text);
    let header = line_of(&text, "part 1/1");
    for (uuid, nick) in &TWELVE[..3] {
        assert!(header.contains(uuid) && header.contains(nick), "{header}");
    }
    let dry = bot.send(&[
        "lunch",
        "--date",
        "2023-04-10",
        "--dry-run",
        "--to",
        "friends",
        "--json",
    ]);
    assert!(dry.status.success(), "{}", all_text(&dry));
    assert_eq!(
        json(&dry)["parts"][0]["recipients"],
        serde_json::json!([TWELVE[0].0, TWELVE[1].0, TWELVE[2].0])
    );
    assert_eq!(
        bot.fake.count(FRIENDS_SEND_PATH),
        0,
        "preview sent something"
    );
    assert_eq!(bot.fake.count(MEMO_PATH), 0, "preview sent something");
}

// ─── 7. machine-readable history and friends, and history for people ────────────────────

#[test]
fn history_and_friends_json_follow_the_documented_shapes() {
    let bot = Bot::new(&TWELVE[..3]);
    bot.fake.add_friend("fuuid-blocked", "차단한친구", false);
    bot.fake.set_favorite(TWELVE[0].0, true);
    bot.fake.configure(|c| c.sender_daily_quota = 2);
    bot.jbnu_to(&[TWELVE[0].1, TWELVE[1].1, TWELVE[2].1], "");
    bot.login();
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));

    let rows = bot.history();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let keys: BTreeSet<&str> = row
            .as_object()
            .expect("each row is an object")
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "date",
            "meal",
            "recipient",
            "nickname",
            "part",
            "status",
            "code",
            "detail",
            "updated_at",
        ] {
            assert!(keys.contains(key), "{key} missing from {row}");
        }
        assert_eq!(row["date"], "2023-04-10");
        assert_eq!(row["meal"], "lunch");
        let recipient = row["recipient"].as_str().expect("recipient is a string");
        assert!(
            recipient == "me" || recipient.starts_with("fuuid-"),
            "{row}"
        );
        assert!(
            row["nickname"].is_string() || row["nickname"].is_null(),
            "{row}"
        );
        assert_eq!(row["part"].as_u64(), Some(1), "{row}");
        let status = row["status"].as_str().expect("status is a string");
        assert!(
            ["pending", "sent", "failed", "unknown", "missed"].contains(&status),
            "{row}"
        );
        assert!(row["code"].is_i64() || row["code"].is_null(), "{row}");
        assert!(
            row["detail"].is_string() || row["detail"].is_null(),
            "{row}"
        );
        let at = row["updated_at"].as_str().expect("updated_at is a string");
        chrono::DateTime::parse_from_rfc3339(at).expect("updated_at is RFC 3339");
    }
    let failed = rows
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("failed");
    assert_eq!(failed["code"], -532);
    assert_eq!(failed["nickname"], TWELVE[2].1);

    let friends = bot.kbot(&["friends", "--json"]);
    assert!(friends.status.success(), "{}", all_text(&friends));
    let list = json(&friends);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 4);
    for friend in list {
        let keys: BTreeSet<&str> = friend
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["uuid", "nickname", "allowed_msg", "favorite"]),
            "{friend}"
        );
        assert!(friend["uuid"].is_string() && friend["nickname"].is_string());
        assert!(friend["allowed_msg"].is_boolean() && friend["favorite"].is_boolean());
    }
    let by_uuid = |uuid: &str| {
        list.iter()
            .find(|f| f["uuid"] == uuid)
            .unwrap_or_else(|| panic!("{uuid} not listed"))
            .clone()
    };
    assert_eq!(by_uuid("fuuid-blocked")["allowed_msg"], false);
    assert_eq!(by_uuid(TWELVE[0].0)["favorite"], true);
    assert_eq!(by_uuid(TWELVE[0].0)["nickname"], TWELVE[0].1);

    // The same list for people: one line each, the uuid column lined up.
    let people = bot.kbot(&["friends"]);
    assert!(people.status.success(), "{}", all_text(&people));
    let text = stdout(&people);
    let header = column_of(line_of(&text, "nickname"), "uuid");
    for friend in list {
        let uuid = friend["uuid"].as_str().unwrap_or_default();
        let line = line_of(&text, uuid);
        assert_eq!(column_of(line, uuid), header, "misaligned:\n{text}");
        let allowed = friend["allowed_msg"] == true;
        assert!(
            line.contains(if allowed { "allowed" } else { "blocked" }),
            "{text}"
        );
    }
}

#[test]
fn history_shows_sent_failed_unknown_and_missed_at_a_glance() {
    let bot = Bot::new(&TWELVE[..3]);
    bot.fake.configure(|c| c.sender_daily_quota = 2);
    bot.jbnu_to(
        &[TWELVE[0].1, TWELVE[1].1, TWELVE[2].1],
        "[message]\ndelivery = \"at-most-once\"\n",
    );
    bot.login();
    // Lunch: two friends get it, the third hits the daily quota (-532).
    let lunch = bot.send(&JBNU_LUNCH);
    assert_eq!(lunch.status.code(), Some(5), "{}", all_text(&lunch));
    // Dinner, to me only: the answer is lost, so (at-most-once) its fate is unknown.
    bot.fake.inject(MEMO_PATH, Fault::ResetAfterRecording);
    let dinner = bot.send(&["dinner", "--date", "2023-04-10", "--to", "me"]);
    assert_eq!(dinner.status.code(), Some(5), "{}", all_text(&dinner));
    // Breakfast on the next day passed while kbot was not running (the daemon records it).
    let ledger = kbot::ledger::Ledger::open(&bot.env.data_dir().join("ledger.sqlite3"))
        .expect("open the ledger");
    let tuesday = chrono::NaiveDate::from_ymd_opt(2023, 4, 11).expect("a date");
    ledger
        .record_missed(
            tuesday,
            kbot::meal::Meal::Breakfast,
            kbot::clock::Clock::now(&kbot::clock::SystemClock),
        )
        .expect("record a missed slot");
    drop(ledger);

    let output = bot.kbot(&["history"]);
    assert!(output.status.success(), "{}", all_text(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let find = |first: &str, needle: &[&str]| {
        lines
            .iter()
            .position(|l| {
                l.split_whitespace().next() == Some(first) && needle.iter().all(|n| l.contains(n))
            })
            .unwrap_or_else(|| panic!("no line {first} … {needle:?} in:\n{text}"))
    };
    // Newest slot first, each under a heading that counts its recipients by outcome.
    let missed = find("2023-04-11", &["breakfast", "missed"]);
    let dinner_at = find("2023-04-10", &["dinner", "1 unknown"]);
    let lunch_at = find("2023-04-10", &["lunch", "3 sent, 1 failed"]);
    assert!(missed < dinner_at && dinner_at < lunch_at, "{text}");
    let unknown = find("unknown", &["me"]);
    assert!(dinner_at < unknown && unknown < lunch_at, "{text}");
    let failed = find("failed", &[TWELVE[2].1, TWELVE[2].0, "-532"]);
    assert!(lunch_at < failed, "{text}");
    let sent: Vec<usize> = ["me", TWELVE[0].1, TWELVE[1].1]
        .iter()
        .map(|who| find("sent", &[who]))
        .collect();
    // Problems come before what went well, so they are seen first.
    assert!(sent.iter().all(|at| failed < *at), "{text}");
    assert!(
        !text.contains("note:"),
        "nothing more to say than the rows:\n{text}"
    );
    // The columns line up: every entry's parts column starts at the same place, although
    // Hangul nicknames are twice as wide as Latin letters.
    let columns: BTreeSet<usize> = lines
        .iter()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with("note:"))
        .map(|l| {
            let before = &l[..l.find(" #").expect("a parts column")];
            unicode_width::UnicodeWidthStr::width(before)
        })
        .collect();
    assert_eq!(columns.len(), 1, "{text}");
}

// ─── the owner's copy, copies that cannot multiply; quotas stop calls ─────────────────────

/// Send with a page whose selector is gone (a warning to me), then with the right one:
/// "me" ends up with the warning and every part of the menu.
fn warning_then_fixed_menu(bot: &Bot, page: &str, table: &str, args: &[&str]) {
    bot.config(page, "table.menu-that-is-gone", &recipients(&[]));
    let broken = bot.send(args);
    assert_eq!(broken.status.code(), Some(5), "{}", all_text(&broken));
    let warned = bot.texts("me");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains('⚠'), "{warned:?}");

    bot.config(page, table, &recipients(&[]));
    let preview = bot.kbot(&[&["preview"], args, &["--json"]].concat());
    assert!(preview.status.success(), "{}", all_text(&preview));
    let planned: Vec<String> = json(&preview)["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            p["template_object"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let fixed = bot.send(args);
    assert!(fixed.status.success(), "{}", all_text(&fixed));
    let mine = bot.texts("me");
    assert_eq!(mine[0], warned[0]);
    assert_eq!(mine[1..], planned[..], "every part of the menu reached me");
    let kinds: BTreeSet<String> = bot
        .history()
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            format!("{}:{}:{}", text(&r["kind"]), r["part"], text(&r["status"]))
        })
        .collect();
    assert!(kinds.contains("warning:1:sent"), "{kinds:?}");
    assert!(kinds.contains("menu:1:sent"), "{kinds:?}");
    let text = stdout(&bot.kbot(&["history"]));
    assert!(
        text.contains("me (warning)"),
        "the warning has its own line: {text}"
    );
}

#[test]
fn after_a_warning_a_fixed_one_part_menu_still_reaches_me() {
    let bot = Bot::new(&[]);
    bot.login();
    warning_then_fixed_menu(&bot, JBNU, JBNU_TABLE, &JBNU_LUNCH);
    assert_eq!(bot.copies("me"), 2);
}

#[test]
fn after_a_warning_every_part_of_a_fixed_long_menu_reaches_me() {
    let bot = Bot::new(&[]);
    bot.login();
    let (selector, _) = dgu_truth();
    warning_then_fixed_menu(
        &bot,
        "dgu-coop-week-2026-09-27-euckr",
        &selector,
        &["lunch", "--date", "2026-09-28"],
    );
    assert!(bot.copies("me") > 2, "a long menu in several parts");
}

#[test]
fn a_reset_after_kakao_accepted_a_send_brings_at_most_two_copies_whatever_reruns_follow() {
    let friends = &TWELVE[..2];
    let bot = Bot::new(friends);
    bot.jbnu_to(&[friends[0].1, friends[1].1], "");
    bot.login();
    // Kakao takes every call, and every answer is lost: for me and for the friends' batch.
    for _ in 0..4 {
        bot.fake
            .inject(FRIENDS_SEND_PATH, Fault::ResetAfterRecording);
        bot.fake.inject(MEMO_PATH, Fault::ResetAfterRecording);
    }
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 2, "one retry, no more");
    for rerun in 0..2 {
        let again = bot.send(&JBNU_LUNCH);
        assert_eq!(
            again.status.code(),
            Some(5),
            "rerun {rerun}: {}",
            all_text(&again)
        );
    }
    for who in ["me", friends[0].0, friends[1].0] {
        assert_eq!(bot.copies(who), 2, "{who}");
    }
    let statuses = bot.statuses();
    assert!(statuses.values().all(|s| s == "unknown"), "{statuses:?}");
    let text = stdout(&bot.kbot(&["history"]));
    assert!(text.contains("unknown"), "{text}");
}

#[test]
fn one_lost_answer_is_retried_once_and_the_message_is_then_recorded_as_sent() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    bot.jbnu_to(&[friends[0].1], "");
    bot.login();
    bot.fake
        .inject(FRIENDS_SEND_PATH, Fault::ResetAfterRecording);
    let output = bot.send(&JBNU_LUNCH);
    assert!(output.status.success(), "{}", all_text(&output));
    assert_eq!(bot.copies(friends[0].0), 2, "the lost answer cost one copy");
    assert_eq!(bot.copies("me"), 1);
    assert!(bot.statuses().values().all(|s| s == "sent"));
    let again = bot.send(&JBNU_LUNCH);
    assert!(again.status.success(), "{}", all_text(&again));
    assert_eq!(bot.copies(friends[0].0), 2);
}

#[test]
fn after_a_receivers_quota_error_no_further_part_is_sent_to_that_friend() {
    let friends = &TWELVE[..2];
    let bot = Bot::new(friends);
    // Each friend may receive one message today: part 2 trips -533 for both.
    bot.fake.configure(|c| c.receiver_daily_quota = 1);
    let (selector, _) = dgu_truth();
    bot.config(
        "dgu-coop-week-2026-09-27-euckr",
        &selector,
        &format!(
            "[message]\nmax_parts = 0\n{}",
            recipients(&[friends[0].1, friends[1].1])
        ),
    );
    bot.login();
    let output = bot.send(&["lunch", "--date", "2026-09-28"]);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    let parts = bot.copies("me");
    assert!(parts > 2, "a long menu: {parts} parts");
    assert_eq!(
        bot.fake.count(FRIENDS_SEND_PATH),
        2,
        "part 1 went out, part 2 met the quota, and kbot stopped calling"
    );
    let rows = bot.history();
    let stopped = rows
        .iter()
        .filter(|r| r["recipient"] != "me" && r["status"] == "failed")
        .count();
    assert_eq!(
        stopped,
        2 * (parts - 1),
        "every later part is recorded as not sent"
    );
}

#[test]
fn after_the_senders_daily_quota_nothing_more_goes_to_friends_that_day() {
    let friends = &TWELVE[..3];
    let bot = Bot::new(friends);
    bot.fake.configure(|c| c.sender_daily_quota = 2);
    bot.jbnu_to(&[friends[0].1, friends[1].1, friends[2].1], "");
    bot.login();
    let first = bot.send(&JBNU_LUNCH);
    assert_eq!(first.status.code(), Some(5), "{}", all_text(&first));
    let calls = bot.fake.count(FRIENDS_SEND_PATH);
    // The same day, another meal: no friends call at all.
    let dinner = bot.send(&["dinner", "--date", "2023-04-10"]);
    assert_eq!(dinner.status.code(), Some(5), "{}", all_text(&dinner));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), calls);
    let text = stdout(&dinner);
    assert!(text.contains("-532"), "{text}");
}

// ─── the page cache ────────────────────────────────────────────────────────────

impl Bot {
    /// One source: the week grid served by `site`, to me and `friends`.
    fn site_to(&self, site: &PageServer, friends: &[&str]) {
        self.env.write_config(&format!(
            "{}[[source]]\nname = \"학생식당\"\nurl = \"{}\"\ntable = \"table.menu\"\n{}",
            kakao_section(&self.fake.url(), CLIENT_ID),
            site.url,
            recipients(friends)
        ));
    }
}

#[test]
fn a_site_down_at_lunch_is_served_from_the_copy_kept_at_breakfast_and_history_says_so() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    let site = PageServer::start();
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    site.serve(&week_page(monday, &["쌀밥", "미역국"]));
    bot.site_to(&site, &[friends[0].1]);
    bot.login();

    let breakfast = bot.send(&["breakfast", "--date", "2026-12-01"]);
    assert!(breakfast.status.success(), "{}", all_text(&breakfast));
    // Asked again while the page is unchanged: a conditional request and a 304.
    let early = bot.kbot(&["send-now", "breakfast", "--date", "2026-12-01"]);
    assert!(early.status.success(), "{}", all_text(&early));
    assert!(
        site.requests()
            .last()
            .is_some_and(|r| r.contains("if-none-match: \"v1\"")),
        "{:?}",
        site.requests()
    );
    assert_eq!(site.statuses().last(), Some(&304));

    site.go_down();
    let lunch = bot.send(&["lunch", "--date", "2026-12-01"]);
    assert!(lunch.status.success(), "{}", all_text(&lunch));
    let got = bot.texts(friends[0].0);
    assert_eq!(got.len(), 2, "breakfast and lunch: {got:?}");
    assert!(got[1].contains("미역국"), "{got:?}");
    let rows = bot.history();
    let lunch_row = rows
        .iter()
        .find(|r| r["meal"] == "lunch" && r["recipient"] == friends[0].0)
        .expect("a lunch row");
    assert_eq!(lunch_row["status"], "sent");
    assert!(
        lunch_row["run_detail"]
            .as_str()
            .is_some_and(|d| d.contains("cached")),
        "{lunch_row}"
    );
}

#[test]
fn a_cached_copy_of_last_weeks_page_is_never_sent_for_this_week() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    let site = PageServer::start();
    let last_week = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    site.serve(&week_page(last_week, &["지난주", "메뉴"]));
    bot.site_to(&site, &[friends[0].1]);
    bot.login();
    let kept = bot.send(&["lunch", "--date", "2026-11-27"]);
    assert!(kept.status.success(), "{}", all_text(&kept));

    site.go_down();
    let output = bot.send(&["lunch", "--date", "2026-12-01"]);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(
        bot.texts(friends[0].0).len(),
        1,
        "only last week's own lunch"
    );
    let mine = bot.texts("me");
    assert!(mine.last().is_some_and(|t| t.contains('⚠')), "{mine:?}");
    assert!(
        stdout(&output).contains("fetch_failed"),
        "{}",
        all_text(&output)
    );
}

/// A page that shows the day's menu without saying which day.
const DAY_VIEW: &str = "<html><body><table><tr><th>구분</th><th>메뉴</th></tr>\
<tr><th>중식</th><td>김밥<br>라면</td></tr></table></body></html>";

#[test]
fn an_undated_page_cached_the_day_before_is_never_sent_as_the_days_menu() {
    // Table mode told the page is always today's, and css mode (which reads a page that
    // states no date as the date asked).
    for how in [
        "table = \"auto\"\nundated = \"today\"\n",
        "[source.select]\nlunch = \"td\"\n",
    ] {
        let friends = &TWELVE[..1];
        let bot = Bot::new(friends);
        let site = PageServer::start();
        site.serve(DAY_VIEW);
        bot.env.write_config(&format!(
            "{}[[source]]\nname = \"학생식당\"\nurl = \"{}\"\n{how}{}",
            kakao_section(&bot.fake.url(), CLIENT_ID),
            site.url,
            recipients(&[friends[0].1])
        ));
        bot.login();
        let today = bot.send(&["lunch", "--date", "today"]);
        assert!(today.status.success(), "{how}: {}", all_text(&today));
        assert_eq!(bot.texts(friends[0].0).len(), 1);

        // Tomorrow with the site down: today's copy of a page that states no date is no
        // menu.
        site.go_down();
        let tomorrow = bot.send(&["lunch", "--date", "tomorrow", "--json"]);
        assert_eq!(
            tomorrow.status.code(),
            Some(5),
            "{how}: {}",
            all_text(&tomorrow)
        );
        assert_eq!(
            bot.texts(friends[0].0).len(),
            1,
            "{how}: nothing more to friends"
        );
        let out = stdout(&tomorrow);
        assert!(out.contains("fetch_failed"), "{how}: {out}");
        assert!(out.contains("not served from the cache"), "{how}: {out}");

        // The same day (no lunch slot configured), the copy stands in.
        let again = bot.send(&["lunch", "--date", "today", "--force"]);
        assert!(again.status.success(), "{how}: {}", all_text(&again));
        let got = bot.texts(friends[0].0);
        assert_eq!(got.len(), 2, "{how}: {got:?}");
        assert!(got[1].contains("라면"), "{how}: {got:?}");
    }
}

#[test]
fn a_cut_short_cached_copy_is_not_trusted_on_a_304_the_page_is_fetched_whole() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    let site = PageServer::start();
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    site.serve(&week_page(monday, &["쌀밥", "미역국", "깍두기"]));
    bot.site_to(&site, &[friends[0].1]);
    bot.login();
    let breakfast = bot.send(&["breakfast", "--date", "2026-12-01"]);
    assert!(breakfast.status.success(), "{}", all_text(&breakfast));

    // The kept copy loses its tail (a full disk, a crash, a hand edit).
    let kept: Vec<_> = std::fs::read_dir(bot.env.data_dir().join("pages"))
        .expect("the page cache")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let whole = std::fs::read(&kept[0]).unwrap();
    let cut = whole.len() - whole.len() / 3;
    std::fs::write(&kept[0], &whole[..cut]).unwrap();

    let lunch = bot.send(&["lunch", "--date", "2026-12-01"]);
    assert!(lunch.status.success(), "{}", all_text(&lunch));
    let last = site.requests().last().cloned().unwrap_or_default();
    assert!(!last.contains("if-none-match"), "{last}");
    assert_eq!(site.statuses().last(), Some(&200));
    let got = bot.texts(friends[0].0);
    assert!(
        got[1].contains("쌀밥") && got[1].contains("깍두기"),
        "{got:?}"
    );
}

// ─── send-now in a terminal during an outage ───────────────────────────────────

#[test]
fn send_now_during_an_outage_says_how_to_keep_trying_and_wait_rides_it_out_with_progress() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    bot.jbnu_to(&[friends[0].1], "[schedule]\ncatch_up = \"2m\"\n");
    bot.login();

    bot.fake.outage_for(Duration::from_secs(30));
    let given_up = bot.send(&JBNU_LUNCH);
    assert_eq!(given_up.status.code(), Some(5), "{}", all_text(&given_up));
    assert!(
        stderr(&given_up).contains("hint: kbot send-now lunch --date 2023-04-10 --wait"),
        "{}",
        stderr(&given_up)
    );

    bot.fake.outage_for(Duration::from_secs(2));
    let waited = bot.send(&["lunch", "--date", "2023-04-10", "--wait"]);
    assert!(waited.status.success(), "{}", all_text(&waited));
    let progress = stderr(&waited);
    assert!(
        progress.contains("trying again in") && progress.contains("giving up at"),
        "{progress}"
    );
    assert_eq!(bot.copies("me"), 1);
    assert_eq!(bot.copies(friends[0].0), 1);
    assert!(
        bot.statuses().values().all(|s| s == "sent"),
        "{:?}",
        bot.statuses()
    );
}

#[test]
fn a_page_problem_however_long_is_one_warning_to_me_and_nothing_to_friends() {
    let friends = &TWELVE[..1];
    let bot = Bot::new(friends);
    let page = pages_dir().join(format!("{JBNU}.html"));
    // A selector that matches nothing and is long enough that its warning would need parts.
    let selector: Vec<String> = (0..40).map(|i| format!("div.gone-{i}")).collect();
    bot.env.write_config(&format!(
        "{}[[source]]\nname = \"학생식당\"\nurl = {:?}\n[source.select]\nlunch = {:?}\n{}",
        kakao_section(&bot.fake.url(), CLIENT_ID),
        url::Url::from_file_path(&page).unwrap().to_string(),
        selector.join(", "),
        recipients(&[friends[0].1])
    ));
    bot.login();
    let preview = bot.kbot(&["preview", "lunch", "--date", "2023-04-10", "--json"]);
    let planned = json(&preview)["parts"].as_array().map_or(0, Vec::len);
    assert_eq!(
        planned, 1,
        "a warning is one message however long the problem"
    );
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.copies("me"), 1);
    assert_eq!(bot.copies(friends[0].0), 0);
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 0);
}

#[test]
fn the_apps_quota_met_on_the_send_to_me_stops_the_friends_calls_too() {
    let friends = &TWELVE[..2];
    let bot = Bot::new(friends);
    bot.jbnu_to(&[friends[0].1, friends[1].1], "");
    bot.login();
    bot.fake.inject(
        MEMO_PATH,
        Fault::Code {
            status: 400,
            code: -10,
            msg: "API limit has been exceeded.".into(),
        },
    );
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 0, "no call after -10");
    let rows = bot.history();
    assert!(
        rows.iter()
            .all(|r| r["status"] == "failed" && r["code"] == -10),
        "{rows:?}"
    );
}

#[test]
fn a_three_thousand_row_table_sends_nothing_to_friends_and_one_warning_to_me() {
    let friends = &TWELVE[..2];
    let bot = Bot::new(friends);
    // A week grid whose lunch cell holds 3,000 rows' worth of "dishes": no real menu.
    let rows: String = (0..3_000)
        .map(|i| format!("<tr><th>중식</th><td>반찬{i}</td></tr>"))
        .collect();
    let page = bot.env.path("huge.html");
    std::fs::write(
        &page,
        format!("<table class=\"menu\"><tr><th>구분</th><th>4/10(월)</th></tr>{rows}</table>"),
    )
    .unwrap();
    bot.env.write_config(&format!(
        "{}[[source]]\nname = \"학생식당\"\nurl = {:?}\ntable = \"table.menu\"\n{}",
        kakao_section(&bot.fake.url(), CLIENT_ID),
        url::Url::from_file_path(&page).unwrap().to_string(),
        recipients(&[friends[0].1, friends[1].1])
    ));
    bot.login();
    let output = bot.send(&JBNU_LUNCH);
    assert_eq!(output.status.code(), Some(5), "{}", all_text(&output));
    assert_eq!(bot.fake.count(FRIENDS_SEND_PATH), 0, "nothing to friends");
    assert_eq!(bot.copies("me"), 1, "one warning to me");
    assert!(
        all_text(&output).contains("more than any real menu"),
        "{}",
        all_text(&output)
    );
}
