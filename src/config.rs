//! The configuration file: its typed form, validation with key paths and line numbers, and
//! where kbot keeps things.
//!
//! [`Config::from_toml`] is pure: it walks the spanned TOML tree, checks every key (unknown
//! keys are errors) and collects *all* problems before failing, each with its key path and
//! `line:col`. [`load`] reads the file. [`Paths`] resolves the config path and data dir from
//! flags, `KBOT_*` variables and the platform directories. The commented example that
//! `kbot config init` writes is embedded from `config.example.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use url::Url;

use crate::error::{Exit, Report};
use crate::meal::Meal;
use crate::scrape;

/// The commented example configuration, written by `kbot config init`.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (relative source paths resolve against its directory).
    pub path: Option<PathBuf>,
    /// The zone the schedule and "today" are read in.
    pub timezone: Tz,
    /// The Kakao app.
    pub kakao: Kakao,
    /// Which secret store `kbot login` uses by default.
    pub secret_store: crate::secrets::StoreKind,
    /// The pages to scrape, in order.
    pub sources: Vec<scrape::Source>,
    /// How the menu is rendered and delivered.
    pub message: Message,
    /// Who receives it.
    pub recipients: Recipients,
    /// When it is sent.
    pub schedule: Schedule,
    /// Favourite and avoided dishes (`[highlight]`).
    pub highlight: crate::highlight::Highlight,
    /// What is allowed but probably not meant (a meal every minute), and, from
    /// [`load_lenient`], the problems of the sources it left out.
    pub warnings: Vec<Problem>,
}

/// `[kakao]`: the app and the hosts it talks to.
#[derive(Debug, Clone)]
pub struct Kakao {
    /// The REST API key; empty until the user fills it in (offline commands don't need it).
    pub client_id: String,
    /// Must be registered in the Kakao console, exactly.
    pub redirect_uri: Url,
    /// `https://kauth.kakao.com` unless overridden (tests point it at loopback).
    pub auth_url: Url,
    /// `https://kapi.kakao.com` unless overridden.
    pub api_url: Url,
}

impl Kakao {
    /// The client id, or the error that says to fill it in.
    pub fn require_client_id(&self) -> Result<&str, Error> {
        if self.client_id.is_empty() {
            Err(Error::Missing {
                key: "kakao.client_id".into(),
                hint: "set kakao.client_id to your app's REST API key (Kakao console > App keys)"
                    .into(),
            })
        } else {
            Ok(&self.client_id)
        }
    }
}

/// `message.template` and `message.on_closed` are rendering choices: their types live
/// with the renderer, so `message` need not know the config.
pub use crate::message::{OnClosed, Template};

/// `message.delivery` (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Resend calls that may not have arrived: never lose a message.
    AtLeastOnce,
    /// Never resend a call whose fate is unknown: never send twice.
    AtMostOnce,
}

/// `[message]`.
#[derive(Debug, Clone)]
pub struct Message {
    /// Text or list template.
    pub template: Template,
    /// The link every message carries; `None` means the first source's URL.
    pub link: Option<Url>,
    /// What to do on a closed day.
    pub on_closed: OnClosed,
    /// At-least-once or at-most-once.
    pub delivery: Delivery,
    /// The button label.
    pub button_title: String,
    /// The kinds of noise rendering drops (`noise`, default all of them).
    pub noise: crate::noise::Kinds,
    /// At most this many menu parts; 0 for no limit (`max_parts`, default 2).
    pub max_parts: usize,
    /// After a meal was sent, the daemon reads its pages again until the meal's window
    /// closes and sends one correction (`정정`) when the dishes changed (default true).
    pub corrections: bool,
}

/// `[recipients]`.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    /// Send to the logged-in user's own chat.
    pub me: bool,
    /// Friends by nickname or uuid, as listed by `kbot friends`: every meal of every source.
    pub friends: Vec<String>,
    /// `[[recipients.group]]`: friends who get only some meals or some sources.
    pub groups: Vec<Group>,
}

/// One `[[recipients.group]]`: friends who get `meals` of `sources` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The name shown in preview, history and doctor.
    pub name: String,
    /// Nicknames or uuids, resolved like `recipients.friends`.
    pub friends: Vec<String>,
    /// The meals they get; empty for every scheduled meal.
    pub meals: Vec<Meal>,
    /// The names of the sources they get; empty for every source.
    pub sources: Vec<String>,
}

impl Group {
    /// Whether the group gets `meal`.
    pub fn has_meal(&self, meal: Meal) -> bool {
        self.meals.is_empty() || self.meals.contains(&meal)
    }

    /// Whether the group gets the source named `source`.
    pub fn has_source(&self, source: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|s| s == source)
    }
}

/// `schedule.recheck` when not set.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(5 * 60);

/// `schedule.prefetch` when not set.
pub const DEFAULT_PREFETCH: Duration = Duration::from_secs(3 * 60);

/// The longest `schedule.prefetch` accepted: a page fetched earlier may be stale.
pub const MAX_PREFETCH: Duration = Duration::from_secs(3600);

/// `[schedule]`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// One cron line per scheduled meal.
    pub meals: BTreeMap<Meal, croner::Cron>,
    /// A missed slot is still sent when kbot wakes within this window.
    pub catch_up: Duration,
    /// Inside a meal's window, how often a menu not yet posted (wrong date, not found,
    /// fetch failed) is looked for again.
    pub recheck: Duration,
    /// How long before a slot the daemon fetches and parses its pages, so the message
    /// leaves at the slot even when the site is slow; zero turns it off.
    pub prefetch: Duration,
    /// Dates on which nothing is sent.
    pub skip_dates: BTreeSet<NaiveDate>,
    /// Send nothing on Korean public holidays (`crate::holiday`).
    pub skip_holidays: bool,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, e.g. `schedule.lunch` or `source[1].table`.
    pub key: String,
    /// 1-based line and column in the file, where known.
    pub line_col: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, col)) = self.line_col {
            write!(f, "{line}:{col}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("no configuration file at {}", path.display())]
    NotFound {
        /// Where kbot looked.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read configuration {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// One or more problems; all of them, in file order.
    #[error("{}", invalid_message(path.as_deref(), problems))]
    Invalid {
        /// The file, if the text came from one.
        path: Option<PathBuf>,
        /// Everything wrong with it.
        problems: Vec<Problem>,
    },
    /// A key that a command needs is not set.
    #[error("{key} is not set")]
    Missing {
        /// The key path.
        key: String,
        /// What to put there.
        hint: String,
    },
    /// The path is a directory, a FIFO or a device, not a file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is bigger than [`MAX_SIZE`].
    #[error("{} is {size} bytes; a configuration is at most 1 MB", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not UTF-8.
    #[error("{}:{}:{}: not UTF-8 text (invalid byte at offset {byte})", path.display(), line_col.0, line_col.1)]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        byte: usize,
        /// Its line and column.
        line_col: (usize, usize),
    },
    /// `config init` would overwrite an existing file.
    #[error("{} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

fn invalid_message(path: Option<&Path>, problems: &[Problem]) -> String {
    let file = path.map_or_else(|| "<config>".to_string(), |p| p.display().to_string());
    let mut out = match problems.len() {
        1 => format!("invalid configuration in {file}:"),
        n => format!("invalid configuration in {file} ({n} problems):"),
    };
    for problem in problems {
        out.push_str(&format!("\n  {file}:{problem}"));
        if let Some(hint) = &problem.hint {
            out.push_str(&format!("\n      hint: {hint}"));
        }
    }
    out
}

impl Report for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Read { .. } => Exit::Failure,
            Error::Exists { .. } => Exit::Usage,
            _ => Exit::Config,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Error::NotFound { path } => Some(format!(
                "kbot config init   (writes a commented example to {})",
                path.display()
            )),
            Error::Invalid { .. } => Some("kbot config check   (after fixing the file)".into()),
            Error::Missing { hint, .. } => Some(hint.clone()),
            Error::Exists { .. } => Some("kbot config init --force   (overwrites it)".into()),
            Error::Read { .. } => None,
            Error::NotAFile { .. } | Error::TooLarge { .. } => Some(
                "--config (or KBOT_CONFIG) must name the TOML configuration file; kbot config init writes one".into(),
            ),
            Error::NotUtf8 { .. } => {
                Some("save the file as UTF-8 (e.g. iconv -f euc-kr -t utf-8)".into())
            }
        }
    }
}

/// The largest configuration file kbot reads; a bigger one is a mistake (a log, a page).
pub const MAX_SIZE: u64 = 1024 * 1024;

/// Read and validate the configuration file at `path`. A bare source path must name an
/// existing file.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = read(path)?;
    Config::parse(&text, Some(path), true, false)
}

/// [`load`] that turns problems of `[[source]]` tables into [`Config::warnings`] (see
/// [`Config::from_toml_lenient`]): for commands that do not scrape.
pub fn load_lenient(path: &Path) -> Result<Config, Error> {
    let text = read(path)?;
    Config::parse(&text, Some(path), true, true)
}

/// The file's text: a regular file (a FIFO would block the read), at most [`MAX_SIZE`]
/// bytes, UTF-8. Blocking I/O: the daemon calls it off its runtime.
pub fn read(path: &Path) -> Result<String, Error> {
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            Error::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    // Opened first and checked by its handle: a FIFO swapped in between is never read.
    let file = open_without_waiting(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_SIZE {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
        Error::NotUtf8 {
            path: path.to_path_buf(),
            byte: at,
            line_col: line_col(&text, text.len()),
        }
    })
}

/// Open for reading without blocking on a FIFO (which would wait for a writer).
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    options.open(path)
}

