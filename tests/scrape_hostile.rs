//! The scraper against hostile and odd pages: deep nesting (no quadratic walk, a deadline
//! off the async thread), a 3,000-row "menu", terminal control characters and bidi
//! overrides, a charset that lies, and pages that state no date.
//!
//! Pure `scrape::parse` / `decode` calls and one `parse_off_thread`; reads no files. The
//! time bounds are generous upper bounds the issue asks for, not speed measurements (those
//! are in `benches/parse.rs`).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use encoding_rs::UTF_8;
use kbot::Meal;
use kbot::scrape::{self, Outcome, Rule, Undated};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}

/// Speed is measured by `cargo bench --bench parse` (`nested_tables_20000`: about 30 ms in a
/// release build). This debug-build test only guards against the quadratic walk coming back
/// (minutes at this size), so its bound is generous enough for a loaded 2-core machine.
#[test]
fn twenty_thousand_nested_menu_tables_scrape_in_linear_time() {
    let n = 20_000;
    let html = format!(
        "<p>4월 10일 ~ 4월 14일</p>{}",
        "<table class=menu><tr><td>".repeat(n)
    );
    for rule in [Rule::table("table.menu"), Rule::table("auto")] {
        let started = Instant::now();
        let parsed = scrape::parse(&html, &rule, d(2023, 4, 10), Meal::Lunch);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{:?} took {took:?} ({:?})",
            rule.mode,
            parsed.detail
        );
        assert!(!matches!(parsed.outcome, Outcome::Menu(_)));
    }
}

#[tokio::test]
async fn a_hundred_thousand_nested_divs_in_one_cell_end_within_the_deadline() {
    let html = format!(
        "<table class=menu><tr><th>구분</th><th>월(4/10)</th></tr><tr><th>중식</th><td>{}밥</td></tr></table>",
        "<div>".repeat(100_000)
    );
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let parsed = scrape::parse_off_thread(
        html,
        Rule::table("table.menu"),
        d(2023, 4, 10),
        Meal::Lunch,
        deadline,
    )
    .await;
    assert!(
        started.elapsed() < deadline + Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    if parsed.outcome == Outcome::NotFound {
        assert!(
            parsed
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("too complex")),
            "{:?}",
            parsed.detail
        );
    }
}

#[test]
fn a_three_thousand_row_table_is_a_page_problem_not_a_menu() {
    let rows: String = (0..3_000)
        .map(|i| format!("<tr><th>중식</th><td>반찬 {i}</td></tr>"))
        .collect();
    let html = format!(
        "<p>4월 10일 ~ 4월 14일</p><table class=menu><tr><th>구분</th><th>월</th></tr>{rows}</table>"
    );
    let parsed = scrape::parse(
        &html,
        &Rule::table("table.menu"),
        d(2023, 4, 10),
        Meal::Lunch,
    );
    assert_eq!(parsed.outcome, Outcome::NotFound);
    let detail = parsed.detail.unwrap_or_default();
    assert!(
        detail.contains("3000 dish lines") && detail.contains("limit 200"),
        "{detail}"
    );
}

#[test]
fn a_dish_longer_than_a_message_is_a_page_problem_not_a_menu() {
    let long = "김치".repeat(150);
    let html = format!(
        "<table><tr><th>구분</th><th>월(4/10)</th></tr><tr><th>중식</th><td>{long}</td></tr></table>"
    );
    let parsed = scrape::parse(&html, &Rule::table("table"), d(2023, 4, 10), Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("300 characters")),
        "{:?}",
        parsed.detail
    );
}

#[test]
fn terminal_escapes_and_bidi_overrides_never_reach_the_dishes_labels_or_notices() {
    let html = "<table><tr><th>구분</th><th>월(4/10)</th></tr>\
        <tr><th>중식 \u{1b}[2J백반</th><td>김치\u{1b}]0;pwned\u{7}찌개<br>\u{202e}밥\u{202c}<br>\u{1b}[31m국\u{1b}[0m</td></tr>\
        <tr><th>석식</th><td>\u{1b}]0;x\u{1b}\\휴무</td></tr></table>";
    let rule = Rule::table("table");
    let lunch = scrape::parse(html, &rule, d(2023, 4, 10), Meal::Lunch);
    let Outcome::Menu(groups) = &lunch.outcome else {
        panic!("a menu: {lunch:?}");
    };
    assert_eq!(groups[0].label, "백반");
    assert_eq!(groups[0].dishes, ["김치 찌개", "밥", "국"]);
    let dinner = scrape::parse(html, &rule, d(2023, 4, 10), Meal::Dinner);
    assert_eq!(
        dinner.outcome,
        Outcome::Closed {
            notice: "휴무".into()
        }
    );
    for text in [
        format!("{lunch:?}"),
        lunch.explain.to_string(),
        format!("{dinner:?}"),
        dinner.explain.to_string(),
    ] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\u{202e}', '\u{202c}']) && !text.contains("pwned"),
            "{text}"
        );
    }
}

