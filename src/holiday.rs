//! Korean public holidays (공휴일) computed for any year from 2014 to the end of the lunar
//! calendar data: the fixed-date holidays, the lunar ones (설날 and 추석 with the days before
//! and after, 부처님오신날), the substitute holidays (대체공휴일) by 「관공서의 공휴일에 관한
//! 규정」 §3, and the one-off holidays the government declared (election days, 임시공휴일),
//! which no rule gives and so sit in a table.
//!
//! Pure, no I/O. Used by `schedule.skip_holidays`, `config check` and `doctor`.
//!
//! Lunar dates come from the `korean-lunar-calendar` crate: a month table generated from
//! 한국천문연구원 (KASI) data for 1583–2050, so Korean dates, which differ from Chinese ones
//! in some years (설날 2027 and 2028 are February 7 and January 27 in Korea, a day earlier
//! in China). Weighed and not
//! used: `chinese-lunisolar-calendar` (the Chinese calendar, reckoned at 120°E instead of
//! 135°E, so a new moon near midnight lands on another day), a hand-kept table of the
//! 월력요항 (one year at a time, published each June: `skip_holidays` silently stopped
//! skipping when it ran out), and the `holidays` crate (lists 근로자의 날 5/1, misses the
//! 성탄절 substitute since 2023 and the election days).
//!
//! Rules before 2014 differed (no 대체공휴일, 한글날 not a holiday until 2013, 식목일 and
//! 제헌절 still holidays), so earlier years are not covered; kbot only looks ahead.
//! Maintenance: add one-off holidays (elections, 임시공휴일) to `ONE_OFF` when declared.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use korean_lunar_calendar::{LunarDate, lunar_to_gregorian};

/// The first year the current rules cover: substitute holidays began in 2014.
pub const FIRST_YEAR: i32 = 2014;

/// Holidays no rule gives: election days (선거일, a public holiday by §2) and the
/// 임시공휴일 the cabinet declared. `(year, month, day, name)`, sorted.
const ONE_OFF: &[(i32, u32, u32, &str)] = &[
    (2014, 6, 4, "제6회 전국동시지방선거일"),
    (2015, 8, 14, "임시공휴일"),
    (2016, 4, 13, "제20대 국회의원 선거일"),
    (2016, 5, 6, "임시공휴일"),
    (2017, 5, 9, "제19대 대통령 선거일"),
    (2017, 10, 2, "임시공휴일"),
    (2018, 6, 13, "제7회 전국동시지방선거일"),
    (2020, 4, 15, "제21대 국회의원 선거일"),
    (2020, 8, 17, "임시공휴일"),
    (2022, 3, 9, "제20대 대통령 선거일"),
    (2022, 6, 1, "제8회 전국동시지방선거일"),
    (2023, 10, 2, "임시공휴일"),
    (2024, 4, 10, "제22대 국회의원 선거일"),
    (2024, 10, 1, "임시공휴일(국군의 날)"),
    (2025, 1, 27, "임시공휴일"),
    (2025, 6, 3, "제21대 대통령 선거일"),
    (2026, 6, 3, "제9회 전국동시지방선거일"),
    // Fixed by the election law: the first Wednesday from 50 days before the term ends.
    (2028, 4, 12, "제23대 국회의원 선거일"),
];

/// The fixed-date holidays, `(month, day, name)`.
const FIXED: &[(u32, u32, &str)] = &[
    (1, 1, "신정"),
    (3, 1, "삼일절"),
    (5, 5, "어린이날"),
    (6, 6, "현충일"),
    (8, 15, "광복절"),
    (10, 3, "개천절"),
    (10, 9, "한글날"),
    (12, 25, "기독탄신일"),
];

/// Why a fixed-date holiday or 부처님오신날 gets a substitute day (설날 and 추석 have their
/// own rule: one of the three days is a Sunday or another holiday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Substitute {
    /// 어린이날: a Saturday, a Sunday or another holiday.
    WeekendOrOverlap,
    /// 삼일절, 광복절, 개천절, 한글날 (since 2021), 부처님오신날, 기독탄신일 (since 2023):
    /// a Saturday or a Sunday.
    Weekend,
    /// No substitute (신정, 현충일, one-off holidays, and the rest before their rule).
    Never,
}

fn substitute_rule(name: &str, year: i32) -> Substitute {
    match name {
        "어린이날" => Substitute::WeekendOrOverlap,
        "삼일절" | "광복절" | "개천절" | "한글날" if year >= 2021 => {
            Substitute::Weekend
        }
        "부처님오신날" | "기독탄신일" if year >= 2023 => Substitute::Weekend,
        _ => Substitute::Never,
    }
}

