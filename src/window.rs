//! A meal's window (DESIGN §8): from its slot until `catch_up` after it, the
//! daemon keeps at a meal until it is delivered or the window closes.
//!
//! Owns the plan — when to try again ([`Policy::next_try`], pure: capped, jittered backoff
//! for deliveries that failed for a passing reason; `recheck` for a menu not posted yet;
//! the last try at the window's close, which sends the held-back warning to "me") — and
//! [`serve`], the loop that runs it through `deliver`. Does not own what a try does
//! (`deliver`) or when slots fire (`schedule`).
//!
//! Also the prefetch ([`prefetch`]): each meal's pages are scraped `schedule.prefetch`
//! before its slot and the run handed to the slot ([`Prefetched`]), which fetches again
//! only if that run failed (the site was down, the page still showed another date).
//!
//! I/O: [`serve`] and [`prefetch`] scrape, send, write the ledger and sleep (tokio time);
//! the rest is pure.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;

use crate::deliver::{self, Options, Pipeline, Summary, To};
use crate::kakao;
use crate::ledger::Ledger;
use crate::meal::Meal;

/// The span of one meal's persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The slot.
    pub opens: DateTime<Utc>,
    /// `catch_up` (at least [`crate::schedule::ON_TIME`]) after the slot.
    pub closes: DateTime<Utc>,
}

impl Window {
    /// The window of a slot: it closes `catch_up` (at least `ON_TIME`) after it.
    pub fn of(slot: DateTime<Utc>, catch_up: Duration) -> Window {
        let span = catch_up.max(crate::schedule::ON_TIME);
        Window {
            opens: slot,
            closes: slot + chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Whether `now` is past the close.
    pub fn is_closed(&self, now: DateTime<Utc>) -> bool {
        now >= self.closes
    }
}

/// How the window paces its tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Backoff between delivery retries: `base` doubling up to `cap`, jittered.
    pub retry: kakao::Retry,
    /// How often a menu not posted yet is looked for again (`schedule.recheck`).
    pub recheck: Duration,
}

impl Policy {
    /// 2 s growing to 2 min between retries, `recheck` between looks at the page.
    /// `KBOT_RETRY_BASE_MS` shrinks the base (and the cap to 60 times it) so tests run fast.
    pub fn new(recheck: Duration, env: &dyn Fn(&str) -> Option<String>) -> Policy {
        let mut retry = kakao::Retry {
            attempts: u32::MAX,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(120),
        };
        if let Some(ms) = env("KBOT_RETRY_BASE_MS").and_then(|v| v.parse::<u64>().ok()) {
            retry.base = Duration::from_millis(ms);
            retry.cap = Duration::from_millis(ms.saturating_mul(60));
        }
        Policy { retry, recheck }
    }

    /// After try number `attempt` (1-based) ended at `now` with `state`, when to try
    /// again: `None` when the meal is settled (delivered, or failed for good) or the
    /// window has closed. The last try is made at the close itself. Pure; `unit` is the
    /// jitter draw in `0..1`.
    pub fn next_try(
        &self,
        window: &Window,
        attempt: u32,
        state: State,
        now: DateTime<Utc>,
        unit: f64,
    ) -> Option<DateTime<Utc>> {
        if window.is_closed(now) {
            return None;
        }
        let wait = match state {
            State::Settled => return None,
            State::Retry => kakao::backoff(&self.retry, attempt, unit),
            State::Recheck => self.recheck,
        };
        let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        Some(at.min(window.closes))
    }
}

/// What one try left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Delivered, or failed for a reason that waiting does not fix.
    Settled,
    /// A delivery failed for a passing reason (network, 5xx, `-1`, `-7`, `-603`).
    Retry,
    /// No menu yet, and the page may still get one: look again after `recheck`.
    Recheck,
}

/// One meal to serve through its window.
#[derive(Debug)]
pub struct Job {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// Until when to keep trying.
    pub window: Window,
    /// Who to send to.
    pub to: To,
    /// A run scraped before the slot: used when every source gave a menu (or a closed
    /// notice), else the page is fetched again.
    pub prefetched: Option<deliver::Run>,
}

/// Where a meal stands between two tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tries made so far.
    pub attempt: u32,
    /// Why another is due.
    pub state: State,
    /// How long until it.
    pub wait: Duration,
    /// When the window closes.
    pub closes: DateTime<Utc>,
    /// Deliveries done (sent now or earlier).
    pub delivered: usize,
    /// Deliveries still failing.
    pub waiting: usize,
}

impl Progress {
    /// One line for a person watching (`send-now --wait`).
    pub fn describe(&self) -> String {
        let why = match self.state {
            State::Recheck => "no menu on the page yet".to_string(),
            _ => format!(
                "{} delivered, {} failed for a reason that may pass",
                self.delivered, self.waiting
            ),
        };
        format!(
            "try {}: {why}; trying again in {:.0}s (giving up at {})",
            self.attempt,
            self.wait.as_secs_f64().ceil(),
            self.closes.format("%H:%M:%S UTC")
        )
    }
}

