//! Stopping, reloading and giving up, through the real binary against the fake Kakao server
//! on 127.0.0.1: Ctrl-C during `send-now`, SIGHUP after a
//! config change, a changed config file noticed at the next wake, and a daemon whose login
//! died (KOE322) ending with exit 3. Unix only: they signal the process.
#![cfg(unix)]

mod common;
mod running;
mod support;

use std::time::{Duration, Instant};

use chrono_tz::Asia::Seoul;

use common::{TestEnv, json, seed_login};
use running::{
    CLIENT_ID, Running, daily_at, kbot_process, logged_in, now, slot_from_now, statuses, texts,
};
use support::fake_kakao::api::{FRIENDS_SEND_PATH, MEMO_PATH};
use support::fake_kakao::oauth::TOKEN_PATH;
use support::fake_kakao::{FakeKakao, Fault};

/// A bot sending lunch to me and two friends, scheduled far from now.
fn bot_with_friends(fake: &FakeKakao, env: &TestEnv) {
    fake.add_friend("uuid-a", "이서연", true);
    fake.add_friend("uuid-b", "박민준", true);
    logged_in(
        fake,
        env,
        &format!(
            "lunch = \"{}\"",
            daily_at(slot_from_now(chrono::Duration::hours(3)))
        ),
        "me = true\nfriends = [\"이서연\", \"박민준\"]",
    );
}

fn send_now(env: &TestEnv) -> Running {
    let mut cmd = kbot_process(env);
    cmd.args(["send-now", "lunch"]);
    Running::spawn(env, cmd, "send-now")
}

#[test]
fn ctrl_c_during_a_slow_send_now_finishes_and_records_the_call_in_flight_says_what_was_not_sent_and_exits_130()
 {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    bot_with_friends(&fake, &env);
    fake.inject(MEMO_PATH, Fault::Slow(Duration::from_secs(2)));
    let mut run = send_now(&env);
    run.wait_until("the send to me reaching Kakao", |_| {
        fake.count(MEMO_PATH) >= 1
    });
    assert!(fake.delivered().is_empty(), "still in flight");
    run.signal("INT");
    let status = run.wait_for_exit();
    let stdout = run.stdout();
    let stderr = run.log();
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    // The call in flight finished and is recorded; the friends were never tried.
    let today = now().with_timezone(&Seoul).date_naive();
    assert_eq!(statuses(&env, today, "lunch"), ["me:sent"]);
    assert_eq!(texts(&fake, "me").len(), 1);
    assert_eq!(fake.count(FRIENDS_SEND_PATH), 0);
    // kbot says what was sent and what was not, and how to send the rest.
    assert!(
        stderr.contains("stopping after the call in flight"),
        "{stderr}"
    );
    assert!(
        stdout.contains("me") && stdout.contains("sent 1/1"),
        "{stdout}"
    );
    assert!(stdout.contains("이서연 (uuid-a) not sent 1/1"), "{stdout}");
    assert!(
        stderr.contains("kbot: error: interrupted: 1 sent, 2 not sent"),
        "{stderr}"
    );
    let hint = format!("hint: kbot send-now lunch --date {today} sends the rest");
    assert!(stderr.contains(&hint), "{stderr}");

    // The rerun the hint names sends the rest, and nothing twice.
    let rest = env
        .kbot()
        .args(["send-now", "lunch", "--date", &today.to_string()])
        .output()
        .unwrap();
    assert!(rest.status.success(), "{rest:?}");
    assert_eq!(texts(&fake, "me").len(), 1);
    assert_eq!(texts(&fake, "uuid-a").len(), 1);
    assert_eq!(texts(&fake, "uuid-b").len(), 1);
    assert_eq!(
        statuses(&env, today, "lunch"),
        ["me:sent", "uuid-a:sent", "uuid-b:sent"]
    );
}

