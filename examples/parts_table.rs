//! Prints the part-count table of docs/messages.md: for every saved page, day and meal the
//! current scraper reads, how many Kakao text parts the menu took in the earlier rendering (every line,
//! `[source · label]` on every group) and takes now (noise dropped, compact headings,
//! `max_parts = 2`), and how many dish lines the `… 외 N개` line counts.
//!
//! Reads the saved pages `DIR/raw/*.html` (or `DIR/*.html`; DIR is the first argument, the
//! test fixtures by default) and each page's ground-truth `DIR/*.json` for its table selector
//! and dates.
//! Run: `cargo run --example parts_table [-- DIR]`.

use std::path::PathBuf;

use chrono::NaiveDate;
use kbot::Meal;
use kbot::message::{self, Style};
use kbot::scrape::{self, Outcome, Rule, SourceReport};

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages"),
        PathBuf::from,
    );
    let raw = if dir.join("raw").is_dir() {
        dir.join("raw")
    } else {
        dir.clone()
    };
    let mut names: Vec<String> = std::fs::read_dir(&raw)
        .expect("a raw/ directory of saved pages")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".html").map(str::to_string)
        })
        .collect();
    names.sort();
    println!("| page | day | meal | before | after | left out |");
    println!("| --- | --- | --- | ---: | ---: | ---: |");
    for name in names {
        let Ok(truth) = std::fs::read_to_string(dir.join(format!("{name}.json"))) else {
            continue;
        };
        let truth: serde_json::Value = serde_json::from_str(&truth).expect("ground truth is JSON");
        let selector = truth["table_selector"]
            .as_str()
            .unwrap_or("table")
            .split("  (")
            .next()
            .unwrap_or("table")
            .trim()
            .to_string();
        let bytes = std::fs::read(raw.join(format!("{name}.html"))).expect("page");
        // The stored DGU text is UTF-8 that still declares EUC-KR (see the fixtures README).
        let forced =
            (name.starts_with("dgu") && !name.ends_with("euckr")).then_some(encoding_rs::UTF_8);
        let rule = Rule {
            encoding: forced,
            ..Rule::table(&selector)
        };
        let html = scrape::decode(&bytes, None, rule.encoding).0;
        let source = source_name(&name);
        let days = truth["days"].as_object().cloned().unwrap_or_default();
        for day in days.keys() {
            let date: NaiveDate = day.parse().expect("YYYY-MM-DD");
            for meal in Meal::ALL {
                let parsed = scrape::parse(&html, &rule, date, meal);
                let Outcome::Menu(groups) = &parsed.outcome else {
                    continue;
                };
                let before = before_parts(date, meal, source, groups);
                let report = SourceReport {
                    name: source.into(),
                    url: "https://example.ac.kr/menu".into(),
                    outcome: parsed.outcome.clone(),
                    detail: None,
                    explain: None,
                };
                let after = message::render(
                    date,
                    meal,
                    &[report],
                    &Style::new("https://example.ac.kr/menu"),
                );
                println!(
                    "| {name} | {day} | {} | {before} | {} | {} |",
                    meal.korean(),
                    after.menu_parts(),
                    after.omitted
                );
            }
        }
    }
}

/// The part count of the earlier rendering: `[source · label]` above every group,
/// every scraped line, split at 200 characters.
fn before_parts(date: NaiveDate, meal: Meal, source: &str, groups: &[scrape::Group]) -> usize {
    let mut lines = Vec::new();
    for group in groups {
        lines.push(if group.label.is_empty() {
            format!("[{source}]")
        } else {
            format!("[{source} · {}]", group.label)
        });
        lines.extend(group.dishes.iter().cloned());
    }
    message::split_text(&message::title(date, meal), &lines, message::TEXT_LIMIT).len()
}

fn source_name(page: &str) -> &'static str {
    match page.split('-').next() {
        Some("dgu") => "동국대 생협",
        Some("jbnu") => "전북대 생협",
        Some("chungkang") => "청강대 인간사랑",
        Some("inu") => "인천대 생협",
        Some("pknu") => "부경대 식당",
        Some("sejong") => "세종 군자",
        _ => "식당",
    }
}
