//! Kakao's daily quotas through the real binary: `config check` and `preview` estimate the
//! messages a day (parts × friends × meals) from the page as it reads today and warn, with
//! the fix, when that passes 100 per sender; a small setup gets no warning.

mod common;

use chrono::{Datelike, Duration, Utc};
use common::TestEnv;

/// A week grid around today with breakfast, lunch and dinner of `dishes` lines each.
fn page(dishes: usize) -> String {
    const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
    #[allow(clippy::disallowed_methods)] // the page must match the binary's real clock
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Seoul)
        .date_naive();
    let days: Vec<_> = (-1..=8).map(|d| today + Duration::days(d)).collect();
    let mut html = String::from("<table class=\"menu\"><tr><th>구분</th>");
    for d in &days {
        html.push_str(&format!(
            "<th>{}/{:02}({})</th>",
            d.month(),
            d.day(),
            DAYS[d.weekday().num_days_from_monday() as usize]
        ));
    }
    html.push_str("</tr>");
    let cell: Vec<String> = (0..dishes).map(|i| format!("특선메뉴{i}번")).collect();
    for meal in ["조식", "중식", "석식"] {
        html.push_str(&format!("<tr><th>{meal}</th>"));
        for _ in &days {
            html.push_str(&format!("<td>{}</td>", cell.join("<br>")));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

fn setup(dishes: usize, friends: usize, schedule: &str) -> TestEnv {
    let env = TestEnv::new();
    std::fs::write(env.path("menu.html"), page(dishes)).unwrap();
    let names: Vec<String> = (1..=friends).map(|i| format!("\"친구{i}\"")).collect();
    env.write_config(&format!(
        "[kakao]\nclient_id = \"k\"\n[[source]]\nname = \"식당\"\nurl = \"menu.html\"\ntable = \"table.menu\"\n[message]\nmax_parts = 0\nnoise = []\n[recipients]\nme = true\nfriends = [{}]\n[schedule]\n{schedule}",
        names.join(", ")
    ));
    env
}

const THREE_MEALS: &str =
    "breakfast = \"0 8 * * *\"\nlunch = \"30 11 * * *\"\ndinner = \"0 17 * * *\"\n";

fn stderr_of(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let out = env.kbot().args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn three_meals_of_three_parts_to_twelve_friends_warn_of_the_sender_quota() {
    let env = setup(55, 12, THREE_MEALS);
    // Precondition: today's page makes three parts a meal (max_parts = 0: no shortening).
    let preview = env
        .kbot()
        .args(["preview", "lunch", "--json"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&preview.stdout).unwrap();
    assert_eq!(value["parts"].as_array().unwrap().len(), 3, "{value}");

    let (code, err) = stderr_of(&env, &["config", "check"]);
    assert_eq!(code, Some(0), "a warning, not an error: {err}");
    assert!(
        err.contains("108 messages a day to friends pass Kakao's limit of 100 per sender (9 each × 12 friends)"),
        "{err}"
    );
    assert!(
        err.contains("fix: list at most 11 friends under [recipients]"),
        "{err}"
    );

    let (code, err) = stderr_of(&env, &["preview", "lunch"]);
    assert_eq!(code, Some(0));
    assert!(err.contains("108 messages a day"), "{err}");
}

#[test]
fn one_part_to_five_friends_gets_no_quota_warning() {
    let env = setup(3, 5, "lunch = \"30 11 * * *\"\n");
    for args in [&["config", "check"][..], &["preview", "lunch"]] {
        let (code, err) = stderr_of(&env, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("messages a day"), "{args:?}: {err}");
    }
}
