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
    assert!(ran.contains("2023-04-10 lunch     menu · sent 20"), "{ran}");
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
    assert!(headings[0].contains(" · sent "), "the send time: {text}");
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
