//! Favourite and avoided dishes: matching words against dish names the way people write
//! them, and the marks (★, ⚠) a message puts on them.
//!
//! Pure, no I/O. Matching ignores spaces, case and the usual spelling variants of Korean
//! menus (`돈가스`/`돈까스`/`돈카츠`, `소시지`/`소세지`, `찌개`/`찌게`, …), so
//! `favorites = ["돈까스"]` finds `치즈돈가스` and `돈 까 스`.

/// `[highlight]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Highlight {
    /// Words that mark a dish with ★ (and, with `notify_me`, alert "me").
    pub favorites: Vec<String>,
    /// Words that mark a dish with ⚠ (allergies, dislikes).
    pub avoid: Vec<String>,
    /// Send "me" one short alert when a favourite is on a meal's menu.
    pub notify_me: bool,
}

/// Mark put before a favourite dish.
pub const FAVORITE: &str = "★";
/// Mark put before a dish with an avoided word.
pub const AVOID: &str = "⚠";

// Variant spellings, each rewritten to one form before comparing. Longest first where one
// contains another.
const VARIANTS: &[(&str, &str)] = &[
    ("까스", "가스"),
    ("카츠", "가스"),
    ("가츠", "가스"),
    ("까츠", "가스"),
    ("커틀릿", "가스"),
    ("커틀렛", "가스"),
    ("소세지", "소시지"),
    ("쏘세지", "소시지"),
    ("찌게", "찌개"),
    ("쭈꾸미", "주꾸미"),
    ("짜장", "자장"),
    ("케찹", "케첩"),
    ("쥬스", "주스"),
    ("떡뽁이", "떡볶이"),
    ("까르보나라", "카르보나라"),
    ("후라이드", "프라이드"),
    ("닭도리탕", "닭볶음탕"),
];

/// The form two spellings of one dish share: no spaces, lowercase, variants unified.
pub fn normalize(text: &str) -> String {
    let mut s: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    for (from, to) in VARIANTS {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

impl Highlight {
    /// True when nothing is configured (rendering stays as it was).
    pub fn is_empty(&self) -> bool {
        self.favorites.is_empty() && self.avoid.is_empty()
    }

    /// The favourite words found in `dish`, as configured.
    pub fn favorites_in(&self, dish: &str) -> Vec<&str> {
        matches(&self.favorites, dish)
    }

    /// The avoided words found in `dish`, as configured.
    pub fn avoided_in(&self, dish: &str) -> Vec<&str> {
        matches(&self.avoid, dish)
    }

    /// `dish` with its marks: `★ 치즈돈가스`, `⚠ 땅콩조림`, `★⚠ …` for both.
    pub fn mark(&self, dish: &str) -> String {
        let fav = !self.favorites_in(dish).is_empty();
        let avoid = !self.avoided_in(dish).is_empty();
        match (fav, avoid) {
            (false, false) => dish.to_string(),
            (true, false) => format!("{FAVORITE} {dish}"),
            (false, true) => format!("{AVOID} {dish}"),
            (true, true) => format!("{FAVORITE}{AVOID} {dish}"),
        }
    }
}

fn matches<'w>(words: &'w [String], dish: &str) -> Vec<&'w str> {
    let dish = normalize(dish);
    words
        .iter()
        .filter(|w| {
            let w = normalize(w);
            !w.is_empty() && dish.contains(&w)
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Highlight {
        Highlight {
            favorites: vec!["돈까스".into(), "치킨".into()],
            avoid: vec!["땅콩".into()],
            notify_me: true,
        }
    }

    #[test]
    fn favourites_match_across_spaces_and_spelling_variants() {
        for dish in [
            "치즈돈가스",
            "돈 까 스",
            "철판돈카츠",
            "더블까스(치킨까스&돈까스)",
        ] {
            assert_eq!(h().mark(dish), format!("★ {dish}"), "{dish}");
        }
        assert_eq!(h().mark("된장찌개"), "된장찌개");
    }

    #[test]
    fn avoided_words_are_marked_and_both_marks_can_meet() {
        assert_eq!(h().mark("연근땅콩조림"), "⚠ 연근땅콩조림");
        assert_eq!(h().mark("땅콩소스치킨"), "★⚠ 땅콩소스치킨");
    }
}
