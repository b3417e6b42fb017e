//! The command line: clap types, and one function per command that calls into the
//! modules and prints the answer on stdout.
//!
//! Diagnostics go to stderr through `tracing`; errors are returned to `main`, which prints
//! them and picks the exit code. Reading the clock and the environment happens here, once,
//! and is passed down.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use crate::account::{self, Account};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, Paths};
use crate::deliver::{self, Run, ScrapeFailed, To};
use crate::error::{PathIo, Usage};
use crate::ledger::Ledger;
use crate::meal::Meal;
use crate::message::Audience;
use crate::scrape::Outcome;
use crate::view;
use crate::{Result, http};

/// Scrape a cafeteria menu and send it to KakaoTalk on a schedule.
#[derive(Debug, Parser)]
#[command(name = "kbot", version, about, max_term_width = 100)]
pub struct Cli {
    /// The configuration file [default: the platform config dir's kbot/config.toml]
    #[arg(long, global = true, env = "KBOT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The data directory: ledger, file secret store, locks [default: the platform data dir's kbot]
    #[arg(long, global = true, env = "KBOT_DATA_DIR", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug); KBOT_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// kbot's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what the scraper extracts; nothing is sent
    Scrape(ScrapeArgs),
    /// Show the exact template objects that would be sent
    Preview(RunArgs),
    /// Run once now: scrape, render, send what was not delivered yet, record it
    SendNow(SendNowArgs),
    /// Log in to Kakao (once); the refresh token is kept in the secret store
    Login(LoginArgs),
    /// Delete the local tokens (--revoke: also revoke them at Kakao)
    Logout {
        /// Also call Kakao's logout to revoke the tokens
        #[arg(long)]
        revoke: bool,
    },
    /// Config, login, next fire time of each meal, last runs
    Status {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// The friends this app may message (nickname, uuid, allowed_msg)
    Friends {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Past runs and per-recipient outcomes from the ledger
    History {
        /// How many meals (slots), newest first
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Run the scheduler in the foreground (for systemd, Task Scheduler or a terminal)
    Daemon,
    /// Install, uninstall or print the systemd unit / Windows task that runs the daemon
    Service {
        /// What to do
        action: ServiceAction,
        /// A systemd user unit [default on Linux]
        #[arg(long, conflicts_with = "windows")]
        systemd: bool,
        /// A Windows Task Scheduler task [default on Windows]
        #[arg(long)]
        windows: bool,
    },
    /// Write, check or locate the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Internal: open URL in the browser (`kbot login` starts this without its secrets in
    /// the environment, which the browser would inherit)
    #[command(hide = true)]
    OpenBrowser {
        /// The link to open
        url: String,
    },
    /// Internal: run a json source's jq filter on an answer read from stdin, in a process
    /// of its own with lowered limits (the daemon and the commands start it)
    #[command(name = "run-filter", hide = true)]
    RunFilter,
    /// Print shell completions
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
    /// Check everything kbot needs, one line each with the fix; exit 0 when all is well
    Doctor {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
}

/// Which run: the meal and the date.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// breakfast, lunch or dinner (아침, 점심, 저녁) [default: the next meal on the schedule]
    pub meal: Option<Meal>,
    /// The date: YYYY-MM-DD, today, tomorrow, a weekday (mon, 월) or M/D [default: today, or the next slot's day]
    #[arg(long, value_parser = crate::terminal::parse_date)]
    pub date: Option<crate::terminal::DateArg>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// `kbot scrape`.
#[derive(Debug, Args)]
pub struct ScrapeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Show the tables and labels the scraper saw and how it chose
    #[arg(long)]
    pub explain: bool,
    /// List every table on the page at URL (default: each source's page) with its score,
    /// heading, reader, first lines and a CSS selector to paste into `table`, best first; for
    /// sources, also name the scheduled meals the page never has
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub find: Option<String>,
}

/// `kbot send-now`.
#[derive(Debug, Args)]
pub struct SendNowArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Who to send to
    #[arg(long, value_enum, default_value_t = To::All)]
    pub to: To,
    /// Print what would be sent; send nothing, record nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Send again what the ledger says was already delivered
    #[arg(long, conflicts_with = "dry_run")]
    pub force: bool,
    /// Send to your own chat only, marked as a test (테스트) and not recorded: the real run still sends
    #[arg(long, conflicts_with_all = ["dry_run", "force"])]
    pub test: bool,
    /// Keep retrying failed sends (and looking for a menu not posted yet) until
    /// `catch_up` from now, showing progress, instead of leaving it to the daemon
    #[arg(long, conflicts_with_all = ["dry_run", "force"])]
    pub wait: bool,
    /// When the menu on the page changed since it was sent, send everyone who got it one
    /// correction (정정) with the new dishes
    #[arg(long, conflicts_with_all = ["dry_run", "force", "test", "wait"])]
    pub correct: bool,
}

/// `kbot login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Only print the link; don't open a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Ask for an extra consent item (e.g. talk_message, friends); repeatable
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// Where to keep the refresh token [default: secrets.store in the config]
    #[arg(long, value_name = "keyring|file")]
    pub secret_store: Option<crate::secrets::StoreKind>,
    /// Give up waiting for the redirect after this long
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// `kbot service ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceAction {
    /// Write the unit / task file and print the command that enables it
    Install,
    /// Remove it and print the command that stops it
    Uninstall,
    /// Print it
    Print,
}

/// `kbot config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the commented example configuration
    Init {
        /// Overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// Validate the configuration; every problem is listed with its line
    Check,
    /// Print the configuration file's path
    Path,
}

/// Reads an environment variable.
pub type Vars = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything a command may need from the outside world, read once.
pub struct Env {
    /// Config path and data dir.
    pub paths: Paths,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Environment variables (a function, so tests can pass their own).
    pub var: Vars,
    /// Show a progress line on stderr while something slow runs (a terminal, no -q).
    pub progress: bool,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("paths", &self.paths)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Env {
    /// The real environment.
    pub fn from_process(cli: &Cli) -> Env {
        let var = |k: &str| std::env::var(k).ok();
        let paths = Paths::resolve(cli.config.as_deref(), cli.data_dir.as_deref(), var);
        // Intermediate certificates fetched for servers that do not send theirs.
        crate::scrape::keep_intermediates_in(&paths.data_dir.join("intermediates"));
        Env {
            paths,
            clock: Arc::new(SystemClock),
            var: Box::new(var),
            progress: std::io::stderr().is_terminal() && !cli.quiet,
        }
    }

    fn load_config(&self) -> Result<Config> {
        let config = config::load(&self.paths.config)?;
        warn_problems(&config);
        Ok(config)
    }

    /// For commands that do not scrape: a bad `[[source]]` is a warning, not the end.
    fn load_config_lenient(&self) -> Result<Config> {
        let config = config::load_lenient(&self.paths.config)?;
        warn_problems(&config);
        Ok(config)
    }

    fn account(&self, config: &Config) -> Result<Account> {
        Account::open(config, &self.paths, self.clock.clone(), &*self.var)
    }
}

/// Run the parsed command.
pub async fn run(cli: Cli, env: Env) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Config(cmd) => config_command(cmd, &env, &mut out).await,
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a failed write (a closed pipe).
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kbot", &mut buf);
            write_bytes(&mut out, &buf)
        }
        Command::OpenBrowser { url } => {
            crate::auth::open_browser_here(&url);
            Ok(())
        }
        Command::RunFilter => {
            crate::scrape::json::serve_filter(std::io::stdin().lock(), &mut out)
                .map_err(|e| PathIo::new("cannot run the filter for", "<stdin>", e))?;
            Ok(())
        }
        Command::Man => write_bytes(&mut out, &view::man_page(Cli::command())),
        Command::Scrape(args) => scrape(args, &env, &mut out).await,
        Command::Preview(args) => preview(args, &env, &mut out).await,
        Command::SendNow(args) if args.dry_run => dry_run(args, &env, &mut out).await,
        Command::SendNow(args) if args.test => send_test(args, &env, &mut out).await,
        Command::SendNow(args) => send_now(args, &env, &mut out).await,
        Command::Login(args) => {
            let config = env.load_config_lenient()?;
            let args = account::LoginArgs {
                no_browser: args.no_browser,
                scopes: args.scopes,
                secret_store: args.secret_store,
                timeout: args.timeout,
            };
            account::login(
                &config,
                &env.paths,
                args,
                env.clock.clone(),
                &*env.var,
                &mut out,
            )
            .await
        }
        Command::Logout { revoke } => {
            let config = env.load_config_lenient()?;
            account::logout(&env.account(&config)?, revoke, &mut out).await
        }
        Command::Status { json } => {
            let config = env.load_config_lenient()?;
            let status = account::status(&config, &env.paths, env.clock.as_ref()).await?;
            let text = if json {
                let mut value = view::status_json(&status);
                if !config.recipients.groups.is_empty() {
                    value["groups"] = crate::audience::groups_json(&config);
                }
                view::pretty(&value)
            } else {
                view::status(&status) + &crate::audience::describe_groups(&config)
            };
            write_out(&mut out, &text)?;
            // Not logged in (exit 3) or an unreadable store fails only after all is printed.
            status.end()
        }
        Command::Friends { json } => {
            let config = env.load_config_lenient()?;
            let account = env.account(&config)?;
            let friends = crate::terminal::with_progress(
                env.progress,
                "asking Kakao for the friends",
                account::friends(&account),
            )
            .await?;
            let text = if json {
                view::friends_json(&friends)
            } else {
                view::friends(&friends)
            };
            write_out(&mut out, &text)
        }
        Command::History { limit, json } => history(limit, json, &env, &mut out),
        Command::Doctor { json } => doctor(json, &env, &mut out).await,
        Command::Daemon => {
            let config = env.load_config()?;
            crate::daemon::run(&config, &env.paths, env.clock.clone(), &*env.var).await
        }
        Command::Service {
            action,
            systemd,
            windows,
        } => service(action, systemd, windows, &env, &mut out),
    }
}

