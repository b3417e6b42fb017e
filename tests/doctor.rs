//! `kbot doctor` through the real binary against the fake Kakao: all ✓ on a good setup, and
//! each thing that stops the menu arriving gives its ✗ line, its fix and the exit code.
//!
//! The menu page is generated for the days around today (labels like `12/01(화)`), so the
//! next scheduled slot is always on it. The daemon is "running" when this test process
//! holds the daemon's lock, as a running `kbot daemon` would.

mod common;
mod support;

use std::process::Output;

use chrono::{Datelike, Duration, Utc};
use common::{TestEnv, json, kakao_section};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";

/// A week-grid page with lunch and dinner for yesterday … a week ahead, in Seoul dates.
fn page_around_today() -> String {
    const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
    #[allow(clippy::disallowed_methods)] // the page must match the binary's real clock
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Seoul)
        .date_naive();
    let days: Vec<_> = (-1..=8).map(|d| today + Duration::days(d)).collect();
    let mut html = String::from("<html><body><table class=\"menu\"><tr><th>구분</th>");
    for d in &days {
        html.push_str(&format!(
            "<th>{}/{:02}({})</th>",
            d.month(),
            d.day(),
            DAYS[d.weekday().num_days_from_monday() as usize]
        ));
    }
    html.push_str("</tr><tr><th>중식</th>");
    for _ in &days {
        html.push_str("<td>김치찌개<br>쌀밥</td>");
    }
    html.push_str("</tr><tr><th>석식</th>");
    for _ in &days {
        html.push_str("<td>비빔밥<br>미역국</td>");
    }
    html.push_str("</tr></table></body></html>");
    html
}

struct Setup {
    fake: FakeKakao,
    env: TestEnv,
}

/// What a good setup has; each test changes one thing.
struct Options {
    table: &'static str,
    schedule: &'static str,
    friends: Vec<&'static str>,
    login: bool,
    refresh_days_left: i64,
    daemon: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            table: "table.menu",
            schedule: "lunch = \"30 11 * * *\"\ndinner = \"0 17 * * *\"\n",
            friends: vec!["이서연"],
            login: true,
            refresh_days_left: 50,
            daemon: true,
        }
    }
}

impl Setup {
    fn new(options: &Options) -> Setup {
        let fake = FakeKakao::start_on_thread();
        fake.add_friend("fuuid-01-seoyeon", "이서연", true);
        let env = TestEnv::new();
        let page = env.path("menu.html");
        std::fs::write(&page, page_around_today()).unwrap();
        let friends: Vec<String> = options.friends.iter().map(|f| format!("{f:?}")).collect();
        env.write_config(&format!(
            "{}[[source]]\nname = \"학생식당\"\nurl = \"menu.html\"\ntable = {:?}\n\n[recipients]\nme = true\nfriends = [{}]\n\n[schedule]\n{}",
            kakao_section(&fake.url(), CLIENT_ID),
            options.table,
            friends.join(", "),
            options.schedule,
        ));
        let setup = Setup { fake, env };
        if options.login {
            setup.login(options.refresh_days_left);
        }
        let unit = setup.env.path("xdg-config/systemd/user/kbot.service");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, "[Service]\n").unwrap();
        setup
    }

    /// The file store as `kbot login` leaves it, with the refresh token's days left.
    fn login(&self, refresh_days_left: i64) {
        use kbot::secrets::{Store, StoreKind, Tokens};
        let issued = self.fake.issue_tokens();
        let now = kbot::clock::Clock::now(&kbot::clock::SystemClock);
        let tokens = Tokens {
            refresh_token: issued.refresh_token.into(),
            refresh_token_expires_at: Some(now + Duration::days(refresh_days_left)),
            access_token: Some(issued.access_token.into()),
            access_token_expires_at: Some(now + Duration::hours(5)),
            scopes: vec!["talk_message".into(), "friends".into()],
            client_secret: None,
            nickname: Some("나".into()),
        };
        let data_dir = self.env.data_dir();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::new(StoreKind::File, &data_dir, CLIENT_ID);
            store.save(&tokens).await.unwrap();
        });
        kbot::secrets::remember(&data_dir, StoreKind::File).unwrap();
    }

    fn doctor(&self, args: &[&str]) -> Output {
        self.env
            .kbot()
            .env("KBOT_RETRY_BASE_MS", "1")
            .arg("doctor")
            .args(args)
            .output()
            .unwrap()
    }
}

/// Run doctor on a setup built from `options`, with the daemon's lock held if asked.
fn doctor(options: Options) -> (Output, String) {
    let setup = Setup::new(&options);
    let _lock = options
        .daemon
        .then(|| kbot::schedule::lock_instance(&setup.env.data_dir()).unwrap());
    let out = setup.doctor(&[]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    (out, text)
}

fn failed_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with('✗')).collect()
}

