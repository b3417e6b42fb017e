//! `kind = "json"` sources: a JSON endpoint read with a jq filter (the jaq engine).
//!
//! The request: `url`, `headers` and `body`/`form` values are templates (`{date:FMT}`,
//! `{week_start:FMT}`, `{weekday}`); `method` GET or POST; secret values (`secret_query`,
//! `secret_headers`) are read from the environment at request time and shown as `***` in
//! everything kbot prints ([`build`], [`Redactor`]). The answer: decoded like pages
//! (charset), a JSONP wrapper stripped, then the filter runs with `$date`, `$meal`, `$weekday`
//! bound. Its output maps to an [`Outcome`]: an object of `"<restaurant> > <corner>": [dishes]`
//! or a list of dishes is a menu (each dish read like a table cell: entities decoded, `<br>`
//! splits, `exclude` and closure words applied); `{}`/`[]` is nothing for that meal; `null`
//! is `wrong_date`; `error("…")` is a per-source problem carrying the filter's message.
//!
//! The jq engine itself (jaq) is `filter`. Pure except [`scrape`] (network, environment);
//! no secret value is ever logged.

use std::fmt::Write as _;

mod filter;
mod sandbox;

use chrono::NaiveDate;
use scraper::Html;
use serde_json::Value;

use super::fetch::{FetchError, Page, Retry, read_body};
use super::{
    Explain, Group, MAX_DISH_CHARS, MAX_MENU_LINES, Outcome, Rule, Source, SourceReport, dom,
    expand, labels,
};
use crate::Meal;

pub use filter::{FilterError, Output, RunError, check_filter, run_filter, strip_jsonp};
pub use sandbox::serve as serve_filter;

/// Largest answer kbot reads (same cap as pages).
const MAX_BODY_BYTES: usize = 8 << 20;
/// How much of the filter's output `--explain` shows.
const MAX_EXPLAINED_OUTPUT: usize = 1500;
/// How long reading an answer may take, from decoding it to the dish lines (the filter
/// included: `last(repeat(1))` never ends) before kbot gives up on it.
pub const READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest string kbot reads as a dish (before `<br>` splits it), in bytes.
const MAX_DISH_TEXT_BYTES: usize = 16 << 10;
/// What a secret looks like in anything kbot prints.
pub const REDACTED: &str = "***";

/// How a `kind = "json"` source asks for its answer and reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonSpec {
    /// GET or POST.
    pub method: Method,
    /// Extra request headers (`name`, value template), in config order.
    pub headers: Vec<(String, String)>,
    /// A form or raw body (allowed on GET too).
    pub body: Option<Body>,
    /// Query parameters whose value is a secret: (`parameter`, environment variable).
    pub secret_query: Vec<(String, String)>,
    /// Headers whose value is a secret: (`header`, environment variable).
    pub secret_headers: Vec<(String, String)>,
    /// The jq filter, as written.
    pub filter: String,
}

/// The request method of a json source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `application/x-www-form-urlencoded` fields (name, value template).
    Form(Vec<(String, String)>),
    /// A raw body template, sent as written (e.g. JSON; set `Content-Type` in `headers`).
    Raw(String),
}

// ─── The answer → outcome ───────────────────────────────────────────────────────────────