fn write_out(out: &mut impl Write, text: &str) -> Result<()> {
    write_bytes(out, text.as_bytes())
}

/// Write and flush; a closed pipe comes back as an error `main` recognises and ends quietly.
fn write_bytes(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| PathIo::new("cannot write", "<stdout>", e))?;
    Ok(())
}

/// Print a config's warnings as `kbot: warning:` lines (or log lines; see `terminal`).
fn warn_problems(config: &Config) {
    let path = config.path.clone().unwrap_or_default();
    for problem in &config.warnings {
        warn_problem(&path, problem);
    }
}

fn warn_problem(path: &std::path::Path, problem: &config::Problem) {
    match &problem.hint {
        Some(hint) => tracing::warn!("{}:{problem} (hint: {hint})", path.display()),
        None => tracing::warn!("{}:{problem}", path.display()),
    }
}

/// Kakao's daily quotas that the config passes, from the sources as they read today for
/// each scheduled meal's next slot. Reads the pages only when friends are configured
/// (sending to me has no published quota).
/// Kakao's daily quotas against the messages the schedule would send, from each meal's
/// next slot as the sources read now; `known` is a run already read (preview's), not read
/// again.
async fn quota_overruns(
    config: &Config,
    env: &Env,
    known: Option<&Run>,
) -> Vec<crate::quota::Overrun> {
    if config.recipients.friends.is_empty() && config.recipients.groups.is_empty() {
        return Vec::new();
    }
    let now = env.clock.now();
    let client = http::client(http::Timeouts::default());
    let mut runs = Vec::new();
    for (meal, at) in config.plan().next_per_meal(now) {
        let date = at.date_naive();
        runs.push(match known {
            Some(run) if run.date == date && run.meal == meal => run.clone(),
            _ => deliver::prepare(config, &client, date, meal).await,
        });
    }
    crate::doctor::estimate(config, &runs, now).overruns()
}

