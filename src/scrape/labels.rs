//! What a piece of page text *means* to the scraper: date labels (`4/10`, `04.10`,
//! `4월 10일`, `2023-04-10`, `월(4/10)` …), weekday labels (`월`, `Mon` …), stated date ranges
//! (`4월 22일 ~ 4월 26일`), meal words (조식/중식/석식 …), closure markers (`개천절 휴무`) and how
//! a header cell's lines become one label (`집<br>밥` → `집밥`).
//!
//! Pure functions over `&str`: no DOM (that is `dom`), no tables (that is `grid`), no I/O.
//! A page that writes no year is read with the year nearest the target date, so a page
//! showing `12/30 … 1/3` around New Year still resolves both ends correctly.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, Weekday};
use regex::Regex;

use crate::Meal;

/// Longest text (in chars) that can still be a column or row *label*: a date inside a long
/// dish cell ("4/15부터 가격 인상") must not turn that cell into a header.
const MAX_LABEL_CHARS: usize = 40;

/// Longest stated range (in days) taken as "the page's week": longer spans are usually
/// notices ("신청기간 3월 2일 ~ 3월 31일"), not the menu's week.
const MAX_RANGE_DAYS: i64 = 14;

/// How much text besides a closure marker a cell may hold and still be "a closure notice"
/// (`개천절 휴무`, `대체공휴일 휴무`), counted in non-space, non-punctuation characters.
const MAX_CLOSED_EXTRA_CHARS: usize = 12;

/// One date written in a text, with where it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    /// The date, with the year resolved (written, or nearest the target date).
    pub date: NaiveDate,
    /// Whether the page wrote the year itself.
    pub has_year: bool,
    month: u32,
    day: u32,
}

/// A cell that labels a day: by date, by weekday, or both (`월(4/10)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DayLabel {
    pub date: Option<NaiveDate>,
    pub weekday: Option<Weekday>,
}

/// A week or date range the page states in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stated {
    /// Byte offset of the range in the text it was found in.
    pub start: usize,
    /// The range as written (`4월 22일 ~ 4월 26일`).
    pub text: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Stated {
    /// Whether the target date falls inside the stated range.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }

    /// Why a page stating this range is the wrong page for `date`.
    pub fn excludes(&self, date: NaiveDate) -> String {
        // As written: a year the page does not state is not printed as if it did.
        format!("the page states the week \"{}\", not {date}", self.text)
    }
}

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<y1>[0-9]{4})\s*(?:년\s*|[-./]\s*)(?P<m1>[0-9]{1,2})\s*(?:월\s*|[-./]\s*)(?P<d1>[0-9]{1,2})(?:\s*일)?
        | (?P<m2>[0-9]{1,2})\s*월\s*(?P<d2>[0-9]{1,2})\s*일
        | (?P<m3>[0-9]{1,2})\s*[./]\s*(?P<d3>[0-9]{1,2})
        ",
    )
    .expect("static regex")
});

/// Every date written in `text`, in order. Years not written are resolved to the year that
/// puts the date nearest `target` (so `4/10` read for 2023-04-12 is 2023-04-10).
pub(super) fn find_dates(text: &str, target: NaiveDate) -> Vec<Found> {
    let mut out = Vec::new();
    for caps in DATE.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let (year, month, day, short) = if let Some(y) = num("y1") {
            (Some(y as i32), num("m1"), num("d1"), false)
        } else if caps.name("m2").is_some() {
            (None, num("m2"), num("d2"), false)
        } else {
            (None, num("m3"), num("d3"), true)
        };
        let (Some(month), Some(day)) = (month, day) else {
            continue;
        };
        let alone = if short {
            short_date_stands_alone(text, whole.start(), whole.end())
        } else {
            stands_alone_before(text, whole.start())
        };
        if !alone {
            continue;
        }
        let date = match year {
            Some(y) => NaiveDate::from_ymd_opt(y, month, day),
            None => nearest_year(month, day, target),
        };
        if let Some(date) = date {
            out.push(Found {
                start: whole.start(),
                end: whole.end(),
                date,
                has_year: year.is_some(),
                month,
                day,
            });
        }
    }
    out
}

