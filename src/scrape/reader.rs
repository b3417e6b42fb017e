//! The one seam between a table and the layouts kbot reads: each layout is a [`Reader`].
//!
//! A table is first *sized up* ([`size_up`]): laid out as a grid, every cell's day label
//! found, its score counted (day and meal labels, for `table = "auto"` and `--find`) and a
//! reader chosen with the reason in words. Then [`read`] hands the grid to that reader, which
//! returns a [`TableRead`] (groups, closed corners, status, the meals the table has).
//!
//! The readers: [`Reader::WeekGrid`] and [`Reader::SectionRows`] (days across the columns,
//! meals and corners down the rows, full-width rows starting a restaurant), [`Reader::DatePerRow`]
//! (one row per date, meals across), [`Reader::DayMealsDown`] (one day, meals down the rows)
//! — these four share `grid::read` and differ in where the days are — then
//! [`Reader::DateBlocks`] (`blocks`: a date cell spanning a block of rows, the meal in a body
//! column) and [`Reader::DayMealsAcross`] (`across`: one day, meal and corner in column
//! headers). Css mode ([`Reader::Css`]) reads elements, not tables, and lives in `scrape`.
//!
//! Adding a layout (a JSON or image reader later): add a variant, teach [`choose`] when it
//! applies and why, and give it a `read` returning [`TableRead`]; the page-level decisions
//! (which tables count, dates, `no_meal`, plausibility) in `scrape` stay as they are.
//!
//! Pure: no I/O.

use chrono::NaiveDate;
use scraper::ElementRef;

use super::dom::Context;
use super::explain::TableExplain;
use super::grid::{self, Grid, Layout, Status, TableRead, count};
use super::labels::{self, DayLabel};
use super::{Group, Rule, across, blocks};
use crate::Meal;

/// The layouts kbot reads. Each names itself in `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Days across the columns, meals and corners down the rows.
    WeekGrid,
    /// A week grid whose full-width rows name restaurants (sections).
    SectionRows,
    /// One row per date, meals across the columns.
    DatePerRow,
    /// One day's table, meals down the rows.
    DayMealsDown,
    /// A date cell spanning a block of rows, one row per meal or corner with its label in a
    /// body column; also plain `날짜 | 구분 | 메뉴` lists.
    DateBlocks,
    /// One day's table, meal and corner in column headers (`1코너 중식`, `중·석식`).
    DayMealsAcross,
    /// Css mode: one selector per meal, no table reading.
    Css,
}

impl Reader {
    /// The name shown in `--explain` and `--find`.
    pub fn name(self) -> &'static str {
        match self {
            Reader::WeekGrid => "week grid",
            Reader::SectionRows => "week grid with section rows",
            Reader::DatePerRow => "date per row",
            Reader::DayMealsDown => "day view, meals down the rows",
            Reader::DateBlocks => "date blocks",
            Reader::DayMealsAcross => "day view, meals across the columns",
            Reader::Css => "css selectors",
        }
    }

    /// Whether the reader reads one day's table (no day labels in it).
    pub fn is_one_day(self) -> bool {
        matches!(self, Reader::DayMealsDown | Reader::DayMealsAcross)
    }
}

/// What a reader is asked: which table (1-based on the page), what stands before it, the
/// source's rule, and the (date, meal).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    pub index: usize,
    pub context: &'a Context,
    pub rule: &'a Rule,
    pub date: NaiveDate,
    pub meal: Meal,
}

impl Ask<'_> {
    /// The start of every reader's explanation of `grid`: which table, the heading and
    /// stated week before it, its size. The reader adds its layout and what it found.
    pub fn explain(&self, grid: &Grid) -> TableExplain {
        TableExplain {
            index: self.index,
            heading: self.context.heading.clone(),
            stated: self
                .context
                .stated
                .as_ref()
                .map(|s| format!("{} ({} … {})", s.text, s.from, s.to)),
            size: (grid.height(), grid.width),
            ..TableExplain::default()
        }
    }
}

/// A table sized up: its grid, the day label of each cell, its score and its reader.
#[derive(Debug, Clone)]
pub(super) struct Sized {
    pub grid: Grid,
    pub days: Vec<Option<DayLabel>>,
    pub layout: Layout,
    pub reader: Reader,
    pub why: String,
    /// Cells that label a day (a dated one counts twice).
    pub day_score: usize,
    /// Short cells naming a meal.
    pub meal_labels: usize,
}

impl Sized {
    /// How much the table looks like a menu: its day and meal labels.
    pub fn score(&self) -> usize {
        self.day_score + 2 * self.meal_labels
    }