#[test]
fn a_legacy_charset_declaration_on_utf8_bytes_is_read_as_utf8_and_said_so() {
    let page = "<meta charset=euc-kr><table><tr><th>월</th></tr><tr><td>비빔밥</td></tr></table>";
    let (text, encoding) = scrape::decode(page.as_bytes(), None, None);
    assert_eq!(encoding, UTF_8);
    assert!(text.contains("비빔밥"));
    let note = scrape::overruled_declaration(page.as_bytes(), Some("text/html; charset=euc-kr"))
        .expect("a note for --explain");
    assert!(note.contains("EUC-KR") && note.contains("UTF-8"), "{note}");
    // Real EUC-KR bytes are still EUC-KR.
    let (euc, _, _) = encoding_rs::EUC_KR.encode(page);
    assert_eq!(scrape::decode(&euc, None, None).1, encoding_rs::EUC_KR);
    assert!(scrape::overruled_declaration(&euc, None).is_none());
}

const UNDATED_DAY_VIEW: &str = "<table><tr><th>구분</th><th>메뉴</th></tr>\
    <tr><th>중식</th><td>김밥</td></tr><tr><th>석식</th><td>라면</td></tr></table>";

#[test]
fn a_page_that_states_no_date_is_wrong_date_with_a_hint_naming_both_ways_to_trust_it() {
    let parsed = scrape::parse(
        UNDATED_DAY_VIEW,
        &Rule::table("table"),
        d(2026, 3, 2),
        Meal::Lunch,
    );
    assert_eq!(parsed.outcome, Outcome::WrongDate);
    let detail = parsed.detail.unwrap_or_default();
    assert!(
        detail.contains("undated = \"today\"") && detail.contains("{date:%Y%m%d}"),
        "{detail}"
    );
    let weekdays_only = "<table><tr><th>구분</th><th>월</th><th>화</th></tr>\
        <tr><th>중식</th><td>국</td><td>면</td></tr></table>";
    let parsed = scrape::parse(
        weekdays_only,
        &Rule::table("table"),
        d(2026, 3, 3),
        Meal::Lunch,
    );
    assert_eq!(parsed.outcome, Outcome::WrongDate, "{:?}", parsed.detail);
}

#[test]
fn undated_today_reads_a_page_without_dates_for_the_date_asked() {
    let rule = Rule {
        undated: Undated::Today,
        ..Rule::table("auto")
    };
    let parsed = scrape::parse(UNDATED_DAY_VIEW, &rule, d(2026, 3, 2), Meal::Dinner);
    assert_eq!(
        parsed.outcome,
        Outcome::Menu(vec![scrape::Group {
            label: String::new(),
            dishes: vec!["라면".into()]
        }])
    );
}

#[test]
fn a_one_day_table_under_a_stated_week_with_no_marked_day_is_not_found_not_a_guess() {
    let html = format!("<p>2026.03.02 ~ 2026.03.06</p>{UNDATED_DAY_VIEW}");
    let parsed = scrape::parse(&html, &Rule::table("auto"), d(2026, 3, 3), Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("does not say which")),
        "{:?}",
        parsed.detail
    );
}

#[test]
fn closure_words_close_a_meal_in_every_layout_even_across_spanned_columns() {
    let week = "<p>3월 2일 ~ 3월 6일</p><table><tr><th>구분</th><th>월</th><th>화</th><th>수</th></tr>\
        <tr><th>중식</th><td>-</td><td colspan=2>메뉴 없음</td></tr>\
        <tr><th>석식</th><td>없음</td><td>국</td><td>면</td></tr></table>";
    let rule = Rule::table("auto");
    for (day, meal, notice) in [
        (d(2026, 3, 2), Meal::Lunch, "-"),
        (d(2026, 3, 3), Meal::Lunch, "메뉴 없음"),
        (d(2026, 3, 4), Meal::Lunch, "메뉴 없음"),
        (d(2026, 3, 2), Meal::Dinner, "없음"),
    ] {
        let parsed = scrape::parse(week, &rule, day, meal);
        assert_eq!(
            parsed.outcome,
            Outcome::Closed {
                notice: notice.into()
            },
            "{day} {meal}"
        );
    }
    let by_row = "<table><tr><th>날짜</th><th>조식</th><th>중식</th></tr>\
        <tr><td>03/02 (월)</td><td>개교기념일 쉼</td><td>밥</td></tr></table>";
    let own = Rule {
        closed_markers: vec!["쉼".into()],
        ..Rule::table("auto")
    };
    assert_eq!(
        scrape::parse(by_row, &own, d(2026, 3, 2), Meal::Breakfast).outcome,
        Outcome::Closed {
            notice: "개교기념일 쉼".into()
        }
    );
}

