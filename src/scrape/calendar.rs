//! The month-calendar reader: weekday columns (`일요일` … `토요일`), one cell per day whose
//! first line is its day number, meals marked inside the cell (`[조식]`, `[중식]`, `[석식]`).
//! School meal pages, dormitories and company cafeterias publish their month this way.
//!
//! The cells give day numbers only: the month and year come from what the page states (its
//! caption, a heading or short line before the table, the selected year/month options, the
//! title; see `dom::stated_months`) or, for a source whose URL asks for the date's own page
//! (`undated = "today"`), the date's month — and each is checked against the weekday columns:
//! every numbered day must stand under its own weekday, so the 1st sits where it belongs and
//! the month's length fits. A stated year that does not fit is tried one year either side (a
//! school year's label); a month that fits nowhere is not used. The day number and the meal
//! labels are never dishes. A day holding only its number, on a calendar whose other days hold
//! menus, is closed (a holiday or vacation); a day with some meals but not the asked one
//! serves none of it.
//!
//! Pure: works on a laid-out `Grid` and the page's stated months, no I/O.

use chrono::{Datelike, NaiveDate, Weekday};

use super::Group;
use super::dom::StatedMonth;
use super::explain::TableExplain;
use super::grid::{Grid, Status, TableRead, single_meal};
use super::labels::{self, DayLabel};
use super::reading::{Ask, sections};
use super::{UNDATED_HINT, Undated};
use crate::Meal;

/// Fewest numbered day cells (in at least two rows) that make a calendar.
const MIN_DAYS: usize = 7;

/// A table laid out as a month calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    /// The row of weekday labels.
    pub header: usize,
    /// The month's days in reading order: (row, column's weekday, cell, day number).
    pub days: Vec<(usize, Weekday, usize, u32)>,
    /// Rows holding numbered days.
    pub rows: usize,
}

/// The day number a cell starts with (`1`, `12`, `3일`), if it does.
pub(super) fn day_number(grid: &Grid, id: usize) -> Option<u32> {
    let first = grid.cells[id].lines.first()?;
    let digits = first.strip_suffix('일').unwrap_or(first).trim();
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| (1..=31).contains(n))
}

/// Whether the table under the weekday row `h` is a month: cells starting with day numbers
/// in at least two rows, running 1, 2, 3 … in reading order (days of the months around it,
/// before the 1st or after the last, are left out).
pub(super) fn shape(grid: &Grid, days: &[Option<DayLabel>], h: usize) -> Option<Shape> {
    let mut columns: Vec<(usize, Weekday)> = Vec::new();
    for c in 0..grid.width {
        let label = grid.slots[h][c].and_then(|id| days[id]);
        if let Some(DayLabel {
            date: None,
            weekday: Some(day),
        }) = label
            && !columns.iter().any(|(_, seen)| *seen == day)
        {
            columns.push((c, day));
        }
    }
    if columns.len() < 5 {
        return None;
    }
    let mut numbered: Vec<(usize, Weekday, usize, u32)> = Vec::new();
    for r in h + 1..grid.height() {
        for &(c, day) in &columns {
            if let Some(id) = grid.slots[r][c]
                && !numbered.iter().any(|n| n.2 == id)
                && let Some(n) = day_number(grid, id)
            {
                numbered.push((r, day, id, n));
            }
        }
    }
    let start = numbered.iter().position(|n| n.3 == 1).unwrap_or(0);
    let mut run: Vec<(usize, Weekday, usize, u32)> = Vec::new();
    for n in numbered.into_iter().skip(start) {
        if run.last().is_some_and(|last| n.3 <= last.3) {
            break;
        }
        run.push(n);
    }
    let mut rows: Vec<usize> = run.iter().map(|n| n.0).collect();
    rows.dedup();
    (run.len() >= MIN_DAYS && rows.len() >= 2).then_some(Shape {
        header: h,
        days: run,
        rows: rows.len(),
    })
}

/// Whether every numbered day of the calendar stands under its weekday in `year`-`month`.
fn fits(shape: &Shape, year: i32, month: u32) -> bool {
    shape.days.iter().all(|&(_, day, _, n)| {
        NaiveDate::from_ymd_opt(year, month, n).is_some_and(|d| d.weekday() == day)
    })
}