/// Settings still as `kbot config init` wrote them: the example's placeholder page
/// (an error: it can never be read) and an empty `kakao.client_id` (a warning: only login
/// and sending need it). Pure.
pub fn not_yet_set(config: &Config) -> (Vec<Problem>, Vec<Problem>) {
    let mut errors = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        if source.url.contains(PLACEHOLDER_HOST) {
            errors.push(Problem {
                key: format!("source[{i}].url"),
                line_col: None,
                message: format!("not set yet: {} is the example's placeholder", source.url),
                hint: Some(
                    "set url to your cafeteria's menu page (kbot scrape --find helps with table)"
                        .into(),
                ),
            });
        }
    }
    let mut warnings = Vec::new();
    if config.kakao.client_id.trim().is_empty() {
        warnings.push(Problem {
            key: "kakao.client_id".into(),
            line_col: None,
            message: "not set yet: kbot login and sending need it".into(),
            hint: Some("your app's REST API key (docs/kakao-console.md)".into()),
        });
    }
    (errors, warnings)
}

/// The host of the example configuration's placeholder page.
pub const PLACEHOLDER_HOST: &str = "example.ac.kr";

impl Config {
    /// Parse and validate configuration text. `path` names the file in errors and anchors
    /// relative source paths; nothing is read from disk.
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Config, Error> {
        Config::parse(text, path, false, false)
    }

    /// [`Config::from_toml`] that keeps going past bad `[[source]]` tables and `[schedule]`
    /// entries: their problems (and a missing `[[source]]`) become [`Config::warnings`] and
    /// the sources and meals that are fine stay. For the commands that do not scrape (`login`, `logout`, `status`,
    /// `friends`, `history`).
    pub fn from_toml_lenient(text: &str, path: Option<&Path>) -> Result<Config, Error> {
        Config::parse(text, path, false, true)
    }

    fn parse(
        text: &str,
        path: Option<&Path>,
        check_files: bool,
        lenient: bool,
    ) -> Result<Config, Error> {
        let mut v = Validator {
            text,
            problems: Vec::new(),
            warnings: Vec::new(),
            base_dir: path.and_then(Path::parent).map(Path::to_path_buf),
            check_files,
            timezone: chrono_tz::Asia::Seoul,
        };
        let (root, syntax) = DeTable::parse_recoverable(text);
        for err in syntax {
            let span = err.span();
            v.problems.push(Problem {
                key: String::new(),
                line_col: span.map(|s| line_col(text, s.start)),
                message: err.message().trim().to_string(),
                hint: Some("see config.example.toml (kbot config init writes it)".into()),
            });
        }
        let config = v.root(root.get_ref());
        let mut problems = v.problems;
        let mut warnings = v.warnings;
        if let Some(config) = &config {
            warnings.extend(unselected_meals(config));
        }
        if lenient {
            let (source, rest): (Vec<Problem>, Vec<Problem>) = problems
                .into_iter()
                .partition(|p| is_source_problem(p) || is_schedule_problem(p));
            warnings.extend(source);
            problems = rest;
        }
        problems.sort_by_key(|p| p.line_col.unwrap_or((usize::MAX, 0)));
        warnings.sort_by_key(|p| p.line_col.unwrap_or((usize::MAX, 0)));
        match config {
            Some(mut config) if problems.is_empty() => {
                config.path = path.map(Path::to_path_buf);
                config.warnings = warnings;
                Ok(config)
            }
            _ => Err(Error::Invalid {
                path: path.map(Path::to_path_buf),
                problems,
            }),
        }
    }

    /// The schedule as the daemon and `status` read it.
    pub fn plan(&self) -> crate::schedule::Plan {
        crate::schedule::Plan::new(
            self.schedule.meals.clone(),
            self.timezone,
            self.schedule.catch_up,
            self.skipped_dates(),
        )
    }

    /// `skip_dates`, plus the public holidays when `skip_holidays` is set.
    pub fn skipped_dates(&self) -> BTreeSet<NaiveDate> {
        let mut dates = self.schedule.skip_dates.clone();
        if self.schedule.skip_holidays {
            dates.extend(crate::holiday::all());
        }
        dates
    }

    /// The link messages carry: `message.link`, else the first source's URL for `date`.
    pub fn link_for(&self, date: NaiveDate) -> Option<String> {
        if let Some(link) = &self.message.link {
            return Some(link.to_string());
        }
        self.sources
            .first()
            .and_then(|s| scrape::expand(&s.url, date).ok())
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

type Table<'a> = DeTable<'a>;
type Value<'a> = Spanned<DeValue<'a>>;

/// Walks the spanned tree, collecting problems; returns `None` when a required part is unusable.
struct Validator<'t> {
    text: &'t str,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    base_dir: Option<PathBuf>,
    /// Whether a bare path must name an existing file (`load`); `from_toml` stays pure.
    check_files: bool,
    /// The zone cron lines are read in, for the "never fires" check.
    timezone: Tz,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, span: Range<usize>, message: String, hint: Option<&str>) {
        self.problems.push(Problem {
            key: key.to_string(),
            line_col: Some(line_col(self.text, span.start)),
            message,
            hint: hint.map(str::to_string),
        });
    }

