//! Messages people want to read, through `message::render` on real saved pages
//! and random menus: a meal in at most two parts with nothing cut silently, no heading left
//! at the end of a part, no part over Kakao's 200 characters, favourites and avoided dishes.
//!
//! I/O: reads the saved DGU page and its ground truth from `tests/fixtures/pages/`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use encoding_rs::UTF_8;
use kbot::Meal;
use kbot::highlight::Highlight;
use kbot::message::{self, Audience, Rendered, Style, TEXT_LIMIT};
use kbot::noise;
use kbot::scrape::{self, Group, Outcome, Rule, SourceReport};
use proptest::prelude::*;
use serde_json::Value;

const DGU: &str = "dgu-coop-week-2026-09-27";
const DGU_TABLE: &str = "div#sdetail > table:nth-of-type(2)";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages")
}

fn dgu_html() -> String {
    let bytes = std::fs::read(fixtures().join(format!("{DGU}.html"))).expect("fixture page");
    scrape::decode(&bytes, None, Some(UTF_8)).0
}

fn dgu_truth() -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{DGU}.json"))).expect("truth");
    serde_json::from_str(&text).expect("ground truth is JSON")
}

fn dgu_rule() -> Rule {
    Rule {
        encoding: Some(UTF_8),
        ..Rule::table(DGU_TABLE)
    }
}

fn report(name: &str, outcome: Outcome) -> SourceReport {
    SourceReport {
        name: name.into(),
        url: "https://dgucoop.dongguk.edu/".into(),
        outcome,
        detail: None,
        explain: None,
    }
}

fn style() -> Style {
    Style::new("https://dgucoop.dongguk.edu/")
}

fn texts(rendered: &Rendered, audience: Audience) -> Vec<String> {
    rendered
        .parts
        .iter()
        .filter(|p| p.audience == audience)
        .map(|p| {
            p.template["text"]
                .as_str()
                .expect("a text part")
                .to_string()
        })
        .collect()
}

/// The weekdays of the DGU week the ground truth has a lunch for.
fn dgu_lunch_days(truth: &Value) -> Vec<String> {
    truth["days"]
        .as_object()
        .expect("days")
        .iter()
        .filter(|(_, meals)| {
            meals
                .get("lunch")
                .is_some_and(|l| !l.as_object().unwrap().is_empty())
        })
        .map(|(day, _)| day.clone())
        .collect()
}