/// The month the calendar shows: the first stated month that fits its weekday columns (a
/// stated year is tried, then one year after and before; a month without a year is tried
/// in the years the page selects, then around the date asked), else the date's own month
/// for a source that trusts the page to be the date's. `Err` says why none fits.
fn settle(shape: &Shape, ask: &Ask<'_>) -> Result<(i32, u32, String), String> {
    let stated = &ask.context.months;
    let target = ask.date;
    let selected_years: Vec<i32> = stated.iter().filter_map(|s| s.year).collect();
    let mut tried: Vec<String> = Vec::new();
    for StatedMonth {
        year,
        month,
        source,
    } in stated
    {
        let years: Vec<i32> = match year {
            Some(y) => vec![*y, y + 1, y - 1],
            None => selected_years
                .iter()
                .copied()
                .chain([target.year(), target.year() - 1, target.year() + 1])
                .collect(),
        };
        if let Some(&y) = years.iter().find(|&&y| fits(shape, y, *month)) {
            let why = match year {
                Some(written) if *written != y => format!(
                    "from {source}: {written}-{month:02} does not fit the weekday columns, {y}-{month:02} does"
                ),
                _ => format!("from {source}; its days fit the weekday columns"),
            };
            return Ok((y, *month, why));
        }
        tried.push(source.clone());
    }
    if ask.rule.undated == Undated::Today && fits(shape, target.year(), target.month()) {
        return Ok((
            target.year(),
            target.month(),
            "the month of the date asked (the source reads the page as the date's own); its days fit the weekday columns".into(),
        ));
    }
    let first = shape.days.first().map(|&(_, day, _, n)| (n, day));
    let under = first
        .map(|(n, day)| format!(" (day {n} stands under {})", labels::weekday_korean(day)))
        .unwrap_or_default();
    if !tried.is_empty() {
        return Err(format!(
            "no month the page states fits its calendar's weekday columns{under}: {}",
            tried.join(", ")
        ));
    }
    // A hint only where following it reads one day's menu: the date's month fits.
    let hint = if fits(shape, target.year(), target.month()) {
        format!("; {UNDATED_HINT}")
    } else {
        String::new()
    };
    Err(format!(
        "the page states no month for its calendar{under}{hint}"
    ))
}