/// What the filter's outputs mean for the run, with the detail and a note for `--explain`.
/// Held to the plausibility caps of tables ([`MAX_MENU_LINES`] lines, [`MAX_DISH_CHARS`]
/// characters a dish): more is a problem of the source, never a menu. Linear in the
/// outputs' size, and stops reading at the first line past a cap.
pub fn read_outputs(
    outputs: &[Output],
    rule: &Rule,
    date: NaiveDate,
    meal: Meal,
) -> (Outcome, Option<String>) {
    if outputs.is_empty() || outputs.iter().all(|o| o.value.is_null()) {
        return (
            Outcome::WrongDate,
            Some(format!(
                "the filter returned null: the answer does not cover {date}"
            )),
        );
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut closed: Vec<(String, String)> = Vec::new();
    let mut lines_read = 0usize;
    for Output {
        value: output,
        keys,
        ..
    } in outputs
    {
        let pairs: Vec<(String, &Value)> = match output {
            Value::Null => continue,
            Value::Object(map) => keys
                .iter()
                .filter_map(|k| Some((crate::terminal::inert(k), map.get(k)?)))
                .collect(),
            Value::Array(_) | Value::String(_) => vec![(String::new(), output)],
            other => {
                return (
                    Outcome::NotFound,
                    Some(format!(
                        "the filter returned {other}: expected {{\"<restaurant> > <corner>\": [dishes]}}, a list of dishes, {{}} or null"
                    )),
                );
            }
        };
        for (label, value) in pairs {
            let lines = match dish_lines(value, rule, MAX_MENU_LINES + 1 - lines_read) {
                Ok(lines) => lines,
                Err(why) => return (Outcome::NotFound, Some(why)),
            };
            lines_read += lines.len();
            if lines_read > MAX_MENU_LINES {
                return (
                    Outcome::NotFound,
                    Some(format!(
                        "the filter gave more than {MAX_MENU_LINES} dish lines, more than any real menu: not sent; check the source's filter"
                    )),
                );
            }
            if let Some(long) = lines.iter().find(|l| l.chars().count() > MAX_DISH_CHARS) {
                return (
                    Outcome::NotFound,
                    Some(format!(
                        "a \"dish\" of {} characters is longer than a message (limit {MAX_DISH_CHARS}): not sent; check the source's filter",
                        long.chars().count()
                    )),
                );
            }
            if lines.is_empty() {
                continue;
            }
            let text = lines.join(" ");
            if labels::is_closed(&text, &rule.closed_markers) {
                closed.push((label, text));
            } else if let Some(group) = groups.iter_mut().find(|g| g.label == label) {
                group.dishes.extend(lines);
            } else {
                groups.push(Group {
                    label,
                    dishes: lines,
                });
            }
        }
    }
    let closed_detail = (!closed.is_empty()).then(|| {
        let corners: Vec<String> = closed
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
    if !groups.is_empty() {
        return (Outcome::Menu(groups), closed_detail);
    }
    if !closed.is_empty() {
        let mut notices: Vec<&str> = Vec::new();
        for (_, notice) in &closed {
            if !notices.contains(&notice.as_str()) {
                notices.push(notice);
            }
        }
        return (
            Outcome::Closed {
                notice: notices.join(" / "),
            },
            closed_detail,
        );
    }
    nothing_for_the_meal(date, meal)
}

/// `{}` / `[]`: the answer covers the date but has nothing for this meal (closed, or a meal
/// the place does not serve). DESIGN §8's "no such meal" outcome is not in this tree yet, so
/// this is `closed` with the notice `식단 없음`; when `no_meal` lands, it belongs here.
fn nothing_for_the_meal(date: NaiveDate, meal: Meal) -> (Outcome, Option<String>) {
    (
        Outcome::Closed {
            notice: "식단 없음".into(),
        },
        Some(format!(
            "no {meal} on {date}: the filter returned nothing for it (closed, or no such meal)"
        )),
    )
}

/// The lines of one group's value: a list of dishes or one string, each read like a table
/// cell (entities decoded, `<br>` and block tags split, whitespace collapsed), `exclude`d.
/// Stops once it has more than `most` lines (the caller refuses them).
fn dish_lines(value: &Value, rule: &Rule, most: usize) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut lines = Vec::new();
    for item in items {
        if lines.len() > most {
            break;
        }
        let text = match item {
            Value::String(s) if s.len() > MAX_DISH_TEXT_BYTES => {
                return Err(format!(
                    "the filter returned a dish of {} bytes, longer than any menu (limit {MAX_DISH_CHARS} characters): not sent; check the source's filter",
                    s.len()
                ));
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            other => {
                return Err(format!(
                    "the filter returned a dish that is not a string: {other}"
                ));
            }
        };
        lines.extend(
            cell_lines(&text)
                .into_iter()
                .filter(|line| !rule.exclude.iter().any(|re| re.is_match(line))),
        );
    }
    Ok(lines)
}

/// A string as a table cell reads: entities decoded, split at `<br>`/blocks, trimmed.
fn cell_lines(text: &str) -> Vec<String> {
    if !text.contains(['<', '&']) {
        return dom::normalize(text).into_iter().collect();
    }
    let fragment = Html::parse_fragment(text);
    dom::lines(fragment.root_element(), dom::MAX_NODES_PER_CELL)
}

// ─── The request ────────────────────────────────────────────────────────────────────────

/// A request ready to send, or to show (secrets as `***`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// GET or POST.
    pub method: Method,
    /// The URL with placeholders expanded (and secret query parameters added).
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<RequestBody>,
}

/// An expanded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// Form fields.
    Form(Vec<(String, String)>),
    /// Raw text.
    Raw(String),
}

impl Request {
    /// The request as `--explain` shows it.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.method.as_str(), self.url);
        for (name, value) in &self.headers {
            let _ = write!(text, "\n  {name}: {value}");
        }
        match &self.body {
            Some(RequestBody::Form(fields)) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                let _ = write!(text, "\n  form body: {encoded}");
            }
            Some(RequestBody::Raw(raw)) => {
                let _ = write!(text, "\n  body: {raw}");
            }
            None => {}
        }
        text
    }
}