    /// Reports keys of `table` that are not in `known`.
    fn unknown_keys(&mut self, prefix: &str, table: &Table<'_>, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.get_ref().as_ref()) {
                let path = join(prefix, key.get_ref());
                let hint = match closest(key.get_ref(), known) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("known keys here: {}", known.join(", ")),
                };
                self.problem(&path, key.span(), "unknown key".into(), Some(hint.as_str()));
            }
        }
    }

    fn string(
        &mut self,
        prefix: &str,
        table: &Table<'_>,
        key: &str,
    ) -> Option<(String, Range<usize>)> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.to_string(), value.span())),
            other => {
                self.problem(
                    &join(prefix, key),
                    value.span(),
                    format!("expected a string, found {}", kind(other)),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, prefix: &str, table: &Table<'_>, key: &str) -> Option<bool> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.problem(
                    &join(prefix, key),
                    value.span(),
                    format!("expected true or false, found {}", kind(other)),
                    None,
                );
                None
            }
        }
    }

    fn strings(
        &mut self,
        prefix: &str,
        table: &Table<'_>,
        key: &str,
    ) -> Vec<(String, Range<usize>)> {
        let Some(value) = get(table, key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.problem(
                &join(prefix, key),
                value.span(),
                format!(
                    "expected an array of strings, found {}",
                    kind(value.get_ref())
                ),
                None,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.problem(
                    &format!("{}[{i}]", join(prefix, key)),
                    item.span(),
                    format!("expected a string, found {}", kind(other)),
                    None,
                ),
            }
        }
        out
    }

    fn table<'v, 'a>(
        &mut self,
        prefix: &str,
        parent: &'v Table<'a>,
        key: &str,
    ) -> Option<&'v Table<'a>> {
        let value = get(parent, key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.problem(
                    &join(prefix, key),
                    value.span(),
                    format!("expected a table, found {}", kind(other)),
                    None,
                );
                None
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        prefix: &str,
        table: &Table<'_>,
        key: &str,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let Some((value, span)) = self.string(prefix, table, key) else {
            return default;
        };
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
            return *v;
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        self.problem(
            &join(prefix, key),
            span,
            format!("{value:?} is not one of: {}", names.join(", ")),
            None,
        );
        default
    }

    fn url(
        &mut self,
        prefix: &str,
        table: &Table<'_>,
        key: &str,
        schemes: &[&str],
        default: &str,
    ) -> Url {
        let fallback = Url::parse(default).expect("built-in default URLs parse");
        let Some((text, span)) = self.string(prefix, table, key) else {
            return fallback;
        };
        match Url::parse(&text) {
            Ok(url) if schemes.contains(&url.scheme()) => url,
            Ok(url) => {
                self.problem(
                    &join(prefix, key),
                    span,
                    format!(
                        "scheme {:?} is not allowed here (use {})",
                        url.scheme(),
                        schemes.join(" or ")
                    ),
                    None,
                );
                fallback
            }
            Err(e) => {
                self.problem(
                    &join(prefix, key),
                    span,
                    format!("invalid URL {text:?}: {e}"),
                    None,
                );
                fallback
            }
        }
    }

    fn root(&mut self, root: &Table<'_>) -> Option<Config> {
        self.unknown_keys(
            "",
            root,
            &[
                "timezone",
                "kakao",
                "secrets",
                "source",
                "message",
                "recipients",
                "schedule",
                "highlight",
            ],
        );
        let timezone = match self.string("", root, "timezone") {
            None => chrono_tz::Asia::Seoul,
            Some((name, span)) => match name.parse::<Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.problem(
                        "timezone",
                        span,
                        format!("unknown time zone {name:?}"),
                        Some("use an IANA name such as \"Asia/Seoul\" or \"Europe/Berlin\""),
                    );
                    chrono_tz::Asia::Seoul
                }
            },
        };
        self.timezone = timezone;
        let kakao = self.kakao(root);
        let secret_store = self.secrets(root);
        let sources = self.sources(root);
        let message = self.message(root);
        let schedule = self.schedule(root);
        let recipients = self.recipients(root, &sources, &schedule);
        let highlight = self.highlight(root);
        Some(Config {
            path: None,
            timezone,
            kakao,
            secret_store,
            sources: sources.unwrap_or_default(),
            message,
            recipients,
            schedule,
            highlight,
            warnings: Vec::new(),
        })
    }

    fn kakao(&mut self, root: &Table<'_>) -> Kakao {
        const P: &str = "kakao";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(P, t, &["client_id", "redirect_uri", "auth_url", "api_url"]);
        let client_id = self
            .string(P, t, "client_id")
            .map(|(s, _)| s)
            .unwrap_or_default();
        let redirect_uri = self.url(
            P,
            t,
            "redirect_uri",
            &["http"],
            "http://localhost:8765/callback",
        );
        if let Some(value) = get(t, "redirect_uri") {
            let host = redirect_uri.host_str().unwrap_or("");
            if !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
                || matches!(redirect_uri.port(), None | Some(0))
            {
                self.problem(
                    "kakao.redirect_uri",
                    value.span(),
                    format!("{redirect_uri} is not a loopback address with a port"),
                    Some("use http://localhost:<port>/<path> and register exactly that URI in the Kakao console"),
                );
            }
        }
        let auth_url = self.url(
            P,
            t,
            "auth_url",
            &["https", "http"],
            "https://kauth.kakao.com",
        );
        let api_url = self.url(
            P,
            t,
            "api_url",
            &["https", "http"],
            "https://kapi.kakao.com",
        );
        Kakao {
            client_id,
            redirect_uri,
            auth_url,
            api_url,
        }
    }

    fn secrets(&mut self, root: &Table<'_>) -> crate::secrets::StoreKind {
        use crate::secrets::StoreKind;
        let empty = Table::default();
        let t = self.table("", root, "secrets").unwrap_or(&empty);
        self.unknown_keys("secrets", t, &["store"]);
        self.choice(
            "secrets",
            t,
            "store",
            &[("keyring", StoreKind::Keyring), ("file", StoreKind::File)],
            StoreKind::Keyring,
        )
    }

    fn sources(&mut self, root: &Table<'_>) -> Option<Vec<scrape::Source>> {
        let Some(value) = get(root, "source") else {
            self.problems.push(Problem {
                key: "source".into(),
                line_col: None,
                message: "no [[source]] is configured".into(),
                hint: Some(
                    "add a [[source]] with name, url and table (see kbot config init)".into(),
                ),
            });
            return None;
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.problem(
                "source",
                value.span(),
                "expected [[source]] tables".into(),
                Some("write each page as a [[source]] table"),
            );
            return None;
        };
        let mut sources = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("source[{i}]");
            match item.get_ref() {
                DeValue::Table(t) => {
                    // A source with any problem is left out (the lenient load goes on
                    // without it; the strict one fails anyway).
                    let before = self.problems.len();
                    let source = self.source(&prefix, t, item.span());
                    if let (Some(source), true) = (source, self.problems.len() == before) {
                        sources.push(source);
                    }
                }
                other => self.problem(
                    &prefix,
                    item.span(),
                    format!("expected a table, found {}", kind(other)),
                    None,
                ),
            }
        }
        Some(sources)
    }

    fn source(&mut self, p: &str, t: &Table<'_>, span: Range<usize>) -> Option<scrape::Source> {
        self.unknown_keys(
            p,
            t,
            &[
                "name",
                "url",
                "encoding",
                "table",
                "select",
                "exclude",
                "unlabeled",
                "closed",
                // kind = "json" / "image": see `source_kind` below.
                "kind",
                "method",
                "headers",
                "form",
                "body",
                "filter",
                "secret_query",
                "secret_headers",
                "image",
                "pdf",
                "post_link",
                "title",
                "undated",
                "ca_file",
                "tls",
            ],
        );
        let name = self.string(p, t, "name").map(|(s, _)| s);
        let url = match self.string(p, t, "url") {
            Some((url, span)) => self.source_url(p, &url, span),
            None => {
                self.problem(
                    p,
                    span.clone(),
                    "url is required".into(),
                    Some("url = \"https://…\", a file:// URL or a path relative to this file"),
                );
                None
            }
        };
        let encoding = match self.string(p, t, "encoding") {
            None => None,
            Some((label, _)) if label.eq_ignore_ascii_case("auto") => None,
            Some((label, span)) => match encoding_rs::Encoding::for_label(label.as_bytes()) {
                Some(enc) => Some(enc),
                None => {
                    self.problem(
                        &join(p, "encoding"),
                        span,
                        format!("unknown encoding {label:?}"),
                        Some("use \"auto\", \"utf-8\", \"euc-kr\" or another WHATWG label"),
                    );
                    None
                }
            },
        };
        let special = self.source_kind(p, t, span.clone());
        let table = self.string(p, t, "table");
        let select = self.table(p, t, "select");
        let mode = match (table, select) {
            _ if special.is_some() => special.flatten(),
            (Some(_), Some(_)) => {
                self.problem(
                    p,
                    span.clone(),
                    "set either table or [source.select], not both".into(),
                    None,
                );
                None
            }
            (Some((selector, _)), None) if selector.trim() == scrape::AUTO => {
                Some(scrape::Mode::Auto)
            }
            (Some((selector, span)), None) => {
                self.selector(&join(p, "table"), &selector, span);
                Some(scrape::Mode::Table { selector })
            }
            (None, Some(sel)) => {
                let prefix = join(p, "select");
                self.unknown_keys(&prefix, sel, &["breakfast", "lunch", "dinner"]);
                let mut selectors = BTreeMap::new();
                for meal in Meal::ALL {
                    if let Some((s, span)) = self.string(&prefix, sel, meal.as_str()) {
                        self.selector(&join(&prefix, meal.as_str()), &s, span);
                        selectors.insert(meal, s);
                    }
                }
                if selectors.is_empty() {
                    self.problem(
                        &prefix,
                        span.clone(),
                        "no selector for any meal".into(),
                        Some("e.g. lunch = \"table.menu td:nth-child({weekday})\""),
                    );
                }
                Some(scrape::Mode::Css { selectors })
            }
            (None, None) => {
                self.problem(
                    p,
                    span.clone(),
                    "neither table nor [source.select] is set".into(),
                    Some("table = \"auto\" finds the menu tables itself; kbot scrape --find lists the page's tables with selectors"),
                );
                None
            }
        };
        let mut exclude = Vec::new();
        for (i, (pattern, span)) in self.strings(p, t, "exclude").into_iter().enumerate() {
            match regex::Regex::new(&pattern) {
                Ok(re) => exclude.push(re),
                Err(e) => self.problem(
                    &format!("{}[{i}]", join(p, "exclude")),
                    span,
                    format!(
                        "invalid regex: {}",
                        e.to_string().lines().last().unwrap_or("")
                    ),
                    None,
                ),
            }
        }
        let unlabeled = match self.string(p, t, "unlabeled") {
            None => Meal::Lunch,
            Some((word, span)) => word.parse().unwrap_or_else(|e: crate::meal::UnknownMeal| {
                self.problem(&join(p, "unlabeled"), span, e.to_string(), None);
                Meal::Lunch
            }),
        };
        let undated = match self.string(p, t, "undated") {
            None => scrape::Undated::WrongDate,
            Some((word, span)) => scrape::Undated::from_word(&word).unwrap_or_else(|| {
                self.problem(
                    &join(p, "undated"),
                    span,
                    format!("unknown value {word:?}: use \"today\" or \"wrong_date\""),
                    Some("undated = \"today\" reads a page that states no date as the date asked for; the default \"wrong_date\" refuses it"),
                );
                scrape::Undated::WrongDate
            }),
        };
        let closed = self.strings(p, t, "closed");
        let closed_markers = if get(t, "closed").is_some() {
            closed.into_iter().map(|(s, _)| s).collect()
        } else {
            scrape::Rule::default_closed_markers()
        };
        let json = get(t, "kind")
            .is_some_and(|v| matches!(v.get_ref(), DeValue::String(k) if k == "json"));
        let reach = self.reach(p, t, json);
        let name = name.unwrap_or_else(|| {
            url.as_deref()
                .and_then(|u| Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "menu".into())
        });
        Some(scrape::Source {
            name,
            url: url?,
            rule: scrape::Rule {
                mode: mode?,
                exclude,
                unlabeled,
                closed_markers,
                encoding,
                undated,
            },
            reach,
        })
    }

    /// `ca_file`, `tls` and (for table and image sources; json sources keep theirs in
    /// their spec) `headers`.
    fn reach(&mut self, p: &str, t: &Table<'_>, json: bool) -> scrape::Reach {
        let ca_file = self.string(p, t, "ca_file").and_then(|(raw, span)| {
            let base = self.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
            let joined = base.join(&raw);
            let path = std::path::absolute(&joined).unwrap_or(joined);
            if self.check_files
                && let Err(why) = scrape::reach::check_ca_file(&path)
            {
                self.problem(
                    &join(p, "ca_file"),
                    span,
                    why,
                    Some("ca_file names a PEM file of the certificates to trust for this source, relative to this file"),
                );
                return None;
            }
            Some(path)
        });
        let tls = self.choice(
            p,
            t,
            "tls",
            &[
                ("modern", scrape::TlsMode::Modern),
                ("legacy", scrape::TlsMode::Legacy),
            ],
            scrape::TlsMode::Modern,
        );
        let headers = if json {
            Vec::new()
        } else {
            self.template_pairs(p, t, "headers")
        };
        for (name, value) in &headers {
            let bad = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err();
            if bad {
                let span = get(t, "headers").map_or(0..0, |v| v.span());
                self.problem(
                    &join(&join(p, "headers"), name),
                    span,
                    "not a valid HTTP header name or value".into(),
                    Some("e.g. headers = { User-Agent = \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\" }"),
                );
            }
        }
        scrape::Reach {
            ca_file,
            tls,
            headers,
        }
    }

    /// Accepts http(s) and file URLs; a bare path is resolved against the config file's
    /// directory and becomes a file URL. Placeholders are checked with a sample date.
    fn source_url(&mut self, p: &str, raw: &str, span: Range<usize>) -> Option<String> {
        let key = join(p, "url");
        let sample = NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date");
        let expanded = match scrape::expand(raw, sample) {
            Ok(e) => e,
            Err(e) => {
                self.problem(&key, span, e.to_string(), Some("placeholders are {date:%Y%m%d} (any strftime format) and {weekday} (1 = Monday)"));
                return None;
            }
        };
        match Url::parse(&expanded) {
            Ok(url) if matches!(url.scheme(), "http" | "https" | "file") => Some(raw.to_string()),
            Ok(url) => {
                self.problem(
                    &key,
                    span,
                    format!("scheme {:?} is not supported", url.scheme()),
                    Some("use http://, https:// or file://"),
                );
                None
            }
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let base = self.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
                let joined = base.join(raw);
                let absolute = std::path::absolute(&joined).unwrap_or(joined);
                if self.check_files && !names_a_file(&absolute, raw) {
                    let looks_like_host = raw
                        .split('/')
                        .next()
                        .is_some_and(|host| host.contains('.') && !host.starts_with('.'));
                    let hint = if looks_like_host {
                        format!(
                            "did you mean \"https://{raw}\"? A path is read relative to the config file"
                        )
                    } else {
                        "use https://…, file://…, or a path to an existing file relative to the config file".to_string()
                    };
                    self.problem(
                        &key,
                        span,
                        format!(
                            "{raw:?} has no scheme (https://) and names no file ({})",
                            absolute.display()
                        ),
                        Some(&hint),
                    );
                    return None;
                }
                let as_url = Url::from_file_path(&absolute).ok()?;
                // Keep placeholders readable: undo the percent-encoding of braces.
                Some(
                    as_url
                        .as_str()
                        .replace("%7B", "{")
                        .replace("%7D", "}")
                        .replace("%25", "%"),
                )
            }
            Err(e) => {
                self.problem(&key, span, format!("invalid URL {raw:?}: {e}"), None);
                None
            }
        }
    }

    /// A cron line that never fires is an error; one that fires more than once an hour,
    /// a warning (a meal is sent once per slot: every minute is 1,440 messages a day).
    fn cron_fires(&mut self, key: &str, expr: &str, cron: &croner::Cron, span: Range<usize>) {
        use chrono::TimeZone;
        // A fixed reference keeps this pure; four years cover 29 February.
        let from = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
        let Some(from) = from else { return };
        let first = crate::schedule::next_after(cron, self.timezone, from);
        let Some(first) = first
            .filter(|f| f.with_timezone(&chrono::Utc) - from < chrono::Duration::days(4 * 366))
        else {
            self.problem(
                key,
                span,
                format!("{expr:?} never fires (no such date)"),
                Some("check the day and month fields, e.g. \"30 11 * * Mon-Fri\""),
            );
            return;
        };
        let second =
            crate::schedule::next_after(cron, self.timezone, first.with_timezone(&chrono::Utc));
        if let Some(second) = second
            && second - first < chrono::Duration::hours(1)
        {
            self.warnings.push(Problem {
                key: key.to_string(),
                line_col: Some(line_col(self.text, span.start)),
                message: format!(
                    "{expr:?} fires more than once an hour; each time sends the meal again"
                ),
                hint: Some(
                    "one time a day, e.g. \"30 11 * * Mon-Fri\" (minute hour day month weekday)"
                        .into(),
                ),
            });
        }
    }

    fn selector(&mut self, key: &str, selector: &str, span: Range<usize>) {
        if let Err(message) = scrape::check_selector(selector) {
            self.problem(
                key,
                span,
                format!(
                    "invalid CSS selector {selector:?}: {}",
                    plain_selector_error(&message)
                ),
                Some("try it in the browser's developer console: document.querySelectorAll(\"…\"); kbot scrape --explain shows the tables"),
            );
        }
    }

    fn message(&mut self, root: &Table<'_>) -> Message {
        const P: &str = "message";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(
            P,
            t,
            &[
                "template",
                "link",
                "on_closed",
                "delivery",
                "button_title",
                "noise",
                "max_parts",
                "corrections",
            ],
        );
        let template = self.choice(
            P,
            t,
            "template",
            &[("text", Template::Text), ("list", Template::List)],
            Template::Text,
        );
        let link = get(t, "link")
            .map(|_| self.url(P, t, "link", &["https", "http"], "https://example.com"));
        let on_closed = self.choice(
            P,
            t,
            "on_closed",
            &[("notify", OnClosed::Notify), ("skip", OnClosed::Skip)],
            OnClosed::Notify,
        );
        let delivery = self.choice(
            P,
            t,
            "delivery",
            &[
                ("at-least-once", Delivery::AtLeastOnce),
                ("at-most-once", Delivery::AtMostOnce),
            ],
            Delivery::AtLeastOnce,
        );
        let button_title = self
            .string(P, t, "button_title")
            .map_or_else(|| "메뉴 보기".to_string(), |(s, _)| s);
        let noise = self.noise(P, t);
        let max_parts = self.max_parts(P, t);
        let corrections = self.boolean(P, t, "corrections").unwrap_or(true);
        Message {
            template,
            link,
            on_closed,
            delivery,
            button_title,
            noise,
            max_parts,
            corrections,
        }
    }

    /// `message.noise`: the kinds of noise to drop; all of them when unset.
    fn noise(&mut self, p: &str, t: &Table<'_>) -> crate::noise::Kinds {
        if get(t, "noise").is_none() {
            return crate::noise::all();
        }
        let mut kinds = crate::noise::Kinds::new();
        for (i, (word, span)) in self.strings(p, t, "noise").into_iter().enumerate() {
            match word.parse::<crate::noise::Kind>() {
                Ok(kind) => {
                    kinds.insert(kind);
                }
                Err(message) => self.problem(
                    &format!("{}[{i}]", join(p, "noise")),
                    span,
                    message,
                    Some("noise = [] keeps every line; the default drops all five kinds"),
                ),
            }
        }
        kinds
    }

    /// `message.max_parts`: a small non-negative integer, 2 when unset.
    fn max_parts(&mut self, p: &str, t: &Table<'_>) -> usize {
        let Some(value) = get(t, "max_parts") else {
            return crate::message::DEFAULT_MAX_PARTS;
        };
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => i.as_str().parse::<usize>().ok().filter(|n| *n <= 20),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let found = match value.get_ref() {
                DeValue::Integer(i) => i.as_str().to_string(),
                other => kind(other).to_string(),
            };
            self.problem(
                &join(p, "max_parts"),
                value.span(),
                format!("expected a whole number from 0 to 20, found {found}"),
                Some("max_parts = 2 (the default); 0 sends every line in as many parts as needed"),
            );
            crate::message::DEFAULT_MAX_PARTS
        })
    }

    /// `[highlight]`: favourite and avoided words.
    fn highlight(&mut self, root: &Table<'_>) -> crate::highlight::Highlight {
        const P: &str = "highlight";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(P, t, &["favorites", "avoid", "notify_me"]);
        let mut words = |key: &str| -> Vec<String> {
            let mut out = Vec::new();
            for (i, (word, span)) in self.strings(P, t, key).into_iter().enumerate() {
                if crate::highlight::normalize(&word).is_empty() {
                    self.problem(
                        &format!("highlight.{key}[{i}]"),
                        span,
                        "empty word".into(),
                        Some("write a dish or part of one, e.g. \"돈까스\""),
                    );
                } else {
                    out.push(word);
                }
            }
            out
        };
        let favorites = words("favorites");
        let avoid = words("avoid");
        let notify_me = self.boolean(P, t, "notify_me").unwrap_or(false);
        if notify_me
            && favorites.is_empty()
            && let Some(value) = get(t, "notify_me")
        {
            self.problem(
                "highlight.notify_me",
                value.span(),
                "notify_me is set but favorites is empty".into(),
                Some("add favorites = [\"돈까스\"] under [highlight]"),
            );
        }
        crate::highlight::Highlight {
            favorites,
            avoid,
            notify_me,
        }
    }

    fn recipients(
        &mut self,
        root: &Table<'_>,
        sources: &Option<Vec<scrape::Source>>,
        schedule: &Schedule,
    ) -> Recipients {
        const P: &str = "recipients";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(P, t, &["me", "friends", "group"]);
        let me = self.boolean(P, t, "me").unwrap_or(true);
        let mut friends: Vec<String> = Vec::new();
        for (i, (friend, span)) in self.strings(P, t, "friends").into_iter().enumerate() {
            let friend = friend.trim().to_string();
            if friend.is_empty() {
                self.problem(
                    &format!("recipients.friends[{i}]"),
                    span,
                    "empty name".into(),
                    Some("use a nickname or uuid from kbot friends"),
                );
            } else if friends.contains(&friend) {
                self.problem(
                    &format!("recipients.friends[{i}]"),
                    span,
                    format!("{friend:?} is listed twice"),
                    None,
                );
            } else {
                friends.push(friend);
            }
        }
        // Source names as written, also of a `[[source]]` left out for its own problem
        // (a lenient load): the group is not what is wrong then.
        let mut names: Vec<String> = raw_source_names(root);
        for source in sources.iter().flatten() {
            if !names.contains(&source.name) {
                names.push(source.name.clone());
            }
        }
        let groups = self.groups(t, &names, schedule);
        Recipients {
            me,
            friends,
            groups,
        }
    }

    /// `[[recipients.group]]`: each needs a name and friends; `meals` and `sources` must
    /// name meals and `[[source]]` names that exist.
    fn groups(&mut self, t: &Table<'_>, sources: &[String], schedule: &Schedule) -> Vec<Group> {
        let Some(value) = get(t, "group") else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.problem(
                "recipients.group",
                value.span(),
                "expected [[recipients.group]] tables".into(),
                Some("write each group as a [[recipients.group]] table with name and friends"),
            );
            return Vec::new();
        };
        let mut groups: Vec<Group> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("recipients.group[{i}]");
            let DeValue::Table(g) = item.get_ref() else {
                self.problem(
                    &p,
                    item.span(),
                    format!("expected a table, found {}", kind(item.get_ref())),
                    None,
                );
                continue;
            };
            self.unknown_keys(&p, g, &["name", "friends", "meals", "sources"]);
            let name = match self.string(&p, g, "name") {
                Some((name, span)) if name.trim().is_empty() => {
                    self.problem(&join(&p, "name"), span, "empty name".into(), None);
                    None
                }
                Some((name, span)) if groups.iter().any(|o| o.name == name.trim()) => {
                    self.problem(
                        &join(&p, "name"),
                        span,
                        format!("another group is named {:?}", name.trim()),
                        Some("give each group its own name: preview and history show it"),
                    );
                    None
                }
                Some((name, _)) => Some(name.trim().to_string()),
                // Not a string: said already.
                None if get(g, "name").is_some() => None,
                None => {
                    self.problem(
                        &p,
                        item.span(),
                        "name is required".into(),
                        Some("name = \"점심 B만\" (shown in preview, history and doctor)"),
                    );
                    None
                }
            };
            let mut friends: Vec<String> = Vec::new();
            for (j, (friend, span)) in self.strings(&p, g, "friends").into_iter().enumerate() {
                let friend = friend.trim().to_string();
                if friend.is_empty() {
                    self.problem(
                        &format!("{p}.friends[{j}]"),
                        span,
                        "empty name".into(),
                        Some("use a nickname or uuid from kbot friends"),
                    );
                } else if !friends.contains(&friend) {
                    friends.push(friend);
                }
            }
            if friends.is_empty()
                && get(g, "friends")
                    .is_none_or(|v| matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()))
            {
                self.problem(
                    &p,
                    get(g, "friends").map_or(item.span(), Spanned::span),
                    "the group has no friends".into(),
                    Some("friends = [\"nickname or uuid\"] (kbot friends lists them); or delete the group"),
                );
            }
            let mut meals: Vec<Meal> = Vec::new();
            let meal_words: Vec<&str> = Meal::ALL.iter().map(|m| m.as_str()).collect();
            let written = self.strings(&p, g, "meals");
            if written.is_empty()
                && get(g, "meals")
                    .is_some_and(|v| matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()))
            {
                self.empty_list(
                    &join(&p, "meals"),
                    g,
                    "meals",
                    "leave meals out for every scheduled meal",
                );
            }
            for (j, (word, span)) in written.into_iter().enumerate() {
                match word.parse::<Meal>() {
                    Ok(meal) => {
                        if !schedule.meals.is_empty() && !schedule.meals.contains_key(&meal) {
                            self.warnings.push(Problem {
                                key: format!("{p}.meals[{j}]"),
                                line_col: Some(line_col(self.text, span.start)),
                                message: format!(
                                    "{meal} is not scheduled: the group gets nothing for it"
                                ),
                                hint: Some(format!(
                                    "add {meal} = \"…\" under [schedule], or remove it here"
                                )),
                            });
                        }
                        if !meals.contains(&meal) {
                            meals.push(meal);
                        }
                    }
                    Err(err) => {
                        let hint = match closest(&word.to_lowercase(), &meal_words) {
                            Some(near) => format!("did you mean \"{near}\"?"),
                            None => "meals are breakfast, lunch and dinner".into(),
                        };
                        self.problem(
                            &format!("{p}.meals[{j}]"),
                            span,
                            err.to_string(),
                            Some(hint.as_str()),
                        );
                    }
                }
            }
            let mut wanted: Vec<String> = Vec::new();
            let written = self.strings(&p, g, "sources");
            if written.is_empty()
                && get(g, "sources")
                    .is_some_and(|v| matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()))
            {
                self.empty_list(
                    &join(&p, "sources"),
                    g,
                    "sources",
                    "leave sources out for every source",
                );
            }
            let known: Vec<&str> = sources.iter().map(String::as_str).collect();
            for (j, (source, span)) in written.into_iter().enumerate() {
                if known.contains(&source.as_str()) {
                    if !wanted.contains(&source) {
                        wanted.push(source);
                    }
                    continue;
                }
                let hint = match closest(&source, &known) {
                    Some(near) => format!("did you mean \"{near}\"?"),
                    None if known.is_empty() => "name a [[source]] by its name".into(),
                    None => format!(
                        "the sources are named {}",
                        known
                            .iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.problem(
                    &format!("{p}.sources[{j}]"),
                    span,
                    format!("no [[source]] is named {source:?}"),
                    Some(hint.as_str()),
                );
            }
            if let Some(name) = name {
                groups.push(Group {
                    name,
                    friends,
                    meals,
                    sources: wanted,
                });
            }
        }
        groups
    }

    /// An explicitly empty `meals` or `sources` of a group: it would get nothing.
    fn empty_list(&mut self, key: &str, t: &Table<'_>, field: &str, hint: &str) {
        let span = get(t, field).map_or(0..0, Spanned::span);
        self.problem(
            key,
            span,
            format!("{field} is empty: the group would get nothing"),
            Some(hint),
        );
    }

    fn schedule(&mut self, root: &Table<'_>) -> Schedule {
        const P: &str = "schedule";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(
            P,
            t,
            &[
                "breakfast",
                "lunch",
                "dinner",
                "catch_up",
                "recheck",
                "prefetch",
                "skip_dates",
                "skip_holidays",
            ],
        );
        let mut meals = BTreeMap::new();
        for meal in Meal::ALL {
            if let Some((expr, span)) = self.string(P, t, meal.as_str()) {
                match crate::schedule::parse_cron(&expr) {
                    Ok(cron) => {
                        self.cron_fires(&join(P, meal.as_str()), &expr, &cron, span);
                        meals.insert(meal, cron);
                    }
                    Err(e) => self.problem(
                        &join(P, meal.as_str()),
                        span,
                        format!("invalid cron {expr:?}: {e}"),
                        Some("crontab format: minute hour day month weekday, e.g. \"30 11 * * Mon-Fri\""),
                    ),
                }
            }
        }
        let catch_up = match self.string(P, t, "catch_up") {
            None => Duration::from_secs(45 * 60),
            Some((text, span)) => humantime::parse_duration(&text).unwrap_or_else(|e| {
                self.problem(
                    &join(P, "catch_up"),
                    span,
                    format!("invalid duration {text:?}: {e}"),
                    Some("e.g. \"45m\", \"1h 30m\", \"0s\""),
                );
                Duration::from_secs(45 * 60)
            }),
        };
        let recheck = match self.string(P, t, "recheck") {
            None => DEFAULT_RECHECK,
            Some((text, span)) => match humantime::parse_duration(&text) {
                Ok(d) if d >= Duration::from_secs(1) => d,
                Ok(_) => {
                    self.problem(
                        &join(P, "recheck"),
                        span,
                        format!("recheck {text:?} is shorter than a second"),
                        Some("e.g. \"5m\"; the page is fetched once per recheck"),
                    );
                    DEFAULT_RECHECK
                }
                Err(e) => {
                    self.problem(
                        &join(P, "recheck"),
                        span,
                        format!("invalid duration {text:?}: {e}"),
                        Some("e.g. \"5m\", \"90s\""),
                    );
                    DEFAULT_RECHECK
                }
            },
        };
        let prefetch = match self.string(P, t, "prefetch") {
            None => DEFAULT_PREFETCH,
            Some((text, span)) => match humantime::parse_duration(&text) {
                Ok(d) if d <= MAX_PREFETCH => d,
                Ok(_) => {
                    self.problem(
                        &join(P, "prefetch"),
                        span,
                        format!("prefetch {text:?} is longer than an hour"),
                        Some("a few minutes is enough, e.g. \"3m\"; \"0s\" turns it off"),
                    );
                    DEFAULT_PREFETCH
                }
                Err(e) => {
                    self.problem(
                        &join(P, "prefetch"),
                        span,
                        format!("invalid duration {text:?}: {e}"),
                        Some("e.g. \"3m\"; \"0s\" turns it off"),
                    );
                    DEFAULT_PREFETCH
                }
            },
        };
        let mut skip_dates = BTreeSet::new();
        if let Some(value) = get(t, "skip_dates") {
            match value.get_ref() {
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let text = match item.get_ref() {
                            DeValue::String(s) => s.to_string(),
                            DeValue::Datetime(d) => d.to_string(),
                            other => {
                                self.problem(
                                    &format!("schedule.skip_dates[{i}]"),
                                    item.span(),
                                    format!("expected a date, found {}", kind(other)),
                                    None,
                                );
                                continue;
                            }
                        };
                        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                            Ok(d) => {
                                skip_dates.insert(d);
                            }
                            Err(e) => self.problem(
                                &format!("schedule.skip_dates[{i}]"),
                                item.span(),
                                format!("invalid date {text:?}: {e}"),
                                Some("dates are YYYY-MM-DD"),
                            ),
                        }
                    }
                }
                other => self.problem(
                    "schedule.skip_dates",
                    value.span(),
                    format!("expected an array of dates, found {}", kind(other)),
                    None,
                ),
            }
        }
        let skip_holidays = self.boolean(P, t, "skip_holidays").unwrap_or(false);
        Schedule {
            meals,
            catch_up,
            recheck,
            prefetch,
            skip_dates,
            skip_holidays,
        }
    }
}

