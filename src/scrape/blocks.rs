//! The date-blocks reader: a date cell (often spanning several rows) down one column, then
//! one row per meal or corner with its label in a body column (`중식`, `석식`,
//! `점심 A메뉴(정식) 6000원`, `천원의아침밥`) and the dishes in the last column. Plain
//! `날짜 | 구분 | 메뉴` lists are the same layout with the date repeated on every row.
//!
//! Pure: works on a laid-out `Grid`, no I/O.

use chrono::{Datelike, NaiveDate};

use super::explain::{RowSeen, TableExplain};
use super::grid::{Grid, Status, TableRead, single_meal};
use super::labels::{self, DayLabel};
use super::reading::{Ask, Found, Wanted, finish_read, is_meal_label, section_meals_of, want};
use crate::Meal;

/// The body column (between the date column `k` and the last one) whose cells in the dated
/// rows are mostly meal labels, if there is one: what makes a table date blocks rather than
/// one row per date.
pub(super) fn label_column(grid: &Grid, days: &[Option<DayLabel>], k: usize) -> Option<usize> {
    let dated: Vec<usize> = date_rows(grid, days, k).iter().map(|(r, _)| *r).collect();
    if dated.is_empty() || grid.width < k + 3 {
        return None;
    }
    (k + 1..grid.width - 1).find(|&c| {
        let ids = grid.cells_at_rows(&dated, c);
        let meals = ids
            .iter()
            .filter(|&&id| is_meal_label(&grid.label(id)))
            .count();
        meals > 0 && meals * 2 >= ids.len()
    })
}

/// The rows whose cell in column `k` labels a day, with that cell.
fn date_rows(grid: &Grid, days: &[Option<DayLabel>], k: usize) -> Vec<(usize, usize)> {
    (0..grid.height())
        .filter_map(|r| {
            grid.slots[r][k]
                .filter(|&id| days[id].is_some())
                .map(|id| (r, id))
        })
        .collect()
}

/// One row of a block: its label cells' names, the cell with its dishes, and its meals.
struct BlockRow {
    names: Vec<String>,
    content: Option<usize>,
    meals: Vec<Meal>,
    by: &'static str,
}

fn block_row(
    grid: &Grid,
    days: &[Option<DayLabel>],
    k: usize,
    r: usize,
    header: &[Option<String>],
    ask: &Ask<'_>,
) -> BlockRow {
    let columns: Vec<usize> = (k + 1..grid.width).collect();
    let date_cell = grid.slots[r][k];
    let ids: Vec<usize> = grid
        .cells_at(r, &columns)
        .into_iter()
        .filter(|id| Some(*id) != date_cell)
        .collect();
    // The dishes are in the last column whose header is not a notes column (`비고`).
    let last = (k + 1..grid.width)
        .rev()
        .find(|&c| {
            !header
                .get(c)
                .and_then(|h| h.as_deref())
                .is_some_and(labels::is_not_dishes)
        })
        .unwrap_or(grid.width - 1);
    let ids: Vec<usize> = ids
        .into_iter()
        .filter(|&id| (k + 1..=last).any(|c| grid.slots[r][c] == Some(id)))
        .collect();
    let content = grid.slots[r][last]
        .filter(|id| Some(*id) != date_cell)
        .or(ids.last().copied());
    let names: Vec<String> = ids
        .iter()
        .filter(|id| Some(**id) != content && days[**id].is_none())
        .map(|&id| grid.label(id))
        .filter(|l| !l.is_empty())
        .collect();
    let from_header = header
        .get(last)
        .and_then(|h| h.as_deref())
        .map(labels::label_meals)
        .filter(|m| !m.is_empty());
    let heading_meal = ask.context.heading.as_deref().and_then(single_meal);
    let (meals, by) = names
        .iter()
        .map(|n| labels::label_meals(n))
        .find(|m| !m.is_empty())
        .map(|m| (m, "label"))
        .or(from_header.map(|m| (m, "header")))
        .or(heading_meal.map(|m| (vec![m], "heading")))
        .unwrap_or((vec![ask.rule.unlabeled], "unlabeled"));
    BlockRow {
        names,
        content,
        meals,
        by,
    }
}