/// Build the request for `date` twice: the one to send (secrets filled in by `secret`, an
/// environment lookup in production) and the one to show (secrets `***`). Pure.
pub fn build(
    url: &str,
    spec: &JsonSpec,
    date: NaiveDate,
    secret: impl Fn(&str) -> Option<String>,
) -> Result<(Request, Request), String> {
    let expanded = expand(url, date).map_err(|e| format!("url: {e}"))?;
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        let value = expand(value, date).map_err(|e| format!("headers.{name}: {e}"))?;
        headers.push((name.clone(), value));
    }
    let body = match &spec.body {
        None => None,
        Some(Body::Raw(raw)) => Some(RequestBody::Raw(
            expand_body(raw, date).map_err(|e| format!("body: {e}"))?,
        )),
        Some(Body::Form(fields)) => {
            let mut out = Vec::new();
            for (name, value) in fields {
                let value = expand(value, date).map_err(|e| format!("form.{name}: {e}"))?;
                out.push((name.clone(), value));
            }
            Some(RequestBody::Form(out))
        }
    };
    let shown_base = Request {
        method: spec.method,
        url: expanded.clone(),
        headers: headers.clone(),
        body: body.clone(),
    };
    let mut real = shown_base.clone();
    let mut shown = shown_base;
    let lookup = |var: &str| {
        secret(var).filter(|v| !v.is_empty()).ok_or_else(|| {
            format!("the secret environment variable {var} is not set (hint: export {var}=… before running kbot)")
        })
    };
    if !spec.secret_query.is_empty() {
        let mut real_url = url::Url::parse(&real.url).map_err(|e| format!("url: {e}"))?;
        let mut shown_url = real_url.clone();
        for (param, var) in &spec.secret_query {
            let value = lookup(var)?;
            real_url.query_pairs_mut().append_pair(param, &value);
            shown_url.query_pairs_mut().append_pair(param, REDACTED);
        }
        real.url = real_url.to_string();
        // Keep the `***` readable rather than percent-encoded.
        shown.url = shown_url.to_string().replace("%2A%2A%2A", REDACTED);
    }
    for (name, var) in &spec.secret_headers {
        let value = lookup(var)?;
        real.headers.push((name.clone(), value));
        shown.headers.push((name.clone(), REDACTED.into()));
    }
    Ok((real, shown))
}

static PLACEHOLDER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\{(?:date|week_start)(?::[^{}]*)?\}|\{weekday\}").expect("static regex")
});

/// A raw body's placeholders expanded; every other brace is literal, so a JSON body needs no
/// `{{`/`}}` (`{"date": "{date}"}`). Pure.
pub fn expand_body(raw: &str, date: NaiveDate) -> Result<String, super::TemplateError> {
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    for found in PLACEHOLDER.find_iter(raw) {
        out.push_str(&raw[last..found.start()]);
        out.push_str(&expand(found.as_str(), date)?);
        last = found.end();
    }
    out.push_str(&raw[last..]);
    Ok(out)
}

/// Replaces secret values in any text kbot prints about a source.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// The secret values of `spec`, as the environment lookup gives them.
    pub fn new(spec: &JsonSpec, secret: impl Fn(&str) -> Option<String>) -> Redactor {
        let secrets = spec
            .secret_query
            .iter()
            .chain(&spec.secret_headers)
            .filter_map(|(_, var)| secret(var))
            .filter(|v| v.len() >= 3)
            .flat_map(|v| {
                let encoded: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                [v, encoded]
            })
            .collect();
        Redactor { secrets }
    }

    /// `text` with every secret value replaced by `***`.
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

