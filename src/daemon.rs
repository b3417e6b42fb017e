//! `kbot daemon`: the scheduler in the foreground, for systemd, Task Scheduler or a
//! terminal. Wires `schedule::run` to the delivery pipeline, the ledger and the token
//! keep-alive; takes the single-instance lock; stops gracefully on SIGTERM/SIGINT; tells
//! systemd it is ready (sd_notify, a no-op elsewhere).
//!
//! The scheduling decisions are `schedule`'s (pure, tested with paused time); what one
//! run does is `deliver`'s. I/O: the ledger, Kakao, signals, the notify socket.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

use crate::account::Account;
use crate::auth::AuthError;
use crate::clock::Clock;
use crate::config::{Config, Delivery, Paths};
use crate::deliver::{self, Options, To};
use crate::error::{Exit, Report};
use crate::instance;
use crate::ledger::Ledger;
use crate::meal::Meal;
use crate::schedule::{self, Jobs};
use crate::window::{self, Window};

/// The page cache in the data dir (the last good copy of each source's page).
pub fn pages_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pages")
}

/// What the scheduler calls: one full delivery per slot, through the ledger.
struct Bot<'a> {
    /// The config in force (replaced by a reload).
    config: Config,
    http: reqwest::Client,
    account: &'a Account,
    ledger: Ledger,
    clock: Arc<dyn Clock>,
    /// Pacing of the tries inside a meal's window (`window`).
    policy: window::Policy,
    /// Turns true on SIGTERM/SIGINT: ends the wait between tries.
    stop: watch::Receiver<bool>,
    /// Runs scraped ahead of their slots (`window::prefetch`).
    prefetched: window::Prefetched,
    /// The config in force, for the prefetch task (a reload replaces it).
    in_force: watch::Sender<Config>,
    reload: crate::reload::Watch,
    /// Stdout is a terminal: a person started the daemon there and gets a line per run.
    tell: bool,
    /// Meals sent whose pages are read again for a correction until their window closes.
    watches: Vec<crate::correction::Watch>,
}

impl Bot<'_> {
    /// One run of (`date`, `meal`) (crash recovery of a run that is not a scheduled slot).
    async fn deliver(&mut self, date: NaiveDate, meal: Meal) -> crate::Result<()> {
        self.serve(date, meal, None).await
    }

    /// Serve a meal: through its window when `slot` is given (retries, rechecks; see
    /// `window::serve`), else one run.
    async fn serve(
        &mut self,
        date: NaiveDate,
        meal: Meal,
        slot: Option<DateTime<Utc>>,
    ) -> crate::Result<()> {
        let pipeline = deliver::Pipeline {
            config: &self.config,
            http: &self.http,
            sender: self.account.sender(),
            clock: self.clock.as_ref(),
        };
        let summary = match slot {
            Some(slot) => {
                let span = Window::of(slot, self.config.schedule.catch_up);
                let (ledger, policy) = (&mut self.ledger, &self.policy);
                let job = window::Job {
                    date,
                    meal,
                    window: span,
                    to: To::All,
                    prefetched: self.prefetched.take(date, meal),
                };
                match window::serve(&pipeline, ledger, job, policy, &mut self.stop, &|_| {}).await {
                    Ok(summary) => {
                        let was_sent = summary.deliveries.iter().any(|d| {
                            d.kind == crate::ledger::Kind::Menu
                                && matches!(d.status, "sent" | "skipped")
                        });
                        if was_sent {
                            self.watch(date, meal, span.closes);
                        }
                        summary
                    }
                    // Stopped while the menu was read: nothing was sent or recorded.
                    Err(err) if err.exit() == crate::error::Exit::Interrupted => return Ok(()),
                    Err(err) => return Err(err),
                }
            }
            None => {
                let options = Options {
                    to: To::All,
                    force: false,
                    hold_warning: false,
                    // A stop waits for the whole run: recipients left out would not be
                    // sent by the next start, which finds the slot in the ledger.
                    stop: None,
                };
                pipeline
                    .execute(&mut self.ledger, date, meal, options)
                    .await?
            }
        };
        let sent = summary
            .deliveries
            .iter()
            .filter(|d| d.status == "sent")
            .count();
        let failed = summary.deliveries.iter().filter(|d| d.is_problem()).count();
        tracing::info!(%date, %meal, sent, failed, "run finished");
        for d in summary.deliveries.iter().filter(|d| d.status != "sent") {
            tracing::warn!(%date, %meal, recipient = %d.recipient, part = d.part, status = d.status, code = d.code, detail = d.detail.as_deref(), "not delivered");
        }
        notify_status(&format!(
            "last run: {date} {meal}: {sent} sent, {failed} failed"
        ));
        if self.tell {
            let next = self.config.plan().next_fire(self.clock.now());
            say(&crate::view::daemon_ran(
                date,
                meal,
                &summary,
                next,
                self.clock.now().with_timezone(&self.config.timezone),
            ));
        }
        Ok(())
    }
}

