//! The one-day reader with meals across the columns: header cells such as `1코너 중식
//! (앞쪽)`, `중·석식` (both meals), `조식` over one or more rows of dishes, often a
//! full-width restaurant name above them and several such tables on one page.
//!
//! Pure: works on a laid-out `Grid`, no I/O. Which day the table is for is decided by the
//! page (`scrape`): the table itself has no day labels.

use super::explain::{RowSeen, TableExplain};
use super::grid::is_full_width;
use super::grid::{Grid, Status, TableRead};
use super::labels;
use super::reading::{Ask, Found, Wanted, finish_read, is_meal_label, section_meals_of, want};
use crate::Meal;

/// The row holding the meal labels, if the meals run across: a row (not the last) with at
/// least two meal-label cells and more of them than any column has.
pub(super) fn header_row(grid: &Grid) -> Option<usize> {
    let height = grid.height();
    if height < 2 || grid.width < 2 {
        return None;
    }
    let all: Vec<usize> = (0..grid.width).collect();
    let rows: Vec<usize> = (0..height).collect();
    let is_label = |id: usize| is_meal_label(&grid.label(id));
    let (best_row, in_row) = (0..height - 1)
        .filter(|&r| !is_full_width(grid, r))
        .map(|r| {
            let n = grid
                .cells_at(r, &all)
                .into_iter()
                .filter(|&id| is_label(id))
                .count();
            (r, n)
        })
        .fold(
            (0, 0),
            |best, (r, n)| if n > best.1 { (r, n) } else { best },
        );
    let in_column = (0..grid.width)
        .map(|c| {
            grid.cells_at_rows(&rows, c)
                .into_iter()
                .filter(|&id| is_label(id))
                .count()
        })
        .max()
        .unwrap_or(0);
    (in_row >= 2 && in_row > in_column).then_some(best_row)
}