#[test]
fn a_second_ctrl_c_stops_send_now_at_once_with_exit_130() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    bot_with_friends(&fake, &env);
    fake.inject(MEMO_PATH, Fault::Slow(Duration::from_secs(30)));
    let mut run = send_now(&env);
    run.wait_until("the send to me reaching Kakao", |_| {
        fake.count(MEMO_PATH) >= 1
    });
    run.signal("INT");
    run.wait_for_log(&["Ctrl-C again to stop at once"]);
    let second = Instant::now();
    run.signal("INT");
    let status = run.wait_for_exit();
    assert_eq!(status.code(), Some(130), "{}", run.log());
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "the second Ctrl-C did not stop it at once: {:?}",
        second.elapsed()
    );
    assert!(run.log().contains("stopped at once"), "{}", run.log());
    assert!(fake.delivered().is_empty());
}

#[test]
fn two_daemons_sharing_a_login_the_one_whose_token_died_exits_3_and_status_needs_attention() {
    let fake = FakeKakao::start_on_thread();
    let home = TestEnv::new();
    let office = TestEnv::new();
    let far = daily_at(slot_from_now(chrono::Duration::hours(3)));
    let tokens = logged_in(&fake, &home, &format!("lunch = \"{far}\""), "me = true");
    // The same login copied to a second machine's data dir.
    running::write_config(&fake, &office, &format!("lunch = \"{far}\""), "me = true");
    seed_login(
        &office.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    // A month and more later: the next refresh rotates the refresh token, and the old one
    // dies at once.
    fake.advance(Duration::from_secs(35 * 24 * 3600));

    let mut first = Running::daemon(&home, "home");
    first.wait_until("the start-up refresh", |_| fake.count(TOKEN_PATH) >= 1);
    first.wait_for_log(&["login kept alive", "rotated=true"]);

    let mut second = Running::daemon(&office, "office");
    let status = second.wait_for_exit();
    let log = second.log();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("the daemon stops"), "{log}");
    assert!(log.contains("KOE322"), "{log}");
    assert!(
        !log.contains(&tokens.refresh_token),
        "a token in the log: {log}"
    );
    // Only once: it did not go on logging errors at every slot.
    assert_eq!(log.matches("the daemon stops").count(), 1, "{log}");

    let shown = office.kbot().args(["status", "--json"]).output().unwrap();
    let shown = json(&shown);
    assert_eq!(shown["needs_attention"], true, "{shown}");
    assert_eq!(shown["daemon_stopped"]["exit"], 3, "{shown}");
    assert_eq!(shown["daemon_stopped"]["hint"], "kbot login", "{shown}");
    let text = office.kbot().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("warning: the daemon stopped at"), "{text}");

    // The daemon that holds the live token goes on.
    let healthy = home.kbot().args(["status", "--json"]).output().unwrap();
    assert_eq!(json(&healthy)["needs_attention"], false);
    first.signal("TERM");
    assert_eq!(first.wait_for_exit().code(), Some(0), "{}", first.log());
}

/// The config of `env` with its `lunch = …` line replaced by a slot at `slot`.
fn with_lunch_at(env: &TestEnv, slot: chrono::DateTime<chrono_tz::Tz>) -> String {
    let text = std::fs::read_to_string(env.config_path()).unwrap();
    let at = text.rfind("lunch = ").expect("a lunch line");
    format!("{}lunch = \"{}\"\n", &text[..at], daily_at(slot))
}

