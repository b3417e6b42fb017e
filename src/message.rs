//! Rendering a day's menu into Kakao template objects, split to Kakao's limits.
//!
//! Pure: takes the scrape reports and the message settings, returns the parts to send and
//! who gets each. Owns the wording of every message (Korean by default); does not decide
//! who "friends" are (that is `deliver`) and does no I/O.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use crate::config::{OnClosed, Template};
use crate::meal::Meal;
use crate::scrape::{Outcome, SourceReport};

/// Kakao's text template shows at most this many characters (kakao-api.md §4.2).
pub const TEXT_LIMIT: usize = 200;

/// How to render.
#[derive(Debug, Clone)]
pub struct Style {
    /// Text or list template.
    pub template: Template,
    /// Notify or skip on a closed day.
    pub on_closed: OnClosed,
    /// The link every template carries (Kakao requires one).
    pub link: String,
    /// The button label.
    pub button_title: String,
}

/// Who a part is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone configured: me and the friends.
    Everyone,
    /// Only the logged-in user: problems with the scrape ("the page may have changed").
    Me,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Who gets it.
    pub audience: Audience,
    /// The Kakao `template_object`.
    pub template: Value,
}

/// What a run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The parts, in sending order: the menu parts first, then any notice for me.
    pub parts: Vec<Part>,
    /// True when at least one source failed (not found, wrong date, fetch failed).
    pub has_problems: bool,
}

/// `4월 10일 (월) 점심`.
pub fn title(date: NaiveDate, meal: Meal) -> String {
    const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
    let day = DAYS[date.weekday().num_days_from_monday() as usize];
    format!(
        "{}월 {}일 ({day}) {}",
        date.month(),
        date.day(),
        meal.korean()
    )
}

/// Render the reports of one run.
pub fn render(date: NaiveDate, meal: Meal, reports: &[SourceReport], style: &Style) -> Rendered {
    let title = title(date, meal);
    let mut sections: Vec<Section> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut has_menu = false;
    for report in reports {
        match &report.outcome {
            Outcome::Menu(groups) => {
                has_menu = true;
                for group in groups {
                    sections.push(Section {
                        heading: heading(&report.name, &group.label),
                        lines: group.dishes.clone(),
                    });
                }
            }
            Outcome::Closed { notice } => sections.push(Section {
                heading: heading(&report.name, ""),
                lines: vec![format!("오늘은 운영하지 않습니다 ({notice})")],
            }),
            // The page never serves this meal: nothing to send, nobody to warn.
            Outcome::NoMeal => {}
            other => problems.push(problem_line(&report.name, other, report.detail.as_deref())),
        }
    }
    let send_menu = has_menu || (!sections.is_empty() && style.on_closed == OnClosed::Notify);
    let mut parts = Vec::new();
    if send_menu {
        let templates = match style.template {
            Template::List if sections.len() >= 2 => list_parts(&title, &sections, style),
            _ => text_parts(&title, &flatten(&sections), style),
        };
        parts.extend(templates.into_iter().map(|template| Part {
            audience: Audience::Everyone,
            template,
        }));
    }
    if !problems.is_empty() {
        let notice_title = format!("⚠ kbot: {title}");
        let mut lines = problems;
        lines.push("kbot scrape --explain 로 확인하세요".into());
        parts.extend(
            text_parts(&notice_title, &lines, style)
                .into_iter()
                .map(|template| Part {
                    audience: Audience::Me,
                    template,
                }),
        );
    }
    Rendered {
        has_problems: parts.iter().any(|p| p.audience == Audience::Me),
        parts,
    }
}

struct Section {
    heading: String,
    lines: Vec<String>,
}

fn heading(source: &str, label: &str) -> String {
    if label.is_empty() {
        format!("[{source}]")
    } else {
        format!("[{source} · {label}]")
    }
}

fn problem_line(source: &str, outcome: &Outcome, detail: Option<&str>) -> String {
    let what = match outcome {
        Outcome::NotFound => "메뉴를 찾지 못했습니다 (페이지가 바뀌었을 수 있음)",
        Outcome::WrongDate => "페이지의 날짜가 맞지 않습니다",
        Outcome::FetchFailed => "페이지를 가져오지 못했습니다",
        Outcome::Menu(_) | Outcome::Closed { .. } | Outcome::NoMeal => "",
    };
    match detail {
        Some(detail) => format!("[{source}] {what}: {detail}"),
        None => format!("[{source}] {what}"),
    }
}

fn flatten(sections: &[Section]) -> Vec<String> {
    sections
        .iter()
        .flat_map(|s| std::iter::once(s.heading.clone()).chain(s.lines.iter().cloned()))
        .collect()
}

