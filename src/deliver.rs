//! One run of kbot: scrape every source for (date, meal), render the message, and (with a
//! login) send it and record it. Shared by `send-now`, `preview` and the daemon (which
//! repeats runs inside a meal's window: `window`).
//!
//! Owns the sending rules of one run: warnings to "me" are their own kind of ledger row,
//! never menu part 1; a call that may have reached Kakao without an answer is tried once
//! more, then `unknown`; after a quota error kbot stops calling Kakao for that receiver
//! (or, for the sender's quota, for every friend that day); a message Kakao took that the
//! ledger cannot record is reported with the names of who got it.
//!
//! Recipients come in audiences (`audience`): the message with every source goes to "me"
//! and `[recipients] friends`; each other audience gets its own message, rendered from its
//! sources only, after it. A correction (`correction`, [`Pipeline::correct`]) is sent the
//! same way, as its own ledger kind.
//!
//! Does network I/O through `scrape`; the rendering itself is `message`'s pure work.

use chrono::NaiveDate;

use crate::config::Config;
use crate::error::{Exit, Report};
use crate::meal::Meal;
use crate::message::{self, Audience, Rendered, Style};
use crate::scrape::{self, Outcome, SourceReport};

/// What one run found and would send.
#[derive(Debug, Clone)]
pub struct Run {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// One report per source, in config order.
    pub reports: Vec<SourceReport>,
    /// The parts to send.
    pub rendered: Rendered,
}

impl Run {
    /// The message of an audience that gets only `sources` (indices into the reports),
    /// rendered from those sources' reports as the whole message is from all of them.
    pub fn render_for(&self, config: &Config, sources: &[usize]) -> Rendered {
        let reports: Vec<SourceReport> = self
            .reports
            .iter()
            .enumerate()
            .filter(|(i, _)| sources.contains(i))
            .map(|(_, r)| r.clone())
            .collect();
        message::render(self.date, self.meal, &reports, &style(config, self.date))
    }

    /// The names of sources whose scrape failed (not found, wrong date, fetch failed).
    pub fn failed_sources(&self) -> Vec<String> {
        self.reports
            .iter()
            .filter(|r| is_failure(&r.outcome))
            .map(|r| format!("{} ({})", r.name, r.outcome.as_str()))
            .collect()
    }
}

/// True for the outcomes that mean "something is wrong", as opposed to menu or closed.
pub fn is_failure(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::NotFound | Outcome::WrongDate | Outcome::FetchFailed
    )
}

/// The rendering settings a config implies for `date`.
pub fn style(config: &Config, date: NaiveDate) -> Style {
    Style {
        template: config.message.template,
        on_closed: config.message.on_closed,
        link: config
            .link_for(date)
            .unwrap_or_else(|| "https://kakao.com".into()),
        button_title: config.message.button_title.clone(),
        noise: config.message.noise.clone(),
        max_parts: config.message.max_parts,
        highlight: config.highlight.clone(),
        is_test: false,
    }
}

/// Scrape every source (in config order) for one date and meal.
pub async fn scrape_all(
    config: &Config,
    http: &reqwest::Client,
    date: NaiveDate,
    meal: Meal,
) -> Vec<SourceReport> {
    let mut reports = Vec::with_capacity(config.sources.len());
    for source in &config.sources {
        let report = scrape::scrape(http, source, date, meal).await;
        tracing::info!(source = %report.name, outcome = report.outcome.as_str(), "scraped");
        reports.push(report);
    }
    reports
}

/// Scrape and render: everything a run does before it talks to Kakao.
pub async fn prepare(config: &Config, http: &reqwest::Client, date: NaiveDate, meal: Meal) -> Run {
    let reports = scrape_all(config, http, date, meal).await;
    let rendered = message::render(date, meal, &reports, &style(config, date));
    Run {
        date,
        meal,
        reports,
        rendered,
    }
}

/// Scraping failed for at least one source (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("scraping failed for {meal} on {date}: {}", sources.join(", "))]
pub struct ScrapeFailed {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// `name (outcome)` of each failed source.
    pub sources: Vec<String>,
}

impl Report for ScrapeFailed {
    fn exit(&self) -> Exit {
        Exit::Delivery
    }

    fn hint(&self) -> Option<String> {
        Some(format!(
            "kbot scrape {} --date {} --explain   (shows what the scraper saw)",
            self.meal, self.date
        ))
    }
}

// ─── Sending ────────────────────────────────────────────────────────────────────────────

/// Who a run sends to (`send-now --to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// Only your own chat
    Me,
    /// Only the configured friends
    Friends,
    /// Both
    All,
}

/// One receiver of a run: `me`, or a friend by uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `"me"` or the friend's uuid (the ledger's `recipient`).
    pub id: String,
    /// The nickname, for people reading the summary and the history.
    pub nickname: Option<String>,
}

impl Recipient {
    /// The logged-in user.
    pub fn me() -> Recipient {
        Recipient {
            id: ME.into(),
            nickname: None,
        }
    }

    /// True for the logged-in user.
    pub fn is_me(&self) -> bool {
        self.id == ME
    }

    /// `nickname (uuid)`, `me`, or the uuid.
    pub fn display(&self) -> String {
        match &self.nickname {
            Some(nick) if !self.is_me() => format!("{nick} ({})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// The ledger's name for the logged-in user.
pub const ME: &str = "me";

/// A configured friend kbot cannot send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// No friend has this nickname or uuid.
    Unknown {
        /// As written in `recipients.friends`.
        name: String,
        /// The nicknames closest to it.
        closest: Vec<String>,
    },
    /// Several friends share this nickname.
    Ambiguous {
        /// As written in `recipients.friends`.
        name: String,
        /// Their uuids.
        uuids: Vec<String>,
    },
    /// The friend blocks messages from this app (`allowed_msg = false`).
    Blocked {
        /// As written in `recipients.friends`.
        name: String,
        /// The friend's uuid.
        uuid: String,
    },
    /// The friends list could not be read (consent missing, Kakao or the network down), so
    /// no configured friend could be resolved; "me" is still sent to.
    Unavailable {
        /// Why, as the Kakao error says it.
        error: String,
        /// The command or setting that fixes it, if there is one.
        hint: Option<String>,
        /// Whether reading it again later may work (network, 5xx).
        retryable: bool,
    },
}

impl Unresolved {
    /// What went wrong, in one line, with what to do.
    pub fn describe(&self) -> String {
        match self {
            Unresolved::Unknown { name, closest } if closest.is_empty() => {
                format!("{name:?} is not among your friends who use this app (see `kbot friends`)")
            }
            Unresolved::Unknown { name, closest } => format!(
                "{name:?} is not among your friends who use this app; closest: {}",
                closest.join(", ")
            ),
            Unresolved::Ambiguous { name, uuids } => format!(
                "{name:?} matches {} friends; write one of their uuids instead: {}",
                uuids.len(),
                uuids.join(", ")
            ),
            Unresolved::Blocked { name, uuid } => {
                format!(
                    "{name} ({uuid}) blocks messages from this app (allowed_msg = false): skipped"
                )
            }
            Unresolved::Unavailable { error, .. } => {
                format!("no friend was sent to: cannot read the friends list: {error}")
            }
        }
    }

    /// The command or setting that fixes it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Unresolved::Unknown { .. } | Unresolved::Ambiguous { .. } => Some(
                "correct `friends` under [recipients] in config.toml; `kbot friends` lists the nicknames and uuids".into(),
            ),
            Unresolved::Blocked { .. } => None,
            Unresolved::Unavailable { hint, .. } => hint.clone(),
        }
    }
}

