//! The vacation pause (방학): when a meal has had no menu for several of its runs in a row,
//! kbot stops sending closed notices and warnings, tells "me" once that it paused, and
//! resumes by itself with the first menu.
//!
//! Pure, no I/O: `deliver` reads the recent outcomes from the ledger
//! (`Ledger::recent_outcomes`) and calls [`apply`] on the rendered run. No state is kept
//! besides the ledger's runs: the pause is the streak of quiet runs itself.

use chrono::NaiveDate;

use crate::meal::Meal;
use crate::message::{self, Rendered, Style};

/// The run that makes this many quiet runs in a row sends the pause notice; later quiet
/// runs send nothing.
pub const AFTER_RUNS: usize = 3;

/// What a run does about the pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send as rendered (a menu, or not yet quiet for long).
    Normal,
    /// Send only the pause notice to "me" (the run that reaches [`AFTER_RUNS`]).
    Notice,
    /// Send nothing (paused).
    Silent,
}

/// Whether a run outcome (the ledger's word) means "nothing to send today" the way a
/// vacation does: closed, nothing posted for the date yet (`wrong_date`), or a meal the
/// place does not serve. A fault is never quiet: a broken selector or filter
/// (`not_found`) and a page that could not be fetched keep warning at every run.
pub fn is_quiet(outcome: &str) -> bool {
    matches!(outcome, "closed" | "wrong_date" | "no_meal")
}

/// How many quiet runs came right before this one, from the newest-first outcomes.
pub fn streak(outcomes: &[(NaiveDate, String)]) -> usize {
    outcomes.iter().take_while(|(_, o)| is_quiet(o)).count()
}

/// What to do given the quiet runs before this one and this run's outcomes (one per
/// source): the run is quiet only when every source is.
pub fn decide<'a>(quiet_before: usize, today: impl IntoIterator<Item = &'a str>) -> Decision {
    let mut today = today.into_iter().peekable();
    if today.peek().is_none() || !today.all(is_quiet) {
        return Decision::Normal;
    }
    match (quiet_before + 1).cmp(&AFTER_RUNS) {
        std::cmp::Ordering::Less => Decision::Normal,
        std::cmp::Ordering::Equal => Decision::Notice,
        std::cmp::Ordering::Greater => Decision::Silent,
    }
}

/// Replace a run's parts as the decision says.
pub fn apply(
    rendered: &mut Rendered,
    decision: Decision,
    date: NaiveDate,
    meal: Meal,
    style: &Style,
) {
    match decision {
        Decision::Normal => {}
        Decision::Notice => {
            rendered.parts = vec![message::pause_notice(date, meal, AFTER_RUNS, style)];
        }
        Decision::Silent => rendered.parts.clear(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_quiet_run_sends_the_notice_later_ones_nothing_and_a_menu_resumes() {
        let decisions: Vec<Decision> = (0..5).map(|before| decide(before, ["closed"])).collect();
        assert_eq!(
            decisions,
            [
                Decision::Normal,
                Decision::Normal,
                Decision::Notice,
                Decision::Silent,
                Decision::Silent
            ]
        );
        assert_eq!(decide(7, ["menu"]), Decision::Normal);
        assert_eq!(decide(7, ["fetch_failed"]), Decision::Normal);
        assert_eq!(decide(7, ["wrong_date"]), Decision::Silent);
    }

    #[test]
    fn a_broken_selector_or_filter_keeps_warning_even_beside_a_closed_source() {
        assert_eq!(decide(7, ["not_found"]), Decision::Normal);
        assert_eq!(decide(7, ["closed", "not_found"]), Decision::Normal);
        assert_eq!(decide(7, ["closed", "fetch_failed"]), Decision::Normal);
        assert_eq!(decide(7, ["closed", "wrong_date"]), Decision::Silent);
        assert_eq!(decide(7, []), Decision::Normal);
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let faults = [
            (d("2026-07-03"), "not_found".to_string()),
            (d("2026-07-02"), "closed".to_string()),
        ];
        assert_eq!(streak(&faults), 0, "a fault ends the quiet streak");
    }

    #[test]
    fn the_streak_stops_at_the_newest_menu() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let outcomes = [
            (d("2026-07-03"), "closed".to_string()),
            (d("2026-07-02"), "wrong_date".to_string()),
            (d("2026-07-01"), "menu".to_string()),
            (d("2026-06-30"), "closed".to_string()),
        ];
        assert_eq!(streak(&outcomes), 2);
    }
}