/// Read a one-day table whose meal labels are in row `h`.
pub(super) fn read(grid: &Grid, h: usize, ask: &Ask<'_>) -> TableRead {
    let Ask {
        context,
        rule,
        date,
        meal,
        ..
    } = *ask;
    let mut explain = TableExplain {
        layout: format!(
            "one day's table, meal and corner labels across row {}",
            h + 1
        ),
        ..ask.explain(grid)
    };
    if let Some(stated) = context.stated.as_ref().filter(|s| !s.contains(date)) {
        let why = stated.excludes(date);
        explain.result = why.clone();
        return TableRead {
            status: Status::WrongDate(why),
            ..TableRead::empty(explain)
        };
    }
    // A restaurant name in a full-width row above the labels.
    let section = (0..h)
        .rev()
        .filter(|&r| is_full_width(grid, r))
        .filter_map(|r| grid.slots[r][0].map(|id| grid.text(id)))
        .find(|t| !t.is_empty() && !labels::is_meal_word(t));
    let all: Vec<usize> = (0..grid.width).collect();
    let header_ids = grid.cells_at(h, &all);
    explain.header = header_ids.iter().map(|&id| grid.text(id)).collect();
    let heading = context.heading.clone().filter(|h| !labels::is_meal_word(h));
    let mut table_meals = Vec::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut meal_rows = 0;
    let mut row_names = Vec::new();
    // Columns left of the first meal label hold row labels (`구분 | 중식 | 석식` over
    // `학생식당 | … | …`): each row is then a corner of its own.
    let first_meal = all
        .iter()
        .copied()
        .find(|&c| grid.slots[h][c].is_some_and(|id| is_meal_label(&grid.label(id))))
        .unwrap_or(0);
    let label_columns: Vec<usize> = (0..first_meal).collect();
    let meal_ids: Vec<usize> = header_ids
        .iter()
        .copied()
        .filter(|&id| (first_meal..grid.width).any(|c| grid.slots[h][c] == Some(id)))
        .filter(|&id| !(0..first_meal).any(|c| grid.slots[h][c] == Some(id)))
        .filter(|&id| !labels::is_not_dishes(&grid.label(id)))
        .collect();
    for &id in &meal_ids {
        let label = grid.label(id);
        let columns: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| grid.slots[h][c] == Some(id))
            .collect();
        let found = labels::label_meals(&label);
        let (meals, by) = if found.is_empty() {
            (vec![rule.unlabeled], "unlabeled")
        } else {
            (found, "label")
        };
        table_meals.extend(&meals);
        let chosen = meals.contains(&meal);
        let mut lines = 0;
        for r in h + 1..grid.height() {
            let full = is_full_width(grid, r);
            let label_ids: Vec<usize> = if full {
                Vec::new()
            } else {
                grid.cells_at(r, &label_columns)
            };
            let names: Vec<String> = label_ids
                .iter()
                .map(|&l| grid.label(l))
                .filter(|n| !n.is_empty())
                .collect();
            let content: Vec<usize> = grid
                .cells_at(r, &columns)
                .into_iter()
                .filter(|c| !header_ids.contains(c) && !label_ids.contains(c))
                .collect();
            lines += content
                .iter()
                .map(|&c| grid.cells[c].lines.len())
                .sum::<usize>();
            let in_cell: Vec<Meal> = content
                .iter()
                .flat_map(|&c| section_meals_of(grid, c))
                .collect();
            table_meals.extend(&in_cell);
            if !(chosen || in_cell.contains(&meal)) || content.is_empty() {
                continue;
            }
            let key = heading
                .iter()
                .cloned()
                .chain(section.iter().cloned())
                .chain(names.iter().map(|n| labels::corner_of(n)))
                .chain(std::iter::once(labels::corner_of(&label)))
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
                .join(" > ");
            want(&mut wanted, key, content, &meals);
        }
        explain.rows.push(RowSeen::Row {
            row: columns.first().map_or(0, |c| c + 1),
            label: label.clone(),
            meal: if chosen { meal } else { meals[0] },
            by,
            chosen,
            lines,
        });
        row_names.push(label.clone());
        if chosen {
            meal_rows += 1;
        }
    }
    explain.choice = Some(format!("the columns labelled with {meal} in row {}", h + 1));
    table_meals.sort();
    table_meals.dedup();
    let found = Found {
        wanted,
        meal_rows,
        rows: row_names,
        meals: table_meals,
    };
    finish_read(grid, ask, explain, found, "column", "", "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Meal;
    use crate::scrape::dom::Context;
    use crate::scrape::reader::{self, Reader};
    use crate::scrape::{Group, Rule};
    use chrono::NaiveDate;
    use scraper::{Html, Selector};

    fn read_html(html: &str, meal: Meal) -> (Reader, TableRead) {
        let date = NaiveDate::from_ymd_opt(2021, 3, 15).expect("valid");
        let doc = Html::parse_document(html);
        let selector = Selector::parse("table").expect("static selector");
        let sized = reader::size_up(doc.select(&selector).next().expect("a table"), date);
        let chosen = sized.reader;
        let (rule, context) = (Rule::table("table"), Context::default());
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

    const STUDENT: &str = "<table><tr><td colspan=3>학생식당</td></tr>\
        <tr><td>1코너 중식<br>(앞쪽)</td><td>3-1코너<br>중·석식<br>(앞쪽)</td><td>조식</td></tr>\
        <tr><td>국<br>밥</td><td>라면</td><td>빵</td></tr></table>";

    #[test]
    fn meal_labels_across_columns_give_each_corner_and_both_meals_for_a_shared_column() {
        let (reader, lunch) = read_html(STUDENT, Meal::Lunch);
        assert_eq!(reader, Reader::DayMealsAcross);
        assert_eq!(
            lunch.groups,
            [
                group("학생식당 > 1코너 (앞쪽)", &["국", "밥"]),
                group("학생식당 > 3-1코너 (앞쪽)", &["라면"])
            ]
        );
        let (_, dinner) = read_html(STUDENT, Meal::Dinner);
        assert_eq!(
            dinner.groups,
            [group("학생식당 > 3-1코너 (앞쪽)", &["라면"])]
        );
        let (_, breakfast) = read_html(STUDENT, Meal::Breakfast);
        assert_eq!(breakfast.groups, [group("학생식당", &["빵"])]);
    }

    #[test]
    fn restaurants_down_the_rows_and_meals_across_are_one_group_per_restaurant() {
        let html = "<table><tr><th>구분</th><th>중식</th><th>석식</th></tr>\
            <tr><th>학생식당</th><td>국<br>밥</td><td>면</td></tr>\
            <tr><th>교직원식당</th><td>비빔밥</td><td>-</td></tr></table>";
        let (reader, lunch) = read_html(html, Meal::Lunch);
        assert_eq!(reader, Reader::DayMealsAcross);
        assert_eq!(
            lunch.groups,
            [
                group("학생식당", &["국", "밥"]),
                group("교직원식당", &["비빔밥"])
            ]
        );
        let (_, dinner) = read_html(html, Meal::Dinner);
        assert_eq!(dinner.groups, [group("학생식당", &["면"])]);
        assert_eq!(dinner.closed, [("교직원식당".to_string(), "-".to_string())]);
    }

    #[test]
    fn a_no_menu_notice_spanning_every_column_closes_each_meal() {
        let html = "<table><tr><td colspan=3>제1기숙사식당</td></tr>\
            <tr><td>조식</td><td>중식</td><td>석식</td></tr>\
            <tr><td colspan=3>❝ 오늘 등록된 메뉴가 없습니다. ❞</td></tr></table>";
        for meal in Meal::ALL {
            let (_, read) = read_html(html, meal);
            assert!(read.groups.is_empty(), "{meal}");
            assert_eq!(
                read.closed,
                [(
                    "제1기숙사식당".to_string(),
                    "❝ 오늘 등록된 메뉴가 없습니다. ❞".to_string()
                )]
            );
        }
    }
}
