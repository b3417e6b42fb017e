//! Kakao's daily message quotas, and how many messages a day a configuration sends.
//!
//! Kakao counts messages to friends per sender (100 a day) and per sender–receiver pair
//! (20 a day). "Send to me" has no published quota, so it is shown but not counted. A
//! day's messages are parts × recipients × meals, with the parts as the sources read today;
//! a meal whose page has no menu today counts as one part (and says it was assumed). `config check`, `preview` and `doctor` all ask
//! [`Estimate::overruns`]. Pure: no I/O, no clock.

use chrono::{DateTime, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::meal::Meal;

/// Messages one user may send to friends a day (Kakao: `-532` past it).
pub const PER_SENDER: u64 = 100;
/// Messages one user may send to one friend a day (Kakao: `-536` past it).
pub const PER_PAIR: u64 = 20;

/// One scheduled meal's share of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MealLoad {
    /// The meal.
    pub meal: Meal,
    /// How many times its schedule fires in a day.
    pub fires: u64,
    /// Parts each friend receives per run (as the sources read today).
    pub parts: u64,
    /// The page had no menu to count today: `parts` is an assumed 1.
    pub is_assumed: bool,
}

impl MealLoad {
    /// A meal's load from the parts today's page gave: at least one part for a meal that
    /// is scheduled, assumed when the page had none to count.
    pub fn new(meal: Meal, fires: u64, parts_today: u64) -> MealLoad {
        MealLoad {
            meal,
            fires,
            parts: parts_today.max(1),
            is_assumed: parts_today == 0,
        }
    }
}

/// The messages a configuration sends in a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// The scheduled meals.
    pub meals: Vec<MealLoad>,
    /// How many friends get every meal of every source (`[recipients] friends`).
    pub friends: u64,
    /// Each other friend's messages a day (a group's audience gets its own parts).
    pub partial: Vec<u64>,
}