fn lunar(year: i32, month: u8, day: u8) -> Option<NaiveDate> {
    lunar_to_gregorian(&LunarDate {
        year,
        month: (month, false),
        day,
    })
}

/// The holidays of `year` with their names, or `None` when the year is outside the rules or
/// the lunar data.
fn compute(year: i32) -> Option<BTreeMap<NaiveDate, String>> {
    if year < FIRST_YEAR {
        return None;
    }
    let seollal = lunar(year, 1, 1)?;
    let buddha = lunar(year, 4, 8)?;
    let chuseok = lunar(year, 8, 15)?;
    // Each day's holidays, in the order added: a day two holidays share gets both names.
    let mut days: BTreeMap<NaiveDate, Vec<&'static str>> = BTreeMap::new();
    let mut add = |date: NaiveDate, name: &'static str| days.entry(date).or_default().push(name);
    for &(month, day, name) in FIXED {
        add(NaiveDate::from_ymd_opt(year, month, day)?, name);
    }
    add(buddha, "부처님오신날");
    for (main, name, eve) in [
        (seollal, "설날", "설날 연휴"),
        (chuseok, "추석", "추석 연휴"),
    ] {
        add(main.pred_opt()?, eve);
        add(main, name);
        add(main.succ_opt()?, eve);
    }
    for &(y, month, day, name) in ONE_OFF.iter().filter(|h| h.0 == year) {
        add(NaiveDate::from_ymd_opt(y, month, day)?, name);
    }

    // What calls for a substitute, in date order: (the last day it covers, its name).
    let mut triggers: Vec<(NaiveDate, String)> = Vec::new();
    for (main, name) in [(seollal, "설날"), (chuseok, "추석")] {
        let span = [main.pred_opt()?, main, main.succ_opt()?];
        let hit = span
            .iter()
            .any(|d| d.weekday() == Weekday::Sun || days.get(d).is_some_and(|n| n.len() > 1));
        if hit {
            triggers.push((span[2], name.to_string()));
        }
    }
    for (date, names) in &days {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let overlap = names.len() > 1;
        let due = names.iter().any(|name| match substitute_rule(name, year) {
            Substitute::WeekendOrOverlap => weekend || overlap,
            Substitute::Weekend => weekend,
            Substitute::Never => false,
        });
        if due {
            triggers.push((*date, names.join("·")));
        }
    }
    triggers.sort_by_key(|(date, _)| *date);

    let mut named: BTreeMap<NaiveDate, String> = days
        .into_iter()
        .map(|(date, names)| (date, names.join("·")))
        .collect();
    for (after, cause) in triggers {
        // The first day after that is neither a Saturday, a Sunday nor a holiday (§3's
        // 비공휴일), substitutes already given included.
        let mut day = after.checked_add_days(Days::new(1))?;
        while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) || named.contains_key(&day) {
            day = day.succ_opt()?;
        }
        named.insert(day, format!("대체공휴일({cause})"));
    }
    Some(named)
}

/// Every covered year's holidays, computed once.
static ALL: LazyLock<BTreeMap<NaiveDate, String>> = LazyLock::new(|| {
    (FIRST_YEAR..)
        .map_while(compute)
        .flat_map(BTreeMap::into_iter)
        .collect()
});

/// The first and last year covered.
pub fn years() -> (i32, i32) {
    let last = ALL.keys().next_back().map_or(FIRST_YEAR, |d| d.year());
    (FIRST_YEAR, last)
}

/// The holiday's Korean name, if `date` is a public holiday.
pub fn name(date: NaiveDate) -> Option<&'static str> {
    ALL.get(&date).map(String::as_str)
}

/// True when `date` is a public holiday.
pub fn is_holiday(date: NaiveDate) -> bool {
    ALL.contains_key(&date)
}

/// Every known holiday, in date order.
pub fn all() -> impl Iterator<Item = NaiveDate> {
    ALL.keys().copied()
}

/// True when kbot knows `year`'s holidays (outside, `skip_holidays` skips nothing and
/// `config check` and `doctor` say so).
pub fn covers(year: i32) -> bool {
    let (first, last) = years();
    (first..=last).contains(&year)
}

