//! A wrong clock never silences the daemon: the real binary under
//! libfaketime (`faketime` from apt; these tests fail, not skip, without it) against the fake
//! Kakao server on 127.0.0.1. The fake time comes from a file kbot reads at every clock read,
//! so a test moves the clock of a running daemon by rewriting it.
#![cfg(target_os = "linux")]

mod common;
mod running;
mod support;

use chrono_tz::Asia::Seoul;

use common::TestEnv;
use running::{
    DISHES, Running, daily_at, history, logged_in, now, slot_from_now, statuses, texts,
    under_faketime,
};
use support::fake_kakao::FakeKakao;

/// Set the fake clock of every process reading `rc` (a `FAKETIME` spec: `+0`, `+1d`, `+365d`).
fn set_fake_time(rc: &std::path::Path, spec: &str) {
    let tmp = rc.with_extension("tmp");
    std::fs::write(&tmp, format!("{spec}\n")).expect("write the faketime file");
    std::fs::rename(&tmp, rc).expect("replace the faketime file");
}

#[test]
fn a_send_now_under_a_clock_a_day_ahead_does_not_stop_the_daemon_sending_todays_slot() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    // The slot is set once send-now is done; for now, one far away.
    logged_in(
        &fake,
        &env,
        &format!(
            "lunch = \"{}\"",
            daily_at(slot_from_now(chrono::Duration::hours(3)))
        ),
        "me = true",
    );
    let rc = env.path("faketime.rc");
    set_fake_time(&rc, "+1d");
    let mut cmd = under_faketime(&env, &rc);
    cmd.args(["send-now", "lunch"]);
    let ahead = cmd.output().expect("run send-now under faketime");
    assert!(ahead.status.success(), "{ahead:?}");
    // kbot honours libfaketime: the run served tomorrow and was stamped tomorrow.
    let tomorrow = (now() + chrono::Duration::days(1))
        .with_timezone(&Seoul)
        .date_naive();
    assert_eq!(statuses(&env, tomorrow, "lunch"), ["me:sent"]);
    let stamped = history(&env)
        .iter()
        .filter_map(|row| row["updated_at"].as_str().map(str::to_string))
        .max()
        .expect("a history row");
    let stamped = chrono::DateTime::parse_from_rfc3339(&stamped).expect("an RFC 3339 time");
    assert!(
        stamped > now() + chrono::Duration::hours(23),
        "stamped {stamped}, a day ahead of now"
    );

    // The daemon on the right clock, with today's slot seconds away.
    let slot = slot_from_now(chrono::Duration::seconds(4));
    let page_and_config = std::fs::read_to_string(env.config_path()).unwrap();
    let schedule_at = page_and_config.rfind("lunch = ").unwrap();
    let config = format!(
        "{}lunch = \"{}\"\n",
        &page_and_config[..schedule_at],
        daily_at(slot)
    );
    env.write_config(&config);
    let mut daemon = Running::daemon(&env, "daemon");
    daemon.wait_for_log(&["ledger has times ahead of the clock"]);
    daemon.wait_until("the slot's run", |_| texts(&fake, "me").len() >= 2);
    daemon.wait_for_log(&["run finished"]);
    assert_eq!(statuses(&env, slot.date_naive(), "lunch"), ["me:sent"]);
    let got = texts(&fake, "me");
    assert_eq!(
        got.len(),
        2,
        "tomorrow's by send-now, today's by the daemon: {got:?}"
    );
    for dish in DISHES {
        assert!(got[1].contains(dish), "{dish} in {got:?}");
    }
}