// ─── The I/O shell ──────────────────────────────────────────────────────────────────────

/// Fetch, decode and read one json source for (date, meal). Never fails: problems are
/// outcomes with a detail; no secret reaches the report, the logs or an error.
pub async fn scrape(
    client: &reqwest::Client,
    source: &Source,
    spec: &JsonSpec,
    date: NaiveDate,
    meal: Meal,
    retry: &Retry,
) -> SourceReport {
    let env = |var: &str| std::env::var(var).ok();
    let redactor = Redactor::new(spec, env);
    let mut explain = Explain {
        search: format!("json source: jq filter for {date}, {meal}"),
        ..Explain::default()
    };
    let report =
        |url: String, outcome, detail: Option<String>, explain: Option<Explain>| SourceReport {
            name: source.name.clone(),
            url: redactor.clean(&url),
            outcome,
            detail: detail.map(|d| redactor.clean(&d)),
            explain,
        };
    let (real, shown) = match build(&source.url, spec, date, env) {
        Ok(pair) => pair,
        Err(why) => return report(source.url.clone(), Outcome::FetchFailed, Some(why), None),
    };
    explain.notes.push(format!("request: {}", shown.describe()));
    let (page, status) = match send(client, &real, &shown.url, retry).await {
        Ok(answer) => answer,
        Err(err) => {
            explain.notes.push(format!("answer: {}", err.detail()));
            return report(
                shown.url,
                Outcome::FetchFailed,
                Some(err.detail()),
                Some(explain),
            );
        }
    };
    tracing::debug!(source = %source.name, url = %shown.url, bytes = page.bytes.len(), "fetched json");
    let status = status.map_or("read from file".to_string(), |s| format!("HTTP {s}"));
    let (outcome, detail, notes) = read_answer(page, status, spec, &source.rule, date, meal).await;
    explain.notes.extend(notes);
    let explain = Explain {
        search: redactor.clean(&explain.search),
        tables: Vec::new(),
        notes: explain.notes.iter().map(|n| redactor.clean(n)).collect(),
    };
    report(shown.url, outcome, detail, Some(explain))
}

/// Decode the answer, run the filter (in its child process) and read its outputs, all
/// within [`READ_DEADLINE`] and off the async runtime: (outcome, detail, notes for
/// `--explain`). Text the filter or the answer wrote is made inert for a terminal.
async fn read_answer(
    page: Page,
    status: String,
    spec: &JsonSpec,
    rule: &Rule,
    date: NaiveDate,
    meal: Meal,
) -> (Outcome, Option<String>, Vec<String>) {
    let deadline = tokio::time::Instant::now() + READ_DEADLINE;
    let too_slow = || {
        let why = format!(
            "reading the answer took longer than {} s: not sent",
            READ_DEADLINE.as_secs()
        );
        (Outcome::NotFound, Some(why.clone()), vec![why])
    };
    let encoding = rule.encoding;
    let decoded = off_thread(deadline, move || {
        let (text, used) = super::decode(&page.bytes, page.content_type.as_deref(), encoding);
        let mut notes = vec![format!(
            "answer: {status}, {} bytes (Content-Type: {}), decoded as {}",
            page.bytes.len(),
            crate::terminal::inert(page.content_type.as_deref().unwrap_or("none")),
            used.name()
        )];
        let json = strip_jsonp(&text);
        if json.len() != text.trim().len() {
            notes.push("stripped a JSONP wrapper".into());
        }
        (json.to_string(), notes)
    });
    let Some((json, mut notes)) = decoded.await else {
        return too_slow();
    };
    let outputs = sandbox::run(&spec.filter, &json, date, meal, deadline).await;
    drop(json);
    let outputs = match outputs {
        Ok(outputs) => outputs,
        Err(err) => {
            let why = crate::terminal::inert(&err.to_string());
            notes.push(format!("filter: {why}"));
            return (Outcome::NotFound, Some(why), notes);
        }
    };
    let rule = rule.clone();
    let read = off_thread(deadline, move || {
        let mut shown = String::new();
        for output in &outputs {
            if shown.len() > MAX_EXPLAINED_OUTPUT {
                break;
            }
            if !shown.is_empty() {
                shown.push_str(" · ");
            }
            shown.push_str(&output.text);
        }
        if shown.is_empty() {
            shown = "(no output)".into();
        }
        if shown.len() > MAX_EXPLAINED_OUTPUT {
            let cut = (0..=MAX_EXPLAINED_OUTPUT)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push('…');
        }
        let note = format!("filter output: {}", crate::terminal::inert(&shown));
        let (outcome, detail) = read_outputs(&outputs, &rule, date, meal);
        (outcome, detail.map(|d| crate::terminal::inert(&d)), note)
    });
    let Some((outcome, detail, note)) = read.await else {
        return too_slow();
    };
    notes.push(note);
    (outcome, detail, notes)
}