fn link(style: &Style) -> Value {
    json!({"web_url": style.link, "mobile_web_url": style.link})
}

/// Text templates: `title (i/n)` then as many whole lines as fit in [`TEXT_LIMIT`] characters.
fn text_parts(title: &str, lines: &[String], style: &Style) -> Vec<Value> {
    split_text(title, lines, TEXT_LIMIT)
        .into_iter()
        .map(|text| {
            json!({
                "object_type": "text",
                "text": text,
                "link": link(style),
                "button_title": style.button_title,
            })
        })
        .collect()
}

/// Split `lines` under a title into texts of at most `limit` characters each. Lines are
/// never reordered and are broken only when a single line is longer than a whole part.
/// With more than one part, each title carries `(i/n)`.
pub fn split_text(title: &str, lines: &[String], limit: usize) -> Vec<String> {
    // The header's length depends on n, and n on the header's length: iterate to a fixed point.
    let mut count = 1;
    loop {
        let header = |i: usize| {
            if count == 1 {
                title.to_string()
            } else {
                format!("{title} ({i}/{count})")
            }
        };
        let widest = chars(&header(count));
        let room = limit.saturating_sub(widest + 1).max(1);
        let mut bodies: Vec<Vec<String>> = vec![Vec::new()];
        let mut used = 0;
        for line in lines.iter().flat_map(|l| break_line(l, room)) {
            let len = chars(&line) + 1;
            let current = bodies.last_mut().expect("never empty");
            if !current.is_empty() && used + len > room + 1 {
                bodies.push(vec![line]);
                used = len;
            } else {
                used += len;
                current.push(line);
            }
        }
        if bodies.len() == count {
            return bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut text = header(i + 1);
                    for line in body {
                        text.push('\n');
                        text.push_str(&line);
                    }
                    text
                })
                .collect();
        }
        count = bodies.len();
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn break_line(line: &str, room: usize) -> Vec<String> {
    if chars(line) <= room {
        return vec![line.to_string()];
    }
    let all: Vec<char> = line.chars().collect();
    all.chunks(room).map(|c| c.iter().collect()).collect()
}