    /// Whether `auto` reads it: some meal label, or at least two cells labelling days (one
    /// date is a board post's 작성일, not a menu's header) with text beyond them (a row of
    /// day buttons with nothing under it is navigation).
    pub fn is_menu_like(&self) -> bool {
        self.meal_labels > 0 || (self.days.iter().flatten().count() >= 2 && self.body_text())
    }

    /// Whether any cell below the day labels (or right of them, dates down a column) has text.
    fn body_text(&self) -> bool {
        let grid = &self.grid;
        let has_text = |id: Option<usize>| {
            id.is_some_and(|id| self.days[id].is_none() && !grid.cells[id].lines.is_empty())
        };
        match self.layout {
            Layout::Columns(h) => {
                (h + 1..grid.height()).any(|r| grid.slots[r].iter().any(|&slot| has_text(slot)))
            }
            Layout::Rows(k) => {
                (0..grid.height()).any(|r| (k + 1..grid.width).any(|c| has_text(grid.slots[r][c])))
            }
            Layout::OneDay => false,
        }
    }

    /// Whether it states any date (not only weekdays).
    pub fn has_dates(&self) -> bool {
        self.days.iter().flatten().any(|d| d.date.is_some())
    }

    /// Whether any cell labels a day.
    pub fn has_days(&self) -> bool {
        self.days.iter().any(Option::is_some)
    }
}

/// Longest cell text counted as a meal label.
const MAX_MEAL_LABEL_CHARS: usize = 30;

/// Whether a cell's text is a short label with a meal word standing as a word of its own
/// (`중식`, `1코너 중식 (앞쪽)`, `중·석식`), not inside a sentence (`석식은 학생식당 이용`).
pub(super) fn is_meal_label(text: &str) -> bool {
    text.chars().count() <= MAX_MEAL_LABEL_CHARS
        && !labels::label_meals(text).is_empty()
        && labels::corner_of(text) != text
}

/// Lay a table out and choose its reader.
pub(super) fn size_up(table: ElementRef<'_>, target: NaiveDate) -> Sized {
    let grid = Grid::build(table);
    let days: Vec<Option<DayLabel>> = grid
        .cells
        .iter()
        .map(|c| labels::day_label(&c.lines.join(" "), target))
        .collect();
    let day_score = days
        .iter()
        .flatten()
        .map(|d| if d.date.is_some() { 2 } else { 1 })
        .sum();
    let meal_labels = grid
        .cells
        .iter()
        .filter(|c| is_meal_label(&labels::join_label(&c.lines)))
        .count();
    let layout = grid::layout_of(&grid, &days);
    let (reader, why) = choose(&grid, &days, layout);
    Sized {
        grid,
        days,
        layout,
        reader,
        why,
        day_score,
        meal_labels,
    }
}

/// Which reader fits a table, and why, in words.
fn choose(grid: &Grid, days: &[Option<DayLabel>], layout: Layout) -> (Reader, String) {
    match layout {
        Layout::Rows(k) => match blocks::label_column(grid, days, k) {
            Some(c) => (
                Reader::DateBlocks,
                format!(
                    "day labels down column {}, meal labels in body column {}",
                    k + 1,
                    c + 1
                ),
            ),
            None => (
                Reader::DatePerRow,
                format!("day labels down column {}, one row per day", k + 1),
            ),
        },
        Layout::Columns(h) => {
            let sections = (h + 1..grid.height()).any(|r| is_full_width(grid, r));
            if sections {
                (
                    Reader::SectionRows,
                    format!("day labels across row {}, full-width section rows", h + 1),
                )
            } else {
                (Reader::WeekGrid, format!("day labels across row {}", h + 1))
            }
        }
        Layout::OneDay => match across::header_row(grid) {
            Some(h) => (
                Reader::DayMealsAcross,
                format!("no day labels; meal labels across row {}", h + 1),
            ),
            None => (
                Reader::DayMealsDown,
                "no day labels; meals down the rows, dishes in the last column".into(),
            ),
        },
    }
}

/// Whether row `r` is one cell spanning the whole (wider than one column) table.
pub(super) fn is_full_width(grid: &Grid, r: usize) -> bool {
    let row = &grid.slots[r];
    grid.width > 1 && row[0].is_some() && row.iter().all(|s| *s == row[0])
}