/// A bare `4/10` or `04.10` must not be a piece of a longer number (`1.5.3`, `2.10.1`,
/// `12/10/2023`) or a price.
fn short_date_stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let bad_before =
        before.is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | '/' | '-' | ','));
    let bad_after = after.is_some_and(|c| c.is_ascii_digit() || matches!(c, '/' | ',' | '%'));
    !bad_before && !bad_after
}

fn stands_alone_before(text: &str, start: usize) -> bool {
    !text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_digit())
}

/// The date with this month and day nearest `target` (previous, same or next year).
fn nearest_year(month: u32, day: u32, target: NaiveDate) -> Option<NaiveDate> {
    [target.year(), target.year() - 1, target.year() + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - target).num_days().abs())
}

/// Read a column or row header as a day label. `None` for anything that is not one: long
/// texts, texts with a meal word, and ranges (`4/22~4/26` labels a week, not a day).
pub(super) fn day_label(text: &str, target: NaiveDate) -> Option<DayLabel> {
    if text.chars().count() > MAX_LABEL_CHARS
        || meal_in(text).is_some()
        || text.contains(['~', '∼', '〜'])
    {
        return None;
    }
    let dates = find_dates(text, target);
    let date = dates.first().map(|f| f.date);
    // What is left once the dates are cut out must be a weekday name or nothing at all.
    let mut rest = String::with_capacity(text.len());
    let mut at = 0;
    for f in &dates {
        rest.push_str(&text[at..f.start]);
        at = f.end;
    }
    rest.push_str(&text[at..]);
    let word: String = rest
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let weekday = weekday_word(&word);
    match (date, weekday) {
        (None, None) => None,
        (Some(_), None) if !word.is_empty() => None,
        _ => Some(DayLabel { date, weekday }),
    }
}