/// Match `recipients.friends` (nicknames or uuids) against the friends list. Pure.
/// A uuid matches exactly; a nickname must match exactly one friend.
pub fn resolve_friends(
    wanted: &[String],
    friends: &[crate::kakao::Friend],
) -> (Vec<Recipient>, Vec<Unresolved>) {
    let mut found: Vec<Recipient> = Vec::new();
    let mut problems = Vec::new();
    for name in wanted {
        let by_uuid: Vec<_> = friends.iter().filter(|f| f.uuid == *name).collect();
        let matches = if by_uuid.is_empty() {
            friends.iter().filter(|f| f.nickname == *name).collect()
        } else {
            by_uuid
        };
        match matches.as_slice() {
            [] => problems.push(Unresolved::Unknown {
                name: name.clone(),
                closest: closest(name, friends),
            }),
            [friend] if !friend.allowed_msg => problems.push(Unresolved::Blocked {
                name: name.clone(),
                uuid: friend.uuid.clone(),
            }),
            [friend] => {
                if !found.iter().any(|r| r.id == friend.uuid) {
                    found.push(Recipient {
                        id: friend.uuid.clone(),
                        nickname: Some(friend.nickname.clone()).filter(|n| !n.is_empty()),
                    });
                }
            }
            many => problems.push(Unresolved::Ambiguous {
                name: name.clone(),
                uuids: many.iter().map(|f| f.uuid.clone()).collect(),
            }),
        }
    }
    (found, problems)
}

/// Up to three nicknames within a small edit distance of `name`, closest first.
fn closest(name: &str, friends: &[crate::kakao::Friend]) -> Vec<String> {
    let limit = (name.chars().count() / 2).max(2);
    let mut scored: Vec<(usize, &str)> = friends
        .iter()
        .map(|f| (edit_distance(name, &f.nickname), f.nickname.as_str()))
        .filter(|(d, n)| *d <= limit && !n.is_empty())
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// What happened to one (recipient, part).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivered {
    /// `"me"` or a uuid.
    pub recipient: String,
    /// The nickname, when known.
    pub nickname: Option<String>,
    /// 1-based part number (menu and warning parts count apart).
    pub part: u32,
    /// `menu` or `warning` (a warning to "me" about the scrape).
    pub kind: crate::ledger::Kind,
    /// `sent`, `failed`, `unknown`, `skipped` (already delivered earlier), or `not_sent`
    /// (not tried: the run was stopped).
    pub status: &'static str,
    /// Kakao's error code, if any.
    pub code: Option<i64>,
    /// Why it failed.
    pub detail: Option<String>,
    /// The command or setting that fixes the failure, if there is one.
    pub hint: Option<String>,
    /// A failure that trying again later may fix (network, 5xx, `-1`, `-7`, `-603`).
    #[serde(skip)]
    pub retryable: bool,
}

impl Delivered {
    /// Failed, or its fate unknown: something that should have arrived may not have.
    pub fn is_problem(&self) -> bool {
        matches!(self.status, "failed" | "unknown")
    }
}

/// `runs.lock` beside the ledger, taken off the runtime thread: one run sends at a time
/// across processes, so each sees the other's rows settled, never in flight.
async fn lock_runs(db: std::path::PathBuf) -> Result<Option<std::fs::File>, crate::Error> {
    let shown = db.clone();
    let lock = tokio::task::spawn_blocking(move || crate::ledger::lock_runs(&db))
        .await
        .map_err(|join| {
            crate::error::PathIo::new("cannot lock", &shown, std::io::Error::other(join))
        })??;
    Ok(lock)
}

/// Whether a send failed, or the friends list could not be read, for a reason that may pass
/// (network, 5xx, `-1`, `-7`, `-603`).
fn may_pass(deliveries: &[Delivered], unresolved: &[Unresolved]) -> bool {
    deliveries
        .iter()
        .any(|d| d.status == "failed" && d.retryable)
        || unresolved.iter().any(|u| {
            matches!(
                u,
                Unresolved::Unavailable {
                    retryable: true,
                    ..
                }
            )
        })
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The run's scrape and render.
    pub run: Run,
    /// One row per (recipient, part) the run was about.
    pub deliveries: Vec<Delivered>,
    /// Configured friends kbot could not send to.
    pub unresolved: Vec<Unresolved>,
}

impl Summary {
    /// Whether something failed for a reason that may pass (network, 5xx, `-1`, `-7`,
    /// `-603`, a friends list that could not be read): the meal's window tries again.
    pub fn needs_retry(&self) -> bool {
        may_pass(&self.deliveries, &self.unresolved)
    }

    /// Whether anything that should have arrived did not (exit code 5).
    pub fn has_failures(&self) -> bool {
        self.deliveries.iter().any(|d| d.is_problem())
            || self
                .unresolved
                .iter()
                .any(|u| !matches!(u, Unresolved::Blocked { .. }))
            || !self.run.failed_sources().is_empty()
    }
}

/// What a run needs to talk to Kakao.
#[derive(Debug)]
pub struct Sender<'a> {
    /// Access tokens on demand.
    pub session: &'a crate::session::Session,
    /// The API client for reads (friends): retries per DESIGN §5.
    pub kakao: &'a crate::kakao::Client,
    /// The API client for sends: the same, or one that never retries (at-most-once).
    pub kakao_send: &'a crate::kakao::Client,
    /// At-least-once or at-most-once.
    pub delivery: crate::config::Delivery,
}

/// Why a Kakao call failed: the login, or the call itself.
#[derive(Debug)]
enum CallError {
    Auth(crate::auth::AuthError),
    Kakao(crate::kakao::Error),
}

impl Sender<'_> {
    /// Call `f` with a valid access token; on `-401` refresh once and retry once.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, CallError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::kakao::Error>>,
    {
        use secrecy::ExposeSecret;
        let token = self.session.access_token().await.map_err(CallError::Auth)?;
        match f(token.expose_secret().to_owned()).await {
            Err(err) if err.is_invalid_token() => {
                tracing::info!("access token rejected (-401): refreshing once");
                let fresh = self
                    .session
                    .refresh_after_rejection(&token)
                    .await
                    .map_err(CallError::Auth)?;
                f(fresh.expose_secret().to_owned())
                    .await
                    .map_err(CallError::Kakao)
            }
            other => other.map_err(CallError::Kakao),
        }
    }

    /// Every friend this app may list (all pages).
    pub async fn friends(&self) -> Result<Vec<crate::kakao::Friend>, crate::Error> {
        let kakao = self.kakao;
        self.call(|token| async move { kakao.friends(&token).await })
            .await
            .map_err(CallError::into_error)
    }

    /// End the login at Kakao (`/v1/user/logout`). A rejected access token is refreshed and
    /// the call retried like any other, so a stale cached token leaves no live login behind.
    pub async fn revoke(&self) -> Result<(), crate::Error> {
        let kakao = self.kakao;
        self.call(|token| async move { kakao.logout(&token).await })
            .await
            .map_err(CallError::into_error)
    }

    /// The ledger status for a failed call: `unknown` when Kakao may have accepted it and
    /// delivery is at-most-once, `failed` otherwise.
    fn failure_status(&self, err: &crate::kakao::Error) -> crate::ledger::Status {
        let ambiguous = err.is_retryable();
        if ambiguous && self.delivery == crate::config::Delivery::AtMostOnce {
            crate::ledger::Status::Unknown
        } else {
            crate::ledger::Status::Failed
        }
    }
}

