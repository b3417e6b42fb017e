//! The three meals kbot knows about, with their English and Korean names.
//!
//! Pure: no I/O. Every other module names a meal through [`Meal`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A meal of the day. Ordered by time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Meal {
    Breakfast,
    Lunch,
    Dinner,
}

impl Meal {
    /// All meals in time-of-day order.
    pub const ALL: [Meal; 3] = [Meal::Breakfast, Meal::Lunch, Meal::Dinner];

    /// The English name used in config keys, JSON and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Meal::Breakfast => "breakfast",
            Meal::Lunch => "lunch",
            Meal::Dinner => "dinner",
        }
    }

    /// The Korean name used in messages (`아침`, `점심`, `저녁`).
    pub fn korean(self) -> &'static str {
        match self {
            Meal::Breakfast => "아침",
            Meal::Lunch => "점심",
            Meal::Dinner => "저녁",
        }
    }
}

impl fmt::Display for Meal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a word that names no meal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown meal {0:?}: expected breakfast, lunch or dinner (아침, 점심, 저녁)")]
pub struct UnknownMeal(pub String);

impl FromStr for Meal {
    type Err = UnknownMeal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "breakfast" | "아침" | "조식" => Ok(Meal::Breakfast),
            "lunch" | "점심" | "중식" => Ok(Meal::Lunch),
            "dinner" | "저녁" | "석식" => Ok(Meal::Dinner),
            _ => Err(UnknownMeal(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_aliases_parse_to_the_same_meal() {
        assert_eq!("점심".parse::<Meal>(), Ok(Meal::Lunch));
        assert_eq!("Lunch".parse::<Meal>(), Ok(Meal::Lunch));
        assert_eq!("아침".parse::<Meal>(), Ok(Meal::Breakfast));
        assert_eq!("저녁".parse::<Meal>(), Ok(Meal::Dinner));
        assert!("brunch".parse::<Meal>().is_err());
    }
}