/// The ground truth's lunch lines of one day in page order, with the default noise removed:
/// the dishes a reader should get (or be told were left out).
fn expected_dishes(truth: &Value, day: &str) -> Vec<String> {
    // The ground-truth object keeps the page's corner order (serde_json preserve_order is
    // not on, so order the corners by the scraper's own group order instead).
    let groups = truth["days"][day]["lunch"].as_object().expect("lunch");
    let parsed = scrape::parse(&dgu_html(), &dgu_rule(), day.parse().unwrap(), Meal::Lunch);
    let Outcome::Menu(found) = parsed.outcome else {
        panic!("the scraper reads the DGU lunch of {day}");
    };
    let all = noise::all();
    found
        .iter()
        .flat_map(|g| {
            let lines = groups
                .get(&g.label)
                .unwrap_or_else(|| panic!("{day}: the ground truth has corner {:?}", g.label));
            lines
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| noise::clean(l.as_str().unwrap(), &all))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_subsequence(shown: &[String], all: &[String]) -> bool {
    let mut rest = all.iter();
    shown.iter().all(|s| rest.any(|a| a == s))
}

#[test]
fn every_dgu_week_lunch_fits_two_parts_and_every_dish_is_shown_in_order_or_counted() {
    let truth = dgu_truth();
    let days = dgu_lunch_days(&truth);
    assert!(days.len() >= 5, "the week has five lunches: {days:?}");
    for day in days {
        let date: NaiveDate = day.parse().unwrap();
        let parsed = scrape::parse(&dgu_html(), &dgu_rule(), date, Meal::Lunch);
        let r = message::render(
            date,
            Meal::Lunch,
            &[report("동국대", parsed.outcome)],
            &style(),
        );
        let parts = texts(&r, Audience::Everyone);
        assert!(
            !parts.is_empty() && parts.len() <= 2,
            "{day}: {} parts",
            parts.len()
        );
        let expected = expected_dishes(&truth, &day);
        assert!(
            is_subsequence(&r.shown, &expected),
            "{day}: shown dishes are the ground truth's, in order\nshown: {:?}\nexpected: {expected:?}",
            r.shown
        );
        assert_eq!(
            r.shown.len() + r.omitted,
            expected.len(),
            "{day}: every non-noise dish is shown or counted"
        );
        let body = parts.join("\n");
        for dish in &r.shown {
            assert!(
                body.lines().any(|l| l == dish),
                "{day}: {dish} is in the text"
            );
        }
        if r.omitted > 0 {
            let last = parts.last().unwrap().lines().last().unwrap().to_string();
            assert_eq!(last, message::left_out_line(&r.left_out));
            assert!(last.contains(&format!("{}개", r.omitted)) || r.left_out.len() > 1);
            let counted: usize = r.left_out.iter().map(|l| l.count).sum();
            assert_eq!(counted, r.omitted, "{day}: the names add up to the count");
        }
        // No noise reaches the reader, and the source is not repeated.
        for noise in ["국내산", "￦", "11:00~14:00", "동국대"] {
            assert!(!body.contains(noise), "{day}: {noise:?} in\n{body}");
        }
    }
}

const PKNU: &str = "pknu-weekly-2025-08-18";

#[test]
fn every_pknu_lunch_shows_each_restaurant_or_names_it_as_left_out_in_two_parts() {
    let bytes = std::fs::read(fixtures().join(format!("{PKNU}.html"))).expect("fixture page");
    let html = scrape::decode(&bytes, None, None).0;
    let rule = Rule::table("table.con03_sub_2");
    let days = [
        "2025-08-18",
        "2025-08-19",
        "2025-08-20",
        "2025-08-21",
        "2025-08-22",
    ];
    for day in days {
        let date: NaiveDate = day.parse().unwrap();
        let parsed = scrape::parse(&html, &rule, date, Meal::Lunch);
        let r = message::render(
            date,
            Meal::Lunch,
            &[report("부경대", parsed.outcome)],
            &style(),
        );
        let parts = texts(&r, Audience::Everyone);
        assert!(
            !parts.is_empty() && parts.len() <= 2,
            "{day}: {} parts",
            parts.len()
        );
        for part in &parts {
            assert!(
                part.chars().count() <= TEXT_LIMIT,
                "{day}: a part of {} characters:\n{part}",
                part.chars().count()
            );
        }
        let body = parts.join("\n");
        let last = body.lines().last().unwrap();
        for restaurant in ["라일락", "다래락", "한미락"] {
            let shown = body
                .lines()
                .any(|l| l.starts_with("■ ") && l.contains(restaurant));
            let named = last.starts_with("… 외: ") && last.contains(restaurant);
            assert!(
                shown || named,
                "{day}: {restaurant} is neither shown nor named as left out:\n{body}"
            );
        }
        // Each restaurant's daily dishes come before the fixed price lists: the day's own
        // dishes of every restaurant are in the message.
        for daily in ["라일락 레스토랑", "한미락 레스토랑", "[정식]"] {
            assert!(body.contains(daily), "{day}: {daily} missing:\n{body}");
        }
        // Only 다래락's fixed price lists (the same all week) were left out.
        assert!(last.starts_with("… 외: 다래락 "), "{day}: {last}");
        assert!(!last.contains(", "), "{day}: {last}");
    }
}

#[test]
fn max_parts_zero_keeps_every_line() {
    let date: NaiveDate = "2026-09-28".parse().unwrap();
    let parsed = scrape::parse(&dgu_html(), &dgu_rule(), date, Meal::Lunch);
    let all_style = Style {
        max_parts: 0,
        ..style()
    };
    let r = message::render(
        date,
        Meal::Lunch,
        &[report("동국대", parsed.outcome)],
        &all_style,
    );
    assert_eq!(r.omitted, 0);
    assert_eq!(r.shown, expected_dishes(&dgu_truth(), "2026-09-28"));
    assert!(r.menu_parts() > 2);
    assert!(!texts(&r, Audience::Everyone).join("\n").contains("외 "));
}

#[test]
fn several_sources_are_each_named_once_as_a_heading() {
    let date: NaiveDate = "2026-09-28".parse().unwrap();
    let menu = |dishes: &[&str]| {
        Outcome::Menu(vec![Group {
            label: String::new(),
            dishes: dishes.iter().map(|d| d.to_string()).collect(),
        }])
    };
    let r = message::render(
        date,
        Meal::Lunch,
        &[
            report("학생식당", menu(&["돈까스", "￦ 5,000"])),
            report("교직원식당", menu(&["비빔밥"])),
        ],
        &style(),
    );
    assert_eq!(
        texts(&r, Audience::Everyone),
        ["9월 28일 (월) 점심\n《학생식당》\n돈까스\n《교직원식당》\n비빔밥"]
    );
}

#[test]
fn favourites_are_starred_avoided_words_warned_and_only_the_day_with_a_favourite_alerts_me() {
    let truth = dgu_truth();
    let highlighted = Style {
        highlight: Highlight {
            favorites: vec!["칼 국수".into()],
            avoid: vec!["고로케".into()],
            notify_me: true,
        },
        ..style()
    };
    let mut alerts = Vec::new();
    for day in dgu_lunch_days(&truth) {
        let date: NaiveDate = day.parse().unwrap();
        let parsed = scrape::parse(&dgu_html(), &dgu_rule(), date, Meal::Lunch);
        let r = message::render(
            date,
            Meal::Lunch,
            &[report("동국대", parsed.outcome)],
            &highlighted,
        );
        let to_me = texts(&r, Audience::Alert);
        let menu = texts(&r, Audience::Everyone).join("\n");
        if day == "2026-10-01" {
            assert!(menu.contains("★ 육개장칼국수(뚝)"), "{menu}");
            assert!(menu.contains("⚠ 고구마고로케"), "{menu}");
        }
        alerts.extend(to_me.into_iter().map(|t| (day.clone(), t)));
    }
    assert_eq!(
        alerts,
        [(
            "2026-10-01".to_string(),
            "★ 10월 1일 (목) 점심: 육개장칼국수(뚝)".to_string()
        )],
        "one alert, on Thursday only"
    );
}

#[test]
fn a_wrong_date_warning_is_one_korean_message_with_the_command_and_no_year() {
    let date: NaiveDate = "2026-11-24".parse().unwrap();
    let mut wrong = report("동국대", Outcome::WrongDate);
    wrong.detail = Some("the page is for 2025-11-17 .. 2025-11-23 (year guessed)".into());
    let failed = [wrong, report("학생식당", Outcome::FetchFailed)];
    let r = message::render(date, Meal::Lunch, &failed, &style());
    let to_me = texts(&r, Audience::Me);
    assert_eq!(to_me.len(), 1, "one message: {to_me:?}");
    let text = &to_me[0];
    assert!(text.chars().count() <= TEXT_LIMIT);
    assert!(text.contains("kbot scrape 점심 --explain"), "{text}");
    assert!(
        !text.contains("2025") && !text.contains("2026"),
        "no year: {text}"
    );
    assert!(
        !text
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !"kbotscrapexplain".contains(c)),
        "Korean apart from the command: {text}"
    );
}

/// Headings as the renderer writes them: a source, a restaurant, a corner.
fn is_heading(line: &str) -> bool {
    line.starts_with('《') || line.starts_with("■ ") || line.starts_with('[')
}

fn hangul_word(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0xAC00u32..0xD7A3, 1..max)
        .prop_map(|cs| cs.into_iter().filter_map(char::from_u32).collect())
}

