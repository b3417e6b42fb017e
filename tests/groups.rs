//! End-to-end tests of recipient groups and `send-now --correct` through the real binary,
//! against the fake Kakao server on 127.0.0.1 with the file secret store seeded as after
//! `kbot login`.
//!
//! Two sources, "A식당" and "B식당", are small pages in the temp dir with a lunch and a
//! dinner each (no date on the page: they are "today" on any day). A group gets B's lunch
//! only; `[recipients] friends` get everything.

mod common;
mod support;

use std::collections::BTreeSet;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{TestEnv, json, kakao_section, seed_login};
use support::fake_kakao::FakeKakao;
use support::fake_kakao::api::FRIENDS_SEND_PATH;

const CLIENT_ID: &str = "fake-rest-api-key";

const A_LUNCH: [&str; 2] = ["돈까스", "우동"];
const A_DINNER: [&str; 2] = ["김치찌개", "계란말이"];
const B_LUNCH: [&str; 2] = ["비빔밥", "미역국"];
const B_DINNER: [&str; 2] = ["카레라이스", "단무지"];

/// Every dish of a source a message must not show to an audience without it.
fn dishes_of_a() -> Vec<&'static str> {
    A_LUNCH.iter().chain(A_DINNER.iter()).copied().collect()
}

/// A fake Kakao with friends, a kbot home with the two pages, a config and a login.
struct Bot {
    fake: FakeKakao,
    env: TestEnv,
}

impl Bot {
    /// `friends`: uuid and nickname of each friend who uses the app. `recipients` is the
    /// whole `[recipients]` section with its groups.
    fn new(friends: &[(&str, &str)], recipients: &str) -> Bot {
        let fake = FakeKakao::start_on_thread();
        for (uuid, nick) in friends {
            fake.add_friend(uuid, nick, true);
        }
        let bot = Bot {
            fake,
            env: TestEnv::new(),
        };
        bot.page("a.html", &A_LUNCH, &A_DINNER);
        bot.page("b.html", &B_LUNCH, &B_DINNER);
        let source = |name: &str, file: &str| {
            let url = url::Url::from_file_path(bot.env.path(file)).expect("absolute path");
            format!(
                "[[source]]\nname = \"{name}\"\nurl = \"{url}\"\n[source.select]\nlunch = \"div.lunch\"\ndinner = \"div.dinner\"\n"
            )
        };
        bot.env.write_config(&format!(
            "timezone = \"Asia/Seoul\"\n{}{}{}{recipients}",
            kakao_section(&bot.fake.url(), CLIENT_ID),
            source("A식당", "a.html"),
            source("B식당", "b.html"),
        ));
        let tokens = bot.fake.issue_tokens();
        seed_login(
            &bot.env.data_dir(),
            CLIENT_ID,
            &tokens.access_token,
            &tokens.refresh_token,
            chrono::Duration::hours(5),
        );
        bot
    }

    /// Write (or rewrite) a page of the temp dir.
    fn page(&self, file: &str, lunch: &[&str], dinner: &[&str]) {
        std::fs::write(
            self.env.path(file),
            format!(
                "<html><body><div class=\"lunch\">{}</div><div class=\"dinner\">{}</div></body></html>",
                lunch.join("<br>"),
                dinner.join("<br>")
            ),
        )
        .expect("write a page");
    }

    fn kbot(&self, args: &[&str]) -> Output {
        self.env
            .kbot()
            .env("KBOT_RETRY_BASE_MS", "1")
            .args(args)
            .output()
            .expect("run kbot")
    }

