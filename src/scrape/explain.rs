//! `kbot scrape --explain`: a plain-text account of what the scraper saw on a page and why it
//! chose what it chose — the tables (index, nearest heading, stated week, header labels), the
//! column or row it took for the date and why (date label or weekday), the rows it read with
//! their labels and meals. It is what a user reads when a selector stops matching.
//!
//! Data + `Display` only: filled in by `grid` and `scrape`, no I/O.

use std::fmt;

use crate::Meal;

/// What the scraper saw and decided, for one source and one (date, meal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explain {
    /// How the page was searched, e.g. "table selector `table.tblType03`".
    pub search: String,
    /// The tables read (table mode) or elements matched (css mode), in page order.
    pub tables: Vec<TableExplain>,
    /// Anything else worth knowing: the encoding used, a selector that matched nothing, …
    pub notes: Vec<String>,
}

/// One table (or css match) as the scraper read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableExplain {
    /// 1-based position among the tables the selector reached.
    pub index: usize,
    /// Its nearest preceding heading, used as the restaurant name.
    pub heading: Option<String>,
    /// The week the page states for it, as written and as dates.
    pub stated: Option<String>,
    /// Size of the expanded grid (rowspan/colspan counted), rows × columns.
    pub size: (usize, usize),
    /// The reader chosen for the table and why, e.g. "week grid: 5 weekday labels in row 1".
    pub reader: String,
    /// How the days are laid out, e.g. "days across columns, header in row 1".
    pub layout: String,
    /// The header labels, in order.
    pub header: Vec<String>,
    /// The column (or row) taken for the date and why; `None` when none was.
    pub choice: Option<String>,
    /// The rows read below the header, in order.
    pub rows: Vec<RowSeen>,
    /// What came of this table, e.g. "2 groups, 9 lines" or "no column for 토".
    pub result: String,
}

/// One row of a table as the scraper classified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowSeen {
    /// A full-width row: it starts a new restaurant section.
    Section {
        /// 1-based row in the expanded grid.
        row: usize,
        /// The row's text (the restaurant name).
        label: String,
    },
    /// A row of dishes with its labels.
    Row {
        /// 1-based row in the expanded grid (a column, for days-down-rows tables).
        row: usize,
        /// Its header cells, `>`-joined, meal word included.
        label: String,
        /// The meal the row is for.
        meal: Meal,
        /// Where the meal came from: "label", "section", "heading" or "unlabeled" (the
        /// source's `unlabeled` setting).
        by: &'static str,
        /// Whether it is a row of the requested meal.
        chosen: bool,
        /// Lines in its cell(s) for the date.
        lines: usize,
    },
    /// A row (or column) whose label says it holds no dishes (`비고`, `운영정보`).
    NotDishes {
        /// 1-based row in the expanded grid.
        row: usize,
        /// Its label.
        label: String,
    },
    /// A row that repeats the header.
    Header {
        /// 1-based row in the expanded grid.
        row: usize,
    },
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.search)?;
        for table in &self.tables {
            write!(f, "{table}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TableExplain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.index)?;
        if let Some(heading) = &self.heading {
            write!(f, " under heading \"{heading}\"")?;
        }
        writeln!(f, ": {} rows × {} columns", self.size.0, self.size.1)?;
        if let Some(stated) = &self.stated {
            writeln!(f, "  week stated on the page: {stated}")?;
        }
        if !self.reader.is_empty() {
            writeln!(f, "  reader: {}", self.reader)?;
        }
        if !self.layout.is_empty() {
            writeln!(f, "  layout: {}", self.layout)?;
        }
        if !self.header.is_empty() {
            writeln!(f, "  header: {}", self.header.join(" | "))?;
        }
        if let Some(choice) = &self.choice {
            writeln!(f, "  chose {choice}")?;
        }
        for row in &self.rows {
            match row {
                RowSeen::Section { row, label } => {
                    writeln!(f, "    row {row}: section \"{label}\"")?
                }
                RowSeen::NotDishes { row, label } => {
                    writeln!(f, "    row {row}: \"{label}\" holds no dishes, skipped")?
                }
                RowSeen::Header { row } => {
                    writeln!(f, "    row {row}: repeats the header, skipped")?
                }
                RowSeen::Row {
                    row,
                    label,
                    meal,
                    by,
                    chosen,
                    lines,
                } => {
                    let mark = if *chosen { "→" } else { " " };
                    let label = if label.is_empty() {
                        "(no label)"
                    } else {
                        label
                    };
                    writeln!(
                        f,
                        "  {mark} row {row}: {label} — {meal} by {by}, {lines} line{}",
                        if *lines == 1 { "" } else { "s" }
                    )?;
                }
            }
        }
        writeln!(f, "  result: {}", self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_names_the_table_its_choice_and_the_chosen_rows() {
        let explain = Explain {
            search: "table selector `table.tblType03`: 1 table".into(),
            tables: vec![TableExplain {
                index: 1,
                heading: Some("진수원".into()),
                stated: Some("4월 10일 ~ 4월 14일 (2023-04-10 … 2023-04-14)".into()),
                size: (3, 7),
                reader: "week grid: day labels across row 1".into(),
                layout: "days across columns, header in row 1".into(),
                header: vec!["식구분".into(), "월".into()],
                choice: Some("column 3 \"월\": weekday of 2023-04-10".into()),
                rows: vec![RowSeen::Row {
                    row: 2,
                    label: "중식 > 백반".into(),
                    meal: Meal::Lunch,
                    by: "label",
                    chosen: true,
                    lines: 4,
                }],
                result: "1 group, 4 lines".into(),
            }],
            notes: vec!["decoded as UTF-8".into()],
        };
        let text = explain.to_string();
        assert!(
            text.contains("table 1 under heading \"진수원\": 3 rows × 7 columns"),
            "{text}"
        );
        assert!(text.contains("header: 식구분 | 월"), "{text}");
        assert!(
            text.contains("reader: week grid: day labels across row 1"),
            "{text}"
        );
        assert!(text.contains("chose column 3 \"월\""), "{text}");
        assert!(
            text.contains("→ row 2: 중식 > 백반 — lunch by label, 4 lines"),
            "{text}"
        );
        assert!(text.ends_with("note: decoded as UTF-8\n"), "{text}");
    }
}