/// Read a month calendar for the asked date and meal.
pub(super) fn read(grid: &Grid, shape: &Shape, ask: &Ask<'_>) -> TableRead {
    let Ask {
        index, date, meal, ..
    } = *ask;
    let mut explain = TableExplain {
        layout: format!(
            "a month calendar: weekdays across row {}, {} days in {} rows",
            shape.header + 1,
            shape.days.len(),
            shape.rows
        ),
        header: (0..grid.width)
            .filter_map(|c| grid.slots[shape.header][c])
            .map(|id| grid.text(id))
            .collect(),
        ..ask.explain(grid)
    };
    explain.header.dedup();
    let end = |mut explain: TableExplain, status: Status, why: String| {
        explain.result = why;
        TableRead {
            status,
            ..TableRead::empty(explain)
        }
    };
    let (year, month, why) = match settle(shape, ask) {
        Ok(settled) => settled,
        Err(why) => {
            let status = if why.contains("states no month") {
                Status::WrongDate(why.clone())
            } else {
                Status::Missing(format!("table {index}: {why}"))
            };
            return end(explain, status, why);
        }
    };
    explain.choice = Some(format!("month {year}-{month:02} {why}"));
    if (date.year(), date.month()) != (year, month) {
        let why = format!("the calendar shows {year}-{month:02}, not {date}");
        return end(explain, Status::WrongDate(why.clone()), why);
    }
    // What the calendar serves on any day: its labelled meals, or the one meal of a calendar
    // without labels (the heading's, else the source's `unlabeled`).
    let plain = ask
        .context
        .heading
        .as_deref()
        .and_then(single_meal)
        .unwrap_or(ask.rule.unlabeled);
    let dishes_of = |id: usize| -> Vec<String> {
        grid.cells[id]
            .lines
            .iter()
            .skip(1)
            .filter(|line| !ask.rule.exclude.iter().any(|re| re.is_match(line)))
            .cloned()
            .collect()
    };
    let mut meals: Vec<Meal> = Vec::new();
    let mut menu_days = 0;
    for &(_, _, id, _) in &shape.days {
        let lines = dishes_of(id);
        if lines.is_empty() {
            continue;
        }
        menu_days += 1;
        match sections(&lines, &[plain]) {
            Some(parts) => meals.extend(
                parts
                    .iter()
                    .filter(|(_, lines)| !lines.is_empty())
                    .flat_map(|(m, _)| m.iter().copied()),
            ),
            None => meals.push(plain),
        }
    }
    meals.sort();
    meals.dedup();
    let Some(&(r, _, id, _)) = shape.days.iter().find(|d| d.3 == date.day()) else {
        let why = format!(
            "table {index}: the calendar has no cell for day {}",
            date.day()
        );
        return end(explain, Status::Missing(why.clone()), why);
    };
    explain.choice = Some(format!(
        "{}; day {} in row {}",
        explain.choice.take().unwrap_or_default(),
        date.day(),
        r + 1
    ));
    let rows = vec![format!("{year}-{month:02} calendar")];
    let read =
        |explain: TableExplain, groups: Vec<Group>, closed: Vec<(String, String)>| TableRead {
            groups,
            closed,
            status: Status::Read {
                meal_rows: 1,
                rows: rows.clone(),
            },
            meals: meals.clone(),
            explain,
        };
    if !meals.contains(&meal) {
        let why = format!("the calendar has no {meal} on any day");
        explain.result = why;
        return TableRead {
            status: Status::Read {
                meal_rows: 0,
                rows: rows.clone(),
            },
            meals: meals.clone(),
            ..TableRead::empty(explain)
        };
    }
    let lines = dishes_of(id);
    let holiday = crate::holiday::name(date);
    if lines.is_empty() {
        if menu_days == 0 {
            let why = format!("day {} holds no menu, nor does any other day", date.day());
            return end(explain, Status::Read { meal_rows: 1, rows }, why);
        }
        let notice = holiday.unwrap_or("식단 없음").to_string();
        explain.result = format!(
            "day {} holds only its number: closed ({notice})",
            date.day()
        );
        return read(explain, Vec::new(), vec![(String::new(), notice)]);
    }
    // A day whose whole text is a closure (`휴무`, `개교기념일`, `삼일절`) serves no meal.
    let whole = lines.join(" ");
    if labels::is_closed(&whole, &ask.rule.closed_markers)
        || labels::is_holiday_notice(&whole, holiday)
    {
        explain.result = format!("day {} is closed: {whole}", date.day());
        return read(explain, Vec::new(), vec![(String::new(), whole)]);
    }
    let mine: Vec<String> = match sections(&lines, &[plain]) {
        Some(parts) => parts
            .into_iter()
            .filter(|(m, _)| m.contains(&meal))
            .flat_map(|(_, lines)| lines)
            .collect(),
        None if plain == meal => lines,
        None => Vec::new(),
    };
    let text = mine.join(" ");
    if mine.is_empty() {
        let notice = format!("{} 없음", meal_korean(meal));
        explain.result = format!("day {} has no {meal}: closed ({notice})", date.day());
        return read(explain, Vec::new(), vec![(String::new(), notice)]);
    }
    if labels::is_closed(&text, &ask.rule.closed_markers)
        || labels::is_holiday_notice(&text, holiday)
    {
        explain.result = format!("day {} is closed: {text}", date.day());
        return read(explain, Vec::new(), vec![(String::new(), text)]);
    }
    explain.result = format!("day {}: {} lines for {meal}", date.day(), mine.len());
    read(
        explain,
        vec![Group {
            label: String::new(),
            dishes: mine,
        }],
        Vec::new(),
    )
}

/// The Korean word of a meal, for a closure notice sent to recipients.
fn meal_korean(meal: Meal) -> &'static str {
    match meal {
        Meal::Breakfast => "조식",
        Meal::Lunch => "중식",
        Meal::Dinner => "석식",
    }
}