/// A quota the estimate passes, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    /// What passes which limit, in words.
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl Estimate {
    /// Messages each friend receives a day.
    pub fn per_friend(&self) -> u64 {
        self.meals.iter().map(|m| m.fires * m.parts).sum()
    }

    /// Messages sent to friends a day, all friends together.
    pub fn to_friends(&self) -> u64 {
        self.per_friend() * self.friends + self.partial.iter().sum::<u64>()
    }

    /// How many friends get anything.
    fn all_friends(&self) -> u64 {
        self.friends + self.partial.len() as u64
    }

    /// The most messages one friend receives a day.
    fn most_per_friend(&self) -> u64 {
        let everything = if self.friends > 0 {
            self.per_friend()
        } else {
            0
        };
        self.partial.iter().copied().fold(everything, u64::max)
    }

    /// One line for people: `36 messages a day to friends (3 parts × 12 friends × 1 meal …)`.
    pub fn describe(&self) -> String {
        let meals: Vec<String> = self
            .meals
            .iter()
            .map(|m| {
                let times = if m.fires == 1 {
                    String::new()
                } else {
                    format!(" ×{}", m.fires)
                };
                format!(
                    "{} {} part{}{times}{}",
                    m.meal,
                    m.parts,
                    if m.parts == 1 { "" } else { "s" },
                    if m.is_assumed {
                        " (assumed: no menu on the page today)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        format!(
            "{} message{} a day to {} friend{} ({}); limits {PER_SENDER} per sender, {PER_PAIR} per friend",
            self.to_friends(),
            if self.to_friends() == 1 { "" } else { "s" },
            self.all_friends(),
            if self.all_friends() == 1 { "" } else { "s" },
            if meals.is_empty() {
                "nothing scheduled".to_string()
            } else {
                meals.join(", ")
            }
        )
    }

    /// The daily quotas this estimate passes, each with its fix; empty when it fits.
    pub fn overruns(&self) -> Vec<Overrun> {
        let per_friend = self.most_per_friend();
        let friends = self.all_friends();
        let mut out = Vec::new();
        if friends > 0 && self.to_friends() > PER_SENDER {
            let fit = PER_SENDER / per_friend.max(1);
            out.push(Overrun {
                message: format!(
                    "{} messages a day to friends pass Kakao's limit of {PER_SENDER} per sender ({}); the rest fail with -532",
                    self.to_friends(),
                    if self.partial.is_empty() {
                        format!("{per_friend} each × {friends} friends")
                    } else {
                        format!("{friends} friends, up to {per_friend} each")
                    }
                ),
                fix: format!(
                    "list at most {fit} friends under [recipients], or send fewer parts (message.template = \"list\", exclude = [...] in [[source]]) or fewer meals"
                ),
            });
        }
        if friends > 0 && per_friend > PER_PAIR {
            out.push(Overrun {
                message: format!(
                    "{per_friend} messages a day to each friend pass Kakao's limit of {PER_PAIR} per friend; the rest fail with -536"
                ),
                fix: "schedule each meal at most once a day and send fewer parts (message.template = \"list\")".into(),
            });
        }
        out
    }
}

/// How many times `cron` fires on local day `day` in `tz` (capped at 10 000).
pub fn fires_on(cron: &croner::Cron, tz: Tz, day: NaiveDate) -> u64 {
    let Some(start) = tz
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .earliest()
    else {
        return 0;
    };
    let end = start + Duration::days(1);
    // Start one second early: next_after is strictly after.
    let mut at: DateTime<Tz> = start - Duration::seconds(1);
    let mut n = 0;
    while n < 10_000 {
        match crate::schedule::next_after(cron, tz, at.with_timezone(&chrono::Utc)) {
            Some(next) if next < end => {
                n += 1;
                at = next;
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(meals: u64, parts: u64, friends: u64) -> Estimate {
        Estimate {
            meals: Meal::ALL
                .iter()
                .take(meals as usize)
                .map(|&meal| MealLoad::new(meal, 1, parts))
                .collect(),
            friends,
            partial: Vec::new(),
        }
    }

    #[test]
    fn three_meals_of_three_parts_to_twelve_friends_pass_the_sender_quota() {
        let e = estimate(3, 3, 12);
        assert_eq!(e.to_friends(), 108);
        let overruns = e.overruns();
        assert_eq!(overruns.len(), 1, "{overruns:?}");
        assert!(overruns[0].message.contains("108 messages a day"));
        assert!(overruns[0].message.contains("100 per sender"));
        // 9 messages per friend a day: 11 friends fit.
        assert!(overruns[0].fix.contains("at most 11 friends"));
    }

    #[test]
    fn a_group_counts_its_own_messages() {
        // 3 friends with 2 meals × 2 parts, and 30 in a group with 1 part a day: 42.
        let mut e = estimate(2, 2, 3);
        e.partial = vec![1; 30];
        assert_eq!(e.to_friends(), 42);
        assert!(
            e.describe().starts_with("42 messages a day to 33 friends"),
            "{}",
            e.describe()
        );
        assert!(e.overruns().is_empty());
        e.partial = vec![3; 30];
        assert!(e.overruns()[0].message.contains("102 messages a day"));
    }

    #[test]
    fn one_part_to_five_friends_fits() {
        assert!(estimate(1, 1, 5).overruns().is_empty());
        assert!(estimate(3, 1, 5).overruns().is_empty());
        assert!(estimate(3, 3, 0).overruns().is_empty());
    }

    #[test]
    fn a_meal_without_a_menu_today_counts_one_part_and_says_it_was_assumed() {
        let e = Estimate {
            meals: vec![MealLoad::new(Meal::Lunch, 1, 0)],
            friends: 40,
            partial: Vec::new(),
        };
        assert_eq!(e.to_friends(), 40);
        let text = e.describe();
        assert!(
            text.starts_with("40 messages a day to 40 friends"),
            "{text}"
        );
        assert!(
            text.contains("lunch 1 part (assumed: no menu on the page today)"),
            "{text}"
        );
    }

    #[test]
    fn a_meal_every_minute_passes_the_pair_quota() {
        let cron = crate::schedule::parse_cron("* * * * *").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let fires = fires_on(&cron, chrono_tz::Asia::Seoul, day);
        assert_eq!(fires, 1440);
        let e = Estimate {
            meals: vec![MealLoad::new(Meal::Lunch, fires, 1)],
            friends: 1,
            partial: Vec::new(),
        };
        assert!(e.overruns().iter().any(|o| o.message.contains("-536")));
    }

    #[test]
    fn a_weekday_schedule_fires_once_on_a_weekday_and_never_on_sunday() {
        let cron = crate::schedule::parse_cron("30 11 * * Mon-Fri").unwrap();
        let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let sunday = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(fires_on(&cron, chrono_tz::Asia::Seoul, monday), 1);
        assert_eq!(fires_on(&cron, chrono_tz::Asia::Seoul, sunday), 0);
    }
}
