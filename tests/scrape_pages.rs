//! The scraper against real saved cafeteria pages (`tests/fixtures/pages/`), checked against
//! their hand-made ground truth, which is read at test time: every day, every meal, every
//! group. Plus fetching over loopback HTTP and `file://`, the failure outcomes, and property
//! tests that no input panics `parse` or `decode`.
//!
//! I/O: reads the fixtures, serves them from an axum server on 127.0.0.1:0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use encoding_rs::EUC_KR;
use kbot::Meal;
use kbot::http::{Timeouts, client};
use kbot::scrape::{self, Group, Mode, Outcome, Retry, Rule, Source, Undated};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

/// How a user would configure each saved page with a selector (the page's `table_selector`);
/// every page is also checked with `table = "auto"`. Every fixture must be listed here
/// (checked by `every_fixture_page_has_a_rule`).
const PAGES: &[(&str, &str)] = &[
    ("jbnu-jinsuwon-2023-04-10", "table.tblType03"),
    ("jbnu-jinsuwon-2024-04-22", "table.tblType03"),
    ("jbnu-coop-full-2024-04-22", "div.ttArea table.tblType03"),
    // Its stored text is UTF-8 under a <meta> that still says EUC-KR: read as UTF-8 with
    // no `encoding` override.
    (
        "dgu-coop-week-2026-09-27",
        "div#sdetail > table:nth-of-type(2)",
    ),
    (
        "dgu-coop-week-2026-09-27-euckr",
        "div#sdetail > table:nth-of-type(2)",
    ),
    ("sejong-gunja-2018-04-30", "table.food"),
    ("inu-coop-today-2021-03-15", "div.detail_left > table"),
    ("pknu-weekly-2025-08-18", "table.con03_sub_2"),
    ("chungkang-ingansarang-2026-03-02", "table#user-table"),
    ("neis-sen-b100002365-month-2019-05-01", "table.tbl_calendar"),
    ("neis-dje-g100000170-month-2022-03-02", "table.tbl_calendar"),
];

/// Whether a page is a month calendar: its ground truth lists the weekdays that hold only a
/// day number (`no_menu_weekdays`). On such a page every day the calendar shows is a key of
/// `days`, and a meal the page serves but a day lacks is `closed` that day.
fn is_calendar(truth: &Value) -> bool {
    truth.get("no_menu_weekdays").is_some()
}

/// The ground truth as kbot now reads it. The shared truth of the INU page keeps in-cell meal
/// sections (`*천원의아침*` … `*중식*` …) in the column they stand in; kbot splits a cell at
/// such labels in every layout and never sends a label as a dish, so for that page's two
/// split cells the expected dishes are the sections' own (checked by hand against the page),
/// separator lines between sections dropped.
fn truth(name: &str) -> Value {
    let mut truth = raw_truth(name);
    if name == "inu-coop-today-2021-03-15" {
        let day = &mut truth["days"]["2021-03-15"];
        let lines = |v: &[&str]| Value::from(v.to_vec());
        day["breakfast"]["학생식당 > 1코너 (앞쪽)"] = lines(&[
            "사골김치만두국",
            "감자떡완자조림",
            "느타리버섯볶음",
            "양념깻잎지",
            "쌀밥",
            "4,000원 630kcal",
        ]);
        day["lunch"]["학생식당 > 1코너 (앞쪽)"] = lines(&[
            "목살고추장찌개",
            "꼬마돈까스*케찹",
            "숙주맛살무침",
            "청경채겉절이",
            "쌀밥",
            "4,000원 624kcal",
        ]);
        day["lunch"]["학생식당 > 3-2코너 (앞쪽)"] = lines(&[
            "순대국밥/수육국밥/얼큰국밥",
            "[부추겉절이*양파초절임]",
            "5,000원 544kcal 568kcal",
        ]);
        day["dinner"]["학생식당 > 3-2코너 (앞쪽)"] = lines(&[
            "수육국밥",
            "[부추겉절이*양파초절임]",
            "5,000원 544kcal 568kcal",
        ]);
    }
    truth
}

