//! The command line: clap types, and one function per command that calls into the
//! modules and prints the answer on stdout.
//!
//! Diagnostics go to stderr through `tracing`; errors are returned to `main`, which prints
//! them and picks the exit code. Reading the clock and the environment happens here, once,
//! and is passed down.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, Paths};
use crate::deliver::{self, Run, ScrapeFailed};
use crate::error::{PathIo, Usage};
use crate::meal::Meal;
use crate::message::Audience;
use crate::scrape::Outcome;
use crate::{Result, http};

/// Scrape a cafeteria menu and send it to KakaoTalk on a schedule.
#[derive(Debug, Parser)]
#[command(name = "kbot", version, about, max_term_width = 100)]
pub struct Cli {
    /// The configuration file [default: the platform config dir's kbot/config.toml]
    #[arg(long, global = true, env = "KBOT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

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
    /// Run once now: scrape, render and (with --dry-run) print what would be sent
    SendNow(SendNowArgs),
    /// Write, check or locate the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

/// Which run: the meal and the date.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// breakfast, lunch or dinner (아침, 점심, 저녁) [default: the next meal on the schedule]
    pub meal: Option<Meal>,
    /// The date, YYYY-MM-DD [default: today in the configured time zone]
    #[arg(long, value_parser = parse_date)]
    pub date: Option<NaiveDate>,
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
}

/// Who a run sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum To {
    /// Only your own chat
    Me,
    /// Only the configured friends
    Friends,
    /// Both
    All,
}

/// `kbot send-now`.
#[derive(Debug, Args)]
pub struct SendNowArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Who to send to
    #[arg(long, value_enum, default_value_t = To::All)]
    pub to: To,
    /// Print what would be sent; send nothing
    #[arg(long, required = true)]
    pub dry_run: bool,
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

fn parse_date(s: &str) -> std::result::Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{e} (expected YYYY-MM-DD)"))
}

/// Everything a command may need from the outside world, read once.
#[derive(Debug)]
pub struct Env {
    /// Config path and data dir.
    pub paths: Paths,
    /// The clock.
    pub clock: Box<dyn Clock>,
}

impl Env {
    /// The real environment.
    pub fn from_process(cli: &Cli) -> Env {
        Env {
            paths: Paths::resolve(cli.config.as_deref(), |k| std::env::var(k).ok()),
            clock: Box::new(SystemClock),
        }
    }
}

/// Run the parsed command.
pub async fn run(cli: Cli, env: Env) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Config(cmd) => config_command(cmd, &env, &mut out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "kbot", &mut out);
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| PathIo::new("cannot write", "<stdout>", e))?;
            Ok(())
        }
        Command::Scrape(args) => scrape(args, &env, &mut out).await,
        Command::Preview(args) => preview(args, &env, &mut out).await,
        Command::SendNow(args) => send_now(args, &env, &mut out).await,
    }
}

fn write_out(out: &mut impl Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| PathIo::new("cannot write", "<stdout>", e))?;
    Ok(())
}

