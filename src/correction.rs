//! Corrections: a menu that changed on the page after it was sent.
//!
//! The ledger keeps the dishes each source showed in the message that went out
//! (`Ledger::remember_menus`). After a meal was sent the daemon reads its pages again every
//! `schedule.recheck` until the meal's window closes ([`Watch`]); when a source's dishes
//! differ (noise and order ignored) everyone who got that source's menu receives one
//! correction, marked `[정정]`: first what changed (`추가:` the new dishes, `빠짐:` the ones
//! gone), then the source's menu as it is now, in at most [`MAX_PARTS`] parts.
//!
//! A page that turned into a closure, another date or a failure changes nothing: the menu
//! sent stands. Sending, and "at most one correction per meal and recipient", are
//! `deliver`'s (`Pipeline::correct`); this module is pure.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::deliver::Run;
use crate::meal::Meal;
use crate::message::{self, Style};
use crate::scrape::Outcome;

/// A correction takes at most this many parts: the change first, then as much of the new
/// menu as fits.
pub const MAX_PARTS: usize = 2;

/// How one source's dishes changed since the message went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Index of the source in the config (and the run's reports).
    pub index: usize,
    /// The source's name.
    pub source: String,
    /// Dishes on the page now that the message did not have (noise dropped), page order.
    pub added: Vec<String>,
    /// Dishes the message had that the page no longer shows.
    pub removed: Vec<String>,
    /// The source's menu as it is now: dishes, with `[corner]` lines when it has several.
    pub now: Vec<String>,
}