/// Both ways a user can point kbot at each page's menu: its selector, and `auto`.
fn rules() -> Vec<(&'static str, Rule)> {
    PAGES
        .iter()
        .flat_map(|(name, selector)| {
            [
                (*name, Rule::table(*selector)),
                (*name, Rule::table("auto")),
            ]
        })
        .collect()
}

/// "Lines with Latin letters and no Hangul", the ground truth's `days_korean_only` rule.
const ENGLISH_ONLY: &str = r"^[^\p{Hangul}]*[A-Za-z][^\p{Hangul}]*$";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("{name}.html"))).expect("fixture page is readable")
}

fn raw_truth(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json")))
        .expect("ground truth is readable");
    serde_json::from_str(&text).expect("ground truth is JSON")
}

fn page_text(name: &str, rule: &Rule) -> String {
    scrape::decode(&bytes(name), None, rule.encoding).0
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("ground truth dates are YYYY-MM-DD")
}

/// label → dishes, from a parse outcome.
fn menu_of(outcome: &Outcome) -> BTreeMap<String, Vec<String>> {
    match outcome {
        Outcome::Menu(groups) => groups
            .iter()
            .map(|g| (g.label.clone(), g.dishes.clone()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Whether a group label kbot gives is the ground truth's: the same corners after the
/// restaurant, and a restaurant heading that contains the truth's short name (the page's
/// heading `미래관 라일락 레스토랑` for the truth's `라일락`).
fn same_label(expected: &str, got: &str) -> bool {
    // A calendar's truth keys its one group by the school's NEIS code, which the page never
    // names: kbot's group there has no label.
    if is_neis_code(expected) {
        return got.is_empty();
    }
    let (e, g): (Vec<&str>, Vec<&str>) =
        (expected.split(" > ").collect(), got.split(" > ").collect());
    e.len() == g.len() && (e.is_empty() || g[0].contains(e[0])) && e[1..] == g[1..]
}

/// `B100002365`: a NEIS school code (a region letter and nine digits).
fn is_neis_code(label: &str) -> bool {
    label.len() == 10
        && label.starts_with(|c: char| c.is_ascii_uppercase())
        && label[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Whether a menu is exactly the expected groups (labels by [`same_label`], dishes equal).
fn same_menu(expected: &BTreeMap<String, Vec<String>>, outcome: &Outcome) -> bool {
    let Outcome::Menu(groups) = outcome else {
        return expected.is_empty();
    };
    groups.len() == expected.len()
        && expected.iter().all(|(label, dishes)| {
            groups
                .iter()
                .any(|g| same_label(label, &g.label) && &g.dishes == dishes)
        })
}

/// Every meal the ground truth serves or closes on some day of the page.
fn meals_in_truth(truth: &Value, days_key: &str) -> Vec<Meal> {
    let mut meals: Vec<Meal> = Meal::ALL
        .into_iter()
        .filter(|m| {
            truth[days_key]
                .as_object()
                .is_some_and(|days| days.values().any(|d| d.get(m.as_str()).is_some()))
                || truth["closed"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["meal"] == m.as_str()))
        })
        .collect();
    meals.dedup();
    meals
}

/// label → dishes, from one ground-truth meal object.
fn expected_of(meal: Option<&Value>) -> BTreeMap<String, Vec<String>> {
    let Some(Value::Object(groups)) = meal else {
        return BTreeMap::new();
    };
    groups
        .iter()
        .map(|(label, dishes)| {
            let dishes = dishes
                .as_array()
                .expect("dishes are a list")
                .iter()
                .map(|d| d.as_str().expect("a dish is a string").to_string())
                .collect();
            (label.clone(), dishes)
        })
        .collect()
}

/// The closure notices the ground truth lists for one date and meal.
fn closed_of(truth: &Value, day: &str, meal: Meal) -> Vec<(String, String)> {
    truth["closed"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|c| c["date"] == day && c["meal"] == meal.as_str())
                .map(|c| {
                    let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (field("corner"), field("text"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Check every (day, meal) of one ground-truth `days` object; returns the mismatches.
fn check_days(name: &str, truth: &Value, days_key: &str, rule: &Rule) -> (usize, Vec<String>) {
    let html = page_text(name, rule);
    let days = truth[days_key].as_object().expect("days is an object");
    let served = meals_in_truth(truth, days_key);
    let mut checked = 0;
    let mut problems = Vec::new();
    for (day, meals) in days {
        for meal in Meal::ALL {
            checked += 1;
            let parsed = scrape::parse(&html, rule, date(day), meal);
            let expected = expected_of(meals.get(meal.as_str()));
            let closed = closed_of(truth, day, meal);
            let place = format!("{name} {:?} {days_key} {day} {meal}", rule.mode);
            if !expected.is_empty() {
                if !same_menu(&expected, &parsed.outcome) {
                    problems.push(format!(
                        "{place}: expected {expected:?}\n  got {:?} ({:?})",
                        parsed.outcome, parsed.detail
                    ));
                }
                for (corner, _) in &closed {
                    let short = corner.split(" > ").last().unwrap_or(corner);
                    if !parsed.detail.as_deref().is_some_and(|d| d.contains(short)) {
                        problems.push(format!(
                            "{place}: closed corner {corner} not named in detail {:?}",
                            parsed.detail
                        ));
                    }
                }
            } else if !closed.is_empty() {
                match &parsed.outcome {
                    Outcome::Closed { notice }
                        if closed
                            .iter()
                            .all(|(_, text)| notice.contains(text.as_str())) => {}
                    other => problems.push(format!(
                        "{place}: expected closed {closed:?}, got {other:?} ({:?})",
                        parsed.detail
                    )),
                }
            } else if is_calendar(truth) && served.contains(&meal) {
                // A calendar day with only its number, or without this meal: closed.
                if !matches!(parsed.outcome, Outcome::Closed { .. }) {
                    problems.push(format!(
                        "{place}: a calendar day without {meal}, expected closed, got {:?} ({:?})",
                        parsed.outcome, parsed.detail
                    ));
                }
            } else {
                let want = if served.contains(&meal) {
                    Outcome::NotFound
                } else {
                    Outcome::NoMeal
                };
                if parsed.outcome != want {
                    problems.push(format!(
                        "{place}: nothing is served, expected {want:?}, got {:?} ({:?})",
                        parsed.outcome, parsed.detail
                    ));
                }
            }
        }
    }
    (checked, problems)
}

#[test]
fn every_fixture_page_has_a_rule() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .collect();
    names.sort();
    let mut listed: Vec<String> = PAGES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(names, listed);
}

#[test]
fn every_page_gives_exactly_the_ground_truth_dishes_for_every_day_and_meal() {
    let mut problems = Vec::new();
    let mut total = 0;
    for (name, rule) in rules() {
        let truth = truth(name);
        let (checked, mut found) = check_days(name, &truth, "days", &rule);
        assert!(
            checked >= 3,
            "{name}: only {checked} (day, meal) pairs checked"
        );
        total += checked;
        problems.append(&mut found);
    }
    assert!(
        problems.is_empty(),
        "{} mismatches of {total}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn an_exclude_regex_for_english_lines_gives_the_korean_only_ground_truth() {
    let mut problems = Vec::new();
    let mut pages = 0;
    let english_only = Regex::new(ENGLISH_ONLY).expect("valid regex");
    for (name, rule) in rules() {
        let truth = truth(name);
        if truth.get("days_korean_only").is_none() {
            continue;
        }
        pages += 1;
        let rule = Rule {
            exclude: vec![english_only.clone()],
            ..rule
        };
        problems.append(&mut check_days(name, &truth, "days_korean_only", &rule).1);
    }
    assert_eq!(
        pages, 4,
        "two saved pages carry English translations, each read two ways"
    );
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_euc_kr_page_is_decoded_by_its_meta_with_no_charset_header() {
    let (text, encoding) = scrape::decode(
        &bytes("dgu-coop-week-2026-09-27-euckr"),
        Some("text/html"),
        None,
    );
    assert_eq!(encoding, EUC_KR);
    let utf8 =
        String::from_utf8(bytes("dgu-coop-week-2026-09-27")).expect("the UTF-8 twin is UTF-8");
    assert!(
        text == utf8,
        "decoded EUC-KR page differs from its UTF-8 twin"
    );
}

#[test]
fn a_date_outside_the_pages_week_is_the_wrong_date() {
    for (name, rule) in rules() {
        let html = page_text(name, &rule);
        let truth = truth(name);
        let days: Vec<NaiveDate> = truth["days"]
            .as_object()
            .expect("days")
            .keys()
            .map(|d| date(d))
            .collect();
        let (first, last) = (
            days.iter().min().expect("a day"),
            days.iter().max().expect("a day"),
        );
        for outside in [*first - chrono::Days::new(7), *last + chrono::Days::new(3)] {
            let parsed = scrape::parse(&html, &rule, outside, Meal::Lunch);
            assert_eq!(
                parsed.outcome,
                Outcome::WrongDate,
                "{name} {outside}: {:?}",
                parsed.detail
            );
            assert!(
                parsed
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.contains(&outside.to_string())),
                "{name}: {:?}",
                parsed.detail
            );
        }
    }
}

#[test]
fn explain_names_the_reader_of_each_new_layout_and_why() {
    for (name, day, reader) in [
        (
            "sejong-gunja-2018-04-30",
            "2018-04-30",
            "reader: date blocks: day labels down column 1, meal labels in body column 2",
        ),
        (
            "inu-coop-today-2021-03-15",
            "2021-03-15",
            "reader: day view, meals across the columns: no day labels; meal labels across row 2",
        ),
        (
            "chungkang-ingansarang-2026-03-02",
            "2026-03-03",
            "reader: date per row: day labels down column 1",
        ),
        (
            "pknu-weekly-2025-08-18",
            "2025-08-18",
            "reader: week grid: day labels across row 2",
        ),
    ] {
        let rule = Rule::table("auto");
        let html = page_text(name, &rule);
        let text = scrape::parse(&html, &rule, date(day), Meal::Lunch)
            .explain
            .to_string();
        assert!(text.contains(reader), "{name}:\n{text}");
    }
    let rule = Rule::table("table.con03_sub_2");
    let text = scrape::parse(
        &page_text("pknu-weekly-2025-08-18", &rule),
        &rule,
        date("2025-08-18"),
        Meal::Lunch,
    )
    .explain
    .to_string();
    assert!(
        text.contains("has no date, weekday or meal label while other tables have dates"),
        "the price list is skipped and said so:\n{text}"
    );
}

#[test]
fn a_selector_matching_nothing_lists_the_pages_tables_in_explain() {
    let rule = Rule::table("table.gone");
    let html = page_text("chungkang-ingansarang-2026-03-02", &rule);
    let parsed = scrape::parse(&html, &rule, date("2026-03-03"), Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    let text = parsed.explain.to_string();
    assert!(
        text.contains("the page's tables, best first")
            && text.contains("menu score")
            && text.contains("`table#user-table`"),
        "{text}"
    );
}

#[test]
fn a_missing_table_or_css_match_is_not_found_naming_the_selector() {
    let html = page_text("jbnu-coop-full-2024-04-22", &Rule::table("x"));
    let day = date("2024-04-22");
    let parsed = scrape::parse(&html, &Rule::table("table.tblType04"), day, Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("table.tblType04") && d.contains("page may have changed"))
    );

    let css = Rule::css(BTreeMap::from([(
        Meal::Lunch,
        "#menu td.lunch".to_string(),
    )]));
    let parsed = scrape::parse(&html, &css, day, Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("#menu td.lunch"))
    );
}

#[test]
fn a_meal_the_page_never_has_is_no_meal_with_advice_naming_the_schedule_key() {
    let rule = Rule::table("table.tblType03");
    let html = page_text("jbnu-jinsuwon-2023-04-10", &rule);
    let parsed = scrape::parse(&html, &rule, date("2023-04-10"), Meal::Breakfast);
    assert_eq!(parsed.outcome, Outcome::NoMeal);
    let detail = parsed.detail.unwrap_or_default();
    assert!(
        detail.contains("this page has no breakfast")
            && detail.contains("lunch, dinner")
            && detail.contains("remove schedule.breakfast"),
        "{detail}"
    );
}

#[test]
fn every_meal_a_shared_page_never_serves_is_no_meal_not_not_found_on_each_of_its_days() {
    let mut checked = 0;
    for (name, rule) in rules() {
        let truth = truth(name);
        let served = meals_in_truth(&truth, "days");
        let html = page_text(name, &rule);
        for meal in Meal::ALL.into_iter().filter(|m| !served.contains(m)) {
            for day in truth["days"].as_object().expect("days").keys() {
                let parsed = scrape::parse(&html, &rule, date(day), meal);
                assert_eq!(
                    parsed.outcome,
                    Outcome::NoMeal,
                    "{name} {:?} {day} {meal}: {:?}",
                    rule.mode,
                    parsed.detail
                );
                checked += 1;
            }
        }
    }
    // jinsuwon ×2 (breakfast), sejong (breakfast), pknu (breakfast, dinner), each two ways.
    assert!(checked >= 40, "only {checked} cases");
}

#[test]
fn a_date_a_week_after_each_pages_last_day_is_never_a_menu() {
    for (name, rule) in rules() {
        let html = page_text(name, &rule);
        let truth = truth(name);
        let last = truth["days"]
            .as_object()
            .expect("days")
            .keys()
            .map(|d| date(d))
            .max()
            .expect("a day");
        let later = last + chrono::Days::new(7);
        for meal in Meal::ALL {
            let parsed = scrape::parse(&html, &rule, later, meal);
            assert!(
                matches!(parsed.outcome, Outcome::WrongDate | Outcome::NoMeal),
                "{name} {:?} {later} {meal}: {:?} ({:?})",
                rule.mode,
                parsed.outcome,
                parsed.detail
            );
        }
    }
}

/// Every date from a week before each page's first day to a week after its last, every
/// meal, every rule: the `menu` outcomes that are not exactly the ground truth (which is
/// empty for the dates and meals it does not list), and how many menus and cells there were.
fn confidently_wrong(rules: Vec<(&'static str, Rule)>) -> (usize, usize, Vec<String>) {
    let mut menus = 0;
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (name, rule) in rules {
        let html = page_text(name, &rule);
        let truth = truth(name);
        let days: Vec<NaiveDate> = truth["days"]
            .as_object()
            .expect("days")
            .keys()
            .map(|d| date(d))
            .collect();
        let (first, last) = (
            *days.iter().min().expect("a day"),
            *days.iter().max().expect("a day"),
        );
        let mut day = first - chrono::Days::new(7);
        while day <= last + chrono::Days::new(7) {
            for meal in Meal::ALL {
                cells += 1;
                let parsed = scrape::parse(&html, &rule, day, meal);
                if let Outcome::Menu(_) = &parsed.outcome {
                    menus += 1;
                    let expected = expected_of(truth["days"][day.to_string()].get(meal.as_str()));
                    if !same_menu(&expected, &parsed.outcome) {
                        wrong.push(format!(
                            "{name} {:?} {day} {meal}: {:?}",
                            rule.mode, parsed.outcome
                        ));
                    }
                }
            }
            day = day + chrono::Days::new(1);
        }
    }
    (menus, cells, wrong)
}

#[test]
fn whenever_kbot_says_menu_the_dishes_are_exactly_the_ground_truth_for_every_date_and_meal() {
    let (menus, cells, wrong) = confidently_wrong(rules());
    assert!(menus > 100, "only {menus} menus in {cells} cells");
    assert!(
        wrong.is_empty(),
        "{} confidently wrong of {cells}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn with_undated_today_added_every_menu_is_still_exactly_the_ground_truth() {
    // kbot's hint says `undated = "today"`: following it on any page must never give a
    // glued month, a meal label or a day number as a dish, or another day's menu.
    let trusting: Vec<(&'static str, Rule)> = rules()
        .into_iter()
        .map(|(name, rule)| {
            (
                name,
                Rule {
                    undated: Undated::Today,
                    ..rule
                },
            )
        })
        .collect();
    let (menus, cells, wrong) = confidently_wrong(trusting);
    assert!(menus > 100, "only {menus} menus in {cells} cells");
    assert!(
        wrong.is_empty(),
        "{} confidently wrong of {cells}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn find_lists_the_menu_tables_first_and_their_selectors_read_the_same_menu_as_auto() {
    for (name, _) in PAGES {
        let html = page_text(name, &Rule::table("auto"));
        let truth = truth(name);
        let first_day = date(
            truth["days"]
                .as_object()
                .expect("days")
                .keys()
                .next()
                .expect("a day"),
        );
        let found = scrape::find_tables(&html, first_day);
        let menus: Vec<&scrape::FoundTable> = found.iter().filter(|t| t.menu).collect();
        assert!(!menus.is_empty(), "{name}: no menu table found");
        assert!(
            found.iter().take(menus.len()).all(|t| t.menu),
            "{name}: the menu tables are not listed first: {found:?}"
        );
        let pasted = menus
            .iter()
            .map(|t| t.selector.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let by_selector = Rule::table(pasted.clone());
        let auto = Rule::table("auto");
        for day in truth["days"].as_object().expect("days").keys() {
            for meal in Meal::ALL {
                let a = scrape::parse(&html, &auto, date(day), meal);
                let b = scrape::parse(&html, &by_selector, date(day), meal);
                assert_eq!(a.outcome, b.outcome, "{name} `{pasted}` {day} {meal}");
                if let Outcome::Menu(_) = &a.outcome {
                    let expected = expected_of(truth["days"][day.as_str()].get(meal.as_str()));
                    assert!(same_menu(&expected, &b.outcome), "{name} {day} {meal}");
                }
            }
        }
    }
}

#[test]
fn css_mode_with_a_weekday_placeholder_reads_the_days_cell() {
    let name = "jbnu-jinsuwon-2023-04-10";
    let truth = truth(name);
    let rule = Rule::css(BTreeMap::from([
        (
            Meal::Lunch,
            "table.tblType03 tbody tr:nth-of-type(1) td:nth-of-type({weekday})".to_string(),
        ),
        (
            Meal::Dinner,
            "table.tblType03 tbody tr:nth-of-type(2) td:nth-of-type({weekday})".to_string(),
        ),
    ]));
    let html = page_text(name, &rule);
    for (day, meals) in truth["days"].as_object().expect("days") {
        for meal in [Meal::Lunch, Meal::Dinner] {
            let expected: Vec<Vec<String>> = expected_of(meals.get(meal.as_str()))
                .into_values()
                .collect();
            let parsed = scrape::parse(&html, &rule, date(day), meal);
            let got: Vec<Vec<String>> = menu_of(&parsed.outcome).into_values().collect();
            assert_eq!(got, expected, "{day} {meal}");
        }
    }
    let next_week = scrape::parse(&html, &rule, date("2023-04-17"), Meal::Lunch);
    assert_eq!(
        next_week.outcome,
        Outcome::WrongDate,
        "the stated week 4/10~4/14 applies in css mode too"
    );
}

#[test]
fn explain_shows_the_tables_headings_chosen_column_and_rows() {
    let rule = Rule::table("div#sdetail > table:nth-of-type(2)");
    let html = page_text("dgu-coop-week-2026-09-27-euckr", &rule);
    let parsed = scrape::parse(&html, &rule, date("2026-10-02"), Meal::Dinner);
    let text = parsed.explain.to_string();
    assert_eq!(parsed.explain.tables.len(), 1);
    assert!(text.contains("header: 코너 | 일 09월 27일"), "{text}");
    assert!(
        text.contains("column 8 \"금 10월 02일\": its date label is 2026-10-02"),
        "{text}"
    );
    assert!(text.contains("section \"상록원3층식당\""), "{text}");
    assert!(
        text.contains("reader: week grid with section rows: day labels across row 1"),
        "{text}"
    );
    assert!(
        text.contains("→ row 4: 집밥 > 석식 — dinner by label"),
        "{text}"
    );

    let rule = Rule::table("div.ttArea table.tblType03");
    let html = page_text("jbnu-coop-full-2024-04-22", &rule);
    let parsed = scrape::parse(&html, &rule, date("2024-04-23"), Meal::Lunch);
    let headings: Vec<_> = parsed
        .explain
        .tables
        .iter()
        .map(|t| t.heading.as_deref())
        .collect();
    assert_eq!(headings, [Some("진수원"), Some("의대"), Some("후생관")]);
    let text = parsed.explain.to_string();
    assert!(
        text.contains("weekday 화 of 2024-04-23 (no date labels in the header)"),
        "{text}"
    );
    assert!(
        text.contains("week stated on the page: 04월 22일 ~ 04월 26일"),
        "{text}"
    );
}

// ---- fetching ----

fn fast_retry() -> Retry {
    Retry {
        times: 2,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// Serve `router` on an ephemeral loopback port.
async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn dgu_source(url: String) -> Source {
    Source {
        reach: Default::default(),
        name: "상록원".into(),
        url,
        rule: Rule::table("div#sdetail > table:nth-of-type(2)"),
    }
}

/// Check a fetched DGU report against the ground truth for every day's lunch.
fn assert_dgu_lunch(report: &scrape::SourceReport, day: &str) {
    let truth = truth("dgu-coop-week-2026-09-27-euckr");
    let expected = expected_of(truth["days"][day].get("lunch"));
    assert_eq!(
        menu_of(&report.outcome),
        expected,
        "{day}: {:?}",
        report.detail
    );
}

#[tokio::test]
async fn an_euc_kr_page_served_without_a_charset_is_scraped_over_http() {
    let page = bytes("dgu-coop-week-2026-09-27-euckr");
    let router = axum::Router::new().route(
        "/store.php",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/html")], page) }
        }),
    );
    let addr = serve(router).await;
    let source = dgu_source(format!("http://{addr}/store.php?w=4&date={{date:%Y%m%d}}"));
    let report = scrape::scrape(
        &client(Timeouts::default()),
        &source,
        date("2026-10-02"),
        Meal::Lunch,
    )
    .await;
    assert_eq!(
        report.url,
        format!("http://{addr}/store.php?w=4&date=20261002")
    );
    assert_dgu_lunch(&report, "2026-10-02");
    let explain = report.explain.expect("a page was read").to_string();
    assert!(
        explain.contains("Content-Type: text/html), decoded as EUC-KR"),
        "{explain}"
    );
}

#[tokio::test]
async fn an_euc_kr_page_is_scraped_from_a_file_url() {
    let path = fixtures().join("dgu-coop-week-2026-09-27-euckr.html");
    let url = url::Url::from_file_path(&path)
        .expect("absolute path")
        .to_string();
    let report = scrape::scrape(
        &client(Timeouts::default()),
        &dgu_source(url.clone()),
        date("2026-09-29"),
        Meal::Lunch,
    )
    .await;
    assert_eq!(report.url, url);
    assert_dgu_lunch(&report, "2026-09-29");
}

#[tokio::test]
async fn an_http_500_is_retried_twice_then_fetch_failed_naming_the_url() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/menu",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }
        }),
    );
    let addr = serve(router).await;
    let url = format!("http://{addr}/menu");
    let report = scrape::scrape_with(
        &client(Timeouts::default()),
        &dgu_source(url.clone()),
        date("2026-10-02"),
        Meal::Lunch,
        &fast_retry(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::FetchFailed);
    let detail = report.detail.unwrap_or_default();
    assert!(detail.contains(&url) && detail.contains("500"), "{detail}");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");
    assert_eq!(
        serde_json::to_value(scrape::SourceReport {
            detail: None,
            ..report
        })
        .expect("json")["outcome"],
        "fetch_failed"
    );
}

#[tokio::test]
async fn an_http_404_is_not_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { axum::http::StatusCode::NOT_FOUND }
    });
    let addr = serve(router).await;
    let url = format!("http://{addr}/gone");
    let report = scrape::scrape_with(
        &client(Timeouts::default()),
        &dgu_source(url.clone()),
        date("2026-10-02"),
        Meal::Lunch,
        &fast_retry(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::FetchFailed);
    assert!(report.detail.unwrap_or_default().contains("404"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_fetch_failed_naming_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.local_addr().expect("bound address").port()
    };
    let url = format!("http://127.0.0.1:{port}/menu");
    let report = scrape::scrape_with(
        &client(Timeouts::default()),
        &dgu_source(url.clone()),
        date("2026-10-02"),
        Meal::Lunch,
        &fast_retry(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::FetchFailed);
    assert!(report.explain.is_none());
    let detail = report.detail.unwrap_or_default();
    assert!(detail.contains(&url), "{detail}");
}

#[tokio::test]
async fn a_missing_file_or_a_bad_url_template_is_fetch_failed() {
    let c = client(Timeouts::default());
    let missing = scrape::scrape(
        &c,
        &dgu_source("file:///nonexistent/kbot/menu.html".into()),
        date("2026-10-02"),
        Meal::Lunch,
    )
    .await;
    assert_eq!(missing.outcome, Outcome::FetchFailed);
    assert!(
        missing
            .detail
            .unwrap_or_default()
            .contains("/nonexistent/kbot/menu.html")
    );
    let template = scrape::scrape(
        &c,
        &dgu_source("http://127.0.0.1:1/{day}".into()),
        date("2026-10-02"),
        Meal::Lunch,
    )
    .await;
    assert_eq!(template.outcome, Outcome::FetchFailed);
    assert!(template.detail.unwrap_or_default().contains("{day}"));
}

// ---- robustness ----

/// HTML-ish soup: table tags with spans, labels, dates, markers and random text.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<table>".to_string()),
        Just("</table>".to_string()),
        Just("<tr>".to_string()),
        Just("<td>".to_string()),
        Just("<th>".to_string()),
        Just("</td>".to_string()),
        Just("<br>".to_string()),
        Just("<p>".to_string()),
        Just("중<br>식".to_string()),
        Just("석식".to_string()),
        Just("중·석식".to_string()),
        Just("<td colspan=3>".to_string()),
        Just("월".to_string()),
        Just("3/2(월)".to_string()),
        Just("-".to_string()),
        Just("4/10".to_string()),
        Just("4월 10일 ~ 4월 14일".to_string()),
        Just("휴무".to_string()),
        Just("<h5 class=title>".to_string()),
        (0u32..70000, 0u32..2000).prop_map(|(r, c)| format!("<td rowspan={r} colspan={c}>")),
        "[^<>]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_html(html in prop_oneof![soup(), any::<String>()], day in 0u32..400, meal in 0usize..3) {
        let date = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid") + chrono::Days::new(day.into());
        let meal = Meal::ALL[meal];
        let table = scrape::parse(&html, &Rule::table("table"), date, meal);
        let auto = scrape::parse(&html, &Rule::table("auto"), date, meal);
        let css = Rule::css(BTreeMap::from([(meal, "td:nth-child({weekday})".to_string())]));
        let by_css = scrape::parse(&html, &css, date, meal);
        let _ = scrape::find_tables(&html, date);
        // Whatever came out is a classified outcome with words to show for it.
        for parsed in [table, auto, by_css] {
            prop_assert!(matches!(parsed.outcome, Outcome::Menu(_)) || parsed.detail.is_some());
            let _ = parsed.explain.to_string();
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048), content_type in prop::option::of("[ -~]{0,40}")) {
        let (text, encoding) = scrape::decode(&bytes, content_type.as_deref(), None);
        // Every encoding takes at least one byte per character (bad bytes become one U+FFFD).
        prop_assert!(text.chars().count() <= bytes.len(), "{} chars from {} bytes as {}", text.chars().count(), bytes.len(), encoding.name());
    }
}

#[test]
fn mode_and_groups_are_plain_data_the_config_can_build() {
    let rule = Rule::table("table.tblType03");
    assert_eq!(
        rule.mode,
        Mode::Table {
            selector: "table.tblType03".into()
        }
    );
    assert_eq!(rule.unlabeled, Meal::Lunch);
    assert_eq!(rule.closed_markers, Rule::default_closed_markers());
    let group = Group {
        label: "백반".into(),
        dishes: vec!["쌀밥".into()],
    };
    assert_eq!(
        serde_json::to_value(&group).expect("json"),
        serde_json::json!({"label": "백반", "dishes": ["쌀밥"]})
    );
}
