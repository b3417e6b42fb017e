//! Month calendars and in-cell meal labels against the two saved NEIS calendars
//! (`tests/fixtures/pages/neis-…-month-…`) and variants of them built here by editing their
//! HTML: a school-year label one year off, the month stated only in a heading, no month at
//! all, a date in the next month. Plus holiday names alone in a cell, and a month view kbot
//! cannot read as a calendar, which `undated = "today"` must not glue together.
//!
//! I/O: reads the fixtures.

use std::path::Path;

use chrono::NaiveDate;
use kbot::Meal;
use kbot::scrape::{self, Group, Outcome, Parsed, Rule, Undated};
use serde_json::Value;

const SEN: &str = "neis-sen-b100002365-month-2019-05-01";
const DJE: &str = "neis-dje-g100000170-month-2022-03-02";

fn page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pages")
        .join(format!("{name}.html"));
    scrape::decode(&std::fs::read(path).expect("fixture page"), None, None).0
}

fn truth(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pages")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("ground truth")).expect("JSON")
}

fn d(text: &str) -> NaiveDate {
    text.parse().expect("YYYY-MM-DD")
}

/// The one unlabelled group of dishes the ground truth has for (day, meal), if any.
fn truth_dishes(truth: &Value, day: &str, meal: Meal) -> Option<Vec<String>> {
    let groups = truth["days"][day][meal.as_str()].as_object()?;
    let dishes = groups.values().next()?.as_array()?;
    Some(
        dishes
            .iter()
            .map(|v| v.as_str().expect("a dish").to_string())
            .collect(),
    )
}

fn menu(dishes: Vec<String>) -> Outcome {
    Outcome::Menu(vec![Group {
        label: String::new(),
        dishes,
    }])
}

fn parse(html: &str, rule: &Rule, day: &str, meal: Meal) -> Parsed {
    scrape::parse(html, rule, d(day), meal)
}

/// Swap the page's selected year option from `from` to `to`.
fn select_year(html: &str, from: &str, to: &str) -> String {
    html.replace(
        &format!("<option selected=\"selected\" value=\"{from}\" >{from}</option>"),
        &format!("<option value=\"{from}\" >{from}</option>"),
    )
    .replace(
        &format!("<option value=\"{to}\" >{to}</option>"),
        &format!("<option selected=\"selected\" value=\"{to}\" >{to}</option>"),
    )
}

/// The page with its year and month selects selecting nothing.
fn no_selected_month(html: &str, year: &str, month: &str) -> String {
    html.replace(
        &format!("<option selected=\"selected\" value=\"{year}\" >"),
        &format!("<option value=\"{year}\" >"),
    )
    .replace(
        &format!("<option selected=\"selected\" value=\"{month}\" >"),
        &format!("<option value=\"{month}\" >"),
    )
}

