//! The rows reader: week grids, date-per-row tables, one-day tables with meals down the rows
//! and week grids with section rows — one walk that differs only in where the days are.
//!
//! Reading goes: find where the days are (a header row of date/weekday labels, a column of
//! them — handled by transposing — or none: a one-day table), pick the date's column (by date
//! label, else by weekday after checking the page's stated week), then walk the rows below
//! the header: full-width rows start a restaurant section, header cells left of the days give
//! the meal and the corner label, and rows with the same label are grouped.
//!
//! Pure: works on a laid-out `Grid`, no I/O.

use chrono::{Datelike, NaiveDate};

use super::explain::{RowSeen, TableExplain};
use super::grid::{Grid, Layout, Status, TableRead, single_meal};
use super::labels::{self, DayLabel};
use super::reading::{Ask, Found, Wanted, finish_read, section_meals_of, want};
use crate::Meal;

/// Most rows listed in an explanation, so `--explain` on a huge table stays readable.
const MAX_EXPLAINED_ROWS: usize = 200;

/// Read one table for `date` and `meal`: the week-grid, date-per-row, day-view (meals down
/// the rows) and section-row readers, which differ only in where the days are (`layout`).
/// `index` is its 1-based position on the page, `days` the day label of each cell.
pub(super) fn read(
    grid: Grid,
    days: &[Option<DayLabel>],
    layout: Layout,
    ask: &Ask<'_>,
) -> TableRead {
    let Ask {
        index,
        context,
        rule,
        date,
        meal,
    } = *ask;
    let mut explain = ask.explain(&grid);
    let missing = |explain: TableExplain, why: String| TableRead {
        status: Status::Missing(why.clone()),
        ..TableRead::empty(TableExplain {
            result: why,
            ..explain
        })
    };
    if grid.width == 0 {
        return missing(explain, format!("table {index} has no cells"));
    }
    let (grid, noun) = match layout {
        Layout::Rows(_) => (grid.transpose(), "row"),
        _ => (grid, "column"),
    };
    let wrong_date = |explain: TableExplain, why: String| TableRead {
        status: Status::WrongDate(why.clone()),
        ..TableRead::empty(TableExplain {
            result: why,
            ..explain
        })
    };
    let stated_excludes = context
        .stated
        .as_ref()
        .filter(|s| !s.contains(date))
        .map(|s| s.excludes(date));

    // Header, the date's column(s), the label columns and where the body starts.
    let (targets, label_columns, body_start) = match layout {
        Layout::OneDay => {
            explain.layout =
                "no date or weekday labels: one day's table, dishes in the last column".into();
            if let Some(why) = stated_excludes {
                return wrong_date(explain, why);
            }
            let last = grid.width - 1;
            explain.choice = Some(format!("column {}: the last one", last + 1));
            // Leading all-<th> rows are the header ("구분 | 메뉴").
            let all: Vec<usize> = (0..grid.width).collect();
            let body_start = (0..grid.height())
                .find(|&r| {
                    !grid
                        .cells_at(r, &all)
                        .iter()
                        .all(|&id| grid.cells[id].is_header)
                })
                .unwrap_or(grid.height());
            (vec![last], (0..last).collect::<Vec<_>>(), body_start)
        }
        Layout::Columns(h) | Layout::Rows(h) => {
            explain.layout = match layout {
                Layout::Rows(_) => format!(
                    "dates down column {}: each row is a day, read across",
                    h + 1
                ),
                _ => format!("days across columns, header in row {}", h + 1),
            };
            let all: Vec<usize> = (0..grid.width).collect();
            explain.header = grid
                .cells_at(h, &all)
                .into_iter()
                .map(|id| grid.text(id))
                .collect();
            let day_at = |c: usize| grid.slots[h][c].and_then(|id| days[id]);
            let day_columns: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&c| day_at(c).is_some())
                .collect();
            let dated: Vec<NaiveDate> = day_columns
                .iter()
                .filter_map(|&c| day_at(c).and_then(|d| d.date))
                .collect();
            let targets: Vec<usize>;
            if !dated.is_empty() {
                targets = day_columns
                    .iter()
                    .copied()
                    .filter(|&c| day_at(c).and_then(|d| d.date) == Some(date))
                    .collect();
                if targets.is_empty() {
                    // The labels as written: a year the page does not state is not printed.
                    let written: Vec<(NaiveDate, String)> = day_columns
                        .iter()
                        .filter_map(|&c| {
                            let day = day_at(c)?.date?;
                            Some((day, grid.text(grid.slots[h][c]?)))
                        })
                        .collect();
                    let first = written.iter().min_by_key(|(d, _)| *d);
                    let last = written.iter().max_by_key(|(d, _)| *d);
                    let why = match (first, last) {
                        (Some((_, first)), Some((_, last))) => format!(
                            "the table's dates run from \"{first}\" to \"{last}\", not {date}"
                        ),
                        _ => format!("the table does not have {date}"),
                    };
                    return wrong_date(explain, why);
                }
                explain.choice = Some(format!(
                    "{noun} {} \"{}\": its date label is {date}",
                    targets[0] + 1,
                    grid.slots[h][targets[0]]
                        .map(|id| grid.text(id))
                        .unwrap_or_default()
                ));
            } else {
                if let Some(why) = stated_excludes {
                    return wrong_date(explain, why);
                }
                let weekday = date.weekday();
                targets = day_columns
                    .iter()
                    .copied()
                    .filter(|&c| day_at(c).and_then(|d| d.weekday) == Some(weekday))
                    .collect();
                if targets.is_empty() {
                    let names: Vec<String> = grid
                        .cells_at(h, &day_columns)
                        .into_iter()
                        .map(|id| grid.text(id))
                        .collect();
                    return missing(
                        explain,
                        format!(
                            "table {index} has no {noun} for {} ({date}): its days are {}",
                            labels::weekday_korean(weekday),
                            names.join(", ")
                        ),
                    );
                }
                explain.choice = Some(format!(
                    "{noun} {} \"{}\": weekday {} of {date} (no date labels in the header)",
                    targets[0] + 1,
                    grid.slots[h][targets[0]]
                        .map(|id| grid.text(id))
                        .unwrap_or_default(),
                    labels::weekday_korean(weekday)
                ));
            }
            let first_day = day_columns.first().copied().unwrap_or(0);
            let label_columns: Vec<usize> = (0..first_day).collect();
            (targets, label_columns, h + 1)
        }
    };

    // The rows.
    let heading_meal = context.heading.as_deref().and_then(single_meal);
    let heading_label = context.heading.clone().filter(|h| !labels::is_meal_word(h));
    let mut table_meals: Vec<Meal> = Vec::new();
    let mut section: Option<String> = None;
    let mut section_meal: Option<Meal> = None;
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut meal_rows = 0;
    let mut row_names = Vec::new();
    let mut seen = Vec::new();
    for r in body_start..grid.height() {
        let row = &grid.slots[r];
        if row.iter().all(Option::is_none) {
            continue;
        }
        if grid.width > 1
            && let Some(id) = row[0]
            && row.iter().all(|s| *s == Some(id))
        {
            // A full-width row: a restaurant (or meal) section, unless it is the rest of a
            // tall one already seen.
            if r > body_start && grid.slots[r - 1][0] == Some(id) {
                continue;
            }
            let text = grid.text(id);
            if text.is_empty() {
                continue;
            }
            section_meal = single_meal(&text);
            if !labels::is_meal_word(&text) {
                section = Some(text.clone());
            }
            seen.push(RowSeen::Section {
                row: r + 1,
                label: text,
            });
            continue;
        }
        if targets
            .iter()
            .all(|&c| row[c].is_some_and(|id| days[id].is_some()))
        {
            seen.push(RowSeen::Header { row: r + 1 });
            continue;
        }
        let label_ids = grid.cells_at(r, &label_columns);
        let mut names: Vec<String> = label_ids
            .iter()
            .map(|&id| grid.label(id))
            .filter(|l| !l.is_empty())
            .collect();
        names.dedup();
        if let Some(name) = names.iter().find(|n| labels::is_not_dishes(n)) {
            seen.push(RowSeen::NotDishes {
                row: r + 1,
                label: name.clone(),
            });
            continue;
        }
        let (row_meals, by) = names
            .iter()
            .map(|l| labels::label_meals(l))
            .find(|m| !m.is_empty())
            .map(|m| (m, "label"))
            .or(section_meal.map(|m| (vec![m], "section")))
            .or(heading_meal.map(|m| (vec![m], "heading")))
            .unwrap_or((vec![rule.unlabeled], "unlabeled"));
        table_meals.extend(&row_meals);
        let content: Vec<usize> = grid
            .cells_at(r, &targets)
            .into_iter()
            .filter(|id| !label_ids.contains(id))
            .collect();
        let in_cell = content
            .iter()
            .any(|&id| section_meals_of(&grid, id).contains(&meal));
        let row_meal = if row_meals.contains(&meal) || in_cell {
            meal
        } else {
            row_meals[0]
        };
        let label = names.join(" > ");
        row_names.push(if label.is_empty() {
            "(no label)".to_string()
        } else {
            label.clone()
        });
        seen.push(RowSeen::Row {
            row: r + 1,
            label,
            meal: row_meal,
            by,
            chosen: row_meal == meal,
            lines: content.iter().map(|&id| grid.cells[id].lines.len()).sum(),
        });
        if row_meal != meal {
            continue;
        }
        meal_rows += 1;
        let key = heading_label
            .iter()
            .chain(section.iter())
            .cloned()
            .chain(names.iter().map(|n| labels::corner_of(n)))
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" > ");
        want(&mut wanted, key, content, &row_meals);
    }
    seen.truncate(MAX_EXPLAINED_ROWS);
    explain.rows = seen;

    // The dishes of each group; closure notices kept apart.
    // Meals labelled inside cells (`[조식]` … `[중식]` …) are the table's too.
    for id in 0..grid.cells.len() {
        table_meals.extend(section_meals_of(&grid, id));
    }
    table_meals.sort();
    table_meals.dedup();
    let found = Found {
        wanted,
        meal_rows,
        rows: row_names,
        meals: table_meals,
    };
    finish_read(
        &grid,
        ask,
        explain,
        found,
        "row",
        "",
        &format!(" for {date}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Rule;
    use crate::scrape::dom::Context;
    use crate::scrape::grid::layout_of;
    use scraper::{Html, Selector};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn grid(html: &str) -> Grid {
        let doc = Html::parse_document(html);
        let selector = Selector::parse("table").expect("static selector");
        Grid::build(
            doc.select(&selector)
                .next()
                .expect("a table in the test page"),
        )
    }

    fn read_html(html: &str, date: NaiveDate, meal: Meal) -> TableRead {
        let grid = grid(html);
        let days: Vec<Option<DayLabel>> = grid
            .cells
            .iter()
            .map(|c| labels::day_label(&c.lines.join(" "), date))
            .collect();
        let layout = layout_of(&grid, &days);
        read(
            grid,
            &days,
            layout,
            &Ask {
                index: 1,
                context: &Context::default(),
                rule: &Rule::table("table"),
                date,
                meal,
            },
        )
    }

    fn groups(read: &TableRead) -> Vec<(&str, Vec<&str>)> {
        read.groups
            .iter()
            .map(|g| {
                (
                    g.label.as_str(),
                    g.dishes.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_week_grid_is_read_by_weekday_with_meal_labels_broken_by_br() {
        let html = "<table><tr><th colspan=2>식구분</th><th>월</th><th>화</th></tr>\
                    <tr><th>중<br><br>식</th><th>백반</th><td>국<br>밥</td><td>면</td></tr>\
                    <tr><th>석<br>식</th><th>백반</th><td>죽</td><td>빵</td></tr></table>";
        let tuesday = read_html(html, d(2023, 4, 11), Meal::Lunch);
        assert_eq!(groups(&tuesday), [("백반", vec!["면"])]);
        let monday_dinner = read_html(html, d(2023, 4, 10), Meal::Dinner);
        assert_eq!(groups(&monday_dinner), [("백반", vec!["죽"])]);
        assert!(
            monday_dinner
                .explain
                .choice
                .as_deref()
                .is_some_and(|c| c.contains("weekday 월"))
        );
    }

    #[test]
    fn a_date_label_beats_the_weekday_and_a_missing_date_is_the_wrong_date() {
        let html = "<table><tr><th>구분</th><th>월(4/10)</th><th>화(4/11)</th></tr>\
                    <tr><th>중식</th><td>국</td><td>면</td></tr></table>";
        assert_eq!(
            groups(&read_html(html, d(2023, 4, 11), Meal::Lunch)),
            [("", vec!["면"])]
        );
        let next_week = read_html(html, d(2023, 4, 17), Meal::Lunch);
        assert!(
            matches!(next_week.status, Status::WrongDate(ref why) if why.contains("from \"월(4/10)\" to \"화(4/11)\", not 2023-04-17"))
        );
    }

    #[test]
    fn a_date_per_row_table_is_read_across_the_dates_row() {
        let html = "<table><tr><th>날짜</th><th>요일</th><th>조식</th><th>중식</th></tr>\
                    <tr><td>2023-04-10</td><td>월</td><td>토스트</td><td>비빔밥</td></tr>\
                    <tr><td>2023-04-11</td><td>화</td><td>죽</td><td>라면</td></tr></table>";
        assert_eq!(
            groups(&read_html(html, d(2023, 4, 11), Meal::Lunch)),
            [("", vec!["라면"])]
        );
        assert_eq!(
            groups(&read_html(html, d(2023, 4, 10), Meal::Breakfast)),
            [("", vec!["토스트"])]
        );
    }

    #[test]
    fn full_width_rows_start_sections_and_rows_without_meal_words_use_the_unlabeled_meal() {
        let html = "<table><tr><td colspan=2>코너</td><td>월 4월 10일</td></tr>\
                    <tr><td colspan=3>1층식당</td></tr>\
                    <tr><td rowspan=2>집<br>밥</td><td>중식</td><td>국</td></tr>\
                    <tr><td>석식</td><td>죽</td></tr>\
                    <tr><td colspan=3>2층식당</td></tr>\
                    <tr><td colspan=2 rowspan=2>메<br>뉴</td><td>솥밥</td></tr>\
                    <tr><td>누들</td></tr></table>";
        let lunch = read_html(html, d(2023, 4, 10), Meal::Lunch);
        assert_eq!(
            groups(&lunch),
            [
                ("1층식당 > 집밥", vec!["국"]),
                ("2층식당 > 메뉴", vec!["솥밥", "누들"])
            ]
        );
    }

    #[test]
    fn a_one_day_table_reads_its_last_column() {
        let html = "<table><tr><th>구분</th><th>메뉴</th></tr><tr><th>중식</th><td>김밥</td></tr><tr><th>석식</th><td>라면</td></tr></table>";
        let dinner = read_html(html, d(2023, 4, 10), Meal::Dinner);
        assert_eq!(groups(&dinner), [("", vec!["라면"])]);
    }

    #[test]
    fn a_single_column_table_is_one_unlabeled_days_dishes() {
        let lunch = read_html(
            "<table><tr><td>김밥<br>라면</td></tr></table>",
            d(2023, 4, 10),
            Meal::Lunch,
        );
        assert_eq!(groups(&lunch), [("", vec!["김밥", "라면"])]);
    }

    #[test]
    fn a_weekday_the_grid_lacks_is_a_missing_column() {
        let html = "<table><tr><th>구분</th><th>월</th><th>화</th></tr><tr><th>중식</th><td>a</td><td>b</td></tr></table>";
        let saturday = read_html(html, d(2023, 4, 15), Meal::Lunch);
        assert!(
            matches!(saturday.status, Status::Missing(ref why) if why.contains("no column for 토"))
        );
    }

    #[test]
    fn closed_cells_are_kept_apart_from_dishes() {
        let html = "<table><tr><th colspan=2>구분</th><th>월</th></tr>\
                    <tr><th rowspan=2>중식</th><th>A</th><td>국밥</td></tr>\
                    <tr><th>B</th><td>운영없음</td></tr></table>";
        let lunch = read_html(html, d(2023, 4, 10), Meal::Lunch);
        assert_eq!(groups(&lunch), [("A", vec!["국밥"])]);
        assert_eq!(lunch.closed, [("B".to_string(), "운영없음".to_string())]);
    }
}