async fn config_command(cmd: ConfigCommand, env: &Env, out: &mut impl Write) -> Result<()> {
    let path = &env.paths.config;
    match cmd {
        ConfigCommand::Path => write_out(out, &view::config_path(path)),
        ConfigCommand::Init { force } => {
            let backup = config::init(path, force)?;
            write_out(out, &view::config_written(path, backup.as_deref()))
        }
        ConfigCommand::Check => {
            let config = config::load(path)?;
            warn_problems(&config);
            if config.schedule.skip_holidays {
                let today = env.clock.now().with_timezone(&config.timezone).date_naive();
                if let Some(gap) = crate::holiday::gap(today) {
                    tracing::warn!("{}: schedule.skip_holidays: {gap}", path.display());
                }
            }
            let (errors, not_set) = config::not_yet_set(&config);
            for problem in &not_set {
                warn_problem(path, problem);
            }
            if !errors.is_empty() {
                return Err(config::Error::Invalid {
                    path: Some(path.clone()),
                    problems: errors,
                }
                .into());
            }
            for overrun in quota_overruns(&config, env, None).await {
                tracing::warn!("{} (fix: {})", overrun.message, overrun.fix);
            }
            write_out(out, &view::config_ok(path, &config))
        }
    }
}

/// The date and meal a command runs for: explicit, else the next slot on the schedule.
fn pick(args: &RunArgs, config: &Config, now: DateTime<Utc>) -> Result<(NaiveDate, Meal)> {
    let today = now.with_timezone(&config.timezone).date_naive();
    let (date, meal) = match args.meal {
        Some(meal) => (today, meal),
        None => next_slot(config, now).ok_or_else(|| Usage {
            message: "no meal given and [schedule] has no meal to pick the next one from".into(),
            hint: Some("name one: kbot send-now lunch".into()),
        })?,
    };
    let date = match args.date {
        None => date,
        Some(_) => date_arg(args, today)?,
    };
    Ok((date, meal))
}

