//! When the daemon runs a meal: cron per meal in a time zone, catch-up of missed slots, the
//! sleep-until loop, the weekly keep-alive and the single-instance lock (DESIGN §6).
//!
//! Owns: parsing the schedule's cron strings (croner 4: 5 fields, or 6 with seconds first;
//! crontab day-of-month/day-of-week OR rule), the pure decisions [`next_after`],
//! [`prev_at_or_before`], [`Plan::next_fire`], [`Plan::catch_up`] / [`Plan::due`], the
//! [`run`] loop, [`TokioClock`] for paused-time tests, and [`lock_instance`].
//!
//! Also owns the clock rules (DESIGN §8): slots are judged by the clock as it is now, a
//! ledger time ahead of it never pushes a slot out, a clock set back is logged, a jump of
//! more than a day records nothing as missed; and which job errors end the loop
//! ([`is_fatal`]: a lost login).
//!
//! Does not own: what a run does (the [`Jobs`] the caller plugs in: deliver, the ledger,
//! the token refresh, the config reload, the data-dir check), reading the config, or
//! signals (the caller passes `shutdown`; SIGHUP comes through [`Jobs::hangup`]).
//!
//! I/O: the pure functions do none. [`run`] reads the clock it is given and sleeps with
//! `tokio::time::sleep` (so `#[tokio::test(start_paused = true)]` drives it); the lock
//! creates and locks `<data_dir>/daemon.lock`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::clock::Clock;
use crate::error::{Exit, Report};
use crate::meal::Meal;

/// The longest the loop sleeps before looking at the wall clock again, so a suspend or a
/// clock change is noticed within a minute.
pub const MAX_NAP: Duration = Duration::from_secs(60);

/// How often the keep-alive hook runs (DESIGN §4: refresh at least weekly).
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How soon a failed keep-alive is tried again: a daemon started before the network was
/// up must not wait a week for its next refresh.
pub const KEEP_ALIVE_RETRY: Duration = Duration::from_secs(3600);

/// How far back [`Plan::catch_up`] looks at start-up. Only each meal's latest slot in this
/// window is considered, so a fresh install or a bot that was off for a month records at
/// most one missed slot per meal, and nothing older than a day.
pub const DEFAULT_LOOK_BACK: Duration = Duration::from_secs(24 * 3600);

/// A slot reached this late is still sent even when `catch_up` is shorter (or zero): the
/// loop itself wakes a few milliseconds after a slot, and that is not a missed slot.
pub const ON_TIME: Duration = Duration::from_secs(120);

/// A wall clock that moved back by more than this between two looks (measured against the
/// monotonic clock) is logged as set back; NTP slews by far less.
pub const CLOCK_STEP: Duration = Duration::from_secs(2);

/// More skip dates in a row than this and the search gives up (over a year of them).
const MAX_SKIPPED_DAYS: usize = 400;

/// Parse a schedule entry: 5 fields (`minute hour day-of-month month day-of-week`) or 6
/// with seconds first, or a nickname such as `@daily`. Day-of-month and day-of-week
/// combine with OR, as in crontab (`0 9 13 * Fri` runs on the 13th and on Fridays).
///
/// The error is a lowercase sentence without a trailing period, for the config module to
/// prefix with the key path.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found {fields}"
        ));
    }
    if !expr.trim_start().starts_with('@') {
        check_fields(expr)?;
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        // OR is croner's default; said here so a change of default cannot flip it.
        .dom_and_dow(false)
        .build()
        .parse(expr)
        .map_err(|err| {
            let text = err.to_string();
            let text = text.trim_end_matches('.');
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "invalid cron expression".to_string(),
            }
        })
}