impl CallError {
    fn into_error(self) -> crate::Error {
        match self {
            CallError::Auth(e) => e.into(),
            CallError::Kakao(e) => e.into(),
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who to send to.
    pub to: To,
    /// Send again what the ledger says was delivered (or is unknown).
    pub force: bool,
    /// Hold back the warning to "me": the meal's window is still open and the failure may
    /// heal by itself (see [`can_heal`]), so the warning waits for the window's end.
    pub hold_warning: bool,
    /// Turns `true` on Ctrl-C / SIGTERM: the call in flight finishes and is recorded, no
    /// further call starts, and what was not tried is reported `not_sent` (no ledger row:
    /// the next run sends it).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Whether a failed source may come right by itself within a meal's window: the page is
/// not up yet (`fetch_failed`), still shows another date (`wrong_date`), or has the table
/// but empty cells for the day (`not_found` "… empty …"). A selector or row that matches
/// nothing on a page that loaded will not heal: "me" is told at once.
pub fn can_heal(report: &SourceReport) -> bool {
    match report.outcome {
        // A certificate refused, a 403, a login page: only a config change helps.
        Outcome::FetchFailed => !report
            .detail
            .as_deref()
            .is_some_and(|d| d.contains(crate::scrape::reach::WILL_NOT_HEAL)),
        Outcome::WrongDate => true,
        Outcome::NotFound => report
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("empty")),
        _ => false,
    }
}

impl Run {
    /// Whether this run has nothing for friends yet and every failed source may heal
    /// within the window: worth checking again before warning anyone.
    pub fn may_heal(&self) -> bool {
        let menu = self
            .rendered
            .parts
            .iter()
            .any(|p| p.audience == Audience::Everyone);
        let failed: Vec<&SourceReport> = self
            .reports
            .iter()
            .filter(|r| is_failure(&r.outcome))
            .collect();
        !menu && !failed.is_empty() && failed.iter().all(|r| can_heal(r))
    }
}

impl Options {
    fn is_stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| *stop.borrow())
    }
}

/// Report `recipients` as not tried for `part` because a stop was requested.
fn not_sent(
    recipients: &[&Recipient],
    part: u32,
    kind: crate::ledger::Kind,
    deliveries: &mut Vec<Delivered>,
) {
    for &recipient in recipients {
        deliveries.push(delivered(recipient, part, kind, "not_sent", None, None));
    }
}

/// The recipients a config names for `to`: me, and the friends resolved against Kakao's
/// list (fetched only when friends are wanted).
pub async fn recipients(
    config: &Config,
    sender: &Sender<'_>,
    to: To,
) -> Result<(Option<Recipient>, Vec<Recipient>, Vec<Unresolved>), crate::Error> {
    let me = (config.recipients.me && to != To::Friends).then(Recipient::me);
    if to == To::Me || config.recipients.friends.is_empty() {
        return Ok((me, Vec::new(), Vec::new()));
    }
    let friends = sender.friends().await?;
    let (found, unresolved) = resolve_friends(&config.recipients.friends, &friends);
    for problem in &unresolved {
        tracing::warn!("recipients.friends: {}", problem.describe());
    }
    Ok((me, found, unresolved))
}

/// What a run needs besides the ledger: the config, the page client, Kakao and the clock.
#[derive(Debug)]
pub struct Pipeline<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The client for pages.
    pub http: &'a reqwest::Client,
    /// Kakao, as the logged-in user.
    pub sender: Sender<'a>,
    /// The clock for the ledger's timestamps.
    pub clock: &'a dyn crate::clock::Clock,
}

impl Pipeline<'_> {
    /// One full run: scrape, render, resolve recipients, send what the ledger has not seen
    /// delivered, and record every step. Shared by `send-now` and the daemon.
    ///
    /// First, rows a crash left `pending` are settled (DESIGN §5): inside the catch-up
    /// window they are sent again (at-least-once) or turned `unknown` (at-most-once).
    pub async fn execute(
        &self,
        ledger: &mut crate::ledger::Ledger,
        date: NaiveDate,
        meal: Meal,
        options: Options,
    ) -> Result<Summary, crate::Error> {
        self.execute_with(ledger, date, meal, options, None).await
    }

    /// [`Pipeline::execute`], optionally with a run already scraped (a meal's window
    /// retries the delivery of the menu it found, and never re-scrapes a menu that may
    /// have changed meanwhile into different parts).
    pub async fn execute_with(
        &self,
        ledger: &mut crate::ledger::Ledger,
        date: NaiveDate,
        meal: Meal,
        options: Options,
        prepared: Option<Run>,
    ) -> Result<Summary, crate::Error> {
        // One run sends at a time across processes (the daemon and a send-now).
        let _runs = lock_runs(ledger.path().to_path_buf()).await?;
        let (config, clock) = (self.config, self.clock);
        let at_most_once = config.message.delivery == crate::config::Delivery::AtMostOnce;
        let window = config.schedule.catch_up.max(crate::schedule::ON_TIME);
        let recovered = ledger.recover(at_most_once, window, clock.now())?;
        for row in &recovered.unknown {
            tracing::warn!(recipient = %row.key.recipient, part = row.key.part, "an interrupted send is marked unknown and not resent");
        }
        ledger.start_run(date, meal, clock.now())?;
        let mut run = match prepared {
            Some(run) => run,
            None => prepare(config, self.http, date, meal).await,
        };
        let outcome = run_outcome(&run);
        // The vacation pause: quiet for several runs, tell me once, then hush.
        let recent = ledger.recent_outcomes(meal, date, crate::pause::AFTER_RUNS)?;
        let decision = crate::pause::decide(
            crate::pause::streak(&recent),
            run.reports.iter().map(|r| r.outcome.as_str()),
        );
        crate::pause::apply(
            &mut run.rendered,
            decision,
            date,
            meal,
            &style(config, date),
        );
        let hold_warning = options.hold_warning;
        let is_paused = decision != crate::pause::Decision::Normal;
        let result = send_parts(
            config,
            &self.sender,
            ledger,
            clock,
            &run,
            options,
            is_paused,
        )
        .await;
        // What the recipients now have, for a correction to compare the page with.
        if let Ok((deliveries, _)) = &result
            && deliveries
                .iter()
                .any(|d| d.kind == crate::ledger::Kind::Menu && d.status == "sent")
            && let Err(err) = ledger.remember_menus(
                date,
                meal,
                &crate::correction::menus_of(&run),
                false,
                clock.now(),
            )
        {
            tracing::warn!(
                "cannot record the menu sent (a correction cannot compare with it): {err}"
            );
        }
        let detail = match &result {
            Ok((deliveries, unresolved)) => {
                let mut detail = describe_run(&run, deliveries, unresolved);
                if hold_warning && run.rendered.has_problems {
                    let held = "the warning to me waits for the end of the window";
                    detail = Some(detail.map_or(held.into(), |d| format!("{d}; {held}")));
                }
                detail
            }
            Err(err) => Some(err.to_string()),
        };
        let finished = ledger.finish_run(date, meal, outcome, detail.as_deref(), clock.now());
        match (&result, finished) {
            (_, Ok(())) => {}
            (Ok(_), Err(err)) => return Err(err.into()),
            // The run's own error says more (who got a message the ledger could not keep):
            // a ledger that cannot close the run must not hide it.
            (Err(_), Err(err)) => tracing::warn!("cannot record the end of the run: {err}"),
        }
        let (deliveries, unresolved) = result?;
        Ok(Summary {
            run,
            deliveries,
            unresolved,
        })
    }
}

