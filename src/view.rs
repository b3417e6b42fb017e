//! How runs and the ledger look to people: the `send-now` summary, `history`, `status`,
//! `friends` and `doctor`, with columns that line up by display width (a Hangul syllable
//! takes two columns).
//!
//! Pure text from values; the commands in `cli` gather the values, print what these
//! functions return and map errors. `--json` output is built here too: the value each
//! command prints (`scrape_json`, `parts_json`, `sent_json`, …), written by [`pretty`].

use chrono::NaiveDate;

use crate::deliver;
use crate::ledger::HistoryRow;
use crate::meal::Meal;
use crate::terminal::inert;

/// A per-recipient account of a run, for people.
pub fn summary(summary: &deliver::Summary) -> String {
    let run = &summary.run;
    let mut text = format!(
        "{}: {} part{}\n",
        crate::message::title(run.date, run.meal),
        run.rendered.parts.len(),
        if run.rendered.parts.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    for report in &run.reports {
        if let Some(fix) = source_fix(&report.outcome, run.date, run.meal) {
            text.push_str(&format!(
                "  source {}: {}{}\n    hint: {fix}\n",
                report.name,
                report.outcome.as_str(),
                report
                    .detail
                    .as_deref()
                    .map(|d| format!(" — {}", inert(d)))
                    .unwrap_or_default()
            ));
        }
    }
    if run.rendered.parts.is_empty() {
        let why: Vec<&str> = run
            .reports
            .iter()
            .map(|r| outcome_words(r.outcome.as_str()))
            .collect();
        text.push_str(&format!("  nothing to send ({})\n", why.join("; ")));
    }
    // One line per recipient: the worst outcome of its parts.
    let who_width = summary
        .deliveries
        .iter()
        .map(|d| match &d.nickname {
            Some(n) if d.recipient != deliver::ME => width(n) + width(&d.recipient) + 3,
            _ => width(&d.recipient),
        })
        .max()
        .unwrap_or(0);
    let mut seen: Vec<&str> = Vec::new();
    for d in &summary.deliveries {
        if seen.contains(&d.recipient.as_str()) {
            continue;
        }
        seen.push(&d.recipient);
        let rows: Vec<&deliver::Delivered> = summary
            .deliveries
            .iter()
            .filter(|x| x.recipient == d.recipient)
            .collect();
        let who = match &d.nickname {
            Some(n) if d.recipient != deliver::ME => format!("{n} ({})", d.recipient),
            _ => d.recipient.clone(),
        };
        let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
        let mut line = format!("  {}", pad(&who, who_width));
        for status in ["sent", "skipped", "failed", "unknown", "not_sent"] {
            let n = count(status);
            if n > 0 {
                let label = match status {
                    "skipped" => "already sent",
                    "not_sent" => "not sent",
                    _ => status,
                };
                line.push_str(&format!(" {label} {n}/{}", rows.len()));
            }
        }
        if let Some(bad) = rows.iter().find(|r| r.is_problem()) {
            line.push_str(&format!(
                " — {}{}",
                bad.code.map(|c| format!("{c}: ")).unwrap_or_default(),
                inert(bad.detail.as_deref().unwrap_or(""))
            ));
        }
        text.push_str(&line);
        text.push('\n');
    }
    for u in &summary.unresolved {
        text.push_str(&format!("  {}\n", u.describe()));
    }
    // One fix goes on the error's `hint:` line; several are listed here.
    if summary.hint().is_none() {
        for hint in summary.hints() {
            text.push_str(&format!("  hint: {hint}\n"));
        }
    }
    text
}

/// `history` for people: one block per slot (newest first) under a heading that counts
/// the recipients by outcome, then one line per recipient and outcome, problems first,
/// with the parts it covers and Kakao's code. Columns line up by display width (Hangul
/// takes two columns). Pure.
pub fn history(rows: &[HistoryRow]) -> String {
    history_in(rows, chrono_tz::UTC)
}

/// [`history`] with each slot's send time (its last `sent` row) shown in `tz`:
/// `sent 11:30`, or `sent 04-11 09:02` when it went out on another day than the menu's.
pub fn history_in(rows: &[HistoryRow], tz: chrono_tz::Tz) -> String {
    use crate::ledger::Status;
    // Slots in the order met (newest first); inside a slot, rows oldest first = send order.
    let mut slots: Vec<(NaiveDate, Meal, Vec<&crate::ledger::HistoryRow>)> = Vec::new();
    for row in rows {
        match slots
            .iter_mut()
            .find(|(d, m, _)| *d == row.date && *m == row.meal)
        {
            Some((_, _, slot)) => slot.insert(0, row),
            None => slots.push((row.date, row.meal, vec![row])),
        }
    }
    struct Line {
        status: Status,
        recipient: String,
        who: String,
        parts: Vec<u32>,
        why: String,
    }
    let severity = |s: Status| match s {
        Status::Failed => 0,
        Status::Unknown => 1,
        Status::Pending => 2,
        Status::Missed => 3,
        Status::Sent => 4,
    };
    let mut blocks: Vec<(String, Option<String>, Vec<Line>)> = Vec::new();
    for (date, meal, slot) in &slots {
        let mut lines: Vec<Line> = Vec::new();
        let mut heading = format!(
            "{date} {:<9} {}",
            meal.as_str(),
            slot_verdict(slot, tz, false)
        );
        for row in slot {
            let (Some(recipient), Some(part), Some(status)) =
                (&row.recipient, row.part, row.status)
            else {
                continue;
            };
            // The nickname of any row of this recipient: an older row may lack it.
            let nickname = slot
                .iter()
                .filter(|r| r.recipient.as_ref() == Some(recipient))
                .find_map(|r| r.nickname.as_ref());
            let who = match nickname {
                Some(nick) if recipient != deliver::ME => format!("{nick} ({recipient})"),
                _ => recipient.clone(),
            };
            // A warning to me is not a menu part: its own line.
            let who = match row.kind {
                Some(crate::ledger::Kind::Warning) => format!("{who} (warning)"),
                Some(crate::ledger::Kind::Alert) => format!("{who} (alert)"),
                Some(crate::ledger::Kind::Correction) => format!("{who} (correction)"),
                _ => who,
            };
            match lines
                .iter_mut()
                .find(|l| l.who == who && l.status == status)
            {
                Some(line) => line.parts.push(part),
                None => lines.push(Line {
                    status,
                    recipient: recipient.clone(),
                    who,
                    parts: vec![part],
                    why: match (row.code, &row.detail) {
                        // Kakao's code once, even when the detail quotes it.
                        (Some(code), Some(detail)) if detail.contains(&code.to_string()) => {
                            inert(detail)
                        }
                        (Some(code), Some(detail)) => format!("[{code}] {}", inert(detail)),
                        (Some(code), None) => format!("[{code}]"),
                        (None, Some(detail)) => inert(detail),
                        (None, None) => String::new(),
                    },
                }),
            }
        }
        if !lines.is_empty() {
            // Each recipient counts once, by its worst outcome (its warnings included).
            let mut worst: Vec<(&str, Status)> = Vec::new();
            for line in &lines {
                match worst.iter_mut().find(|(w, _)| *w == line.recipient) {
                    Some((_, s)) if severity(line.status) < severity(*s) => *s = line.status,
                    Some(_) => {}
                    None => worst.push((&line.recipient, line.status)),
                }
            }
            let counts: Vec<String> = [
                Status::Sent,
                Status::Failed,
                Status::Unknown,
                Status::Pending,
            ]
            .iter()
            .filter_map(|status| {
                let n = worst.iter().filter(|(_, s)| s == status).count();
                (n > 0).then(|| format!("{n} {status}"))
            })
            .collect();
            heading.push_str(&format!(
                " · {} recipient{}: {}",
                worst.len(),
                if worst.len() == 1 { "" } else { "s" },
                counts.join(", ")
            ));
        }
        lines.sort_by_key(|l| severity(l.status));
        // What no delivery row shows: friends not resolved, a friends list not readable.
        let note = slot
            .iter()
            .filter(|r| r.recipient.is_some())
            .find_map(|r| r.run_detail.as_deref().map(inert))
            .filter(|d| deliver::detail_says_more(d));
        blocks.push((heading, note, lines));
    }
    let who_width = blocks
        .iter()
        .flat_map(|(_, _, lines)| lines.iter().map(|l| width(&l.who)))
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (heading, note, lines) in blocks {
        text.push_str(heading.trim_end());
        text.push('\n');
        if let Some(note) = note {
            text.push_str(&format!("  note: {note}\n"));
        }
        for line in lines {
            let entry = format!(
                "  {:<8} {}  {:<6} {}",
                line.status.as_str(),
                pad(&line.who, who_width),
                part_ranges(&line.parts),
                line.why
            );
            text.push_str(entry.trim_end());
            text.push('\n');
        }
    }
    text
}

/// What became of one slot (a meal on a day), from its ledger rows, in words: `sent 11:30`,
/// `partly sent 11:30 (5 of 6 messages)`, `not sent (why)` or `nothing to send (why)`. "sent"
/// only where Kakao took the menu; a warning to me is said apart. Used by `history` and
/// `status` alike. Pure.
/// With `full_time` the send time is `2026-04-10 11:30 KST` (`status`), else `11:30`, or
/// `04-11 09:02` on another day than the menu's (`history`).
pub fn slot_verdict(slot: &[&HistoryRow], tz: chrono_tz::Tz, full_time: bool) -> String {
    use crate::ledger::{Kind, Status};
    let menu: Vec<&&HistoryRow> = slot
        .iter()
        .filter(|r| r.recipient.is_some() && r.status.is_some())
        .filter(|r| !matches!(r.kind, Some(Kind::Warning | Kind::Alert)))
        .collect();
    let outcome = slot.iter().find_map(|r| r.outcome.as_deref());
    // Ledger text may hold anything a page or Kakao said: made inert for the terminal.
    let detail = slot
        .iter()
        .find_map(|r| r.run_detail.as_deref())
        .or_else(|| {
            slot.iter()
                .filter(|r| r.recipient.is_none())
                .find_map(|r| r.detail.as_deref())
        })
        .map(inert);
    let because = |what: &str| match &detail {
        Some(d) if !what.is_empty() => format!("{what}: {d}"),
        Some(d) => d.to_string(),
        None => what.to_string(),
    };
    let date = slot.first().map(|r| r.date);
    let when = |at: chrono::DateTime<chrono::Utc>| {
        let local = at.with_timezone(&tz);
        if full_time {
            local.format("%Y-%m-%d %H:%M %Z").to_string()
        } else if Some(local.date_naive()) == date {
            local.format("%H:%M").to_string()
        } else {
            local.format("%m-%d %H:%M").to_string()
        }
    };
    let warned = slot
        .iter()
        .any(|r| r.kind == Some(Kind::Warning) && r.status == Some(Status::Sent));
    let mut text = if menu.is_empty() {
        match outcome {
            Some("missed") => "not sent (missed: kbot was not running when it was due)".into(),
            Some("menu") => format!("not sent ({})", because("")).replace(" ()", ""),
            Some(o @ ("not_found" | "fetch_failed")) => {
                format!("not sent ({})", because(outcome_words(o)))
            }
            Some(o) => format!("nothing to send ({})", because(outcome_words(o))),
            None if slot.iter().any(|r| r.status == Some(Status::Missed)) => {
                "not sent (missed: kbot was not running when it was due)".into()
            }
            None => "not finished (running, or interrupted before sending)".into(),
        }
    } else {
        let sent: Vec<&&&HistoryRow> = menu
            .iter()
            .filter(|r| r.status == Some(Status::Sent))
            .collect();
        let at = sent.iter().map(|r| r.updated_at).max().map(when);
        if sent.len() == menu.len() {
            format!("sent {}", at.unwrap_or_default())
        } else if !sent.is_empty() {
            format!(
                "partly sent {} ({} of {} messages)",
                at.unwrap_or_default(),
                sent.len(),
                menu.len()
            )
        } else {
            let why = menu
                .iter()
                .find_map(|r| match r.status {
                    Some(Status::Failed) => Some(
                        r.detail
                            .as_deref()
                            .map(inert)
                            .or_else(|| r.code.map(|c| format!("kakao code {c}")))
                            .unwrap_or_else(|| "failed".into()),
                    ),
                    Some(Status::Pending) => {
                        Some("interrupted before Kakao answered; the next run sends it".into())
                    }
                    Some(Status::Unknown) => {
                        Some("interrupted mid-call; it may have arrived, not sent again".into())
                    }
                    Some(Status::Missed) => Some("missed".into()),
                    _ => None,
                })
                .unwrap_or_else(|| "failed".into());
            format!("not sent ({why})")
        }
    };
    if warned {
        text.push_str(" · warning sent to me");
    }
    text
}

/// What to run about a source whose page gave no menu for the day, by outcome: the page
/// itself for a page problem (`scrape --explain`), the tables for a meal the page never
/// has (`scrape --find`); `None` for a menu or a closed day.
pub fn source_fix(outcome: &crate::scrape::Outcome, date: NaiveDate, meal: Meal) -> Option<String> {
    use crate::scrape::Outcome;
    match outcome {
        Outcome::NotFound | Outcome::WrongDate | Outcome::FetchFailed => Some(format!(
            "kbot scrape {meal} --date {date} --explain shows what the page has"
        )),
        Outcome::NoMeal => Some(format!(
            "kbot scrape --find lists the page's tables; remove schedule.{meal} if the page never has {meal}"
        )),
        Outcome::Menu(_) | Outcome::Closed { .. } | Outcome::Media(_) => None,
    }
}

/// A run outcome in words, for [`slot_verdict`].
fn outcome_words(outcome: &str) -> &str {
    match outcome {
        "closed" => "closed",
        "no_meal" => "the page never has this meal",
        "wrong_date" => "the page has no menu for the day",
        "not_found" => "no menu found on the page",
        "fetch_failed" => "the page could not be fetched",
        "paused" => "paused: no menu for days",
        "holiday" => "a public holiday",
        other => other,
    }
}

/// `kbot doctor` for people: one line per check, ✓ / ✗ / ! and what was found, the fix
/// indented under it, and a last line that sums up. Pure.
pub fn doctor(diagnosis: &crate::doctor::Diagnosis, paint: Paint) -> String {
    use crate::doctor::Mark;
    let mut text = String::new();
    for check in &diagnosis.checks {
        let mark = match check.mark {
            Mark::Ok => paint.green("✓"),
            Mark::Fail => paint.red("✗"),
            Mark::Warn => paint.yellow("!"),
        };
        text.push_str(&format!("{mark} {}\n", check.message));
        if let (true, Some(fix)) = (check.mark != Mark::Ok, &check.fix) {
            text.push_str(&format!("    fix: {fix}\n"));
        }
    }
    let failed = diagnosis
        .checks
        .iter()
        .filter(|c| c.mark == Mark::Fail)
        .count();
    if failed == 0 {
        text.push_str("kbot is ready\n");
    } else {
        text.push_str(&format!(
            "{failed} problem{} (exit {})\n",
            if failed == 1 { "" } else { "s" },
            diagnosis.exit() as u8
        ));
    }
    text
}

/// Colour for a terminal that wants it: off when stdout is not a terminal, when
/// `NO_COLOR` is set (<https://no-color.org>), or for `TERM=dumb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paint {
    /// Whether to write ANSI colour codes.
    pub on: bool,
}