/// The user's own words for what croner would only call an illegal character (croner's
/// errors carry its upper-cased copy of the field): a name that is no weekday or month, a
/// number out of its field's range, letters where a number must be.
fn check_fields(expr: &str) -> Result<(), String> {
    const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[(&str, u32, u32)] = &[
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
        ("weekday", 0, 7),
    ];
    let names = &names[names.len() - fields.len().min(names.len())..];
    for (field, (name, low, high)) in fields.iter().zip(names) {
        // Steps (`*/15`) are counts, not values of the field: only what comes before.
        let values = field.split(',').flat_map(|part| {
            part.split_once('/')
                .map_or(part, |(range, _)| range)
                .split('-')
        });
        for token in values {
            if token.is_empty() || token == "*" || token == "?" {
                continue;
            }
            if let Ok(n) = token.parse::<u32>() {
                if !(*low..=*high).contains(&n) {
                    return Err(format!(
                        "{name} {n} is out of range in {field:?} ({low}–{high})"
                    ));
                }
                continue;
            }
            if !token.chars().all(|c| c.is_ascii_alphabetic()) {
                continue; // `5L`, `5#2`, `15W`: croner's own checks
            }
            let upper = token.to_ascii_uppercase();
            match *name {
                "weekday" if !DAYS.contains(&upper.as_str()) && upper != "L" => {
                    return Err(format!(
                        "unknown weekday {token:?} in {field:?} (Mon–Sun, or 0–7 with 0 and 7 Sunday)"
                    ));
                }
                "month" if !MONTHS.contains(&upper.as_str()) => {
                    return Err(format!(
                        "unknown month {token:?} in {field:?} (Jan–Dec, or 1–12)"
                    ));
                }
                "weekday" | "month" => {}
                "day-of-month" if upper == "L" || upper == "W" => {}
                _ => {
                    return Err(format!(
                        "{token:?} in the {name} field {field:?}: a number {low}–{high}, a range (a-b), a list (a,b), a step (*/n) or *"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `d` as a chrono duration, saturating (config durations are far below the limit).
fn duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

/// The first slot of `cron` in zone `tz` strictly after `now`, or `None` if the pattern
/// never matches again. Pure.
///
/// DST is croner's: a slot in a spring-forward gap runs once at the first instant after
/// the gap (02:30 → 03:00 in Europe/Berlin); a slot in an autumn overlap runs once, at
/// its first occurrence.
pub fn next_after(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
    // Slots are whole seconds; dropping the fraction keeps "strictly after" exact.
    let from = whole_second(now).with_timezone(&tz);
    cron.find_next_occurrence(&from, false).ok()
}

/// The latest slot of `cron` in zone `tz` at or before `now`, for catch-up. Pure.
pub fn prev_at_or_before(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
    let from = whole_second(now).with_timezone(&tz);
    cron.find_previous_occurrence(&from, true).ok()
}

/// The first instant of `date` in `tz` (a zone may skip local midnight).
fn start_of_day(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    (0..24).find_map(|hour| {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// What the daemon should do about a slot that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the meal for `date` now (the slot is on time, or inside the catch-up window).
    Send {
        /// The local date of the slot.
        date: NaiveDate,
        /// The meal.
        meal: Meal,
        /// The slot that is being served.
        slot: DateTime<Tz>,
    },
    /// Record the slot as missed: it passed more than `catch_up` ago.
    Missed {
        /// The local date of the slot.
        date: NaiveDate,
        /// The meal.
        meal: Meal,
        /// The slot that was missed.
        slot: DateTime<Tz>,
    },
}

impl Action {
    /// The slot this action is about.
    pub fn slot(&self) -> DateTime<Tz> {
        match self {
            Action::Send { slot, .. } | Action::Missed { slot, .. } => *slot,
        }
    }
}

/// The schedule of one bot: a cron per meal in a zone, the catch-up window and the dates
/// to skip. Every method is pure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One cron per scheduled meal.
    pub meals: BTreeMap<Meal, Cron>,
    /// The zone the crons are read in.
    pub tz: Tz,
    /// A slot that passed less than this ago and was not run is run late.
    pub catch_up: Duration,
    /// Local dates on which nothing runs.
    pub skip_dates: BTreeSet<NaiveDate>,
    /// How far back [`Plan::catch_up`] looks ([`DEFAULT_LOOK_BACK`]).
    pub look_back: Duration,
    /// The longest nap between two looks at the clock ([`MAX_NAP`]).
    pub max_nap: Duration,
}

impl Plan {
    /// A plan with the default look-back.
    pub fn new(
        meals: BTreeMap<Meal, Cron>,
        tz: Tz,
        catch_up: Duration,
        skip_dates: BTreeSet<NaiveDate>,
    ) -> Self {
        Plan {
            meals,
            tz,
            catch_up,
            skip_dates,
            look_back: DEFAULT_LOOK_BACK,
            max_nap: MAX_NAP,
        }
    }

    /// The next slot of `cron` strictly after `now` that is not on a skip date.
    fn next_slot(&self, cron: &Cron, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let mut from = now;
        for _ in 0..MAX_SKIPPED_DAYS {
            let slot = next_after(cron, self.tz, from)?;
            let date = slot.date_naive();
            if !self.skip_dates.contains(&date) {
                return Some(slot);
            }
            // Jump over the skipped day at once instead of walking its every slot.
            from = start_of_day(self.tz, date.succ_opt()?)? - chrono::Duration::seconds(1);
        }
        None
    }

    /// The latest slot of `cron` in (`since`, `now`] that is not on a skip date.
    fn latest_slot(
        &self,
        cron: &Cron,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Tz>> {
        let mut from = now;
        for _ in 0..MAX_SKIPPED_DAYS {
            let slot = prev_at_or_before(cron, self.tz, from)?;
            if slot.with_timezone(&Utc) <= since {
                return None;
            }
            let date = slot.date_naive();
            if !self.skip_dates.contains(&date) {
                return Some(slot);
            }
            from = start_of_day(self.tz, date)? - chrono::Duration::seconds(1);
        }
        None
    }

    /// The next slot strictly after `now` over all meals, skipping skip dates; on a tie the
    /// earlier meal of the day. `None` when no meal is scheduled again.
    pub fn next_fire(&self, now: DateTime<Utc>) -> Option<(Meal, DateTime<Tz>)> {
        self.meals
            .iter()
            .filter_map(|(meal, cron)| Some((*meal, self.next_slot(cron, now)?)))
            .min_by_key(|(meal, slot)| (slot.with_timezone(&Utc), *meal))
    }

    /// Each meal's next slot after `now` (for `kbot status`).
    pub fn next_per_meal(&self, now: DateTime<Utc>) -> BTreeMap<Meal, DateTime<Tz>> {
        self.meals
            .iter()
            .filter_map(|(meal, cron)| Some((*meal, self.next_slot(cron, now)?)))
            .collect()
    }

    /// Catch-up over the last [`Plan::look_back`]: [`Plan::due`] from `now - look_back`.
    pub fn catch_up(
        &self,
        now: DateTime<Utc>,
        has_run: impl Fn(NaiveDate, Meal) -> bool,
    ) -> Vec<Action> {
        self.due(now - duration(self.look_back), now, has_run)
    }

    /// Where the daemon's start-up catch-up begins: the ledger's last activity (slots after
    /// it passed unseen), but no further back than [`Plan::look_back`]. An empty ledger (a
    /// fresh install) looks back only `catch_up`, so installing kbot sends a slot that just
    /// passed and records nothing as missed; so does a ledger whose last activity lies ahead
    /// of `now` (DESIGN §8: ledger times never push a slot out).
    pub fn start_floor(
        &self,
        now: DateTime<Utc>,
        last_activity: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        match last_activity {
            // A time ahead of the clock (stamped while the clock was ahead, or the clock is
            // behind now) says nothing about which slots passed: treated like no activity,
            // so it cannot push the slots out.
            Some(seen) if seen <= now => seen.max(now - duration(self.look_back)),
            _ => now - duration(self.catch_up.max(ON_TIME)),
        }
    }

    /// What to do about the slots in (`since`, `now`]: per meal only the latest one counts
    /// (several missed slots collapse into it). A slot the ledger has (`has_run`) is left
    /// alone; otherwise it is sent if it passed less than `catch_up` (at least
    /// [`ON_TIME`]) ago, and recorded as missed if older. Sorted by slot.
    pub fn due(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        has_run: impl Fn(NaiveDate, Meal) -> bool,
    ) -> Vec<Action> {
        self.classify(now, self.latest_slots(since, now), has_run)
    }

    /// Each meal's latest slot in (`since`, `now`], skipping skip dates.
    pub fn latest_slots(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(Meal, DateTime<Tz>)> {
        self.meals
            .iter()
            .filter_map(|(meal, cron)| Some((*meal, self.latest_slot(cron, since, now)?)))
            .collect()
    }

    fn classify(
        &self,
        now: DateTime<Utc>,
        slots: Vec<(Meal, DateTime<Tz>)>,
        has_run: impl Fn(NaiveDate, Meal) -> bool,
    ) -> Vec<Action> {
        let window = duration(self.catch_up.max(ON_TIME));
        let mut actions: Vec<Action> = slots
            .into_iter()
            .filter_map(|(meal, slot)| {
                let date = slot.date_naive();
                if has_run(date, meal) {
                    return None;
                }
                Some(if now.signed_duration_since(slot) < window {
                    Action::Send { date, meal, slot }
                } else {
                    Action::Missed { date, meal, slot }
                })
            })
            .collect();
        actions.sort_by_key(|a| a.slot().with_timezone(&Utc));
        actions
    }
}

/// What the daemon loop calls out to. The lead plugs in the send pipeline, the ledger and
/// the token refresh; tests plug in recorders. Errors are logged and the loop goes on: a
/// failed run must not stop tomorrow's.
pub trait Jobs {
    /// Run `meal` for `date` (one full delivery); the ledger inside keeps it from sending
    /// anything twice.
    fn run(
        &mut self,
        date: NaiveDate,
        meal: Meal,
        slot: DateTime<Tz>,
    ) -> impl Future<Output = crate::Result<()>> + Send;

    /// Whether the ledger has any trace of (`date`, `meal`) (`Ledger::has_run`). Answer
    /// `true` when unsure: a slot skipped is logged, a slot sent twice is not undone.
    fn has_run(&mut self, date: NaiveDate, meal: Meal) -> impl Future<Output = bool> + Send;

    /// Record a slot that passed too long ago to send (`Ledger::record_missed`).
    fn missed(
        &mut self,
        date: NaiveDate,
        meal: Meal,
        slot: DateTime<Tz>,
    ) -> impl Future<Output = crate::Result<()>> + Send;

    /// When the ledger last recorded anything (`Ledger::last_activity`); `None` for an
    /// empty ledger. Start-up catch-up looks at the slots after it.
    fn last_activity(&mut self) -> impl Future<Output = Option<DateTime<Utc>>> + Send;

    /// Keep the login alive (refresh the token); called at start and every
    /// [`KEEP_ALIVE_EVERY`], or [`KEEP_ALIVE_RETRY`] after a failure.
    fn keep_alive(&mut self) -> impl Future<Output = crate::Result<()>> + Send;

    /// Called at every wake (`forced` after a [`Jobs::hangup`]): a new plan when the config
    /// changed and was accepted, `None` to keep the one in force.
    fn reload(&mut self, forced: bool) -> impl Future<Output = Option<Plan>> + Send {
        let _ = forced;
        async { None }
    }

    /// Called at every wake: an error ends the loop (the daemon cannot work on, e.g. its
    /// data dir was deleted). Nothing to check by default.
    fn check(&mut self) -> impl Future<Output = crate::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Resolves when a reload was requested (SIGHUP); never by default.
    fn hangup(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// When the next look between slots is due (a sent meal's page read again for a
    /// correction); `None` when there is none. The loop wakes for it.
    fn next_look(&mut self) -> Option<DateTime<Utc>> {
        None
    }

    /// Make the looks due at `now` (see [`Jobs::next_look`]); called at every wake after
    /// the slots. Nothing by default.
    fn look(&mut self, now: DateTime<Utc>) -> impl Future<Output = crate::Result<()>> + Send {
        let _ = now;
        async { Ok(()) }
    }
}

/// A shutdown future that can be asked "done yet?" without being polled after it finished.
struct Shutdown<F> {
    future: Pin<Box<F>>,
    done: bool,
}

impl<F: Future<Output = ()>> Shutdown<F> {
    async fn is_done(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            if !self.done {
                self.done = self.future.as_mut().poll(cx).is_ready();
            }
            Poll::Ready(self.done)
        })
        .await
    }

    async fn wait(&mut self) {
        std::future::poll_fn(|cx| {
            if !self.done {
                self.done = self.future.as_mut().poll(cx).is_ready();
            }
            if self.done {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

fn log_failure(what: &str, date: Option<NaiveDate>, meal: Option<Meal>, err: &crate::Error) {
    tracing::error!(
        date = date.map(|d| d.to_string()),
        meal = meal.map(Meal::as_str),
        hint = err.hint(),
        "{what} failed: {err}"
    );
}

/// Whether an error from a job means the daemon cannot work until the user acts (the login
/// is gone: KOE322, no token, a corrupt store): the loop then ends with it (exit 3) instead
/// of logging it at every slot while sending nothing.
pub fn is_fatal(err: &crate::Error) -> bool {
    err.exit() == Exit::Login
}

/// The daemon: sleep until the earliest slot in naps of at most [`MAX_NAP`], look at the
/// clock after every nap (so a suspend or a clock jump is noticed), handle every slot that
/// passed since the last look (each slot once: send, or record as missed, see
/// [`Plan::due`]), catch up at start from [`Plan::start_floor`], call the keep-alive hook at
/// start and every [`KEEP_ALIVE_EVERY`] ([`KEEP_ALIVE_RETRY`] after a failed one), and
/// return once `shutdown` resolves. A job in flight when `shutdown` resolves is finished
/// first; no new one starts after it.
///
/// Clock (DESIGN §8): slots are judged by the clock as it is now. Between two looks the
/// wall clock is compared with the monotonic one: a clock set back is logged as a warning
/// and the slots ahead of it fire again on time (the ledger keeps a run from sending a
/// message twice); a jump ahead of more than [`Plan::look_back`] records nothing as missed
/// (the clock may be wrong), though a slot inside the send window is still sent.
///
/// Reload: at every wake [`Jobs::reload`] may hand over a new plan (a config changed on
/// disk), and [`Jobs::hangup`] (SIGHUP) wakes the loop to ask at once.
///
/// Returns an error only when a job failed in a way the daemon cannot heal ([`is_fatal`]).
pub async fn run<J: Jobs>(
    plan: &Plan,
    clock: Arc<dyn Clock>,
    jobs: &mut J,
    shutdown: impl Future<Output = ()>,
) -> crate::Result<()> {
    let mut plan = plan.clone();
    let mut shutdown = Shutdown {
        future: Box::pin(shutdown),
        done: false,
    };
    let start = clock.now();
    let last_activity = jobs.last_activity().await;
    if let Some(seen) = last_activity.filter(|seen| *seen > start + duration(CLOCK_STEP)) {
        tracing::warn!(ledger = %seen, now = %start, "the ledger has times ahead of the clock (it was ahead then, or is behind now); slots are judged by the clock as it is now");
    }
    // Slots at or before `cursor` have been handled. It never lies ahead of the clock.
    let mut cursor = plan.start_floor(start, last_activity);
    let mut next_keep_alive = start;
    // The last look at the wall clock, and the monotonic instant of it.
    let mut looked = (start, tokio::time::Instant::now());
    let mut forced_reload = false;
    // The cursor before a leap ahead of more than a day, in case the clock comes back, and
    // when (monotonic) that was: after a day the leap counts as a correction for good.
    let mut held: Option<(DateTime<Utc>, tokio::time::Instant)> = None;
    tracing::info!(tz = %plan.tz, meals = plan.meals.len(), "daemon started");

    loop {
        if shutdown.is_done().await {
            break;
        }
        if let Err(err) = jobs.check().await {
            log_failure("the daemon's check", None, None, &err);
            return Err(err);
        }
        if let Some(new) = jobs.reload(std::mem::take(&mut forced_reload)).await {
            plan = Plan {
                max_nap: plan.max_nap,
                ..new
            };
        }
        let now = clock.now();
        let leap = now - (looked.0 + duration(looked.1.elapsed()));
        looked = (now, tokio::time::Instant::now());
        if leap < -duration(CLOCK_STEP) {
            tracing::warn!(
                by = %humantime::format_duration((-leap).to_std().unwrap_or_default()),
                now = %now,
                "the clock moved back; slots are judged by the clock as it is now"
            );
            // Back from a leap ahead: the slots that passed meanwhile are judged again.
            if let Some((held, _)) = held.take() {
                cursor = cursor.min(held);
            }
        } else if leap > duration(plan.look_back) {
            tracing::warn!(
                by = %humantime::format_duration(leap.to_std().unwrap_or_default()),
                now = %now,
                "the clock jumped ahead by more than a day; the slots in between are not recorded as missed"
            );
            held = Some(held.unwrap_or((cursor, looked.1)));
            cursor = cursor.max(now - duration(plan.catch_up.max(ON_TIME)));
        }
        if held.is_some_and(|(_, at)| at.elapsed() > plan.look_back) {
            held = None;
        }
        cursor = cursor.min(now);
        next_keep_alive = next_keep_alive.min(now + duration(KEEP_ALIVE_EVERY));
        if now > cursor {
            let slots = plan.latest_slots(cursor, now);
            let mut ran = BTreeSet::new();
            for (meal, slot) in &slots {
                let date = slot.date_naive();
                // A slot reached on time runs even when the ledger knows it: a manual
                // `send-now` earlier that day (perhaps only `--to me`) must not stand in for
                // it, and the run itself skips every message that already went out. Only a
                // late slot (catch-up after a restart or a suspend) is left alone then.
                let on_time = now.signed_duration_since(*slot) < duration(ON_TIME);
                if !on_time && jobs.has_run(date, *meal).await {
                    tracing::info!(%date, %meal, %slot, "already in the ledger; not run again");
                    ran.insert((date, *meal));
                }
            }
            for action in plan.classify(now, slots, |d, m| ran.contains(&(d, m))) {
                if shutdown.is_done().await {
                    tracing::info!("stopping before the next job");
                    return Ok(());
                }
                match action {
                    Action::Send { date, meal, slot } => {
                        tracing::info!(%date, %meal, %slot, "running");
                        if let Err(err) = jobs.run(date, meal, slot).await {
                            log_failure("run", Some(date), Some(meal), &err);
                            if is_fatal(&err) {
                                return Err(err);
                            }
                        }
                    }
                    Action::Missed { date, meal, slot } => {
                        tracing::warn!(%date, %meal, %slot, "slot missed: older than catch_up");
                        if let Err(err) = jobs.missed(date, meal, slot).await {
                            log_failure("recording a missed slot", Some(date), Some(meal), &err);
                        }
                    }
                }
            }
            cursor = now;
        }
        // After the slots: a slow token endpoint must not delay a meal.
        if now >= next_keep_alive && !shutdown.is_done().await {
            let wait = match jobs.keep_alive().await {
                Ok(()) => KEEP_ALIVE_EVERY,
                Err(err) => {
                    log_failure("keep-alive", None, None, &err);
                    if is_fatal(&err) {
                        return Err(err);
                    }
                    KEEP_ALIVE_RETRY
                }
            };
            next_keep_alive = now + duration(wait);
        }

        // Between slots: a sent meal's page read again (corrections).
        if !shutdown.is_done().await
            && let Err(err) = jobs.look(clock.now()).await
        {
            log_failure("a look for a changed menu", None, None, &err);
            if is_fatal(&err) {
                return Err(err);
            }
        }

        // Sleep towards the next slot (or keep-alive, or look), at most MAX_NAP at a time.
        // The clock is read again because the jobs above took time.
        let now = clock.now();
        let mut target = next_keep_alive;
        if let Some(at) = jobs.next_look() {
            target = target.min(at);
        }
        if let Some((meal, slot)) = plan.next_fire(cursor.max(now)) {
            tracing::debug!(%meal, %slot, "next slot");
            target = target.min(slot.with_timezone(&Utc));
        }
        let nap = (target - now).to_std().unwrap_or(Duration::ZERO).clamp(
            Duration::from_millis(1),
            plan.max_nap.max(Duration::from_millis(1)),
        );
        tokio::select! {
            biased;
            () = shutdown.wait() => break,
            () = jobs.hangup() => forced_reload = true,
            () = tokio::time::sleep(nap) => {}
        }
    }
    tracing::info!("daemon stopped");
    Ok(())
}

/// A clock that follows tokio's (possibly paused) time: `start_utc` plus the tokio time
/// elapsed since `start_instant`. Lets paused-time tests move the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    /// The wall-clock time at `start_instant`.
    pub start_utc: DateTime<Utc>,
    /// The tokio instant that corresponds to `start_utc`.
    pub start_instant: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_utc` now.
    pub fn new(start_utc: DateTime<Utc>) -> Self {
        TokioClock {
            start_utc,
            start_instant: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start_instant);
        self.start_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

/// The daemon's single-instance lock file in the data dir.
pub const LOCK_FILE: &str = "daemon.lock";

/// The single-instance lock of the daemon; held while this value lives.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Errors of the single-instance lock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another daemon holds the lock.
    #[error("kbot daemon already running{} (lock {})", pid.map(|p| format!(" as pid {p}")).unwrap_or_default(), path.display())]
    AlreadyRunning {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid, when it wrote one.
        pid: Option<u32>,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Report for Error {
    fn exit(&self) -> Exit {
        Exit::Failure
    }

    fn hint(&self) -> Option<String> {
        match self {
            Error::AlreadyRunning { .. } => Some(
                "only one daemon may run; stop the other one (`systemctl --user stop kbot`) or use `kbot send-now` for a one-off run"
                    .into(),
            ),
            Error::Lock { path, .. } => Some(format!(
                "make {} writable, or set KBOT_DATA_DIR to a writable directory",
                path.parent().unwrap_or(path).display()
            )),
        }
    }
}

/// Take the daemon's single-instance lock, `<data_dir>/daemon.lock` (the directory is
/// created if needed). The OS releases it when the process ends, even on a crash.
pub fn lock_instance(data_dir: &Path) -> Result<InstanceLock, Error> {
    let path = data_dir.join(LOCK_FILE);
    let io_err = |source| Error::Lock {
        path: path.clone(),
        source,
    };
    crate::ledger::create_private_dir(data_dir).map_err(io_err)?;
    // Not truncated on open: the holder's pid must survive a second process's attempt.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(Error::AlreadyRunning { path, pid });
        }
        Err(TryLockError::Error(source)) => return Err(io_err(source)),
    }
    // The pid is for the "already running" message only; failing to write it is harmless.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(InstanceLock { _file: file, path })
}

/// The daemon that holds the single-instance lock: its pid and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The pid it wrote, if readable.
    pub pid: Option<u32>,
    /// When it took the lock (the lock file's modification time).
    pub since: Option<std::time::SystemTime>,
}

/// The running daemon of `data_dir`, if one holds `daemon.lock`. Opens the file read-only
/// and only tests the lock (a shared lock, dropped at once), so it works on a read-only
/// data dir and never blocks.
pub fn instance_holder(data_dir: &Path) -> Option<Holder> {
    let path = data_dir.join("daemon.lock");
    let mut file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            let since = file.metadata().and_then(|m| m.modified()).ok();
            Some(Holder { pid, since })
        }
        Err(TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use chrono_tz::{Asia::Seoul, Europe::Berlin};
    use std::sync::Mutex;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn cron(expr: &str) -> Cron {
        parse_cron(expr).expect("test cron")
    }

    /// DESIGN §3's example schedule.
    fn weekday_plan(tz: Tz) -> Plan {
        let meals = BTreeMap::from([
            (Meal::Breakfast, cron("30 7 * * Mon-Fri")),
            (Meal::Lunch, cron("30 11 * * Mon-Fri")),
            (Meal::Dinner, cron("0 17 * * Mon-Fri")),
        ]);
        Plan::new(meals, tz, Duration::from_secs(45 * 60), BTreeSet::new())
    }

    /// The next `n` slots of `cron` after `from`, each as local RFC 3339 text.
    fn fires(cron: &Cron, tz: Tz, from: DateTime<Utc>, n: usize) -> Vec<String> {
        let mut now = from;
        let mut out = Vec::new();
        for _ in 0..n {
            let slot = next_after(cron, tz, now).expect("a next slot");
            out.push(slot.to_rfc3339());
            now = slot.with_timezone(&Utc);
        }
        out
    }

    #[test]
    fn cron_takes_five_fields_or_six_with_seconds_first() {
        let from = at("2026-03-05T00:00:00+09:00");
        assert_eq!(
            fires(&cron("30 7 * * Mon-Fri"), Seoul, from, 1),
            ["2026-03-05T07:30:00+09:00"]
        );
        assert_eq!(
            fires(&cron("15 30 7 * * Mon-Fri"), Seoul, from, 1),
            ["2026-03-05T07:30:15+09:00"]
        );
        let seven = parse_cron("0 30 7 * * Mon-Fri 2026").unwrap_err();
        assert!(seven.contains("found 7"), "{seven}");
        let four = parse_cron("30 7 * *").unwrap_err();
        assert!(four.contains("expected 5 fields"), "{four}");
    }

    #[test]
    fn cron_errors_are_lowercase_sentences_without_a_period() {
        for bad in ["61 7 * * *", "30 7 * * Funday", "a b c d e"] {
            let err = parse_cron(bad).unwrap_err();
            let first = err.chars().next().unwrap();
            assert!(!first.is_uppercase() && !err.ends_with('.'), "{bad}: {err}");
        }
    }

    #[test]
    fn cron_errors_quote_the_users_field_and_name_the_valid_forms() {
        let err = parse_cron("30 11 * * Mon-Fry").unwrap_err();
        assert_eq!(
            err,
            "unknown weekday \"Fry\" in \"Mon-Fry\" (Mon–Sun, or 0–7 with 0 and 7 Sunday)"
        );
        let err = parse_cron("0 25 * * *").unwrap_err();
        assert_eq!(err, "hour 25 is out of range in \"25\" (0–23)");
        let err = parse_cron("0 9 * Jnu *").unwrap_err();
        assert!(err.starts_with("unknown month \"Jnu\""), "{err}");
        let err = parse_cron("x 9 * * *").unwrap_err();
        assert!(err.starts_with("\"x\" in the minute field"), "{err}");
        // Valid forms pass: names in any case, steps, lists, `L` and `#`.
        for good in [
            "*/15 8-18 * * mon,WED,Fri",
            "0 9 L * *",
            "0 9 * * 5#2",
            "0 9 1 jan-mar *",
        ] {
            assert!(
                parse_cron(good).is_ok(),
                "{good}: {:?}",
                parse_cron(good).err()
            );
        }
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_with_or_like_crontab() {
        // April 2026: the 13th is a Monday; Fridays are the 3rd, 10th, 17th, 24th.
        let got = fires(
            &cron("0 9 13 * Fri"),
            Seoul,
            at("2026-04-01T00:00:00+09:00"),
            4,
        );
        assert_eq!(
            got,
            [
                "2026-04-03T09:00:00+09:00",
                "2026-04-10T09:00:00+09:00",
                "2026-04-13T09:00:00+09:00",
                "2026-04-17T09:00:00+09:00",
            ]
        );
    }

    #[test]
    fn next_is_strictly_after_now_and_prev_includes_now() {
        let c = cron("30 11 * * *");
        let slot = at("2026-03-05T11:30:00+09:00");
        let just_before = slot - chrono::Duration::milliseconds(500);
        assert_eq!(next_after(&c, Seoul, just_before).unwrap(), slot);
        assert_eq!(
            next_after(&c, Seoul, slot).unwrap(),
            slot + chrono::Duration::days(1)
        );
        let just_after = slot + chrono::Duration::milliseconds(500);
        assert_eq!(prev_at_or_before(&c, Seoul, slot).unwrap(), slot);
        assert_eq!(prev_at_or_before(&c, Seoul, just_after).unwrap(), slot);
        assert_eq!(
            prev_at_or_before(&c, Seoul, just_before).unwrap(),
            slot - chrono::Duration::days(1)
        );
    }

    #[test]
    fn a_slot_in_the_spring_forward_gap_fires_once_right_after_the_gap() {
        // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
        let got = fires(&cron("30 2 * * *"), Berlin, at("2026-03-28T12:00:00Z"), 2);
        assert_eq!(
            got,
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
        );
    }

    #[test]
    fn a_slot_in_the_autumn_overlap_fires_once() {
        // Europe/Berlin runs 02:00-03:00 twice on 2026-10-25.
        let got = fires(&cron("30 2 * * *"), Berlin, at("2026-10-24T12:00:00Z"), 2);
        assert_eq!(
            got,
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
        // Looking back from after the second 02:30 also finds one slot that day, the first.
        let prev = prev_at_or_before(&cron("30 2 * * *"), Berlin, at("2026-10-25T02:00:00Z"));
        assert_eq!(prev.unwrap().to_rfc3339(), "2026-10-25T02:30:00+02:00");
    }

    #[test]
    fn next_fire_picks_the_earliest_meal_and_skips_skip_dates() {
        let mut plan = weekday_plan(Seoul);
        let thu = at("2026-03-05T08:00:00+09:00");
        let (meal, slot) = plan.next_fire(thu).unwrap();
        assert_eq!(
            (meal, slot.to_rfc3339()),
            (Meal::Lunch, "2026-03-05T11:30:00+09:00".into())
        );
        // Skipping Thursday and Friday moves every meal to Monday.
        plan.skip_dates = ["2026-03-05", "2026-03-06"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        let (meal, slot) = plan.next_fire(thu).unwrap();
        assert_eq!(
            (meal, slot.to_rfc3339()),
            (Meal::Breakfast, "2026-03-09T07:30:00+09:00".into())
        );
        let next = plan.next_per_meal(thu);
        assert_eq!(
            next[&Meal::Dinner].to_rfc3339(),
            "2026-03-09T17:00:00+09:00"
        );
    }

    #[test]
    fn catch_up_sends_a_slot_inside_the_window_once() {
        let plan = weekday_plan(Seoul);
        let now = at("2026-03-05T11:50:00+09:00");
        let actions = plan.catch_up(now, |d, m| d.day() == 5 && m == Meal::Breakfast);
        let slot = at("2026-03-05T11:30:00+09:00").with_timezone(&Seoul);
        let date = slot.date_naive();
        // Breakfast already ran; yesterday's dinner is older than the window but in the
        // look-back, so it is missed.
        assert_eq!(
            actions,
            [
                Action::Missed {
                    date: date.pred_opt().unwrap(),
                    meal: Meal::Dinner,
                    slot: at("2026-03-04T17:00:00+09:00").with_timezone(&Seoul),
                },
                Action::Send {
                    date,
                    meal: Meal::Lunch,
                    slot
                },
            ]
        );
        assert!(
            plan.catch_up(now, |_, _| true).is_empty(),
            "nothing when the ledger has it all"
        );
    }

    #[test]
    fn several_missed_slots_collapse_into_the_latest_one_per_meal() {
        let mut plan = weekday_plan(Seoul);
        plan.look_back = Duration::from_secs(30 * 24 * 3600);
        // Down since the previous Wednesday: 4 weekdays of slots passed unseen.
        let since = at("2026-03-04T18:00:00+09:00");
        let now = at("2026-03-10T11:40:00+09:00");
        let actions = plan.due(since, now, |_, _| false);
        let shown: Vec<String> = actions
            .iter()
            .map(|a| match a {
                Action::Send { meal, slot, .. } => format!("send {meal} {}", slot.to_rfc3339()),
                Action::Missed { meal, slot, .. } => format!("missed {meal} {}", slot.to_rfc3339()),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "missed dinner 2026-03-09T17:00:00+09:00",
                "missed breakfast 2026-03-10T07:30:00+09:00",
                "send lunch 2026-03-10T11:30:00+09:00",
            ]
        );
    }

    #[test]
    fn a_slot_older_than_catch_up_is_missed_not_sent() {
        let plan = weekday_plan(Seoul);
        let now = at("2026-03-05T12:30:00+09:00");
        let since = at("2026-03-05T09:00:00+09:00");
        let actions = plan.due(since, now, |_, _| false);
        assert!(
            matches!(
                actions.as_slice(),
                [Action::Missed {
                    meal: Meal::Lunch,
                    ..
                }]
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn catch_up_skips_skip_dates_and_looks_back_no_further_than_allowed() {
        let mut plan = weekday_plan(Seoul);
        plan.skip_dates.insert("2026-03-05".parse().unwrap());
        let now = at("2026-03-05T11:40:00+09:00");
        // Today is skipped, so yesterday's slots are the latest; of those only dinner lies
        // inside the one-day look-back, and it is older than the window.
        let actions = plan.catch_up(now, |_, _| false);
        assert_eq!(
            actions,
            [Action::Missed {
                date: "2026-03-04".parse().unwrap(),
                meal: Meal::Dinner,
                slot: at("2026-03-04T17:00:00+09:00").with_timezone(&Seoul),
            }]
        );
        // After a weekend the one-day look-back finds nothing from Friday.
        let monday = at("2026-03-09T06:00:00+09:00");
        assert!(plan.catch_up(monday, |_, _| false).is_empty());
    }

    #[test]
    fn start_floor_follows_the_ledger_but_a_fresh_install_looks_back_only_catch_up() {
        let plan = weekday_plan(Seoul);
        let now = at("2026-03-05T12:00:00+09:00");
        assert_eq!(
            plan.start_floor(now, None),
            now - chrono::Duration::minutes(45)
        );
        let seen = at("2026-03-05T08:00:00+09:00");
        assert_eq!(plan.start_floor(now, Some(seen)), seen);
        let long_ago = at("2026-01-01T08:00:00+09:00");
        assert_eq!(
            plan.start_floor(now, Some(long_ago)),
            now - chrono::Duration::days(1)
        );
    }

    #[test]
    fn a_ledger_time_ahead_of_the_clock_does_not_push_the_start_floor_out() {
        let plan = weekday_plan(Seoul);
        let now = at("2026-03-05T12:00:00+09:00");
        let tomorrow = at("2026-03-06T12:00:00+09:00");
        assert_eq!(
            plan.start_floor(now, Some(tomorrow)),
            now - chrono::Duration::minutes(45)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_now_under_a_clock_a_day_ahead_does_not_silence_todays_slot() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:00:00+09:00")));
        let mut jobs = Recorder::new(clock);
        // `send-now` ran with the clock a day ahead: it served Friday and stamped Friday.
        jobs.ledger
            .insert(("2026-03-06".parse().unwrap(), Meal::Lunch));
        jobs.last_activity = Some(at("2026-03-06T11:00:00+09:00"));
        let stop = tokio::time::sleep(Duration::from_secs(3600));
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        assert_eq!(jobs.runs(), ["lunch 2026-03-05T11:30:00+09:00"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_a_year_ahead_for_a_minute_records_nothing_in_the_future_and_the_next_slot_is_sent()
     {
        let clock = Arc::new(JumpClock {
            inner: TokioClock::new(at("2026-03-05T07:00:00+09:00")),
            jumped: Mutex::new(chrono::Duration::zero()),
        });
        let mut jobs = Recorder::new(clock.clone());
        let jumper = clock.clone();
        let stop = async move {
            // From 07:05:10 to 07:06:40 the clock reads a year ahead; the wake at 07:06 sees it.
            tokio::time::sleep(Duration::from_secs(310)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::days(365);
            tokio::time::sleep(Duration::from_secs(90)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::zero();
            tokio::time::sleep(Duration::from_secs(5 * 3600)).await;
        };
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        let missed: Vec<Event> = jobs
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Missed { .. }))
            .collect();
        assert!(missed.is_empty(), "{missed:?}");
        assert_eq!(
            jobs.runs(),
            [
                "breakfast 2026-03-05T07:30:00+09:00",
                "lunch 2026-03-05T11:30:00+09:00"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_that_passed_while_the_clock_read_a_year_ahead_is_sent_when_it_comes_back() {
        let clock = Arc::new(JumpClock {
            inner: TokioClock::new(at("2026-03-05T11:00:00+09:00")),
            jumped: Mutex::new(chrono::Duration::zero()),
        });
        let mut jobs = Recorder::new(clock.clone());
        let jumper = clock.clone();
        let stop = async move {
            // A year ahead from 11:20 to 11:40: lunch at 11:30 passes meanwhile.
            tokio::time::sleep(Duration::from_secs(20 * 60)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::days(365);
            tokio::time::sleep(Duration::from_secs(20 * 60)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::zero();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        };
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        let events: Vec<String> = jobs
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Ran { meal, slot, at } => Some(format!(
                    "{meal} {} at {}",
                    slot.to_rfc3339(),
                    at.with_timezone(&Seoul).format("%H:%M")
                )),
                Event::Missed { meal, slot } => {
                    Some(format!("missed {meal} {}", slot.to_rfc3339()))
                }
                Event::KeepAlive { .. } => None,
            })
            .collect();
        // While the clock read 2027 its lunch slot came and was run (the clock is judged as
        // it is: a machine that boots a year behind and is corrected forward must send);
        // nothing was recorded as missed, and today's lunch went out once the clock was back.
        assert_eq!(
            events,
            [
                "lunch 2027-03-05T11:30:00+09:00 at 11:30",
                "lunch 2026-03-05T11:30:00+09:00 at 11:40"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_set_back_an_hour_fires_the_slots_ahead_of_it_again_for_the_ledger_to_judge() {
        let clock = Arc::new(JumpClock {
            inner: TokioClock::new(at("2026-03-05T11:00:00+09:00")),
            jumped: Mutex::new(chrono::Duration::hours(1)),
        });
        let mut jobs = Recorder::new(clock.clone());
        let jumper = clock.clone();
        let stop = async move {
            // 12:00 on a clock an hour fast; NTP corrects it ten minutes later.
            tokio::time::sleep(Duration::from_secs(600)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::zero();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        };
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        // Lunch passed on the fast clock before the daemon started and is sent (inside
        // catch_up); after the correction the on-time slot runs again, and the run's ledger
        // skips what went out.
        let runs: Vec<String> = jobs
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Ran { meal, slot, .. } => Some(format!("{meal} {}", slot.to_rfc3339())),
                _ => None,
            })
            .collect();
        assert_eq!(
            runs,
            [
                "lunch 2026-03-05T11:30:00+09:00",
                "lunch 2026-03-05T11:30:00+09:00"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_refresh_token_ends_the_loop_with_the_login_error() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:00:00+09:00")));
        let mut jobs = Recorder::new(clock);
        jobs.login_rejected = true;
        let stop = tokio::time::sleep(Duration::from_secs(3 * 24 * 3600));
        let err = run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect_err("the loop stops at the first run");
        assert_eq!(err.exit(), Exit::Login);
        assert_eq!(err.hint().as_deref(), Some("kbot login"));
        // It stopped at lunch on the first day instead of failing at every slot.
        assert_eq!(
            jobs.clock.now(),
            at("2026-03-05T11:30:00+09:00"),
            "stopped at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_moves_a_meal_to_its_new_time() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T09:00:00+09:00")));
        let mut jobs = Recorder::new(clock);
        let mut moved = weekday_plan(Seoul);
        moved.meals.insert(Meal::Lunch, cron("15 10 * * *"));
        jobs.next_plan = Some(moved);
        let hangup = jobs.hangup.clone();
        let stop = async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            hangup.notify_one();
            tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
        };
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        assert_eq!(jobs.runs(), ["lunch 2026-03-05T10:15:00+09:00"]);
    }

    /// What the loop did, in the order it did it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        /// A run began (slot, clock at the call) and ended.
        Ran {
            meal: Meal,
            slot: DateTime<Tz>,
            at: DateTime<Utc>,
        },
        Missed {
            meal: Meal,
            slot: DateTime<Tz>,
        },
        KeepAlive {
            at: DateTime<Utc>,
        },
    }

    /// A stand-in for deliver + ledger + auth that records what the loop asks of it.
    #[derive(Debug)]
    struct Recorder {
        clock: Arc<dyn Clock>,
        events: Arc<Mutex<Vec<Event>>>,
        ledger: BTreeSet<(NaiveDate, Meal)>,
        last_activity: Option<DateTime<Utc>>,
        run_takes: Duration,
        /// How many keep-alives fail before they work again.
        keep_alive_failures: u32,
        /// Runs fail as when Kakao rejected the refresh token (KOE322).
        login_rejected: bool,
        /// Stands for SIGHUP; `reload` then hands over `next_plan`.
        hangup: Arc<tokio::sync::Notify>,
        next_plan: Option<Plan>,
    }

    impl Recorder {
        fn new(clock: Arc<dyn Clock>) -> Self {
            Recorder {
                clock,
                events: Arc::default(),
                ledger: BTreeSet::new(),
                last_activity: None,
                run_takes: Duration::ZERO,
                keep_alive_failures: 0,
                login_rejected: false,
                hangup: Arc::default(),
                next_plan: None,
            }
        }

        fn events(&self) -> Vec<Event> {
            self.events.lock().unwrap().clone()
        }

        fn runs(&self) -> Vec<String> {
            self.events()
                .into_iter()
                .filter_map(|e| match e {
                    Event::Ran { meal, slot, at } => {
                        assert_eq!(at, slot.with_timezone(&Utc), "{meal} fired late or early");
                        Some(format!("{meal} {}", slot.to_rfc3339()))
                    }
                    _ => None,
                })
                .collect()
        }
    }

    impl Jobs for Recorder {
        async fn run(
            &mut self,
            date: NaiveDate,
            meal: Meal,
            slot: DateTime<Tz>,
        ) -> crate::Result<()> {
            let at = self.clock.now();
            if self.login_rejected {
                return Err(crate::auth::AuthError::RefreshRejected {
                    code: Some("KOE322".into()),
                }
                .into());
            }
            self.ledger.insert((date, meal));
            tokio::time::sleep(self.run_takes).await;
            self.events
                .lock()
                .unwrap()
                .push(Event::Ran { meal, slot, at });
            Ok(())
        }

        async fn has_run(&mut self, date: NaiveDate, meal: Meal) -> bool {
            self.ledger.contains(&(date, meal))
        }

        async fn missed(
            &mut self,
            date: NaiveDate,
            meal: Meal,
            slot: DateTime<Tz>,
        ) -> crate::Result<()> {
            self.ledger.insert((date, meal));
            self.events
                .lock()
                .unwrap()
                .push(Event::Missed { meal, slot });
            Ok(())
        }

        async fn last_activity(&mut self) -> Option<DateTime<Utc>> {
            self.last_activity
        }

        async fn keep_alive(&mut self) -> crate::Result<()> {
            let at = self.clock.now();
            self.events.lock().unwrap().push(Event::KeepAlive { at });
            if self.keep_alive_failures > 0 {
                self.keep_alive_failures -= 1;
                return Err(crate::error::Usage {
                    message: "cannot reach the token endpoint".into(),
                    hint: None,
                }
                .into());
            }
            Ok(())
        }

        async fn reload(&mut self, forced: bool) -> Option<Plan> {
            if forced { self.next_plan.take() } else { None }
        }

        fn hangup(&mut self) -> impl Future<Output = ()> + Send {
            let hangup = self.hangup.clone();
            async move { hangup.notified().await }
        }
    }

    /// Run the loop from `start` until `days` virtual days have passed.
    async fn run_for(plan: &Plan, jobs: &mut Recorder, days: u32) {
        let stop = tokio::time::sleep(Duration::from_secs(u64::from(days) * 24 * 3600));
        run(plan, jobs.clock.clone(), jobs, stop)
            .await
            .expect("the loop ends cleanly");
    }

    #[tokio::test(start_paused = true)]
    async fn weekday_meals_fire_exactly_on_time_thursday_friday_and_monday_only() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T00:00:00+09:00"))); // a Thursday
        let mut jobs = Recorder::new(clock);
        run_for(&weekday_plan(Seoul), &mut jobs, 5).await;
        assert_eq!(
            jobs.runs(),
            [
                "breakfast 2026-03-05T07:30:00+09:00",
                "lunch 2026-03-05T11:30:00+09:00",
                "dinner 2026-03-05T17:00:00+09:00",
                "breakfast 2026-03-06T07:30:00+09:00",
                "lunch 2026-03-06T11:30:00+09:00",
                "dinner 2026-03-06T17:00:00+09:00",
                "breakfast 2026-03-09T07:30:00+09:00",
                "lunch 2026-03-09T11:30:00+09:00",
                "dinner 2026-03-09T17:00:00+09:00",
            ]
        );
        let missed = jobs
            .events()
            .iter()
            .filter(|e| matches!(e, Event::Missed { .. }))
            .count();
        assert_eq!(missed, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn meals_stay_on_local_time_across_a_dst_change() {
        let plan = Plan::new(
            BTreeMap::from([(Meal::Lunch, cron("0 12 * * *"))]),
            Berlin,
            Duration::from_secs(45 * 60),
            BTreeSet::new(),
        );
        let clock = Arc::new(TokioClock::new(at("2026-03-28T00:00:00+01:00")));
        let mut jobs = Recorder::new(clock);
        run_for(&plan, &mut jobs, 2).await;
        let utc: Vec<String> = jobs
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Ran { at, .. } => Some(at.to_rfc3339()),
                _ => None,
            })
            .collect();
        // Noon CET is 11:00 UTC, noon CEST 10:00 UTC.
        assert_eq!(
            utc,
            ["2026-03-28T11:00:00+00:00", "2026-03-29T10:00:00+00:00"]
        );
        assert_eq!(
            jobs.runs(),
            [
                "lunch 2026-03-28T12:00:00+01:00",
                "lunch 2026-03-29T12:00:00+02:00"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn meals_stay_on_local_time_across_the_autumn_change_and_the_repeated_hour_fires_once() {
        // Europe/Berlin runs 02:00-03:00 twice on 2026-10-25 (CEST, then CET).
        let plan = Plan::new(
            BTreeMap::from([
                (Meal::Breakfast, cron("30 2 * * *")),
                (Meal::Lunch, cron("0 12 * * *")),
            ]),
            Berlin,
            Duration::from_secs(45 * 60),
            BTreeSet::new(),
        );
        let clock = Arc::new(TokioClock::new(at("2026-10-24T00:00:00+02:00")));
        let mut jobs = Recorder::new(clock);
        run_for(&plan, &mut jobs, 2).await;
        assert_eq!(
            jobs.runs(),
            [
                "breakfast 2026-10-24T02:30:00+02:00",
                "lunch 2026-10-24T12:00:00+02:00",
                "breakfast 2026-10-25T02:30:00+02:00",
                "lunch 2026-10-25T12:00:00+01:00",
            ]
        );
        assert!(
            !jobs
                .events()
                .iter()
                .any(|e| matches!(e, Event::Missed { .. })),
            "{:?}",
            jobs.events()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn skip_dates_are_not_run() {
        let mut plan = weekday_plan(Seoul);
        plan.skip_dates.insert("2026-03-06".parse().unwrap());
        // Started after lunch's catch-up window: Thursday's dinner is the first slot.
        let clock = Arc::new(TokioClock::new(at("2026-03-05T13:00:00+09:00")));
        let mut jobs = Recorder::new(clock);
        run_for(&plan, &mut jobs, 4).await;
        assert_eq!(
            jobs.runs(),
            [
                "dinner 2026-03-05T17:00:00+09:00",
                "breakfast 2026-03-09T07:30:00+09:00",
                "lunch 2026-03-09T11:30:00+09:00",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn start_inside_the_catch_up_window_sends_once_and_older_slots_are_missed() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:50:00+09:00")));
        let mut jobs = Recorder::new(clock);
        // The ledger last saw Wednesday's dinner; breakfast today passed unseen.
        jobs.ledger
            .insert(("2026-03-04".parse().unwrap(), Meal::Dinner));
        jobs.last_activity = Some(at("2026-03-04T17:00:05+09:00"));
        let stop = tokio::time::sleep(Duration::from_secs(60));
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        let slot = |s| at(s).with_timezone(&Seoul);
        assert_eq!(
            jobs.events(),
            [
                Event::Missed {
                    meal: Meal::Breakfast,
                    slot: slot("2026-03-05T07:30:00+09:00")
                },
                Event::Ran {
                    meal: Meal::Lunch,
                    slot: slot("2026-03-05T11:30:00+09:00"),
                    at: at("2026-03-05T11:50:00+09:00"),
                },
                Event::KeepAlive {
                    at: at("2026-03-05T11:50:00+09:00")
                },
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_already_in_the_ledger_is_not_run_again_after_a_restart() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:50:00+09:00")));
        let mut jobs = Recorder::new(clock);
        jobs.ledger
            .insert(("2026-03-05".parse().unwrap(), Meal::Lunch));
        jobs.last_activity = Some(at("2026-03-05T11:30:02+09:00"));
        let stop = tokio::time::sleep(Duration::from_secs(60));
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        assert!(jobs.runs().is_empty(), "{:?}", jobs.events());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_reached_on_time_runs_even_when_the_ledger_already_knows_it() {
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:00:00+09:00")));
        let mut jobs = Recorder::new(clock);
        // `kbot send-now lunch --to me` at 10:00; the slot itself is at 11:30.
        jobs.ledger
            .insert(("2026-03-05".parse().unwrap(), Meal::Lunch));
        jobs.last_activity = Some(at("2026-03-05T10:00:00+09:00"));
        let stop = tokio::time::sleep(Duration::from_secs(3600));
        run(&weekday_plan(Seoul), jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        assert_eq!(jobs.runs(), ["lunch 2026-03-05T11:30:00+09:00"]);
    }

    /// A clock that can be pushed forward, like a laptop waking from suspend.
    #[derive(Debug)]
    struct JumpClock {
        inner: TokioClock,
        jumped: Mutex<chrono::Duration>,
    }

    impl Clock for JumpClock {
        fn now(&self) -> DateTime<Utc> {
            self.inner.now() + *self.jumped.lock().unwrap()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_jump_is_noticed_within_a_nap() {
        let clock = Arc::new(JumpClock {
            inner: TokioClock::new(at("2026-03-05T07:00:00+09:00")),
            jumped: Mutex::new(chrono::Duration::zero()),
        });
        let mut jobs = Recorder::new(clock.clone());
        let plan = weekday_plan(Seoul);
        let jumper = clock.clone();
        let stop = async move {
            // At 07:10:30 the machine "sleeps" through breakfast; the nap that ends at
            // 07:11:00 on the monotonic clock ends at 11:35 on the wall clock.
            tokio::time::sleep(Duration::from_secs(630)).await;
            *jumper.jumped.lock().unwrap() = chrono::Duration::minutes(264);
            tokio::time::sleep(Duration::from_secs(120)).await;
        };
        run(&plan, jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        let events = jobs.events();
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::Ran { meal, at, .. } => {
                    format!("ran {meal} at {}", at.with_timezone(&Seoul).format("%H:%M"))
                }
                Event::Missed { meal, .. } => format!("missed {meal}"),
                Event::KeepAlive { .. } => "keep-alive".to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["keep-alive", "missed breakfast", "ran lunch at 11:35"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_run_waits_for_it_and_starts_nothing_new() {
        // Two meals due at the same instant: the second must not start after the stop.
        let plan = Plan::new(
            BTreeMap::from([
                (Meal::Breakfast, cron("30 11 * * *")),
                (Meal::Lunch, cron("30 11 * * *")),
            ]),
            Seoul,
            Duration::from_secs(45 * 60),
            BTreeSet::new(),
        );
        let clock = Arc::new(TokioClock::new(at("2026-03-05T11:29:00+09:00")));
        let mut jobs = Recorder::new(clock);
        jobs.run_takes = Duration::from_secs(30);
        let begun = tokio::time::Instant::now();
        // Stop 10 s into the 11:30 run.
        let stop = tokio::time::sleep(Duration::from_secs(70));
        run(&plan, jobs.clock.clone(), &mut jobs, stop)
            .await
            .expect("the loop ends cleanly");
        assert_eq!(
            jobs.runs(),
            ["breakfast 2026-03-05T11:30:00+09:00"],
            "the run in flight finished"
        );
        assert_eq!(
            begun.elapsed(),
            Duration::from_secs(90),
            "returned as soon as the run ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_runs_at_start_and_weekly_while_idle() {
        let plan = Plan::new(
            BTreeMap::new(),
            Seoul,
            Duration::from_secs(45 * 60),
            BTreeSet::new(),
        );
        let start = at("2026-03-05T00:00:00+09:00");
        let mut jobs = Recorder::new(Arc::new(TokioClock::new(start)));
        run_for(&plan, &mut jobs, 15).await;
        let week = chrono::Duration::days(7);
        assert_eq!(
            jobs.events(),
            [
                Event::KeepAlive { at: start },
                Event::KeepAlive { at: start + week },
                Event::KeepAlive {
                    at: start + week * 2
                },
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_keep_alive_is_tried_again_an_hour_later_not_a_week() {
        let plan = Plan::new(
            BTreeMap::new(),
            Seoul,
            Duration::from_secs(45 * 60),
            BTreeSet::new(),
        );
        let start = at("2026-03-05T00:00:00+09:00");
        let mut jobs = Recorder::new(Arc::new(TokioClock::new(start)));
        // The network is not up at boot, nor an hour later.
        jobs.keep_alive_failures = 2;
        run_for(&plan, &mut jobs, 8).await;
        let hour = chrono::Duration::hours(1);
        assert_eq!(
            jobs.events(),
            [
                Event::KeepAlive { at: start },
                Event::KeepAlive { at: start + hour },
                Event::KeepAlive {
                    at: start + hour * 2
                },
                Event::KeepAlive {
                    at: start + hour * 2 + chrono::Duration::days(7)
                },
            ]
        );
    }

    #[test]
    fn a_second_instance_is_refused_naming_the_lock_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let held = lock_instance(&data).unwrap();
        assert_eq!(held.path(), data.join("daemon.lock"));
        let err = lock_instance(&data).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&data.join("daemon.lock").display().to_string()),
            "{text}"
        );
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(err.hint().unwrap().contains("systemctl --user stop kbot"));
        drop(held);
        assert!(
            lock_instance(&data).is_ok(),
            "released when the guard drops"
        );
    }
}