/// `--date` as a date (`today` when it is not given).
fn date_arg(args: &RunArgs, today: NaiveDate) -> Result<NaiveDate> {
    match args.date {
        None => Ok(today),
        Some(arg) => Ok(arg.on(today).map_err(|message| Usage {
            message: format!("--date: {message}"),
            hint: Some("--date YYYY-MM-DD".into()),
        })?),
    }
}

/// The local date and meal of the first scheduled slot after `now`.
fn next_slot(config: &Config, now: DateTime<Utc>) -> Option<(NaiveDate, Meal)> {
    config
        .plan()
        .next_fire(now)
        .map(|(meal, at)| (at.date_naive(), meal))
}

async fn prepare(args: &RunArgs, env: &Env) -> Result<(Config, Run)> {
    let config = env.load_config()?;
    let (date, meal) = pick(args, &config, env.clock.now())?;
    let client = http::client(http::Timeouts::default());
    let run = crate::terminal::with_progress(
        env.progress,
        "reading the menu",
        deliver::prepare(&config, &client, date, meal),
    )
    .await;
    Ok((config, run))
}

/// `kbot scrape --find [URL]`: the tables of one page, or of each source's page with the
/// scheduled meals it never has.
/// `--find`'s argument as an address: a URL as given, or a saved page's path as a
/// `file://` URL (as a source's `url` may be a path).
fn page_address(arg: &str) -> String {
    if url::Url::parse(arg).is_err()
        && let Ok(path) = std::fs::canonicalize(arg)
        && let Ok(file) = url::Url::from_file_path(path)
    {
        return file.to_string();
    }
    arg.to_string()
}

async fn find(url: &str, args: &RunArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let client = http::client(http::Timeouts::default());
    let meal = args.meal.unwrap_or(Meal::Lunch);
    let mut pages: Vec<(String, String)> = Vec::new();
    let mut config = None;
    let date = if url.is_empty() {
        let loaded = config::load(&env.paths.config)?;
        let today = env.clock.now().with_timezone(&loaded.timezone).date_naive();
        let date = date_arg(args, today)?;
        for source in &loaded.sources {
            let expanded = crate::scrape::expand(&source.url, date).unwrap_or(source.url.clone());
            pages.push((source.name.clone(), expanded));
        }
        config = Some(loaded);
        date
    } else {
        pages.push((String::new(), page_address(url)));
        date_arg(args, env.clock.now().date_naive())?
    };
    let mut text = String::new();
    let mut failed = Vec::new();
    for (i, (name, page_url)) in pages.iter().enumerate() {
        let reach = config
            .as_ref()
            .map(|c| c.sources[i].reach.clone())
            .unwrap_or_default();
        let tables = match crate::scrape::find_on_page(&client, page_url, date, &reach).await {
            Ok(tables) => tables,
            Err(err) => {
                text.push_str(&view::find_failed(name, page_url, &err.detail()));
                let shown = if name.is_empty() { page_url } else { name };
                failed.push(format!("{shown} (fetch_failed)"));
                continue;
            }
        };
        text.push_str(&view::find_listing(name, page_url, &tables));
        if let Some(config) = &config {
            let source = &config.sources[i];
            for scheduled in config.schedule.meals.keys() {
                let report = crate::scrape::scrape(&client, source, date, *scheduled).await;
                if report.outcome == Outcome::NoMeal {
                    text.push_str(&view::find_missing_meal(*scheduled));
                }
            }
        }
        text.push('\n');
    }
    write_out(out, &text)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ScrapeFailed {
            date,
            meal,
            sources: failed,
        }
        .into())
    }
}

async fn scrape(args: ScrapeArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    if let Some(url) = &args.find {
        return find(url, &args.run, env, out).await;
    }
    let (config, run) = prepare(&args.run, env).await?;
    let text = if args.run.json {
        view::pretty(&view::scrape_json(&run))
    } else {
        let mut text = view::scrape_report(&run, args.explain);
        text.push_str(&changed_since_sent(&config, env, &run));
        text
    };
    write_out(out, &text)?;
    fail_on_scrape_errors(&run)
}

/// For `scrape`: how the page differs from the menu sent for this meal, if it was sent and
/// the ledger can say (empty otherwise), and how to correct it.
fn changed_since_sent(config: &Config, env: &Env, run: &Run) -> String {
    let path = crate::ledger::path_in(&env.paths.data_dir);
    if !path.exists() {
        return String::new();
    }
    let Ok(sent) = Ledger::open_read_only(&path).and_then(|l| l.menus(run.date, run.meal)) else {
        return String::new();
    };
    let changes = crate::correction::changes(&sent, run, &config.message.noise);
    if changes.is_empty() {
        return String::new();
    }
    format!(
        "\n{}kbot send-now {} --date {} --correct sends it\n",
        crate::correction::describe(&changes, true),
        run.meal,
        run.date
    )
}

