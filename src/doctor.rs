//! `kbot doctor`: will kbot work? One check per thing that can stop the menu arriving, each
//! ✓ or ✗ with the fix: the config, the Kakao app, the secret store, the login, the friends,
//! every source × scheduled meal for its next slot, the daily quota, the daemon and the
//! service.
//!
//! Runs the checks (I/O: the config file, the secret store, Kakao, the pages, the daemon's
//! lock and the service file) and returns a [`Diagnosis`]; `view::doctor` prints it. The
//! exit code is [`Diagnosis::exit`]: 0 when every check that matters passed, else the code
//! of the first one that failed (4 config, 3 login, 5 sources/friends/quota, 1 the rest).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::{self, Account};
use crate::clock::Clock;
use crate::config::{self, Config, Paths};
use crate::deliver::{self, To};
use crate::error::Exit;
use crate::quota;
use crate::scrape::Outcome;
use crate::session;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Fine.
    Ok,
    /// kbot will not work (or not fully) until this is fixed.
    Fail,
    /// Worth knowing; kbot works without it.
    Warn,
}

/// One line of the diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked: `config`, `client_id`, `secret_store`, `login`, `friends`,
    /// `source`, `quota`, `daemon`, `service`.
    pub check: &'static str,
    /// The outcome.
    pub mark: Mark,
    /// What was found, in words.
    pub message: String,
    /// The command or setting that fixes it.
    pub fix: Option<String>,
    /// The exit code a failure of this check gives.
    #[serde(skip)]
    pub exit: Exit,
}

impl Check {
    fn ok(check: &'static str, message: impl Into<String>) -> Check {
        Check {
            check,
            mark: Mark::Ok,
            message: message.into(),
            fix: None,
            exit: Exit::Success,
        }
    }

    fn fail(
        check: &'static str,
        exit: Exit,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            check,
            mark: Mark::Fail,
            message: message.into(),
            fix,
            exit,
        }
    }
}

/// Every check, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Diagnosis {
    /// 0 when no check failed; else the exit code of the first that did.
    pub fn exit(&self) -> Exit {
        self.checks
            .iter()
            .find(|c| c.mark == Mark::Fail)
            .map_or(Exit::Success, |c| c.exit)
    }

    /// True when no check failed.
    pub fn is_ok(&self) -> bool {
        self.exit() == Exit::Success
    }
}

/// What the doctor needs from outside: paths, the clock, the environment, where a systemd
/// user unit would be.
pub struct Inputs<'a> {
    /// Config file and data dir.
    pub paths: &'a Paths,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Environment variables.
    pub var: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
    /// The service definition file (`kbot service install` writes it).
    pub service_file: PathBuf,
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("paths", &self.paths)
            .field("service_file", &self.service_file)
            .finish_non_exhaustive()
    }
}

/// The refresh token should have at least this long left; less means it is not being
/// renewed (the daemon renews it weekly once a month remains).
const REFRESH_MARGIN: chrono::TimeDelta = session::ATTENTION_WINDOW;

/// Run every check.
pub async fn diagnose(inputs: &Inputs<'_>) -> Diagnosis {
    let mut checks = Vec::new();
    let now = inputs.clock.now();
    match config::load(&inputs.paths.config) {
        Ok(config) => {
            checks.push(Check::ok(
                "config",
                format!(
                    "config {} is valid ({} source{})",
                    inputs.paths.config.display(),
                    config.sources.len(),
                    if config.sources.len() == 1 { "" } else { "s" }
                ),
            ));
            with_config(&config, inputs, now, &mut checks).await;
        }
        Err(err) => {
            let err: crate::Error = err.into();
            let first = err.to_string();
            checks.push(Check::fail(
                "config",
                err.exit(),
                first.lines().take(3).collect::<Vec<_>>().join(" "),
                err.hint(),
            ));
        }
    }
    daemon(inputs, &mut checks);
    Diagnosis { checks }
}