/// What a look for a changed menu found and did.
#[derive(Debug, Clone, Default)]
pub struct Corrected {
    /// The sources whose dishes changed since the message went out.
    pub changes: Vec<crate::correction::Change>,
    /// One row per (recipient, correction part) the correction was about.
    pub deliveries: Vec<Delivered>,
    /// Configured friends kbot could not send to.
    pub unresolved: Vec<Unresolved>,
}

impl Corrected {
    /// Whether a correction failed for a reason that may pass (a send, or reading the
    /// friends list): the next look tries again.
    pub fn needs_retry(&self) -> bool {
        may_pass(&self.deliveries, &self.unresolved)
    }
}

impl Pipeline<'_> {
    /// Compare `run` (the page read again) with the menu the ledger says went out and,
    /// when `send` and dishes changed, send a correction to every recipient who got a
    /// changed source's menu and has no correction of this meal yet. Without `send` only
    /// the changes are reported (`send-now` without `--correct`). `to` limits who is sent
    /// to, as for a run.
    pub async fn correct(
        &self,
        ledger: &mut crate::ledger::Ledger,
        run: &Run,
        send: bool,
        to: To,
    ) -> Result<Corrected, crate::Error> {
        use crate::ledger::{Key, Kind, Status};
        let _runs = lock_runs(ledger.path().to_path_buf()).await?;
        let (config, clock) = (self.config, self.clock);
        let sent = ledger.menus(run.date, run.meal)?;
        let changes = crate::correction::changes(&sent, run, &config.message.noise);
        if changes.is_empty() || !send {
            return Ok(Corrected {
                changes,
                ..Corrected::default()
            });
        }
        let found = resolve(config, &self.sender, to).await?;
        let options = Options {
            to,
            force: false,
            hold_warning: false,
            stop: None,
        };
        let mut out = Outbox::new(&self.sender, ledger, clock, run, &options)?;
        let style = style(config, run.date);
        for audience in found.audiences(config, run.meal) {
            let relevant: Vec<&crate::correction::Change> = changes
                .iter()
                .filter(|c| audience.sources.contains(&c.index))
                .collect();
            if relevant.is_empty() {
                continue;
            }
            // Only who got the menu, and at most one correction per meal and recipient.
            let mut members: Vec<&Recipient> = Vec::new();
            for member in &audience.members {
                let key = |kind| Key::new(run.date, run.meal, member.id.clone(), 1).with_kind(kind);
                let got_menu = out.ledger.status(&key(Kind::Menu))? == Some(Status::Sent);
                let corrected = out.ledger.status(&key(Kind::Correction))?;
                if !got_menu {
                    continue;
                }
                if matches!(corrected, Some(Status::Sent | Status::Unknown)) {
                    out.deliveries.push(delivered(
                        member,
                        1,
                        Kind::Correction,
                        "skipped",
                        None,
                        None,
                    ));
                    continue;
                }
                members.push(member);
            }
            if members.is_empty() {
                continue;
            }
            let several = audience.sources.len() > 1;
            let parts = crate::correction::render(run.date, run.meal, &relevant, several, &style);
            for (i, template) in parts.iter().enumerate() {
                let part_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
                out.part(part_no, Kind::Correction, template, members.clone())
                    .await?;
            }
        }
        let corrected = Corrected {
            changes,
            deliveries: out.deliveries,
            unresolved: found.unresolved,
        };
        for d in &corrected.deliveries {
            tracing::info!(date = %run.date, meal = %run.meal, recipient = %d.recipient, part = d.part, status = d.status, "correction");
        }
        // Once everyone has it, the corrected menu is what the recipients have: a rerun
        // compares with it (and finds no change) instead of with the first message. Not
        // after `--to me` or `--to friends`: the others still have the first message.
        if to == To::All && !corrected.needs_retry() {
            ledger.remember_menus(
                run.date,
                run.meal,
                &crate::correction::menus_of(run),
                true,
                clock.now(),
            )?;
        }
        Ok(corrected)
    }
}

impl Pipeline<'_> {
    /// `send-now --test`: scrape and render as a run would, mark the title `[테스트]`, and
    /// send every part to "me" only, recording nothing in the ledger, so the real run of
    /// the same date and meal still sends everything.
    pub async fn send_test(&self, date: NaiveDate, meal: Meal) -> Result<Summary, crate::Error> {
        let reports = scrape_all(self.config, self.http, date, meal).await;
        let test_style = Style {
            is_test: true,
            ..style(self.config, date)
        };
        let rendered = message::render(date, meal, &reports, &test_style);
        let run = Run {
            date,
            meal,
            reports,
            rendered,
        };
        let me = Recipient::me();
        let mut deliveries = Vec::new();
        for (index, part) in run.rendered.parts.iter().enumerate() {
            let part_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let kind = kind_of(part.audience);
            let kakao = self.sender.kakao_send;
            let template = &part.template;
            let result = self
                .sender
                .call(|token| async move { kakao.send_to_me(&token, template).await })
                .await;
            match result {
                Ok(()) => deliveries.push(delivered(&me, part_no, kind, "sent", None, None)),
                Err(CallError::Kakao(err)) => deliveries.push(Delivered {
                    hint: err.hint(),
                    ..delivered(
                        &me,
                        part_no,
                        kind,
                        "failed",
                        err.code(),
                        Some(err.to_string()),
                    )
                }),
                Err(CallError::Auth(err)) => return Err(err.into()),
            }
        }
        Ok(Summary {
            run,
            deliveries,
            unresolved: Vec::new(),
        })
    }
}

/// The run's outcome word for the ledger: the first source's, or `menu` if any has one.
fn run_outcome(run: &Run) -> &'static str {
    if run
        .reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Menu(_) | Outcome::Media(_)))
    {
        "menu"
    } else {
        run.reports
            .first()
            .map_or("not_found", |r| r.outcome.as_str())
    }
}

/// `1 delivery failed`, `3 deliveries failed`: the part of a run's detail that only counts
/// what the delivery rows show anyway.
fn failed_note(n: usize) -> String {
    let plural = if n == 1 { "delivery" } else { "deliveries" };
    format!("{n} {plural} failed")
}

/// Whether a run's detail (as the ledger keeps it) says more than how many deliveries
/// failed, i.e. something `history` would not show otherwise.
pub fn detail_says_more(detail: &str) -> bool {
    detail.split("; ").any(|piece| {
        let count = piece
            .split(' ')
            .next()
            .and_then(|n| n.parse::<usize>().ok());
        count.is_none_or(|n| piece != failed_note(n))
    })
}

