//! Menu noise: the lines and bits of lines that are not dishes, by named kind.
//!
//! Pure, no I/O. Cafeteria pages put origin notes (`(돼지:국내산)`), prices (`￦ 7,000`,
//! `6500원`), opening hours (`11:00~14:00`), English translations and allergen numbers
//! (`쇠고기미역국 5.6.16.`) beside the dishes. [`clean`] removes the kinds a user asked to
//! drop (`message.noise`, all by default) from one scraped line, keeping dish names that
//! merely contain a number or parentheses (`탄산음료(캔)`, `3색나물`). `scrape` shows the raw
//! lines; only rendering calls this. [`is_minor`] ranks what to drop first when a message
//! must be shortened (sides, notes), which is a judgement about value, not noise.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

/// A kind of noise kbot can drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Where the ingredients come from: `(돼지:국내산)`, `쌀:국내산`.
    Origin,
    /// Prices: `￦ 7,000`, `6,000원`, and a price after a dish (`냉모밀 5,500원`).
    Price,
    /// Opening hours and breaks: `11:00~14:00`, `(15:00~16:00 휴게시간)`.
    Hours,
    /// Lines in Latin letters with no Hangul (English translations under each dish).
    English,
    /// Allergen numbers after a dish: `쇠고기미역국 5.6.16.`, `돈까스(1.2.5.10)`.
    Allergen,
}

impl Kind {
    /// Every kind, in the order the config lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Origin,
        Kind::Price,
        Kind::Hours,
        Kind::English,
        Kind::Allergen,
    ];

    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Origin => "origin",
            Kind::Price => "price",
            Kind::Hours => "hours",
            Kind::English => "english",
            Kind::Allergen => "allergen",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown noise kind {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The kinds to drop; the default is all of them.
pub type Kinds = BTreeSet<Kind>;

/// All kinds (the default of `message.noise`).
pub fn all() -> Kinds {
    Kind::ALL.into_iter().collect()
}

static HOURS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[(\[]?\s*\d{1,2}:\d{2}\s*[~\-–〜]\s*\d{1,2}:\d{2}").expect("valid regex")
});
static PAREN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(([^()]*)\)").expect("valid regex"));
// A price with a currency sign or 원: `￦ 7,000`, `6,000원`, `6500원`, `2,000~2500원`, and a
// `:` before it (`김밥:2,500원`). Digits alone are never a price (`3색나물`).
static PRICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\s*:?\s*(?:[￦₩]\s*\d[\d,.]*(?:\s*원)?|(?:\d[\d,.]*\s*~\s*)?\d{1,3}(?:[,.]\d{3})+\s*원|(?:\d[\d,.]*\s*~\s*)?\d{3,6}\s*원)",
    )
    .expect("valid regex")
});
// Allergen numbers at the end: `5.6.16.`, `(1.2.5.10)`, `(1,5,6)`: at least two numbers.
static ALLERGEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\s*(?:\(\s*\d{1,2}(?:\s*[.,]\s*\d{1,2})+\s*\.?\s*\)|\d{1,2}(?:\.\d{1,2})+\.?)$")
        .expect("valid regex")
});

/// True when `text` (without parentheses) is only origin notes: every `/`-separated piece
/// reads `ingredient: …산` (`돼지:국내산`, `배추,고춧가루:국내산`, `스팸-돼지:국내산,외국산`).
fn is_origin(text: &str) -> bool {
    let mut any = false;
    // A short piece with no colon shares the next one's origin (`돼지/소:국내산`).
    let mut waiting = false;
    for piece in text.split('/').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((_, place)) = piece.rsplit_once(':') else {
            if piece.chars().count() > 8 {
                return false;
            }
            waiting = true;
            continue;
        };
        let place = place.trim().trim_end_matches(['.', ',']);
        if !place.ends_with('산') || place.chars().count() > 12 {
            return false;
        }
        waiting = false;
        any = true;
    }
    any && !waiting
}

/// Latin letters and no Hangul: a translation line.
fn is_english(s: &str) -> bool {
    !has_hangul(s) && s.chars().any(|c| c.is_ascii_alphabetic())
}

fn has_hangul(s: &str) -> bool {
    s.chars()
        .any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c) || ('\u{3131}'..='\u{318E}').contains(&c))
}

