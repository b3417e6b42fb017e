//! The scraper: what a cafeteria page says is on the menu for one (date, meal).
//!
//! This file owns the public types ([`Source`], [`Rule`], [`Outcome`], [`SourceReport`]),
//! [`parse`] — pure — with the page-level decisions of table mode (which tables count: the
//! selector's or, for `table = "auto"`, those that look like menus; a table without dates on
//! a dated page is skipped; whether the page states the date; `no_meal`; plausibility), css
//! mode, and [`scrape`], the thin shell that fetches, decodes and parses off the async thread
//! with a deadline.
//!
//! The pieces: `reader` (the one seam: each page layout is a [`Reader`], chosen per table
//! with the reason shown in `--explain`), its readers `rows` (week grids, date per row, day
//! views with meals down, section rows), `blocks` (date blocks), `across` (day views with
//! meals across) and `calendar` (month calendars), and below them `reading` (what a reader
//! is asked, in-cell meal sections, gathering dishes) and `grid` (the laid-out table);
//! `find` (`auto` and `kbot scrape --find`), `dom` (lines, headings, stated weeks, stated
//! months, the selected day; control characters stripped), `labels` (what text means),
//! `template` (`{date:FMT}`, `{weekday}`), `fetch` (http(s) with retries, or `file://`),
//! `reach` and `tls` (what a source needs to be reached: certificates, old TLS, headers),
//! `cache` (the last good copy of each page), `charset` (bytes → text), `explain` (what it
//! saw). Other source kinds, each behind one arm in [`scrape_with`]: `json` (a JSON endpoint
//! and a jq filter) and `image` (a menu image or PDF).
//! docs/sources.md is the user's guide.
//!
//! I/O only in [`scrape`] / [`fetch`] (network, `file://` reads); everything else is tested
//! without disk, network or clock. It does not decide what to send (`message`/`deliver`) nor
//! read config files (`config` builds the [`Rule`]s).

mod across;
mod blocks;
mod cache;
mod calendar;
mod charset;
mod dom;
mod explain;
mod fetch;
mod find;
mod grid;
pub mod image;
pub mod json;
mod labels;
pub mod reach;
mod reader;
mod reading;
mod rows;
mod template;
mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde::{Serialize, Serializer};

use crate::Meal;

pub use cache::{Slots, follow_slots, use_cache};
pub use charset::{decode, overruled_declaration};
pub use explain::{Explain, RowSeen, TableExplain};
pub use fetch::{FetchError, Page, Retry, fetch, fetch_in};
pub use find::{FoundTable, find_tables};
pub use reach::{Reach, Session, TlsMode};
pub use reader::Reader;
pub use template::{TemplateError, check_selector, expand};
pub use tls::keep_intermediates_in;

/// A page to scrape, as configured in one `[[source]]`.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in messages and `--json` (`학생식당`).
    pub name: String,
    /// The URL template: http(s) or `file://`, with `{date:FMT}` / `{weekday}` placeholders.
    pub url: String,
    /// How to read the page.
    pub rule: Rule,
    /// How to reach its server: `ca_file`, `tls`, `headers`.
    pub reach: Reach,
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
    /// What a page that states no date means (`undated = "today"`).
    pub undated: Undated,
}

/// What a page that states no date (no date label, stated week or selected day) is taken to
/// show: the `undated` key of a source. A URL with a `{date:…}` placeholder counts as
/// [`Undated::Today`], since the page asked for is the date's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Undated {
    /// Nothing certain: such a page is `wrong_date` (the default; never a stale menu).
    #[default]
    WrongDate,
    /// The page always shows the current menu: read it for the date asked.
    Today,
    /// Only a date the page states counts, in css mode too (which otherwise reads a page
    /// that states no date as the date asked): how a cached copy that cannot stand in as
    /// the day's page is read. Not a config word.
    Stated,
}