impl Bot<'_> {
    /// Read (`date`, `meal`)'s pages again every `recheck` until `until` (the meal's
    /// window closes), for a correction; nothing when corrections are off. The looks run
    /// between slots (`Jobs::look`), so they never hold a slot back.
    fn watch(&mut self, date: NaiveDate, meal: Meal, until: DateTime<Utc>) {
        if !self.config.message.corrections {
            return;
        }
        let now = self.clock.now();
        let start = crate::correction::Watch {
            date,
            meal,
            next: now,
            until,
        };
        self.watches.retain(|w| (w.date, w.meal) != (date, meal));
        if let Some(watch) = start.after(now, self.config.schedule.recheck) {
            tracing::info!(%date, %meal, until = %until, "reading the pages again until the window closes, for a correction");
            self.watches.push(watch);
        }
    }

    /// One look for a changed menu: read the pages, and send a correction if the dishes
    /// changed since the message went out.
    async fn look_once(&mut self, date: NaiveDate, meal: Meal) -> crate::Result<()> {
        let pipeline = deliver::Pipeline {
            config: &self.config,
            http: &self.http,
            sender: self.account.sender(),
            clock: self.clock.as_ref(),
        };
        let run = tokio::select! {
            biased;
            _ = self.stop.wait_for(|stopped| *stopped) => return Ok(()),
            run = deliver::prepare(pipeline.config, pipeline.http, date, meal) => run,
        };
        let corrected = pipeline
            .correct(&mut self.ledger, &run, true, To::All)
            .await?;
        let sent = corrected
            .deliveries
            .iter()
            .filter(|d| d.status == "sent")
            .count();
        tracing::info!(%date, %meal, changed = corrected.changes.len(), sent, "rechecked the menu sent");
        Ok(())
    }
}