fn fail_on_scrape_errors(run: &Run) -> Result<()> {
    let sources = run.failed_sources();
    if sources.is_empty() {
        Ok(())
    } else {
        Err(ScrapeFailed {
            date: run.date,
            meal: run.meal,
            sources,
        }
        .into())
    }
}

/// Who a preview shows as the recipients: with a login, "me" and the friends resolved
/// through Kakao (uuids, as a send would use them); without one, the names as configured.
#[derive(Debug)]
enum Shown {
    /// As written in `[recipients]`.
    Configured,
    /// Resolved through the friends API.
    Resolved(deliver::Resolved),
}

impl Shown {
    /// Resolve the friends when a login exists and a part goes to them; otherwise, or
    /// when Kakao cannot be asked (offline, login expired), the configured names.
    async fn find(config: &Config, env: &Env, run: &Run, to: To) -> Shown {
        let has_friends =
            !config.recipients.friends.is_empty() || !config.recipients.groups.is_empty();
        let to_friends = to != To::Me
            && has_friends
            && run
                .rendered
                .parts
                .iter()
                .any(|p| p.audience == Audience::Everyone);
        let logged_in = config.kakao.require_client_id().is_ok()
            && matches!(crate::secrets::remembered(&env.paths.data_dir), Ok(Some(_)));
        if !to_friends || !logged_in {
            return Shown::Configured;
        }
        let resolved = match env.account(config) {
            Ok(account) => deliver::resolve(config, &account.sender(), to).await,
            Err(err) => Err(err),
        };
        match resolved {
            Ok(found)
                if !found
                    .unresolved
                    .iter()
                    .any(|u| matches!(u, deliver::Unresolved::Unavailable { .. })) =>
            {
                Shown::Resolved(found)
            }
            Ok(found) => {
                let why: Vec<String> = found
                    .unresolved
                    .iter()
                    .map(deliver::Unresolved::describe)
                    .collect();
                tracing::warn!(
                    "showing the configured names: cannot resolve them through Kakao: {}",
                    why.join("; ")
                );
                Shown::Configured
            }
            Err(err) => {
                tracing::warn!(
                    "showing the configured names: cannot resolve them through Kakao: {err}"
                );
                Shown::Configured
            }
        }
    }

    /// The audiences of the run's meal: resolved, or by the names as configured.
    fn audiences(&self, config: &Config, meal: Meal, to: To) -> Vec<crate::audience::Audience> {
        match self {
            Shown::Resolved(found) => found.audiences(config, meal),
            Shown::Configured => {
                let named = |names: &[String]| -> Vec<deliver::Recipient> {
                    if to == To::Me {
                        return Vec::new();
                    }
                    names
                        .iter()
                        .map(|n| deliver::Recipient {
                            id: n.clone(),
                            nickname: None,
                        })
                        .collect()
                };
                let me = (config.recipients.me && to != To::Friends).then(deliver::Recipient::me);
                let everything: Vec<deliver::Recipient> = me
                    .into_iter()
                    .chain(named(&config.recipients.friends))
                    .collect();
                let groups: Vec<Vec<deliver::Recipient>> = config
                    .recipients
                    .groups
                    .iter()
                    .map(|g| named(&g.friends))
                    .collect();
                crate::audience::split(config, meal, &everything, &groups)
            }
        }
    }

    fn unresolved(&self) -> Vec<String> {
        match self {
            Shown::Configured => Vec::new(),
            Shown::Resolved(found) => found
                .unresolved
                .iter()
                .map(deliver::Unresolved::describe)
                .collect(),
        }
    }
}

fn print_parts(
    run: &Run,
    config: &Config,
    shown: &Shown,
    to: To,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let audiences = shown.audiences(config, run.meal, to);
    let ids = |members: &[deliver::Recipient]| -> Vec<String> {
        members.iter().map(|r| r.id.clone()).collect()
    };
    let names = |members: &[deliver::Recipient]| -> Vec<String> {
        members.iter().map(deliver::Recipient::display).collect()
    };
    let me_only = if to == To::Friends {
        Vec::new()
    } else {
        vec![deliver::Recipient::me()]
    };
    let mut parts: Vec<view::Part> = run
        .rendered
        .parts
        .iter()
        .map(|p| {
            let members = if p.audience == Audience::Everyone {
                &audiences[0].members
            } else {
                &me_only
            };
            view::Part {
                recipients: ids(members),
                names: names(members),
                audience: None,
                template: &p.template,
            }
        })
        .collect();
    // The other audiences' own messages, rendered from their sources only.
    let rendered: Vec<(String, Vec<deliver::Recipient>, crate::message::Rendered)> = audiences[1..]
        .iter()
        .map(|a| {
            (
                a.label(config.sources.len()),
                a.members.clone(),
                run.render_for(config, &a.sources),
            )
        })
        .collect();
    for (label, members, own) in &rendered {
        for part in own
            .parts
            .iter()
            .filter(|p| p.audience == Audience::Everyone)
        {
            parts.push(view::Part {
                recipients: ids(members),
                names: names(members),
                audience: Some(label.clone()),
                template: &part.template,
            });
        }
    }
    parts.retain(|p| !p.recipients.is_empty());
    let unresolved = shown.unresolved();
    let text = if json {
        view::pretty(&view::parts_json(run.date, run.meal, &parts, &unresolved))
    } else {
        view::parts(&parts, &unresolved)
    };
    write_out(out, &text)
}

