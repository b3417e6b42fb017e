//! A table as a rowspan/colspan-aware grid, where its days are ([`Layout`]), and what reading
//! it gives ([`TableRead`], [`Status`]): the geometry every reader works on.
//!
//! Pure: works on a parsed table, no I/O. Line splitting is `dom`'s, text meaning `labels`'.

use scraper::ElementRef;

use super::Group;
use super::dom;
use super::explain::TableExplain;
use super::labels::{self, DayLabel};
use crate::Meal;

/// Caps that keep a hostile `rowspan=65534 colspan=1000` page from eating memory: real menu
/// tables are far smaller.
const MAX_ROWS: usize = 4096;
const MAX_COLUMNS: usize = 256;
const MAX_SLOT_WRITES: usize = 1 << 22;

/// One table cell: its lines and whether it was a `<th>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cell {
    pub lines: Vec<String>,
    pub is_header: bool,
}

/// A table laid out as rows × columns, every slot naming the cell that covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grid {
    pub cells: Vec<Cell>,
    pub slots: Vec<Vec<Option<usize>>>,
    pub width: usize,
}

/// A `rowspan`/`colspan` value as browsers read it: leading digits, anything else 1.
fn span(value: Option<&str>) -> usize {
    let digits: String = value
        .unwrap_or("")
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(6)
        .collect();
    digits.parse().unwrap_or(1)
}

impl Grid {
    /// Lay a table out: each cell fills every slot its rowspan/colspan covers (`rowspan=0`
    /// reaches the last row), later cells flow around earlier ones.
    pub fn build(table: ElementRef<'_>) -> Grid {
        let rows = dom::rows(table);
        let height = rows.len().min(MAX_ROWS);
        let mut slots: Vec<Vec<Option<usize>>> = vec![Vec::new(); height];
        let mut cells = Vec::new();
        let mut budget = MAX_SLOT_WRITES;
        for (r, tr) in rows.iter().take(height).enumerate() {
            let mut c = 0;
            for td in tr
                .child_elements()
                .filter(|e| matches!(e.value().name(), "td" | "th"))
            {
                while slots[r].get(c).is_some_and(Option::is_some) {
                    c += 1;
                }
                if c >= MAX_COLUMNS {
                    break;
                }
                let colspan = span(td.value().attr("colspan")).clamp(1, MAX_COLUMNS);
                let rowspan = match span(td.value().attr("rowspan")) {
                    0 => height - r,
                    n => n.min(height - r),
                };
                let id = cells.len();
                cells.push(Cell {
                    lines: dom::lines(td, dom::MAX_NODES_PER_CELL),
                    is_header: td.value().name() == "th",
                });
                'fill: for row in &mut slots[r..r + rowspan] {
                    for cc in c..(c + colspan).min(MAX_COLUMNS) {
                        if budget == 0 {
                            break 'fill;
                        }
                        budget -= 1;
                        if row.len() <= cc {
                            row.resize(cc + 1, None);
                        }
                        row[cc].get_or_insert(id);
                    }
                }
                c += colspan;
            }
        }
        let width = slots.iter().map(Vec::len).max().unwrap_or(0);
        for row in &mut slots {
            row.resize(width, None);
        }
        Grid {
            cells,
            slots,
            width,
        }
    }

    pub fn height(&self) -> usize {
        self.slots.len()
    }

    /// Rows become columns: a table with dates down its first column reads like a week grid.
    pub fn transpose(self) -> Grid {
        let height = self.height();
        let slots = (0..self.width)
            .map(|c| (0..height).map(|r| self.slots[r][c]).collect())
            .collect();
        Grid {
            cells: self.cells,
            slots,
            width: height,
        }
    }

    /// A cell's text as a label (vertical labels joined without spaces).
    pub fn label(&self, id: usize) -> String {
        labels::join_label(&self.cells[id].lines)
    }

    /// A cell's text on one line.
    pub fn text(&self, id: usize) -> String {
        self.cells[id].lines.join(" ")
    }

    /// The distinct cells of column `c` in the given rows, in row order.
    pub fn cells_at_rows(&self, rows: &[usize], c: usize) -> Vec<usize> {
        let mut ids = Vec::new();
        for &r in rows {
            if let Some(id) = self.slots[r][c]
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids
    }

    /// The distinct cells of row `r` in the given columns, in column order.
    pub fn cells_at(&self, r: usize, columns: &[usize]) -> Vec<usize> {
        let mut ids = Vec::new();
        for &c in columns {
            if let Some(id) = self.slots[r][c]
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids
    }
}

/// What reading one table for a (date, meal) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableRead {
    pub groups: Vec<Group>,
    /// Groups whose cell for the date was a closure notice: (label, notice).
    pub closed: Vec<(String, String)>,
    pub status: Status,
    /// Every meal the table has a row or column for, on any day (for "this page has no
    /// breakfast"); empty when the table could not be read that far.
    pub meals: Vec<Meal>,
    pub explain: TableExplain,
}