/// Whether a line has anything left worth showing (not just punctuation or spaces).
fn has_words(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

/// One scraped line with the chosen kinds of noise removed; `None` when nothing of it is a
/// dish (the whole line was noise).
pub fn clean(line: &str, kinds: &Kinds) -> Option<String> {
    let mut text = line.trim().to_string();
    if kinds.contains(&Kind::Hours) && HOURS_LINE.is_match(&text) {
        return None;
    }
    if kinds.contains(&Kind::English) && is_english(&text) {
        return None;
    }
    if kinds.contains(&Kind::Origin) {
        let bare = text.trim_start_matches('(').trim_end_matches(')');
        if is_origin(bare) {
            return None;
        }
        text = PAREN
            .replace_all(&text, |c: &regex::Captures<'_>| {
                if is_origin(&c[1]) {
                    String::new()
                } else {
                    c[0].to_string()
                }
            })
            .into_owned();
    }
    if kinds.contains(&Kind::Price) {
        text = PRICE.replace_all(&text, "").into_owned();
        // `김밥, 참치김밥` after `김밥:2,500원, 참치김밥:3,000원`; no dangling separators.
        text = text
            .trim()
            .trim_end_matches([',', '/', '+'])
            .trim()
            .to_string();
    }
    if kinds.contains(&Kind::Allergen) {
        text = ALLERGEN.replace(&text, "").into_owned();
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // What is left of `4,000원 624kcal` once the price is gone is not a dish either.
    if kinds.contains(&Kind::English) && is_english(&text) {
        return None;
    }
    has_words(&text).then_some(text)
}

/// Side dishes every meal has; shortening drops them before anything else.
const SIDES: &[&str] = &[
    "김치",
    "배추김치",
    "포기김치",
    "맛김치",
    "깍두기",
    "석박지",
    "총각김치",
    "열무김치",
    "단무지",
    "단무지무침",
    "샐러드",
    "그린샐러드",
    "쌀밥",
    "흰쌀밥",
    "백미밥",
    "잡곡밥",
    "흑미밥",
    "현미밥",
    "보리밥",
    "공기밥",
    "밥",
    "누룽지",
    "숭늉",
    "요구르트",
    "요거트",
    "음료",
    "탄산음료",
    "도시락김",
    "김구이",
    "구운김",
    "조미김",
    "피클",
    "양념장",
    "소스",
];

/// Whether a (cleaned) line is of low value: a side every meal has (`배추김치`,
/// `배추김치/단무지`), or a note rather than a dish (`*자율배식*`, `**12시부터 한정판매`,
/// `****솥밥****`, `-더진국-`).
pub fn is_minor(line: &str) -> bool {
    let t = line.trim();
    if t.starts_with(['*', '-', '<', '※', '[', '+', '#']) || t.ends_with(['*', '-']) {
        return true;
    }
    if ["한정판매", "자율배식", "휴게시간", "부탁"]
        .iter()
        .any(|w| t.contains(w))
    {
        return true;
    }
    t.split(['/', '*', ',', '&'])
        .map(|p| {
            let p = p.trim();
            // `탄산음료(캔)` is a drink all the same.
            p.split_once('(').map_or(p, |(head, _)| head).trim()
        })
        .filter(|p| !p.is_empty())
        .all(|p| SIDES.contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(line: &str) -> Option<String> {
        clean(line, &all())
    }

    #[test]
    fn origin_notes_go_whether_alone_or_after_a_dish() {
        assert_eq!(c("(돼지:국내산)"), None);
        assert_eq!(c("쌀:국내산"), None);
        assert_eq!(c("(배추,고춧가루:국내산)"), None);
        assert_eq!(c("(돼지/소:국내산)"), None);
        assert_eq!(c("짜장/짬뽕").as_deref(), Some("짜장/짬뽕"));
        assert_eq!(
            c("삼겹-돼지:독일산/닭:국내산/소:미국산/스팸-돼지:국내산,외국산/쌀:국내산"),
            None
        );
        assert_eq!(
            c("(삼겹:독일산/배추,고추분:국내산//스팸-돼지:지방일부국산,외국산/대두:외국산)"),
            None
        );
        assert_eq!(
            c("더블까스(치킨까스&돈까스)(닭:국내산,돼지:국내산)6500원").as_deref(),
            Some("더블까스(치킨까스&돈까스)")
        );
    }

    #[test]
    fn prices_go_alone_or_after_a_dish() {
        assert_eq!(c("￦ 7,000"), None);
        assert_eq!(c("6,000원"), None);
        assert_eq!(c("냉모밀 5,500원").as_deref(), Some("냉모밀"));
        assert_eq!(
            c("치즈오븐파스타 6500원(한정판매)").as_deref(),
            Some("치즈오븐파스타(한정판매)")
        );
        assert_eq!(
            c("김밥:2,500원, 참치김밥:3,000원, 돈까스김밥3,500원").as_deref(),
            Some("김밥, 참치김밥, 돈까스김밥")
        );
        assert_eq!(
            c("수육국밥/순대국밥6,800원").as_deref(),
            Some("수육국밥/순대국밥")
        );
    }

    #[test]
    fn hours_english_and_allergen_numbers_go() {
        assert_eq!(c("11:00~14:00"), None);
        assert_eq!(c("(15:00~16:00 휴게시간)"), None);
        assert_eq!(c("beef seaweed soup"), None);
        assert_eq!(c("4,000원 624kcal"), None);
        assert_eq!(c("쇠고기미역국 5.6.16.").as_deref(), Some("쇠고기미역국"));
        assert_eq!(c("돈까스(1.2.5.10)").as_deref(), Some("돈까스"));
    }

    #[test]
    fn dish_names_with_numbers_or_parentheses_are_kept() {
        for dish in [
            "탄산음료(캔)",
            "돈갈비김치찌개(뚝)",
            "3색나물",
            "**12시부터 한정판매",
            "천원의 아침",
            "새우튀김우동(면)",
            "Self라면+밥",
        ] {
            assert_eq!(c(dish).as_deref(), Some(dish), "{dish}");
        }
    }

    #[test]
    fn only_the_chosen_kinds_are_dropped() {
        let only_price: Kinds = [Kind::Price].into_iter().collect();
        assert_eq!(
            clean("(돼지:국내산)", &only_price).as_deref(),
            Some("(돼지:국내산)")
        );
        assert_eq!(clean("￦ 7,000", &only_price), None);
        assert_eq!(
            clean("￦ 7,000", &Kinds::new()).as_deref(),
            Some("￦ 7,000")
        );
    }

    #[test]
    fn sides_and_notes_are_minor_and_mains_are_not() {
        for minor in [
            "배추김치",
            "배추김치/단무지",
            "*자율배식*",
            "탄산음료(캔)",
            "****솥밥****",
            "-더진국-",
        ] {
            assert!(is_minor(minor), "{minor}");
        }
        for main in [
            "치즈돈가스",
            "돈갈비김치찌개(뚝)",
            "김치가츠나베",
            "날치알김치볶음밥*요구르트",
        ] {
            assert!(!is_minor(main), "{main}");
        }
    }
}