async fn preview(args: RunArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let (config, run) = prepare(&args, env).await?;
    for overrun in quota_overruns(&config, env, Some(&run)).await {
        tracing::warn!("{} (fix: {})", overrun.message, overrun.fix);
    }
    if let Some(note) = run.rendered.left_out_note(config.message.max_parts) {
        tracing::warn!("{note}");
    }
    for report in &run.reports {
        if let Some(fix) = view::source_fix(&report.outcome, run.date, run.meal) {
            tracing::warn!(
                "source {}: {} (fix: {fix})",
                report.name,
                report.outcome.as_str()
            );
        }
    }
    let shown = crate::terminal::with_progress(
        env.progress,
        "asking Kakao for the friends",
        Shown::find(&config, env, &run, To::All),
    )
    .await;
    print_parts(&run, &config, &shown, To::All, args.json, out)
}

async fn dry_run(args: SendNowArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let (config, run) = prepare(&args.run, env).await?;
    let shown = crate::terminal::with_progress(
        env.progress,
        "asking Kakao for the friends",
        Shown::find(&config, env, &run, args.to),
    )
    .await;
    print_parts(&run, &config, &shown, args.to, args.run.json, out)?;
    fail_on_scrape_errors(&run)
}

async fn send_now(args: SendNowArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let config = env.load_config()?;
    let (date, meal) = pick(&args.run, &config, env.clock.now())?;
    let account = env.account(&config)?;
    let mut ledger = Ledger::open(&crate::ledger::path_in(&env.paths.data_dir))?;
    crate::scrape::use_cache(
        &crate::daemon::pages_dir(&env.paths.data_dir),
        env.clock.clone(),
        crate::scrape::Slots::new(config.timezone, config.schedule.meals.clone()),
    );
    let client = http::client(http::Timeouts::default());
    let pipeline = deliver::Pipeline {
        config: &config,
        http: &client,
        sender: account.sender(),
        clock: env.clock.as_ref(),
    };
    // Ctrl-C behaves like SIGTERM in the daemon: the call in flight finishes and is
    // recorded, no other starts; a second Ctrl-C stops at once. Listening starts before any
    // call, so no Ctrl-C can kill the process between a send and its record.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let summary = if args.wait {
        use crate::window;
        let job = window::Job {
            date,
            meal,
            window: window::Window::of(env.clock.now(), config.schedule.catch_up),
            to: args.to,
            prefetched: None,
        };
        let policy = window::Policy::new(config.schedule.recheck, &*env.var);
        let mut stop = window::stop_on_ctrl_c();
        let progress = |p: &window::Progress| eprintln!("kbot: {}", p.describe());
        window::serve(&pipeline, &mut ledger, job, &policy, &mut stop, &progress).await?
    } else {
        let options = deliver::Options {
            to: args.to,
            force: args.force,
            hold_warning: false,
            stop: Some(stop),
        };
        let run = crate::terminal::with_progress(
            env.progress,
            "reading the menu and sending",
            pipeline.execute(&mut ledger, date, meal, options),
        );
        crate::interrupt::finish_or_stop(run, &stop_tx).await?
    };
    let interrupted = *stop_tx.borrow();
    // A rerun after the page changed: say so, and with --correct send the correction.
    let corrected = if interrupted {
        deliver::Corrected::default()
    } else {
        pipeline
            .correct(&mut ledger, &summary.run, args.correct, args.to)
            .await?
    };
    let mut text = if args.run.json {
        let mut json = view::sent_json(date, meal, &summary);
        if args.correct {
            json["corrections"] = serde_json::json!(corrected.deliveries);
        }
        view::pretty(&json)
    } else {
        let paint = view::Paint::new(std::io::stdout().is_terminal(), &*env.var);
        view::paint_outcomes(&view::summary(&summary), paint)
    };
    if !args.run.json {
        text.push_str(&crate::correction::describe(
            &corrected.changes,
            args.correct,
        ));
        for d in &corrected.deliveries {
            let who = d.nickname.clone().unwrap_or_else(|| d.recipient.clone());
            text.push_str(&format!(
                "correction → {who}: part {} {}\n",
                d.part, d.status
            ));
        }
    }
    if !args.correct && !corrected.changes.is_empty() {
        tracing::warn!(
            "the menu changed since it was sent; kbot send-now {meal} --date {date} --correct sends everyone who got it a correction"
        );
    }
    write_out(out, &text)?;
    if interrupted {
        let count = |status: &str| {
            summary
                .deliveries
                .iter()
                .filter(|d| d.status == status)
                .count()
        };
        return Err(crate::error::Interrupted {
            what: Some(format!(
                "{} sent, {} not sent",
                count("sent"),
                count("not_sent")
            )),
            hint: (count("not_sent") > 0)
                .then(|| format!("kbot send-now {meal} --date {date} sends the rest")),
        }
        .into());
    }
    if summary.has_failures() {
        // A failure that may pass: say how to keep trying.
        let page_problem = !summary.run.failed_sources().is_empty();
        let delivery_problem = summary.deliveries.iter().any(|d| d.is_problem());
        let hint = if summary.needs_retry() && !args.wait {
            Some(format!(
                "kbot send-now {meal} --date {date} --wait   (keeps retrying for catch_up ({}), showing progress; a running daemon also retries at the meal's slot)",
                humantime::format_duration(config.schedule.catch_up)
            ))
        } else if page_problem && !delivery_problem {
            // Sending again cannot help a page without the day's menu: look at the page.
            Some(format!(
                "kbot scrape {meal} --date {date} --explain shows what the page has"
            ))
        } else {
            summary.hint()
        };
        let mut failed = summary.run.failed_sources();
        failed.extend(summary.failed_recipients());
        return Err(deliver::DeliveryFailed {
            date,
            meal,
            failed,
            hint,
        }
        .into());
    }
    Ok(())
}

