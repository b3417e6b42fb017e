//! Finding the menu tables on a page without CSS: `table = "auto"` reads the tables that
//! look like menus, and `kbot scrape --find` lists every table with its score, heading, a
//! short unique CSS selector and its first lines, best first.
//!
//! Pure: works on a parsed page, no I/O (printing is `view`'s).

use chrono::NaiveDate;
use scraper::{ElementRef, Html, Selector};

use super::dom;
use super::reader::{self, Reader, Sized};

/// Lines of a table shown by `--find`.
const SHOWN_LINES: usize = 3;

/// One table of a page as `--find` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTable {
    /// 1-based position among the page's tables.
    pub index: usize,
    /// Day labels (a dated one twice) plus twice the meal labels.
    pub score: usize,
    /// Whether `table = "auto"` reads it.
    pub menu: bool,
    /// The reader that would read it.
    pub reader: Reader,
    /// Its nearest heading.
    pub heading: Option<String>,
    /// A short CSS selector matching it and nothing else on the page.
    pub selector: String,
    /// Rows × columns of its grid.
    pub size: (usize, usize),
    /// Its first lines of text.
    pub lines: Vec<String>,
}

/// Every table of the page in document order, at most `max`.
pub(super) fn page_tables(doc: &Html, max: usize) -> Vec<ElementRef<'_>> {
    dom::tables_everywhere(doc.root_element(), max)
}

/// The tables `auto` reads, sized up: those that look like menus, innermost ones only (a
/// layout table holding menu tables is not one).
pub(super) fn menu_tables(
    all: Vec<ElementRef<'_>>,
    date: NaiveDate,
) -> Vec<(ElementRef<'_>, Sized)> {
    let menus: Vec<(ElementRef<'_>, Sized)> = all
        .into_iter()
        .map(|t| (t, reader::size_up(t, date)))
        .filter(|(_, s)| s.is_menu_like())
        .collect();
    let ids: Vec<_> = menus.iter().map(|(t, _)| t.id()).collect();
    menus
        .into_iter()
        .filter(|(t, _)| {
            !ids.iter().any(|&other| {
                other != t.id()
                    && t.descendent_elements()
                        .take(100_000)
                        .any(|d| d.id() == other)
            })
        })
        .collect()
}

/// Every table of a page, best first (menus, then by score, then page order).
pub fn find_tables(html: &str, date: NaiveDate) -> Vec<FoundTable> {
    let doc = Html::parse_document(html);
    tables_of(&doc, date)
}

fn tables_of(doc: &Html, date: NaiveDate) -> Vec<FoundTable> {
    let all = page_tables(doc, super::MAX_TABLES);
    let menus: Vec<_> = menu_tables(all.clone(), date)
        .into_iter()
        .map(|(t, _)| t.id())
        .collect();
    let contexts = dom::contexts(doc, &all, date);
    let mut found: Vec<FoundTable> = all
        .iter()
        .zip(contexts)
        .enumerate()
        .map(|(i, (table, context))| {
            let sized = reader::size_up(*table, date);
            let mut lines = Vec::new();
            for cell in &sized.grid.cells {
                for line in &cell.lines {
                    if lines.len() < SHOWN_LINES && !lines.contains(line) {
                        lines.push(line.chars().take(60).collect());
                    }
                }
            }
            FoundTable {
                index: i + 1,
                score: sized.score(),
                menu: menus.contains(&table.id()),
                reader: sized.reader,
                heading: context.heading,
                selector: unique_selector(doc, *table),
                size: (sized.grid.height(), sized.grid.width),
                lines,
            }
        })
        .collect();
    found.sort_by_key(|t| (!t.menu, std::cmp::Reverse(t.score), t.index));
    found
}

/// The listing `--explain` shows when a selector matches nothing: one line per table.
pub(super) fn listing(doc: &Html, date: NaiveDate) -> String {
    let tables = tables_of(doc, date);
    if tables.is_empty() {
        return "  (the page has no table)".into();
    }
    tables
        .iter()
        .map(|t| {
            format!(
                "  {} score {} `{}`{}: {}",
                if t.menu { "menu" } else { "    " },
                t.score,
                t.selector,
                t.heading
                    .as_deref()
                    .map(|h| format!(" under \"{h}\""))
                    .unwrap_or_default(),
                t.lines.join(" | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `css` matches exactly `table` on the page.
fn matches_only(doc: &Html, css: &str, table: ElementRef<'_>) -> bool {
    let Ok(selector) = Selector::parse(css) else {
        return false;
    };
    let mut hits = doc.select(&selector);
    hits.next().is_some_and(|first| first == table) && hits.next().is_none()
}

/// A CSS identifier kbot writes without escaping.
fn is_plain_ident(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A short selector matching `table` and nothing else: `table#id`, `table.class`, else a
/// `>` path of `tag:nth-of-type(n)` steps up to an ancestor with an id (or the root).
pub(super) fn unique_selector(doc: &Html, table: ElementRef<'_>) -> String {
    let element = table.value();
    if let Some(id) = element.id().filter(|id| is_plain_ident(id)) {
        let css = format!("table#{id}");
        if matches_only(doc, &css, table) {
            return css;
        }
    }
    let classes: Vec<&str> = element.classes().filter(|c| is_plain_ident(c)).collect();
    for class in &classes {
        let css = format!("table.{class}");
        if matches_only(doc, &css, table) {
            return css;
        }
    }
    let mut steps: Vec<String> = Vec::new();
    let mut node = table;
    loop {
        let name = node.value().name();
        let nth = 1 + node
            .prev_siblings()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == name)
            .count();
        steps.insert(0, format!("{name}:nth-of-type({nth})"));
        let Some(parent) = node.parent().and_then(ElementRef::wrap) else {
            break;
        };
        if let Some(id) = parent.value().id().filter(|id| is_plain_ident(id)) {
            let css = format!("#{id} > {}", steps.join(" > "));
            if matches_only(doc, &css, table) {
                return css;
            }
        }
        let css = steps.join(" > ");
        if parent.value().name() != "html" && matches_only(doc, &css, table) && steps.len() > 1 {
            return css;
        }
        node = parent;
        if node.value().name() == "html" {
            break;
        }
    }
    steps.join(" > ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 4, 22).expect("valid")
    }

    #[test]
    fn the_menu_table_is_listed_first_with_a_selector_that_matches_only_it() {
        let html = "<table id=nav><tr><td>로그인</td></tr></table>\
            <div><table class=x><tr><td>가격</td><td>5000</td></tr></table>\
            <table class=x><tr><th>구분</th><th>월</th><th>화</th></tr>\
            <tr><th>중식</th><td>국</td><td>면</td></tr></table></div>";
        let found = find_tables(html, d());
        assert_eq!(found.len(), 3);
        assert!(found[0].menu && !found[1].menu && !found[2].menu);
        assert_eq!(found[0].reader, Reader::WeekGrid);
        let doc = Html::parse_document(html);
        let selector = Selector::parse(&found[0].selector).expect("valid css");
        let hits: Vec<_> = doc.select(&selector).collect();
        assert_eq!(hits.len(), 1, "{}", found[0].selector);
        assert!(hits[0].html().contains("중식"));
        assert_eq!(found[1].selector, "table#nav");
    }
}