fn config_command(cmd: ConfigCommand, env: &Env, out: &mut impl Write) -> Result<()> {
    let path = &env.paths.config;
    match cmd {
        ConfigCommand::Path => write_out(out, &format!("{}\n", path.display())),
        ConfigCommand::Init { force } => {
            config::init(path, force)?;
            write_out(
                out,
                &format!(
                    "wrote {}\nnext: set [[source]] url and table, then run `kbot scrape --explain`\n",
                    path.display()
                ),
            )
        }
        ConfigCommand::Check => {
            let config = config::load(path)?;
            let meals: Vec<&str> = config.schedule.meals.keys().map(|m| m.as_str()).collect();
            write_out(
                out,
                &format!(
                    "{}: ok ({} source{}, schedule: {})\n",
                    path.display(),
                    config.sources.len(),
                    if config.sources.len() == 1 { "" } else { "s" },
                    if meals.is_empty() {
                        "none".to_string()
                    } else {
                        meals.join(", ")
                    }
                ),
            )
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
    Ok((args.date.unwrap_or(date), meal))
}

/// The local date and meal of the first scheduled slot after `now`.
fn next_slot(config: &Config, now: DateTime<Utc>) -> Option<(NaiveDate, Meal)> {
    config
        .plan()
        .next_fire(now)
        .map(|(meal, at)| (at.date_naive(), meal))
}

async fn prepare(args: &RunArgs, env: &Env) -> Result<(Config, Run)> {
    let config = config::load(&env.paths.config)?;
    let (date, meal) = pick(args, &config, env.clock.now())?;
    let client = http::client(http::Timeouts::default());
    let run = deliver::prepare(&config, &client, date, meal).await;
    Ok((config, run))
}

async fn scrape(args: ScrapeArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let (_, run) = prepare(&args.run, env).await?;
    if args.run.json {
        let value = json!({
            "date": run.date.to_string(),
            "meal": run.meal,
            "sources": run.reports,
        });
        write_out(out, &format!("{}\n", pretty(&value)))?;
    } else {
        let mut text = format!(
            "{} {}\n",
            run.date,
            crate::message::title(run.date, run.meal)
        );
        for report in &run.reports {
            text.push_str(&format!(
                "\n[{}] {}  {}\n",
                report.name,
                report.outcome.as_str(),
                report.url
            ));
            match &report.outcome {
                Outcome::Menu(groups) => {
                    for group in groups {
                        if !group.label.is_empty() {
                            text.push_str(&format!("  {}\n", group.label));
                        }
                        for dish in &group.dishes {
                            text.push_str(&format!("    {dish}\n"));
                        }
                    }
                }
                Outcome::Closed { notice } => text.push_str(&format!("  closed: {notice}\n")),
                _ => {}
            }
            if let Some(detail) = &report.detail {
                text.push_str(&format!("  note: {detail}\n"));
            }
            if let (true, Some(explain)) = (args.explain, &report.explain) {
                text.push('\n');
                for line in explain.to_string().lines() {
                    text.push_str(&format!("  | {line}\n"));
                }
            }
        }
        write_out(out, &text)?;
    }
    fail_on_scrape_errors(&run)
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

/// The recipients of each part as configured (names are resolved when sending).
fn recipients(config: &Config, audience: Audience, to: To) -> Vec<String> {
    let mut list = Vec::new();
    if config.recipients.me && to != To::Friends {
        list.push("me".to_string());
    }
    if audience == Audience::Everyone && to != To::Me {
        list.extend(config.recipients.friends.iter().cloned());
    }
    list
}

fn print_parts(run: &Run, config: &Config, to: To, json: bool, out: &mut impl Write) -> Result<()> {
    let parts: Vec<_> = run
        .rendered
        .parts
        .iter()
        .map(|p| (recipients(config, p.audience, to), &p.template))
        .filter(|(r, _)| !r.is_empty())
        .collect();
    if json {
        let value = json!({
            "date": run.date.to_string(),
            "meal": run.meal,
            "parts": parts
                .iter()
                .map(|(r, t)| json!({"recipients": r, "template_object": t}))
                .collect::<Vec<_>>(),
        });
        return write_out(out, &format!("{}\n", pretty(&value)));
    }
    if parts.is_empty() {
        return write_out(out, "nothing to send\n");
    }
    let n = parts.len();
    let mut text = String::new();
    for (i, (recipients, template)) in parts.iter().enumerate() {
        text.push_str(&format!(
            "── part {}/{n} → {}\n",
            i + 1,
            recipients.join(", ")
        ));
        match template["object_type"].as_str() {
            Some("text") => text.push_str(template["text"].as_str().unwrap_or_default()),
            _ => text.push_str(&pretty(template)),
        }
        text.push_str("\n\n");
    }
    write_out(out, &text)
}

async fn preview(args: RunArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let (config, run) = prepare(&args, env).await?;
    print_parts(&run, &config, To::All, args.json, out)
}

async fn send_now(args: SendNowArgs, env: &Env, out: &mut impl Write) -> Result<()> {
    let (config, run) = prepare(&args.run, env).await?;
    print_parts(&run, &config, args.to, args.run.json, out)?;
    fail_on_scrape_errors(&run)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes")
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
        assert_eq!(args.run.date, NaiveDate::from_ymd_opt(2023, 4, 10));
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
