//! URL and selector templates: `{date:FMT}` (strftime, date fields), `{week_start:FMT}` (the
//! Monday of that week), `{date}` and `{weekday}` (1..7, Monday = 1), with `{{`/`}}` for literal
//! braces; and checking a configured selector.
//!
//! Pure: no I/O. Used by `parse` (selectors), `scrape` (URLs) and `config` (validation).

use std::fmt::Write as _;

use chrono::format::StrftimeItems;
use chrono::{Datelike, NaiveDate};
use scraper::Selector;

use crate::error::{Exit, Report};

/// A URL or selector template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed `{{` in {template:?}")]
    Unclosed { template: String },
    /// A placeholder other than `{date:FMT}`, `{date}` or `{weekday}`.
    #[error(
        "unknown placeholder `{{{placeholder}}}` in {template:?}: expected {{date:FMT}}, {{week_start:FMT}} or {{weekday}}"
    )]
    UnknownPlaceholder {
        placeholder: String,
        template: String,
    },
    /// A `{date:FMT}` whose FMT is not a strftime format for a date.
    #[error("bad date format `{format}` in {template:?}: {reason}")]
    BadFormat {
        format: String,
        template: String,
        reason: &'static str,
    },
}

impl Report for TemplateError {
    fn exit(&self) -> Exit {
        Exit::Config
    }
    fn hint(&self) -> Option<String> {
        Some("use {date:%Y%m%d} (strftime date fields) or {weekday} (1..7, Mon=1); write {{ and }} for literal braces".into())
    }
}

/// Expand `{date:FMT}` (strftime, date fields only), `{date}` (`%Y-%m-%d`) and `{weekday}`
/// (1..7, Monday = 1) in a URL or selector. `{{` and `}}` are literal braces.
pub fn expand(template: &str, date: NaiveDate) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if rest[at..].starts_with('}') {
            out.push('}');
            rest = after.strip_prefix('}').unwrap_or(after);
            continue;
        }
        if let Some(after) = after.strip_prefix('{') {
            out.push('{');
            rest = after;
            continue;
        }
        let Some(close) = after.find('}') else {
            return Err(TemplateError::Unclosed {
                template: template.to_string(),
            });
        };
        let inner = &after[..close];
        match inner.trim() {
            "weekday" => {
                let _ = write!(out, "{}", date.weekday().number_from_monday());
            }
            "date" => {
                let _ = write!(out, "{}", date.format("%Y-%m-%d"));
            }
            "week_start" => {
                let _ = write!(out, "{}", week_start(date).format("%Y-%m-%d"));
            }
            other => match other.strip_prefix("date:") {
                Some(format) => format_date(&mut out, date, format, template)?,
                None if other.starts_with("week_start:") => {
                    let format = &other["week_start:".len()..];
                    format_date(&mut out, week_start(date), format, template)?
                }
                None => {
                    return Err(TemplateError::UnknownPlaceholder {
                        placeholder: inner.to_string(),
                        template: template.to_string(),
                    });
                }
            },
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The Monday of `date`'s week: `{week_start:FMT}`, for endpoints that take the week.
fn week_start(date: NaiveDate) -> NaiveDate {
    date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn format_date(
    out: &mut String,
    date: NaiveDate,
    format: &str,
    template: &str,
) -> Result<(), TemplateError> {
    let bad = |reason| TemplateError::BadFormat {
        format: format.to_string(),
        template: template.to_string(),
        reason,
    };
    if format.is_empty() {
        return Err(bad("the format is empty"));
    }
    let items = StrftimeItems::new(format)
        .parse()
        .map_err(|_| bad("not a strftime format"))?;
    // Formatting a date with a time field (%H) fails instead of panicking through to_string.
    write!(out, "{}", date.format_with_items(items.iter()))
        .map_err(|_| bad("a date has no time or zone fields"))
}

/// Validate a selector from the config: expand its placeholders for a sample Monday and
/// parse it as CSS. `Err` carries the template's or scraper's message.
pub fn check_selector(selector: &str) -> Result<(), String> {
    let sample = NaiveDate::from_ymd_opt(2024, 1, 1).ok_or("no sample date")?;
    let expanded = expand(selector, sample).map_err(|e| e.to_string())?;
    Selector::parse(&expanded)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn date_and_weekday_placeholders_expand_in_urls_and_selectors() {
        let date = d(2023, 4, 12);
        assert_eq!(
            expand("https://x.kr/menu?d={date:%Y%m%d}&w={weekday}", date).as_deref(),
            Ok("https://x.kr/menu?d=20230412&w=3")
        );
        assert_eq!(
            expand("td:nth-child({weekday})", d(2023, 4, 16)).as_deref(),
            Ok("td:nth-child(7)")
        );
        assert_eq!(
            expand("{date}/{{raw}}", date).as_deref(),
            Ok("2023-04-12/{raw}")
        );
    }

    #[test]
    fn week_start_is_the_monday_of_the_target_week() {
        // Wednesday and Sunday of the week of Monday 2025-11-24.
        for date in [d(2025, 11, 26), d(2025, 11, 30), d(2025, 11, 24)] {
            assert_eq!(
                expand("bgnde={week_start:%Y-%m-%d}&w={week_start}", date).as_deref(),
                Ok("bgnde=2025-11-24&w=2025-11-24")
            );
        }
        assert!(expand("{week_start:%H}", d(2025, 11, 26)).is_err());
    }

    #[test]
    fn bad_placeholders_are_errors_that_name_them() {
        let date = d(2023, 4, 12);
        let unknown = expand("x?{day}", date).expect_err("unknown placeholder");
        assert!(unknown.to_string().contains("`{day}`"), "{unknown}");
        let time = expand("{date:%H}", date).expect_err("a date has no hour");
        assert!(time.to_string().contains("`%H`"), "{time}");
        let bad = expand("{date:%Q}", date).expect_err("not strftime");
        assert!(bad.to_string().contains("`%Q`"), "{bad}");
        assert!(matches!(
            expand("{date:%Y", date),
            Err(TemplateError::Unclosed { .. })
        ));
        assert_eq!(unknown.exit(), Exit::Config);
    }

    #[test]
    fn check_selector_accepts_templates_and_reports_scrapers_message() {
        assert_eq!(
            check_selector("table.menu tr:nth-child(2) td:nth-child({weekday})"),
            Ok(())
        );
        let err = check_selector("table..menu").expect_err("invalid css");
        assert!(!err.is_empty());
        assert!(check_selector("td:nth-child({wday})").is_err());
    }
}
