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

/// The cells of one group: each cell with the meals of the row (or column) it stands in.
pub(super) type Wanted = (String, Vec<(usize, Vec<Meal>)>);

/// Add `content` to the group `key` of `wanted` (a new group at the end if there is none
/// yet), each cell once: rows of one corner label gather into one group. `meals` are the
/// meals of the row the cells stand in (lines before any in-cell meal label are theirs).
pub(super) fn want(wanted: &mut Vec<Wanted>, key: String, content: Vec<usize>, meals: &[Meal]) {
    let content = content.into_iter().map(|id| (id, meals.to_vec()));
    match wanted.iter_mut().find(|(k, _)| *k == key) {
        Some((_, cells)) => {
            for (id, meals) in content {
                if !cells.iter().any(|(seen, _)| *seen == id) {
                    cells.push((id, meals));
                }
            }
        }
        None => wanted.push((key, content.collect())),
    }
}

/// A cell's lines split at its in-cell meal labels (`[조식]` … `[중식]` …), each part with the
/// meals it is for; `None` when the cell has no such label. Lines before the first label
/// belong to the row's meals that no label in the cell names (all of them if labels name
/// every one); separator lines (`------`) at the edges of a part are dropped.
pub(super) fn sections(
    lines: &[String],
    row_meals: &[Meal],
) -> Option<Vec<(Vec<Meal>, Vec<String>)>> {
    let first = lines
        .iter()
        .position(|l| labels::section_meals(l).is_some())?;
    let marks: Vec<Option<Vec<Meal>>> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i < first {
                None
            } else {
                labels::section_meals(l)
            }
        })
        .collect();
    let labelled: Vec<Meal> = marks.iter().flatten().flatten().copied().collect();
    let unlabelled: Vec<Meal> = row_meals
        .iter()
        .copied()
        .filter(|m| !labelled.contains(m))
        .collect();
    let mut parts: Vec<(Vec<Meal>, Vec<String>)> = vec![(
        if unlabelled.is_empty() {
            row_meals.to_vec()
        } else {
            unlabelled
        },
        Vec::new(),
    )];
    for (line, mark) in lines.iter().zip(marks) {
        match mark {
            Some(meals) => parts.push((meals, Vec::new())),
            None => parts
                .last_mut()
                .expect("one part at least")
                .1
                .push(line.clone()),
        }
    }
    let is_separator = |l: &String| !l.chars().any(char::is_alphanumeric);
    for (_, part) in &mut parts {
        while part.last().is_some_and(is_separator) {
            part.pop();
        }
        let lead = part.iter().take_while(|l| is_separator(l)).count();
        part.drain(..lead);
    }
    Some(parts)
}

/// The meals a cell's in-cell labels name (none for a cell without them).
pub(super) fn section_meals_of(grid: &Grid, id: usize) -> Vec<Meal> {
    grid.cells[id]
        .lines
        .iter()
        .filter_map(|l| labels::section_meals(l))
        .flatten()
        .collect()
}

/// Groups with dishes, and (label, notice) of the closed ones.
pub(super) type Gathered = (Vec<Group>, Vec<(String, String)>);

/// The `meal` dishes of each group in page order (a cell split by in-cell meal labels gives
/// only its part for `meal`, never the labels), closure notices kept apart (a closure marker,
/// or a public holiday's name alone), the source's `exclude` applied. A cell that is nothing
/// but a meal word (a label read as a dish) is returned as `Err` with its text: the reader
/// cannot be sure of the meal.
pub(super) fn gather(grid: &Grid, wanted: Vec<Wanted>, ask: &Ask<'_>) -> Result<Gathered, String> {
    let rule = ask.rule;
    let holiday = crate::holiday::name(ask.date);
    let mut groups = Vec::new();
    let mut closed = Vec::new();
    for (label, cells) in wanted {
        let mut dishes = Vec::new();
        for (id, row_meals) in cells {
            let mut lines: Vec<String> = grid.cells[id]
                .lines
                .iter()
                .filter(|line| !rule.exclude.iter().any(|re| re.is_match(line)))
                .cloned()
                .collect();
            if let Some(parts) = sections(&lines, &row_meals) {
                lines = parts
                    .into_iter()
                    .filter(|(meals, _)| meals.contains(&ask.meal))
                    .flat_map(|(_, lines)| lines)
                    .collect();
            }
            if lines.is_empty() {
                continue;
            }
            let text = lines.join(" ");
            if labels::corner_of(&text).is_empty() {
                return Err(text);
            }
            if labels::is_closed(&text, &rule.closed_markers)
                || labels::is_holiday_notice(&text, holiday)
            {
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
    pub wanted: Vec<Wanted>,
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
    let (groups, closed) = match gather(grid, wanted, ask) {
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