impl Paint {
    /// Colour decided from whether the stream is a terminal and the environment.
    pub fn new(is_terminal: bool, var: &dyn Fn(&str) -> Option<String>) -> Paint {
        let no_color = var("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = var("TERM").is_some_and(|t| t == "dumb");
        Paint {
            on: is_terminal && !no_color && !dumb,
        }
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Success: sent, ✓.
    pub fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }

    /// Failure: failed, ✗, error.
    pub fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }

    /// Caution: warnings, unknown.
    pub fn yellow(self, text: &str) -> String {
        self.wrap("33", text)
    }
}

/// The man page (roff): clap's NAME, SYNOPSIS, DESCRIPTION and OPTIONS, then one COMMANDS
/// section with every command and its options (no `kbot-scrape(1)`-style pages that do
/// not exist), FILES, ENVIRONMENT, EXIT STATUS and EXAMPLES. Pure.
pub fn man_page(cmd: clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    let mut text = String::from(".SH COMMANDS\n");
    // Hidden helpers (the browser opener) are no commands for people.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands_entry(&mut text, &[cmd.get_name()], sub);
    }
    text.push_str(MAN_TAIL);
    out.extend_from_slice(text.as_bytes());
    let _ = man.render_version_section(&mut out);
    out
}

fn commands_entry(text: &mut String, parents: &[&str], sub: &clap::Command) {
    if sub.get_name() == "help" {
        return;
    }
    let mut path: Vec<&str> = parents.to_vec();
    path.push(sub.get_name());
    if sub.has_subcommands() {
        for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            commands_entry(text, &path, inner);
        }
        return;
    }
    let mut usage = path.join(" ");
    for arg in sub.get_positionals() {
        let name = arg
            .get_value_names()
            .and_then(|v| v.first().map(|n| n.to_string()))
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        if arg.is_required_set() {
            usage.push_str(&format!(" {name}"));
        } else {
            usage.push_str(&format!(" [{name}]"));
        }
    }
    text.push_str(&format!(".TP\n\\fB{}\\fR\n", roff(&usage)));
    if let Some(about) = sub.get_about() {
        text.push_str(&format!("{}\n", roff(&about.to_string())));
    }
    for arg in sub.get_arguments() {
        if arg.is_positional() || arg.is_global_set() || arg.is_hide_set() {
            continue;
        }
        let Some(long) = arg.get_long() else {
            continue;
        };
        let value = if arg.get_action().takes_values() {
            arg.get_value_names()
                .and_then(|v| v.first().map(|n| format!(" {n}")))
                .unwrap_or_else(|| format!(" {}", arg.get_id().to_string().to_uppercase()))
        } else {
            String::new()
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        text.push_str(&format!(
            ".RS\n.TP\n\\fB\\-\\-{}\\fR{}\n{}\n.RE\n",
            roff(long),
            roff(&value),
            roff(&help)
        ));
    }
}