#[test]
fn sighup_after_moving_lunch_makes_the_daemon_fire_at_the_new_time_and_status_follows_the_daemon() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let old_slot = slot_from_now(chrono::Duration::hours(3));
    logged_in(
        &fake,
        &env,
        &format!("lunch = \"{}\"", daily_at(old_slot)),
        "me = true",
    );
    // Default naps (a minute): only the SIGHUP makes it look before the new slot.
    let mut daemon = Running::daemon(&env, "daemon");
    daemon.wait_for_log(&["next slot"]);

    let new_slot = slot_from_now(chrono::Duration::seconds(6));
    env.write_config(&with_lunch_at(&env, new_slot));
    // Until the daemon reloads, status shows the schedule the daemon uses, and says so.
    let before = json(&env.kbot().args(["status", "--json"]).output().unwrap());
    assert_eq!(before["next"]["lunch"], old_slot.to_rfc3339(), "{before}");
    assert_eq!(before["daemon_config_differs"], true, "{before}");

    daemon.signal("HUP");
    daemon.wait_for_log(&["config reloaded"]);
    let after = json(&env.kbot().args(["status", "--json"]).output().unwrap());
    // The new time (today's, or tomorrow's if a loaded machine let it pass meanwhile).
    let next = after["next"]["lunch"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        next == new_slot.to_rfc3339()
            || next == (new_slot + chrono::Duration::days(1)).to_rfc3339(),
        "{after}"
    );
    assert_eq!(after["daemon_config_differs"], false, "{after}");

    daemon.wait_until("lunch at the new time", |_| !texts(&fake, "me").is_empty());
    daemon.wait_for_log(&["run finished"]);
    assert_eq!(statuses(&env, new_slot.date_naive(), "lunch"), ["me:sent"]);
    let log = daemon.log();
    let ran = log
        .lines()
        .find(|line| line.contains("running"))
        .expect("a run");
    assert!(
        ran.contains(&new_slot.format("%H:%M:%S").to_string()),
        "{ran}"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_for_exit().code(), Some(0), "{log}");
}

#[test]
fn a_broken_config_saved_under_a_running_daemon_is_rejected_once_and_the_old_schedule_still_fires()
{
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let slot = slot_from_now(chrono::Duration::seconds(8));
    logged_in(
        &fake,
        &env,
        &format!("lunch = \"{}\"", daily_at(slot)),
        "me = true",
    );
    let mut cmd = kbot_process(&env);
    // Wakes every 200 ms: a change on disk is noticed at once, and often.
    cmd.arg("daemon").env("KBOT_MAX_NAP_MS", "200");
    let mut daemon = Running::spawn(&env, cmd, "daemon");
    daemon.wait_for_log(&["next slot"]);

    let good = std::fs::read_to_string(env.config_path()).unwrap();
    let at = good.rfind("lunch = ").unwrap();
    env.write_config(&format!("{}lunch = \"half past eleven\"\n", &good[..at]));
    daemon.wait_for_log(&["the changed config is rejected"]);
    let log = daemon.log();
    let reason = &log[log.find("the changed config is rejected").unwrap()..];
    assert!(
        reason.contains("half past eleven") || reason.contains("schedule.lunch"),
        "{reason}"
    );

    daemon.wait_until("lunch at the old time", |_| !texts(&fake, "me").is_empty());
    daemon.wait_for_log(&["run finished"]);
    assert_eq!(statuses(&env, slot.date_naive(), "lunch"), ["me:sent"]);
    let log = daemon.log();
    assert_eq!(
        log.matches("the changed config is rejected").count(),
        1,
        "reported once, not at every wake: {log}"
    );
}

#[test]
fn a_data_dir_deleted_under_the_daemon_ends_it_non_zero_saying_why() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    logged_in(
        &fake,
        &env,
        &format!(
            "lunch = \"{}\"",
            daily_at(slot_from_now(chrono::Duration::hours(3)))
        ),
        "me = true",
    );
    let mut cmd = kbot_process(&env);
    cmd.arg("daemon").env("KBOT_MAX_NAP_MS", "200");
    let mut daemon = Running::spawn(&env, cmd, "daemon");
    daemon.wait_for_log(&["next slot"]);
    // rm -rf: the daemon may be writing as the files go (SQLite's WAL), so more than once.
    for _ in 0..50 {
        match std::fs::remove_dir_all(env.data_dir()) {
            Err(err) if err.kind() == std::io::ErrorKind::DirectoryNotEmpty => continue,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => break,
            other => other.expect("delete the data dir"),
        }
    }
    let status = daemon.wait_for_exit();
    let log = daemon.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("the data dir was deleted or moved"), "{log}");
    // Said once by the loop and once as the exit error, not at every wake.
    assert_eq!(log.matches("the daemon's check failed").count(), 1, "{log}");
    assert!(log.contains("kbot: error: the ledger"), "{log}");
}
