//! The scraper: what a cafeteria page says is on the menu for one (date, meal).
//!
//! This file owns the public types ([`Source`], [`Rule`], [`Outcome`], [`SourceReport`]),
//! [`parse`] — pure — with css mode and the outcome classification (menu, closed, not found,
//! wrong date, fetch failed), and [`scrape`], the thin shell that fetches, decodes and parses.
//! The pieces: `template` (`{date:FMT}`, `{weekday}`), `fetch` (http(s) through the one shared
//! client with two retries on 5xx/network errors, or `file://`), `charset` (bytes → text),
//! `dom` (lines, headings, stated weeks), `labels` (what text means), `grid` (table mode),
//! `explain` (what it saw, for `--explain`). Other source kinds, each behind one arm in
//! [`scrape_with`]: `json` (a JSON endpoint and a jq filter) and `image` (a menu image or PDF).
//!
//! I/O only in [`scrape`] / [`fetch`] (network, `file://` reads); everything else is tested
//! without disk, network or clock. It does not decide what to send (`message`/`deliver`) nor
//! read config files (`config` builds the [`Rule`]s).

mod charset;
mod dom;
mod explain;
mod fetch;
mod grid;
pub mod image;
pub mod json;
mod labels;
mod template;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde::{Serialize, Serializer};

use crate::Meal;

pub use charset::decode;
pub use explain::{Explain, RowSeen, TableExplain};
pub use fetch::{FetchError, Page, Retry, fetch, use_cache};
pub use template::{TemplateError, check_selector, expand};

/// A page to scrape, as configured in one `[[source]]`.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in messages and `--json` (`학생식당`).
    pub name: String,
    /// The URL template: http(s) or `file://`, with `{date:FMT}` / `{weekday}` placeholders.
    pub url: String,
    /// How to read the page.
    pub rule: Rule,
}

/// How to read a page.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Table mode or css mode.
    pub mode: Mode,
    /// Lines matching any of these are dropped (English translations, prices, origin notes).
    pub exclude: Vec<Regex>,
    /// The meal of rows that carry no meal word (`unlabeled = "lunch"`).
    pub unlabeled: Meal,
    /// Texts that mark a cell as closed; see [`Rule::default_closed_markers`].
    pub closed_markers: Vec<String>,
    /// The page's encoding when it must not be detected (`encoding = "euc-kr"`); `None` = auto.
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl Rule {
    /// The closure markers used when the config names none: 휴무, 운영없음, 미운영, 휴관.
    pub fn default_closed_markers() -> Vec<String> {
        ["휴무", "운영없음", "미운영", "휴관"]
            .map(String::from)
            .into()
    }

    /// A table-mode rule with the defaults (no excludes, unlabeled rows are lunch).
    pub fn table(selector: impl Into<String>) -> Rule {
        Rule::with_mode(Mode::Table {
            selector: selector.into(),
        })
    }

    /// A css-mode rule with the defaults: one selector per meal.
    pub fn css(selectors: BTreeMap<Meal, String>) -> Rule {
        Rule::with_mode(Mode::Css { selectors })
    }

    fn with_mode(mode: Mode) -> Rule {
        Rule {
            mode,
            exclude: Vec::new(),
            unlabeled: Meal::Lunch,
            closed_markers: Rule::default_closed_markers(),
            encoding: None,
        }
    }
}

/// Where the menu is on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Week grids, day views and date-per-row tables reached by one selector (which may
    /// match several tables, or an element holding them).
    Table {
        /// CSS selector of the table(s), or of elements holding them; placeholders allowed.
        selector: String,
    },
    /// One selector per meal; each matched element's lines are the dishes.
    Css {
        /// The selector of each meal's element(s); placeholders allowed.
        selectors: BTreeMap<Meal, String>,
    },
    /// `kind = "json"`: a JSON endpoint read with a jq filter (see [`json`]).
    Json(json::JsonSpec),
    /// `kind = "image"`: a menu image or PDF in a board post, sent as it is (see [`image`]).
    Image(image::ImageSpec),
}