impl TableRead {
    /// Nothing read yet: fill in the status and explanation.
    pub fn empty(explain: TableExplain) -> TableRead {
        TableRead {
            groups: Vec::new(),
            closed: Vec::new(),
            status: Status::Read {
                meal_rows: 0,
                rows: Vec::new(),
            },
            meals: Vec::new(),
            explain,
        }
    }
}

/// Whether the table could be read for the date at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Status {
    /// The date's column was found; this many rows were of the requested meal. `rows` lists
    /// all row labels seen, for a "no lunch row" message.
    Read { meal_rows: usize, rows: Vec<String> },
    /// The table (or the week stated for it) is for other dates.
    WrongDate(String),
    /// Something the reading needs is not there (which, in words).
    Missing(String),
    /// The table was read but the reader cannot place the date and meal with certainty
    /// (a meal label among the dishes): never a menu.
    Uncertain(String),
}

/// Where the days are in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// A header row of day labels (week grids, day views with a date header).
    Columns(usize),
    /// A column of day labels (date-per-row tables); read transposed.
    Rows(usize),
    /// No day labels: the whole table is one day.
    OneDay,
}

/// "1 row", "2 rows".
pub(super) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The one meal a heading or section names, if it names exactly one ("중식 메뉴" yes,
/// "조식/중식/석식 안내" no).
pub(super) fn single_meal(text: &str) -> Option<Meal> {
    match labels::meals_in(text).as_slice() {
        [meal] => Some(*meal),
        _ => None,
    }
}

/// Where the days are: the row or column with the most day-labelled cells (each cell
/// counted where it starts). On a tie a top header row wins: a one-day table with a date
/// header is more common than a one-row date-per-row table.
pub(super) fn layout_of(grid: &Grid, days: &[Option<DayLabel>]) -> Layout {
    let mut by_row = vec![0usize; grid.height()];
    let mut by_column = vec![0usize; grid.width];
    let mut counted = vec![false; grid.cells.len()];
    for (r, row) in grid.slots.iter().enumerate() {
        for (c, slot) in row.iter().enumerate() {
            if let Some(id) = *slot
                && !counted[id]
            {
                counted[id] = true;
                // A dated label counts double: a row of dates under a row of weekday
                // names is the header to read (it can be checked against the date).
                let weight = match days[id] {
                    Some(DayLabel { date: Some(_), .. }) => 2,
                    Some(_) => 1,
                    None => 0,
                };
                by_row[r] += weight;
                by_column[c] += weight;
            }
        }
    }
    let best = |counts: &[usize]| {
        counts.iter().enumerate().fold(
            (0, 0),
            |(bi, bn), (i, &n)| if n > bn { (i, n) } else { (bi, bn) },
        )
    };
    let (row, in_row) = best(&by_row);
    let (column, in_column) = best(&by_column);
    if in_row == 0 && in_column == 0 {
        Layout::OneDay
    } else if in_row > in_column || (in_row == in_column && row == 0) {
        Layout::Columns(row)
    } else {
        Layout::Rows(column)
    }
}

/// Whether row `r` is one cell spanning the whole (wider than one column) table.
pub(super) fn is_full_width(grid: &Grid, r: usize) -> bool {
    let row = &grid.slots[r];
    grid.width > 1 && row[0].is_some() && row.iter().all(|s| *s == row[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    fn grid(html: &str) -> Grid {
        let doc = Html::parse_document(html);
        let selector = Selector::parse("table").expect("static selector");
        Grid::build(
            doc.select(&selector)
                .next()
                .expect("a table in the test page"),
        )
    }

    /// The text of every slot, row by row ("" for an empty slot).
    fn texts(grid: &Grid) -> Vec<Vec<String>> {
        grid.slots
            .iter()
            .map(|row| {
                row.iter()
                    .map(|s| s.map(|id| grid.text(id)).unwrap_or_default())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rowspan_and_colspan_cells_fill_every_slot_they_cover() {
        let g = grid(
            "<table><tr><th rowspan=2>한식</th><th>조식</th><td>a</td><td>b</td></tr>\
             <tr><th>찌개</th><td colspan=2>c</td></tr>\
             <tr><td colspan=2 rowspan=0>메뉴</td><td>d</td></tr><tr><td>e</td></tr></table>",
        );
        assert_eq!(
            texts(&g),
            [
                ["한식", "조식", "a", "b"],
                ["한식", "찌개", "c", "c"],
                ["메뉴", "메뉴", "d", ""],
                ["메뉴", "메뉴", "e", ""],
            ]
        );
    }

    #[test]
    fn absurd_spans_are_capped_instead_of_exhausting_memory() {
        let g = grid(
            "<table><tr><td rowspan=99999 colspan=99999>x</td></tr><tr><td>y</td></tr></table>",
        );
        assert_eq!((g.height(), g.width), (2, MAX_COLUMNS));
        assert!(
            g.slots.iter().flatten().all(|s| *s == Some(0)),
            "the huge cell covers the capped grid"
        );
    }
}