/// Text made safe for roff: backslashes, hyphens, and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

const MAN_TAIL: &str = r#".SH FILES
.TP
\fI$XDG_CONFIG_HOME/kbot/config.toml\fR
The configuration (\fI~/.config/kbot/config.toml\fR; on macOS \fI~/Library/Application Support/kbot/\fR, on Windows \fI%APPDATA%\ekbot\e\fR). \fBkbot config init\fR writes a commented example; \fB\-\-config\fR or \fBKBOT_CONFIG\fR choose another.
.TP
\fI$XDG_DATA_HOME/kbot/\fR
The data directory (\fI~/.local/share/kbot/\fR): \fIledger.sqlite3\fR (what was sent to whom), \fIsecrets.json\fR (the file secret store, mode 0600), \fIstore\fR (which store \fBkbot login\fR used), \fIdaemon.lock\fR (the running daemon's pid), \fIrefresh.lock\fR, \fIruns.lock\fR. \fB\-\-data\-dir\fR or \fBKBOT_DATA_DIR\fR choose another.
.TP
\fI$XDG_CONFIG_HOME/systemd/user/kbot.service\fR
The systemd user unit \fBkbot service install\fR writes.
.SH ENVIRONMENT
.TP
\fBKBOT_CONFIG\fR
The configuration file, like \fB\-\-config\fR.
.TP
\fBKBOT_DATA_DIR\fR
The data directory, like \fB\-\-data\-dir\fR.
.TP
\fBKBOT_LOG\fR
A log filter for stderr (e.g. \fIkbot=debug\fR); wins over \fB\-v\fR and \fB\-q\fR.
.TP
\fBKBOT_CLIENT_SECRET\fR
The Kakao app's client secret, read by \fBkbot login\fR instead of asking.
.TP
\fBNO_COLOR\fR
Set to any value: no colour, even in a terminal.
.SH "EXIT STATUS"
.TP
\fB0\fR
Success, including "closed today" and "already delivered".
.TP
\fB1\fR
Unexpected failure (for \fBdoctor\fR: the daemon is not running, or the secret store cannot be read).
.TP
\fB2\fR
Usage error.
.TP
\fB3\fR
Login needed: \fBkbot login\fR.
.TP
\fB4\fR
Invalid configuration: \fBkbot config check\fR.
.TP
\fB5\fR
Delivery failed for at least one recipient, or scraping failed (for \fBdoctor\fR: a source, friend or quota check failed).
.TP
\fB130\fR
Stopped by Ctrl\-C, after saying what was sent; the call in flight is finished and recorded.
.SH EXAMPLES
.TP
\fBkbot config init && kbot scrape lunch \-\-explain\fR
Write the example configuration, then see what kbot reads from the menu page.
.TP
\fBkbot login\fR
Log in to Kakao once; kbot keeps itself logged in.
.TP
\fBkbot send\-now lunch \-\-date tomorrow \-\-dry\-run\fR
Print tomorrow's lunch messages without sending them.
.TP
\fBkbot send\-now \-\-to me\fR
Send the next meal to yourself only.
.TP
\fBkbot doctor\fR
Check everything kbot needs; exit 0 when all is well.
.TP
\fBkbot service install\fR
Run the daemon as a systemd user service (or a Windows task).
.TP
\fBkbot history \-\-limit 3\fR
The last three meals sent, with each recipient's outcome.
.SH "SEE ALSO"
The manual in the \fIdocs/\fR directory of kbot's repository.
"#;

/// Colour the outcome words of a `send-now` summary or `history` (sent green; failed red;
/// unknown and pending yellow). Pure; returns `text` unchanged when `paint` is off.
pub fn paint_outcomes(text: &str, paint: Paint) -> String {
    if !paint.on {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        // Only the first word of a history line, or a summary's "sent n/m" counts.
        let mut painted = line.to_string();
        for (word, f) in [
            ("failed", Paint::red as fn(Paint, &str) -> String),
            ("unknown", Paint::yellow),
            ("pending", Paint::yellow),
            ("sent", Paint::green),
        ] {
            let history = format!("  {word} ");
            if painted.starts_with(&history) {
                painted = format!("  {} {}", f(paint, word), &painted[history.len()..]);
            }
            let summary = format!(" {word} ");
            if let Some(at) = painted.find(&summary) {
                let rest = &painted[at + summary.len()..];
                // "not sent 1/2" is no success: red, never green.
                let negated = painted[..at].ends_with(" not");
                let f = if negated { Paint::red } else { f };
                if rest.starts_with(|c: char| c.is_ascii_digit()) {
                    painted = format!("{} {} {rest}", &painted[..at], f(paint, word));
                }
            }
        }
        out.push_str(&painted);
    }
    out
}

/// `kbot status` for people: config and data paths, store and login, the daemon, warnings,
/// the next slot of each meal and the last runs. Pure.
pub fn status(status: &crate::account::Status) -> String {
    let tz = status.timezone;
    let mut text = format!("config: {}\n", status.config.display());
    text.push_str(&format!("data:   {}\n", status.data_dir.display()));
    match &status.login {
        None => text.push_str("login:  kakao.client_id is not set in the config\n"),
        Some(l) => {
            text.push_str(&format!("store:  {}\n", l.secret_store));
            if let (true, Some(rejected)) = (l.logged_in, &status.rejected) {
                text.push_str(&format!(
                    "login:  {}: rejected by Kakao at {} — {} (kbot login)\n",
                    l.nickname.as_deref().unwrap_or("the stored login"),
                    local(rejected.at, tz),
                    rejected.reason
                ));
            } else if l.logged_in {
                text.push_str(&format!(
                    "login:  {} (scopes: {})\n",
                    l.nickname.as_deref().unwrap_or("logged in"),
                    l.scopes.join(" ")
                ));
                if let Some(at) = l.refresh_token_expires_at {
                    text.push_str(&format!(
                        "        refresh token valid until {}\n",
                        local(at, tz)
                    ));
                }
                if let Some(attention) = &l.attention {
                    text.push_str(&format!("warning: {attention}\n"));
                }
                if status.refresh_token_unsaved {
                    text.push_str(&format!(
                        "warning: a refresh's result was not saved in the {}: if Kakao rotated the refresh token, the stored one no longer works (a running kbot daemon keeps the new one and saves it once it can; otherwise kbot login)\n",
                        l.secret_store
                    ));
                }
            } else if status.store_error.is_some() {
                text.push_str(
                    "login:  unknown: the secret store cannot be read (see the error below)\n",
                );
            } else if let Some(why) = &status.unchecked_keyring {
                text.push_str(&format!(
                    "login:  not logged in: no login recorded in {} ({why})\n",
                    status.data_dir.display()
                ));
            } else {
                text.push_str("login:  not logged in (kbot login)\n");
            }
        }
    }
    text.push_str(&daemon_line(status.daemon.as_ref(), tz));
    if let Some(stopped) = &status.daemon_stopped {
        text.push_str(&format!(
            "warning: the daemon stopped at {} (exit {}): {}{}\n",
            local(stopped.at, tz),
            stopped.exit,
            stopped.reason,
            stopped
                .hint
                .as_deref()
                .map(|h| format!("; fix: {h}, then restart it"))
                .unwrap_or_default()
        ));
    }
    if status.daemon_config_differs {
        text.push_str("warning: the running daemon has not taken the config file as it is now (it reloads a change at its next wake, or rejects it: see its log); the times below are the daemon's\n");
    }
    if status.next.is_empty() {
        text.push_str("next:   nothing scheduled\n");
    }
    for (meal, at) in &status.next {
        text.push_str(&format!(
            "next:   {:<9} {}\n",
            meal.as_str(),
            at.format("%Y-%m-%d %H:%M %Z (%a)")
        ));
    }
    // One line per slot, in what the ledger says became of it.
    let mut slots: Vec<(NaiveDate, Meal, Vec<&HistoryRow>)> = Vec::new();
    for row in &status.recent {
        match slots
            .iter_mut()
            .find(|(d, m, _)| *d == row.date && *m == row.meal)
        {
            Some((_, _, slot)) => slot.insert(0, row),
            None => slots.push((row.date, row.meal, vec![row])),
        }
    }
    for (date, meal, slot) in slots.iter().take(RECENT_SLOTS) {
        // The latest run of the slot died before it recorded its end.
        let cut_short = status
            .last_runs
            .iter()
            .find(|r| r.date == *date && r.meal == *meal)
            .is_some_and(|r| r.interrupted);
        text.push_str(&format!(
            "ran:    {date} {:<9} {}{}\n",
            meal.as_str(),
            slot_verdict(slot, tz, true),
            if cut_short {
                " · interrupted (the run never recorded its end)"
            } else {
                ""
            }
        ));
    }
    text
}

/// How many slots `status` shows on its `ran:` lines.
pub const RECENT_SLOTS: usize = 5;

/// `kbot status --json`: the value printed (pretty) on stdout. Pure.
pub fn status_json(status: &crate::account::Status) -> serde_json::Value {
    let login = status.login.as_ref();
    serde_json::json!({
        "daemon": daemon_json(status.daemon.as_ref()),
        "config": status.config,
        "secret_store": login.map(|l| l.secret_store_kind),
        "logged_in": login.is_some_and(|l| l.logged_in),
        "nickname": login.and_then(|l| l.nickname.clone()),
        "scopes": login.map(|l| l.scopes.clone()).unwrap_or_default(),
        "access_token_expires_at": login.and_then(|l| l.access_token_expires_at).map(rfc3339),
        "refresh_token_expires_at": login.and_then(|l| l.refresh_token_expires_at).map(rfc3339),
        "needs_attention": status.needs_attention(),
        "login_rejected": status.rejected,
        "refresh_token_unsaved": status.refresh_token_unsaved,
        "daemon_stopped": status.daemon_stopped,
        "daemon_config_differs": status.daemon_config_differs,
        "next": status
            .next
            .iter()
            .map(|(meal, at)| (meal.as_str().to_string(), serde_json::json!(at.to_rfc3339())))
            .collect::<serde_json::Map<_, _>>(),
        "last_runs": status.last_runs,
    })
}

/// `kbot friends` for people: nickname, uuid and whether messages are allowed, in columns
/// by terminal width (a Hangul syllable takes two), or what to do when there are none.
/// Pure. (`--json` is the list serialized.)
pub fn friends(friends: &[crate::kakao::Friend]) -> String {
    if friends.is_empty() {
        return "no friends visible to this app: friends appear once they log in to it and agree to share their friends list\n".to_string();
    }
    let columns = friends
        .iter()
        .map(|f| width(&f.nickname))
        .max()
        .unwrap_or(0)
        .max("nickname".len());
    let mut text = format!("{}  {:<24}  messages\n", pad("nickname", columns), "uuid");
    for f in friends {
        text.push_str(&format!(
            "{}  {:<24}  {}{}\n",
            pad(&f.nickname, columns),
            f.uuid,
            if f.allowed_msg { "allowed" } else { "blocked" },
            if f.favorite { "  ★" } else { "" }
        ));
    }
    text
}

/// `kbot friends --json`: the list serialized as it is (pretty, a newline at the end).
/// Pure.
pub fn friends_json(friends: &[crate::kakao::Friend]) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(friends).expect("friends serialize")
    )
}