/// The dishes of one corner or restaurant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// `"<restaurant> > <corner>"`, `"백반"`, or `""` when the page gives no label.
    pub label: String,
    /// The lines of the cell(s), in page order.
    pub dishes: Vec<String>,
}

/// What scraping one source gave. Each kind is reported and recorded distinctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Dishes were found (some corners may be closed: see the detail).
    Menu(Vec<Group>),
    /// Every cell for the meal is a closure notice (`개천절 휴무`).
    Closed {
        /// The notice as written (`개천절 휴무`); several distinct ones joined by ` / `.
        notice: String,
    },
    /// A table, column, row or selector is missing, or the meal's cells are empty.
    NotFound,
    /// The page is for other dates.
    WrongDate,
    /// The page could not be fetched.
    FetchFailed,
    /// An image or PDF menu (image sources), sent as it is; `menu` in `--json` and the ledger.
    Media(image::Media),
}

impl Outcome {
    /// The word used in `--json` and the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Menu(_) | Outcome::Media(_) => "menu",
            Outcome::Closed { .. } => "closed",
            Outcome::NotFound => "not_found",
            Outcome::WrongDate => "wrong_date",
            Outcome::FetchFailed => "fetch_failed",
        }
    }
}

/// What [`parse`] found in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// What kind of answer the page gave, with the dishes for a menu.
    pub outcome: Outcome,
    /// Why, in words: what was missing, which corners were closed, which dates the page has.
    pub detail: Option<String>,
    /// What the scraper saw, for `--explain`.
    pub explain: Explain,
}

/// One source's result for a run: DESIGN §2's per-source object when serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// The source's configured name.
    pub name: String,
    /// The URL with its placeholders expanded.
    pub url: String,
    /// What kind of answer the page gave, with the dishes for a menu.
    pub outcome: Outcome,
    /// Why, in words (see [`Parsed::detail`]); the URL and cause for a failed fetch.
    pub detail: Option<String>,
    /// What the scraper saw; `None` when no page was read.
    pub explain: Option<Explain>,
}

impl Serialize for SourceReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            name: &'a str,
            url: &'a str,
            outcome: &'static str,
            groups: &'a [Group],
            detail: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            media: Option<&'a image::Media>,
        }
        let groups = match &self.outcome {
            Outcome::Menu(groups) => groups.as_slice(),
            _ => &[],
        };
        Wire {
            name: &self.name,
            url: &self.url,
            outcome: self.outcome.as_str(),
            groups,
            detail: self.detail.as_deref(),
            media: match &self.outcome {
                Outcome::Media(media) => Some(media),
                _ => None,
            },
        }
        .serialize(serializer)
    }
}

/// Read a decoded page for `date` and `meal`. Pure.
pub fn parse(html: &str, rule: &Rule, date: NaiveDate, meal: Meal) -> Parsed {
    let doc = Html::parse_document(html);
    match &rule.mode {
        Mode::Table { selector } => parse_tables(&doc, selector, rule, date, meal),
        Mode::Css { selectors } => parse_css(&doc, selectors, rule, date, meal),
        Mode::Json(_) | Mode::Image(_) => not_found(
            "json and image sources are read by `scrape`, not from one page".into(),
            Explain::default(),
        ),
    }
}

fn not_found(detail: String, explain: Explain) -> Parsed {
    Parsed {
        outcome: Outcome::NotFound,
        detail: Some(detail),
        explain,
    }
}

/// Expand and parse a selector, or say why not.
fn selector(template: &str, date: NaiveDate, what: &str) -> Result<(String, Selector), String> {
    let expanded = expand(template, date).map_err(|e| format!("{what}: {e}"))?;
    let parsed = Selector::parse(&expanded)
        .map_err(|e| format!("{what} `{expanded}` is not valid CSS: {e}"))?;
    Ok((expanded, parsed))
}

