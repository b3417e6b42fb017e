//! Reading the parsed page: the visual lines of an element, the tables a selector reaches,
//! the rows of a table, and what stands before each table (its nearest heading and the week
//! the page states for it).
//!
//! Pure: works on a parsed `scraper::Html`, no I/O. Meaning of the text is `labels`' job;
//! the rowspan/colspan grid is `grid`'s.

use chrono::NaiveDate;
use scraper::{ElementRef, Html, Selector};

use super::labels::{self, Stated};

/// Elements that start and end a visual line (a `<p>` per dish, `<div>`s in labels).
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content is never page text.
const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "head", "title"];

/// Longest text taken as a heading: anything longer is prose, not a restaurant name.
const MAX_HEADING_CHARS: usize = 60;

fn is_block(name: &str) -> bool {
    BLOCKS.contains(&name)
}

fn is_hidden(name: &str) -> bool {
    HIDDEN.contains(&name)
}

/// One step of a document-order walk.
pub(super) enum Visit<'a> {
    Open(ElementRef<'a>),
    Close(ElementRef<'a>),
    Text(&'a str),
}

/// Walk `root` and everything under it in document order without recursion (pages can nest
/// deeply). `visit` returns, for `Open`, whether to go into that element.
pub(super) fn walk<'a>(root: ElementRef<'a>, mut visit: impl FnMut(Visit<'a>) -> bool) {
    // Entering a node: an element is opened (and maybe descended into); text is reported.
    macro_rules! enter {
        ($node:expr) => {
            match ElementRef::wrap($node) {
                Some(element) => visit(Visit::Open(element)),
                None => {
                    if let Some(text) = $node.value().as_text() {
                        visit(Visit::Text(&**text));
                    }
                    false
                }
            }
        };
    }
    let top = *root;
    let mut node = top;
    let mut descend = visit(Visit::Open(root));
    loop {
        if descend && let Some(child) = node.first_child() {
            node = child;
            descend = enter!(node);
            continue;
        }
        loop {
            if let Some(element) = ElementRef::wrap(node) {
                visit(Visit::Close(element));
            }
            if node == top {
                return;
            }
            if let Some(sibling) = node.next_sibling() {
                node = sibling;
                descend = enter!(node);
                break;
            }
            match node.parent() {
                Some(parent) => node = parent,
                None => return,
            }
        }
    }
}

/// Collapse whitespace (NBSP and other Unicode spaces included), drop zero-width characters,
/// trim. `None` for a line with nothing left.
pub(super) fn normalize(raw: &str) -> Option<String> {
    let cleaned;
    let raw = if raw.contains(crate::terminal::is_unsafe) {
        cleaned = crate::terminal::strip_controls(raw);
        cleaned.as_str()
    } else {
        raw
    };
    let mut out = String::with_capacity(raw.len());
    for word in raw.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let word: String = word
            .chars()
            .filter(|c| !matches!(c, '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}'))
            .collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    (!out.is_empty()).then_some(out)
}

/// Most nodes walked for one table cell's lines: a cell holding 100,000 nested elements is
/// not a menu, and must not cost a walk of that size per table that contains it.
pub(super) const MAX_NODES_PER_CELL: usize = 2_000;

/// Most nodes walked for a css-mode element (one walk per match, which may be a whole
/// menu container).
pub(super) const MAX_NODES_PER_ELEMENT: usize = 200_000;

/// The visual lines of an element: split at every `<br>` at any depth and at block elements,
/// inline tags joined, whitespace collapsed, blank lines dropped, in page order; the walk stops
/// after `max_nodes` elements.
pub(super) fn lines(element: ElementRef<'_>, max_nodes: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, lines: &mut Vec<String>| {
        if let Some(line) = normalize(current) {
            lines.push(line);
        }
        current.clear();
    };
    let mut budget = max_nodes;
    walk(element, |step| match step {
        Visit::Open(e) => {
            let name = e.value().name();
            if name == "br" || is_block(name) {
                flush(&mut current, &mut lines);
            }
            budget = budget.saturating_sub(1);
            budget > 0 && !is_hidden(name)
        }
        Visit::Close(e) => {
            if is_block(e.value().name()) {
                flush(&mut current, &mut lines);
            }
            false
        }
        Visit::Text(text) => {
            current.push_str(text);
            false
        }
    });
    flush(&mut current, &mut lines);
    lines
}

/// The tables one selector match stands for: the match itself when it is a table, else the
/// outermost tables inside it (so `div#menu` works as well as `div#menu > table`).
pub(super) fn tables_in(matched: ElementRef<'_>, max: usize) -> Vec<ElementRef<'_>> {
    if matched.value().name() == "table" {
        return vec![matched];
    }
    // Outermost only: a table's own subtree is skipped once it is found, so the walk is
    // linear in the page.
    let mut tables = Vec::new();
    walk(matched, |step| match step {
        Visit::Open(e) if e != matched && e.value().name() == "table" => {
            if tables.len() < max {
                tables.push(e);
            }
            false
        }
        Visit::Open(_) => tables.len() < max,
        _ => false,
    });
    tables
}

/// Every table under `root` (nested ones too) in document order, at most `max`; the walk
/// stops once `max` are found.
pub(super) fn tables_everywhere(root: ElementRef<'_>, max: usize) -> Vec<ElementRef<'_>> {
    let mut tables = Vec::new();
    walk(root, |step| match step {
        Visit::Open(e) => {
            if tables.len() < max && e.value().name() == "table" {
                tables.push(e);
            }
            tables.len() < max && !is_hidden(e.value().name())
        }
        _ => false,
    });
    tables
}

/// The day a page marks as the one it shows in a row of day buttons: a row of at least three
/// dated day labels where exactly one cell has a class the others do not (`yo_mns2` among
/// `yo_mn`, `on`, `today`, `selected`). Looks at the first [`MAX_NAV_ROWS`] rows only.
pub(super) fn selected_day(doc: &Html, target: NaiveDate) -> Option<NaiveDate> {
    let rows = scraper::Selector::parse("tr").ok()?;
    for tr in doc.select(&rows).take(MAX_NAV_ROWS) {
        let mut dated: Vec<(NaiveDate, String)> = Vec::new();
        for cell in tr
            .child_elements()
            .filter(|e| matches!(e.value().name(), "td" | "th"))
        {
            let text = short_text(cell);
            if let Some(date) = labels::day_label(&text, target).and_then(|d| d.date) {
                dated.push((date, cell.value().attr("class").unwrap_or("").to_string()));
            }
        }
        if dated.len() < 3 {
            continue;
        }
        let unique: Vec<&(NaiveDate, String)> = dated
            .iter()
            .filter(|(_, class)| dated.iter().filter(|(_, c)| c == class).count() == 1)
            .collect();
        if let [(day, _)] = unique.as_slice() {
            return Some(*day);
        }
    }
    None
}

/// Rows looked at for a row of day buttons.
const MAX_NAV_ROWS: usize = 2_000;

/// An element's text when it is short (a label): at most 60 characters gathered from at most
/// 64 nodes, so a big cell costs nothing.
fn short_text(element: ElementRef<'_>) -> String {
    let mut text = String::new();
    let mut nodes = 0;
    walk(element, |step| {
        nodes += 1;
        match step {
            Visit::Text(t) => {
                text.push_str(t);
                false
            }
            Visit::Open(e) => nodes < 64 && text.len() < 240 && !is_hidden(e.value().name()),
            Visit::Close(_) => false,
        }
    });
    normalize(&text).unwrap_or_default()
}

/// The rows of a table, its own only (not those of tables nested in its cells).
pub(super) fn rows(table: ElementRef<'_>) -> Vec<ElementRef<'_>> {
    let mut rows = Vec::new();
    for child in table.child_elements() {
        match child.value().name() {
            "tr" => rows.push(child),
            "thead" | "tbody" | "tfoot" => {
                rows.extend(child.child_elements().filter(|e| e.value().name() == "tr"))
            }
            _ => {}
        }
    }
    rows
}

/// What stands before one table (or css match) on the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Context {
    /// The nearest preceding heading (`h1`–`h6` or an element with a `title`-like class).
    pub heading: Option<String>,
    /// The week or date range the page states for it: one written inside it, else the
    /// nearest one before it.
    pub stated: Option<Stated>,
    /// The one day a short line between the previous table and this one names
    /// (`2024.03.04 (월) 오늘의 메뉴`): the date and the line as written.
    pub day: Option<(NaiveDate, String)>,
    /// The months the page states, for a month calendar ([`stated_months`]); filled only for
    /// tables read as calendars.
    pub months: Vec<StatedMonth>,
}

/// Longest line read as "the day this table shows".
const MAX_DAY_LINE_CHARS: usize = 40;

/// The date a short line names when it names exactly one and no range.
fn day_line(line: &str, target: NaiveDate) -> Option<(NaiveDate, String)> {
    let line = normalize(line)?;
    if line.chars().count() > MAX_DAY_LINE_CHARS || line.contains(['~', '∼', '〜']) {
        return None;
    }
    match labels::find_dates(&line, target).as_slice() {
        [one] => Some((one.date, line.clone())),
        _ => None,
    }
}

fn is_heading(element: &scraper::node::Element) -> bool {
    let name = element.name();
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
        || element.classes().any(|class| {
            let class = class.to_ascii_lowercase();
            class.contains("title") || class == "tit" || class.starts_with("tit_")
        })
}

/// Site chrome: headings inside these name the site, not a restaurant.
fn is_chrome(name: &str) -> bool {
    matches!(name, "header" | "footer" | "nav")
}

/// Words that say "menu" without naming a restaurant (`주간 식단표`, `오늘의 메뉴`).
const GENERIC_HEADING_WORDS: &[&str] = &[
    "주간",
    "금주의",
    "이번주",
    "오늘의",
    "오늘",
    "식단표",
    "식단",
    "메뉴",
    "안내",
    "식당",
    "weekly",
    "today's",
    "menu",
];

/// Whether a heading is only generic menu words: it labels nothing.
fn is_generic_heading(heading: &str) -> bool {
    let mut rest = heading.to_lowercase();
    for word in GENERIC_HEADING_WORDS {
        rest = rest.replace(word, " ");
    }
    !rest.chars().any(char::is_alphanumeric)
}

/// Longest `<p>` line taken as a heading.
const MAX_LINE_HEADING_CHARS: usize = 30;

/// Whether a short `<p>` line reads as a title (`미래관 라일락 레스토랑`), not a sentence, a
/// note or a date: no date, no sentence ending, no footnote mark.
fn is_title_line(line: &str) -> bool {
    line.chars().count() <= MAX_LINE_HEADING_CHARS
        && line.chars().any(char::is_alphabetic)
        && !line.ends_with(['.', '다', '요', ':'])
        && !line.starts_with(['*', '※', '-', '('])
        && labels::find_dates(line, NaiveDate::MIN).is_empty()
        && !line.contains(['~', '∼'])
}

/// The context of each anchor element (tables, or a css match), from one walk over the page.
pub(super) fn contexts(doc: &Html, anchors: &[ElementRef<'_>], target: NaiveDate) -> Vec<Context> {
    let mut text = String::new();
    let mut spans: Vec<(Option<usize>, Option<usize>)> = vec![(None, None); anchors.len()];
    // (text offset where the heading opened); closed headings as (offset at close, text).
    let mut open_headings: Vec<usize> = Vec::new();
    // Inside a site header, footer or navigation: no table's heading comes from there.
    let mut chrome = 0usize;
    // A table's own `<caption>` names it better than any heading before it.
    let mut open_caption: Option<usize> = None;
    let mut captions: Vec<(usize, String)> = Vec::new();
    let mut headings: Vec<(usize, String)> = Vec::new();
    let index: std::collections::HashMap<_, usize> = anchors
        .iter()
        .enumerate()
        .rev()
        .map(|(i, a)| (a.id(), i))
        .collect();
    walk(doc.root_element(), |step| match step {
        Visit::Open(e) => {
            if let Some(&i) = index.get(&e.id())
                && spans[i].0.is_none()
            {
                spans[i].0 = Some(text.len());
            }
            let name = e.value().name();
            if name == "br" || is_block(name) {
                text.push('\n');
            }
            if is_heading(e.value()) || name == "p" {
                open_headings.push(text.len());
            }
            if is_chrome(name) {
                chrome += 1;
            }
            if name == "caption" {
                open_caption = Some(text.len());
            }
            !is_hidden(name)
        }
        Visit::Close(e) => {
            let strong = is_heading(e.value());
            if is_chrome(e.value().name()) {
                chrome = chrome.saturating_sub(1);
            }
            if e.value().name() == "caption"
                && let Some(start) = open_caption.take()
                && let Some(caption) = normalize(&text[start..])
                && is_title_line(&caption)
                && !is_generic_heading(&caption)
            {
                captions.push((text.len(), caption));
            }
            if (strong || e.value().name() == "p")
                && let Some(start) = open_headings.pop()
                && chrome == 0
                && let Some(heading) = normalize(&text[start..])
                && heading.chars().count() <= MAX_HEADING_CHARS
                && (strong || is_title_line(&heading))
                && !is_generic_heading(&heading)
            {
                headings.push((text.len(), heading));
            }
            if is_block(e.value().name()) {
                text.push('\n');
            }
            if let Some(&i) = index.get(&e.id())
                && spans[i].1.is_none()
            {
                spans[i].1 = Some(text.len());
            }
            false
        }
        Visit::Text(t) => {
            text.push_str(t);
            false
        }
    });
    let ranges = labels::find_ranges(&text, target);
    // Where the previous anchor ended: a day line must stand between it and this one.
    let mut previous_end = 0;
    spans
        .into_iter()
        .map(|(start, end)| {
            let (Some(start), Some(end)) = (start, end) else {
                return Context::default();
            };
            let window = &text[previous_end.min(start)..start];
            previous_end = end;
            let day = window.lines().rev().find_map(|line| day_line(line, target));
            let caption = captions
                .iter()
                .find(|(at, _)| (start..end).contains(at))
                .map(|(_, c)| c.clone());
            let heading = caption.or_else(|| {
                headings
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= start)
                    .map(|(_, h)| h.clone())
            });
            let inside = ranges.iter().find(|r| (start..end).contains(&r.start));
            let before = ranges.iter().rev().find(|r| r.start < start);
            Context {
                heading,
                stated: inside.or(before).cloned(),
                day,
                months: Vec::new(),
            }
        })
        .collect()
}

/// A month (and maybe year) the page states, as written and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatedMonth {
    pub year: Option<i32>,
    pub month: u32,
    /// Where and how it was written: `caption "2022년 3월"`, `selected options "2022", "03월"`.
    pub source: String,
}

/// Longest text read as a month statement (`2022년 3월 식단표`).
const MAX_MONTH_TEXT_CHARS: usize = 30;

static MONTH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?x)
        (?:^|[^0-9])(?P<y>(?:19|20)[0-9]{2})\s*(?:년|[./-])\s*(?P<m>0?[1-9]|1[0-2])(?:[^0-9]|$)
        | (?:^|[^0-9])(?P<y2>(?:19|20)[0-9]{2})(?P<m2>0[1-9]|1[0-2])(?:[^0-9]|$)
        | (?:^|[^0-9.])(?P<m3>0?[1-9]|1[0-2])\s*월
        ",
    )
    .expect("static regex")
});