impl Undated {
    /// The config words, in order: `"wrong_date"`, `"today"`.
    pub const WORDS: [&'static str; 2] = ["wrong_date", "today"];

    /// Parse the config word.
    pub fn from_word(word: &str) -> Option<Undated> {
        match word {
            "wrong_date" => Some(Undated::WrongDate),
            "today" => Some(Undated::Today),
            _ => None,
        }
    }
}

/// The `table` value that scores every table on the page instead of naming one.
pub const AUTO: &str = "auto";

/// Most tables read from one page: real menu pages have a handful, and a hostile page with
/// thousands of nested tables must not cost a walk per table.
pub(crate) const MAX_TABLES: usize = 32;

/// Most dish lines in a menu, and longest dish, before a "menu" is a page problem: far above
/// any real page (the largest shared page has under 60 lines for one meal).
pub const MAX_MENU_LINES: usize = 200;
/// Longest plausible dish line, in characters (a message is about this long).
pub const MAX_DISH_CHARS: usize = 200;

impl Rule {
    /// The closure markers used when the config names none: 휴무, 운영없음, 미운영, 휴관.
    pub fn default_closed_markers() -> Vec<String> {
        ["휴무", "운영없음", "미운영", "휴관"]
            .map(String::from)
            .into()
    }

    /// A table-mode rule with the defaults (no excludes, unlabeled rows are lunch);
    /// [`AUTO`] gives [`Mode::Auto`].
    pub fn table(selector: impl Into<String>) -> Rule {
        let selector = selector.into();
        if selector.trim() == AUTO {
            return Rule::with_mode(Mode::Auto);
        }
        Rule::with_mode(Mode::Table { selector })
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
            undated: Undated::WrongDate,
        }
    }
}

/// Where the menu is on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `table = "auto"`: every table on the page is scored by its date, weekday and meal
    /// labels and the ones that look like menus are read.
    Auto,
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
    /// The page's menu tables have no row or column for this meal on any day (a cafeteria
    /// that serves no breakfast): nothing is sent and nobody is warned.
    NoMeal,
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
            Outcome::NoMeal => "no_meal",
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
    let parsed = match &rule.mode {
        Mode::Auto => parse_tables(&doc, None, rule, date, meal),
        Mode::Table { selector } => parse_tables(&doc, Some(selector), rule, date, meal),
        Mode::Css { selectors } => parse_css(&doc, selectors, rule, date, meal),
        Mode::Json(_) | Mode::Image(_) => not_found(
            "json and image sources are read by `scrape`, not from one page".into(),
            Explain::default(),
        ),
    };
    plausible(login_wall(&doc, parsed, date))
}

/// What a login page gets instead of "no table…": `fetch_failed`, saying so.
pub const LOGIN_PAGE: &str = "the site answered with a login page (a form asking for a password) instead of the menu: kbot cannot log in; use a page that shows the menu without one";

/// A page where nothing was found, with no table that looks like a menu but a form with a
/// password field, is a login wall (an SSO form answered with 200): say that, instead of
/// blaming the selector. A menu page with a login box in its header is not one.
fn login_wall(doc: &Html, parsed: Parsed, date: NaiveDate) -> Parsed {
    static INPUTS: std::sync::LazyLock<Selector> =
        std::sync::LazyLock::new(|| Selector::parse("form input[type]").expect("static selector"));
    if parsed.outcome != Outcome::NotFound {
        return parsed;
    }
    let password = doc.select(&INPUTS).take(200).any(|input| {
        input
            .value()
            .attr("type")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("password"))
    });
    if !password || !find::menu_tables(find::page_tables(doc, MAX_TABLES), date).is_empty() {
        return parsed;
    }
    let detail = format!("{LOGIN_PAGE} {}", reach::WILL_NOT_HEAL);
    let mut explain = parsed.explain;
    explain.notes.push(LOGIN_PAGE.to_string());
    Parsed {
        outcome: Outcome::FetchFailed,
        detail: Some(detail),
        explain,
    }
}

