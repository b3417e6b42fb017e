//! What every table reader shares, below the readers and above the grid: the question a
//! reader is asked ([`Ask`]), what it found ([`Found`]), and the common end of a reading
//! ([`finish_read`]: the dishes of each group gathered, closure notices kept apart, the
//! source's `exclude` applied, the result summed up for `--explain`).
//!
//! Pure: no I/O.

use chrono::NaiveDate;

use super::dom::Context;
use super::explain::TableExplain;
use super::grid::{Grid, Status, TableRead, count};
use super::labels;
use super::{Group, Rule};
use crate::Meal;

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

/// Longest cell text counted as a meal label.
const MAX_MEAL_LABEL_CHARS: usize = 30;

/// Whether a cell's text is a short label with a meal word standing as a word of its own
/// (`중식`, `1코너 중식 (앞쪽)`, `중·석식`), not inside a sentence (`석식은 학생식당 이용`).
pub(super) fn is_meal_label(text: &str) -> bool {
    text.chars().count() <= MAX_MEAL_LABEL_CHARS
        && !labels::label_meals(text).is_empty()
        && labels::corner_of(text) != text
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