fn describe_run(run: &Run, deliveries: &[Delivered], unresolved: &[Unresolved]) -> Option<String> {
    let mut notes: Vec<String> = run
        .reports
        .iter()
        .filter_map(|r| r.detail.as_ref().map(|d| format!("{}: {d}", r.name)))
        .collect();
    let failed = deliveries.iter().filter(|d| d.is_problem()).count();
    if failed > 0 {
        notes.push(failed_note(failed));
    }
    notes.extend(unresolved.iter().map(Unresolved::describe));
    (!notes.is_empty()).then(|| notes.join("; "))
}

type Sent = (Vec<Delivered>, Vec<Unresolved>);

/// Receivers kbot stops calling Kakao for in this run: after the first quota
/// error for one receiver, and for every friend once the sender's quota is used up (or was
/// earlier the same day: `-532` and `-10` last until tomorrow).
#[derive(Debug, Default)]
struct Stops {
    sender: Option<crate::kakao::ApiFailure>,
    receivers: std::collections::HashMap<String, crate::kakao::ApiFailure>,
}

impl Stops {
    /// Why `recipient` is not called any more, if it is not.
    fn of(&self, recipient: &Recipient) -> Option<crate::kakao::ApiFailure> {
        if recipient.is_me() {
            return None;
        }
        self.sender
            .clone()
            .or_else(|| self.receivers.get(&recipient.id).cloned())
    }

    /// Learn from one recipient's failure code.
    fn learn(&mut self, recipient: &Recipient, code: Option<i64>, msg: &str) {
        let failure = |code| crate::kakao::ApiFailure {
            code,
            msg: format!("not sent: an earlier call in this run met quota {code}: {msg}"),
        };
        match code {
            Some(code @ (-532 | -10 | -531)) => self.sender = Some(failure(code)),
            Some(code @ (-533 | -536)) if !recipient.is_me() => {
                self.receivers.insert(recipient.id.clone(), failure(code));
            }
            _ => {}
        }
    }
}

/// How many parts of a warning to "me" are sent.
const MAX_WARNING_PARTS: u32 = 1;

async fn send_parts(
    config: &Config,
    sender: &Sender<'_>,
    ledger: &mut crate::ledger::Ledger,
    clock: &dyn crate::clock::Clock,
    run: &Run,
    options: Options,
    is_paused: bool,
) -> Result<Sent, crate::Error> {
    use crate::ledger::Kind;
    if run.rendered.parts.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let wants_friends = run
        .rendered
        .parts
        .iter()
        .any(|p| p.audience == Audience::Everyone);
    let to = if wants_friends { options.to } else { To::Me };
    let found = resolve(config, sender, to).await?;
    let audiences = found.audiences(config, run.meal);
    let mut out = Outbox::new(sender, ledger, clock, run, &options)?;
    // Notices for "me" (warnings, the favourite alert) reach the logged-in user even when
    // `recipients.me` is off: they are about kbot, not the menu.
    let me_anyway = (options.to != To::Friends).then(Recipient::me);
    let everyone: Vec<&Recipient> = audiences[0].members.iter().collect();
    let (mut menu_parts, mut warning_parts, mut alert_parts) = (0u32, 0u32, 0u32);
    for part in &run.rendered.parts {
        // Warnings and alerts to "me" are numbered apart from the menu (a warning is never
        // part 1) and from each other (a warning sent earlier never stands in for an alert).
        let kind = kind_of(part.audience);
        let counter = match kind {
            Kind::Menu => &mut menu_parts,
            Kind::Warning => &mut warning_parts,
            Kind::Alert | Kind::Correction => &mut alert_parts,
        };
        *counter += 1;
        let part_no = *counter;
        // A warning is one message, however much went wrong (a page problem must not turn
        // into a stream of messages): the rest is in `kbot history` and `scrape --explain`.
        if kind == Kind::Warning && (options.hold_warning || part_no > MAX_WARNING_PARTS) {
            continue;
        }
        let targets: Vec<&Recipient> = if part.audience == Audience::Everyone {
            everyone.clone()
        } else {
            let me = everyone.iter().copied().find(|r| r.is_me());
            me.or(me_anyway.as_ref()).into_iter().collect()
        };
        out.part(part_no, kind, &part.template, targets).await?;
    }
    // The other audiences: a message of their own sources only, rendered like the whole
    // one; never while the vacation pause holds the menu back.
    if !is_paused {
        for audience in &audiences[1..] {
            let rendered = run.render_for(config, &audience.sources);
            let members: Vec<&Recipient> = audience.members.iter().collect();
            let parts = rendered
                .parts
                .iter()
                .filter(|p| p.audience == Audience::Everyone);
            for (i, part) in parts.enumerate() {
                let part_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
                out.part(part_no, Kind::Menu, &part.template, members.clone())
                    .await?;
            }
        }
    }
    Ok((out.deliveries, found.unresolved))
}

/// The recipients a config names, resolved: "me", the friends of `[recipients] friends`
/// and each group's members (in `recipients.groups` order).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The logged-in user, when `recipients.me` and `--to` want it.
    pub me: Option<Recipient>,
    /// `[recipients] friends`.
    pub friends: Vec<Recipient>,
    /// The members of each `[[recipients.group]]`.
    pub groups: Vec<Vec<Recipient>>,
    /// Names that did not resolve (each once, however many entries list it).
    pub unresolved: Vec<Unresolved>,
}

impl Resolved {
    /// The audiences of `meal` (see [`crate::audience::split`]).
    pub fn audiences(&self, config: &Config, meal: Meal) -> Vec<crate::audience::Audience> {
        let everything: Vec<Recipient> =
            self.me.iter().chain(self.friends.iter()).cloned().collect();
        crate::audience::split(config, meal, &everything, &self.groups)
    }
}

/// Resolve every recipient `to` wants. Without the friends list no friend can be sent to,
/// but "me" still can; a lost login (or a broken secret store) is not Kakao's answer and
/// is returned as the error.
pub async fn resolve(
    config: &Config,
    sender: &Sender<'_>,
    to: To,
) -> Result<Resolved, crate::Error> {
    let me = (config.recipients.me && to != To::Friends).then(Recipient::me);
    let groups = &config.recipients.groups;
    let no_friends = config.recipients.friends.is_empty() && groups.is_empty();
    if to == To::Me || no_friends {
        return Ok(Resolved {
            me,
            groups: vec![Vec::new(); groups.len()],
            ..Resolved::default()
        });
    }
    let list = match sender.friends().await {
        Ok(list) => list,
        Err(err) if err.downcast_ref::<crate::kakao::Error>().is_some() => {
            tracing::warn!("cannot read the friends list: {err}");
            let problem = Unresolved::Unavailable {
                error: err.to_string(),
                hint: err.hint(),
                retryable: err
                    .downcast_ref::<crate::kakao::Error>()
                    .is_some_and(crate::kakao::Error::is_retryable),
            };
            return Ok(Resolved {
                me,
                friends: Vec::new(),
                groups: vec![Vec::new(); groups.len()],
                unresolved: vec![problem],
            });
        }
        Err(err) => return Err(err),
    };
    let (friends, mut unresolved) = resolve_friends(&config.recipients.friends, &list);
    let mut members = Vec::with_capacity(groups.len());
    for group in groups {
        let (found, problems) = resolve_friends(&group.friends, &list);
        for problem in problems {
            if !unresolved.contains(&problem) {
                unresolved.push(problem);
            }
        }
        members.push(found);
    }
    for problem in &unresolved {
        tracing::warn!("recipients: {}", problem.describe());
    }
    Ok(Resolved {
        me,
        friends,
        groups: members,
        unresolved,
    })
}