// ─── kind = "json" sources ───────────────────────────────────────────────────

impl Validator<'_> {
    /// `kind`: `None` for table/css sources (the default), else the mode of a json source
    /// (`None` inside when it has problems). Table-mode keys on such a source are problems.
    fn source_kind(
        &mut self,
        p: &str,
        t: &Table<'_>,
        span: Range<usize>,
    ) -> Option<Option<scrape::Mode>> {
        const JSON_KEYS: [&str; 5] = ["method", "form", "body", "filter", "secret_query"];
        const IMAGE_KEYS: [&str; 4] = ["image", "pdf", "post_link", "title"];
        let kind = self.string(p, t, "kind");
        let name = kind.as_ref().map_or("table", |(k, _)| k.as_str());
        let foreign: Vec<(&str, &str)> = match name {
            "json" => IMAGE_KEYS.iter().map(|k| (*k, "image")).collect(),
            "image" => JSON_KEYS
                .iter()
                .chain(&["secret_headers"])
                .map(|k| (*k, "json"))
                .collect(),
            _ => JSON_KEYS
                .iter()
                .chain(&["secret_headers"])
                .map(|k| (*k, "json"))
                .chain(IMAGE_KEYS.iter().map(|k| (*k, "image")))
                .collect(),
        };
        for (key, belongs) in foreign {
            if let Some(value) = get(t, key) {
                self.problem(
                    &join(p, key),
                    value.span(),
                    format!("{key} is for kind = \"{belongs}\" sources, not \"{name}\""),
                    Some(&format!(
                        "add kind = \"{belongs}\" to this [[source]], or remove {key}"
                    )),
                );
            }
        }
        let (kind, kind_span) = kind?;
        match kind.as_str() {
            "table" => return None,
            "json" | "image" => {}
            other => {
                self.problem(
                    &join(p, "kind"),
                    kind_span,
                    format!("{other:?} is not one of: table, json, image"),
                    None,
                );
                return Some(None);
            }
        }
        for key in ["table", "select"] {
            if let Some(value) = get(t, key) {
                self.problem(
                    &join(p, key),
                    value.span(),
                    format!("{key} is for table sources, not kind = {kind:?}"),
                    Some("json sources read with `filter`, image sources with `image`/`pdf`"),
                );
            }
        }
        if kind == "image" {
            return Some(self.image_spec(p, t, span));
        }
        Some(self.json_spec(p, t, span))
    }

    fn image_spec(&mut self, p: &str, t: &Table<'_>, span: Range<usize>) -> Option<scrape::Mode> {
        let mut selector = |key: &str| {
            let (value, span) = self.string(p, t, key)?;
            self.selector(&join(p, key), &value, span);
            Some(value)
        };
        let spec = scrape::image::ImageSpec {
            image: selector("image"),
            pdf: selector("pdf"),
            post_link: selector("post_link"),
            title: selector("title"),
        };
        if spec.image.is_none() && spec.pdf.is_none() {
            self.problem(
                p,
                span,
                "an image source needs `image` or `pdf` (a CSS selector on the post)".into(),
                Some("image = \".board_view .view_cont img\" (the image must be a public http(s) URL: Kakao fetches it)"),
            );
            return None;
        }
        Some(scrape::Mode::Image(spec))
    }

    fn json_spec(&mut self, p: &str, t: &Table<'_>, span: Range<usize>) -> Option<scrape::Mode> {
        use scrape::json::{Body, JsonSpec, Method};
        let method = self.choice(
            p,
            t,
            "method",
            &[("GET", Method::Get), ("POST", Method::Post)],
            Method::Get,
        );
        let headers = self.template_pairs(p, t, "headers");
        let form = get(t, "form").map(|_| self.template_pairs(p, t, "form"));
        let body = self.string(p, t, "body");
        let body = match (form, body) {
            (Some(_), Some((_, span))) => {
                self.problem(
                    &join(p, "body"),
                    span,
                    "set either form or body, not both".into(),
                    None,
                );
                None
            }
            (Some(fields), None) => Some(Body::Form(fields)),
            (None, Some((raw, span))) => {
                let sample = NaiveDate::from_ymd_opt(2026, 3, 4).expect("valid date");
                if let Err(e) = scrape::json::expand_body(&raw, sample) {
                    self.problem(&join(p, "body"), span, e.to_string(), None);
                }
                Some(Body::Raw(raw))
            }
            (None, None) => None,
        };
        let secret_query = self.env_names(p, t, "secret_query");
        let secret_headers = self.env_names(p, t, "secret_headers");
        let filter = match self.string(p, t, "filter") {
            Some((filter, fspan)) => match scrape::json::check_filter(&filter) {
                Ok(()) => Some(filter),
                Err(err) => {
                    let at = self.filter_offset(fspan.clone(), &filter, err.line, err.col);
                    self.problem(
                        &join(p, "filter"),
                        at.map_or(fspan, |at| at..at),
                        err.to_string(),
                        Some("try the filter with `jq -n --arg date 2026-06-01 --arg meal lunch --argjson weekday 1 -f filter.jq`"),
                    );
                    None
                }
            },
            None => {
                self.problem(
                    p,
                    span,
                    "a json source needs a jq `filter`".into(),
                    Some("filter = '''…''' (see docs/json-and-image-sources.md)"),
                );
                None
            }
        };
        Some(scrape::Mode::Json(JsonSpec {
            method,
            headers,
            body,
            secret_query,
            secret_headers,
            filter: filter?,
        }))
    }

    /// Where (line, col) of a filter sits in the file, when the TOML string is literal
    /// (`'…'` or `'''…'''`, no escapes to shift it); `None` for other strings.
    fn filter_offset(
        &self,
        span: Range<usize>,
        filter: &str,
        line: usize,
        col: usize,
    ) -> Option<usize> {
        let raw = self.text.get(span.clone())?;
        let skip = if let Some(rest) = raw.strip_prefix("'''") {
            3 + if rest.starts_with("\r\n") {
                2
            } else {
                usize::from(rest.starts_with('\n'))
            }
        } else if raw.starts_with('\'') {
            1
        } else {
            return None;
        };
        Some(span.start + skip + offset_of(filter, line, col))
    }

    /// A table of string templates (`headers`, `form`), placeholders checked.
    fn template_pairs(&mut self, p: &str, t: &Table<'_>, key: &str) -> Vec<(String, String)> {
        let prefix = join(p, key);
        let Some(table) = self.table(p, t, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, _) in table.iter() {
            let name = name.get_ref().to_string();
            if let Some((value, span)) = self.string(&prefix, table, &name) {
                self.template(&join(&prefix, &name), &value, span);
                out.push((name, value));
            }
        }
        out
    }

    /// A table of `name = "ENV_VAR"` secrets: the values are environment variable names.
    fn env_names(&mut self, p: &str, t: &Table<'_>, key: &str) -> Vec<(String, String)> {
        let prefix = join(p, key);
        let Some(table) = self.table(p, t, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, _) in table.iter() {
            let name = name.get_ref().to_string();
            if let Some((var, span)) = self.string(&prefix, table, &name) {
                let valid = !var.is_empty()
                    && !var.starts_with(|c: char| c.is_ascii_digit())
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    out.push((name, var));
                } else {
                    self.problem(
                        &join(&prefix, &name),
                        span,
                        // Never echo it: it may be the secret itself.
                        "the value is not an environment variable name".into(),
                        Some("name the variable that holds the secret, e.g. KEY = \"NEIS_API_KEY\"; never the secret itself"),
                    );
                }
            }
        }
        out
    }

    fn template(&mut self, key: &str, value: &str, span: Range<usize>) {
        let sample = NaiveDate::from_ymd_opt(2026, 3, 4).expect("valid date");
        if let Err(e) = scrape::expand(value, sample) {
            self.problem(key, span, e.to_string(), None);
        }
    }
}