#[test]
fn a_good_setup_is_all_ticks_and_exits_0() {
    let (out, text) = doctor(Options::default());
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(failed_lines(&text).is_empty(), "{text}");
    for expected in [
        "✓ config ",
        "✓ kakao.client_id is set (fake…)",
        "✓ the file ",
        "✓ logged in as 나 (scopes: talk_message friends; refresh token 4",
        "✓ friends resolve: 이서연 (fuuid-01-seoyeon)",
        "✓ [학생식당] lunch on ",
        "✓ [학생식당] dinner on ",
        "✓ 2 messages a day to 1 friend",
        "✓ daemon running (pid ",
        "✓ service installed: ",
        "kbot is ready",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_json_lists_every_check_with_its_mark() {
    let setup = Setup::new(&Options::default());
    let _lock = kbot::schedule::lock_instance(&setup.env.data_dir()).unwrap();
    let out = setup.doctor(&["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let value = json(&out);
    assert_eq!(value["ok"], true);
    assert_eq!(value["exit"], 0);
    let checks: Vec<&str> = value["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for check in [
        "config",
        "client_id",
        "secret_store",
        "login",
        "friends",
        "source",
        "quota",
        "daemon",
        "service",
    ] {
        assert!(checks.contains(&check), "{check} missing from {checks:?}");
    }
    assert!(
        value["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["mark"] == "ok")
    );
    // No token in the output.
    let raw = String::from_utf8(out.stdout).unwrap();
    for token in setup.fake.access_tokens() {
        assert!(!raw.contains(&token.token), "an access token leaked");
    }
}

#[test]
fn no_login_is_a_cross_with_kbot_login_and_exit_3() {
    let (out, text) = doctor(Options {
        login: false,
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("✗ not logged in\n    fix: kbot login\n"),
        "{text}"
    );
}

#[test]
fn a_refresh_token_near_expiry_is_a_cross_and_exit_3() {
    let (out, text) = doctor(Options {
        refresh_days_left: 3,
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(3), "{text}");
    let failed = failed_lines(&text);
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].contains("the refresh token expires in 2 days")
            || failed[0].contains("expires in 3 days"),
        "{text}"
    );
    assert!(text.contains("fix: keep the daemon running"), "{text}");
}

#[test]
fn an_unresolvable_friend_is_a_cross_and_exit_5() {
    let (out, text) = doctor(Options {
        friends: vec!["없는친구"],
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(5), "{text}");
    let failed = failed_lines(&text);
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].contains("\"없는친구\" is not among your friends"),
        "{text}"
    );
    assert!(
        text.contains("fix: correct `friends` under [recipients]"),
        "{text}"
    );
}

#[test]
fn a_selector_that_matches_nothing_is_a_cross_per_meal_and_exit_5() {
    let (out, text) = doctor(Options {
        table: "table.gone",
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(5), "{text}");
    let failed = failed_lines(&text);
    assert_eq!(failed.len(), 2, "{text}");
    assert!(failed[0].starts_with("✗ [학생식당] lunch on "), "{text}");
    assert!(failed[1].starts_with("✗ [학생식당] dinner on "), "{text}");
    assert!(text.contains("fix: kbot scrape lunch --date "), "{text}");
}

#[test]
fn a_meal_the_page_lacks_is_a_cross_and_exit_5() {
    let (out, text) = doctor(Options {
        schedule: "breakfast = \"0 8 * * *\"\nlunch = \"30 11 * * *\"\n",
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(5), "{text}");
    let failed = failed_lines(&text);
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].starts_with("✗ [학생식당] breakfast on "),
        "{text}"
    );
    assert!(failed[0].contains("breakfast"), "{text}");
    assert!(text.contains("✓ [학생식당] lunch on "), "{text}");
}

#[test]
fn a_quota_overrun_is_a_cross_with_the_fix_and_exit_5() {
    // Lunch every ten minutes: 144 messages a day to the one friend.
    let (out, text) = doctor(Options {
        schedule: "lunch = \"*/10 * * * *\"\n",
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(5), "{text}");
    let failed = failed_lines(&text);
    assert!(
        failed
            .iter()
            .any(|l| l
                .contains("144 messages a day to friends pass Kakao's limit of 100 per sender")),
        "{text}"
    );
    assert!(
        failed.iter().any(|l| l.contains("limit of 20 per friend")),
        "{text}"
    );
    assert!(
        text.contains("fix: list at most 0 friends")
            || text.contains("fix: schedule each meal at most once a day"),
        "{text}"
    );
}

#[test]
fn no_daemon_is_a_cross_with_the_systemctl_line_and_exit_1() {
    let (out, text) = doctor(Options {
        daemon: false,
        ..Options::default()
    });
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("✗ the daemon is not running: nothing is sent on schedule\n    fix: systemctl --user enable --now kbot\n"),
        "{text}"
    );
}

#[test]
fn a_login_kakao_no_longer_accepts_is_a_cross_and_exit_3() {
    let setup = Setup::new(&Options::default());
    let _lock = kbot::schedule::lock_instance(&setup.env.data_dir()).unwrap();
    // Unlinked at Kakao: the cached token and the refresh token both stop working.
    setup.fake.revoke_all();
    let out = setup.doctor(&[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{text}");
    let failed = failed_lines(&text);
    assert!(
        failed[0].contains("kakao does not accept the stored login"),
        "{text}"
    );
    assert!(text.contains("fix: kbot login"), "{text}");
    // One line for the login: no ✓ "logged in" above the ✗ for the same login.
    assert!(!text.contains("logged in as"), "{text}");
    let json = kbot_json(&setup);
    let logins = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "login")
        .count();
    assert_eq!(logins, 1, "{json}");
}

fn kbot_json(setup: &Setup) -> serde_json::Value {
    let out = setup.doctor(&["--json"]);
    serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON")
}

#[test]
fn a_config_fresh_from_init_is_told_what_to_set_without_reading_the_placeholder_page() {
    let env = TestEnv::new();
    env.kbot().args(["config", "init"]).assert().success();
    let out = env.kbot().arg("doctor").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let errors = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("is the example's placeholder") && text.contains("kbot scrape --find"),
        "{text}"
    );
    assert!(text.contains("kakao.client_id is not set yet"), "{text}");
    // The example's page is not the user's: no fetch of it, so no line about its meals and
    // no retries logged.
    assert!(!text.contains("[학생식당] lunch"), "{text}");
    assert!(!errors.contains("cannot fetch"), "{errors}");
}