/// Read a sized-up table with its reader.
pub(super) fn read(sized: Sized, ask: &Ask<'_>) -> TableRead {
    let Sized {
        grid,
        days,
        layout,
        reader,
        why,
        ..
    } = sized;
    let mut read = match reader {
        Reader::DateBlocks => match layout {
            Layout::Rows(k) => blocks::read(&grid, &days, k, ask),
            _ => grid::read(grid, &days, layout, ask),
        },
        Reader::DayMealsAcross => match across::header_row(&grid) {
            Some(h) => across::read(&grid, h, ask),
            None => grid::read(grid, &days, layout, ask),
        },
        _ => grid::read(grid, &days, layout, ask),
    };
    read.explain.reader = format!("{}: {why}", reader.name());
    read
}

/// Add `content` to the group `key` of `wanted` (a new group at the end if there is none
/// yet), each cell once: rows of one corner label gather into one group.
pub(super) fn want(wanted: &mut Vec<(String, Vec<usize>)>, key: String, content: Vec<usize>) {
    match wanted.iter_mut().find(|(k, _)| *k == key) {
        Some((_, ids)) => {
            for id in content {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        None => wanted.push((key, content)),
    }
}

/// Groups with dishes, and (label, notice) of the closed ones.
pub(super) type Gathered = (Vec<Group>, Vec<(String, String)>);

/// The dishes of each (label, cells) pair in page order, closure notices kept apart, the
/// source's `exclude` applied. A cell that is nothing but a meal word (a label read as a
/// dish) is returned as `Err` with its text: the reader cannot be sure of the meal.
pub(super) fn gather(
    grid: &Grid,
    wanted: Vec<(String, Vec<usize>)>,
    rule: &Rule,
) -> Result<Gathered, String> {
    let mut groups = Vec::new();
    let mut closed = Vec::new();
    for (label, ids) in wanted {
        let mut dishes = Vec::new();
        for id in ids {
            let lines: Vec<String> = grid.cells[id]
                .lines
                .iter()
                .filter(|line| !rule.exclude.iter().any(|re| re.is_match(line)))
                .cloned()
                .collect();
            if lines.is_empty() {
                continue;
            }
            let text = lines.join(" ");
            if labels::corner_of(&text).is_empty() {
                return Err(text);
            }
            if labels::is_closed(&text, &rule.closed_markers) {
                closed.push((label.clone(), text));
            } else {
                dishes.extend(lines);
            }
        }
        if !dishes.is_empty() {
            groups.push(Group { label, dishes });
        }
    }
    Ok((groups, closed))
}

/// What a reader found in a table: the cells of each group of the asked meal (label,
/// cells), how many rows (or columns) were of that meal, every row label seen, and every
/// meal the table has.
pub(super) struct Found {
    pub wanted: Vec<(String, Vec<usize>)>,
    pub meal_rows: usize,
    pub rows: Vec<String>,
    pub meals: Vec<Meal>,
}

/// The end of every table reader: [`gather`] the dishes of what it `found`, sum them up in
/// `explain.result` and return the reading. The wording is the reader's: `noun` is what a
/// meal takes in its tables (`"row"`, `"column"`), `none_tail` and `empty_tail` end "no
/// lunch row" and "2 rows for lunch, all empty" (`" for 2021-03-15"` or nothing).
pub(super) fn finish_read(
    grid: &Grid,
    ask: &Ask<'_>,
    mut explain: TableExplain,
    found: Found,
    noun: &str,
    none_tail: &str,
    empty_tail: &str,
) -> TableRead {
    let Ask { index, meal, .. } = *ask;
    let Found {
        wanted,
        meal_rows,
        rows,
        meals,
    } = found;
    let (groups, closed) = match gather(grid, wanted, ask.rule) {
        Ok(found) => found,
        Err(text) => {
            let why = format!(
                "table {index}: the label \"{text}\" stands where dishes should be, so the {meal} {noun}s cannot be told apart with certainty"
            );
            explain.result = why.clone();
            return TableRead {
                status: Status::Uncertain(why),
                ..TableRead::empty(explain)
            };
        }
    };
    let lines: usize = groups.iter().map(|g| g.dishes.len()).sum();
    explain.result = match (groups.len(), closed.len(), meal_rows) {
        (0, 0, 0) => format!("no {meal} {noun}{none_tail}"),
        (0, 0, n) => format!("{} for {meal}, all empty{empty_tail}", count(n, noun)),
        (g, c, _) => format!(
            "{} with {}, {c} closed",
            count(g, "group"),
            count(lines, "line")
        ),
    };
    TableRead {
        groups,
        closed,
        status: Status::Read { meal_rows, rows },
        meals,
        explain,
    }
}