/// Read a date-blocks table (dates down column `k`) for the asked date and meal.
pub(super) fn read(grid: &Grid, days: &[Option<DayLabel>], k: usize, ask: &Ask<'_>) -> TableRead {
    let Ask {
        index,
        context,
        date,
        meal,
        ..
    } = *ask;
    let mut explain = TableExplain {
        layout: format!(
            "dates down column {}, a block of rows per day with the meal in a body column",
            k + 1
        ),
        ..ask.explain(grid)
    };
    let finish = |explain: TableExplain, status: Status| TableRead {
        status,
        ..TableRead::empty(explain)
    };
    let rows = date_rows(grid, days, k);
    let dated: Vec<NaiveDate> = rows
        .iter()
        .filter_map(|(_, id)| days[*id].and_then(|d| d.date))
        .collect();
    let targets: Vec<usize> = if !dated.is_empty() {
        rows.iter()
            .filter(|(_, id)| days[*id].and_then(|d| d.date) == Some(date))
            .map(|(r, _)| *r)
            .collect()
    } else {
        if let Some(stated) = context.stated.as_ref().filter(|s| !s.contains(date)) {
            let why = stated.excludes(date);
            explain.result = why.clone();
            return finish(explain, Status::WrongDate(why));
        }
        rows.iter()
            .filter(|(_, id)| days[*id].and_then(|d| d.weekday) == Some(date.weekday()))
            .map(|(r, _)| *r)
            .collect()
    };
    if targets.is_empty() {
        // The labels as written: a year the page does not state is not printed.
        let written: Vec<(NaiveDate, String)> = rows
            .iter()
            .filter_map(|(_, id)| Some((days[*id]?.date?, grid.text(*id))))
            .collect();
        let first = written.iter().min_by_key(|(d, _)| *d);
        let last = written.iter().max_by_key(|(d, _)| *d);
        let why = match (first, last) {
            (Some((_, first)), Some((_, last))) => {
                format!("the table's dates run from \"{first}\" to \"{last}\", not {date}")
            }
            _ => format!(
                "table {index} has no row for {} ({date})",
                labels::weekday_korean(date.weekday())
            ),
        };
        explain.result = why.clone();
        let status = if dated.is_empty() {
            Status::Missing(why)
        } else {
            Status::WrongDate(why)
        };
        return finish(explain, status);
    }
    explain.choice = Some(format!(
        "row(s) {}: labelled {date}",
        targets
            .iter()
            .map(|r| (r + 1).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // The header: the last row above the first dated row, one label per column.
    let first = rows.first().map(|(r, _)| *r).unwrap_or(0);
    let header: Vec<Option<String>> = match first.checked_sub(1) {
        Some(h) => (0..grid.width)
            .map(|c| grid.slots[h][c].map(|id| grid.label(id)))
            .collect(),
        None => vec![None; grid.width],
    };
    explain.header = header.iter().flatten().cloned().collect();
    explain.header.dedup();

    let mut table_meals: Vec<Meal> = rows
        .iter()
        .flat_map(|(r, _)| block_row(grid, days, k, *r, &header, ask).meals)
        .collect();
    table_meals.sort();
    table_meals.dedup();

    let heading = context.heading.clone().filter(|h| !labels::is_meal_word(h));
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut meal_rows = 0;
    let mut row_names = Vec::new();
    for &r in &targets {
        let row = block_row(grid, days, k, r, &header, ask);
        if let Some(name) = row.names.iter().find(|n| labels::is_not_dishes(n)) {
            explain.rows.push(RowSeen::NotDishes {
                row: r + 1,
                label: name.clone(),
            });
            continue;
        }
        let label = row.names.join(" > ");
        let in_cell = row.content.map(|id| section_meals_of(grid, id));
        table_meals.extend(in_cell.iter().flatten());
        let chosen = row.meals.contains(&meal) || in_cell.is_some_and(|m| m.contains(&meal));
        explain.rows.push(RowSeen::Row {
            row: r + 1,
            label: label.clone(),
            meal: if chosen { meal } else { row.meals[0] },
            by: row.by,
            chosen,
            lines: row.content.map_or(0, |id| grid.cells[id].lines.len()),
        });
        row_names.push(if label.is_empty() {
            "(no label)".to_string()
        } else {
            label
        });
        if !chosen {
            continue;
        }
        meal_rows += 1;
        let key = heading
            .iter()
            .cloned()
            .chain(row.names.iter().map(|n| labels::corner_of(n)))
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" > ");
        let content: Vec<usize> = row.content.into_iter().collect();
        want(&mut wanted, key, content, &row.meals);
    }
    table_meals.sort();
    table_meals.dedup();
    let found = Found {
        wanted,
        meal_rows,
        rows: row_names,
        meals: table_meals,
    };
    let for_date = format!(" for {date}");
    finish_read(grid, ask, explain, found, "row", &for_date, &for_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::dom::Context;
    use crate::scrape::reader::{self, Reader};
    use crate::scrape::{Group, Rule};
    use scraper::{Html, Selector};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn read_html(html: &str, date: NaiveDate, meal: Meal) -> (Reader, TableRead) {
        let doc = Html::parse_document(html);
        let selector = Selector::parse("table").expect("static selector");
        let table = doc.select(&selector).next().expect("a table");
        let sized = reader::size_up(table, date);
        let chosen = sized.reader;
        let rule = Rule::table("table");
        let context = Context::default();
        let ask = Ask {
            index: 1,
            context: &context,
            rule: &rule,
            date,
            meal,
        };
        (chosen, reader::read(sized, &ask))
    }

    fn group(label: &str, dishes: &[&str]) -> Group {
        Group {
            label: label.into(),
            dishes: dishes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_date_spanning_rows_with_meal_labels_in_the_body_is_read_as_date_blocks() {
        let html = "<table><tr><th rowspan=2>월(4/30)</th><th>중식</th><td>국<br>밥</td></tr>\
                    <tr><th>석식</th><td>죽</td></tr>\
                    <tr><th rowspan=2>화(5/1)</th><th>점심 A메뉴(정식) 6000원</th><td>면</td></tr>\
                    <tr><th>천원의아침밥</th><td>빵</td></tr></table>";
        let (reader, monday) = read_html(html, d(2018, 4, 30), Meal::Dinner);
        assert_eq!(reader, Reader::DateBlocks);
        assert_eq!(monday.groups, [group("", &["죽"])]);
        let (_, tuesday) = read_html(html, d(2018, 5, 1), Meal::Lunch);
        assert_eq!(tuesday.groups, [group("A메뉴(정식) 6000원", &["면"])]);
        let (_, breakfast) = read_html(html, d(2018, 5, 1), Meal::Breakfast);
        assert_eq!(breakfast.groups, [group("", &["빵"])]);
        let (_, next_week) = read_html(html, d(2018, 5, 7), Meal::Lunch);
        assert!(matches!(next_week.status, Status::WrongDate(_)));
    }

    #[test]
    fn a_plain_date_meal_menu_list_is_date_blocks_too() {
        let html = "<table><tr><th>날짜</th><th>구분</th><th>메뉴</th></tr>\
                    <tr><td>2024-03-04</td><td>중식</td><td>비빔밥</td></tr>\
                    <tr><td>2024-03-04</td><td>석식</td><td>-</td></tr>\
                    <tr><td>2024-03-05</td><td>중식</td><td>라면</td></tr></table>";
        let (reader, lunch) = read_html(html, d(2024, 3, 5), Meal::Lunch);
        assert_eq!(reader, Reader::DateBlocks);
        assert_eq!(lunch.groups, [group("", &["라면"])]);
        let (_, dinner) = read_html(html, d(2024, 3, 4), Meal::Dinner);
        assert!(dinner.groups.is_empty());
        assert_eq!(dinner.closed, [(String::new(), "-".to_string())]);
    }
}
