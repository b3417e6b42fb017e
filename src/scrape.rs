//! The scraper: what a cafeteria page says is on the menu for one (date, meal).
//!
//! Owns URL/selector templates (`{date:FMT}`, `{weekday}`), fetching a page (http(s) through
//! the one shared client with two retries on 5xx/network errors, or `file://`), decoding it
//! (`charset`), and `parse` — pure — in table mode (`grid`) or css mode, classifying the
//! outcome: menu, closed, not found, wrong date, fetch failed. `explain` records what it saw.
//!
//! Does I/O only in [`scrape`] / [`fetch`] (network, `file://` reads); everything else is pure
//! and tested without disk, network or clock. It does not decide what to send (that is
//! `message`/`deliver`) nor read config files (that is `config`, which builds [`Rule`]s).

mod charset;
mod dom;
mod explain;
mod grid;
mod labels;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::format::StrftimeItems;
use chrono::{Datelike, NaiveDate};
use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde::{Serialize, Serializer};

use crate::Meal;
use crate::error::{Exit, Report};

pub use charset::decode;
pub use explain::{Explain, RowSeen, TableExplain};

/// Largest page kbot reads; menu pages are ~150 KB, so this only stops runaways.
const MAX_PAGE_BYTES: usize = 8 << 20;

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
}

impl Outcome {
    /// The word used in `--json` and the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Menu(_) => "menu",
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
        }
        .serialize(serializer)
    }
}

/// A URL or selector template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed `{{` in {template:?}")]
    Unclosed { template: String },
    /// A placeholder other than `{date:FMT}`, `{date}` or `{weekday}`.
    #[error(
        "unknown placeholder `{{{placeholder}}}` in {template:?}: expected {{date:FMT}} or {{weekday}}"
    )]
    UnknownPlaceholder {
        placeholder: String,
        template: String,
    },
    /// A `{date:FMT}` whose FMT is not a strftime format for a date.
    #[error("bad date format `{format}` in {template:?}: {reason}")]
    BadFormat {
        format: String,
        template: String,
        reason: &'static str,
    },
}

impl Report for TemplateError {
    fn exit(&self) -> Exit {
        Exit::Config
    }
    fn hint(&self) -> Option<String> {
        Some("use {date:%Y%m%d} (strftime date fields) or {weekday} (1..7, Mon=1); write {{ and }} for literal braces".into())
    }
}

/// Expand `{date:FMT}` (strftime, date fields only), `{date}` (`%Y-%m-%d`) and `{weekday}`
/// (1..7, Monday = 1) in a URL or selector. `{{` and `}}` are literal braces.
pub fn expand(template: &str, date: NaiveDate) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if rest[at..].starts_with('}') {
            out.push('}');
            rest = after.strip_prefix('}').unwrap_or(after);
            continue;
        }
        if let Some(after) = after.strip_prefix('{') {
            out.push('{');
            rest = after;
            continue;
        }
        let Some(close) = after.find('}') else {
            return Err(TemplateError::Unclosed {
                template: template.to_string(),
            });
        };
        let inner = &after[..close];
        match inner.trim() {
            "weekday" => {
                let _ = write!(out, "{}", date.weekday().number_from_monday());
            }
            "date" => {
                let _ = write!(out, "{}", date.format("%Y-%m-%d"));
            }
            other => match other.strip_prefix("date:") {
                Some(format) => format_date(&mut out, date, format, template)?,
                None => {
                    return Err(TemplateError::UnknownPlaceholder {
                        placeholder: inner.to_string(),
                        template: template.to_string(),
                    });
                }
            },
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn format_date(
    out: &mut String,
    date: NaiveDate,
    format: &str,
    template: &str,
) -> Result<(), TemplateError> {
    let bad = |reason| TemplateError::BadFormat {
        format: format.to_string(),
        template: template.to_string(),
        reason,
    };
    if format.is_empty() {
        return Err(bad("the format is empty"));
    }
    let items = StrftimeItems::new(format)
        .parse()
        .map_err(|_| bad("not a strftime format"))?;
    // Formatting a date with a time field (%H) fails instead of panicking through to_string.
    write!(out, "{}", date.format_with_items(items.iter()))
        .map_err(|_| bad("a date has no time or zone fields"))
}

/// Validate a selector from the config: expand its placeholders for a sample Monday and
/// parse it as CSS. `Err` carries the template's or scraper's message.
pub fn check_selector(selector: &str) -> Result<(), String> {
    let sample = NaiveDate::from_ymd_opt(2024, 1, 1).ok_or("no sample date")?;
    let expanded = expand(selector, sample).map_err(|e| e.to_string())?;
    Selector::parse(&expanded)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Read a decoded page for `date` and `meal`. Pure.
pub fn parse(html: &str, rule: &Rule, date: NaiveDate, meal: Meal) -> Parsed {
    let doc = Html::parse_document(html);
    match &rule.mode {
        Mode::Table { selector } => parse_tables(&doc, selector, rule, date, meal),
        Mode::Css { selectors } => parse_css(&doc, selectors, rule, date, meal),
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

/// Retry settings for fetching pages: DESIGN asks for two retries with backoff on 5xx and
/// network errors; tests shrink the delays to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub times: usize,
    /// The first delay; later ones grow exponentially, jittered.
    pub min_delay: Duration,
    /// The cap on one delay.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            times: 2,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Why a page could not be fetched. Messages name the URL or path, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The expanded URL does not parse.
    #[error("invalid page URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// Neither http(s) nor file.
    #[error("unsupported scheme in {url}: use http://, https:// or file://")]
    Scheme { url: String },
    /// The server answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    /// No answer: connection refused, timeout, TLS, a body cut short…
    #[error("cannot fetch {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A `file://` page that cannot be read.
    #[error("cannot read {path}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A body past the size cap.
    #[error("{url} is larger than {} MiB", MAX_PAGE_BYTES >> 20)]
    TooLarge { url: String },
    /// The URL template does not expand.
    #[error("bad source url: {0}")]
    Template(#[from] TemplateError),
}

impl FetchError {
    /// Whether trying again may help: HTTP 5xx and network trouble, not 4xx or bad URLs.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => status.is_server_error(),
            FetchError::Network { source, .. } => !source.is_builder() && !source.is_redirect(),
            _ => false,
        }
    }

    /// The message with its causes, for a report's `detail`.
    pub fn detail(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            let more = err.to_string();
            if !more.is_empty() && !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = err.source();
        }
        text
    }
}

impl Report for FetchError {
    fn exit(&self) -> Exit {
        match self {
            FetchError::Url { .. } | FetchError::Scheme { .. } | FetchError::Template(_) => {
                Exit::Config
            }
            _ => Exit::Delivery,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            FetchError::Url { .. } | FetchError::Scheme { .. } | FetchError::Template(_) => {
                "fix `url` in this [[source]] of config.toml, then run `kbot config check`".into()
            }
            FetchError::File { .. } => "check the path in the source's `url = \"file://…\"`".into(),
            _ => "open the URL in a browser; `kbot scrape --explain` retries and shows what kbot sees".into(),
        })
    }
}