/// `send-now --test`: the run's parts to "me" only, nothing recorded.
async fn send_test(args: SendNowArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    if args.to == To::Friends {
        return Err(Usage {
            message: "--test sends only to your own chat, not to friends".into(),
            hint: Some("kbot send-now --to me --test".into()),
        }
        .into());
    }
    let config = env.load_config()?;
    let (date, meal) = pick(&args.run, &config, env.clock.now())?;
    let account = env.account(&config)?;
    let client = http::client(http::Timeouts::default());
    let pipeline = deliver::Pipeline {
        config: &config,
        http: &client,
        sender: account.sender(),
        clock: env.clock.as_ref(),
    };
    let summary = pipeline.send_test(date, meal).await?;
    let text = if args.run.json {
        view::pretty(&view::test_sent_json(date, meal, &summary))
    } else {
        view::test_summary(&summary)
    };
    write_out(out, &text)?;
    if summary.has_failures() {
        return Err(deliver::DeliveryFailed {
            date,
            meal,
            failed: summary.failed_recipients(),
            hint: summary.hint(),
        }
        .into());
    }
    Ok(())
}

/// The configured zone for showing times; UTC when the config cannot be read (history
/// works without a valid config).
fn config_timezone(env: &Env) -> chrono_tz::Tz {
    env.load_config_lenient()
        .map_or(chrono_tz::UTC, |c| c.timezone)
}

fn history(limit: usize, json: bool, env: &Env, out: &mut impl Write) -> Result<()> {
    // Only for showing times; a bad [[source]] is a warning here.
    let timezone = config_timezone(env);
    let path = crate::ledger::path_in(&env.paths.data_dir);
    let rows = if path.exists() {
        // --limit counts slots (a meal on a day), not rows: a slot is shown whole, so its
        // heading counts every recipient.
        view::newest_slots(Ledger::open_read_only(&path)?.history(usize::MAX)?, limit)
    } else {
        (Vec::new(), false)
    };
    let (mut rows, more) = rows;
    let text = if json {
        view::pretty(&view::history_json(&rows))
    } else {
        // A friend in a group is named with it: `김민준 [점심 B만] (uuid)`.
        if let Ok(config) = env.load_config_lenient() {
            for row in &mut rows {
                let Some(recipient) = &row.recipient else {
                    continue;
                };
                let groups =
                    crate::audience::groups_of(&config, recipient, row.nickname.as_deref());
                if !groups.is_empty() {
                    let nick = row.nickname.as_deref().unwrap_or_default();
                    row.nickname = Some(format!("{nick} [{}]", groups.join(", ")).trim().into());
                }
            }
        }
        let paint = view::Paint::new(std::io::stdout().is_terminal(), &*env.var);
        view::history_report(&rows, more, limit, timezone, paint)
    };
    write_out(out, &text)
}