impl Jobs for Bot<'_> {
    fn next_look(&mut self) -> Option<DateTime<Utc>> {
        self.watches.iter().map(|w| w.next).min()
    }

    async fn look(&mut self, now: DateTime<Utc>) -> crate::Result<()> {
        // A reload may have turned corrections off.
        if !self.config.message.corrections {
            self.watches.clear();
        }
        let due: Vec<crate::correction::Watch> = self
            .watches
            .iter()
            .filter(|w| w.next <= now)
            .cloned()
            .collect();
        for watch in due {
            if *self.stop.borrow() {
                return Ok(());
            }
            let result = self.look_once(watch.date, watch.meal).await;
            let after = watch.after(self.clock.now(), self.config.schedule.recheck);
            self.watches.retain(|w| *w != watch);
            self.watches.extend(after);
            if let Err(err) = result {
                if schedule::is_fatal(&err) {
                    return Err(err);
                }
                tracing::error!(date = %watch.date, meal = %watch.meal, "a look for a changed menu failed: {err}");
            }
        }
        Ok(())
    }

    async fn run(&mut self, date: NaiveDate, meal: Meal, slot: DateTime<Tz>) -> crate::Result<()> {
        self.serve(date, meal, Some(slot.with_timezone(&Utc))).await
    }

    async fn has_run(&mut self, date: NaiveDate, meal: Meal) -> bool {
        self.ledger.has_run(date, meal).unwrap_or_else(|err| {
            tracing::error!("cannot read the ledger, skipping {date} {meal}: {err}");
            true
        })
    }

    async fn missed(
        &mut self,
        date: NaiveDate,
        meal: Meal,
        _slot: DateTime<Tz>,
    ) -> crate::Result<()> {
        self.ledger.record_missed(date, meal, self.clock.now())?;
        Ok(())
    }

    async fn last_activity(&mut self) -> Option<DateTime<Utc>> {
        self.ledger.last_activity().unwrap_or_else(|err| {
            tracing::error!("cannot read the ledger: {err}");
            None
        })
    }

    async fn check(&mut self) -> crate::Result<()> {
        instance::check_ledger(self.ledger.path())
    }

    async fn reload(&mut self, forced: bool) -> Option<schedule::Plan> {
        self.config = self.reload.changed(forced, &self.config).await?;
        // The prefetch follows the new schedule and sources; what it read for the old one
        // is dropped.
        self.in_force.send_replace(self.config.clone());
        self.prefetched.clear();
        self.policy.recheck = self.config.schedule.recheck;
        let plan = self.config.plan();
        match plan.next_fire(self.clock.now()) {
            Some((meal, at)) => tracing::info!(%meal, %at, "config reloaded; next slot"),
            None => tracing::info!("config reloaded; nothing scheduled"),
        }
        Some(plan)
    }

    async fn hangup(&mut self) {
        self.reload.hangup().await;
    }

    async fn keep_alive(&mut self) -> crate::Result<()> {
        let refreshed = match self.account.session.keep_alive().await {
            Ok(refreshed) => refreshed,
            // A data dir deleted under the daemon takes a file-store login with it: name
            // that cause, not the login it took along.
            Err(err) => {
                instance::check_ledger(self.ledger.path())?;
                return Err(err.into());
            }
        };
        tracing::info!(
            rotated = refreshed.rotated,
            refresh_token_expires_at = refreshed.refresh_token_expires_at.map(|t| t.to_rfc3339()),
            "login kept alive"
        );
        Ok(())
    }
}

/// Run the daemon until SIGTERM or Ctrl-C.
pub async fn run(
    config: &Config,
    paths: &Paths,
    clock: Arc<dyn Clock>,
    env: &dyn Fn(&str) -> Option<String>,
) -> crate::Result<()> {
    let _lock = schedule::lock_instance(&paths.data_dir)?;
    let stop = listen_for_stop();
    let account = Account::open(config, paths, clock.clone(), env)?;
    // A rotated token that cannot be saved is kept and its save retried, not lost.
    account.session.hold_unsaved_tokens();
    if let Err(err) = check_login(&account).await {
        return Err(stopped_for_good(paths, err, clock.now()));
    }
    instance::clear_stopped(&paths.data_dir);
    let ledger = Ledger::open(&crate::ledger::path_in(&paths.data_dir))?;
    crate::scrape::use_cache(
        &pages_dir(&paths.data_dir),
        clock.clone(),
        crate::scrape::Slots::new(config.timezone, config.schedule.meals.clone()),
    );
    if config.schedule.skip_holidays {
        let today = clock.now().with_timezone(&config.timezone).date_naive();
        if let Some(gap) = crate::holiday::gap(today) {
            tracing::warn!("schedule.skip_holidays: {gap}");
        }
    }
    let mut plan = config.plan();
    // Tests make the loop look at the clock more often than once a minute (as
    // KBOT_RETRY_BASE_MS shortens the retries), so a clock change is seen at once.
    if let Some(ms) = env("KBOT_MAX_NAP_MS").and_then(|ms| ms.parse().ok()) {
        plan.max_nap = std::time::Duration::from_millis(ms);
    }
    let mut bot = Bot {
        config: config.clone(),
        http: crate::http::client(crate::http::Timeouts::default()),
        account: &account,
        ledger,
        clock: clock.clone(),
        policy: window::Policy::new(config.schedule.recheck, env),
        stop: stop.clone(),
        prefetched: window::Prefetched::default(),
        in_force: watch::channel(config.clone()).0,
        reload: crate::reload::Watch::start(paths),
        tell: std::io::IsTerminal::is_terminal(&std::io::stdout()),
        watches: Vec::new(),
    };
    let page_client = bot.http.clone();
    let ahead = window::prefetch(
        bot.in_force.subscribe(),
        &page_client,
        clock.clone(),
        bot.prefetched.clone(),
    );
    // The page cache dates copies of undated pages by the meals' slots: it follows a
    // reloaded schedule. Ends when the config channel does.
    let mut schedules = bot.in_force.subscribe();
    tokio::spawn(async move {
        while schedules.changed().await.is_ok() {
            let slots = {
                let config = schedules.borrow_and_update();
                crate::scrape::Slots::new(config.timezone, config.schedule.meals.clone())
            };
            crate::scrape::follow_slots(slots);
        }
    });
    // Ready before crash recovery: resends after a crash may take longer than systemd's
    // start timeout, and the daemon is fully up while it makes them.
    notify(&[sd_notify::NotifyState::Ready]);
    if bot.tell {
        say(&crate::view::daemon_started(
            std::process::id(),
            plan.next_fire(clock.now()),
            clock.now().with_timezone(&config.timezone),
        ));
    }
    if let Err(err) = recover(&mut bot, &stop).await {
        return Err(stopped_for_good(paths, err, clock.now()));
    }
    resume_windows(&mut bot, &plan, &stop).await;
    if let Some((meal, at)) = plan.next_fire(clock.now()) {
        tracing::info!(%meal, at = %at, "next slot");
        notify_status(&format!(
            "next: {meal} at {}",
            at.format("%Y-%m-%d %H:%M %Z")
        ));
    }
    let result = tokio::select! {
        result = schedule::run(&plan, clock.clone(), &mut bot, stopped(stop)) => result,
        () = ahead => Ok(()),
    };
    notify(&[sd_notify::NotifyState::Stopping]);
    instance::forget_config_in_force(&paths.data_dir);
    result.map_err(|err| stopped_for_good(paths, err, clock.now()))
}