fn weekday_word(word: &str) -> Option<Weekday> {
    let word = word.strip_suffix("요일").unwrap_or(word);
    Some(match word {
        "월" | "mon" | "monday" => Weekday::Mon,
        "화" | "tue" | "tues" | "tuesday" => Weekday::Tue,
        "수" | "wed" | "wednesday" => Weekday::Wed,
        "목" | "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "금" | "fri" | "friday" => Weekday::Fri,
        "토" | "sat" | "saturday" => Weekday::Sat,
        "일" | "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// The Korean one-letter name of a weekday (`월` for Monday), for explanations.
pub(super) fn weekday_korean(day: Weekday) -> &'static str {
    ["월", "화", "수", "목", "금", "토", "일"][day.num_days_from_monday() as usize]
}

/// Every week or date range stated in `text` (`4월 22일 ~ 4월 26일`, `2026.09.27 ~ 2026.10.03`),
/// at most two weeks long, with years resolved around `target`.
pub(super) fn find_ranges(text: &str, target: NaiveDate) -> Vec<Stated> {
    let dates = find_dates(text, target);
    let mut out = Vec::new();
    for pair in dates.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let between = text[a.end..b.start].trim();
        if !matches!(between, "~" | "∼" | "〜" | "-" | "–" | "—" | "부터") {
            continue;
        }
        let Some((from, to)) = resolve_range(a, b) else {
            continue;
        };
        let days = (to - from).num_days();
        if (0..=MAX_RANGE_DAYS).contains(&days) {
            out.push(Stated {
                start: a.start,
                text: text[a.start..b.end].to_string(),
                from,
                to,
            });
        }
    }
    out
}

/// Give both ends of a range a year: the written one where there is one, else the start's
/// nearest year, and an end that falls before its start is in the next year (`12/30 ~ 1/3`).
fn resolve_range(a: Found, b: Found) -> Option<(NaiveDate, NaiveDate)> {
    match (a.has_year, b.has_year) {
        (true, true) => (a.date <= b.date).then_some((a.date, b.date)),
        (true, false) | (false, false) => {
            let year = a.date.year();
            let to = NaiveDate::from_ymd_opt(year, b.month, b.day)?;
            let to = if to < a.date {
                NaiveDate::from_ymd_opt(year + 1, b.month, b.day)?
            } else {
                to
            };
            Some((a.date, to))
        }
        (false, true) => {
            let year = b.date.year();
            let from = NaiveDate::from_ymd_opt(year, a.month, a.day)?;
            let from = if from > b.date {
                NaiveDate::from_ymd_opt(year - 1, a.month, a.day)?
            } else {
                from
            };
            Some((from, b.date))
        }
    }
}

const MEAL_WORDS: [(&str, Meal); 12] = [
    ("천원의아침밥", Meal::Breakfast),
    ("천원의아침", Meal::Breakfast),
    ("조식", Meal::Breakfast),
    ("아침", Meal::Breakfast),
    ("breakfast", Meal::Breakfast),
    ("중식", Meal::Lunch),
    ("점심", Meal::Lunch),
    ("lunch", Meal::Lunch),
    ("석식", Meal::Dinner),
    ("저녁", Meal::Dinner),
    ("dinner", Meal::Dinner),
    ("supper", Meal::Dinner),
];

/// Lowercase, with every space removed: `중 식` and `중<br>식` both read `중식`.
fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The meal a label names (the earliest meal word in it), if any.
pub(super) fn meal_in(text: &str) -> Option<Meal> {
    let text = squeeze(text);
    MEAL_WORDS
        .iter()
        .filter_map(|(word, meal)| text.find(word).map(|at| (at, *meal)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, meal)| meal)
}

/// Words that name lunch and dinner at once (`중·석식`: one corner serving both).
const BOTH_WORDS: [&str; 4] = ["중·석식", "중석식", "중/석식", "중,석식"];

/// The meals a row or column label is for: both lunch and dinner for `중·석식`, else the
/// meal [`meal_in`] finds, else none.
pub(super) fn label_meals(text: &str) -> Vec<Meal> {
    let squeezed = squeeze(text);
    if BOTH_WORDS.iter().any(|w| squeezed.contains(w)) {
        return vec![Meal::Lunch, Meal::Dinner];
    }
    meal_in(text).into_iter().collect()
}

/// A label with its meal words taken out, for the corner name: `1코너 중식 (앞쪽)` →
/// `1코너 (앞쪽)`, `중식 (5,500원)` → `(5,500원)`, `점심 A메뉴(정식) 6000원` → `A메뉴(정식) 6000원`,
/// `중식` → ``. A word that merely contains a meal word (`조식뷔페`) names the corner and stays.
pub(super) fn corner_of(label: &str) -> String {
    if is_meal_word(label) {
        return String::new();
    }
    label
        .split_whitespace()
        .filter(|word| !is_meal_word(word) && !BOTH_WORDS.contains(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Label words of rows and columns that are not dishes: notes, opening hours, phone numbers.
const NOT_DISHES: [&str; 9] = [
    "비고",
    "운영정보",
    "운영시간",
    "이용시간",
    "영업시간",
    "운영안내",
    "문의",
    "☎",
    "전화",
];

/// Whether a row or column label says its cells are not dishes (`비고`, `운영정보`,
/// `Open 11:20`, `☎ 629-7515`).
pub(super) fn is_not_dishes(label: &str) -> bool {
    let word = squeeze(label);
    NOT_DISHES.iter().any(|w| word.contains(w))
        || ["open", "close", "note", "remark"]
            .iter()
            .any(|w| word.starts_with(w))
}

/// Every distinct meal a text names, in [`Meal`] order.
pub(super) fn meals_in(text: &str) -> Vec<Meal> {
    let text = squeeze(text);
    let mut meals: Vec<Meal> = MEAL_WORDS
        .iter()
        .filter(|(w, _)| text.contains(w))
        .map(|(_, m)| *m)
        .collect();
    meals.sort();
    meals.dedup();
    meals
}

/// Whether a label is nothing but a meal word (`중식`, `[석식]`, `Lunch`): such a label says
/// which meal a row is and is left out of the group label. `조식뷔페` is more than that and
/// stays (it names the corner).
pub(super) fn is_meal_word(text: &str) -> bool {
    let word: String = squeeze(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    MEAL_WORDS.iter().any(|(w, _)| *w == word)
}

/// Whether a line inside a cell is a meal section label: a meal word and nothing else but
/// marks around it (`[중식]`, `<석식>`, `*천원의아침*`, `■ 중식`, `(조식)`); the meals it starts.
/// A bare word (`천원의 아침` as a dish's name) is not marked and is no label.
pub(super) fn section_meals(line: &str) -> Option<Vec<Meal>> {
    let is_mark = |c: char| !c.is_alphanumeric() && !c.is_whitespace() && !"·/,.".contains(c);
    // Cheap checks first: this runs on every line of every cell read.
    let starts = line.chars().next().is_some_and(is_mark);
    let ends = line.chars().next_back().is_some_and(is_mark);
    if !(starts || ends) || line.chars().count() > MAX_SECTION_LABEL_CHARS {
        return None;
    }
    let word: String = line
        .chars()
        .filter(|&c| !is_mark(c) && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if BOTH_WORDS.contains(&word.as_str()) {
        return Some(vec![Meal::Lunch, Meal::Dinner]);
    }
    MEAL_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, meal)| vec![*meal])
}

/// Longest line read as an in-cell meal label.
const MAX_SECTION_LABEL_CHARS: usize = 16;

/// Names of Korean public holidays (and the days off around them) as pages write them, without
/// spaces: a cell holding only one of these serves nothing that day.
const HOLIDAY_NAMES: &[&str] = &[
    "신정",
    "설날",
    "설",
    "구정",
    "삼일절",
    "3·1절",
    "31절",
    "어린이날",
    "부처님오신날",
    "석가탄신일",
    "현충일",
    "광복절",
    "추석",
    "한가위",
    "개천절",
    "한글날",
    "기독탄신일",
    "성탄절",
    "크리스마스",
    "근로자의날",
    "노동절",
    "선거일",
    "대통령선거일",
    "국회의원선거일",
    "지방선거일",
    "개교기념일",
    "재량휴업일",
];

/// Words that may stand beside a holiday's name in a closure cell (`추석 연휴`, `한글날 휴무`,
/// `대체공휴일`).
const DAY_OFF_WORDS: &[&str] = &[
    "대체공휴일",
    "임시공휴일",
    "공휴일",
    "대체휴무",
    "대체휴일",
    "연휴",
    "당일",
    "휴무",
    "휴일",
    "휴관",
    "휴업",
    "휴점",
];

/// Whether a cell's whole text names a public holiday (or a day off around one) and nothing
/// else: `한글날`, `추석 연휴`, `대체공휴일(어린이날)`, `개천절 휴무`. `on_date` is the name of the
/// holiday on the date asked, if any (`holiday::name`): a cell holding exactly that is a
/// closure whatever it is called.
pub(super) fn is_holiday_notice(text: &str, on_date: Option<&str>) -> bool {
    let squeezed = |t: &str| -> String {
        t.chars()
            .filter(|c| c.is_alphanumeric() || *c == '·')
            .collect()
    };
    let mut rest = squeezed(text);
    if rest.is_empty() {
        return false;
    }
    if on_date.is_some_and(|name| squeezed(name) == rest) {
        return true;
    }
    let mut day_off = false;
    for word in DAY_OFF_WORDS {
        if rest.contains(word) {
            day_off = true;
            rest = rest.replace(word, "");
        }
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '제');
    let rest = rest
        .strip_prefix("대")
        .map_or(rest, |r| if r.ends_with("선거일") { r } else { rest });
    (rest.is_empty() && day_off)
        || HOLIDAY_NAMES.contains(&rest)
        || on_date.is_some_and(|name| squeezed(name).contains(rest) && !rest.is_empty() && day_off)
}

/// Whether a cell's whole text is a closure notice: it holds one of `markers` and little
/// else (`휴무`, `개천절 휴무`, `토요일 운영없음`), so a dish list that merely mentions
/// "금요일 석식 운영없음" on one of its lines is still a menu.
pub(super) fn is_closed(text: &str, markers: &[String]) -> bool {
    if says_no_menu(text) {
        return true;
    }
    let mut rest = text.to_lowercase();
    let mut found = false;
    for marker in markers
        .iter()
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
    {
        if rest.contains(&marker) {
            found = true;
            rest = rest.replace(&marker, " ");
        }
    }
    found && rest.chars().filter(|c| c.is_alphanumeric()).count() <= MAX_CLOSED_EXTRA_CHARS
}

/// Texts that mean "nothing is served" in every layout whatever the `closed` setting: a lone
/// `-`, `없음`, `메뉴 없음`, `오늘 등록된 메뉴가 없습니다` (quotes and punctuation around them
/// ignored).
fn says_no_menu(text: &str) -> bool {
    let word: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-')
        .collect();
    matches!(word.as_str(), "-" | "--" | "없음" | "메뉴없음" | "식단없음")
        || word.contains("등록된메뉴가없습니다")
        || word.contains("등록된식단이없습니다")
}

/// One label from a header cell's lines. Vertical labels (every line one or two characters:
/// `집<br>밥`, `조식<br>뷔페`, `한<br>그<br>릇`) are joined without separators, anything else
/// with a space.
pub(super) fn join_label(lines: &[String]) -> String {
    if lines.len() > 1 && lines.iter().all(|l| l.chars().count() <= 2) {
        lines.concat()
    } else {
        lines.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn label_date(text: &str, target: NaiveDate) -> Option<NaiveDate> {
        day_label(text, target).and_then(|l| l.date)
    }

    #[test]
    fn date_labels_in_every_common_form_resolve_to_the_same_day() {
        let target = d(2023, 4, 12);
        for text in [
            "4/10",
            "04.10",
            "4월 10일",
            "2023-04-10",
            "월(4/10)",
            "4/10(월)",
            "2023.04.10",
        ] {
            assert_eq!(label_date(text, target), Some(d(2023, 4, 10)), "{text}");
        }
        assert_eq!(
            label_date("일 09월 27일", d(2026, 9, 30)),
            Some(d(2026, 9, 27))
        );
        // Words besides a date and a weekday: a note, not a label.
        assert_eq!(day_label("4월 10일 특식", target), None);
        assert_eq!(
            label_date("2023년 4월 10일 (월)", target),
            Some(d(2023, 4, 10))
        );
    }

    #[test]
    fn a_date_label_with_a_weekday_keeps_both() {
        let label = day_label("월(4/10)", d(2023, 4, 12)).expect("a day label");
        assert_eq!(label.weekday, Some(Weekday::Mon));
        assert_eq!(label.date, Some(d(2023, 4, 10)));
    }

    #[test]
    fn weekday_labels_in_korean_and_english_are_recognised() {
        let target = d(2023, 4, 12);
        for (text, day) in [
            ("월", Weekday::Mon),
            ("화요일", Weekday::Tue),
            ("(수)", Weekday::Wed),
            ("THU", Weekday::Thu),
            ("Friday", Weekday::Fri),
            ("일", Weekday::Sun),
        ] {
            assert_eq!(
                day_label(text, target).and_then(|l| l.weekday),
                Some(day),
                "{text}"
            );
        }
    }

    #[test]
    fn corner_names_and_ranges_are_not_day_labels() {
        let target = d(2023, 4, 12);
        for text in [
            "일품코너",
            "식구분",
            "백반",
            "중식",
            "4/22~4/26",
            "11:00~14:00",
            "가격 1.5",
            "",
        ] {
            assert_eq!(day_label(text, target), None, "{text}");
        }
    }

    #[test]
    fn a_page_without_a_year_is_read_in_the_year_nearest_the_target() {
        assert_eq!(label_date("4/10", d(2024, 4, 22)), Some(d(2024, 4, 10)));
        // New Year: the week of 12/30 seen from 2025-01-02 is the previous year's.
        assert_eq!(label_date("12/30", d(2025, 1, 2)), Some(d(2024, 12, 30)));
    }

    #[test]
    fn stated_week_ranges_are_found_with_years_resolved() {
        let text = "4월 3주 (4월 22일 ~ 4월 26일 적용)\u{a0}/ 토요일 운영없음";
        let ranges = find_ranges(text, d(2024, 4, 24));
        assert_eq!(ranges.len(), 1);
        assert_eq!(
            (ranges[0].from, ranges[0].to),
            (d(2024, 4, 22), d(2024, 4, 26))
        );
        assert_eq!(ranges[0].text, "4월 22일 ~ 4월 26일");
        assert!(!ranges[0].contains(d(2024, 4, 29)));

        let dgu = find_ranges("\n 2026.09.27 ~ 2026.10.03", d(2026, 10, 2));
        assert_eq!((dgu[0].from, dgu[0].to), (d(2026, 9, 27), d(2026, 10, 3)));

        let new_year = find_ranges("12/30 ~ 1/3", d(2025, 1, 2));
        assert_eq!(
            (new_year[0].from, new_year[0].to),
            (d(2024, 12, 30), d(2025, 1, 3))
        );
    }

    #[test]
    fn opening_hours_and_long_notices_are_not_week_ranges() {
        let target = d(2024, 4, 24);
        assert!(find_ranges("11:00~14:00 (15:00~16:00 휴게시간)", target).is_empty());
        assert!(find_ranges("운영 9.30~10.30", target).is_empty());
        assert!(find_ranges("신청기간 3월 2일 ~ 3월 31일", target).is_empty());
    }

    #[test]
    fn meal_words_are_found_even_when_broken_by_line_breaks_or_spaces() {
        assert_eq!(
            meal_in(&join_label(&["중".into(), "식".into()])),
            Some(Meal::Lunch)
        );
        assert_eq!(meal_in("석 식"), Some(Meal::Dinner));
        assert_eq!(meal_in("조식뷔페"), Some(Meal::Breakfast));
        assert_eq!(meal_in("Lunch"), Some(Meal::Lunch));
        assert_eq!(meal_in("양식코너"), None);
        assert_eq!(meal_in("한식"), None);
        assert!(is_meal_word("중식"));
        assert!(is_meal_word("[석식]"));
        assert!(!is_meal_word("조식뷔페"));
    }

    #[test]
    fn vertical_labels_join_without_spaces_and_others_with_one() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_label(&lines(&["집", "밥"])), "집밥");
        assert_eq!(
            join_label(&lines(&[
                "한", "그", "릇", "(", "한", "정", "판", "매", ")"
            ])),
            "한그릇(한정판매)"
        );
        assert_eq!(join_label(&lines(&["Main", "Dish"])), "Main Dish");
    }

    #[test]
    fn a_cell_that_is_only_a_closure_notice_is_closed_but_a_menu_mentioning_one_is_not() {
        let markers: Vec<String> = ["휴무", "운영없음", "미운영", "휴관"]
            .map(String::from)
            .into();
        assert!(is_closed("운영없음", &markers));
        assert!(is_closed("개천절 휴무", &markers));
        assert!(is_closed("대체공휴일 휴무", &markers));
        assert!(!is_closed(
            "김치찌개 제육볶음 계란찜 배추김치 * 금요일 석식 운영없음",
            &markers
        ));
        assert!(!is_closed("김치찌개", &markers));
        assert!(!is_closed("김치찌개", &[String::new()]));
    }
}