/// The raw dishes of each source of `run` that has a menu, for the ledger.
pub fn menus_of(run: &Run) -> Vec<(String, Vec<String>)> {
    run.reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Menu(groups) => Some((
                r.name.clone(),
                groups
                    .iter()
                    .flat_map(|g| g.dishes.iter().cloned())
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

/// What changed between the menus sent (`sent`, per source name) and `run`, source by
/// source. Only a source that had a menu then and has one now counts: a closure, another
/// date or a failure leaves the menu sent standing. Noise (`noise`) and order are ignored.
pub fn changes(
    sent: &[(String, Vec<String>)],
    run: &Run,
    noise: &crate::noise::Kinds,
) -> Vec<Change> {
    let clean = |dishes: &[String]| -> Vec<String> {
        dishes
            .iter()
            .filter_map(|d| crate::noise::clean(d, noise))
            .collect()
    };
    let mut out = Vec::new();
    for (index, report) in run.reports.iter().enumerate() {
        let Outcome::Menu(groups) = &report.outcome else {
            continue;
        };
        let Some((_, before)) = sent.iter().find(|(name, _)| *name == report.name) else {
            continue;
        };
        let before = clean(before);
        let after: Vec<String> = clean(
            &groups
                .iter()
                .flat_map(|g| g.dishes.iter().cloned())
                .collect::<Vec<_>>(),
        );
        let added = minus(&after, &before);
        let removed = minus(&before, &after);
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        let labelled = groups
            .iter()
            .filter(|g| !g.label.trim().is_empty() && !clean(&g.dishes).is_empty())
            .count();
        let mut now = Vec::new();
        for group in groups {
            let dishes = clean(&group.dishes);
            if dishes.is_empty() {
                continue;
            }
            if labelled > 1 && !group.label.trim().is_empty() {
                now.push(format!("[{}]", group.label.replace(" > ", " ").trim()));
            }
            now.extend(dishes);
        }
        out.push(Change {
            index,
            source: report.name.clone(),
            added,
            removed,
            now,
        });
    }
    out
}

/// The items of `a` not in `b`, counting repeats (a multiset difference), in `a`'s order.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: Vec<&String> = b.iter().collect();
    let mut out = Vec::new();
    for item in a {
        match left.iter().position(|x| *x == item) {
            Some(at) => {
                left.remove(at);
            }
            None => out.push(item.clone()),
        }
    }
    out
}

/// `[정정] 12월 7일 (월) 점심`.
pub fn title(date: NaiveDate, meal: Meal) -> String {
    format!("[정정] {}", message::title(date, meal))
}

/// The correction of `changes` for one audience, as text templates (at most
/// [`MAX_PARTS`]). `several`: the audience gets more than one source, so each change is
/// named by its source.
pub fn render(
    date: NaiveDate,
    meal: Meal,
    changes: &[&Change],
    several: bool,
    style: &Style,
) -> Vec<Value> {
    let title = title(date, meal);
    let mut head = Vec::new();
    let mut menu = Vec::new();
    for change in changes {
        let from = if several {
            format!("《{}》 ", change.source)
        } else {
            String::new()
        };
        if !change.added.is_empty() {
            head.push(format!("{from}추가: {}", names(&change.added)));
        }
        if !change.removed.is_empty() {
            head.push(format!("{from}빠짐: {}", names(&change.removed)));
        }
        menu.push(if several {
            format!("지금 메뉴 《{}》", change.source)
        } else {
            "지금 메뉴".to_string()
        });
        menu.extend(change.now.iter().cloned());
    }
    let lines: Vec<String> = head.into_iter().chain(menu).collect();
    // Too long: the new menu gives way from its end (the change itself comes first and
    // stays longest), and the last line says how many lines are left out.
    let mut keep = lines.len();
    let texts = loop {
        let mut shown = lines[..keep].to_vec();
        if keep < lines.len() {
            shown.push(message::omitted_line(lines.len() - keep));
        }
        let texts = message::split_text(&title, &shown, message::TEXT_LIMIT);
        if texts.len() <= MAX_PARTS || keep <= 1 {
            break texts;
        }
        keep -= 1;
    };
    texts
        .into_iter()
        .map(|text| message::text_template(text, style))
        .collect()
}

/// At most [`NAMED`] dishes, then how many more: a change line stays one line.
fn names(dishes: &[String]) -> String {
    let shown = dishes[..dishes.len().min(NAMED)].join(", ");
    match dishes.len().saturating_sub(NAMED) {
        0 => shown,
        more => format!("{shown} 외 {more}개"),
    }
}

/// How many dishes a change line names.
const NAMED: usize = 6;

/// For people (`send-now`): what changed since the message went out, one line per source,
/// and what `--correct` does about it; empty when nothing changed.
pub fn describe(changes: &[Change], corrected: bool) -> String {
    let mut text = String::new();
    for change in changes {
        let mut what = Vec::new();
        if !change.added.is_empty() {
            what.push(format!("추가 {}", names(&change.added)));
        }
        if !change.removed.is_empty() {
            what.push(format!("빠짐 {}", names(&change.removed)));
        }
        text.push_str(&format!(
            "the menu changed since it was sent: {}: {}\n",
            change.source,
            what.join("; ")
        ));
    }
    if !changes.is_empty() && !corrected {
        text.push_str("--correct sends everyone who got it one correction (정정)\n");
    }
    text
}

/// The daemon's watch over a meal that was sent: read its pages again every `recheck`
/// until `until` (the window's close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// The next look at the pages.
    pub next: DateTime<Utc>,
    /// No look at or after this.
    pub until: DateTime<Utc>,
}

impl Watch {
    /// When the look after one at `now` is due, if any. Pure.
    pub fn after(&self, now: DateTime<Utc>, recheck: std::time::Duration) -> Option<Watch> {
        let next = now + chrono::Duration::from_std(recheck).unwrap_or(chrono::Duration::MAX);
        (next < self.until).then(|| Watch {
            next,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::{Group, SourceReport};

    fn report(name: &str, outcome: Outcome) -> SourceReport {
        SourceReport {
            name: name.into(),
            url: "https://x.kr".into(),
            outcome,
            detail: None,
            explain: None,
        }
    }

    fn menu(dishes: &[&str]) -> Outcome {
        Outcome::Menu(vec![Group {
            label: String::new(),
            dishes: dishes.iter().map(|d| d.to_string()).collect(),
        }])
    }

    fn run(reports: Vec<SourceReport>) -> Run {
        let date = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        Run {
            date,
            meal: Meal::Lunch,
            rendered: message::render(date, Meal::Lunch, &reports, &Style::new("https://x.kr")),
            reports,
        }
    }

    fn sent() -> Vec<(String, Vec<String>)> {
        vec![
            ("A".into(), vec!["쌀밥".into(), "돈까스".into()]),
            ("B".into(), vec!["국수".into()]),
        ]
    }

    #[test]
    fn a_new_dish_is_a_change_but_order_noise_and_closures_are_not() {
        let noise = crate::noise::all();
        let now = run(vec![
            report(
                "A",
                menu(&["돈까스 (돼지:국내산)", "쌀밥", "배추김치", "￦ 7,000"]),
            ),
            report(
                "B",
                Outcome::Closed {
                    notice: "휴무".into(),
                },
            ),
        ]);
        let found = changes(&sent(), &now, &noise);
        // The origin note and the price are noise; 배추김치 is a new dish.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].added, ["배추김치"]);
        let reordered = run(vec![
            report("A", menu(&["돈까스", "쌀밥", "beef cutlet"])),
            report("B", Outcome::FetchFailed),
        ]);
        assert!(changes(&sent(), &reordered, &noise).is_empty());
    }

    #[test]
    fn a_correction_says_what_changed_then_shows_the_new_menu_in_at_most_two_parts() {
        let noise = crate::noise::all();
        let now = run(vec![
            report("A", menu(&["쌀밥", "제육볶음"])),
            report("B", menu(&["국수"])),
        ]);
        let found = changes(&sent(), &now, &noise);
        assert_eq!(found[0].added, ["제육볶음"]);
        assert_eq!(found[0].removed, ["돈까스"]);
        let style = Style::new("https://x.kr");
        let parts = render(now.date, now.meal, &[&found[0]], false, &style);
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0]["text"],
            "[정정] 12월 7일 (월) 점심\n추가: 제육볶음\n빠짐: 돈까스\n지금 메뉴\n쌀밥\n제육볶음"
        );
        let long: Vec<String> = (0..80).map(|i| format!("새 반찬 {i}번")).collect();
        let big = Change {
            now: long.clone(),
            added: long,
            ..found[0].clone()
        };
        let parts = render(now.date, now.meal, &[&big], true, &style);
        assert_eq!(parts.len(), MAX_PARTS);
        let last = parts[1]["text"].as_str().unwrap();
        assert!(last.contains("… 외 "), "{last}");
    }

    #[test]
    fn the_watch_stops_before_its_end() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let watch = Watch {
            date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            meal: Meal::Lunch,
            next: at("2026-12-07T02:35:00Z"),
            until: at("2026-12-07T03:15:00Z"),
        };
        let five = std::time::Duration::from_secs(300);
        assert_eq!(
            watch
                .after(at("2026-12-07T02:35:00Z"), five)
                .map(|w| w.next),
            Some(at("2026-12-07T02:40:00Z"))
        );
        assert_eq!(watch.after(at("2026-12-07T03:12:00Z"), five), None);
    }
}