fn service(
    action: ServiceAction,
    systemd: bool,
    windows: bool,
    env: &Env,
    out: &mut impl Write,
) -> Result<()> {
    use crate::service::{self, Kind};
    let kind = match (systemd, windows) {
        (true, _) => Kind::Systemd,
        (_, true) => Kind::Windows,
        _ => Kind::native(),
    };
    let exe = std::env::current_exe()
        .map_err(|e| PathIo::new("cannot locate", "the kbot executable", e))?;
    let config = std::path::absolute(&env.paths.config)
        .map_err(|e| PathIo::new("cannot resolve", &env.paths.config, e))?;
    let data_dir = std::path::absolute(&env.paths.data_dir)
        .map_err(|e| PathIo::new("cannot resolve", &env.paths.data_dir, e))?;
    let dirs = service_dirs(env);
    match action {
        ServiceAction::Print => {
            let text = match kind {
                Kind::Systemd => service::systemd_unit(&exe, &config, &data_dir),
                Kind::Windows => service::task_xml(&exe, &config, &data_dir, None),
            };
            write_out(out, &text)
        }
        ServiceAction::Install => {
            let mut installed = service::install(kind, &exe, &config, &dirs)?;
            let runtime_dir = (env.var)("XDG_RUNTIME_DIR").map(PathBuf::from);
            if kind == Kind::Systemd && !service::has_user_manager(runtime_dir.as_deref()) {
                installed = service::without_user_manager(installed, &exe);
            }
            write_out(out, &view::installed(&installed))
        }
        ServiceAction::Uninstall => {
            let removed = service::uninstall(kind, &dirs)?;
            write_out(out, &view::uninstalled(&removed, kind))
        }
    }
}

/// Where `kbot service` keeps the service definition: from HOME and XDG_CONFIG_HOME.
fn service_dirs(env: &Env) -> crate::service::Dirs {
    let home = (env.var)("HOME")
        .or_else(|| (env.var)("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_default();
    let xdg = (env.var)("XDG_CONFIG_HOME");
    crate::service::Dirs {
        config_home: crate::service::config_home(xdg.as_deref().map(std::ffi::OsStr::new), &home),
        data_dir: env.paths.data_dir.clone(),
    }
}

/// `kbot doctor [--json]`: the diagnosis, then exit 0 only when every check that matters
/// passed (otherwise the exit code of the first failed check; see `doctor`).
async fn doctor(json: bool, env: &Env, out: &mut impl Write) -> Result<()> {
    use crate::service::{self, Kind};
    let dirs = service_dirs(env);
    let service_file = match Kind::native() {
        Kind::Systemd => service::unit_path(&dirs.config_home),
        Kind::Windows => service::task_path(&dirs.data_dir),
    };
    let inputs = crate::doctor::Inputs {
        paths: &env.paths,
        clock: env.clock.clone(),
        var: &*env.var,
        service_file,
    };
    let diagnosis =
        crate::terminal::with_progress(env.progress, "checking", crate::doctor::diagnose(&inputs))
            .await;
    let text = if json {
        view::pretty(&view::doctor_json(&diagnosis))
    } else {
        let paint = view::Paint::new(std::io::stdout().is_terminal(), &*env.var);
        view::doctor(&diagnosis, paint)
    };
    write_out(out, &text)?;
    match diagnosis.exit() {
        crate::Exit::Success => Ok(()),
        exit => Err(Silent(exit).into()),
    }
}

/// Ends a command with an exit code after it has printed its own account of why.
#[derive(Debug, thiserror::Error)]
#[error("")]
pub struct Silent(pub crate::Exit);

impl crate::Report for Silent {
    fn exit(&self) -> crate::Exit {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn meal_accepts_korean_aliases() {
        let cli = Cli::try_parse_from(["kbot", "scrape", "점심", "--date", "2023-04-10"]).unwrap();
        let Command::Scrape(args) = cli.command else {
            panic!("parsed as {:?}", cli.command)
        };
        assert_eq!(args.run.meal, Some(Meal::Lunch));
        let date = NaiveDate::from_ymd_opt(2023, 4, 10).unwrap();
        assert_eq!(args.run.date, Some(crate::terminal::DateArg::Exact(date)));
    }

    #[test]
    fn next_meal_follows_the_schedule_in_the_configured_zone() {
        let config = Config::from_toml(config::EXAMPLE, None).unwrap();
        // 2026-11-23 is a Monday; 03:00 UTC is 12:00 in Seoul: lunch (11:30) has passed.
        let now = "2026-11-23T03:00:00Z".parse().unwrap();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(next_slot(&config, now), Some((monday, Meal::Dinner)));
        let friday_night = "2026-11-27T12:00:00Z".parse().unwrap();
        let next_monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(
            next_slot(&config, friday_night),
            Some((next_monday, Meal::Breakfast))
        );
    }
}