/// What `config check` and `doctor` say when `skip_holidays` is on and this year or the
/// next is not covered, `None` when both are.
pub fn gap(today: NaiveDate) -> Option<String> {
    let year = [today.year(), today.year() + 1]
        .into_iter()
        .find(|y| !covers(*y))?;
    let (first, last) = years();
    Some(format!(
        "kbot knows the Korean public holidays of {first}–{last} only: in {year} skip_holidays skips nothing; list that year's holidays in schedule.skip_dates"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The 월력요항 of 한국천문연구원 for 2024–2027 (the official calendar), with the
    /// declared election days and 임시공휴일.
    const OFFICIAL: &[(&str, &str)] = &[
        ("2024-01-01", "신정"),
        ("2024-02-09", "설날 연휴"),
        ("2024-02-10", "설날"),
        ("2024-02-11", "설날 연휴"),
        ("2024-02-12", "대체공휴일(설날)"),
        ("2024-03-01", "삼일절"),
        ("2024-04-10", "제22대 국회의원 선거일"),
        ("2024-05-05", "어린이날"),
        ("2024-05-06", "대체공휴일(어린이날)"),
        ("2024-05-15", "부처님오신날"),
        ("2024-06-06", "현충일"),
        ("2024-08-15", "광복절"),
        ("2024-09-16", "추석 연휴"),
        ("2024-09-17", "추석"),
        ("2024-09-18", "추석 연휴"),
        ("2024-10-01", "임시공휴일(국군의 날)"),
        ("2024-10-03", "개천절"),
        ("2024-10-09", "한글날"),
        ("2024-12-25", "기독탄신일"),
        ("2025-01-01", "신정"),
        ("2025-01-27", "임시공휴일"),
        ("2025-01-28", "설날 연휴"),
        ("2025-01-29", "설날"),
        ("2025-01-30", "설날 연휴"),
        ("2025-03-01", "삼일절"),
        ("2025-03-03", "대체공휴일(삼일절)"),
        ("2025-05-05", "어린이날·부처님오신날"),
        ("2025-05-06", "대체공휴일(어린이날·부처님오신날)"),
        ("2025-06-03", "제21대 대통령 선거일"),
        ("2025-06-06", "현충일"),
        ("2025-08-15", "광복절"),
        ("2025-10-03", "개천절"),
        ("2025-10-05", "추석 연휴"),
        ("2025-10-06", "추석"),
        ("2025-10-07", "추석 연휴"),
        ("2025-10-08", "대체공휴일(추석)"),
        ("2025-10-09", "한글날"),
        ("2025-12-25", "기독탄신일"),
        ("2026-01-01", "신정"),
        ("2026-02-16", "설날 연휴"),
        ("2026-02-17", "설날"),
        ("2026-02-18", "설날 연휴"),
        ("2026-03-01", "삼일절"),
        ("2026-03-02", "대체공휴일(삼일절)"),
        ("2026-05-05", "어린이날"),
        ("2026-05-24", "부처님오신날"),
        ("2026-05-25", "대체공휴일(부처님오신날)"),
        ("2026-06-03", "제9회 전국동시지방선거일"),
        ("2026-06-06", "현충일"),
        ("2026-08-15", "광복절"),
        ("2026-08-17", "대체공휴일(광복절)"),
        ("2026-09-24", "추석 연휴"),
        ("2026-09-25", "추석"),
        ("2026-09-26", "추석 연휴"),
        ("2026-10-03", "개천절"),
        ("2026-10-05", "대체공휴일(개천절)"),
        ("2026-10-09", "한글날"),
        ("2026-12-25", "기독탄신일"),
        ("2027-01-01", "신정"),
        ("2027-02-06", "설날 연휴"),
        ("2027-02-07", "설날"),
        ("2027-02-08", "설날 연휴"),
        ("2027-02-09", "대체공휴일(설날)"),
        ("2027-03-01", "삼일절"),
        ("2027-05-05", "어린이날"),
        ("2027-05-13", "부처님오신날"),
        ("2027-06-06", "현충일"),
        ("2027-08-15", "광복절"),
        ("2027-08-16", "대체공휴일(광복절)"),
        ("2027-09-14", "추석 연휴"),
        ("2027-09-15", "추석"),
        ("2027-09-16", "추석 연휴"),
        ("2027-10-03", "개천절"),
        ("2027-10-04", "대체공휴일(개천절)"),
        ("2027-10-09", "한글날"),
        ("2027-10-11", "대체공휴일(한글날)"),
        ("2027-12-25", "기독탄신일"),
        ("2027-12-27", "대체공휴일(기독탄신일)"),
    ];

    fn year(y: i32) -> Vec<(String, String)> {
        ALL.iter()
            .filter(|(date, _)| date.year() == y)
            .map(|(date, name)| (date.to_string(), name.clone()))
            .collect()
    }

    #[test]
    fn the_computed_years_2024_to_2027_are_the_official_calendar_day_for_day() {
        for y in 2024..=2027 {
            let official: Vec<(String, String)> = OFFICIAL
                .iter()
                .filter(|(date, _)| date.starts_with(&y.to_string()))
                .map(|(date, name)| (date.to_string(), name.to_string()))
                .collect();
            assert_eq!(year(y), official, "{y}");
        }
    }

    #[test]
    fn seollal_and_chuseok_are_the_korean_lunar_dates_not_the_chinese_ones() {
        // 2027 and 2028: Korea 2-07 and 1-27, China 2-06 and 1-26.
        let known = [
            ("2027-02-07", "2027-09-15"),
            ("2028-01-27", "2028-10-03"),
            ("2029-02-13", "2029-09-22"),
            ("2030-02-03", "2030-09-12"),
            ("2031-01-23", "2031-10-01"),
            ("2032-02-11", "2032-09-19"),
            ("2033-01-31", "2033-09-08"),
            ("2034-02-19", "2034-09-27"),
            ("2035-02-08", "2035-09-16"),
        ];
        for (seollal, chuseok) in known {
            assert_eq!(name(d(seollal)), Some("설날"), "{seollal}");
            assert_eq!(
                name(d(chuseok)).map(|n| n.contains("추석")),
                Some(true),
                "{chuseok}"
            );
        }
    }

    #[test]
    fn a_saturday_samiljeol_in_2031_gives_monday_march_3() {
        assert_eq!(d("2031-03-01").weekday(), Weekday::Sat);
        assert_eq!(name(d("2031-03-03")), Some("대체공휴일(삼일절)"));
        assert!(!is_holiday(d("2031-03-04")));
    }

    #[test]
    fn substitutes_follow_each_rule_and_its_start_year() {
        // 추석 2017 (10-03..10-05) overlaps 개천절: one substitute after the three days.
        assert_eq!(name(d("2017-10-06")), Some("대체공휴일(추석)"));
        // 추석 2028 (10-02..10-04) overlaps 개천절 the same way.
        assert_eq!(name(d("2028-10-03")), Some("개천절·추석"));
        assert_eq!(name(d("2028-10-05")), Some("대체공휴일(추석)"));
        // A Saturday in a 추석 span calls for nothing (2026-09-26); a Saturday 개천절 before
        // 2021 did not either, since 2021 it does.
        assert!(!is_holiday(d("2026-09-28")));
        assert!(!is_holiday(d("2020-10-05")));
        assert_eq!(name(d("2021-10-04")), Some("대체공휴일(개천절)"));
        // 부처님오신날 on a Saturday: none before 2023, Monday since.
        assert_eq!(name(d("2023-05-29")), Some("대체공휴일(부처님오신날)"));
        // 어린이날 on a Saturday, 2018: Monday.
        assert_eq!(name(d("2018-05-07")), Some("대체공휴일(어린이날)"));
        // 설날 2050 (lunar data's last full year) is known.
        assert!(covers(2050));
    }

    #[test]
    fn labour_day_and_plain_days_are_not_holidays() {
        assert!(!is_holiday(d("2026-05-01")));
        assert!(!is_holiday(d("2026-10-06")));
    }

    #[test]
    fn every_substitute_is_a_weekday_and_every_year_has_its_fixed_days() {
        let (first, last) = years();
        assert_eq!(first, FIRST_YEAR);
        assert!(last >= 2050, "{last}");
        for (date, name) in ALL.iter() {
            if name.starts_with("대체") {
                let weekday = date.weekday().num_days_from_monday();
                assert!(weekday < 5, "{date} {name} falls on a weekend");
            }
        }
        for y in first..=last {
            let days = year(y);
            assert!(days.len() >= 15, "{y}: {days:?}");
            assert!(is_holiday(NaiveDate::from_ymd_opt(y, 12, 25).unwrap()));
        }
    }

    #[test]
    fn a_year_without_data_is_named() {
        let (_, last) = years();
        assert!(!covers(last + 1));
        assert!(!covers(FIRST_YEAR - 1));
        assert_eq!(gap(d("2026-12-07")), None);
        let said = gap(NaiveDate::from_ymd_opt(last, 6, 1).unwrap()).expect("next year unknown");
        assert!(said.contains(&(last + 1).to_string()), "{said}");
        assert!(said.contains("skip_dates"), "{said}");
    }
}
