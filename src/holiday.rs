//! Korean public holidays (공휴일), substitute holidays (대체공휴일) and the one-off holidays
//! the government declared (임시공휴일), 2024–2027, as a maintained table.
//!
//! Pure, no I/O. Used by `schedule.skip_holidays`. Source: the 월력요항 published each June
//! for the following year by 한국천문연구원 / 우주항공청 (the government's official calendar:
//! lunar dates of 설날, 추석 and 부처님오신날, and the substitute days by 「관공서의 공휴일에
//! 관한 규정」 §2–§3), plus the election days and 임시공휴일 declared by the cabinet.
//! The `holidays` crate (0.1.0, data generated from python-holidays) was weighed and not
//! used: it lists 근로자의 날 (5/1, not a public holiday), misses 2027-12-27 (성탄절 대체공휴일,
//! in force since 2023), the election days (2024-04-10, 2025-06-03, 2026-06-03) and the
//! 임시공휴일 (2024-10-01, 2025-01-27), and ships 6.8 MB of tables for 100 countries.
//! Maintenance: add a year when its 월력요항 appears, and one-off holidays when declared.

use chrono::{Datelike, NaiveDate};

/// `(year, month, day, name)`, sorted.
const TABLE: &[(i32, u32, u32, &str)] = &[
    (2024, 1, 1, "신정"),
    (2024, 2, 9, "설날 연휴"),
    (2024, 2, 10, "설날"),
    (2024, 2, 11, "설날 연휴"),
    (2024, 2, 12, "대체공휴일(설날)"),
    (2024, 3, 1, "삼일절"),
    (2024, 4, 10, "제22대 국회의원 선거일"),
    (2024, 5, 5, "어린이날"),
    (2024, 5, 6, "대체공휴일(어린이날)"),
    (2024, 5, 15, "부처님오신날"),
    (2024, 6, 6, "현충일"),
    (2024, 8, 15, "광복절"),
    (2024, 9, 16, "추석 연휴"),
    (2024, 9, 17, "추석"),
    (2024, 9, 18, "추석 연휴"),
    (2024, 10, 1, "임시공휴일(국군의 날)"),
    (2024, 10, 3, "개천절"),
    (2024, 10, 9, "한글날"),
    (2024, 12, 25, "기독탄신일"),
    (2025, 1, 1, "신정"),
    (2025, 1, 27, "임시공휴일"),
    (2025, 1, 28, "설날 연휴"),
    (2025, 1, 29, "설날"),
    (2025, 1, 30, "설날 연휴"),
    (2025, 3, 1, "삼일절"),
    (2025, 3, 3, "대체공휴일(삼일절)"),
    (2025, 5, 5, "어린이날·부처님오신날"),
    (2025, 5, 6, "대체공휴일(어린이날·부처님오신날)"),
    (2025, 6, 3, "제21대 대통령 선거일"),
    (2025, 6, 6, "현충일"),
    (2025, 8, 15, "광복절"),
    (2025, 10, 3, "개천절"),
    (2025, 10, 5, "추석 연휴"),
    (2025, 10, 6, "추석"),
    (2025, 10, 7, "추석 연휴"),
    (2025, 10, 8, "대체공휴일(추석)"),
    (2025, 10, 9, "한글날"),
    (2025, 12, 25, "기독탄신일"),
    (2026, 1, 1, "신정"),
    (2026, 2, 16, "설날 연휴"),
    (2026, 2, 17, "설날"),
    (2026, 2, 18, "설날 연휴"),
    (2026, 3, 1, "삼일절"),
    (2026, 3, 2, "대체공휴일(삼일절)"),
    (2026, 5, 5, "어린이날"),
    (2026, 5, 24, "부처님오신날"),
    (2026, 5, 25, "대체공휴일(부처님오신날)"),
    (2026, 6, 3, "제9회 전국동시지방선거일"),
    (2026, 6, 6, "현충일"),
    (2026, 8, 15, "광복절"),
    (2026, 8, 17, "대체공휴일(광복절)"),
    (2026, 9, 24, "추석 연휴"),
    (2026, 9, 25, "추석"),
    (2026, 9, 26, "추석 연휴"),
    (2026, 10, 3, "개천절"),
    (2026, 10, 5, "대체공휴일(개천절)"),
    (2026, 10, 9, "한글날"),
    (2026, 12, 25, "기독탄신일"),
    (2027, 1, 1, "신정"),
    (2027, 2, 6, "설날 연휴"),
    (2027, 2, 7, "설날"),
    (2027, 2, 8, "설날 연휴"),
    (2027, 2, 9, "대체공휴일(설날)"),
    (2027, 3, 1, "삼일절"),
    (2027, 5, 5, "어린이날"),
    (2027, 5, 13, "부처님오신날"),
    (2027, 6, 6, "현충일"),
    (2027, 8, 15, "광복절"),
    (2027, 8, 16, "대체공휴일(광복절)"),
    (2027, 9, 14, "추석 연휴"),
    (2027, 9, 15, "추석"),
    (2027, 9, 16, "추석 연휴"),
    (2027, 10, 3, "개천절"),
    (2027, 10, 4, "대체공휴일(개천절)"),
    (2027, 10, 9, "한글날"),
    (2027, 10, 11, "대체공휴일(한글날)"),
    (2027, 12, 25, "기독탄신일"),
    (2027, 12, 27, "대체공휴일(기독탄신일)"),
];

/// The first and last year the table covers.
pub const YEARS: (i32, i32) = (2024, 2027);

/// The holiday's Korean name, if `date` is a public holiday.
pub fn name(date: NaiveDate) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(y, m, d, _)| (*y, *m, *d) == (date.year(), date.month(), date.day()))
        .map(|(_, _, _, name)| *name)
}

/// True when `date` is a public holiday.
pub fn is_holiday(date: NaiveDate) -> bool {
    name(date).is_some()
}

/// Every holiday in the table, in date order.
pub fn all() -> impl Iterator<Item = NaiveDate> {
    TABLE
        .iter()
        .filter_map(|(y, m, d, _)| NaiveDate::from_ymd_opt(*y, *m, *d))
}

/// True when the table knows `year` (outside it, `skip_holidays` skips nothing and
/// `config check` says so).
pub fn covers(year: i32) -> bool {
    (YEARS.0..=YEARS.1).contains(&year)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn substitute_holidays_are_known() {
        // 개천절 2026 is a Saturday: Monday 10-05 is its substitute; 한글날 is a Friday.
        assert_eq!(name(d("2026-10-05")), Some("대체공휴일(개천절)"));
        assert_eq!(name(d("2026-10-09")), Some("한글날"));
        assert!(!is_holiday(d("2026-10-06")));
        assert!(is_holiday(d("2027-12-27")));
        assert!(is_holiday(d("2025-10-08")));
    }

    #[test]
    fn labour_day_is_not_a_public_holiday() {
        assert!(!is_holiday(d("2026-05-01")));
    }

    #[test]
    fn the_table_is_sorted_valid_and_every_substitute_day_is_a_weekday() {
        let dates: Vec<NaiveDate> = all().collect();
        assert_eq!(dates.len(), TABLE.len(), "every row is a real date");
        assert!(
            dates.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        for (date, (_, _, _, name)) in dates.iter().zip(TABLE) {
            assert!(covers(date.year()));
            if name.starts_with("대체") {
                assert!(
                    date.weekday().num_days_from_monday() < 5,
                    "{date} {name} falls on a weekend"
                );
            }
        }
    }
}