/// A stop signal for a terminal run: turns true on Ctrl-C.
pub fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        } else {
            tx.closed().await;
        }
    });
    rx
}

/// The state a try's summary leaves.
pub fn state(summary: &Summary, held_warning: bool) -> State {
    if held_warning {
        State::Recheck
    } else if summary.needs_retry() {
        State::Retry
    } else {
        State::Settled
    }
}

/// Serve one meal until it is delivered or its window closes; returns the last try's
/// summary. A delivery that failed for a passing reason is retried with the same scraped
/// run (so every recipient gets the same parts); a menu not posted yet is looked for
/// every `recheck`, the warning to "me" held back until the last try at the close (or sent
/// at once when the cause cannot heal, see [`deliver::can_heal`]). A stop request ends
/// the wait between tries; the ledger keeps what is left, and a restart inside the window
/// returns to it.
///
/// `progress` hears of every wait between tries (`send-now --wait` prints it).
pub async fn serve(
    pipeline: &Pipeline<'_>,
    ledger: &mut Ledger,
    job: Job,
    policy: &Policy,
    stop: &mut watch::Receiver<bool>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> crate::Result<Summary> {
    let Job {
        date,
        meal,
        window,
        to,
        prefetched,
    } = job;
    let mut kept: Option<deliver::Run> = prefetched.filter(|run| run.failed_sources().is_empty());
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let last = window.is_closed(pipeline.clock.now());
        let run = match kept.take() {
            Some(run) => run,
            // Reading the menu sends nothing, so a stop need not wait for a slow site or a
            // page that takes long to parse: nothing is recorded, and a restart inside the
            // window catches the slot up.
            None => tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => {
                    tracing::info!(%date, %meal, "stopping while the menu is read; nothing was sent");
                    return Err(crate::error::Interrupted {
                        what: Some("stopped while reading the menu; nothing was sent".into()),
                        hint: None,
                    }
                    .into());
                }
                run = deliver::prepare(pipeline.config, pipeline.http, date, meal) => run,
            },
        };
        let hold_warning = !last && run.may_heal();
        let options = Options {
            to,
            force: false,
            hold_warning,
            // The window's own stop ends the wait between tries; a run in flight finishes.
            stop: None,
        };
        let summary = pipeline
            .execute_with(ledger, date, meal, options, Some(run))
            .await?;
        let state = state(&summary, hold_warning);
        let now = pipeline.clock.now();
        let Some(at) = policy.next_try(&window, attempt, state, now, kakao::jitter_unit()) else {
            return Ok(summary);
        };
        if state == State::Retry {
            kept = Some(summary.run.clone());
        }
        let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
        tracing::info!(%date, %meal, attempt, ?state, "trying again in {wait:?} (the window closes at {})", window.closes);
        progress(&Progress {
            attempt,
            state,
            wait,
            closes: window.closes,
            delivered: summary
                .deliveries
                .iter()
                .filter(|d| matches!(d.status, "sent" | "skipped"))
                .count(),
            waiting: summary.deliveries.iter().filter(|d| d.is_problem()).count(),
        });
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => {
                tracing::info!(%date, %meal, "stopping inside the window; a restart before it closes goes on");
                return Ok(summary);
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The run a prefetch left for its slot, shared by [`prefetch`] and the slot.
#[derive(Debug, Clone, Default)]
pub struct Prefetched(Arc<Mutex<Option<(NaiveDate, Meal, deliver::Run)>>>);

impl Prefetched {
    /// The run prefetched for (`date`, `meal`), if any (taken: used once).
    pub fn take(&self, date: NaiveDate, meal: Meal) -> Option<deliver::Run> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.take() {
            Some((d, m, run)) if d == date && m == meal => Some(run),
            _ => None,
        }
    }

    /// Forget what was prefetched (a reload may have changed the sources).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn put(&self, date: NaiveDate, meal: Meal, run: deliver::Run) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((date, meal, run));
    }
}

/// When to prefetch for a slot: `lead` before it. Pure.
pub fn prefetch_at(slot: DateTime<Utc>, lead: Duration) -> DateTime<Utc> {
    slot - chrono::Duration::from_std(lead).unwrap_or(chrono::Duration::zero())
}