/// Sends parts and records each step: one run's (or one correction's) deliveries so far.
struct Outbox<'a, 'o> {
    sender: &'a Sender<'a>,
    ledger: &'a mut crate::ledger::Ledger,
    clock: &'a dyn crate::clock::Clock,
    run: &'a Run,
    options: &'o Options,
    stops: Stops,
    deliveries: Vec<Delivered>,
}

impl<'a, 'o> Outbox<'a, 'o> {
    fn new(
        sender: &'a Sender<'a>,
        ledger: &'a mut crate::ledger::Ledger,
        clock: &'a dyn crate::clock::Clock,
        run: &'a Run,
        options: &'o Options,
    ) -> Result<Self, crate::Error> {
        let mut stops = Stops::default();
        if ledger.sender_quota_hit(run.date)? {
            stops.sender = Some(crate::kakao::ApiFailure {
                code: -532,
                msg: "not sent: the sender's daily quota was reached earlier today".into(),
            });
        }
        Ok(Outbox {
            sender,
            ledger,
            clock,
            run,
            options,
            stops,
            deliveries: Vec::new(),
        })
    }

    /// Send one part (`kind`, `part_no`) to `targets`, skipping what the ledger has.
    async fn part(
        &mut self,
        part_no: u32,
        kind: crate::ledger::Kind,
        template: &serde_json::Value,
        targets: Vec<&Recipient>,
    ) -> Result<(), crate::Error> {
        use crate::ledger::{Key, Status};
        let (sender, clock, run, options) = (self.sender, self.clock, self.run, self.options);
        let ledger = &mut *self.ledger;
        let stops = &mut self.stops;
        let deliveries = &mut self.deliveries;
        // What is already sent, or may have arrived (`unknown`), is skipped unless forced.
        let mut due: Vec<&Recipient> = Vec::new();
        for recipient in targets {
            let key = Key::new(run.date, run.meal, recipient.id.clone(), part_no).with_kind(kind);
            let previous = ledger.status(&key)?;
            let skip = match previous {
                Some(Status::Sent) if !options.force => Some("skipped"),
                Some(Status::Unknown) if !options.force => Some("unknown"),
                _ => None,
            };
            if let Some(status) = skip {
                deliveries.push(delivered(recipient, part_no, kind, status, None, None));
                continue;
            }
            due.push(recipient);
        }
        // Each row turns `pending` just before its own call, not all at once: a crash then
        // leaves only the call in flight pending, so at-most-once marks only that call
        // `unknown` and the recipients not tried yet are still sent by the next run.
        let (to_me, to_friends): (Vec<&Recipient>, Vec<&Recipient>) =
            due.into_iter().partition(|r| r.is_me());
        let claim = Claim {
            clock,
            run,
            part: part_no,
            kind,
            force: options.force,
        };
        if options.is_stopped() {
            not_sent(&to_me, part_no, kind, deliveries);
            not_sent(&to_friends, part_no, kind, deliveries);
            return Ok(());
        }
        let mut batch = claim.take(ledger, &to_me, deliveries)?;
        let mut retried = false;
        while !batch.is_empty() {
            let kakao = sender.kakao_send;
            let result = sender
                .call(|token| async move { kakao.send_to_me(&token, template).await })
                .await;
            let fates: Vec<Fate<'_>> = batch
                .iter()
                .map(|_| match &result {
                    Ok(()) => Fate::Sent,
                    Err(CallError::Kakao(err)) => Fate::Error(err),
                    Err(CallError::Auth(_)) => Fate::LoginLost,
                })
                .collect();
            let again = settle(ledger, clock, sender, &claim, &batch, fates, deliveries).await?;
            // The app's quota (`-10`) met on "me" stops the friends' calls as well.
            if let (Some(row), Some(me)) = (deliveries.last(), batch.first()) {
                stops.learn(me, row.code, row.detail.as_deref().unwrap_or(""));
            }
            if let Err(CallError::Auth(err)) = result {
                return Err(err.into());
            }
            batch = retry_once(ledger, &claim, again, &mut retried, deliveries)?;
        }
        for chunk in to_friends.chunks(crate::kakao::MAX_RECEIVERS) {
            if options.is_stopped() {
                not_sent(chunk, part_no, kind, deliveries);
                continue;
            }
            let mut live: Vec<&Recipient> = Vec::new();
            for &recipient in chunk {
                match stops.of(recipient) {
                    Some(failure) => {
                        let key = claim.key(recipient);
                        let row = record(
                            ledger,
                            clock,
                            sender,
                            &key,
                            recipient,
                            Fate::Refused(failure),
                        )?;
                        deliveries.push(row);
                    }
                    None => live.push(recipient),
                }
            }
            let mut batch = claim.take(ledger, &live, deliveries)?;
            let mut retried = false;
            while !batch.is_empty() {
                let uuids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
                let kakao = sender.kakao_send;
                let uuids_ref = &uuids;
                let result = sender
                    .call(|token| async move {
                        kakao.send_to_friends(&token, uuids_ref, template).await
                    })
                    .await;
                let fates: Vec<Fate<'_>> = batch
                    .iter()
                    .map(|recipient| match &result {
                        Ok(send) if send.delivered.contains(&recipient.id) => Fate::Sent,
                        Ok(send) => match send.failed.iter().find(|(u, _)| *u == recipient.id) {
                            Some((_, why)) => Fate::Refused(why.clone()),
                            None => Fate::Refused(crate::kakao::ApiFailure {
                                code: 0,
                                msg: "kakao reported neither success nor failure for this receiver"
                                    .into(),
                            }),
                        },
                        Err(CallError::Kakao(err)) => Fate::Error(err),
                        Err(CallError::Auth(_)) => Fate::LoginLost,
                    })
                    .collect();
                let again =
                    settle(ledger, clock, sender, &claim, &batch, fates, deliveries).await?;
                for row in deliveries.iter().rev().take(batch.len()) {
                    if let Some(recipient) = batch.iter().find(|r| r.id == row.recipient) {
                        stops.learn(recipient, row.code, row.detail.as_deref().unwrap_or(""));
                    }
                }
                if let Err(CallError::Auth(err)) = result {
                    return Err(err.into());
                }
                batch = retry_once(ledger, &claim, again, &mut retried, deliveries)?;
            }
        }
        Ok(())
    }
}

/// Record the fates of one call and return the recipients whose call may have reached
/// Kakao without an answer and may be tried once more.
async fn settle<'r>(
    ledger: &mut crate::ledger::Ledger,
    clock: &dyn crate::clock::Clock,
    sender: &Sender<'_>,
    claim: &Claim<'_>,
    batch: &[&'r Recipient],
    fates: Vec<Fate<'_>>,
    deliveries: &mut Vec<Delivered>,
) -> Result<Vec<&'r Recipient>, crate::Error> {
    let sent: Vec<bool> = fates.iter().map(|f| matches!(f, Fate::Sent)).collect();
    let mut again = Vec::new();
    for (i, (recipient, fate)) in batch.iter().zip(fates).enumerate() {
        let key = claim.key(recipient);
        let may_have_arrived = matches!(&fate, Fate::Error(err) if err.may_have_arrived());
        let row = match record_retrying(ledger, clock, sender, &key, recipient, fate).await {
            Ok(row) => row,
            Err(source) => {
                // Kakao has these messages, the ledger does not: say who got them, or a
                // rerun sends them again without anyone knowing why.
                let sent_to: Vec<String> = batch[i..]
                    .iter()
                    .zip(&sent[i..])
                    .filter(|(_, sent)| **sent)
                    .map(|(r, _)| r.nickname.clone().unwrap_or_else(|| r.id.clone()))
                    .collect();
                if sent_to.is_empty() {
                    return Err(source);
                }
                return Err(Unrecorded {
                    date: claim.run.date,
                    meal: claim.run.meal,
                    sent_to,
                    cause: source.to_string(),
                }
                .into());
            }
        };
        if may_have_arrived && row.status == "failed" {
            again.push(*recipient);
        }
        deliveries.push(row);
    }
    Ok(again)
}