fn group() -> impl Strategy<Value = Group> {
    (
        proptest::option::of(hangul_word(14)),
        hangul_word(40),
        proptest::collection::vec(hangul_word(120), 0..12),
    )
        .prop_map(|(restaurant, corner, dishes)| Group {
            label: match restaurant {
                Some(r) => format!("{r} > {corner}"),
                None => corner,
            },
            dishes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_part_ends_with_a_heading_or_exceeds_200_characters(
        sources in proptest::collection::vec(
            (hangul_word(12), proptest::collection::vec(group(), 0..8)),
            1..4,
        ),
        max_parts in 0usize..4,
    ) {
        let reports: Vec<SourceReport> = sources
            .into_iter()
            .map(|(name, groups)| report(&name, Outcome::Menu(groups)))
            .collect();
        let s = Style { max_parts, ..style() };
        let r = message::render("2026-11-24".parse().unwrap(), Meal::Lunch, &reports, &s);
        let parts = texts(&r, Audience::Everyone);
        if max_parts > 0 {
            prop_assert!(parts.len() <= max_parts, "{} parts > {max_parts}", parts.len());
        }
        for part in &parts {
            prop_assert!(part.chars().count() <= TEXT_LIMIT, "too long: {part}");
            let last = part.lines().last().unwrap();
            prop_assert!(part.lines().count() == 1 || !is_heading(last), "ends with a heading: {part}");
        }
    }
}

// ─── Through the real binary, against the fake Kakao ───────────────────────────────────

mod common;
mod support;

use common::{TestEnv, kakao_section, pages_dir, seed_login, source_block};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";
const JBNU: &str = "jbnu-jinsuwon-2023-04-10";
const JBNU_LUNCH: [&str; 3] = ["lunch", "--date", "2023-04-10"];
const FRIEND: (&str, &str) = ("fuuid-01-seoyeon", "이서연");

/// A fake Kakao with one friend, a kbot home reading the small JBNU page, and a login.
fn bot(rest: &str) -> (FakeKakao, TestEnv) {
    let fake = FakeKakao::start_on_thread();
    fake.add_friend(FRIEND.0, FRIEND.1, true);
    let env = TestEnv::new();
    let page = pages_dir().join(format!("{JBNU}.html"));
    env.write_config(&format!(
        "{}{}{rest}",
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

fn kbot(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let output = env
        .kbot()
        .env("KBOT_RETRY_BASE_MS", "1")
        .args(args)
        .output()
        .expect("run kbot");
    assert!(
        output.status.success(),
        "kbot {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn received(fake: &FakeKakao, recipient: &str) -> Vec<String> {
    fake.delivered_to(recipient)
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_test_send_reaches_only_me_and_the_real_run_after_it_still_sends_everything() {
    let (fake, env) = bot(&format!(
        "[recipients]\nme = true\nfriends = [{:?}]\n",
        FRIEND.1
    ));
    let mut args = vec!["send-now"];
    args.extend(JBNU_LUNCH);
    let mut test_args = args.clone();
    test_args.extend(["--to", "me", "--test"]);

    kbot(&env, &test_args);
    let to_me = received(&fake, "me");
    assert_eq!(to_me.len(), 1);
    assert!(
        to_me[0].starts_with("[테스트] 4월 10일 (월) 점심"),
        "{}",
        to_me[0]
    );
    assert!(
        received(&fake, FRIEND.0).is_empty(),
        "a test never reaches friends"
    );
    let history = kbot(&env, &["history", "--json"]);
    assert_eq!(
        common::json(&history),
        serde_json::json!([]),
        "nothing recorded"
    );

    kbot(&env, &args);
    let to_me = received(&fake, "me");
    assert_eq!(to_me.len(), 2, "the real run sends to me after the test");
    assert!(
        to_me[1].starts_with("4월 10일 (월) 점심\n소고기사골우거지국"),
        "{}",
        to_me[1]
    );
    assert_eq!(received(&fake, FRIEND.0), [to_me[1].clone()]);
}

#[test]
fn a_favourite_alerts_me_once_even_when_i_do_not_get_the_menu() {
    let (fake, env) = bot(&format!(
        "[recipients]\nme = false\nfriends = [{:?}]\n[highlight]\nfavorites = [\"돈 불고기\"]\nnotify_me = true\n",
        FRIEND.1
    ));
    let mut args = vec!["send-now"];
    args.extend(JBNU_LUNCH);
    kbot(&env, &args);
    kbot(&env, &args);
    assert_eq!(
        received(&fake, "me"),
        ["★ 4월 10일 (월) 점심: 숯불바베큐돈불고기"],
        "one alert, and the second run sends it no more"
    );
    let friend = received(&fake, FRIEND.0);
    assert_eq!(friend.len(), 1);
    assert!(friend[0].contains("★ 숯불바베큐돈불고기"), "{}", friend[0]);
}

/// The JBNU page rewritten for the week before, every cell `방학 휴무`.
fn closed_week_page() -> String {
    let page = std::fs::read_to_string(pages_dir().join(format!("{JBNU}.html"))).unwrap();
    let page = page.replace("4월 10일 ~ 4월 14일", "4월 3일 ~ 4월 7일");
    let cell = regex::Regex::new(r"<td>.*?</td>").unwrap();
    cell.replace_all(&page, "<td>방학 휴무</td>").into_owned()
}

#[test]
fn five_closed_weekdays_give_one_pause_notice_and_the_first_menu_after_is_sent() {
    let fake = FakeKakao::start_on_thread();
    fake.add_friend(FRIEND.0, FRIEND.1, true);
    let env = TestEnv::new();
    let pages = env.path("pages");
    std::fs::create_dir_all(&pages).unwrap();
    let closed = closed_week_page();
    for day in 3..=7 {
        std::fs::write(pages.join(format!("2023040{day}.html")), &closed).unwrap();
    }
    std::fs::copy(
        pages_dir().join(format!("{JBNU}.html")),
        pages.join("20230410.html"),
    )
    .unwrap();
    let url = format!(
        "{}/{{date:%Y%m%d}}.html",
        url::Url::from_file_path(&pages).unwrap()
    );
    env.write_config(&format!(
        "{}[[source]]\nname = \"진수원\"\nurl = {url:?}\ntable = \"table.tblType03\"\n[recipients]\nme = true\nfriends = [{:?}]\n",
        kakao_section(&fake.url(), CLIENT_ID),
        FRIEND.1
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    for date in [
        "2023-04-03",
        "2023-04-04",
        "2023-04-05",
        "2023-04-06",
        "2023-04-07",
        "2023-04-10",
    ] {
        kbot(&env, &["send-now", "lunch", "--date", date]);
    }
    let to_me = received(&fake, "me");
    let pauses: Vec<&String> = to_me.iter().filter(|t| t.starts_with("⏸")).collect();
    assert_eq!(pauses.len(), 1, "one pause notice: {to_me:#?}");
    assert!(pauses[0].contains("4월 5일 (수) 점심"), "{}", pauses[0]);
    assert_eq!(
        to_me.len(),
        4,
        "two closed notices, the pause, the menu: {to_me:#?}"
    );
    assert!(to_me[0].contains("방학 휴무") && to_me[1].contains("방학 휴무"));
    assert!(
        to_me[3].starts_with("4월 10일 (월) 점심\n소고기사골우거지국"),
        "{}",
        to_me[3]
    );
    let friend = received(&fake, FRIEND.0);
    assert_eq!(friend.len(), 3, "friends get no pause notice: {friend:#?}");
    assert_eq!(
        friend[2], to_me[3],
        "the first menu after the pause is sent normally"
    );
}

/// Records the slots the daemon loop runs.
struct Runs(Vec<(NaiveDate, Meal)>);

impl kbot::schedule::Jobs for Runs {
    async fn run(
        &mut self,
        date: NaiveDate,
        meal: Meal,
        _slot: chrono::DateTime<chrono_tz::Tz>,
    ) -> kbot::Result<()> {
        self.0.push((date, meal));
        Ok(())
    }

    async fn has_run(&mut self, date: NaiveDate, meal: Meal) -> bool {
        self.0.contains(&(date, meal))
    }

    async fn missed(
        &mut self,
        _date: NaiveDate,
        _meal: Meal,
        _slot: chrono::DateTime<chrono_tz::Tz>,
    ) -> kbot::Result<()> {
        Ok(())
    }

    async fn last_activity(&mut self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }

    async fn keep_alive(&mut self) -> kbot::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn skip_holidays_skips_the_substitute_for_gaecheonjeol_and_hangeul_day_in_the_daemon() {
    let config = kbot::config::Config::from_toml(
        "[[source]]\nurl = \"https://example.ac.kr/menu\"\ntable = \"table\"\n\
         [schedule]\nlunch = \"30 11 * * Mon-Fri\"\nskip_holidays = true\n",
        None,
    )
    .expect("valid config");
    let start: chrono::DateTime<chrono::Utc> = "2026-10-04T12:00:00+09:00".parse().unwrap();
    let clock = std::sync::Arc::new(kbot::schedule::TokioClock::new(start));
    let mut jobs = Runs(Vec::new());
    // Monday 10-05 to Monday 10-12 at 00:00 KST, in paused time.
    let stop = tokio::time::sleep(std::time::Duration::from_secs(7 * 24 * 3600 + 12 * 3600));
    kbot::schedule::run(&config.plan(), clock, &mut jobs, stop)
        .await
        .expect("the schedule runs until stopped");
    let days: Vec<String> = jobs.0.iter().map(|(d, _)| d.to_string()).collect();
    assert_eq!(days, ["2026-10-06", "2026-10-07", "2026-10-08"]);
}

#[tokio::test(start_paused = true)]
async fn skip_holidays_skips_the_substitute_for_a_saturday_samiljeol_in_2031() {
    let config = kbot::config::Config::from_toml(
        "[[source]]\nurl = \"https://example.ac.kr/menu\"\ntable = \"table\"\n\
         [schedule]\nlunch = \"30 11 * * Mon-Fri\"\nskip_holidays = true\n",
        None,
    )
    .expect("valid config");
    // Friday 2031-02-28 noon KST; 삼일절 is Saturday 03-01, its substitute Monday 03-03.
    let start: chrono::DateTime<chrono::Utc> = "2031-02-28T12:00:00+09:00".parse().unwrap();
    let clock = std::sync::Arc::new(kbot::schedule::TokioClock::new(start));
    let mut jobs = Runs(Vec::new());
    // To Thursday 03-06 00:00 KST, in paused time.
    let stop = tokio::time::sleep(std::time::Duration::from_secs(5 * 24 * 3600 + 12 * 3600));
    kbot::schedule::run(&config.plan(), clock, &mut jobs, stop)
        .await
        .expect("the schedule runs until stopped");
    let days: Vec<String> = jobs.0.iter().map(|(d, _)| d.to_string()).collect();
    // Friday's slot (caught up at start) and Tuesday on: Monday 03-03 is skipped.
    assert_eq!(days, ["2031-02-28", "2031-03-04", "2031-03-05"]);
}

#[test]
fn a_list_template_previews_as_readable_entries_not_json() {
    let date: NaiveDate = "2026-09-28".parse().unwrap();
    let parsed = scrape::parse(&dgu_html(), &dgu_rule(), date, Meal::Lunch);
    let list = Style {
        template: kbot::config::Template::List,
        ..style()
    };
    let r = message::render(
        date,
        Meal::Lunch,
        &[report("동국대", parsed.outcome)],
        &list,
    );
    let first = kbot::view::list_template(&r.parts[0].template);
    assert!(first.starts_with("9월 28일 (월) 점심 (1/"), "{first}");
    assert!(
        first.contains("\n• 상록원3층식당 · 집밥\n  돈갈비김치찌개(뚝), 치킨가라아게"),
        "{first}"
    );
    assert!(first.contains("\n• 상록원3층식당 · 한그릇\n"), "{first}");
    assert!(!first.contains('{') && !first.contains("국내산"), "{first}");
}

#[test]
fn the_new_keys_are_validated_with_their_key_path_and_a_hint() {
    let base = "[[source]]\nurl = \"https://example.ac.kr/menu\"\ntable = \"table\"\n";
    let err = kbot::config::Config::from_toml(
        &format!(
            "{base}[message]\nnoise = [\"origin\", \"calories\"]\nmax_parts = -1\n\
             [highlight]\nfavorites = [\" \"]\nnotify_me = true\nfavourites = []\n\
             [schedule]\nskip_holidays = \"yes\"\n"
        ),
        None,
    )
    .expect_err("invalid");
    let text = err.to_string();
    for expected in [
        "message.noise[1]: unknown noise kind \"calories\"",
        "message.max_parts: expected a whole number from 0 to 20, found -1",
        "highlight.favorites[0]: empty word",
        "highlight.notify_me: notify_me is set but favorites is empty",
        "highlight.favourites: unknown key",
        "schedule.skip_holidays: expected true or false",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let ok = kbot::config::Config::from_toml(
        &format!("{base}[message]\nnoise = []\nmax_parts = 0\n"),
        None,
    )
    .expect("valid");
    assert!(ok.message.noise.is_empty());
    assert_eq!(ok.message.max_parts, 0);
    let defaults = kbot::config::Config::from_toml(base, None).expect("valid");
    assert_eq!(defaults.message.noise, noise::all());
    assert_eq!(defaults.message.max_parts, 2);
    assert!(!defaults.schedule.skip_holidays);
}
