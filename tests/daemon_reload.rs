//! A running daemon whose config is swapped for something start-up would refuse: a FIFO (it
//! hung the daemon), a 1 GiB file (2 GB held), and a copy still being written (it dropped
//! friends and a meal). Each time the old config stays in force, the slot is sent by it,
//! and SIGTERM is answered at once. Through the real binary against the fake Kakao server.
#![cfg(unix)]

mod common;
mod running;
mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::TestEnv;
use running::{Running, daily_at, kbot_process, logged_in, slot_from_now, statuses, texts};
use support::fake_kakao::FakeKakao;

/// A bot sending lunch to me and two friends at `slot` (and dinner far away), its daemon
/// waking every 200 ms, so a change on disk is looked at often.
fn bot(fake: &FakeKakao, env: &TestEnv, slot: chrono::DateTime<chrono_tz::Tz>) -> Running {
    fake.add_friend("uuid-a", "이서연", true);
    fake.add_friend("uuid-b", "박민준", true);
    let dinner = slot_from_now(chrono::Duration::hours(5));
    logged_in(
        fake,
        env,
        &format!(
            "lunch = \"{}\"\ndinner = \"{}\"",
            daily_at(slot),
            daily_at(dinner)
        ),
        "me = true\nfriends = [\"이서연\", \"박민준\"]",
    );
    let mut cmd = kbot_process(env);
    cmd.arg("daemon").env("KBOT_MAX_NAP_MS", "200");
    let mut daemon = Running::spawn(env, cmd, "daemon");
    daemon.wait_for_log(&["next slot"]);
    daemon
}

/// The config as it would be after the edit: one friend and no dinner.
fn smaller(env: &TestEnv) -> String {
    let text = std::fs::read_to_string(env.config_path()).expect("read the config");
    let text = text.replace(
        "friends = [\"이서연\", \"박민준\"]",
        "friends = [\"이서연\"]",
    );
    let dinner = text.rfind("dinner = ").expect("the dinner slot");
    let end = dinner + text[dinner..].find('\n').expect("end of line") + 1;
    format!("{}{}", &text[..dinner], &text[end..])
}

/// Put `make`'s file in place of the config by a rename, as an editor or a script would.
fn replace_config(env: &TestEnv, make: impl FnOnce(&std::path::Path)) {
    let next = env.path("config.next");
    make(&next);
    std::fs::rename(&next, env.config_path()).expect("rename over the config");
}

/// The slot went out to all three by the old config, and SIGTERM ends the daemon within 2 s.
fn sent_by_the_old_config_and_stops_at_once(
    fake: &FakeKakao,
    env: &TestEnv,
    daemon: &mut Running,
    slot: chrono::DateTime<chrono_tz::Tz>,
) {
    daemon.wait_until("lunch to all three", |_| {
        texts(fake, "me").len() == 1
            && texts(fake, "uuid-a").len() == 1
            && texts(fake, "uuid-b").len() == 1
    });
    daemon.wait_for_log(&["run finished"]);
    assert_eq!(
        statuses(env, slot.date_naive(), "lunch"),
        ["me:sent", "uuid-a:sent", "uuid-b:sent"]
    );
    let asked = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait_for_exit();
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
}

#[test]
fn a_fifo_in_place_of_the_config_is_refused_and_the_old_config_sends_the_slot() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let slot = slot_from_now(chrono::Duration::seconds(8));
    let mut daemon = bot(&fake, &env, slot);
    replace_config(&env, |next| {
        let made = std::process::Command::new("mkfifo")
            .arg(next)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
    });
    daemon.signal("HUP");
    daemon.wait_for_log(&["cannot read the config", "is not a regular file"]);
    sent_by_the_old_config_and_stops_at_once(&fake, &env, &mut daemon, slot);
    let log = daemon.log();
    assert!(!log.contains("config file changed"), "{log}");
}

#[test]
fn a_1_gib_config_is_refused_unread_and_the_old_config_sends_the_slot() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let slot = slot_from_now(chrono::Duration::seconds(8));
    let mut daemon = bot(&fake, &env, slot);
    replace_config(&env, |next| {
        let file = std::fs::File::create(next).expect("create");
        file.set_len(1 << 30).expect("a sparse 1 GiB file");
    });
    daemon.wait_for_log(&["cannot read the config", "a configuration is at most 1 MB"]);
    sent_by_the_old_config_and_stops_at_once(&fake, &env, &mut daemon, slot);
    let log = daemon.log();
    assert_eq!(
        log.matches("a configuration is at most 1 MB").count(),
        1,
        "said once, not at every wake: {log}"
    );
}

#[test]
fn a_config_saved_in_place_slowly_is_not_read_half_way_and_what_it_drops_is_logged() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let slot = slot_from_now(chrono::Duration::seconds(8));
    let mut daemon = bot(&fake, &env, slot);
    let new = smaller(&env);
    // An editor saving in place, a few bytes at a time, until the slot has gone out.
    let slot_sent = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, new, slot_sent) = (env.config_path(), new.clone(), slot_sent.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&path).expect("truncate the config");
            let bytes = new.as_bytes();
            let mut at = 0;
            while at < bytes.len() && !slot_sent.load(Ordering::SeqCst) {
                let end = (at + 4).min(bytes.len() - 1);
                file.write_all(&bytes[at..end]).expect("write");
                at = end;
                std::thread::sleep(Duration::from_millis(100));
            }
            file.write_all(&bytes[at..]).expect("write the rest");
        })
    };
    daemon.wait_until("lunch to all three", |_| {
        texts(&fake, "me").len() == 1
            && texts(&fake, "uuid-a").len() == 1
            && texts(&fake, "uuid-b").len() == 1
    });
    slot_sent.store(true, Ordering::SeqCst);
    writer.join().expect("the writer");
    daemon.wait_for_log(&["config file changed; reloading"]);
    let log = daemon.log();
    assert!(
        log.contains("the config file is changing"),
        "the half-written file was seen and waited out: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("the reloaded config drops friends: 박민준")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("the reloaded config drops meals: dinner")),
        "{log}"
    );
    let ran = log.find("running").expect("the slot ran");
    let reloaded = log
        .find("config file changed; reloading")
        .expect("reloaded");
    assert!(ran < reloaded, "the slot ran before the new config: {log}");
    assert_eq!(
        statuses(&env, slot.date_naive(), "lunch"),
        ["me:sent", "uuid-a:sent", "uuid-b:sent"]
    );
    let asked = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait_for_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
}