/// `status`'s daemon line: `daemon: running (pid 4242, since 2026-11-30 08:00 KST)` or
/// `daemon: not running (kbot service install, or kbot daemon)`. Pure.
pub fn daemon_line(holder: Option<&crate::schedule::Holder>, tz: chrono_tz::Tz) -> String {
    match holder {
        Some(h) => format!(
            "daemon: running{}\n",
            match (h.pid, h.since) {
                (Some(pid), Some(since)) =>
                    format!(" (pid {pid}, since {})", local_time(since, tz)),
                (Some(pid), None) => format!(" (pid {pid})"),
                (None, Some(since)) => format!(" (since {})", local_time(since, tz)),
                (None, None) => String::new(),
            }
        ),
        None => "daemon: not running (kbot service install, or kbot daemon)\n".to_string(),
    }
}

/// The line `kbot daemon` prints when it starts in a terminal: its pid, the next send in
/// local time, how to stop it. Pure.
pub fn daemon_started(
    pid: u32,
    next: Option<(Meal, chrono::DateTime<chrono_tz::Tz>)>,
    now: chrono::DateTime<chrono_tz::Tz>,
) -> String {
    format!(
        "kbot daemon running (pid {pid}); {}; Ctrl-C stops it (logs: -v or KBOT_LOG=info)\n",
        next_send(next, now)
    )
}