/// The month a short text states (`2022년 3월`, `2022.03`, `202203`, `3월`), if exactly one.
fn month_in(text: &str) -> Option<(Option<i32>, u32)> {
    if text.chars().count() > MAX_MONTH_TEXT_CHARS {
        return None;
    }
    let caps = MONTH.captures(text)?;
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    if let (Some(y), Some(m)) = (num("y"), num("m")) {
        Some((Some(y as i32), m))
    } else if let (Some(y), Some(m)) = (num("y2"), num("m2")) {
        Some((Some(y as i32), m))
    } else {
        num("m3").map(|m| (None, m))
    }
}

/// The months a page states for `table`, most telling first: its own caption, then short
/// texts before it (headings, the line above it: nearest first), then the selected options of
/// year and month selects, then the page title. Each still has to fit the calendar's weekday
/// columns (that is the reader's check).
pub(super) fn stated_months(doc: &Html, table: ElementRef<'_>) -> Vec<StatedMonth> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<StatedMonth>, text: &str, place: &str| {
        if let Some(line) = normalize(text)
            && let Some((year, month)) = month_in(&line)
        {
            out.push(StatedMonth {
                year,
                month,
                source: format!("{place} \"{line}\""),
            });
        }
    };
    for caption in table
        .children()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "caption")
    {
        push(&mut out, &caption.text().collect::<String>(), "the caption");
    }
    // Short texts before the table, nearest first.
    let mut before: Vec<String> = Vec::new();
    let mut reached = false;
    let mut in_select = 0usize;
    walk(doc.root_element(), |step| match step {
        Visit::Open(e) => {
            if e.id() == table.id() {
                reached = true;
            }
            if e.value().name() == "select" {
                in_select += 1;
            }
            !reached && !is_hidden(e.value().name())
        }
        Visit::Close(e) => {
            if e.value().name() == "select" {
                in_select = in_select.saturating_sub(1);
            }
            false
        }
        Visit::Text(t) => {
            if !reached && in_select == 0 && t.trim().chars().count() <= MAX_MONTH_TEXT_CHARS {
                before.push(t.to_string());
            }
            false
        }
    });
    for text in before.iter().rev().take(MAX_TEXTS_BEFORE) {
        push(&mut out, text, "the text before the table");
    }
    out.extend(selected_month(doc));
    if let Ok(title) = Selector::parse("title") {
        for element in doc.select(&title).take(1) {
            push(&mut out, &element.text().collect::<String>(), "the title");
        }
    }
    out
}