async fn with_config(
    config: &Config,
    inputs: &Inputs<'_>,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) {
    checks.extend(holiday_check(config, now));
    let (not_set, _) = config::not_yet_set(config);
    for problem in not_set {
        checks.push(Check::fail(
            "config",
            Exit::Config,
            problem.to_string(),
            problem.hint.clone(),
        ));
    }
    let logged_in = login(config, inputs, now, checks).await;
    let account = match logged_in {
        true => Account::open(config, inputs.paths, inputs.clock.clone(), inputs.var).ok(),
        false => None,
    };
    let account = match account {
        Some(account) => live_login(&account, checks).await.then_some(account),
        None => None,
    };
    friends(config, account.as_ref(), checks).await;
    let runs = sources(config, now, checks).await;
    quota_check(config, &runs, now, checks);
}

/// A warning when `skip_holidays` is on and kbot does not know this year's or next
/// year's holidays. Pure.
fn holiday_check(config: &Config, now: DateTime<Utc>) -> Option<Check> {
    if !config.schedule.skip_holidays {
        return None;
    }
    let today = now.with_timezone(&config.timezone).date_naive();
    crate::holiday::gap(today).map(|gap| Check {
        check: "config",
        mark: Mark::Warn,
        message: format!("schedule.skip_holidays: {gap}"),
        fix: Some("add the dates to schedule.skip_dates, or upgrade kbot".into()),
        exit: Exit::Success,
    })
}

/// client id, secret store, login: true when a usable login exists.
async fn login(
    config: &Config,
    inputs: &Inputs<'_>,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) -> bool {
    let client_id = config.kakao.client_id.trim();
    if client_id.is_empty() {
        checks.push(Check::fail(
            "client_id",
            Exit::Config,
            "kakao.client_id is not set yet",
            Some("set kakao.client_id to your app's REST API key (docs/kakao-console.md)".into()),
        ));
        return false;
    }
    // Not a secret to Kakao's login page, but no business of a shared screen either.
    let shown: String = client_id.chars().take(4).collect();
    checks.push(Check::ok(
        "client_id",
        format!("kakao.client_id is set ({shown}…)"),
    ));
    let store = match account::store(config, inputs.paths, None) {
        Ok(store) => store,
        Err(err) => {
            checks.push(Check::fail(
                "secret_store",
                err.exit(),
                err.to_string(),
                err.hint(),
            ));
            return false;
        }
    };
    let tokens = match store.load().await {
        Ok(tokens) => {
            checks.push(Check::ok(
                "secret_store",
                format!("the {} is reachable", store.describe()),
            ));
            tokens
        }
        Err(err) => {
            let err: crate::Error = err.into();
            checks.push(Check::fail(
                "secret_store",
                err.exit(),
                err.to_string(),
                err.hint(),
            ));
            return false;
        }
    };
    let Some(tokens) = tokens else {
        checks.push(Check::fail(
            "login",
            Exit::Login,
            "not logged in",
            Some("kbot login".into()),
        ));
        return false;
    };
    let who = tokens
        .nickname
        .clone()
        .unwrap_or_else(|| "logged in".into());
    let days_left = tokens
        .refresh_token_expires_at
        .map(|at| (at - now).num_days());
    match tokens.refresh_token_expires_at {
        Some(at) if at <= now => {
            checks.push(Check::fail(
                "login",
                Exit::Login,
                format!("{who}: the refresh token has expired"),
                Some("kbot login".into()),
            ));
            return false;
        }
        Some(at) if at - now < REFRESH_MARGIN => {
            checks.push(Check::fail(
                "login",
                Exit::Login,
                format!(
                    "{who}: the refresh token expires in {} days and is not being renewed",
                    (at - now).num_days()
                ),
                Some("keep the daemon running (it renews the token weekly), or kbot login".into()),
            ));
            return true;
        }
        _ => {}
    }
    if !tokens.scopes.iter().any(|s| s == "talk_message") {
        checks.push(Check::fail(
            "login",
            Exit::Login,
            format!("{who}: the talk_message consent is missing; sending needs it"),
            Some("kbot login --scope talk_message".into()),
        ));
        return true;
    }
    checks.push(Check::ok(
        "login",
        format!(
            "logged in as {who} (scopes: {}; refresh token {})",
            tokens.scopes.join(" "),
            days_left.map_or_else(|| "expiry unknown".into(), |d| format!("{d} days left"))
        ),
    ));
    true
}