fn parse_tables(doc: &Html, template: &str, rule: &Rule, date: NaiveDate, meal: Meal) -> Parsed {
    let mut explain = Explain::default();
    let (expanded, css) = match selector(template, date, "table selector") {
        Ok(found) => found,
        Err(why) => {
            explain.search = why.clone();
            return not_found(why, explain);
        }
    };
    let mut tables: Vec<ElementRef<'_>> = Vec::new();
    for matched in doc.select(&css) {
        for table in dom::tables_in(matched) {
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
    }
    explain.search = format!(
        "table selector `{expanded}`: {} table(s) for {date}, {meal}",
        tables.len()
    );
    if tables.is_empty() {
        return not_found(
            format!("no table matches `{expanded}`: the page may have changed"),
            explain,
        );
    }
    let contexts = dom::contexts(doc, &tables, date);
    let reads = tables
        .iter()
        .zip(&contexts)
        .enumerate()
        .map(|(i, (table, context))| {
            grid::read(grid::Grid::build(*table), i + 1, context, rule, date, meal)
        });

    let mut found = Found::default();
    let (mut wrong, mut missing, mut empty, mut no_row) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for read in reads {
        let index = read.explain.index;
        explain.tables.push(read.explain);
        found.groups.extend(read.groups);
        found.closed.extend(read.closed);
        match read.status {
            grid::Status::Read { meal_rows: 0, rows } => {
                let rows = if rows.is_empty() {
                    "none".to_string()
                } else {
                    rows.join(", ")
                };
                no_row.push(format!("table {index} rows: {rows}"));
            }
            grid::Status::Read { .. } => empty.push(index.to_string()),
            grid::Status::WrongDate(why) => {
                // Tables of one page usually state the same week: say it once.
                if !wrong.contains(&why) {
                    wrong.push(why);
                }
            }
            grid::Status::Missing(why) => missing.push(why),
        }
    }
    let fallback = if !empty.is_empty() {
        (
            Outcome::NotFound,
            format!(
                "every {meal} row is empty for {date} (table {})",
                empty.join(", ")
            ),
        )
    } else if !no_row.is_empty() {
        (
            Outcome::NotFound,
            format!(
                "no {meal} row: the page may have changed ({})",
                no_row.join("; ")
            ),
        )
    } else if !wrong.is_empty() {
        (Outcome::WrongDate, wrong.join("; "))
    } else {
        (
            Outcome::NotFound,
            format!("{}: the page may have changed", missing.join("; ")),
        )
    };
    found.conclude(fallback, explain)
}

fn parse_css(
    doc: &Html,
    selectors: &BTreeMap<Meal, String>,
    rule: &Rule,
    date: NaiveDate,
    meal: Meal,
) -> Parsed {
    let mut explain = Explain::default();
    let Some(template) = selectors.get(&meal) else {
        explain.search = format!("css mode: no selector for {meal}");
        return not_found(
            format!("no css selector for {meal} in [source.select]"),
            explain,
        );
    };
    let what = format!("css selector for {meal}");
    let (expanded, css) = match selector(template, date, &what) {
        Ok(found) => found,
        Err(why) => {
            explain.search = why.clone();
            return not_found(why, explain);
        }
    };
    let matches: Vec<ElementRef<'_>> = doc.select(&css).collect();
    explain.search = format!(
        "{what} `{expanded}`: {} element(s) for {date}",
        matches.len()
    );
    let Some(first) = matches.first() else {
        return not_found(
            format!("{what} `{expanded}` matches nothing: the page may have changed"),
            explain,
        );
    };
    let context = dom::contexts(doc, &[*first], date)
        .pop()
        .unwrap_or_default();
    if let Some(stated) = context.stated.as_ref().filter(|s| !s.contains(date)) {
        let why = stated.excludes(date);
        explain.notes.push(why.clone());
        return Parsed {
            outcome: Outcome::WrongDate,
            detail: Some(why),
            explain,
        };
    }
    let mut found = Found::default();
    let mut dishes = Vec::new();
    for (i, element) in matches.iter().enumerate() {
        let lines: Vec<String> = dom::lines(*element)
            .into_iter()
            .filter(|line| !rule.exclude.iter().any(|re| re.is_match(line)))
            .collect();
        explain.notes.push(format!(
            "match {}: {} lines{}",
            i + 1,
            lines.len(),
            lines
                .first()
                .map(|l| format!(", first \"{l}\""))
                .unwrap_or_default()
        ));
        if lines.is_empty() {
            continue;
        }
        if labels::is_closed(&lines.join(" "), &rule.closed_markers) {
            found.closed.push((String::new(), lines.join(" ")));
        } else {
            dishes.extend(lines);
        }
    }
    if !dishes.is_empty() {
        found.groups.push(Group {
            label: String::new(),
            dishes,
        });
    }
    let fallback = (
        Outcome::NotFound,
        format!("{what} `{expanded}` matched only empty elements for {date}"),
    );
    found.conclude(fallback, explain)
}

/// Dishes and closure notices gathered from a page, before deciding the outcome.
#[derive(Debug, Default)]
struct Found {
    groups: Vec<Group>,
    closed: Vec<(String, String)>,
}

impl Found {
    /// Menu when anything has dishes (closed corners named in the detail), else Closed when
    /// anything is closed, else `fallback`.
    fn conclude(self, fallback: (Outcome, String), explain: Explain) -> Parsed {
        let closed_detail = (!self.closed.is_empty()).then(|| {
            let corners: Vec<String> = self
                .closed
                .iter()
                .map(|(label, notice)| {
                    if label.is_empty() {
                        notice.clone()
                    } else {
                        format!("{label} ({notice})")
                    }
                })
                .collect();
            format!("closed: {}", corners.join(", "))
        });
        let (outcome, detail) = if !self.groups.is_empty() {
            (Outcome::Menu(self.groups), closed_detail)
        } else if !self.closed.is_empty() {
            let mut notices: Vec<&str> = Vec::new();
            for (_, notice) in &self.closed {
                if !notices.contains(&notice.as_str()) {
                    notices.push(notice);
                }
            }
            let notice = notices.join(" / ");
            (Outcome::Closed { notice }, closed_detail)
        } else {
            (fallback.0, Some(fallback.1))
        };
        Parsed {
            outcome,
            detail,
            explain,
        }
    }
}

/// Fetch, decode and parse one source for (date, meal) with the default retries. Never
/// fails: a fetch failure is [`Outcome::FetchFailed`] with the URL and cause in `detail`.
pub async fn scrape(
    client: &reqwest::Client,
    source: &Source,
    date: NaiveDate,
    meal: Meal,
) -> SourceReport {
    scrape_with(client, source, date, meal, &Retry::default()).await
}

/// [`scrape`] with explicit retry settings.
pub async fn scrape_with(
    client: &reqwest::Client,
    source: &Source,
    date: NaiveDate,
    meal: Meal,
    retry: &Retry,
) -> SourceReport {
    match &source.rule.mode {
        Mode::Json(spec) => return json::scrape(client, source, spec, date, meal, retry).await,
        Mode::Image(spec) => return image::scrape(client, source, spec, date, meal, retry).await,
        Mode::Table { .. } | Mode::Css { .. } => {}
    }
    let failed = |url: String, err: FetchError| SourceReport {
        name: source.name.clone(),
        url,
        outcome: Outcome::FetchFailed,
        detail: Some(err.detail()),
        explain: None,
    };
    let url = match expand(&source.url, date) {
        Ok(url) => url,
        Err(err) => return failed(source.url.clone(), err.into()),
    };
    let page = match fetch(client, &url, retry).await {
        Ok(page) => page,
        Err(err) => return failed(url, err),
    };
    let (html, encoding) = decode(
        &page.bytes,
        page.content_type.as_deref(),
        source.rule.encoding,
    );
    tracing::debug!(source = %source.name, %url, bytes = page.bytes.len(), encoding = encoding.name(), "fetched");
    let mut parsed = parse(&html, &source.rule, date, meal);
    if let Some(stale) = &page.stale {
        // The site failed: a cached copy may stand in only where it is a menu for `date`.
        parsed.detail = Some(match parsed.outcome {
            Outcome::Menu(_) | Outcome::Closed { .. } => format!(
                "sent from the copy cached at {} (the site failed: {})",
                stale.fetched_at.format("%Y-%m-%d %H:%M UTC"),
                stale.failure
            ),
            _ => {
                parsed.outcome = Outcome::FetchFailed;
                format!("{} (the cached copy does not cover {date})", stale.failure)
            }
        });
    }
    let mut explain = parsed.explain;
    explain.notes.insert(
        0,
        format!(
            "read {} bytes from {url} (Content-Type: {}), decoded as {}",
            page.bytes.len(),
            page.content_type.as_deref().unwrap_or("none"),
            encoding.name()
        ),
    );
    SourceReport {
        name: source.name.clone(),
        url,
        outcome: parsed.outcome,
        detail: parsed.detail,
        explain: Some(explain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn a_report_serializes_to_the_design_shape_with_groups_only_for_a_menu() {
        let menu = SourceReport {
            name: "진수원".into(),
            url: "https://x.kr".into(),
            outcome: Outcome::Menu(vec![Group {
                label: "백반".into(),
                dishes: vec!["쌀밥".into()],
            }]),
            detail: None,
            explain: Some(Explain::default()),
        };
        assert_eq!(
            serde_json::to_value(&menu).expect("serializes"),
            serde_json::json!({"name": "진수원", "url": "https://x.kr", "outcome": "menu",
                "groups": [{"label": "백반", "dishes": ["쌀밥"]}], "detail": null})
        );
        let closed = SourceReport {
            outcome: Outcome::Closed {
                notice: "휴무".into(),
            },
            detail: Some("closed: 휴무".into()),
            ..menu
        };
        let value = serde_json::to_value(&closed).expect("serializes");
        assert_eq!(value["outcome"], "closed");
        assert_eq!(value["groups"], serde_json::json!([]));
        assert_eq!(value["detail"], "closed: 휴무");
    }

    #[test]
    fn outcome_words_match_the_json_contract() {
        let words: Vec<_> = [
            Outcome::Menu(vec![]),
            Outcome::Closed {
                notice: String::new(),
            },
            Outcome::NotFound,
            Outcome::WrongDate,
            Outcome::FetchFailed,
        ]
        .iter()
        .map(Outcome::as_str)
        .collect();
        assert_eq!(
            words,
            ["menu", "closed", "not_found", "wrong_date", "fetch_failed"]
        );
    }

    #[test]
    fn css_mode_reads_one_selector_per_meal_and_reports_a_missing_one() {
        let html = "<table><tr><td>국<br>밥</td><td>면</td></tr></table>";
        let rule = Rule::css(BTreeMap::from([(
            Meal::Lunch,
            "td:nth-child({weekday})".to_string(),
        )]));
        let tuesday = parse(html, &rule, d(2023, 4, 11), Meal::Lunch);
        assert_eq!(
            tuesday.outcome,
            Outcome::Menu(vec![Group {
                label: String::new(),
                dishes: vec!["면".into()]
            }])
        );
        let dinner = parse(html, &rule, d(2023, 4, 11), Meal::Dinner);
        assert_eq!(dinner.outcome, Outcome::NotFound);
        assert!(
            dinner
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("no css selector for dinner"))
        );
    }

    #[test]
    fn a_selector_that_matches_no_table_is_not_found_and_says_so() {
        let parsed = parse(
            "<p>공사중</p>",
            &Rule::table("table.tblType03"),
            d(2023, 4, 10),
            Meal::Lunch,
        );
        assert_eq!(parsed.outcome, Outcome::NotFound);
        assert!(
            parsed
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("no table matches `table.tblType03`"))
        );
    }
}