    fn texts(&self, recipient: &str) -> Vec<String> {
        self.fake
            .delivered_to(recipient)
            .iter()
            .map(|t| t["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn history(&self) -> Vec<Value> {
        let out = self.kbot(&["history", "--json", "--limit", "1000"]);
        assert!(out.status.success(), "{}", all_text(&out));
        json(&out).as_array().expect("an array").clone()
    }

    /// `kbot send-now ARGS…` in the background, to be killed.
    fn spawn_send(&self, args: &[&str]) -> Child {
        let template = self.env.kbot();
        let mut cmd = std::process::Command::new(template.get_program());
        cmd.env_clear();
        for (key, value) in template.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        if let Some(dir) = template.get_current_dir() {
            cmd.current_dir(dir);
        }
        cmd.env("KBOT_RETRY_BASE_MS", "1")
            .arg("send-now")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kbot")
    }
}

fn all_text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn contains_all(text: &str, dishes: &[&str]) -> bool {
    dishes.iter().all(|d| text.contains(d))
}

fn contains_none(text: &str, dishes: &[&str]) -> bool {
    dishes.iter().all(|d| !text.contains(d))
}

const ONE_GROUP: &str = "[recipients]\nme = true\nfriends = [\"이서연\"]\n[[recipients.group]]\nname = \"점심 B만\"\nfriends = [\"김민준\"]\nmeals = [\"lunch\"]\nsources = [\"B식당\"]\n[schedule]\nlunch = \"0 30 11 * * *\"\ndinner = \"0 30 17 * * *\"\n";

#[test]
fn a_group_gets_only_its_meal_and_source_friends_get_everything_each_once_and_a_rerun_sends_nothing()
 {
    let bot = Bot::new(&[("uuid-f", "이서연"), ("uuid-x", "김민준")], ONE_GROUP);
    for meal in ["lunch", "dinner"] {
        let out = bot.kbot(&["send-now", meal]);
        assert!(out.status.success(), "{}", all_text(&out));
    }
    let everything_lunch: Vec<&str> = A_LUNCH.iter().chain(B_LUNCH.iter()).copied().collect();
    let everything_dinner: Vec<&str> = A_DINNER.iter().chain(B_DINNER.iter()).copied().collect();
    for who in ["me", "uuid-f"] {
        let got = bot.texts(who);
        assert_eq!(got.len(), 2, "{who}: {got:?}");
        assert!(contains_all(&got[0], &everything_lunch), "{who}: {got:?}");
        assert!(contains_all(&got[1], &everything_dinner), "{who}: {got:?}");
        assert!(
            got[0].contains("《A식당》") && got[0].contains("《B식당》"),
            "{got:?}"
        );
    }
    let x = bot.texts("uuid-x");
    assert_eq!(x.len(), 1, "the group gets lunch only: {x:?}");
    assert!(contains_all(&x[0], &B_LUNCH), "{x:?}");
    assert!(contains_none(&x[0], &dishes_of_a()), "never A: {x:?}");
    assert!(contains_none(&x[0], &B_DINNER), "never dinner: {x:?}");
    // One source: no source heading, as a one-source message has none.
    assert!(!x[0].contains('《'), "{x:?}");

    let before = bot.fake.delivered().len();
    for meal in ["lunch", "dinner"] {
        let out = bot.kbot(&["send-now", meal]);
        assert!(out.status.success(), "{}", all_text(&out));
    }
    assert_eq!(bot.fake.delivered().len(), before, "a rerun sends nothing");
    let x_rows: Vec<Value> = bot
        .history()
        .into_iter()
        .filter(|r| r["recipient"] == "uuid-x")
        .collect();
    assert_eq!(x_rows.len(), 1, "{x_rows:?}");
    assert_eq!(x_rows[0]["meal"], "lunch");
    assert_eq!(x_rows[0]["status"], "sent");
    let out = bot.kbot(&["history"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("김민준 [점심 B만] (uuid-x)"),
        "history names the group:\n{text}"
    );
    let out = bot.kbot(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("group:  점심 B만 — lunch; B식당; 김민준\n"),
        "{text}"
    );
    let out = bot.kbot(&["status", "--json"]);
    assert_eq!(
        json(&out)["groups"],
        serde_json::json!([{"name": "점심 B만", "friends": ["김민준"], "meals": ["lunch"], "sources": ["B식당"]}])
    );
}

#[test]
fn preview_shows_each_audiences_own_message_and_names_its_group() {
    let bot = Bot::new(&[("uuid-f", "이서연"), ("uuid-x", "김민준")], ONE_GROUP);
    let out = bot.kbot(&["preview", "lunch"]);
    assert!(out.status.success(), "{}", all_text(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let group = text
        .split("── part ")
        .find(|p| p.contains("(점심 B만)"))
        .unwrap_or_else(|| panic!("no part names the group:\n{text}"));
    assert!(group.contains("김민준 (uuid-x)"), "{group}");
    assert!(
        contains_all(group, &B_LUNCH) && contains_none(group, &A_LUNCH),
        "{group}"
    );

    let out = bot.kbot(&["preview", "lunch", "--json"]);
    let parts = json(&out)["parts"].as_array().expect("parts").clone();
    let grouped: Vec<&Value> = parts.iter().filter(|p| p["group"] == "점심 B만").collect();
    assert_eq!(grouped.len(), 1, "{parts:?}");
    assert_eq!(grouped[0]["recipients"], serde_json::json!(["uuid-x"]));
    // At dinner the group gets nothing, so no part names it.
    let out = bot.kbot(&["preview", "dinner"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("점심 B만") && !text.contains("uuid-x"),
        "{text}"
    );
}

#[test]
fn a_group_naming_an_unknown_source_is_a_config_error_with_its_line_and_a_near_name() {
    let bot = Bot::new(
        &[],
        "[[recipients.group]]\nname = \"B만\"\nfriends = [\"김민준\"]\nsources = [\"B식딩\"]\n",
    );
    let out = bot.kbot(&["config", "check"]);
    assert_eq!(out.status.code(), Some(4), "{}", all_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("recipients.group[0].sources[0]"))
        .unwrap_or_else(|| panic!("the key is named:\n{err}"));
    // The group's `sources` line in the written config.
    let config = std::fs::read_to_string(bot.env.config_path()).unwrap();
    let at = config
        .lines()
        .position(|l| l.starts_with("sources = [\"B식딩\"]"))
        .unwrap()
        + 1;
    assert!(line.contains(&format!(":{at}:")), "{line} (line {at})");
    assert!(line.contains("no [[source]] is named \"B식딩\""), "{line}");
    assert!(err.contains("did you mean \"B식당\"?"), "{err}");
}

#[test]
fn send_now_names_a_changed_menu_and_correct_sends_each_recipient_one_correction() {
    let bot = Bot::new(&[("uuid-f", "이서연"), ("uuid-x", "김민준")], ONE_GROUP);
    let out = bot.kbot(&["send-now", "lunch"]);
    assert!(out.status.success(), "{}", all_text(&out));
    bot.page("b.html", &["비빔밥", "제육볶음"], &B_DINNER);

    let scrape = bot.kbot(&["scrape", "lunch"]);
    let said = String::from_utf8_lossy(&scrape.stdout).into_owned();
    assert!(
        said.contains("the menu changed since it was sent: B식당: 추가 제육볶음; 빠짐 미역국"),
        "{said}"
    );
    assert!(said.contains("--correct sends it"), "{said}");

    let rerun = bot.kbot(&["send-now", "lunch"]);
    assert!(rerun.status.success(), "{}", all_text(&rerun));
    let said = all_text(&rerun);
    assert!(
        said.contains("the menu changed since it was sent: B식당: 추가 제육볶음; 빠짐 미역국"),
        "{said}"
    );
    assert!(said.contains("--correct"), "{said}");
    assert_eq!(
        bot.fake.delivered().len(),
        3,
        "send-now does not correct on its own"
    );

    // --to limits it as for a run: first only me, then the friends (me has it already).
    let out = bot.kbot(&["send-now", "lunch", "--correct", "--to", "me"]);
    assert!(out.status.success(), "{}", all_text(&out));
    assert_eq!((bot.texts("me").len(), bot.texts("uuid-f").len()), (2, 1));
    let out = bot.kbot(&["send-now", "lunch", "--correct"]);
    assert!(out.status.success(), "{}", all_text(&out));
    for who in ["me", "uuid-f", "uuid-x"] {
        let got = bot.texts(who);
        assert_eq!(got.len(), 2, "{who}: {got:?}");
        assert!(got[1].starts_with("[정정] "), "{who}: {got:?}");
        assert!(
            got[1].contains("추가: 제육볶음") && got[1].contains("빠짐: 미역국"),
            "{got:?}"
        );
    }
    assert!(
        contains_none(&bot.texts("uuid-x")[1], &dishes_of_a()),
        "the group's correction shows only its source"
    );
    // Once corrected, a rerun finds nothing changed, and --correct sends nothing more.
    let out = bot.kbot(&["send-now", "lunch", "--correct"]);
    assert!(out.status.success(), "{}", all_text(&out));
    assert!(
        !all_text(&out).contains("the menu changed"),
        "{}",
        all_text(&out)
    );
    assert_eq!(bot.fake.delivered().len(), 6);
    let kinds: BTreeSet<String> = bot
        .history()
        .iter()
        .filter_map(|r| r["kind"].as_str().map(str::to_string))
        .collect();
    assert!(kinds.contains("correction"), "{kinds:?}");
}

/// Poll `done` every few milliseconds until it holds; panic after a minute.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_during_a_grouped_send_then_a_rerun_leaves_nobody_without_their_own_message() {
    // Three friends get everything (one call), seven are in the group (two calls).
    let plain: Vec<(String, String)> = (0..3)
        .map(|i| (format!("uuid-p{i}"), format!("친구{i}")))
        .collect();
    let grouped: Vec<(String, String)> = (0..7)
        .map(|i| (format!("uuid-g{i}"), format!("그룹{i}")))
        .collect();
    let all: Vec<(&str, &str)> = plain
        .iter()
        .chain(grouped.iter())
        .map(|(u, n)| (u.as_str(), n.as_str()))
        .collect();
    let list = |f: &[(String, String)]| -> String {
        f.iter()
            .map(|(_, n)| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let recipients = format!(
        "[recipients]\nme = true\nfriends = [{}]\n[[recipients.group]]\nname = \"B만\"\nfriends = [{}]\nsources = [\"B식당\"]\n",
        list(&plain),
        list(&grouped)
    );
    let bot = Bot::new(&all, &recipients);
    bot.fake.configure(|c| c.delay = Duration::from_millis(200));
    let mut child = bot.spawn_send(&["lunch"]);
    // The group's first call has reached the fake and waits in its delay.
    wait_until("the group's first call", || {
        bot.fake.count(FRIENDS_SEND_PATH) >= 2
    });
    child.kill().expect("SIGKILL kbot");
    assert!(
        !child.wait().expect("reap").success(),
        "finished before the kill"
    );
    let pending: BTreeSet<String> = bot
        .history()
        .iter()
        .filter(|r| r["status"] == "pending")
        .filter_map(|r| r["recipient"].as_str().map(str::to_string))
        .collect();
    assert!(
        bot.fake.delivered().len() < 11,
        "the kill landed after the run"
    );
    // The kill fell inside the group's call: only group members are left pending.
    assert!(!pending.is_empty(), "nothing in flight at the kill");
    assert!(
        pending.iter().all(|p| grouped.iter().any(|(u, _)| u == p)),
        "{pending:?}"
    );

    bot.fake.configure(|c| c.delay = Duration::ZERO);
    let out = bot.kbot(&["send-now", "lunch"]);
    assert!(out.status.success(), "{}", all_text(&out));
    let everyone_lunch: Vec<&str> = A_LUNCH.iter().chain(B_LUNCH.iter()).copied().collect();
    for (who, own) in std::iter::once("me")
        .chain(plain.iter().map(|(u, _)| u.as_str()))
        .map(|u| (u, true))
        .chain(grouped.iter().map(|(u, _)| (u.as_str(), false)))
    {
        let got = bot.texts(who);
        assert!(!got.is_empty(), "{who} is missing the menu");
        assert!(
            got.len() == 1 || (got.len() == 2 && pending.contains(who)),
            "{who} got {} copies (pending at the kill: {pending:?})",
            got.len()
        );
        for text in &got {
            if own {
                assert!(contains_all(text, &everyone_lunch), "{who}: {text}");
            } else {
                assert!(contains_all(text, &B_LUNCH), "{who}: {text}");
                assert!(contains_none(text, &dishes_of_a()), "{who}: {text}");
            }
        }
    }
    assert!(
        bot.history()
            .iter()
            .filter(|r| r["recipient"].is_string())
            .all(|r| r["status"] == "sent"),
        "{:?}",
        bot.history()
    );
}

#[test]
fn doctor_names_each_group_with_its_members_and_counts_its_own_messages_in_the_quota() {
    let bot = Bot::new(&[("uuid-f", "이서연"), ("uuid-x", "김민준")], ONE_GROUP);
    let out = bot.kbot(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("group 점심 B만 (lunch; B식당): 김민준 (uuid-x)"),
        "{}",
        all_text(&out)
    );
    // 이서연: lunch and dinner, one part each; 김민준: B's lunch only.
    assert!(
        text.contains("3 messages a day to 2 friends"),
        "{}",
        all_text(&out)
    );
}