#[test]
fn a_daemon_whose_clock_jumps_a_year_ahead_and_back_sends_the_next_slot_and_records_nothing_in_the_future()
 {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let slot = slot_from_now(chrono::Duration::seconds(12));
    logged_in(
        &fake,
        &env,
        &format!("lunch = \"{}\"", daily_at(slot)),
        "me = true",
    );
    let rc = env.path("faketime.rc");
    set_fake_time(&rc, "+0");
    let mut cmd = under_faketime(&env, &rc);
    // The daemon looks at the clock every 200 ms instead of every minute.
    cmd.arg("daemon").env("KBOT_MAX_NAP_MS", "200");
    let mut daemon = Running::spawn(&env, cmd, "daemon");
    // The schedule loop's own look at the clock (`slot=`), not the start-up line (`at=`):
    // a jump before the loop's first look is no jump to it.
    daemon.wait_for_log(&["next slot", " slot="]);

    set_fake_time(&rc, "+365d");
    daemon.wait_for_log(&["the clock jumped ahead"]);
    set_fake_time(&rc, "+0");
    daemon.wait_for_log(&["the clock moved back"]);

    daemon.wait_until("the slot's message", |_| !texts(&fake, "me").is_empty());
    daemon.wait_for_log(&["run finished"]);
    assert_eq!(statuses(&env, slot.date_naive(), "lunch"), ["me:sent"]);
    let got = texts(&fake, "me");
    assert_eq!(got.len(), 1, "{got:?}");
    for dish in DISHES {
        assert!(got[0].contains(dish), "{dish} in {got:?}");
    }
    // Nothing in the ledger is dated or stamped in the future: no `missed` rows a year out.
    let today = now().with_timezone(&Seoul).date_naive();
    for row in history(&env) {
        let date: chrono::NaiveDate = row["date"].as_str().unwrap().parse().unwrap();
        assert!(date <= today, "a row dated in the future: {row}");
        let stamped = row["updated_at"].as_str().unwrap_or_default();
        let stamped = chrono::DateTime::parse_from_rfc3339(stamped).expect("an RFC 3339 time");
        assert!(
            stamped <= now() + chrono::Duration::minutes(1),
            "stamped in the future: {row}"
        );
    }
    daemon.signal("TERM");
    let status = daemon.wait_for_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    // `status` after the jump shows the next slot on the right clock.
    let shown = env.kbot().args(["status", "--json"]).output().unwrap();
    let shown = common::json(&shown);
    assert_eq!(
        shown["next"]["lunch"],
        (slot + chrono::Duration::days(1)).to_rfc3339()
    );
}

#[test]
fn a_page_cached_by_a_run_with_the_clock_a_day_ahead_is_never_served_as_a_menu() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    logged_in(&fake, &env, "", "me = true");
    // The test page (css mode, no date on it) served over HTTP, so the page cache keeps it.
    let site = support::pages::PageServer::start();
    site.serve(&std::fs::read_to_string(env.path("menu.html")).unwrap());
    let file_url = url::Url::from_file_path(env.path("menu.html"))
        .unwrap()
        .to_string();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    env.write_config(&config.replace(&file_url, &site.url));

    let rc = env.path("faketime.rc");
    set_fake_time(&rc, "+1d");
    let mut cmd = under_faketime(&env, &rc);
    cmd.args(["send-now", "lunch"]);
    let ahead = cmd.output().expect("run send-now under faketime");
    assert!(ahead.status.success(), "{ahead:?}");
    assert_eq!(texts(&fake, "me").len(), 1);

    // On the right clock with the site down: the copy is stamped tomorrow, after now, so it
    // stands in neither for tomorrow's lunch (its own day) nor for today's.
    site.go_down();
    for date in ["tomorrow", "today"] {
        let out = env
            .kbot()
            .env("KBOT_RETRY_BASE_MS", "1")
            .args(["send-now", "lunch", "--date", date, "--json"])
            .output()
            .expect("run send-now");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stdout.contains("\"fetch_failed\""), "{date}: {out:?}");
        assert!(
            stderr.contains("the cached copy is stamped after now"),
            "{date}: {stderr}"
        );
    }
    let menus = texts(&fake, "me")
        .into_iter()
        .filter(|t| !t.contains('⚠'))
        .count();
    assert_eq!(menus, 1, "{:?}", texts(&fake, "me"));
}

#[test]
fn config_check_and_doctor_say_when_next_years_holidays_are_unknown() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    logged_in(
        &fake,
        &env,
        "lunch = \"30 11 * * Mon-Fri\"\nskip_holidays = true",
        "me = true",
    );
    let rc = env.path("faketime.rc");
    // Mid-2050: kbot knows 2050's holidays, not 2051's.
    set_fake_time(&rc, "@2050-06-01 12:00:00");
    let mut check = under_faketime(&env, &rc);
    check.args(["config", "check"]);
    let out = check.output().expect("run config check");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("schedule.skip_holidays")
            && stderr.contains("in 2051 skip_holidays skips nothing"),
        "{stderr}"
    );
    let mut doctor = under_faketime(&env, &rc);
    doctor.args(["doctor", "--json"]);
    let out = doctor.output().expect("run doctor");
    let report = common::json(&out);
    let checks = report["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["mark"] == "warn"
                && c["message"].as_str().is_some_and(|m| m.contains("2051"))),
        "{report}"
    );

    // Today (2026), nothing to say.
    let out = env.kbot().args(["config", "check"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("skip_holidays"));
}