/// A "menu" longer than [`MAX_MENU_LINES`] lines or with a dish longer than
/// [`MAX_DISH_CHARS`] is a page problem (a selector on a huge table, a page that changed),
/// never a menu to send.
fn plausible(parsed: Parsed) -> Parsed {
    let Outcome::Menu(groups) = &parsed.outcome else {
        return parsed;
    };
    let lines: usize = groups.iter().map(|g| g.dishes.len()).sum();
    let longest = groups
        .iter()
        .flat_map(|g| &g.dishes)
        .map(|d| d.chars().count())
        .max()
        .unwrap_or(0);
    let why = if lines > MAX_MENU_LINES {
        format!(
            "the page gave {lines} dish lines, more than any real menu (limit {MAX_MENU_LINES}): not sent; check the source's table selector"
        )
    } else if longest > MAX_DISH_CHARS {
        format!(
            "a \"dish\" of {longest} characters is longer than a message (limit {MAX_DISH_CHARS}): not sent; check the source's table selector"
        )
    } else {
        return parsed;
    };
    let mut explain = parsed.explain;
    explain.notes.push(why.clone());
    Parsed {
        outcome: Outcome::NotFound,
        detail: Some(why),
        explain,
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

/// The hint for a page that states no date.
const UNDATED_HINT: &str = "if the page always shows the current menu, add undated = \"today\" to the source, or put a {date:%Y%m%d} placeholder in its url";

fn parse_tables(
    doc: &Html,
    template: Option<&String>,
    rule: &Rule,
    date: NaiveDate,
    meal: Meal,
) -> Parsed {
    let mut explain = Explain::default();
    let candidates = match candidate_tables(doc, template, date, meal, &mut explain) {
        Ok(candidates) => candidates,
        Err(why) => return not_found(why, explain),
    };
    let kept = drop_undated_tables(candidates, &mut explain);
    let elements: Vec<ElementRef<'_>> = kept.iter().map(|(_, t, _)| *t).collect();
    let mut contexts = dom::contexts(doc, &elements, date);
    // A calendar's day cells give no month: what the page states does (checked by the reader).
    for ((_, table, sized), context) in kept.iter().zip(&mut contexts) {
        if sized.reader == Reader::MonthCalendar {
            context.months = dom::stated_months(doc, *table);
        }
    }
    let page_day = dom::selected_day(doc, date);
    if let Some(day) = page_day {
        explain
            .notes
            .push(format!("the page marks {day} as the day it shows"));
    }
    let mut tally = Tally::default();
    for ((index, _, sized), context) in kept.into_iter().zip(&contexts) {
        let check = date_check(index, &sized, context, page_day, rule, date);
        let ask = reading::Ask {
            index,
            context,
            rule,
            date,
            meal,
        };
        let mut read = reader::read(sized, &ask);
        if let Some(status) = check
            && !matches!(read.status, grid::Status::WrongDate(_))
        {
            read.explain.result = match &status {
                grid::Status::WrongDate(why) | grid::Status::Uncertain(why) => why.clone(),
                _ => String::new(),
            };
            read.groups.clear();
            read.closed.clear();
            read.status = status;
        }
        explain.tables.push(std::mem::take(&mut read.explain));
        tally.add(index, read);
    }
    tally.conclude(date, meal, explain)
}

/// The tables a table-mode rule reads, sized up: those the selector reaches, or (`auto`,
/// no selector) every table that looks like a menu. `Err` says why there are none.
fn candidate_tables<'a>(
    doc: &'a Html,
    template: Option<&String>,
    date: NaiveDate,
    meal: Meal,
    explain: &mut Explain,
) -> Result<Vec<(ElementRef<'a>, reader::Sized)>, String> {
    let Some(template) = template else {
        let all = find::page_tables(doc, MAX_TABLES);
        let total = all.len();
        let menus = find::menu_tables(all, date);
        explain.search = format!(
            "table = \"auto\": {} of {total} table(s) look like menus (date, weekday or meal labels) for {date}, {meal}",
            menus.len()
        );
        if menus.is_empty() {
            return Err("no table on the page has date, weekday or meal labels: set table to a selector (kbot scrape --find lists the page's tables)".into());
        }
        return Ok(menus);
    };
    let (expanded, css) = selector(template, date, "table selector").inspect_err(|why| {
        explain.search = why.clone();
    })?;
    let mut tables: Vec<ElementRef<'_>> = Vec::new();
    'matches: for matched in doc.select(&css) {
        for table in dom::tables_in(matched, MAX_TABLES) {
            if tables.len() >= MAX_TABLES {
                explain.notes.push(format!(
                    "the selector reaches more than {MAX_TABLES} tables: only the first {MAX_TABLES} are read"
                ));
                break 'matches;
            }
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
        let listing = find::listing(doc, date);
        explain
            .notes
            .push(format!("the page's tables, best first:\n{listing}"));
        return Err(format!(
            "no table matches `{expanded}`: the page may have changed"
        ));
    }
    Ok(tables
        .into_iter()
        .map(|t| (t, reader::size_up(t, date)))
        .collect())
}

/// A table with no day or meal label on a page whose other tables have day labels is no
/// day's menu (a price list): left out. The rest, numbered 1-based in page order.
fn drop_undated_tables<'a>(
    candidates: Vec<(ElementRef<'a>, reader::Sized)>,
    explain: &mut Explain,
) -> Vec<(usize, ElementRef<'a>, reader::Sized)> {
    let any_days = candidates.iter().any(|(_, s)| s.has_days());
    let mut kept = Vec::new();
    for (i, (table, sized)) in candidates.into_iter().enumerate() {
        if any_days && !sized.has_days() && sized.meal_labels == 0 {
            explain.notes.push(format!(
                "table {} has no date, weekday or meal label while other tables have dates: not a day's menu (a price list?), skipped",
                i + 1
            ));
            continue;
        }
        kept.push((i + 1, table, sized));
    }
    kept
}

/// Whether the page says this table is for `date`: `None` when it does (or the table
/// carries its own dates, or the page states none and the source trusts an undated page),
/// else the status that replaces the reading (the wrong date, or a day the page does not
/// name). A date the page does state always counts, `undated` or not.
fn date_check(
    index: usize,
    sized: &reader::Sized,
    context: &dom::Context,
    page_day: Option<NaiveDate>,
    rule: &Rule,
    date: NaiveDate,
) -> Option<grid::Status> {
    use grid::Status::{Uncertain, WrongDate};
    if sized.has_dates() || sized.reader.dates_itself() {
        return None;
    }
    let trusted = rule.undated == Undated::Today;
    if sized.reader.is_one_day() {
        return match (page_day, &context.stated) {
            (Some(day), _) if day != date => {
                Some(WrongDate(format!("the page shows {day}, not {date}")))
            }
            (Some(_), _) => None,
            (None, _) if context.day.is_some() => match &context.day {
                Some((day, line)) if *day != date => {
                    Some(WrongDate(format!("the page shows \"{line}\", not {date}")))
                }
                _ => None,
            },
            (None, Some(stated)) if stated.from == stated.to || !stated.contains(date) => None,
            _ if trusted => None,
            (None, Some(stated)) => Some(Uncertain(format!(
                "table {index} shows one day of {} … {} but the page does not say which; {UNDATED_HINT}",
                stated.from, stated.to
            ))),
            (None, None) => Some(WrongDate(format!(
                "the page states no date for table {index}; {UNDATED_HINT}"
            ))),
        };
    }
    if let (None, None, Some((day, line))) = (page_day, &context.stated, &context.day)
        && day.iso_week() != date.iso_week()
    {
        return Some(WrongDate(format!(
            "table {index} names weekdays of the week of \"{line}\", not of {date}"
        )));
    }
    let dated_by_page = context.stated.is_some() || context.day.is_some() || page_day.is_some();
    if sized.is_month_view() {
        // Read by weekday, a month view glues every such weekday of the month together:
        // never read that way, and `undated` is no help.
        let why = format!(
            "table {index} has several days under each weekday (a month view) but kbot cannot tell which is {date}"
        );
        return Some(if dated_by_page || trusted {
            Uncertain(why)
        } else {
            WrongDate(why)
        });
    }
    (!dated_by_page && !trusted).then(|| {
        WrongDate(format!(
            "table {index} names weekdays but the page states no date or week; {UNDATED_HINT}"
        ))
    })
}

/// What the tables of a page gave, table by table, before the outcome is decided.
#[derive(Default)]
struct Tally {
    found: Found,
    wrong: Vec<String>,
    missing: Vec<String>,
    empty: Vec<String>,
    no_row: Vec<String>,
    uncertain: Vec<String>,
    meals_seen: Vec<Meal>,
}

impl Tally {
    /// Take in one table's reading.
    fn add(&mut self, index: usize, read: grid::TableRead) {
        if matches!(read.status, grid::Status::Read { .. }) {
            self.meals_seen.extend(&read.meals);
        }
        // Two tables with the same corner: a page that carries the menu twice (desktop and
        // mobile copies) is read once; copies that differ cannot both be right.
        for group in read.groups {
            match self.found.groups.iter().find(|g| g.label == group.label) {
                Some(seen) if *seen == group => {}
                Some(_) if !group.label.is_empty() => self.uncertain.push(format!(
                    "two tables give different dishes for \"{}\"",
                    group.label
                )),
                _ => self.found.groups.push(group),
            }
        }
        for closed in read.closed {
            if !self.found.closed.contains(&closed) {
                self.found.closed.push(closed);
            }
        }
        match read.status {
            // No rows below its day labels (a row of day buttons): not a menu.
            grid::Status::Read { meal_rows: 0, rows } if rows.is_empty() => {}
            grid::Status::Read { meal_rows: 0, rows } => {
                self.no_row
                    .push(format!("table {index} rows: {}", rows.join(", ")));
            }
            grid::Status::Read { .. } => self.empty.push(index.to_string()),
            grid::Status::WrongDate(why) => {
                // Tables of one page usually state the same week: say it once.
                if !self.wrong.contains(&why) {
                    self.wrong.push(why);
                }
            }
            grid::Status::Missing(why) => self.missing.push(why),
            grid::Status::Uncertain(why) => self.uncertain.push(why),
        }
    }

    /// The page's outcome: a menu or closure where any table gave one, else the most telling
    /// reason none did.
    fn conclude(mut self, date: NaiveDate, meal: Meal, explain: Explain) -> Parsed {
        if !self.uncertain.is_empty() {
            return not_found(
                format!(
                    "cannot place {date} {meal} with certainty: {}",
                    first_few(&self.uncertain)
                ),
                explain,
            );
        }
        self.meals_seen.sort();
        self.meals_seen.dedup();
        let fallback = if !self.empty.is_empty() {
            (
                Outcome::NotFound,
                format!(
                    "every {meal} row is empty for {date} (table {})",
                    self.empty.join(", ")
                ),
            )
        } else if !self.no_row.is_empty()
            && !self.meals_seen.is_empty()
            && !self.meals_seen.contains(&meal)
        {
            let has: Vec<&str> = self.meals_seen.iter().map(|m| m.as_str()).collect();
            (
                Outcome::NoMeal,
                format!(
                    "this page has no {meal} (its tables have {}): remove schedule.{meal} or add a source that has it",
                    has.join(", ")
                ),
            )
        } else if !self.no_row.is_empty() {
            (
                Outcome::NotFound,
                format!(
                    "no {meal} row: the page may have changed ({})",
                    self.no_row.join("; ")
                ),
            )
        } else if !self.wrong.is_empty() {
            (Outcome::WrongDate, first_few(&self.wrong))
        } else {
            (
                Outcome::NotFound,
                format!("{}: the page may have changed", first_few(&self.missing)),
            )
        };
        self.found.conclude(fallback, explain)
    }
}

/// The first three reasons, `; `-joined, and how many more there are: a detail stays one
/// readable line on a page with many tables.
fn first_few(reasons: &[String]) -> String {
    let mut text = reasons
        .iter()
        .take(3)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > 3 {
        text.push_str(&format!("; and {} more", reasons.len() - 3));
    }
    text
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
    if rule.undated == Undated::Stated {
        // A cached copy that may not stand in as the day's page: only a stated date counts.
        let states_the_date = context.stated.is_some()
            || context.day.as_ref().is_some_and(|(day, _)| *day == date)
            || dom::selected_day(doc, date) == Some(date);
        if !states_the_date {
            let why = format!("the page states no date, so nothing says it is {date}'s");
            explain.notes.push(why.clone());
            return Parsed {
                outcome: Outcome::WrongDate,
                detail: Some(why),
                explain,
            };
        }
    }
    let mut found = Found::default();
    let mut dishes = Vec::new();
    for (i, element) in matches.iter().enumerate() {
        let lines: Vec<String> = dom::lines(*element, dom::MAX_NODES_PER_ELEMENT)
            .into_iter()
            .filter(|line| !rule.exclude.iter().any(|re| re.is_match(line)))
            .collect();
        explain.notes.push(format!(
            "match {}: {} line{}{}",
            i + 1,
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
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

/// `kbot scrape --find`: fetch and decode the page at an expanded URL and list its tables,
/// best first (see [`find_tables`]).
/// `reach` is the source's (`ca_file`, `tls`, `headers`), or the defaults for a bare URL.
pub async fn find_on_page(
    client: &reqwest::Client,
    url: &str,
    date: NaiveDate,
    reach: &Reach,
) -> Result<Vec<FoundTable>, FetchError> {
    let mut headers = Vec::new();
    for (name, value) in &reach.headers {
        headers.push((name.clone(), expand(value, date)?));
    }
    let mut session = Session::new(reach, headers, None, client)?;
    let page = fetch_in(&mut session, url, &Retry::default()).await?;
    let (html, _) = decode(&page.bytes, page.content_type.as_deref(), None);
    Ok(find_tables(&html, date))
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

/// Replacement characters (U+FFFD) a decoded page may hold (or 1% of it, if more) before it
/// is reported as mis-decoded instead of scraped.
const MAX_REPLACEMENTS: usize = 20;

/// How long reading one page may take before it is "too complex": real pages take
/// milliseconds.
pub const PARSE_DEADLINE: Duration = Duration::from_secs(10);

/// [`parse`] on a thread of its own, so the async runtime (the daemon's signal handling)
/// never waits for it, given up after `deadline` as a `not_found` "the page is too complex".
/// The thread is detached, not a `spawn_blocking` task: a runtime shutting down (SIGTERM)
/// waits for blocking tasks, but not for it; it ends with the parse or the process.
pub async fn parse_off_thread(
    html: String,
    rule: Rule,
    date: NaiveDate,
    meal: Meal,
    deadline: Duration,
) -> Parsed {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("kbot-parse".into())
        .spawn(move || {
            // The receiver is gone after the deadline: nothing to deliver to.
            let _ = tx.send(parse(&html, &rule, date, meal));
        });
    let why = match spawned {
        Err(err) => format!("cannot start a thread to read the page: {err}"),
        Ok(_) => match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(parsed)) => return parsed,
            Ok(Err(_)) => "reading the page failed (the reader stopped)".to_string(),
            Err(_) => format!(
                "the page is too complex: reading it took longer than {} s",
                deadline.as_secs_f32()
            ),
        },
    };
    let explain = Explain {
        notes: vec![why.clone()],
        ..Explain::default()
    };
    not_found(why, explain)
}

/// [`scrape`] with explicit retry settings.
pub async fn scrape_with(
    client: &reqwest::Client,
    source: &Source,
    date: NaiveDate,
    meal: Meal,
    retry: &Retry,
) -> SourceReport {
    scrape_within(client, source, date, meal, retry, PARSE_DEADLINE).await
}

/// The session (see [`reach`]) one fetch of `source` for `date` goes through: its TLS
/// settings, its `headers` expanded, a cookie jar, and for a json source with secret
/// headers redirects kept to its url's origin. `client` downloads missing intermediates.
pub fn session_for(
    client: &reqwest::Client,
    source: &Source,
    date: NaiveDate,
) -> Result<Session, (String, FetchError)> {
    let url = expand(&source.url, date).map_err(|e| (source.url.clone(), e.into()))?;
    let mut headers = Vec::new();
    for (name, value) in &source.reach.headers {
        let value = expand(value, date).map_err(|e| (url.clone(), e.into()))?;
        headers.push((name.clone(), value));
    }
    let guard = match &source.rule.mode {
        Mode::Json(spec) if !spec.secret_headers.is_empty() => {
            url::Url::parse(&url).ok().map(|u| u.origin())
        }
        _ => None,
    };
    Session::new(&source.reach, headers, guard, client).map_err(|e| (url, e))
}

/// [`scrape_with`] with an explicit parse deadline.
pub async fn scrape_within(
    client: &reqwest::Client,
    source: &Source,
    date: NaiveDate,
    meal: Meal,
    retry: &Retry,
    deadline: Duration,
) -> SourceReport {
    let failed = |url: String, err: FetchError| SourceReport {
        name: source.name.clone(),
        url,
        outcome: Outcome::FetchFailed,
        detail: Some(err.detail()),
        explain: None,
    };
    let mut session = match session_for(client, source, date) {
        Ok(session) => session,
        Err((url, err)) => return failed(url, err),
    };
    match &source.rule.mode {
        Mode::Json(spec) => {
            return json::scrape(session.client(), source, spec, date, meal, retry).await;
        }
        Mode::Image(spec) => {
            return image::scrape(session.client(), source, spec, date, meal, retry).await;
        }
        Mode::Auto | Mode::Table { .. } | Mode::Css { .. } => {}
    }
    let url = match expand(&source.url, date) {
        Ok(url) => url,
        Err(err) => return failed(source.url.clone(), err.into()),
    };
    let page = match fetch_in(&mut session, &url, retry).await {
        Ok(page) => page,
        Err(err) => return failed(url, err),
    };
    let (html, encoding) = decode(
        &page.bytes,
        page.content_type.as_deref(),
        source.rule.encoding,
    );
    let overruled = source
        .rule
        .encoding
        .is_none()
        .then(|| overruled_declaration(&page.bytes, page.content_type.as_deref()))
        .flatten();
    tracing::debug!(source = %source.name, %url, bytes = page.bytes.len(), encoding = encoding.name(), "fetched");
    let replaced = html.chars().filter(|&c| c == '\u{fffd}').count();
    if replaced > MAX_REPLACEMENTS.max(html.chars().count() / 100) {
        let why = format!(
            "the page decodes as {} to {replaced} replacement characters (�): its charset is not {}",
            encoding.name(),
            encoding.name()
        );
        return SourceReport {
            name: source.name.clone(),
            url,
            outcome: Outcome::NotFound,
            detail: Some(format!(
                "{why}; set encoding = \"euc-kr\" (or the page's charset) in the source"
            )),
            explain: Some(Explain {
                notes: vec![why],
                ..Explain::default()
            }),
        };
    }
    let mut rule = source.rule.clone();
    let mut undated_refused = None;
    if source.url.contains("{date") {
        // The page asked for is the date's own: a page that states no date is that date's.
        rule.undated = Undated::Today;
    } else if let Some(stale) = &page.stale
        && (rule.undated == Undated::Today || matches!(rule.mode, Mode::Css { .. }))
        && let Err(why) = cache::undated_copy_serves(stale, date, meal)
    {
        // A cached copy of a page that states no date is today's only if fetched today
        // before the slot; otherwise only a date the page states can make it a menu.
        rule.undated = Undated::Stated;
        undated_refused = Some(why);
    }
    let mut parsed = parse_off_thread(html, rule, date, meal, deadline).await;
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
                match &undated_refused {
                    Some(why) => format!("{} (not served from the cache: {why})", stale.failure),
                    None => format!("{} (the cached copy does not cover {date})", stale.failure),
                }
            }
        });
    }
    let mut explain = parsed.explain;
    if let Some(note) = overruled {
        explain.notes.insert(0, note);
    }
    if let Some(tls) = page.tls {
        explain.notes.insert(0, tls);
    }
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
    fn a_login_form_without_a_menu_is_a_login_page_but_a_login_box_beside_a_menu_is_not() {
        let login = "<form><input name=id><input type=password name=pw></form>";
        let walled = parse(login, &Rule::table("auto"), d(2026, 6, 1), Meal::Lunch);
        assert_eq!(walled.outcome, Outcome::FetchFailed);
        assert!(
            walled
                .detail
                .is_some_and(|d| d.contains("the site answered with a login page"))
        );
        let menu = format!(
            "{login}<table><tr><th>구분</th><th>06.01(월)</th></tr><tr><th>중식</th><td></td></tr></table>"
        );
        let empty = parse(&menu, &Rule::table("auto"), d(2026, 6, 1), Meal::Lunch);
        assert_ne!(empty.outcome, Outcome::FetchFailed, "{:?}", empty.detail);
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
            Outcome::NoMeal,
            Outcome::FetchFailed,
        ]
        .iter()
        .map(Outcome::as_str)
        .collect();
        assert_eq!(
            words,
            [
                "menu",
                "closed",
                "not_found",
                "wrong_date",
                "no_meal",
                "fetch_failed"
            ]
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