/// Scrape each meal `schedule.prefetch` before its slot (at once when the daemon starts
/// inside the lead) and leave the run in `store` for the slot. The config is read from
/// `config` at every turn, so a reload moves the prefetch with the schedule. Never returns;
/// a lead of zero prefetches nothing. Naps at most [`crate::schedule::MAX_NAP`] so a clock
/// change or a reload is noticed.
pub async fn prefetch(
    config: watch::Receiver<Config>,
    http: &reqwest::Client,
    clock: Arc<dyn Clock>,
    store: Prefetched,
) {
    loop {
        let config = config.borrow().clone();
        let lead = config.schedule.prefetch;
        let now = clock.now();
        let next = config.plan().next_fire(now);
        let Some((meal, slot)) = next.filter(|_| !lead.is_zero()) else {
            tokio::time::sleep(crate::schedule::MAX_NAP).await;
            continue;
        };
        let slot_utc = slot.with_timezone(&Utc);
        let start = prefetch_at(slot_utc, lead);
        if start > now {
            let nap = (start - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(nap.min(crate::schedule::MAX_NAP)).await;
            continue;
        }
        let date = slot.date_naive();
        let run = deliver::prepare(&config, http, date, meal).await;
        tracing::info!(%date, %meal, %slot, failed = ?run.failed_sources(), "prefetched the pages for the slot");
        store.put(date, meal, run);
        // On to the next slot once this one has passed.
        let past = (slot_utc - clock.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(past + Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    fn policy() -> Policy {
        Policy::new(Duration::from_secs(300), &|_| None)
    }

    #[test]
    fn the_window_closes_catch_up_after_the_slot_but_never_before_on_time() {
        let slot = at("2026-11-30T02:30:00Z");
        assert_eq!(
            Window::of(slot, Duration::from_secs(45 * 60)).closes,
            at("2026-11-30T03:15:00Z")
        );
        assert_eq!(
            Window::of(slot, Duration::ZERO).closes,
            at("2026-11-30T02:32:00Z")
        );
    }

    #[test]
    fn delivery_retries_back_off_from_two_seconds_to_two_minutes_and_stop_at_the_close() {
        let window = Window::of(at("2026-11-30T02:30:00Z"), Duration::from_secs(45 * 60));
        let now = at("2026-11-30T02:30:00Z");
        let wait = |attempt| {
            policy()
                .next_try(&window, attempt, State::Retry, now, 1.0)
                .map(|t| (t - now).num_seconds())
        };
        assert_eq!(
            [1, 2, 3, 6, 7, 8, 20].map(wait),
            [2, 4, 8, 64, 120, 120, 120].map(Some)
        );
        // Jitter keeps at least half the step.
        let low = policy().next_try(&window, 3, State::Retry, now, 0.0);
        assert_eq!(low, Some(now + chrono::Duration::seconds(4)));
        // Near the close the last try is at the close itself; after it, none.
        let late = at("2026-11-30T03:14:30Z");
        assert_eq!(
            policy().next_try(&window, 9, State::Retry, late, 1.0),
            Some(window.closes)
        );
        assert_eq!(
            policy().next_try(&window, 9, State::Retry, window.closes, 1.0),
            None
        );
    }

    #[test]
    fn a_menu_not_posted_yet_is_looked_for_every_recheck_and_a_settled_meal_not_at_all() {
        let window = Window::of(at("2026-11-30T22:30:00Z"), Duration::from_secs(45 * 60));
        let now = at("2026-11-30T22:30:00Z");
        assert_eq!(
            policy().next_try(&window, 1, State::Recheck, now, 0.5),
            Some(at("2026-11-30T22:35:00Z"))
        );
        assert_eq!(
            policy().next_try(&window, 1, State::Settled, now, 0.5),
            None
        );
    }

    #[test]
    fn pages_are_prefetched_the_lead_before_the_slot() {
        let slot = at("2026-11-30T02:30:00Z");
        assert_eq!(
            prefetch_at(slot, Duration::from_secs(180)),
            at("2026-11-30T02:27:00Z")
        );
        assert_eq!(prefetch_at(slot, Duration::ZERO), slot);
    }

    #[test]
    fn a_prefetched_run_serves_only_its_own_slot_and_only_once() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let run = deliver::Run {
            date,
            meal: Meal::Lunch,
            reports: Vec::new(),
            rendered: crate::message::Rendered {
                parts: Vec::new(),
                has_problems: false,
                shown: Vec::new(),
                omitted: 0,
                left_out: Vec::new(),
                favorites: Vec::new(),
            },
        };
        let store = Prefetched::default();
        store.put(date, Meal::Lunch, run.clone());
        assert!(store.take(date, Meal::Dinner).is_none(), "another meal");
        store.put(date, Meal::Lunch, run);
        assert!(store.take(date, Meal::Lunch).is_some());
        assert!(store.take(date, Meal::Lunch).is_none(), "used once");
    }

    #[test]
    fn tests_shrink_the_backoff_through_the_environment() {
        let fast = Policy::new(Duration::from_secs(1), &|k| {
            (k == "KBOT_RETRY_BASE_MS").then(|| "10".to_string())
        });
        assert_eq!(fast.retry.base, Duration::from_millis(10));
        assert_eq!(fast.retry.cap, Duration::from_millis(600));
    }
}