/// The second (and last) call for recipients whose first may have reached Kakao: their
/// failed rows are replaced by the retry's. Empty once a retry was made.
fn retry_once<'r>(
    ledger: &mut crate::ledger::Ledger,
    claim: &Claim<'_>,
    again: Vec<&'r Recipient>,
    retried: &mut bool,
    deliveries: &mut Vec<Delivered>,
) -> Result<Vec<&'r Recipient>, crate::Error> {
    if again.is_empty() || *retried {
        return Ok(Vec::new());
    }
    *retried = true;
    deliveries.retain(|d| {
        !(d.part == claim.part
            && d.kind == claim.kind
            && d.status == "failed"
            && again.iter().any(|r| r.id == d.recipient))
    });
    tracing::info!(
        part = claim.part,
        receivers = again.len(),
        "a send may have reached kakao without an answer; trying it once more"
    );
    claim.take(ledger, &again, deliveries)
}

/// Record with a few tries: the disk may be full for a moment, and a message Kakao took
/// must not be sent again for want of a row.
async fn record_retrying(
    ledger: &mut crate::ledger::Ledger,
    clock: &dyn crate::clock::Clock,
    sender: &Sender<'_>,
    key: &crate::ledger::Key,
    recipient: &Recipient,
    fate: Fate<'_>,
) -> Result<Delivered, crate::Error> {
    let mut tries = 0u32;
    loop {
        tries += 1;
        match record(ledger, clock, sender, key, recipient, fate.clone()) {
            Ok(row) => return Ok(row),
            Err(err) if tries < RECORD_TRIES => {
                tracing::warn!("cannot record a delivery (try {tries} of {RECORD_TRIES}): {err}");
                tokio::time::sleep(std::time::Duration::from_millis(200) * tries).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// How often a delivery's result is written before kbot gives up on the ledger.
const RECORD_TRIES: u32 = 3;

/// Kakao accepted messages the ledger could not record.
#[derive(Debug, thiserror::Error)]
#[error("sent to {} but could not record it: {cause}", sent_to.join(", "))]
pub struct Unrecorded {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// Who got the message (nicknames, else uuids; `me`).
    pub sent_to: Vec<String>,
    /// The ledger's error.
    pub cause: String,
}

impl Report for Unrecorded {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "free space in the data dir (see `kbot status`); these recipients already have {} {}: do not send it to them again",
            self.date, self.meal
        ))
    }
}

/// Turning rows `pending` just before their call (DESIGN §5).
struct Claim<'a> {
    clock: &'a dyn crate::clock::Clock,
    run: &'a Run,
    part: u32,
    kind: crate::ledger::Kind,
    force: bool,
}

impl Claim<'_> {
    /// The ledger key of this part for `recipient`.
    fn key(&self, recipient: &Recipient) -> crate::ledger::Key {
        crate::ledger::Key::new(
            self.run.date,
            self.run.meal,
            recipient.id.clone(),
            self.part,
        )
        .with_kind(self.kind)
    }

    /// Mark each of `recipients` pending for this part and return those that now are; a
    /// row another kbot process delivered meanwhile is reported as skipped instead.
    fn take<'r>(
        &self,
        ledger: &crate::ledger::Ledger,
        recipients: &[&'r Recipient],
        deliveries: &mut Vec<Delivered>,
    ) -> Result<Vec<&'r Recipient>, crate::Error> {
        let mut claimed = Vec::with_capacity(recipients.len());
        for &recipient in recipients {
            let key = self.key(recipient);
            let nickname = recipient.nickname.as_deref();
            if ledger.mark_pending(&key, nickname, self.force, self.clock.now())? {
                claimed.push(recipient);
            } else {
                deliveries.push(delivered(
                    recipient, self.part, self.kind, "skipped", None, None,
                ));
            }
        }
        Ok(claimed)
    }
}

/// What the ledger records a part as, from whom it is for.
fn kind_of(audience: Audience) -> crate::ledger::Kind {
    use crate::ledger::Kind;
    match audience {
        Audience::Everyone => Kind::Menu,
        Audience::Me => Kind::Warning,
        Audience::Alert => Kind::Alert,
    }
}

fn delivered(
    recipient: &Recipient,
    part: u32,
    kind: crate::ledger::Kind,
    status: &'static str,
    code: Option<i64>,
    detail: Option<String>,
) -> Delivered {
    Delivered {
        recipient: recipient.id.clone(),
        nickname: recipient.nickname.clone(),
        part,
        kind,
        status,
        code,
        detail,
        hint: None,
        retryable: false,
    }
}

/// What one call meant for one recipient.
#[derive(Clone)]
enum Fate<'e> {
    /// Kakao accepted it.
    Sent,
    /// Kakao refused this receiver (a `failure_info` entry), or kbot stopped calling for it.
    Refused(crate::kakao::ApiFailure),
    /// The whole call failed.
    Error(&'e crate::kakao::Error),
    /// No token could be had: the login is gone (the run stops after recording this).
    LoginLost,
}

/// Record one call's outcome for one recipient in the ledger and the summary.
fn record(
    ledger: &crate::ledger::Ledger,
    clock: &dyn crate::clock::Clock,
    sender: &Sender<'_>,
    key: &crate::ledger::Key,
    recipient: &Recipient,
    fate: Fate<'_>,
) -> Result<Delivered, crate::Error> {
    use crate::ledger::Status;
    let now = clock.now();
    let row = match fate {
        Fate::Sent => {
            ledger.mark_sent(key, now)?;
            delivered(recipient, key.part, key.kind, "sent", None, None)
        }
        Fate::Refused(failure) => {
            ledger.mark_failed(key, Some(failure.code), &failure.msg, now)?;
            // A receiver's failure carries the same codes as a whole call's error.
            let as_error = crate::kakao::Error::Api {
                status: 200,
                code: failure.code,
                msg: failure.msg.clone(),
                required_scopes: Vec::new(),
                api_type: None,
            };
            Delivered {
                hint: as_error.hint(),
                retryable: as_error.is_retryable(),
                ..delivered(
                    recipient,
                    key.part,
                    key.kind,
                    "failed",
                    Some(failure.code),
                    Some(failure.msg),
                )
            }
        }
        Fate::Error(err) => {
            let detail = err.to_string();
            let status = if err.may_have_arrived() {
                // Counted in the ledger: the second such call makes the row `unknown`.
                let limit = match sender.delivery {
                    crate::config::Delivery::AtMostOnce => 1,
                    crate::config::Delivery::AtLeastOnce => crate::ledger::MAY_HAVE_ARRIVED_LIMIT,
                };
                match ledger.note_may_have_arrived(key, &detail, limit, now)? {
                    Status::Unknown => "unknown",
                    Status::Sent => "sent",
                    _ => "failed",
                }
            } else if sender.failure_status(err) == Status::Unknown {
                ledger.mark_unknown(key, &detail, now)?;
                "unknown"
            } else {
                ledger.mark_failed(key, err.code(), &detail, now)?;
                "failed"
            };
            Delivered {
                hint: err.hint(),
                retryable: status == "failed" && err.is_retryable(),
                ..delivered(
                    recipient,
                    key.part,
                    key.kind,
                    status,
                    err.code(),
                    Some(detail),
                )
            }
        }
        Fate::LoginLost => {
            let detail = "no valid login";
            ledger.mark_failed(key, None, detail, now)?;
            Delivered {
                hint: Some("kbot login".into()),
                ..delivered(
                    recipient,
                    key.part,
                    key.kind,
                    "failed",
                    None,
                    Some(detail.into()),
                )
            }
        }
    };
    Ok(row)
}