/// The line `kbot daemon` prints in a terminal after each run: what became of it and the
/// next send. Pure.
pub fn daemon_ran(
    date: NaiveDate,
    meal: Meal,
    summary: &deliver::Summary,
    next: Option<(Meal, chrono::DateTime<chrono_tz::Tz>)>,
    now: chrono::DateTime<chrono_tz::Tz>,
) -> String {
    let menu: Vec<&deliver::Delivered> = summary
        .deliveries
        .iter()
        .filter(|d| d.kind == crate::ledger::Kind::Menu)
        .collect();
    let sent = menu
        .iter()
        .filter(|d| d.status == "sent" || d.status == "skipped")
        .count();
    let what = if menu.is_empty() {
        let why: Vec<String> = summary
            .run
            .reports
            .iter()
            .filter(|r| !matches!(r.outcome, crate::scrape::Outcome::Menu(_)))
            .map(|r| format!("{}: {}", r.name, r.outcome.as_str()))
            .collect();
        if why.is_empty() {
            "nothing to send".to_string()
        } else {
            format!("nothing to send ({})", why.join(", "))
        }
    } else if sent == menu.len() {
        format!("sent ({} parts)", menu.len())
    } else if sent > 0 {
        format!("partly sent ({sent} of {} parts; kbot history)", menu.len())
    } else {
        "not sent (kbot history)".to_string()
    };
    format!(
        "{} {date} {}: {what}; {}\n",
        now.format("%H:%M"),
        meal.as_str(),
        next_send(next, now)
    )
}

/// `next: lunch at 11:30 KST (Mon 12-07)`, or that nothing is scheduled.
fn next_send(
    next: Option<(Meal, chrono::DateTime<chrono_tz::Tz>)>,
    now: chrono::DateTime<chrono_tz::Tz>,
) -> String {
    match next {
        Some((meal, at)) if at.date_naive() == now.date_naive() => {
            format!("next: {} at {} today", meal.as_str(), at.format("%H:%M %Z"))
        }
        Some((meal, at)) => format!(
            "next: {} at {}",
            meal.as_str(),
            at.format("%H:%M %Z on %a %Y-%m-%d")
        ),
        None => "nothing scheduled".to_string(),
    }
}