/// The stored login still works at Kakao: the access token is checked there (`-401` means
/// refresh, which must then succeed). A revoked or expired login shows here rather than at
/// the next meal.
async fn live_login(account: &Account, checks: &mut Vec<Check>) -> bool {
    use secrecy::ExposeSecret;
    let result: Result<(), crate::Error> = async {
        let token = account.session.access_token().await?;
        match account.kakao.token_info(token.expose_secret()).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_invalid_token() => {
                account.session.refresh_after_rejection(&token).await?;
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }
    .await;
    match result {
        Ok(()) => true,
        Err(err) => {
            // One line for the login: what Kakao says replaces what the store suggested.
            let who = checks
                .iter()
                .find(|c| c.check == "login")
                .and_then(|c| c.message.strip_prefix("logged in as "))
                .and_then(|m| m.split(" (scopes").next())
                .map(|who| format!("{who}: "))
                .unwrap_or_default();
            checks.retain(|c| c.check != "login");
            checks.push(Check::fail(
                "login",
                err.exit(),
                format!("{who}kakao does not accept the stored login: {err}"),
                err.hint(),
            ));
            false
        }
    }
}

async fn friends(config: &Config, account: Option<&Account>, checks: &mut Vec<Check>) {
    if config.recipients.friends.is_empty() && config.recipients.groups.is_empty() {
        checks.push(Check::ok(
            "friends",
            format!(
                "no friends configured{}",
                if config.recipients.me {
                    " (sending to me)"
                } else {
                    ""
                }
            ),
        ));
        return;
    }
    let Some(account) = account else {
        checks.push(Check::fail(
            "friends",
            Exit::Login,
            format!(
                "{} friend{} not checked: no usable login",
                config.recipients.friends.len(),
                if config.recipients.friends.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            Some("kbot login".into()),
        ));
        return;
    };
    match deliver::recipients(config, &account.sender(), To::All).await {
        Ok((_, found, unresolved)) => {
            for problem in &unresolved {
                checks.push(Check::fail(
                    "friends",
                    Exit::Delivery,
                    problem.describe(),
                    problem.hint(),
                ));
            }
            if !found.is_empty() {
                let names: Vec<String> = found.iter().map(deliver::Recipient::display).collect();
                checks.push(Check::ok(
                    "friends",
                    format!("friends resolve: {}", names.join(", ")),
                ));
            }
        }
        Err(err) => checks.push(Check::fail(
            "friends",
            err.exit(),
            format!("cannot read the friends list: {err}"),
            err.hint(),
        )),
    }
    groups(config, account, checks).await;
}

/// Each `[[recipients.group]]` by name with its members as resolved, and the names in
/// groups that do not resolve.
async fn groups(config: &Config, account: &Account, checks: &mut Vec<Check>) {
    if config.recipients.groups.is_empty() {
        return;
    }
    let Ok(found) = deliver::resolve(config, &account.sender(), To::All).await else {
        return;
    };
    if found
        .unresolved
        .iter()
        .any(|u| matches!(u, deliver::Unresolved::Unavailable { .. }))
    {
        return; // said above
    }
    let named: Vec<&String> = config.recipients.friends.iter().collect();
    for problem in &found.unresolved {
        let in_friends = match problem {
            deliver::Unresolved::Unknown { name, .. }
            | deliver::Unresolved::Ambiguous { name, .. }
            | deliver::Unresolved::Blocked { name, .. } => named.contains(&name),
            deliver::Unresolved::Unavailable { .. } => true,
        };
        if !in_friends {
            checks.push(Check::fail(
                "friends",
                Exit::Delivery,
                format!("[[recipients.group]]: {}", problem.describe()),
                problem.hint(),
            ));
        }
    }
    for (group, members) in config.recipients.groups.iter().zip(&found.groups) {
        if members.is_empty() {
            continue;
        }
        let names: Vec<String> = members.iter().map(deliver::Recipient::display).collect();
        let meals = if group.meals.is_empty() {
            "every meal".to_string()
        } else {
            group
                .meals
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sources = if group.sources.is_empty() {
            "every source".to_string()
        } else {
            group.sources.join(", ")
        };
        checks.push(Check::ok(
            "friends",
            format!(
                "group {} ({meals}; {sources}): {}",
                group.name,
                names.join(", ")
            ),
        ));
    }
}

/// Each source × scheduled meal for the meal's next slot; returns the runs for the quota.
async fn sources(
    config: &Config,
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) -> Vec<deliver::Run> {
    let next = config.plan().next_per_meal(now);
    if next.is_empty() {
        checks.push(Check::fail(
            "source",
            Exit::Config,
            "nothing is scheduled",
            Some("set breakfast, lunch or dinner under [schedule] (crontab lines)".into()),
        ));
        return Vec::new();
    }
    // A source still at the example's placeholder page is a ✗ of its own already; reading
    // it would only wait on a host that is not the user's.
    let mut reachable = config.clone();
    reachable
        .sources
        .retain(|s| !s.url.contains(config::PLACEHOLDER_HOST));
    if reachable.sources.is_empty() {
        return Vec::new();
    }
    let client = crate::http::client(crate::http::Timeouts::default());
    let mut runs = Vec::new();
    for (meal, at) in next {
        let date = at.date_naive();
        let run = deliver::prepare(&reachable, &client, date, meal).await;
        for report in &run.reports {
            let what = format!("[{}] {meal} on {date}", report.name);
            let fix = Some(format!("kbot scrape {meal} --date {date} --explain"));
            let detail = report
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            checks.push(match (&report.outcome, report.outcome.as_str()) {
                (Outcome::Menu(groups), _) => {
                    let dishes: usize = groups.iter().map(|g| g.dishes.len()).sum();
                    Check::ok("source", format!("{what}: menu, {dishes} dishes{}", tls_facts(report)))
                }
                (Outcome::Closed { notice }, _) => {
                    Check::ok("source", format!("{what}: closed ({notice})"))
                }
                // The page has the day but not this meal (scrape's `no_meal` outcome).
                (_, "no_meal") => Check::fail(
                    "source",
                    Exit::Delivery,
                    format!("{what}: no such meal on the page{detail}"),
                    Some(format!(
                        "remove {meal} from [schedule], or check the labels with kbot scrape {meal} --date {date} --explain"
                    )),
                ),
                (_, word) => Check::fail(
                    "source",
                    Exit::Delivery,
                    format!("{what}: problem ({word}){detail}"),
                    fix,
                ),
            });
        }
        if let Some(note) = run.rendered.left_out_note(config.message.max_parts) {
            checks.push(Check {
                check: "source",
                mark: Mark::Warn,
                message: format!("{meal} on {date}: {note}"),
                fix: Some(format!(
                    "kbot preview {meal} --date {date} shows the message"
                )),
                exit: Exit::Success,
            });
        }
        runs.push(run);
    }
    runs
}

/// `; TLS 1.3, certificate issued by …` when the page came over TLS (see `scrape --explain`).
fn tls_facts(report: &crate::scrape::SourceReport) -> String {
    report
        .explain
        .iter()
        .flat_map(|e| &e.notes)
        .find_map(|note| note.strip_prefix("TLS: "))
        .map(|facts| format!("; {facts}"))
        .unwrap_or_default()
}

fn quota_check(
    config: &Config,
    runs: &[deliver::Run],
    now: DateTime<Utc>,
    checks: &mut Vec<Check>,
) {
    if config.recipients.friends.is_empty() && config.recipients.groups.is_empty() {
        checks.push(Check::ok(
            "quota",
            "no friends configured: Kakao's daily message quotas do not apply",
        ));
        return;
    }
    let estimate = estimate(config, runs, now);
    let overruns = estimate.overruns();
    if overruns.is_empty() {
        checks.push(Check::ok("quota", estimate.describe()));
    }
    for o in overruns {
        checks.push(Check::fail("quota", Exit::Delivery, o.message, Some(o.fix)));
    }
}

/// The day's messages from runs already prepared: parts that go to friends × fires a day.
pub fn estimate(config: &Config, runs: &[deliver::Run], now: DateTime<Utc>) -> quota::Estimate {
    let plan = config.plan().next_per_meal(now);
    let meals = runs
        .iter()
        .map(|run| {
            let day = plan.get(&run.meal).map_or(run.date, |at| at.date_naive());
            let fires = config
                .schedule
                .meals
                .get(&run.meal)
                .map_or(1, |cron| quota::fires_on(cron, config.timezone, day).max(1));
            let parts = run
                .rendered
                .parts
                .iter()
                .filter(|p| p.audience == crate::message::Audience::Everyone)
                .count() as u64;
            quota::MealLoad::new(run.meal, fires, parts)
        })
        .collect();
    quota::Estimate {
        meals,
        friends: config.recipients.friends.len() as u64,
        partial: crate::audience::partial_loads(config, runs, |meal| {
            let day = plan
                .get(&meal)
                .map_or_else(|| now.date_naive(), |at| at.date_naive());
            config
                .schedule
                .meals
                .get(&meal)
                .map_or(1, |cron| quota::fires_on(cron, config.timezone, day).max(1))
        }),
    }
}

fn daemon(inputs: &Inputs<'_>, checks: &mut Vec<Check>) {
    let installed = inputs.service_file.exists();
    match crate::schedule::instance_holder(&inputs.paths.data_dir) {
        Some(holder) => checks.push(Check::ok(
            "daemon",
            format!(
                "daemon running{}{}",
                holder
                    .pid
                    .map(|p| format!(" (pid {p})"))
                    .unwrap_or_default(),
                holder
                    .since
                    .map(|t| format!(
                        " since {}",
                        DateTime::<Utc>::from(t).format("%Y-%m-%d %H:%M UTC")
                    ))
                    .unwrap_or_default()
            ),
        )),
        None => checks.push(Check::fail(
            "daemon",
            Exit::Failure,
            "the daemon is not running: nothing is sent on schedule",
            Some(if installed {
                "systemctl --user enable --now kbot".into()
            } else {
                "kbot service install   (or run kbot daemon in a terminal)".into()
            }),
        )),
    }
    checks.push(if installed {
        Check::ok(
            "service",
            format!("service installed: {}", inputs.service_file.display()),
        )
    } else {
        Check {
            check: "service",
            mark: Mark::Warn,
            message: "no service installed: the daemon will not start at boot".into(),
            fix: Some("kbot service install".into()),
            exit: Exit::Success,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(skip: bool) -> Config {
        Config::from_toml(
            &format!(
                "[[source]]\nurl = \"https://example.ac.kr/menu\"\ntable = \"table\"\n\
                 [schedule]\nlunch = \"30 11 * * Mon-Fri\"\nskip_holidays = {skip}\n"
            ),
            None,
        )
        .expect("valid config")
    }

    #[test]
    fn a_year_whose_holidays_kbot_does_not_know_is_a_warning_only_with_skip_holidays() {
        let (_, last) = crate::holiday::years();
        let late: DateTime<Utc> = format!("{last}-12-01T03:00:00Z").parse().unwrap();
        let check = holiday_check(&config(true), late).expect("the next year is unknown");
        assert_eq!(check.mark, Mark::Warn);
        assert!(
            check.message.contains(&(last + 1).to_string()),
            "{}",
            check.message
        );
        assert!(holiday_check(&config(false), late).is_none());
        let now: DateTime<Utc> = "2026-12-07T03:00:00Z".parse().unwrap();
        assert!(holiday_check(&config(true), now).is_none());
    }
}
