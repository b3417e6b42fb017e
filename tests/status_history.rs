//! `status` and `history` through the real binary: whether the daemon runs (its pid, from
//! the lock), when runs sent, and `history --limit` counting meals, not rows.

mod common;
mod support;

use common::{TestEnv, json, kakao_section, pages_dir, seed_login, source_block};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";

/// A logged-in kbot whose config sends the JBNU page to me and two friends.
fn bot() -> (FakeKakao, TestEnv) {
    let fake = FakeKakao::start_on_thread();
    fake.add_friend("fuuid-01-seoyeon", "이서연", true);
    fake.add_friend("fuuid-02-minjun", "박민준", true);
    let env = TestEnv::new();
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    env.write_config(&format!(
        "{}{}[recipients]\nme = true\nfriends = [\"이서연\", \"박민준\"]\n[schedule]\nlunch = \"30 11 * * Mon-Fri\"\n",
        kakao_section(&fake.url(), CLIENT_ID),
        source_block("진수원", &page, "table.tblType03", "")
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    (fake, env)
}

#[test]
fn status_shows_the_running_daemons_pid_from_its_lock() {
    let (_fake, env) = bot();
    let out = env.kbot().arg("status").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("daemon: not running (kbot service install, or kbot daemon)\n"),
        "{text}"
    );

    let _lock = kbot::schedule::lock_instance(&env.data_dir()).unwrap();
    let out = env.kbot().arg("status").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = format!("daemon: running (pid {}, since ", std::process::id());
    assert!(
        text.contains(&expected),
        "{expected:?} missing from:\n{text}"
    );

    let out = env.kbot().args(["status", "--json"]).output().unwrap();
    let value = json(&out);
    assert_eq!(value["daemon"]["running"], true);
    assert_eq!(value["daemon"]["pid"], std::process::id());
    assert!(value["daemon"]["since"].is_string());
}

#[test]
fn status_says_when_the_last_run_sent() {
    let (_fake, env) = bot();
    let send = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .output()
        .unwrap();
    assert!(send.status.success(), "{send:?}");
    let text = String::from_utf8(env.kbot().arg("status").output().unwrap().stdout).unwrap();
    let ran = text
        .lines()
        .find(|l| l.starts_with("ran:"))
        .unwrap_or_else(|| panic!("no ran: line in\n{text}"));
    assert!(ran.contains("2023-04-10 lunch     sent 20"), "{ran}");
    assert!(ran.ends_with("KST"), "{ran}");
}

#[test]
fn history_limit_counts_meals_so_a_heading_counts_every_recipient() {
    let (_fake, env) = bot();
    for date in ["2023-04-10", "2023-04-11"] {
        let send = env
            .kbot()
            .args(["send-now", "lunch", "--date", date])
            .output()
            .unwrap();
        assert!(send.status.success(), "{date}: {send:?}");
    }
    let out = env
        .kbot()
        .args(["history", "--limit", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("2023-")).collect();
    assert_eq!(headings.len(), 1, "{text}");
    assert!(headings[0].starts_with("2023-04-11 lunch"), "{text}");
    assert!(headings[0].contains("3 recipients: 3 sent"), "{text}");
    assert!(
        headings[0].starts_with("2023-04-11 lunch     sent "),
        "the send time: {text}"
    );
    assert!(
        text.contains("(the newest 1 meal; kbot history --limit 4 shows more)"),
        "{text}"
    );

    let all = env
        .kbot()
        .args(["history", "--json", "--limit", "1"])
        .output()
        .unwrap();
    let rows = json(&all);
    assert_eq!(
        rows.as_array().unwrap().len(),
        3,
        "one slot, three recipients: {rows}"
    );
}

/// Names and sizes of the files in `dir`.
fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn status_and_history_only_read_the_data_dir() {
    let (_fake, env) = bot();
    let send = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .output()
        .unwrap();
    assert!(send.status.success(), "{send:?}");
    let before = listing(&env.data_dir());
    let ledger = env.data_dir().join("ledger.sqlite3");
    let modified = std::fs::metadata(&ledger).unwrap().modified().unwrap();
    for args in [&["status"][..], &["history"], &["history", "--json"]] {
        let out = env.kbot().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    assert_eq!(
        listing(&env.data_dir()),
        before,
        "a read-only command wrote a file"
    );
    assert_eq!(
        std::fs::metadata(&ledger).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn after_a_revoke_status_exits_3_with_the_rejection_and_no_slot_says_sent_where_nothing_was() {
    let (fake, env) = bot();
    let send = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .output()
        .unwrap();
    assert!(send.status.success(), "{send:?}");
    // Me and two friends, each in as many parts as the menu takes: three recipients.
    let history = env.kbot().arg("history").output().unwrap();
    let text = String::from_utf8(history.stdout).unwrap();
    let heading = text.lines().find(|l| l.starts_with("2023-04-10")).unwrap();
    assert!(heading.contains(" · 3 recipients: 3 sent"), "{text}");
    assert!(heading.starts_with("2023-04-10 lunch     sent "), "{text}");
    assert!(!text.contains("(fuuid-01-seoyeon)") || text.contains("이서연 (fuuid-01-seoyeon)"));

    fake.revoke_all(); // the user unlinked the app at Kakao
    let after = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-11"])
        .output()
        .unwrap();
    assert_eq!(after.status.code(), Some(3), "{after:?}");

    let status = env.kbot().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert_eq!(status.status.code(), Some(3), "{text}\n{status:?}");
    let login = text.lines().find(|l| l.starts_with("login:")).unwrap();
    assert!(login.contains("rejected by Kakao at "), "{text}");
    assert!(login.contains("KOE322"), "{text}");
    assert!(!text.contains("refresh token valid until"), "{text}");
    let ran: Vec<&str> = text.lines().filter(|l| l.starts_with("ran:")).collect();
    assert_eq!(ran.len(), 2, "one line per slot:\n{text}");
    assert!(ran[0].contains("2023-04-11 lunch     not sent ("), "{text}");
    assert!(ran[1].contains("2023-04-10 lunch     sent "), "{text}");
    let json = json(&env.kbot().args(["status", "--json"]).output().unwrap());
    assert!(json["login_rejected"]["at"].is_string(), "{json}");
}

#[test]
fn a_cron_typo_saved_while_the_daemon_runs_leaves_status_and_friends_working_with_a_warning() {
    let (_fake, env) = bot();
    let _daemon = kbot::schedule::lock_instance(&env.data_dir()).unwrap();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    env.write_config(&config.replace("30 11 * * Mon-Fri", "30 11 * * 1-Fry"));
    for command in ["status", "friends", "history"] {
        let out = env.kbot().arg(command).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {out:?}");
        assert!(
            stderr.contains("schedule.lunch") && stderr.contains("\"Fry\""),
            "{command}: {stderr}"
        );
    }
    let check = env.kbot().args(["config", "check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(4), "{check:?}");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("unknown weekday \"Fry\""), "{stderr}");
    assert!(stderr.contains("Mon–Sun"), "{stderr}");
    assert!(!stderr.contains("CronPattern"), "{stderr}");
}

#[test]
fn after_logout_of_a_file_store_login_friends_says_not_logged_in_with_exit_3() {
    let (fake, env) = bot();
    // The config names no store: the login was made with `--secret-store file`.
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    env.write_config(&config.replace("[secrets]\nstore = \"file\"\n", ""));
    let logout = env.kbot().arg("logout").output().unwrap();
    assert!(logout.status.success(), "{logout:?}");
    let friends = env.kbot().arg("friends").output().unwrap();
    let stderr = String::from_utf8_lossy(&friends.stderr);
    assert_eq!(friends.status.code(), Some(3), "{friends:?}");
    assert!(stderr.contains("not logged in"), "{stderr}");
    assert!(stderr.contains("kbot login"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("zbus"), "{stderr}");
    drop(fake);
}

#[test]
fn send_now_on_a_day_the_page_lacks_points_at_scrape_explain_not_at_resending() {
    let (_fake, env) = bot();
    // The saved page is the week of 2023-04-10: a month later it has no menu for the day.
    let out = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-05-10"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(stdout.contains("source 진수원: wrong_date"), "{stdout}");
    assert!(
        stderr.contains("kbot scrape lunch --date 2023-05-10 --explain"),
        "{stderr}"
    );
    assert!(!stderr.contains("sends what is missing"), "{stderr}");
}

#[test]
fn send_now_for_a_meal_the_page_never_has_says_why_nothing_was_sent() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let page = pages_dir().join("pknu-weekly-2025-08-18.html");
    env.write_config(&format!(
        "{}{}[recipients]\nme = true\n[schedule]\nlunch = \"30 11 * * Mon-Fri\"\n",
        kakao_section(&fake.url(), CLIENT_ID),
        source_block("부경대", &page, "table.con03_sub_2", "")
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    let out = env
        .kbot()
        .args(["send-now", "dinner", "--date", "2025-08-18"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("nothing to send (the page never has this meal)"),
        "{stdout}"
    );
    assert!(stdout.contains("source 부경대: no_meal"), "{stdout}");
    assert!(stdout.contains("kbot scrape --find"), "{stdout}");
}

/// The ledger DDL kbot wrote at schema 1, before warnings had their own kind.
const SCHEMA_1: &str = "CREATE TABLE runs (
        id INTEGER PRIMARY KEY, date TEXT NOT NULL, meal TEXT NOT NULL,
        started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT, detail TEXT);
    CREATE INDEX runs_slot ON runs(date, meal);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, date TEXT NOT NULL, meal TEXT NOT NULL,
        recipient TEXT NOT NULL, nickname TEXT, part INTEGER NOT NULL CHECK (part >= 1),
        status TEXT NOT NULL
               CHECK (status IN ('pending', 'sent', 'failed', 'unknown', 'missed')),
        code INTEGER, detail TEXT, updated_at TEXT NOT NULL,
        UNIQUE (date, meal, recipient, part));
    CREATE INDEX deliveries_status ON deliveries(status);
    PRAGMA user_version = 1;";

#[test]
fn history_reads_a_schema_1_ledger_without_migrating_or_writing_it() {
    let (_fake, env) = bot();
    let ledger = env.data_dir().join("ledger.sqlite3");
    {
        let conn = rusqlite::Connection::open(&ledger).unwrap();
        conn.execute_batch(SCHEMA_1).unwrap();
        conn.execute_batch(
            "INSERT INTO runs (date, meal, started_at, finished_at, outcome) VALUES
               ('2026-03-02', 'lunch', '2026-03-02T02:30:00Z', '2026-03-02T02:30:09Z', 'not_found');
             INSERT INTO deliveries (date, meal, recipient, part, status, updated_at) VALUES
               ('2026-03-02', 'lunch', 'me', 1, 'sent', '2026-03-02T02:30:05Z');",
        )
        .unwrap();
    }
    let before = std::fs::read(&ledger).unwrap();
    let files = listing(&env.data_dir());
    let out = env.kbot().args(["history", "--json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows = json(&out);
    let row = &rows.as_array().expect("rows")[0];
    assert_eq!(row["date"], "2026-03-02", "{rows}");
    assert_eq!(
        row["kind"], "warning",
        "a schema-1 warning reads as one: {rows}"
    );
    let text = env.kbot().args(["history"]).output().unwrap();
    assert!(text.status.success(), "{text:?}");
    assert!(!String::from_utf8_lossy(&text.stderr).contains("SELECT"));
    assert_eq!(
        std::fs::read(&ledger).unwrap(),
        before,
        "the file is only read"
    );
    assert_eq!(listing(&env.data_dir()), files);
}

#[test]
fn a_ledger_from_a_newer_kbot_is_refused_and_left_byte_for_byte() {
    let (_fake, env) = bot();
    let ledger = env.data_dir().join("ledger.sqlite3");
    {
        let conn = rusqlite::Connection::open(&ledger).unwrap();
        conn.execute_batch("CREATE TABLE runs_v99 (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&ledger).unwrap();
    let files = listing(&env.data_dir());
    for args in [
        &["history"][..],
        &["send-now", "lunch", "--date", "2023-04-10"],
    ] {
        let out = env.kbot().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("schema version 99"), "{args:?}: {stderr}");
        assert!(stderr.contains("upgrade kbot"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(&ledger).unwrap(), before, "bytes unchanged");
    let mut after = listing(&env.data_dir());
    after.retain(|(name, _)| name != "runs.lock");
    let mut files = files;
    files.retain(|(name, _)| name != "runs.lock");
    assert_eq!(after, files, "no WAL or journal beside it");
}

#[test]
fn status_shows_a_run_that_never_recorded_its_end_as_interrupted() {
    let (_fake, env) = bot();
    let send = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .output()
        .unwrap();
    assert!(send.status.success(), "{send:?}");
    {
        // As if the process died before its end was written.
        let conn = rusqlite::Connection::open(env.data_dir().join("ledger.sqlite3")).unwrap();
        conn.execute_batch("UPDATE runs SET finished_at = NULL, outcome = NULL, detail = NULL")
            .unwrap();
    }
    let out = env.kbot().args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // What was sent stays said; that the run was cut short is said beside it.
    assert!(
        text.contains("ran:    2023-04-10 lunch     sent 20"),
        "{text}"
    );
    assert!(
        text.contains(" · interrupted (the run never recorded its end)"),
        "{text}"
    );
    assert!(!text.contains("running\n"), "{text}");
    let json = json(&env.kbot().args(["status", "--json"]).output().unwrap());
    assert_eq!(json["last_runs"][0]["interrupted"], true, "{json}");
}