/// `status --json`'s `daemon`: `{"running", "pid", "since"}`.
pub fn daemon_json(holder: Option<&crate::schedule::Holder>) -> serde_json::Value {
    serde_json::json!({
        "running": holder.is_some(),
        "pid": holder.and_then(|h| h.pid),
        "since": holder.and_then(|h| h.since).map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }),
    })
}

fn local_time(t: std::time::SystemTime, tz: chrono_tz::Tz) -> String {
    local(chrono::DateTime::<chrono::Utc>::from(t), tz)
}

/// `2026-11-30 08:00 KST`: a time in the configured zone.
fn local(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// `2026-11-30T08:00:00Z`: a time for scripts, to the second.
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `kbot service uninstall`: what was removed and the commands that stop the service; for
/// systemd also `systemctl --user disable --now kbot`, which stops it and drops its enable
/// link in one go. Pure.
pub fn uninstalled(removed: &crate::service::Uninstalled, kind: crate::service::Kind) -> String {
    let mut text = match &removed.removed {
        Some(path) => format!("removed {}\nnext: {}\n", path.display(), removed.command),
        None => format!("nothing installed\nnext: {}\n", removed.command),
    };
    let disable = "systemctl --user disable --now kbot";
    if kind == crate::service::Kind::Systemd && !removed.command.contains(disable) {
        text.push_str(&format!(
            "or:   {disable}   (stops it and removes its enable link, if systemd still knows it)\n"
        ));
    }
    text
}

/// `#1`, `#1-3`, `#1,3,5-7`: the parts a history line covers.
fn part_ranges(parts: &[u32]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for part in sorted {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == part => *end = part,
            _ => ranges.push((part, part)),
        }
    }
    let list: Vec<String> = ranges
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    format!("#{}", list.join(","))
}

