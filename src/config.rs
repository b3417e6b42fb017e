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

/// `message.template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Kakao's text template (200 characters shown), split into numbered parts.
    Text,
    /// Kakao's list template: a header and 2–3 entries per part.
    List,
}

/// `message.on_closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClosed {
    /// Send a short "closed today" notice.
    Notify,
    /// Send nothing.
    Skip,
}

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
}

/// `[recipients]`.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    /// Send to the logged-in user's own chat.
    pub me: bool,
    /// Friends by nickname or uuid, as listed by `kbot friends`.
    pub friends: Vec<String>,
}

/// `[schedule]`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// One cron line per scheduled meal.
    pub meals: BTreeMap<Meal, croner::Cron>,
    /// A missed slot is still sent when kbot wakes within this window.
    pub catch_up: Duration,
    /// Dates on which nothing is sent.
    pub skip_dates: BTreeSet<NaiveDate>,
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
        }
    }
}

/// Read and validate the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| {
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
    })?;
    Config::from_toml(&text, Some(path))
}

impl Config {
    /// Parse and validate configuration text. `path` names the file in errors and anchors
    /// relative source paths; nothing is read from disk.
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Config, Error> {
        let mut v = Validator {
            text,
            problems: Vec::new(),
            base_dir: path.and_then(Path::parent).map(Path::to_path_buf),
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
        problems.sort_by_key(|p| p.line_col.unwrap_or((usize::MAX, 0)));
        match config {
            Some(mut config) if problems.is_empty() => {
                config.path = path.map(Path::to_path_buf);
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
            self.schedule.skip_dates.clone(),
        )
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
    base_dir: Option<PathBuf>,
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
                let hint = format!("known keys here: {}", known.join(", "));
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
        let kakao = self.kakao(root);
        let secret_store = self.secrets(root);
        let sources = self.sources(root);
        let message = self.message(root);
        let recipients = self.recipients(root);
        let schedule = self.schedule(root);
        Some(Config {
            path: None,
            timezone,
            kakao,
            secret_store,
            sources: sources?,
            message,
            recipients,
            schedule,
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
            if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") || redirect_uri.port().is_none()
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
                    if let Some(source) = self.source(&prefix, t, item.span()) {
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
                "undated",
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
        let table = self.string(p, t, "table");
        let select = self.table(p, t, "select");
        let mode = match (table, select) {
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
        })
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

    fn selector(&mut self, key: &str, selector: &str, span: Range<usize>) {
        if let Err(message) = scrape::check_selector(selector) {
            self.problem(
                key,
                span,
                format!("invalid CSS selector {selector:?}: {message}"),
                None,
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
            &["template", "link", "on_closed", "delivery", "button_title"],
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
        Message {
            template,
            link,
            on_closed,
            delivery,
            button_title,
        }
    }

    fn recipients(&mut self, root: &Table<'_>) -> Recipients {
        const P: &str = "recipients";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(P, t, &["me", "friends"]);
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
        Recipients { me, friends }
    }

    fn schedule(&mut self, root: &Table<'_>) -> Schedule {
        const P: &str = "schedule";
        let empty = Table::default();
        let t = self.table("", root, P).unwrap_or(&empty);
        self.unknown_keys(
            P,
            t,
            &["breakfast", "lunch", "dinner", "catch_up", "skip_dates"],
        );
        let mut meals = BTreeMap::new();
        for meal in Meal::ALL {
            if let Some((expr, span)) = self.string(P, t, meal.as_str()) {
                match crate::schedule::parse_cron(&expr) {
                    Ok(cron) => {
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
        Schedule {
            meals,
            catch_up,
            skip_dates,
        }
    }
}

fn get<'v, 'a>(table: &'v Table<'a>, key: &str) -> Option<&'v Value<'a>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
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
pub fn init(path: &Path, force: bool) -> Result<(), crate::Error> {
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
    std::fs::write(path, EXAMPLE)
        .map_err(|e| crate::error::PathIo::new("cannot write", path, e))?;
    Ok(())
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
}
