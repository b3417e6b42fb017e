//! How runs and the ledger look to people: the `send-now` summary and `history`, with
//! columns that line up by display width (a Hangul syllable takes two columns).
//!
//! Pure text from values; the commands in `cli` print it. `--json` output is not here: it
//! is the serialized values themselves.

use chrono::NaiveDate;

use crate::deliver;
use crate::ledger::HistoryRow;
use crate::meal::Meal;

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
        if deliver::is_failure(&report.outcome) {
            text.push_str(&format!(
                "  source {}: {}{}\n",
                report.name,
                report.outcome.as_str(),
                report
                    .detail
                    .as_deref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    if run.rendered.parts.is_empty() {
        text.push_str("  nothing to send\n");
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
        for status in ["sent", "skipped", "failed", "unknown"] {
            let n = count(status);
            if n > 0 {
                let label = if status == "skipped" {
                    "already sent"
                } else {
                    status
                };
                line.push_str(&format!(" {label} {n}/{}", rows.len()));
            }
        }
        if let Some(bad) = rows.iter().find(|r| r.is_problem()) {
            line.push_str(&format!(
                " — {}{}",
                bad.code.map(|c| format!("{c}: ")).unwrap_or_default(),
                bad.detail.as_deref().unwrap_or("")
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
        let mut heading = format!("{date} {:<9}", meal.as_str());
        for row in slot {
            let (Some(recipient), Some(part), Some(status)) =
                (&row.recipient, row.part, row.status)
            else {
                // A slot without deliveries: missed, skipped when closed, or a scrape
                // failure nobody was told about.
                let what = match (row.status, row.outcome.as_deref()) {
                    (Some(Status::Missed), _) | (_, Some("missed")) => {
                        "missed: kbot was not running when it was due; not sent".to_string()
                    }
                    (_, Some(outcome)) => format!("{outcome}: nothing sent"),
                    (_, None) => "running or interrupted: nothing sent yet".to_string(),
                };
                heading.push_str(&format!(" {what}"));
                if let Some(detail) = &row.detail {
                    heading.push_str(&format!(" ({detail})"));
                }
                continue;
            };
            let who = match &row.nickname {
                Some(nick) if recipient != deliver::ME => format!("{nick} ({recipient})"),
                _ => recipient.clone(),
            };
            match lines
                .iter_mut()
                .find(|l| l.who == who && l.status == status)
            {
                Some(line) => line.parts.push(part),
                None => lines.push(Line {
                    status,
                    who,
                    parts: vec![part],
                    why: match (row.code, &row.detail) {
                        (Some(code), Some(detail)) => format!("[{code}] {detail}"),
                        (Some(code), None) => format!("[{code}]"),
                        (None, Some(detail)) => detail.clone(),
                        (None, None) => String::new(),
                    },
                }),
            }
        }
        if !lines.is_empty() {
            // Each recipient counts once, by its worst outcome.
            let mut worst: Vec<(&str, Status)> = Vec::new();
            for line in &lines {
                match worst.iter_mut().find(|(w, _)| *w == line.who) {
                    Some((_, s)) if severity(line.status) < severity(*s) => *s = line.status,
                    Some(_) => {}
                    None => worst.push((&line.who, line.status)),
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
            let outcome = slot.iter().find_map(|r| r.outcome.as_deref());
            heading.push_str(&format!(
                " {}{} recipient{}: {}",
                outcome.map(|o| format!("{o} · ")).unwrap_or_default(),
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
            .find_map(|r| r.run_detail.clone())
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
            "2026-09-28 lunch     menu · 2 recipients: 1 sent, 1 failed\n\
             \x20 failed   이서연 (fuuid-a)  #4     [-532] daily message limit per sender has been exceeded.\n\
             \x20 sent     me                #1-4\n\
             \x20 sent     이서연 (fuuid-a)  #1-3\n"
        );
        assert_eq!(part_ranges(&[5, 1, 2, 3, 7]), "#1-3,5,7");
    }
}