/// A line for the person at the terminal the daemon runs in (best effort: a closed
/// terminal must not stop the daemon).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}

/// The daemon cannot work until the user acts: log why, leave a record for `kbot status`
/// (`needs_attention`), and hand the error back for the exit code (3: the unit's
/// `RestartPreventExitStatus` keeps systemd from restarting it in vain).
fn stopped_for_good(paths: &Paths, err: crate::Error, now: DateTime<Utc>) -> crate::Error {
    if schedule::is_fatal(&err) {
        tracing::error!(hint = err.hint(), "the daemon stops: {err}");
        notify_status(&format!("stopped: {err}"));
        instance::record_stopped(
            &paths.data_dir,
            &instance::Stopped {
                at: now,
                exit: err.exit() as u8,
                reason: err.to_string(),
                hint: err.hint(),
            },
        );
    }
    err
}

/// Fail now, not at breakfast, when there is no login (or the config or the secret store
/// is wrong): those need the user. A token endpoint that cannot be reached or answers
/// garbage is not fatal: at boot the network is often not up yet, and a daemon that exits
/// then is restarted a few times and given up on by systemd. The first slot tries again.
async fn check_login(account: &Account) -> crate::Result<()> {
    match account.session.access_token().await {
        Ok(_) => Ok(()),
        Err(err @ (AuthError::Http { .. } | AuthError::BadResponse { .. })) => {
            tracing::warn!("cannot check the login now, going on (the next run retries): {err}");
            Ok(())
        }
        Err(err @ AuthError::Kakao(_)) if err.exit() == Exit::Failure => {
            tracing::warn!("cannot check the login now, going on (the next run retries): {err}");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Crash recovery (DESIGN §5): runs a crash left half-sent are finished now (at-least-once)
/// or their open rows turned `unknown` (at-most-once; the ledger does that). After a stop
/// request no further run starts.
async fn recover(bot: &mut Bot<'_>, stop: &watch::Receiver<bool>) -> crate::Result<()> {
    let at_most_once = bot.config.message.delivery == Delivery::AtMostOnce;
    let window = bot.config.schedule.catch_up.max(schedule::ON_TIME);
    let recovery = match bot.ledger.recover(at_most_once, window, bot.clock.now()) {
        Ok(r) => r,
        Err(err) => {
            tracing::error!("crash recovery failed: {err}");
            return Ok(());
        }
    };
    for row in &recovery.unknown {
        tracing::warn!(date = %row.key.date, meal = %row.key.meal, recipient = %row.key.recipient, part = row.key.part, "a send was interrupted; its fate is unknown and it is not resent");
    }
    // Pending rows to resend, and runs cut short before every part was even claimed.
    let mut runs: BTreeSet<(NaiveDate, Meal)> = recovery
        .resend
        .iter()
        .map(|r| (r.key.date, r.key.meal))
        .collect();
    let since =
        bot.clock.now() - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    match bot.ledger.interrupted_runs(since) {
        Ok(cut_short) => runs.extend(cut_short),
        Err(err) => tracing::error!("cannot read the interrupted runs: {err}"),
    }
    for (date, meal) in runs {
        if *stop.borrow() {
            return Ok(());
        }
        tracing::info!(%date, %meal, "finishing a run a crash interrupted");
        if let Err(err) = bot.deliver(date, meal).await {
            // A lost login stops the daemon here as it would at a slot.
            if schedule::is_fatal(&err) {
                return Err(err);
            }
            tracing::error!(%date, %meal, "resending after a crash failed: {err}");
        }
    }
    Ok(())
}

/// A restart inside a meal's window returns to it: each meal's latest slot whose
/// window is still open and whose ledger rows show work left (a failed or pending
/// delivery, no menu yet and no warning sent) is served again until the window closes.
async fn resume_windows(bot: &mut Bot<'_>, plan: &schedule::Plan, stop: &watch::Receiver<bool>) {
    let now = bot.clock.now();
    let span = bot.config.schedule.catch_up.max(schedule::ON_TIME);
    let since = now - chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX);
    for (meal, slot) in plan.latest_slots(since, now) {
        if *stop.borrow() {
            return;
        }
        let date = slot.date_naive();
        match bot.ledger.is_open(date, meal) {
            Ok(true) => {
                tracing::info!(%date, %meal, %slot, "returning to a meal whose window is still open");
                if let Err(err) = bot.serve(date, meal, Some(slot.with_timezone(&Utc))).await {
                    tracing::error!(%date, %meal, "serving the meal's window failed: {err}");
                }
            }
            // Sent before the restart: back to reading the pages for a correction.
            Ok(false) => {
                if bot.ledger.menus(date, meal).is_ok_and(|m| !m.is_empty()) {
                    let span = Window::of(slot.with_timezone(&Utc), bot.config.schedule.catch_up);
                    bot.watch(date, meal, span.closes);
                }
            }
            Err(err) => tracing::error!("cannot read the ledger: {err}"),
        }
    }
}

/// Listen for SIGTERM and SIGINT (Ctrl-C) from now on; the receiver turns `true` when one
/// arrives. The listeners are registered at once, not when a future is first polled, so a
/// stop during start-up (the login check, crash recovery) waits for the call in flight
/// instead of killing the process mid-call; and a task logs the signal the moment it
/// arrives, not after the call it waits for.
fn listen_for_stop() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: stopping after the call in flight"),
                        _ = interrupt.recv() => tracing::info!("interrupted: stopping after the call in flight"),
                    }
                    let _ = tx.send(true);
                });
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!("cannot listen for SIGTERM: {err}");
                tokio::spawn(stop_on_ctrl_c(tx));
            }
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(stop_on_ctrl_c(tx));
    rx
}

async fn stop_on_ctrl_c(tx: watch::Sender<bool>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!("interrupted: stopping after the call in flight");
        let _ = tx.send(true);
    } else {
        // No way to hear a stop: keep running; the service manager's SIGKILL still works.
        tx.closed().await;
    }
}

/// Resolves once a stop was requested.
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        // The listener is gone without a signal (it cannot be); keep running.
        std::future::pending::<()>().await;
    }
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!("sd_notify: {err}");
    }
}

fn notify_status(status: &str) {
    notify(&[sd_notify::NotifyState::Status(status)]);
}