#[test]
fn every_no_menu_weekday_of_both_calendars_is_closed_for_every_meal_the_page_serves() {
    let mut checked = 0;
    for name in [SEN, DJE] {
        let html = page(name);
        let truth = truth(name);
        for rule in [Rule::table("auto"), Rule::table("table.tbl_calendar")] {
            for day in truth["no_menu_weekdays"].as_array().expect("a list") {
                let day = day.as_str().expect("a date");
                for meal in Meal::ALL {
                    let parsed = parse(&html, &rule, day, meal);
                    let served = name == DJE || meal == Meal::Lunch;
                    if served {
                        assert!(
                            matches!(parsed.outcome, Outcome::Closed { .. }),
                            "{name} {day} {meal}: {:?} ({:?})",
                            parsed.outcome,
                            parsed.detail
                        );
                    } else {
                        assert_eq!(parsed.outcome, Outcome::NoMeal, "{name} {day} {meal}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn a_friday_without_dinner_is_closed_for_dinner_and_a_menu_for_lunch() {
    let html = page(DJE);
    let truth = truth(DJE);
    let rule = Rule::table("auto");
    let dinner = parse(&html, &rule, "2022-03-11", Meal::Dinner);
    assert_eq!(
        dinner.outcome,
        Outcome::Closed {
            notice: "석식 없음".into()
        },
        "{:?}",
        dinner.detail
    );
    let lunch = parse(&html, &rule, "2022-03-11", Meal::Lunch);
    let expected = truth_dishes(&truth, "2022-03-11", Meal::Lunch).expect("a lunch");
    assert_eq!(lunch.outcome, menu(expected));
}

#[test]
fn explain_names_the_calendar_reader_and_the_month_it_settled_on() {
    let html = page(DJE);
    let text = parse(&html, &Rule::table("auto"), "2022-03-02", Meal::Lunch)
        .explain
        .to_string();
    assert!(
        text.contains("reader: month calendar: weekday labels across row 1, 31 cells starting with day numbers 1 … 31 in 5 rows"),
        "{text}"
    );
    assert!(
        text.contains("month 2022-03 from the selected options \"2022\", \"03월\""),
        "{text}"
    );
    let found = scrape::find_tables(&html, d("2022-03-02"));
    assert_eq!(found[0].reader.name(), "month calendar");
}

#[test]
fn a_school_year_label_one_year_off_is_corrected_by_the_weekday_columns() {
    let html = select_year(&page(DJE), "2022", "2021");
    assert!(html.contains("<option selected=\"selected\" value=\"2021\" >"));
    let truth = truth(DJE);
    let parsed = parse(&html, &Rule::table("auto"), "2022-03-02", Meal::Dinner);
    let expected = truth_dishes(&truth, "2022-03-02", Meal::Dinner).expect("a dinner");
    assert_eq!(parsed.outcome, menu(expected), "{:?}", parsed.detail);
    let text = parsed.explain.to_string();
    assert!(
        text.contains("2021-03 does not fit the weekday columns, 2022-03 does"),
        "{text}"
    );
    // The same page asked for March 2021 is another month's.
    let last_year = parse(&html, &Rule::table("auto"), "2021-03-02", Meal::Dinner);
    assert_eq!(last_year.outcome, Outcome::WrongDate);
}

#[test]
fn a_month_stated_only_in_a_heading_is_read_with_or_without_its_year() {
    let truth = truth(SEN);
    let plain = no_selected_month(&page(SEN), "2019", "05");
    for heading in ["2019년 5월 식단표", "5월 식단표"] {
        let html = plain.replace(
            "<table cellspacing=\"0\"",
            &format!("<h3>{heading}</h3><table cellspacing=\"0\""),
        );
        assert!(html.contains(heading), "the variant was built");
        let parsed = parse(&html, &Rule::table("auto"), "2019-05-02", Meal::Lunch);
        let expected = truth_dishes(&truth, "2019-05-02", Meal::Lunch).expect("a lunch");
        assert_eq!(
            parsed.outcome,
            menu(expected),
            "{heading}: {:?}",
            parsed.detail
        );
        let text = parsed.explain.to_string();
        assert!(
            text.contains(&format!("from the text before the table \"{heading}\"")),
            "{text}"
        );
    }
}

#[test]
fn a_calendar_that_states_no_month_is_the_wrong_date_and_undated_today_reads_it_safely() {
    let html = no_selected_month(&page(SEN), "2019", "05");
    let truth = truth(SEN);
    let parsed = parse(&html, &Rule::table("auto"), "2019-05-02", Meal::Lunch);
    assert_eq!(parsed.outcome, Outcome::WrongDate);
    let detail = parsed.detail.unwrap_or_default();
    assert!(
        detail.contains("the page states no month for its calendar")
            && detail.contains("undated = \"today\""),
        "the hint is offered: May 2019 fits the columns: {detail}"
    );
    let trusting = Rule {
        undated: Undated::Today,
        ..Rule::table("auto")
    };
    let parsed = parse(&html, &trusting, "2019-05-02", Meal::Lunch);
    let expected = truth_dishes(&truth, "2019-05-02", Meal::Lunch).expect("a lunch");
    assert_eq!(parsed.outcome, menu(expected));
    // A month whose weekdays do not fit the columns is never read, trusted or not.
    let june = parse(&html, &trusting, "2019-06-04", Meal::Lunch);
    assert_ne!(june.outcome.as_str(), "menu", "{:?}", june.detail);
    let june = parse(&html, &Rule::table("auto"), "2019-06-04", Meal::Lunch);
    assert!(
        !june.detail.unwrap_or_default().contains("undated"),
        "no hint where following it reads nothing"
    );
}

#[test]
fn a_stated_month_that_fits_no_year_is_said_and_never_read() {
    // April 2019 (and 2018, 2020) starts on another weekday than the page's May.
    let html = page(SEN).replace(
        "<option selected=\"selected\" value=\"05\" >",
        "<option value=\"05\" >",
    );
    let html = html.replace(
        "<option  value=\"04\" >",
        "<option selected=\"selected\" value=\"04\" >",
    );
    assert!(html.contains("<option selected=\"selected\" value=\"04\" >"));
    for day in ["2019-04-02", "2019-05-02"] {
        let parsed = parse(&html, &Rule::table("auto"), day, Meal::Lunch);
        assert_eq!(parsed.outcome, Outcome::NotFound, "{day}");
        let detail = parsed.detail.unwrap_or_default();
        assert!(
            detail.contains("no month the page states fits its calendar's weekday columns")
                && detail.contains("\"2019\", \"04월\""),
            "{detail}"
        );
    }
}

#[test]
fn a_date_in_the_next_month_is_the_wrong_date_naming_the_calendars_month() {
    for (name, day) in [(SEN, "2019-06-03"), (DJE, "2022-04-01")] {
        for rule in [Rule::table("auto"), Rule::table("table.tbl_calendar")] {
            let parsed = parse(&page(name), &rule, day, Meal::Lunch);
            assert_eq!(parsed.outcome, Outcome::WrongDate, "{name} {day}");
            let detail = parsed.detail.unwrap_or_default();
            assert!(
                detail.contains("the calendar shows") && detail.contains(day),
                "{detail}"
            );
        }
    }
}

#[test]
fn a_holiday_name_alone_in_a_calendar_cell_is_closed_with_that_name() {
    let html = page(DJE).replace("<td><div>1</div></td>", "<td><div>1<br />삼일절</div></td>");
    for meal in Meal::ALL {
        let parsed = parse(&html, &Rule::table("auto"), "2022-03-01", meal);
        assert_eq!(
            parsed.outcome,
            Outcome::Closed {
                notice: "삼일절".into()
            },
            "{meal}: {:?}",
            parsed.detail
        );
    }
}

/// A week grid of 2025-10-06 … 2025-10-10 with `cell` as Thursday's lunch and `chuseok` as
/// Monday's.
fn october_week(monday: &str, thursday: &str) -> String {
    format!(
        "<table><tr><th>구분</th><th>10/6(월)</th><th>10/7(화)</th><th>10/8(수)</th>\
         <th>10/9(목)</th><th>10/10(금)</th></tr>\
         <tr><th>중식</th><td>{monday}</td><td>추석 연휴</td><td>대체공휴일</td>\
         <td>{thursday}</td><td>김밥<br>라면</td></tr></table>"
    )
}

#[test]
fn hangeulnal_alone_on_october_9th_and_chuseok_on_its_day_are_closed() {
    let html = october_week("추석", "한글날");
    let rule = Rule::table("table");
    for (day, notice) in [
        ("2025-10-09", "한글날"),
        ("2025-10-06", "추석"),
        ("2025-10-07", "추석 연휴"),
        ("2025-10-08", "대체공휴일"),
    ] {
        let parsed = parse(&html, &rule, day, Meal::Lunch);
        assert_eq!(
            parsed.outcome,
            Outcome::Closed {
                notice: notice.into()
            },
            "{day}: {:?}",
            parsed.detail
        );
    }
    let friday = parse(&html, &rule, "2025-10-10", Meal::Lunch);
    assert_eq!(friday.outcome, menu(vec!["김밥".into(), "라면".into()]));
    // A dish that merely contains a holiday's name is a dish.
    let html = october_week("추석특선 갈비찜", "한글날 기념 떡");
    let parsed = parse(&html, &rule, "2025-10-09", Meal::Lunch);
    assert_eq!(parsed.outcome, menu(vec!["한글날 기념 떡".into()]));
}

#[test]
fn in_cell_meal_labels_split_a_week_grid_cell_and_are_never_dishes() {
    let html = "<p>4월 10일 ~ 4월 14일</p><table><tr><th>구분</th><th>월</th><th>화</th></tr>\
                <tr><th>메뉴</th><td>[조식]<br>토스트<br>&lt;중식&gt;<br>비빔밥<br>■ 석식<br>라면</td>\
                <td>*천원의아침*<br>죽<br>------<br>*중식*<br>국수</td></tr></table>";
    let rule = Rule::table("table");
    for (day, meal, dishes) in [
        ("2023-04-10", Meal::Breakfast, vec!["토스트"]),
        ("2023-04-10", Meal::Lunch, vec!["비빔밥"]),
        ("2023-04-10", Meal::Dinner, vec!["라면"]),
        ("2023-04-11", Meal::Breakfast, vec!["죽"]),
        ("2023-04-11", Meal::Lunch, vec!["국수"]),
    ] {
        let parsed = parse(html, &rule, day, meal);
        let Outcome::Menu(groups) = &parsed.outcome else {
            panic!("{day} {meal}: {:?} ({:?})", parsed.outcome, parsed.detail);
        };
        let got: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.dishes.iter().map(String::as_str))
            .collect();
        assert_eq!(got, dishes, "{day} {meal}");
    }
}

#[test]
fn a_month_view_kbot_cannot_read_as_a_calendar_is_not_glued_even_with_undated_today() {
    // Six numbered days: too few for a calendar, but several days under each weekday.
    let html = "<table><tr><th>일</th><th>월</th><th>화</th><th>수</th><th>목</th><th>금</th><th>토</th></tr>\
                <tr><td></td><td></td><td></td><td></td><td>1<br>[중식]<br>밥</td><td>2<br>[중식]<br>국</td><td>3</td></tr>\
                <tr><td>4</td><td>5<br>[중식]<br>면</td><td>6<br>[중식]<br>죽</td><td></td><td></td><td></td><td></td></tr></table>";
    for undated in [Undated::WrongDate, Undated::Today] {
        let rule = Rule {
            undated,
            ..Rule::table("table")
        };
        let parsed = scrape::parse(html, &rule, d("2024-08-05"), Meal::Lunch);
        assert!(
            !matches!(parsed.outcome, Outcome::Menu(_)),
            "{undated:?}: {:?}",
            parsed.outcome
        );
        let detail = parsed.detail.unwrap_or_default();
        assert!(
            detail.contains("a month view") && !detail.contains("undated = \"today\""),
            "{undated:?}: {detail}"
        );
        if undated == Undated::Today {
            assert_eq!(parsed.outcome, Outcome::NotFound);
        }
    }
}