impl Summary {
    /// `recipient (status)` for every recipient that did not get everything.
    pub fn failed_recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in self.deliveries.iter().filter(|d| d.is_problem()) {
            let name = d.nickname.clone().unwrap_or_else(|| d.recipient.clone());
            let entry = format!("{name} ({})", d.status);
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
        for u in &self.unresolved {
            match u {
                Unresolved::Unknown { name, .. } | Unresolved::Ambiguous { name, .. } => {
                    out.push(format!("{name} (not resolved)"));
                }
                Unresolved::Unavailable { .. } => out.push("friends (list unavailable)".into()),
                Unresolved::Blocked { .. } => {}
            }
        }
        out.extend(self.run.failed_sources());
        out
    }

    /// The distinct fixes for what went wrong, in the order first met.
    pub fn hints(&self) -> Vec<String> {
        let mut hints: Vec<String> = Vec::new();
        let failed = self
            .deliveries
            .iter()
            .filter(|d| d.is_problem())
            .filter_map(|d| d.hint.clone());
        let unresolved = self.unresolved.iter().filter_map(Unresolved::hint);
        for hint in failed.chain(unresolved) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        hints
    }

    /// The fix for everything that went wrong, when there is exactly one (and no scrape
    /// failure, whose fix is to look at the page).
    pub fn hint(&self) -> Option<String> {
        match self.hints().as_slice() {
            [one] if self.run.failed_sources().is_empty() => Some(one.clone()),
            _ => None,
        }
    }
}

/// A run ended with at least one recipient not served, or a scrape failure (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("not everything was delivered for {meal} on {date}: {}", failed.join(", "))]
pub struct DeliveryFailed {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// Who or what failed.
    pub failed: Vec<String>,
    /// The one fix for every failure, when they share one (e.g. a missing consent).
    pub hint: Option<String>,
}

impl Report for DeliveryFailed {
    fn exit(&self) -> Exit {
        Exit::Delivery
    }

    fn hint(&self) -> Option<String> {
        if self.hint.is_some() {
            return self.hint.clone();
        }
        Some(format!(
            "kbot history shows each failure; kbot send-now {} --date {} sends what is missing",
            self.meal, self.date
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn friend(uuid: &str, nickname: &str, allowed_msg: bool) -> crate::kakao::Friend {
        crate::kakao::Friend {
            uuid: uuid.into(),
            id: None,
            nickname: nickname.into(),
            allowed_msg,
            favorite: false,
        }
    }

    #[test]
    fn friends_resolve_by_uuid_or_unique_nickname_and_every_problem_is_named() {
        let friends = [
            friend("u-1", "이서연", true),
            friend("u-2", "김민수", true),
            friend("u-3", "김민수", true),
            friend("u-4", "차단", false),
        ];
        let wanted: Vec<String> = ["이서연", "u-2", "김민수", "이서현", "차단", "u-1"]
            .map(String::from)
            .to_vec();
        let (found, problems) = resolve_friends(&wanted, &friends);
        let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["u-1", "u-2"], "u-1 is named twice and sent to once");
        assert_eq!(
            problems,
            [
                Unresolved::Ambiguous {
                    name: "김민수".into(),
                    uuids: vec!["u-2".into(), "u-3".into()],
                },
                Unresolved::Unknown {
                    name: "이서현".into(),
                    closest: vec!["이서연".into()],
                },
                Unresolved::Blocked {
                    name: "차단".into(),
                    uuid: "u-4".into(),
                },
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_kakao_took_but_the_ledger_cannot_record_names_who_got_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = |u: &str| url::Url::parse(u).unwrap();
        let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(
            crate::clock::FixedClock("2026-11-30T02:30:00Z".parse().unwrap()),
        );
        let http = crate::http::client(crate::http::Timeouts::default());
        let app = crate::auth::App {
            client_id: "app".into(),
            client_secret: None,
            redirect_uri: url("http://localhost:8765/callback"),
            auth_url: url("http://127.0.0.1:9"),
        };
        let store = crate::secrets::Store::new(crate::secrets::StoreKind::File, dir.path(), "app");
        let session =
            crate::session::Session::new(app, store, http.clone(), dir.path(), clock.clone());
        let kakao = crate::kakao::Client::new(
            http,
            url("http://127.0.0.1:9"),
            crate::kakao::Retry::default(),
        );
        let sender = Sender {
            session: &session,
            kakao: &kakao,
            kakao_send: &kakao,
            delivery: crate::config::Delivery::AtLeastOnce,
        };
        let date = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let run = Run {
            date,
            meal: Meal::Lunch,
            reports: Vec::new(),
            rendered: Rendered {
                parts: Vec::new(),
                has_problems: false,
                shown: Vec::new(),
                omitted: 0,
                left_out: Vec::new(),
                favorites: Vec::new(),
            },
        };
        let claim = Claim {
            clock: clock.as_ref(),
            run: &run,
            part: 1,
            kind: crate::ledger::Kind::Menu,
            force: false,
        };
        let friend = |uuid: &str, nick: &str| Recipient {
            id: uuid.into(),
            nickname: Some(nick.into()),
        };
        let (a, b) = (friend("u-1", "이서연"), friend("u-2", "김지우"));
        let mut ledger = crate::ledger::Ledger::open_in_memory().unwrap();
        ledger.refuse_writes();
        let mut deliveries = Vec::new();
        let fates = vec![Fate::Sent, Fate::Sent];
        let err = settle(
            &mut ledger,
            clock.as_ref(),
            &sender,
            &claim,
            &[&a, &b],
            fates,
            &mut deliveries,
        )
        .await
        .expect_err("nothing can be recorded");
        let text = err.to_string();
        assert!(
            text.starts_with("sent to 이서연, 김지우 but could not record it: "),
            "{text}"
        );
        assert!(
            err.hint()
                .is_some_and(|h| h.contains("do not send it to them again"))
        );
    }

    #[test]
    fn a_run_detail_that_only_counts_failures_says_nothing_more() {
        assert!(!detail_says_more(&failed_note(1)));
        assert!(!detail_says_more(&failed_note(12)));
        assert!(detail_says_more(&format!(
            "{}; \"이서현\" is not among your friends who use this app",
            failed_note(2)
        )));
        assert!(detail_says_more("학생식당: no table matched"));
        assert!(detail_says_more("3 sources answered"));
    }
}
