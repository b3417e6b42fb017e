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
//! — these four share `rows::read` and differ in where the days are — then
//! [`Reader::DateBlocks`] (`blocks`: a date cell spanning a block of rows, the meal in a body
//! column), [`Reader::DayMealsAcross`] (`across`: one day, meal and corner in column
//! headers) and [`Reader::MonthCalendar`] (`calendar`: weekday columns over day-numbered
//! cells, the month from what the page states). Css mode ([`Reader::Css`]) reads elements,
//! not tables, and lives in `scrape`.
//!
//! The layers: `grid` (the laid-out table) and `reading` (what every reader is asked and how
//! a reading ends) sit below the readers; this file, above them, only lists them. Adding a
//! layout is one new reader file using `reading`, plus its variant here with when it applies
//! ([`size_up`] / [`choose`]) and its arm in [`read`]; the page-level decisions (which tables
//! count, dates, `no_meal`, plausibility) in `scrape` stay as they are.
//!
//! Pure: no I/O.

use chrono::NaiveDate;
use scraper::ElementRef;

use super::grid::{self, Grid, Layout, TableRead, is_full_width};
use super::labels::{self, DayLabel};
use super::reading::{Ask, is_meal_label};
use super::{across, blocks, calendar, rows};

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
    /// A month calendar: weekday columns, one cell per day starting with its day number.
    MonthCalendar,
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
            Reader::MonthCalendar => "month calendar",
            Reader::Css => "css selectors",
        }
    }

    /// Whether the reader reads one day's table (no day labels in it).
    pub fn is_one_day(self) -> bool {
        matches!(self, Reader::DayMealsDown | Reader::DayMealsAcross)
    }

    /// Whether the reader settles the table's dates itself (a calendar's month), so the
    /// page-level date check does not apply.
    pub fn dates_itself(self) -> bool {
        self == Reader::MonthCalendar
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
    /// The calendar's shape, when the table is a month calendar.
    pub calendar: Option<calendar::Shape>,
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

    /// Whether the table shows several days per weekday (a month view): cells starting with a
    /// day number in two or more rows under weekday labels. Read by weekday alone it would
    /// glue those days together.
    pub fn is_month_view(&self) -> bool {
        if self.calendar.is_some() {
            return true;
        }
        let Layout::Columns(h) = self.layout else {
            return false;
        };
        let grid = &self.grid;
        let day_columns: Vec<usize> = (0..grid.width)
            .filter(|&c| grid.slots[h][c].is_some_and(|id| self.days[id].is_some()))
            .collect();
        let numbered = (h + 1..grid.height())
            .filter(|&r| {
                grid.cells_at(r, &day_columns)
                    .into_iter()
                    .any(|id| calendar::day_number(grid, id).is_some())
            })
            .count();
        numbered >= 2
    }
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
    let calendar = match layout {
        Layout::Columns(h) => calendar::shape(&grid, &days, h),
        _ => None,
    };
    let (reader, why) = match &calendar {
        Some(shape) => (
            Reader::MonthCalendar,
            format!(
                "weekday labels across row {}, {} cells starting with day numbers 1 … {} in {} rows",
                shape.header + 1,
                shape.days.len(),
                shape.days.last().map_or(0, |d| d.3),
                shape.rows
            ),
        ),
        None => choose(&grid, &days, layout),
    };
    Sized {
        grid,
        days,
        layout,
        reader,
        why,
        day_score,
        meal_labels,
        calendar,
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

/// Read a sized-up table with its reader.
pub(super) fn read(sized: Sized, ask: &Ask<'_>) -> TableRead {
    let Sized {
        grid,
        days,
        layout,
        reader,
        why,
        calendar,
        ..
    } = sized;
    let mut read = match reader {
        Reader::MonthCalendar => match &calendar {
            Some(shape) => calendar::read(&grid, shape, ask),
            None => rows::read(grid, &days, layout, ask),
        },
        Reader::DateBlocks => match layout {
            Layout::Rows(k) => blocks::read(&grid, &days, k, ask),
            _ => rows::read(grid, &days, layout, ask),
        },
        Reader::DayMealsAcross => match across::header_row(&grid) {
            Some(h) => across::read(&grid, h, ask),
            None => rows::read(grid, &days, layout, ask),
        },
        _ => rows::read(grid, &days, layout, ask),
    };
    read.explain.reader = format!("{}: {why}", reader.name());
    read
}