/// The byte offset of 1-based (line, col in characters) in `text`.
fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[start.min(text.len())..];
    start
        + rest
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

fn get<'v, 'a>(table: &'v Table<'a>, key: &str) -> Option<&'v Value<'a>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// The `name` of every `[[source]]` table that has one, as written.
fn raw_source_names(root: &Table<'_>) -> Vec<String> {
    let Some(DeValue::Array(items)) = get(root, "source").map(Spanned::get_ref) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item.get_ref() {
            DeValue::Table(t) => match get(t, "name").map(Spanned::get_ref) {
                Some(DeValue::String(name)) => Some(name.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A problem of a `[[source]]` table (or of there being none).
/// A CSS-mode source without a selector for a meal the schedule sends: every such run
/// would find nothing there and warn that the page may have changed.
fn unselected_meals(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        let scrape::Mode::Css { selectors } = &source.rule.mode else {
            continue;
        };
        for meal in config.schedule.meals.keys() {
            if !selectors.contains_key(meal) {
                out.push(Problem {
                    key: format!("source[{i}].select"),
                    line_col: None,
                    message: format!(
                        "no selector for {meal}, which [schedule] sends: each {meal} run would find nothing on {:?} and warn you that the page may have changed",
                        source.name
                    ),
                    hint: Some(format!(
                        "add {meal} = \"…\" under [source.select] (kbot scrape --find shows the page's elements), or remove schedule.{meal}"
                    )),
                });
            }
        }
    }
    out
}

fn is_source_problem(problem: &Problem) -> bool {
    problem.key == "source" || problem.key.starts_with("source[")
}

/// A problem of one `[schedule]` entry (a cron typo): the commands that do not scrape or
/// schedule (`status`, `friends`, `history`, `logout`) go on with a warning, the meal left
/// out; a running daemon keeps the schedule it has.
fn is_schedule_problem(problem: &Problem) -> bool {
    problem.key.starts_with("schedule.")
}

/// A bare path names a file: the file exists, or, with `{date…}` placeholders, its
/// directory does.
fn names_a_file(path: &Path, raw: &str) -> bool {
    if raw.contains('{') {
        path.parent().is_some_and(Path::is_dir)
    } else {
        path.is_file()
    }
}

/// The known key nearest to a misspelt one, if it is close (at most 2 edits, or a prefix).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) || (key.len() >= 3 && k.starts_with(key)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The CSS engine's message in plain words (it reports some mistakes as "Unexpected error
/// occurred. Please report this to the developer" and a Rust type name).
fn plain_selector_error(message: &str) -> String {
    let Some((_, kind)) = message.split_once("Please report this to the developer") else {
        return match message.trim() {
            "Unexpected EOL" => "it ends too early (an unclosed [ or ( ?)".into(),
            "Token was not expected" => "a character there does not belong in a selector".into(),
            other => other.to_lowercase(),
        };
    };
    let kind = kind.trim();
    let name: String = kind
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let detail = kind[name.len()..]
        .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace() || c == ',')
        .to_string();
    match name.as_str() {
        "EmptySelector" => "nothing to select: a tag, .class or #id must come first (a class name cannot start with a digit)".into(),
        "DanglingCombinator" => "it ends with >, + or ~ and nothing after it".into(),
        "UnsupportedPseudoClassOrElement" => format!(
            "the pseudo-class {}is not supported (:nth-child(), :first-child, :last-child, :not() and :has() are)",
            if detail.is_empty() { String::new() } else { format!("{detail} ") }
        ),
        "ClassNeedsIdent" => "a class name must follow the dot, as in .menu".into(),
        "NoIdentForPseudo" => "a name must follow the colon, as in :first-child".into(),
        "NonCompoundSelector" => "a simple selector was expected here".into(),
        _ => {
            // "UnexpectedIdent" → "unexpected ident".
            let mut words = String::new();
            for c in name.chars() {
                if c.is_uppercase() && !words.is_empty() {
                    words.push(' ');
                }
                words.push(c.to_ascii_lowercase());
            }
            if detail.is_empty() { words } else { format!("{words} {detail}") }
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Where kbot reads its configuration and keeps its data.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The configuration file.
    pub config: PathBuf,
    /// The data directory: ledger, file secret store, locks.
    pub data_dir: PathBuf,
}

impl Paths {
    /// The config path is `--config`, else `KBOT_CONFIG`, else the platform config dir; the
    /// data dir is `--data-dir`, else `KBOT_DATA_DIR`, else the platform data dir. `env` is
    /// passed in so tests don't touch the process environment.
    pub fn resolve(
        flag: Option<&Path>,
        data_flag: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Paths {
        let config = flag
            .map(Path::to_path_buf)
            .or_else(|| {
                env("KBOT_CONFIG")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| {
                dirs::config_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("kbot")
                    .join("config.toml")
            });
        let data_dir = data_flag
            .map(Path::to_path_buf)
            .or_else(|| {
                env("KBOT_DATA_DIR")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| {
                dirs::data_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("kbot")
            });
        Paths { config, data_dir }
    }
}

/// Write the commented example to `path` (creating its directory); refuses to overwrite
/// unless `force`.
///
/// With `force`, an existing file is first copied to `<name>.bak` (a `.bak` already there
/// is replaced), so a config overwritten by mistake can be had back; returns that path.
pub fn init(path: &Path, force: bool) -> Result<Option<PathBuf>, crate::Error> {
    if path.exists() && !force {
        return Err(Error::Exists {
            path: path.to_path_buf(),
        }
        .into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::error::PathIo::new("cannot create directory", dir, e))?;
    }
    let backup = if path.is_file() {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".bak");
        let backup = path.with_file_name(name);
        std::fs::copy(path, &backup)
            .map_err(|e| crate::error::PathIo::new("cannot back up the config to", &backup, e))?;
        Some(backup)
    } else {
        None
    };
    std::fs::write(path, EXAMPLE)
        .map_err(|e| crate::error::PathIo::new("cannot write", path, e))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match Config::from_toml(text, Some(Path::new("/etc/kbot/config.toml"))) {
            Err(Error::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    const MINIMAL: &str =
        "[[source]]\nname = \"식당\"\nurl = \"https://example.ac.kr/menu\"\ntable = \"table\"\n";

    #[test]
    fn the_embedded_example_is_valid_and_complete() {
        let config = Config::from_toml(EXAMPLE, None).expect("example parses");
        assert_eq!(config.timezone, chrono_tz::Asia::Seoul);
        assert_eq!(config.schedule.meals.len(), 3);
        assert!(!config.sources.is_empty());
        assert_eq!(config.schedule.catch_up, Duration::from_secs(45 * 60));
        assert!(config.recipients.me);
    }

    #[test]
    fn a_minimal_file_gets_defaults() {
        let config = Config::from_toml(MINIMAL, None).unwrap();
        assert_eq!(config.kakao.auth_url.as_str(), "https://kauth.kakao.com/");
        assert_eq!(config.message.template, Template::Text);
        assert_eq!(config.message.delivery, Delivery::AtLeastOnce);
        assert!(config.schedule.meals.is_empty());
        assert!(config.kakao.require_client_id().is_err());
    }

    #[test]
    fn all_problems_are_reported_at_once_with_line_and_column() {
        let text = format!(
            "timezone = \"Mars/Olympus\"\ncolour = \"blue\"\n{MINIMAL}[schedule]\nlunch = \"61 11 * * *\"\n"
        );
        let found = problems(&text);
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["timezone", "colour", "schedule.lunch"]);
        assert_eq!(found[0].line_col, Some((1, 12)));
        assert_eq!(found[1].line_col, Some((2, 1)));
        assert_eq!(found[2].line_col, Some((8, 9)));
        let err = Config::from_toml(&text, Some(Path::new("/etc/kbot/config.toml"))).unwrap_err();
        assert_eq!(err.exit(), Exit::Config);
        assert!(
            err.to_string()
                .contains("/etc/kbot/config.toml:8:9: schedule.lunch: invalid cron")
        );
    }

    const TWO_SOURCES: &str = "[[source]]\nname = \"A식당\"\nurl = \"https://a.kr\"\ntable = \"table\"\n[[source]]\nname = \"B식당\"\nurl = \"https://b.kr\"\ntable = \"table\"\n[schedule]\nlunch = \"0 30 11 * * *\"\ndinner = \"0 30 17 * * *\"\n";

    #[test]
    fn a_group_gets_its_meals_and_sources_and_a_friend_listed_twice_is_fine() {
        let text = format!(
            "{TWO_SOURCES}[recipients]\nfriends = [\"이서연\"]\n[[recipients.group]]\nname = \" 점심 B만 \"\nfriends = [\"김민준\", \"김민준\", \"이서연\"]\nmeals = [\"점심\"]\nsources = [\"B식당\"]\n[[recipients.group]]\nname = \"전부\"\nfriends = [\"fuuid7\"]\n"
        );
        let config = Config::from_toml(&text, None).unwrap();
        let groups = &config.recipients.groups;
        assert_eq!(groups[0].name, "점심 B만");
        assert_eq!(groups[0].friends, ["김민준", "이서연"]);
        assert_eq!(groups[0].meals, [Meal::Lunch]);
        assert_eq!(groups[0].sources, ["B식당"]);
        assert!(groups[0].has_meal(Meal::Lunch) && !groups[0].has_meal(Meal::Dinner));
        assert!(groups[1].has_meal(Meal::Dinner) && groups[1].has_source("A식당"));
        assert!(config.message.corrections, "corrections are on by default");
    }

    #[test]
    fn a_group_naming_an_unknown_source_or_meal_or_nobody_is_an_error_with_its_line() {
        let text = format!(
            "{TWO_SOURCES}[message]\ncorrections = false\n[recipients]\n[[recipients.group]]\nname = \"점심 B만\"\nfriends = [\"김민준\"]\nmeals = [\"lunhc\"]\nsources = [\"B 식당\"]\n[[recipients.group]]\nname = \"빈\"\nfriends = []\n[[recipients.group]]\nfriends = [\"x\"]\ncolour = 1\n"
        );
        let found = problems(&text);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        let hints: Vec<Option<&str>> = found.iter().map(|p| p.hint.as_deref()).collect();
        assert_eq!(
            shown,
            [
                "18:10: recipients.group[0].meals[0]: unknown meal \"lunhc\": expected breakfast, lunch or dinner (아침, 점심, 저녁)",
                "19:12: recipients.group[0].sources[0]: no [[source]] is named \"B 식당\"",
                "22:11: recipients.group[1]: the group has no friends",
                "23:1: recipients.group[2]: name is required",
                "25:1: recipients.group[2].colour: unknown key",
            ],
            "{found:?}"
        );
        assert_eq!(hints[0], Some("did you mean \"lunch\"?"));
        assert_eq!(hints[1], Some("did you mean \"B식당\"?"));
    }

    #[test]
    fn bad_values_name_their_keys() {
        let text = "[[source]]\nurl = \"ftp://x/y\"\ntable = \"td[\"\nexclude = [\"(\"]\nencoding = \"klingon\"\nunlabeled = \"brunch\"\n[message]\ntemplate = \"card\"\n[schedule]\ncatch_up = \"soon\"\nskip_dates = [\"2026-13-01\"]\n[recipients]\nfriends = [\"\"]\n";
        let keys: Vec<String> = problems(text).into_iter().map(|p| p.key).collect();
        for key in [
            "source[0].url",
            "source[0].table",
            "source[0].exclude[0]",
            "source[0].encoding",
            "source[0].unlabeled",
            "message.template",
            "schedule.catch_up",
            "schedule.skip_dates[0]",
            "recipients.friends[0]",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn recheck_and_prefetch_default_and_reject_what_cannot_work() {
        let base = "[[source]]\nurl = \"https://x.kr/menu\"\ntable = \"table\"\n[schedule]\n";
        let config = Config::from_toml(base, None).unwrap();
        assert_eq!(config.schedule.recheck, DEFAULT_RECHECK);
        assert_eq!(config.schedule.prefetch, DEFAULT_PREFETCH);
        let set = format!("{base}recheck = \"90s\"\nprefetch = \"0s\"\n");
        let config = Config::from_toml(&set, None).unwrap();
        assert_eq!(config.schedule.recheck, Duration::from_secs(90));
        assert_eq!(config.schedule.prefetch, Duration::ZERO);
        let bad = format!("{base}recheck = \"0s\"\nprefetch = \"2h\"\n");
        let found = problems(&bad);
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["schedule.recheck", "schedule.prefetch"], "{found:?}");
        assert!(
            found
                .iter()
                .all(|p| p.line_col.is_some() && p.hint.is_some())
        );
    }

    #[test]
    fn a_missing_source_and_a_syntax_error_are_reported() {
        assert_eq!(problems("timezone = \"Asia/Seoul\"\n")[0].key, "source");
        let syntax = problems("timezone = \n");
        assert_eq!(syntax[0].line_col.map(|(l, _)| l), Some(1));
        assert_eq!(syntax.last().map(|p| p.key.as_str()), Some("source"));
    }

    #[test]
    fn a_relative_source_path_resolves_against_the_config_file() {
        let text = "[[source]]\nurl = \"pages/menu-{date:%Y%m%d}.html\"\ntable = \"table\"\n";
        let config = Config::from_toml(text, Some(Path::new("/srv/kbot/config.toml"))).unwrap();
        assert_eq!(
            config.sources[0].url,
            "file:///srv/kbot/pages/menu-{date:%Y%m%d}.html"
        );
        assert_eq!(config.sources[0].name, "menu");
    }

    #[test]
    fn redirect_uri_must_be_loopback_with_a_port() {
        let text = format!("[kakao]\nredirect_uri = \"http://example.com/cb\"\n{MINIMAL}");
        assert_eq!(problems(&text)[0].key, "kakao.redirect_uri");
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        /// Lines that look like kbot config: real keys and sections with random values,
        /// so the walker sees every type in every place, not only syntax errors.
        fn line() -> impl Strategy<Value = String> {
            let key = prop::sample::select(vec![
                "timezone",
                "client_id",
                "redirect_uri",
                "auth_url",
                "store",
                "name",
                "url",
                "encoding",
                "table",
                "exclude",
                "unlabeled",
                "closed",
                "template",
                "link",
                "on_closed",
                "delivery",
                "me",
                "friends",
                "breakfast",
                "lunch",
                "dinner",
                "catch_up",
                "skip_dates",
                "lunch",
                "colour",
            ]);
            let value = prop_oneof![
                "\"[^\"\\\\\n]{0,20}\"",
                any::<i64>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
                Just("[\"a\", 1, true]".to_string()),
                Just("{ x = 1 }".to_string()),
                Just("2026-12-25".to_string()),
                "[ -~]{0,12}",
            ];
            let section = prop::sample::select(vec![
                "[kakao]",
                "[secrets]",
                "[[source]]",
                "[source.select]",
                "[message]",
                "[recipients]",
                "[schedule]",
                "[[schedule]]",
                "[source]",
            ]);
            prop_oneof![
                3 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
                1 => section.prop_map(str::to_string),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_text_is_an_error_or_a_config_never_a_panic(text in "\\PC{0,400}") {
                let _ = Config::from_toml(&text, Some(Path::new("/x/config.toml")));
            }

            #[test]
            fn config_shaped_text_is_an_error_or_a_config_never_a_panic(
                lines in prop::collection::vec(line(), 0..30)
            ) {
                let text = lines.join("\n");
                if let Err(Error::Invalid { problems, .. }) = Config::from_toml(&text, None) {
                    // Every problem says what it is about.
                    prop_assert!(problems.iter().all(|p| !p.message.is_empty()));
                }
            }
        }
    }

    #[test]
    fn paths_prefer_flag_then_env() {
        let env = |k: &str| match k {
            "KBOT_CONFIG" => Some("/env/config.toml".to_string()),
            "KBOT_DATA_DIR" => Some("/env/data".to_string()),
            _ => None,
        };
        let p = Paths::resolve(Some(Path::new("/flag.toml")), None, env);
        assert_eq!(p.config, Path::new("/flag.toml"));
        assert_eq!(p.data_dir, Path::new("/env/data"));
        assert_eq!(
            Paths::resolve(None, None, env).config,
            Path::new("/env/config.toml")
        );
        let flagged = Paths::resolve(None, Some(Path::new("/flag/data")), env);
        assert_eq!(flagged.data_dir, Path::new("/flag/data"));
    }

    #[test]
    fn a_near_miss_key_gets_did_you_mean() {
        let found = problems(&format!("{MINIMAL}[message]\non_close = \"skip\"\n"));
        assert_eq!(found[0].key, "message.on_close");
        assert_eq!(found[0].hint.as_deref(), Some("did you mean `on_closed`?"));
        let far = problems(&format!("{MINIMAL}[message]\ncolour = \"red\"\n"));
        assert!(
            far[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("known keys here:")
        );
    }

    #[test]
    fn selector_errors_are_in_plain_words() {
        for (selector, words) in [
            ("td >", "ends with >, + or ~"),
            ("td:foo", "pseudo-class"),
            (".1abc", "a class name cannot start with a digit"),
            ("td[", "ends too early"),
        ] {
            let text = format!("[[source]]\nurl = \"https://x.kr\"\ntable = {selector:?}\n");
            let found = problems(&text);
            let message = &found[0].message;
            assert!(message.contains(words), "{selector}: {message}");
            assert!(
                !message.contains("report this to the developer"),
                "{message}"
            );
            assert!(!message.contains("Selector"), "{message}");
        }
    }

    #[test]
    fn a_cron_line_that_never_fires_is_an_error_and_one_every_second_a_warning() {
        let never = problems(&format!("{MINIMAL}[schedule]\nlunch = \"0 12 30 2 *\"\n"));
        assert_eq!(never[0].key, "schedule.lunch");
        assert!(never[0].message.contains("never fires"), "{never:?}");
        let config = Config::from_toml(
            &format!("{MINIMAL}[schedule]\nlunch = \"* * * * * *\"\n"),
            None,
        )
        .unwrap();
        assert_eq!(config.warnings.len(), 1);
        assert!(
            config.warnings[0]
                .message
                .contains("more than once an hour")
        );
        let hourly = Config::from_toml(
            &format!("{MINIMAL}[schedule]\nlunch = \"0 * * * *\"\n"),
            None,
        )
        .unwrap();
        assert!(hourly.warnings.is_empty());
    }

    #[test]
    fn a_redirect_uri_on_port_0_is_an_error() {
        let found = problems(&format!(
            "[kakao]\nredirect_uri = \"http://localhost:0/callback\"\n{MINIMAL}"
        ));
        assert_eq!(found[0].key, "kakao.redirect_uri");
    }

    #[test]
    fn a_css_source_without_a_scheduled_meals_selector_is_a_warning_naming_the_meal() {
        let text = "[[source]]\nname = \"식당\"\nurl = \"https://example.ac.kr/menu\"\n[source.select]\nlunch = \"div.lunch\"\n[schedule]\nbreakfast = \"30 7 * * Mon-Fri\"\nlunch = \"30 11 * * Mon-Fri\"\n";
        let config = Config::from_toml(text, None).unwrap();
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("source[0].select"), "{warnings:?}");
        assert!(
            warnings[0].contains("no selector for breakfast"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_schedule_typo_is_a_warning_in_the_lenient_load_and_an_error_otherwise() {
        let text = format!("{MINIMAL}[schedule]\nlunch = \"30 11 * * 1-Fry\"\n");
        let config = Config::from_toml_lenient(&text, None).unwrap();
        assert!(!config.schedule.meals.contains_key(&Meal::Lunch));
        assert!(
            config.warnings.iter().any(|w| w.key == "schedule.lunch"
                && w.message.contains("unknown weekday \"Fry\"")),
            "{:?}",
            config.warnings
        );
        assert!(Config::from_toml(&text, None).is_err());
    }

    #[test]
    fn the_lenient_load_keeps_going_past_bad_sources() {
        let text = "[[source]]\nurl = \"https://x.kr\"\ntable = \"td >\"\n[recipients]\nfriends = [\"a\"]\n";
        assert!(Config::from_toml(text, None).is_err());
        let config = Config::from_toml_lenient(text, None).unwrap();
        assert!(config.sources.is_empty());
        assert_eq!(config.recipients.friends, ["a"]);
        assert_eq!(config.warnings[0].key, "source[0].table");
        let none = Config::from_toml_lenient("timezone = \"Asia/Seoul\"\n", None).unwrap();
        assert_eq!(none.warnings[0].key, "source");
        // Other problems still fail.
        assert!(Config::from_toml_lenient("timezone = \"Mars\"\n", None).is_err());
    }

    #[test]
    fn the_example_is_flagged_as_not_set_yet() {
        let config = Config::from_toml(EXAMPLE, None).unwrap();
        let (errors, warnings) = not_yet_set(&config);
        assert_eq!(errors[0].key, "source[0].url");
        assert!(errors[0].message.starts_with("not set yet"));
        assert_eq!(warnings[0].key, "kakao.client_id");
    }
}