#[test]
fn a_label_standing_where_dishes_should_be_is_not_found_never_a_menu() {
    // A second header row under the dates: read naively, "석식" would be lunch's dish.
    let html = "<table><tr><th>구분</th><th>월(4/10)</th></tr>\
        <tr><td>중식</td><td>석식</td></tr><tr><td>중식</td><td>밥</td></tr></table>";
    let parsed = scrape::parse(html, &Rule::table("table"), d(2023, 4, 10), Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound, "{:?}", parsed.detail);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("with certainty")),
        "{:?}",
        parsed.detail
    );
}

#[test]
fn a_day_view_under_a_line_naming_its_date_is_read_for_that_date_only() {
    let html = format!("<h3>2026.03.02 (월) 오늘의 메뉴</h3>{UNDATED_DAY_VIEW}");
    let rule = Rule::table("auto");
    assert!(matches!(
        scrape::parse(&html, &rule, d(2026, 3, 2), Meal::Lunch).outcome,
        Outcome::Menu(_)
    ));
    let next_day = scrape::parse(&html, &rule, d(2026, 3, 3), Meal::Lunch);
    assert_eq!(next_day.outcome, Outcome::WrongDate);
    assert!(
        next_day
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("\"2026.03.02 (월) 오늘의 메뉴\", not 2026-03-03")),
        "{:?}",
        next_day.detail
    );
    let week = "<p>2026.03.02 주간 식단</p><table><tr><th>구분</th><th>월</th><th>화</th></tr>\
        <tr><th>중식</th><td>국</td><td>면</td></tr></table>";
    assert!(matches!(
        scrape::parse(week, &rule, d(2026, 3, 3), Meal::Lunch).outcome,
        Outcome::Menu(_)
    ));
    assert_eq!(
        scrape::parse(week, &rule, d(2026, 3, 10), Meal::Lunch).outcome,
        Outcome::WrongDate
    );
}

#[test]
fn a_menu_printed_twice_is_read_once_and_two_copies_that_disagree_are_not_a_menu() {
    let copy = |dish: &str| {
        format!(
            "<h3>학생식당</h3><table><tr><th>구분</th><th>월(3/2)</th></tr><tr><th>중식</th><td>{dish}</td></tr></table>"
        )
    };
    let rule = Rule::table("auto");
    let twice = format!("{}{}", copy("비빔밥"), copy("비빔밥"));
    assert_eq!(
        scrape::parse(&twice, &rule, d(2026, 3, 2), Meal::Lunch).outcome,
        Outcome::Menu(vec![scrape::Group {
            label: "학생식당".into(),
            dishes: vec!["비빔밥".into()]
        }])
    );
    let differ = format!("{}{}", copy("비빔밥"), copy("라면"));
    let parsed = scrape::parse(&differ, &rule, d(2026, 3, 2), Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::NotFound);
    assert!(
        parsed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("two tables give different dishes for \"학생식당\"")),
        "{:?}",
        parsed.detail
    );
}

#[test]
fn notes_hours_and_phone_columns_are_never_read_as_dishes_in_any_layout() {
    let rule = Rule::table("auto");
    let one =
        |html: &str, day: NaiveDate, meal: Meal| scrape::parse(html, &rule, day, meal).outcome;
    let only = |dish: &str| {
        Outcome::Menu(vec![scrape::Group {
            label: String::new(),
            dishes: vec![dish.into()],
        }])
    };
    // Date per row with a 비고 column (rows with no meal word would be lunch).
    let by_row = "<table><tr><th>날짜</th><th>중식</th><th>비고</th></tr>\
        <tr><td>03/02 (월)</td><td>비빔밥</td><td>우천시 변경</td></tr></table>";
    assert_eq!(one(by_row, d(2026, 3, 2), Meal::Lunch), only("비빔밥"));
    // A week grid with an opening-hours row.
    let grid = "<table><tr><th>구분</th><th>월(3/2)</th><th>화(3/3)</th></tr>\
        <tr><th>백반</th><td>국밥</td><td>면</td></tr>\
        <tr><th>운영시간</th><td colspan=2>11:00-14:00</td></tr></table>";
    assert_eq!(
        one(grid, d(2026, 3, 2), Meal::Lunch),
        Outcome::Menu(vec![scrape::Group {
            label: "백반".into(),
            dishes: vec!["국밥".into()]
        }])
    );
    // Date blocks with a 비고 column after the dishes.
    let blocks = "<table><tr><th>날짜</th><th>구분</th><th>메뉴</th><th>비고</th></tr>\
        <tr><td>2026-03-02</td><td>중식</td><td>라면</td><td>☎ 1234</td></tr>\
        <tr><td>2026-03-02</td><td>석식</td><td>김밥</td><td></td></tr></table>";
    assert_eq!(one(blocks, d(2026, 3, 2), Meal::Lunch), only("라면"));
}