/// List templates: 2–3 entries per part (Kakao's limits), each entry a section.
fn list_parts(title: &str, sections: &[Section], style: &Style) -> Vec<Value> {
    let mut chunks: Vec<&[Section]> = sections.chunks(3).collect();
    // Never leave a lone entry: 3+1 becomes 2+2.
    let mut owned: Vec<Vec<&Section>> = chunks.drain(..).map(|c| c.iter().collect()).collect();
    if owned.len() >= 2 && owned.last().is_some_and(|c| c.len() == 1) {
        let n = owned.len();
        let moved = owned[n - 2].pop().expect("a full chunk has three");
        owned[n - 1].insert(0, moved);
    }
    let n = owned.len();
    owned
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let header = if n == 1 {
                title.to_string()
            } else {
                format!("{title} ({}/{n})", i + 1)
            };
            let contents: Vec<Value> = chunk
                .iter()
                .map(|s| {
                    json!({
                        "title": s.heading,
                        "description": s.lines.join(", "),
                        "link": link(style),
                    })
                })
                .collect();
            json!({
                "object_type": "list",
                "header_title": header,
                "header_link": link(style),
                "contents": contents,
                "button_title": style.button_title,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Group;

    fn style(template: Template, on_closed: OnClosed) -> Style {
        Style {
            template,
            on_closed,
            link: "https://example.ac.kr/menu".into(),
            button_title: "메뉴 보기".into(),
        }
    }

    fn report(name: &str, outcome: Outcome) -> SourceReport {
        SourceReport {
            name: name.into(),
            url: "https://example.ac.kr/menu".into(),
            outcome,
            detail: None,
            explain: None,
        }
    }

    fn menu(label: &str, dishes: &[&str]) -> Outcome {
        Outcome::Menu(vec![Group {
            label: label.into(),
            dishes: dishes.iter().map(|s| s.to_string()).collect(),
        }])
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn title_is_korean_month_day_weekday_meal() {
        assert_eq!(title(date(), Meal::Lunch), "11월 23일 (월) 점심");
    }

    #[test]
    fn a_short_menu_is_one_text_part_for_everyone() {
        let r = render(
            date(),
            Meal::Lunch,
            &[report("진수원", menu("백반", &["쌀밥", "된장국"]))],
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.parts[0].audience, Audience::Everyone);
        assert_eq!(
            r.parts[0].template["text"],
            "11월 23일 (월) 점심\n[진수원 · 백반]\n쌀밥\n된장국"
        );
        assert_eq!(r.parts[0].template["object_type"], "text");
        assert_eq!(
            r.parts[0].template["link"]["web_url"],
            "https://example.ac.kr/menu"
        );
        assert!(!r.has_problems);
    }

    #[test]
    fn long_menus_split_into_numbered_parts_within_the_limit_keeping_every_line_in_order() {
        let dishes: Vec<String> = (1..=60)
            .map(|i| format!("반찬{i:02} 볶음과 무침"))
            .collect();
        let refs: Vec<&str> = dishes.iter().map(String::as_str).collect();
        let r = render(
            date(),
            Meal::Dinner,
            &[report("학생식당", menu("", &refs))],
            &style(Template::Text, OnClosed::Notify),
        );
        assert!(r.parts.len() > 3);
        let n = r.parts.len();
        let mut seen = Vec::new();
        for (i, part) in r.parts.iter().enumerate() {
            let text = part.template["text"].as_str().unwrap();
            assert!(text.chars().count() <= TEXT_LIMIT, "part {i} too long");
            let mut lines = text.lines();
            assert_eq!(
                lines.next().unwrap(),
                format!("11월 23일 (월) 저녁 ({}/{n})", i + 1)
            );
            seen.extend(lines.map(str::to_string));
        }
        let mut expected = vec!["[학생식당]".to_string()];
        expected.extend(dishes);
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_line_longer_than_a_part_is_broken_not_lost() {
        let long = "가".repeat(450);
        let parts = split_text("제목", std::slice::from_ref(&long), 200);
        assert!(parts.iter().all(|p| p.chars().count() <= 200));
        let joined: String = parts
            .iter()
            .map(|p| p.split_once('\n').unwrap().1)
            .collect();
        assert_eq!(joined, long);
    }

    #[test]
    fn closed_days_notify_or_skip() {
        let closed = [report(
            "진수원",
            Outcome::Closed {
                notice: "휴무".into(),
            },
        )];
        let notify = render(
            date(),
            Meal::Lunch,
            &closed,
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(notify.parts.len(), 1);
        assert!(
            notify.parts[0].template["text"]
                .as_str()
                .unwrap()
                .contains("휴무")
        );
        let skip = render(
            date(),
            Meal::Lunch,
            &closed,
            &style(Template::Text, OnClosed::Skip),
        );
        assert!(skip.parts.is_empty());
    }

    #[test]
    fn a_page_that_changed_is_never_sent_as_an_empty_menu_but_told_to_me() {
        let mut failed = report("진수원", Outcome::NotFound);
        failed.detail = Some("no table matches table.tblType03".into());
        let r = render(
            date(),
            Meal::Lunch,
            &[failed],
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.parts[0].audience, Audience::Me);
        let text = r.parts[0].template["text"].as_str().unwrap();
        assert!(text.contains("no table matches table.tblType03"));
        assert!(r.has_problems);
    }

    #[test]
    fn one_good_source_is_sent_and_the_failed_one_is_reported_to_me() {
        let r = render(
            date(),
            Meal::Lunch,
            &[
                report("A", menu("", &["밥"])),
                report("B", Outcome::FetchFailed),
            ],
            &style(Template::Text, OnClosed::Notify),
        );
        let audiences: Vec<Audience> = r.parts.iter().map(|p| p.audience).collect();
        assert_eq!(audiences, [Audience::Everyone, Audience::Me]);
        assert!(
            !r.parts[0].template["text"]
                .as_str()
                .unwrap()
                .contains("[B]")
        );
    }

    #[test]
    fn list_template_has_two_or_three_entries_per_part() {
        let groups: Vec<Group> = (1..=4)
            .map(|i| Group {
                label: format!("코너{i}"),
                dishes: vec![format!("요리{i}")],
            })
            .collect();
        let r = render(
            date(),
            Meal::Lunch,
            &[report("식당", Outcome::Menu(groups))],
            &style(Template::List, OnClosed::Notify),
        );
        let sizes: Vec<usize> = r
            .parts
            .iter()
            .map(|p| p.template["contents"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [2, 2]);
        assert_eq!(r.parts[0].template["object_type"], "list");
        assert_eq!(
            r.parts[1].template["header_title"],
            "11월 23일 (월) 점심 (2/2)"
        );
    }

    #[test]
    fn list_template_with_one_entry_falls_back_to_text() {
        let r = render(
            date(),
            Meal::Lunch,
            &[report("식당", menu("", &["밥"]))],
            &style(Template::List, OnClosed::Notify),
        );
        assert_eq!(r.parts[0].template["object_type"], "text");
    }
}