/// Short texts before a table looked at for its month.
const MAX_TEXTS_BEFORE: usize = 40;

/// The month the page's selects have selected: a year select (`2022`, `2022학년도`) and a
/// month select (`03`, `3월`, a select named `month`/`mm`), or one `2022-03` option.
fn selected_month(doc: &Html) -> Option<StatedMonth> {
    let select = Selector::parse("select").ok()?;
    let option = Selector::parse("option[selected]").ok()?;
    let mut year: Option<(i32, String)> = None;
    let mut month: Option<(u32, String)> = None;
    for element in doc.select(&select) {
        let Some(chosen) = element.select(&option).next() else {
            continue;
        };
        let text = normalize(&chosen.text().collect::<String>()).unwrap_or_default();
        let value = chosen
            .value()
            .attr("value")
            .unwrap_or("")
            .trim()
            .to_string();
        let named = |words: &[&str]| {
            ["id", "name"].iter().any(|a| {
                element
                    .value()
                    .attr(a)
                    .is_some_and(|v| words.iter().any(|w| v.to_ascii_lowercase().contains(w)))
            })
        };
        for candidate in [value.as_str(), text.as_str()] {
            if let Some((Some(y), m)) = month_in(candidate)
                && candidate.chars().filter(char::is_ascii_digit).count() >= 6
            {
                return Some(StatedMonth {
                    year: Some(y),
                    month: m,
                    source: format!("the selected option \"{text}\""),
                });
            }
        }
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        let number = digits.parse::<u32>().ok();
        if year.is_none()
            && let Some(y) = number.filter(|y| (1990..=2100).contains(y))
        {
            year = Some((y as i32, text.clone()));
        } else if month.is_none()
            && let Some(m) = number.filter(|m| (1..=12).contains(m))
            && (text.contains('월') || named(&["month", "mm", "mon"]))
        {
            month = Some((m, text.clone()));
        }
    }
    let (month, month_text) = month?;
    Some(match year {
        Some((year, year_text)) => StatedMonth {
            year: Some(year),
            month,
            source: format!("the selected options \"{year_text}\", \"{month_text}\""),
        },
        None => StatedMonth {
            year: None,
            month,
            source: format!("the selected option \"{month_text}\""),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Selector;

    fn first<'a>(doc: &'a Html, css: &str) -> ElementRef<'a> {
        let selector = Selector::parse(css).expect("test selector parses");
        doc.select(&selector).next().expect("test selector matches")
    }

    fn cell_lines(html: &str) -> Vec<String> {
        let doc = Html::parse_document(&format!("<table><tr><td>{html}</td></tr></table>"));
        lines(first(&doc, "td"), MAX_NODES_PER_CELL)
    }

    #[test]
    fn lines_split_at_br_at_any_depth_and_at_block_elements() {
        assert_eq!(cell_lines("국<br />밥<br>"), ["국", "밥"]);
        assert_eq!(
            cell_lines("<span>쌀밥<br/><font>김치</font></span>"),
            ["쌀밥", "김치"]
        );
        assert_eq!(
            cell_lines("<p>근대된장국&nbsp;</p><p>Fried&nbsp; garlic</p><p></p>"),
            ["근대된장국", "Fried garlic"]
        );
        assert_eq!(
            cell_lines("<div>한</div>정<ul><li>a</li><li>b</li></ul>"),
            ["한", "정", "a", "b"]
        );
    }

    #[test]
    fn inline_tags_do_not_split_and_whitespace_collapses() {
        assert_eq!(
            cell_lines("plantain bean&nbsp;</span><span>bulgogi"),
            ["plantain bean bulgogi"]
        );
        assert_eq!(
            cell_lines("  돈갈비<b>김치</b>찌개 \r\n (돼지:국내산) "),
            ["돈갈비김치찌개 (돼지:국내산)"]
        );
        assert_eq!(cell_lines("<br><br>\n<br/>"), Vec::<String>::new());
    }

    #[test]
    fn script_and_style_text_is_not_part_of_a_cell() {
        assert_eq!(
            cell_lines("밥<script>var a = '<br>';</script><style>p{}</style>"),
            ["밥"]
        );
    }

    #[test]
    fn a_selector_on_a_container_reaches_its_outermost_tables() {
        let doc = Html::parse_document(
            "<div id=m><table id=a><tr><td><table id=inner></table></td></tr></table><table id=b></table></div>",
        );
        let ids: Vec<_> = tables_in(first(&doc, "#m"), 64)
            .iter()
            .filter_map(|t| t.value().id())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_tables_own_caption_names_it_unless_it_is_generic() {
        let doc = Html::parse_document(
            "<h3>생활관</h3><table id=a><caption>학생식당</caption></table>\
             <h3>군자관 식당</h3><table id=b><caption>식당메뉴</caption></table>",
        );
        let target = NaiveDate::from_ymd_opt(2024, 4, 24).expect("valid");
        let tables: Vec<_> = ["#a", "#b"].iter().map(|s| first(&doc, s)).collect();
        let headings: Vec<_> = contexts(&doc, &tables, target)
            .into_iter()
            .map(|c| c.heading)
            .collect();
        assert_eq!(
            headings,
            [
                Some("학생식당".to_string()),
                Some("군자관 식당".to_string())
            ]
        );
    }

    #[test]
    fn site_chrome_and_generic_menu_titles_are_not_headings() {
        let doc = Html::parse_document(
            "<header><h1>한국대학교</h1></header><h2>주간 식단표</h2><table id=a></table>\
             <h3>학생식당</h3><h4>오늘의 메뉴</h4><table id=b></table>",
        );
        let target = NaiveDate::from_ymd_opt(2024, 4, 24).expect("valid");
        let tables: Vec<_> = ["#a", "#b"].iter().map(|s| first(&doc, s)).collect();
        let headings: Vec<_> = contexts(&doc, &tables, target)
            .into_iter()
            .map(|c| c.heading)
            .collect();
        assert_eq!(headings, [None, Some("학생식당".to_string())]);
    }

    #[test]
    fn each_table_gets_its_nearest_heading_and_stated_week() {
        let doc = Html::parse_document(
            "<h2>주간식단</h2><h5 class=title>진수원</h5><span>4월 22일 ~ 4월 26일</span><table id=a></table>\
             <h5 class=title>의대</h5><table id=b></table>\
             <div class=title>후생관</div><table id=c><caption>4월 29일 ~ 5월 3일</caption></table>",
        );
        let target = NaiveDate::from_ymd_opt(2024, 4, 24).expect("valid");
        let tables: Vec<_> = ["#a", "#b", "#c"].iter().map(|s| first(&doc, s)).collect();
        let found = contexts(&doc, &tables, target);
        let headings: Vec<_> = found.iter().map(|c| c.heading.as_deref()).collect();
        assert_eq!(headings, [Some("진수원"), Some("의대"), Some("후생관")]);
        let weeks: Vec<_> = found
            .iter()
            .map(|c| c.stated.as_ref().map(|s| s.text.as_str()))
            .collect();
        assert_eq!(
            weeks,
            [
                Some("4월 22일 ~ 4월 26일"),
                Some("4월 22일 ~ 4월 26일"),
                Some("4월 29일 ~ 5월 3일")
            ]
        );
    }
}