/// How many terminal columns `text` takes (Hangul and other wide characters take two).
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` padded with spaces to `columns` terminal columns.
pub fn pad(text: &str, columns: usize) -> String {
    format!("{text}{}", " ".repeat(columns.saturating_sub(width(text))))
}

/// A list template as people read it in the chat: the header, then each entry's title and
/// description (`template = "list"` in `preview`).
pub fn list_template(template: &serde_json::Value) -> String {
    let mut text = template["header_title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for entry in template["contents"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n• {}\n  {}",
            entry["title"].as_str().unwrap_or_default(),
            entry["description"].as_str().unwrap_or_default()
        ));
    }
    if let Some(button) = template["button_title"].as_str() {
        text.push_str(&format!("\n[{button}]"));
    }
    text
}

/// `kbot scrape --find`: one page's tables, best first, each with its selector to paste
/// into `table`, then the selector reading all the menu tables at once.
pub fn find_listing(name: &str, url: &str, tables: &[crate::scrape::FoundTable]) -> String {
    let mut text = if name.is_empty() {
        format!("{url}\n")
    } else {
        format!("[{name}] {url}\n")
    };
    if tables.is_empty() {
        text.push_str("  the page has no table: use [source.select] (css mode)\n");
        return text;
    }
    for table in tables {
        text.push_str(&format!(
            "  {} score {:>3}  {}\n",
            if table.menu { "menu" } else { "    " },
            table.score,
            table.selector
        ));
        let heading = table
            .heading
            .as_deref()
            .map(|h| format!("under \"{h}\", "))
            .unwrap_or_default();
        let kind = if table.menu {
            table.reader.name()
        } else {
            "not a menu"
        };
        text.push_str(&format!(
            "      {heading}{} rows × {} columns, {kind}\n",
            table.size.0, table.size.1
        ));
        if !table.lines.is_empty() {
            text.push_str(&format!("      {}\n", table.lines.join(" | ")));
        }
    }
    let menus: Vec<&str> = tables
        .iter()
        .filter(|t| t.menu)
        .map(|t| t.selector.as_str())
        .collect();
    if menus.is_empty() {
        text.push_str("  no table looks like a menu (no date, weekday or meal labels)\n");
    } else {
        text.push_str(&format!(
            "  table = \"auto\" reads the menu table(s); or paste: table = {:?}\n",
            menus.join(", ")
        ));
    }
    text
}

/// A `--json` document as printed: pretty, with a newline at the end. Pure.
pub fn pretty(value: &serde_json::Value) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes")
    )
}

/// `kbot scrape` for people: the run's title, then each source's outcome, its groups and
/// dishes (or the closed notice), its note, and with `explain` the tables and labels the
/// scraper saw. Pure.
pub fn scrape_report(run: &deliver::Run, explain: bool) -> String {
    use crate::scrape::Outcome;
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
            text.push_str(&format!("  note: {}\n", inert(detail)));
        }
        if let (true, Some(explain)) = (explain, &report.explain) {
            text.push('\n');
            for line in explain.to_string().lines() {
                text.push_str(&format!("  | {line}\n"));
            }
        }
    }
    text
}

/// `kbot scrape --json`: `{"date", "meal", "sources"}`. Pure.
pub fn scrape_json(run: &deliver::Run) -> serde_json::Value {
    serde_json::json!({
        "date": run.date.to_string(),
        "meal": run.meal,
        "sources": run.reports,
    })
}

/// `kbot scrape --find`: a page that could not be read, with why. Pure.
pub fn find_failed(name: &str, url: &str, detail: &str) -> String {
    format!("[{name}] fetch_failed  {url}\n  note: {detail}\n\n")
}

/// `kbot scrape --find`: a scheduled meal the source's page never has. Pure.
pub fn find_missing_meal(meal: Meal) -> String {
    format!("  this page has no {meal}: remove schedule.{meal} or add a source that has it\n")
}

/// One part of a run as `preview` and `send-now --dry-run` show it: who gets it (ids for
/// `--json`, names for people) and the template object sent.
#[derive(Debug)]
pub struct Part<'a> {
    /// "me", uuids (or configured names).
    pub recipients: Vec<String>,
    /// "me", `nickname (uuid)` (or configured names).
    pub names: Vec<String>,
    /// The group(s) of an audience that gets only some sources; `None` for the message
    /// with every source.
    pub audience: Option<String>,
    /// The template object.
    pub template: &'a serde_json::Value,
}

/// `preview` and `send-now --dry-run` for people: each part with its recipients and the
/// text as the chat shows it, then who it is not sent to. Pure.
pub fn parts(parts: &[Part], unresolved: &[String]) -> String {
    if parts.is_empty() {
        return "nothing to send\n".to_string();
    }
    let n = parts.len();
    let mut text = String::new();
    for (i, part) in parts.iter().enumerate() {
        let group = part
            .audience
            .as_ref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "── part {}/{n}{group} → {}\n",
            i + 1,
            part.names.join(", ")
        ));
        let template = part.template;
        match template["object_type"].as_str() {
            Some("text") => text.push_str(template["text"].as_str().unwrap_or_default()),
            Some("list") => text.push_str(&list_template(template)),
            _ => text.push_str(pretty(template).trim_end_matches('\n')),
        }
        text.push_str("\n\n");
    }
    for problem in unresolved {
        text.push_str(&format!("not sent to: {problem}\n"));
    }
    text
}

/// `preview --json` and `send-now --dry-run --json`: `{"date", "meal", "parts":
/// [{"recipients", "template_object"}], "unresolved"}`. Pure.
pub fn parts_json(
    date: NaiveDate,
    meal: Meal,
    parts: &[Part],
    unresolved: &[String],
) -> serde_json::Value {
    serde_json::json!({
        "date": date.to_string(),
        "meal": meal,
        "parts": parts
            .iter()
            .map(|p| {
                let mut part = serde_json::json!({"recipients": p.recipients, "template_object": p.template});
                if let Some(group) = &p.audience {
                    part["group"] = serde_json::json!(group);
                }
                part
            })
            .collect::<Vec<_>>(),
        "unresolved": unresolved,
    })
}

/// `send-now --json`: `{"date", "meal", "sources", "deliveries", "unresolved"}`. Pure.
pub fn sent_json(date: NaiveDate, meal: Meal, summary: &deliver::Summary) -> serde_json::Value {
    serde_json::json!({
        "date": date.to_string(),
        "meal": meal,
        "sources": summary.run.reports,
        "deliveries": summary.deliveries,
        "unresolved": summary.unresolved.iter().map(deliver::Unresolved::describe).collect::<Vec<_>>(),
    })
}

/// `send-now --test --json`: like [`sent_json`], with `"test": true` and nothing
/// unresolved. Pure.
pub fn test_sent_json(
    date: NaiveDate,
    meal: Meal,
    summary: &deliver::Summary,
) -> serde_json::Value {
    serde_json::json!({
        "date": date.to_string(),
        "meal": meal,
        "test": true,
        "sources": summary.run.reports,
        "deliveries": summary.deliveries,
        "unresolved": Vec::<String>::new(),
    })
}

/// `send-now --test` for people: the [`summary`] and a line saying nothing was recorded.
/// Pure.
pub fn test_summary(run: &deliver::Summary) -> String {
    let mut text = summary(run);
    text.push_str("  (test: sent to me only, not recorded; the real run still sends)\n");
    text
}

/// The rows of the newest `limit` slots (a meal on a day; rows come newest first), and
/// whether older slots were left out: `history --limit` counts slots, not rows, so a slot
/// is shown whole and its heading counts every recipient. Pure.
pub fn newest_slots(rows: Vec<HistoryRow>, limit: usize) -> (Vec<HistoryRow>, bool) {
    let mut seen: Vec<(NaiveDate, Meal)> = Vec::new();
    let mut kept = Vec::new();
    let mut more = false;
    for row in rows {
        let slot = (row.date, row.meal);
        if !seen.contains(&slot) {
            if seen.len() == limit {
                more = true;
                continue;
            }
            seen.push(slot);
        }
        if seen.contains(&slot) {
            kept.push(row);
        }
    }
    (kept, more)
}

/// `kbot history` for people: the slots ([`history_in`], painted), `no runs yet` when
/// there are none, and a last line saying how to see more when older slots were left out
/// (`more`) of the newest `limit`. Pure.
pub fn history_report(
    rows: &[HistoryRow],
    more: bool,
    limit: usize,
    tz: chrono_tz::Tz,
    paint: Paint,
) -> String {
    if rows.is_empty() {
        return "no runs yet\n".to_string();
    }
    let mut text = paint_outcomes(&history_in(rows, tz), paint);
    if more {
        text.push_str(&format!(
            "(the newest {limit} meal{}; kbot history --limit {} shows more)\n",
            if limit == 1 { "" } else { "s" },
            limit.saturating_mul(4)
        ));
    }
    text
}

/// `kbot history --json`: the rows serialized. Pure.
pub fn history_json(rows: &[HistoryRow]) -> serde_json::Value {
    serde_json::to_value(rows).expect("rows serialize")
}

/// `kbot config path`. Pure.
pub fn config_path(path: &std::path::Path) -> String {
    format!("{}\n", path.display())
}

/// `kbot config init`: the file written and what to do next. Pure.
pub fn config_written(path: &std::path::Path, backup: Option<&std::path::Path>) -> String {
    let kept = backup
        .map(|b| format!("kept the old file as {}\n", b.display()))
        .unwrap_or_default();
    format!(
        "{kept}wrote {}\nnext: set [[source]] url and table, then run `kbot scrape --explain`\n",
        path.display()
    )
}

/// `kbot config check` when the config is valid: the path, how many sources, the
/// scheduled meals. Pure.
pub fn config_ok(path: &std::path::Path, config: &crate::config::Config) -> String {
    let meals: Vec<&str> = config.schedule.meals.keys().map(|m| m.as_str()).collect();
    format!(
        "{}: ok ({} source{}, schedule: {})\n",
        path.display(),
        config.sources.len(),
        if config.sources.len() == 1 { "" } else { "s" },
        if meals.is_empty() {
            "none".to_string()
        } else {
            meals.join(", ")
        }
    )
}

/// `kbot service install`: the file written (or replaced), the command that enables it,
/// and any notes. Pure.
pub fn installed(installed: &crate::service::Installed) -> String {
    let mut text = format!(
        "{} {}\nnext: {}\n",
        if installed.replaced {
            "replaced"
        } else {
            "wrote"
        },
        installed.path.display(),
        installed.command
    );
    for note in &installed.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    text
}

/// `kbot doctor --json`: `{"ok", "exit", "checks"}`. Pure.
pub fn doctor_json(diagnosis: &crate::doctor::Diagnosis) -> serde_json::Value {
    serde_json::json!({
        "ok": diagnosis.is_ok(),
        "exit": diagnosis.exit() as u8,
        "checks": diagnosis.checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    #[test]
    fn history_text_folds_parts_per_recipient_and_puts_problems_first() {
        let date = NaiveDate::from_ymd_opt(2026, 9, 28).unwrap();
        let at = "2026-09-28T02:30:00Z".parse().unwrap();
        let row = |recipient: &str, part: u32, status: Status, code: Option<i64>| HistoryRow {
            date,
            meal: Meal::Lunch,
            recipient: Some(recipient.into()),
            nickname: (recipient != "me").then(|| "이서연".to_string()),
            part: Some(part),
            kind: None,
            status: Some(status),
            code,
            detail: code.map(|_| "daily message limit per sender has been exceeded.".into()),
            updated_at: at,
            outcome: Some("menu".into()),
            run_detail: None,
        };
        // Newest first, as the ledger returns them.
        let rows = vec![
            row("fuuid-a", 4, Status::Failed, Some(-532)),
            row("fuuid-a", 3, Status::Sent, None),
            row("fuuid-a", 2, Status::Sent, None),
            row("fuuid-a", 1, Status::Sent, None),
            row("me", 4, Status::Sent, None),
            row("me", 3, Status::Sent, None),
            row("me", 2, Status::Sent, None),
            row("me", 1, Status::Sent, None),
        ];
        assert_eq!(
            history(&rows),
            "2026-09-28 lunch     partly sent 02:30 (7 of 8 messages) · 2 recipients: 1 sent, 1 failed\n\
             \x20 failed   이서연 (fuuid-a)  #4     [-532] daily message limit per sender has been exceeded.\n\
             \x20 sent     me                #1-4\n\
             \x20 sent     이서연 (fuuid-a)  #1-3\n"
        );
        assert_eq!(part_ranges(&[5, 1, 2, 3, 7]), "#1-3,5,7");

        // A later part without the nickname, a warning to me, a detail quoting the code:
        // still two recipients, the nickname on every line, the code once.
        let mut rows = rows;
        rows[2].nickname = None;
        rows[0].detail = Some("kakao -532: daily message limit".into());
        let mut warning = row("me", 1, Status::Sent, None);
        warning.kind = Some(crate::ledger::Kind::Warning);
        rows.insert(0, warning);
        let text = history(&rows);
        assert!(text.contains(" · 2 recipients: "), "{text}");
        assert!(!text.contains("\n  sent     fuuid-a"), "{text}");
        assert!(
            text.contains("#4     kakao -532: daily message limit\n"),
            "{text}"
        );
        assert!(text.contains("me (warning)"), "{text}");
    }

    #[test]
    fn a_slot_says_sent_only_where_kakao_took_the_menu() {
        let date = NaiveDate::from_ymd_opt(2026, 9, 28).unwrap();
        let slot_row = |outcome: Option<&str>, detail: Option<&str>| HistoryRow {
            date,
            meal: Meal::Lunch,
            recipient: None,
            nickname: None,
            part: None,
            kind: None,
            status: None,
            code: None,
            detail: detail.map(str::to_string),
            updated_at: "2026-09-28T02:30:00Z".parse().unwrap(),
            outcome: outcome.map(str::to_string),
            run_detail: detail.map(str::to_string),
        };
        let verdict = |row: HistoryRow| slot_verdict(&[&row], chrono_tz::UTC, false);
        assert_eq!(
            verdict(slot_row(
                Some("menu"),
                Some("kakao rejected the refresh token (KOE322)")
            )),
            "not sent (kakao rejected the refresh token (KOE322))"
        );
        assert_eq!(
            verdict(slot_row(Some("no_meal"), None)),
            "nothing to send (the page never has this meal)"
        );
        assert_eq!(
            verdict(slot_row(None, None)),
            "not finished (running, or interrupted before sending)"
        );
        let mut pending = slot_row(Some("menu"), None);
        pending.recipient = Some("me".into());
        pending.part = Some(1);
        pending.status = Some(Status::Pending);
        assert!(verdict(pending).starts_with("not sent (interrupted"));
    }

    #[test]
    fn history_limit_counts_slots_and_keeps_each_slot_whole() {
        let row = |day: u32, meal: Meal, recipient: &str| HistoryRow {
            date: NaiveDate::from_ymd_opt(2026, 9, day).unwrap(),
            meal,
            recipient: Some(recipient.into()),
            nickname: None,
            part: Some(1),
            kind: None,
            status: Some(Status::Sent),
            code: None,
            detail: None,
            updated_at: "2026-09-28T02:30:00Z".parse().unwrap(),
            outcome: Some("menu".into()),
            run_detail: None,
        };
        let rows = vec![
            row(28, Meal::Dinner, "me"),
            row(28, Meal::Dinner, "fuuid-a"),
            row(28, Meal::Lunch, "me"),
            row(27, Meal::Lunch, "me"),
        ];
        let (kept, more) = newest_slots(rows.clone(), 2);
        assert_eq!(kept.len(), 3);
        assert!(more);
        let (kept, more) = newest_slots(rows, 3);
        assert_eq!(kept.len(), 4);
        assert!(!more);
        let text = history_report(&kept[..1], true, 1, chrono_tz::UTC, Paint::default());
        assert!(
            text.ends_with("(the newest 1 meal; kbot history --limit 4 shows more)\n"),
            "{text}"
        );
        assert_eq!(
            history_report(&[], false, 10, chrono_tz::UTC, Paint::default()),
            "no runs yet\n"
        );
    }

    #[test]
    fn parts_show_each_template_with_its_recipients() {
        assert_eq!(parts(&[], &[]), "nothing to send\n");
        let text = serde_json::json!({"object_type": "text", "text": "점심\n밥"});
        let other = serde_json::json!({"object_type": "feed"});
        let shown = [
            Part {
                recipients: vec!["me".into()],
                names: vec!["me".into()],
                audience: None,
                template: &text,
            },
            Part {
                recipients: vec!["fuuid-a".into()],
                names: vec!["이서연 (fuuid-a)".into()],
                audience: None,
                template: &other,
            },
        ];
        assert_eq!(
            parts(&shown, &["friend x: not found".into()]),
            "── part 1/2 → me\n점심\n밥\n\n\
             ── part 2/2 → 이서연 (fuuid-a)\n{\n  \"object_type\": \"feed\"\n}\n\n\
             not sent to: friend x: not found\n"
        );
        let date = NaiveDate::from_ymd_opt(2026, 9, 28).unwrap();
        assert_eq!(
            pretty(&parts_json(date, Meal::Lunch, &shown[..1], &[])),
            "{\n  \"date\": \"2026-09-28\",\n  \"meal\": \"lunch\",\n  \"parts\": [\n    {\n      \"recipients\": [\n        \"me\"\n      ],\n      \"template_object\": {\n        \"object_type\": \"text\",\n        \"text\": \"점심\\n밥\"\n      }\n    }\n  ],\n  \"unresolved\": []\n}\n"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        let none = |_: &str| None;
        let no_color = |k: &str| (k == "NO_COLOR").then(|| "1".to_string());
        assert!(Paint::new(true, &none).on);
        assert!(!Paint::new(false, &none).on);
        assert!(!Paint::new(true, &no_color).on);
        let text = "  me sent 1/1\n  failed   x  #1\n";
        assert_eq!(paint_outcomes(text, Paint { on: false }), text);
        assert_eq!(
            paint_outcomes(text, Paint { on: true }),
            "  me \x1b[32msent\x1b[0m 1/1\n  \x1b[31mfailed\x1b[0m   x  #1\n"
        );
    }
}