/// `work` on a thread of its own, or `None` when it is not done by `deadline`. The thread
/// is detached: the work given to it is bounded (linear, capped), so it ends soon after.
async fn off_thread<T: Send + 'static>(
    deadline: tokio::time::Instant,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kbot-json".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .ok()?;
    tokio::time::timeout_at(deadline, rx).await.ok()?.ok()
}

/// Send a built request with `retry` (5xx and network errors); `file://` URLs are read.
/// Errors name `shown_url`, never the real one.
async fn send(
    client: &reqwest::Client,
    request: &Request,
    shown_url: &str,
    retry: &Retry,
) -> Result<(Page, Option<reqwest::StatusCode>), FetchError> {
    if request.url.starts_with("file:") {
        return Ok((super::fetch(client, &request.url, retry).await?, None));
    }
    let parsed = url::Url::parse(&request.url).map_err(|e| FetchError::Url {
        url: shown_url.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::Scheme {
            url: shown_url.to_string(),
        });
    }
    super::fetch::retrying(retry, || send_once(client, request, &parsed, shown_url)).await
}

async fn send_once(
    client: &reqwest::Client,
    request: &Request,
    parsed: &url::Url,
    shown_url: &str,
) -> Result<(Page, Option<reqwest::StatusCode>), FetchError> {
    let network = |source: reqwest::Error| super::reach::network(shown_url, source);
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
    };
    let mut builder = client.request(method, parsed.clone());
    let mut has_type = false;
    for (name, value) in &request.headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        builder = builder.header(name.as_str(), value.as_str());
    }
    match &request.body {
        Some(RequestBody::Form(fields)) => {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            if !has_type {
                builder = builder.header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
            }
            builder = builder.body(encoded);
        }
        Some(RequestBody::Raw(raw)) => builder = builder.body(raw.clone()),
        None => {}
    }
    let response = builder.send().await.map_err(network)?;
    let status = response.status();
    let page = read_body(response, shown_url, MAX_BODY_BYTES).await?;
    Ok((page, Some(status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    /// An output as the engine would give it (keys in serde's order).
    fn out(value: Value) -> Output {
        Output {
            keys: value
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            text: value.to_string(),
            value,
        }
    }

    fn values(result: Result<Vec<Output>, RunError>) -> Result<Vec<Value>, RunError> {
        result.map(|outs| outs.into_iter().map(|o| o.value).collect())
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/json/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// What the truth file says the filter prints for (date, meal).
    fn expected(truth: &Value, date: NaiveDate, meal: Meal) -> Value {
        let key = date.to_string();
        let covered = match &truth["covered_dates"] {
            Value::Array(dates) => dates.iter().any(|v| v == key.as_str()),
            _ => true,
        };
        if !covered {
            return Value::Null;
        }
        truth["days"][&key][meal.as_str()]
            .as_object()
            .map_or_else(|| serde_json::json!({}), |m| Value::Object(m.clone()))
    }

    /// The one change a truth filter needs for jaq: jaq divides integers into a float and
    /// interpolates `3.0` as "3.0" where jq prints "3", so Hanbat's `"menu\($i + 1)"` looked
    /// up `menu3.0`. Flooring the day offset fixes it; every other filter runs as written.
    fn jaq_ready(filter: &str) -> String {
        filter.replace("/ 86400) as $i", "/ 86400 | floor) as $i")
    }

    #[test]
    fn the_truth_files_filters_print_the_truth_around_their_data_with_one_jaq_fix() {
        for name in [
            "neis-daechi-elem-2026-06",
            "neis-nodata",
            "postech-menus-2026-06-03",
            "hanbat-c1-getcalendar-2025-11-24",
        ] {
            let truth: Value =
                serde_json::from_str(&fixture(&format!("{name}.truth.json"))).expect("truth");
            let body = fixture(&format!("{name}.json.body"));
            let filter = jaq_ready(truth["jq_example"]["filter"].as_str().expect("filter"));
            let filter = filter.as_str();
            let covered = truth["covered_dates"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut dates: Vec<NaiveDate> = truth["days"]
                .as_object()
                .expect("days")
                .keys()
                .filter_map(|k| k.parse().ok())
                .chain(covered.iter().filter_map(|v| v.as_str()?.parse().ok()))
                .collect();
            if dates.is_empty() {
                dates.push(d(2026, 6, 1));
            }
            let (first, last) = (
                *dates.iter().min().expect("a date"),
                *dates.iter().max().expect("a date"),
            );
            let mut day = first - chrono::Days::new(3);
            while day <= last + chrono::Days::new(3) {
                for meal in Meal::ALL {
                    let out = values(run_filter(filter, &body, day, meal))
                        .unwrap_or_else(|e| panic!("{name} {day} {meal}: {e}"));
                    assert_eq!(
                        out,
                        vec![expected(&truth, day, meal)],
                        "{name} {day} {meal}"
                    );
                }
                day = day + chrono::Days::new(1);
            }
        }
    }

    fn rule() -> Rule {
        let mut rule = Rule::table("table");
        rule.exclude = vec![regex::Regex::new("^[A-Za-z ]+$").expect("regex")];
        rule
    }

    #[test]
    fn an_object_is_a_menu_by_corner_with_dishes_read_like_table_cells() {
        let outputs = [out(serde_json::json!({
            "C1": ["백미밥&amp;김", "국<br/>김치 (9)", "  ", "Rice"],
            "STAFF": ["휴무"],
        }))];
        let (outcome, detail) = read_outputs(&outputs, &rule(), d(2025, 11, 24), Meal::Lunch);
        assert_eq!(
            outcome,
            Outcome::Menu(vec![Group {
                label: "C1".into(),
                dishes: vec!["백미밥&김".into(), "국".into(), "김치 (9)".into()],
            }])
        );
        assert_eq!(detail.as_deref(), Some("closed: STAFF (휴무)"));
        let list = read_outputs(
            &[out(serde_json::json!(["가", "나"]))],
            &rule(),
            d(2025, 11, 24),
            Meal::Lunch,
        );
        assert!(
            matches!(list.0, Outcome::Menu(ref g) if g[0].label.is_empty() && g[0].dishes.len() == 2)
        );
    }

    #[test]
    fn a_json_menu_is_held_to_the_table_caps_and_read_in_linear_time() {
        let date = d(2026, 6, 3);
        let many: Vec<String> = (0..20_000).map(|i| format!("김치찌개 {i}")).collect();
        let started = std::time::Instant::now();
        let (outcome, why) = read_outputs(
            &[out(serde_json::json!({ "C1": many }))],
            &rule(),
            date,
            Meal::Lunch,
        );
        assert_eq!(outcome, Outcome::NotFound);
        assert!(why.is_some_and(|w| w.contains("more than 200 dish lines")));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "stops at the cap: {:?}",
            started.elapsed()
        );
        let just: Vec<String> = (0..MAX_MENU_LINES).map(|i| format!("반찬 {i}")).collect();
        let (outcome, _) = read_outputs(
            &[out(serde_json::json!({ "C1": just }))],
            &rule(),
            date,
            Meal::Lunch,
        );
        assert!(matches!(outcome, Outcome::Menu(ref g) if g[0].dishes.len() == MAX_MENU_LINES));
        let (outcome, why) = read_outputs(
            &[out(serde_json::json!(["가".repeat(240)]))],
            &rule(),
            date,
            Meal::Lunch,
        );
        assert_eq!(outcome, Outcome::NotFound);
        assert!(why.is_some_and(|w| w.contains("a \"dish\" of 240 characters")));
        let (outcome, why) = read_outputs(
            &[out(serde_json::json!(["x".repeat(100_000)]))],
            &rule(),
            date,
            Meal::Lunch,
        );
        assert_eq!(outcome, Outcome::NotFound);
        assert!(why.is_some_and(|w| w.contains("100000 bytes")));
    }

    #[test]
    fn a_corner_label_from_the_answer_cannot_forge_a_line() {
        let (outcome, _) = read_outputs(
            &[out(
                serde_json::json!({ "C1\nkbot: error: \u{1b}[31mrun this": ["밥"] }),
            )],
            &rule(),
            d(2026, 6, 3),
            Meal::Lunch,
        );
        assert!(
            matches!(outcome, Outcome::Menu(ref g) if g[0].label == "C1 kbot: error: run this"),
            "{outcome:?}"
        );
    }

    #[test]
    fn null_is_wrong_date_and_an_empty_answer_is_nothing_for_that_meal() {
        let date = d(2026, 6, 1);
        let (wrong, why) = read_outputs(&[out(Value::Null)], &rule(), date, Meal::Lunch);
        assert_eq!(wrong, Outcome::WrongDate);
        assert!(why.is_some_and(|w| w.contains("does not cover 2026-06-01")));
        for empty in [serde_json::json!({}), serde_json::json!([])] {
            let (outcome, why) = read_outputs(&[out(empty)], &rule(), date, Meal::Breakfast);
            assert!(matches!(outcome, Outcome::Closed { .. }), "{outcome:?}");
            assert!(why.is_some_and(|w| w.contains("no breakfast on 2026-06-01")));
        }
        let closed = read_outputs(
            &[out(serde_json::json!({"C1": ["미운영"]}))],
            &rule(),
            date,
            Meal::Dinner,
        );
        assert_eq!(
            closed.0,
            Outcome::Closed {
                notice: "미운영".into()
            }
        );
    }

    #[test]
    fn secrets_reach_the_request_and_are_stars_in_what_is_shown() {
        let spec = JsonSpec {
            method: Method::Post,
            headers: vec![("Accept".into(), "application/json".into())],
            body: Some(Body::Form(vec![(
                "bgnde".into(),
                "{week_start:%Y-%m-%d}".into(),
            )])),
            secret_query: vec![("KEY".into(), "NEIS_KEY".into())],
            secret_headers: vec![("X-Api-Key".into(), "CK_KEY".into())],
            filter: ".".into(),
        };
        let env = |var: &str| Some(format!("s3cr3t-{var}"));
        let (real, shown) = build(
            "https://x.kr/m?d={date:%Y%m%d}",
            &spec,
            d(2025, 11, 26),
            env,
        )
        .expect("builds");
        assert_eq!(real.url, "https://x.kr/m?d=20251126&KEY=s3cr3t-NEIS_KEY");
        assert_eq!(shown.url, "https://x.kr/m?d=20251126&KEY=***");
        assert!(
            real.headers
                .contains(&("X-Api-Key".into(), "s3cr3t-CK_KEY".into()))
        );
        assert_eq!(
            real.body,
            Some(RequestBody::Form(vec![(
                "bgnde".into(),
                "2025-11-24".into()
            )]))
        );
        let described = shown.describe();
        assert!(!described.contains("s3cr3t"), "{described}");
        assert!(described.contains("X-Api-Key: ***"), "{described}");
        assert!(
            described.contains("form body: bgnde=2025-11-24"),
            "{described}"
        );
        let redactor = Redactor::new(&spec, env);
        assert_eq!(redactor.clean("key s3cr3t-CK_KEY here"), "key *** here");
        let unset = build("https://x.kr/m", &spec, d(2025, 11, 26), |_| None).expect_err("unset");
        assert!(unset.contains("NEIS_KEY is not set"), "{unset}");
    }

    #[test]
    fn a_json_body_keeps_its_braces_and_fills_its_placeholders() {
        assert_eq!(
            expand_body(
                r#"{"from": "{week_start:%Y%m%d}", "day": {weekday}, "d": "{date}"}"#,
                d(2025, 11, 26)
            )
            .as_deref(),
            Ok(r#"{"from": "20251124", "day": 3, "d": "2025-11-26"}"#)
        );
        assert!(expand_body("{date:%H}", d(2025, 11, 26)).is_err());
    }
}