/// A fetched page: its bytes and the `Content-Type` header (none for `file://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The body, undecoded.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

/// Fetch an expanded URL: http(s) with `retry`, or a `file://` path.
pub async fn fetch(client: &reqwest::Client, url: &str, retry: &Retry) -> Result<Page, FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "file" => {
            let path = parsed.to_file_path().map_err(|()| FetchError::Url {
                url: url.to_string(),
                reason: "not a local file path".into(),
            })?;
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|source| FetchError::File { path, source })?;
            Ok(Page {
                bytes,
                content_type: None,
            })
        }
        "http" | "https" => {
            let once = || get(client, &parsed, url);
            let backoff = ExponentialBuilder::default()
                .with_min_delay(retry.min_delay)
                .with_max_delay(retry.max_delay)
                .with_max_times(retry.times)
                .with_jitter();
            once.retry(backoff)
                .sleep(tokio::time::sleep)
                .when(FetchError::is_retryable)
                .notify(|err, delay| tracing::warn!("{}; retrying in {delay:?}", err.detail()))
                .await
        }
        _ => Err(FetchError::Scheme {
            url: url.to_string(),
        }),
    }
}

async fn get(client: &reqwest::Client, parsed: &url::Url, url: &str) -> Result<Page, FetchError> {
    let network = |source: reqwest::Error| FetchError::Network {
        url: url.to_string(),
        source: source.without_url(),
    };
    let mut response = client.get(parsed.clone()).send().await.map_err(network)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Page {
        bytes,
        content_type,
    })
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
    let parsed = parse(&html, &source.rule, date, meal);
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
    fn date_and_weekday_placeholders_expand_in_urls_and_selectors() {
        let date = d(2023, 4, 12);
        assert_eq!(
            expand("https://x.kr/menu?d={date:%Y%m%d}&w={weekday}", date).as_deref(),
            Ok("https://x.kr/menu?d=20230412&w=3")
        );
        assert_eq!(
            expand("td:nth-child({weekday})", d(2023, 4, 16)).as_deref(),
            Ok("td:nth-child(7)")
        );
        assert_eq!(
            expand("{date}/{{raw}}", date).as_deref(),
            Ok("2023-04-12/{raw}")
        );
    }

    #[test]
    fn bad_placeholders_are_errors_that_name_them() {
        let date = d(2023, 4, 12);
        let unknown = expand("x?{day}", date).expect_err("unknown placeholder");
        assert!(unknown.to_string().contains("`{day}`"), "{unknown}");
        let time = expand("{date:%H}", date).expect_err("a date has no hour");
        assert!(time.to_string().contains("`%H`"), "{time}");
        let bad = expand("{date:%Q}", date).expect_err("not strftime");
        assert!(bad.to_string().contains("`%Q`"), "{bad}");
        assert!(matches!(
            expand("{date:%Y", date),
            Err(TemplateError::Unclosed { .. })
        ));
        assert_eq!(unknown.exit(), Exit::Config);
    }

    #[test]
    fn check_selector_accepts_templates_and_reports_scrapers_message() {
        assert_eq!(
            check_selector("table.menu tr:nth-child(2) td:nth-child({weekday})"),
            Ok(())
        );
        let err = check_selector("table..menu").expect_err("invalid css");
        assert!(!err.is_empty());
        assert!(check_selector("td:nth-child({wday})").is_err());
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
