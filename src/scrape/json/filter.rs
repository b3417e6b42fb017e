//! The jq engine for json sources: compile a filter (syntax errors with line and column),
//! run it with `$date`, `$meal`, `$weekday` bound, and give up on one that runs too long.
//! Built on jaq (`jaq-core`, `jaq-std`, `jaq-json`); `env` is not offered to filters and
//! `halt` is an error, so a filter can neither read kbot's secrets nor end kbot.
//!
//! Pure. The daemon and the commands never run a filter in their own process: see
//! `sandbox`, which runs [`run_each`] in a child.

use chrono::{Datelike, NaiveDate};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value;

use crate::Meal;

/// A jq filter that does not compile: the engine's message and where (1-based line:col).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilterError {
    /// What is wrong, e.g. "expected closing parenthesis".
    pub message: String,
    /// 1-based line in the filter.
    pub line: usize,
    /// 1-based column (characters) in that line.
    pub col: usize,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "jq syntax error at line {}, column {} of the filter: {}",
            self.line, self.col, self.message
        )
    }
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// The variables every filter may use.
const GLOBALS: [&str; 3] = ["$date", "$meal", "$weekday"];

fn position(code: &str, part: &str) -> (usize, usize) {
    let start = if part.as_ptr() as usize >= code.as_ptr() as usize
        && part.as_ptr() as usize <= code.as_ptr() as usize + code.len()
    {
        jaq_core::load::span(code, part).start
    } else {
        0
    };
    let before = &code[..start.min(code.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Deepest nesting of parentheses, brackets and braces a filter may have: the parser
/// recurses at each level, and no real filter nests more than a few dozen.
pub const MAX_FILTER_DEPTH: usize = 256;

/// Where a JSON text or a filter first nests `(`, `[` or `{` deeper than `max` (a byte
/// offset), outside `"…"` strings. Linear.
pub fn too_deep(text: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, b) in text.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn compile(code: &str) -> Result<Filter, FilterError> {
    if let Some(at) = too_deep(code, MAX_FILTER_DEPTH) {
        let (line, col) = position(code, &code[at..]);
        return Err(FilterError {
            message: format!("it nests more than {MAX_FILTER_DEPTH} levels deep"),
            line,
            col,
        });
    }
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    // No `env`: a filter must not be able to read secrets (a Kakao client secret, another
    // source's API key) out of kbot's environment and send them as dishes.
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| *name != "env");
    let arena = Arena::default();
    let loader = Loader::new(defs);
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| {
            let first = errs.into_iter().next().map(|(_, e)| e);
            let (message, at) = match first {
                Some(jaq_core::load::Error::Lex(es)) => match es.first() {
                    // An unclosed `(`/`[`/`{`/`"`: point at the opening one.
                    Some((jaq_core::load::lex::Expect::Delim(open), _)) => {
                        (format!("`{open}` is never closed"), *open)
                    }
                    Some((expect, found)) => (format!("expected {}", expect.as_str()), *found),
                    None => ("cannot read the filter".to_string(), code),
                },
                Some(jaq_core::load::Error::Parse(es)) => match es.first() {
                    Some((expect, found)) => {
                        let what = if found.is_empty() {
                            "the end of the filter".to_string()
                        } else {
                            format!("`{}`", found.chars().take(20).collect::<String>())
                        };
                        (
                            format!("expected {}, found {what}", expect.as_str()),
                            *found,
                        )
                    }
                    None => ("cannot parse the filter".to_string(), code),
                },
                Some(jaq_core::load::Error::Io(es)) => (
                    es.first()
                        .map_or("modules are not supported".into(), |(_, m)| m.clone()),
                    code,
                ),
                None => ("cannot parse the filter".to_string(), code),
            };
            let (line, col) = position(code, at);
            FilterError { message, line, col }
        })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(GLOBALS)
        .compile(modules)
        .map_err(|errs| {
            let first = errs
                .into_iter()
                .next()
                .and_then(|(_, es)| es.into_iter().next());
            match first {
                Some((name, undefined)) => {
                    let (line, col) = position(code, name);
                    FilterError {
                        message: format!("undefined {} `{name}`", undefined.as_str()),
                        line,
                        col,
                    }
                }
                None => FilterError {
                    message: "cannot compile the filter".into(),
                    line: 1,
                    col: 1,
                },
            }
        })
}

/// Whether a filter compiles (for `config check`). Pure.
pub fn check_filter(code: &str) -> Result<(), FilterError> {
    compile(code).map(drop)
}

/// Why running a filter gave no usable output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RunError {
    /// The filter does not compile (config check catches this first).
    Syntax(FilterError),
    /// The answer is not JSON.
    NotJson(String),
    /// The filter raised an error (`error("…")`, a type error…): its message.
    Raised(String),
    /// The filter was stopped: too slow, too much memory, too deep, too much output.
    Stopped(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Syntax(e) => e.fmt(f),
            RunError::NotJson(e) => write!(f, "the answer is not JSON: {e}"),
            RunError::Raised(m) => write!(f, "the jq filter raised an error: {m}"),
            RunError::Stopped(m) => write!(f, "the jq filter was stopped: {m}"),
        }
    }
}

/// One output of a filter: its JSON value, the top-level keys in the order the filter wrote
/// them (`serde_json` sorts them), and the text as the engine printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The value.
    pub value: Value,
    /// For an object, its keys in output order.
    pub keys: Vec<String>,
    /// As printed by the engine (order kept), for `--explain`.
    pub text: String,
}

/// Run `code` on a JSON text with `$date` (YYYY-MM-DD), `$meal` and `$weekday` (1–7) bound.
/// Every output, in order. Pure.
pub fn run_filter(
    code: &str,
    json: &str,
    date: NaiveDate,
    meal: Meal,
) -> Result<Vec<Output>, RunError> {
    let mut out = Vec::new();
    run_each(code, json, date, meal, |text, keys| {
        out.push(output_from(text, keys)?);
        Ok(())
    })?;
    Ok(out)
}

/// Run `code` on a JSON text, handing each output to `each` as the engine prints it, with
/// an object's top-level keys in output order; `each` may stop the run with an error. Pure.
pub fn run_each(
    code: &str,
    json: &str,
    date: NaiveDate,
    meal: Meal,
    mut each: impl FnMut(String, Vec<String>) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let filter = compile(code).map_err(RunError::Syntax)?;
    let input = jaq_json::read::parse_single(json.trim().as_bytes())
        .map_err(|e| RunError::NotJson(e.to_string()))?;
    let vars = Vars::new([
        Val::from(date.format("%Y-%m-%d").to_string()),
        Val::from(meal.as_str().to_string()),
        Val::from(isize::try_from(date.weekday().number_from_monday()).unwrap_or(1)),
    ]);
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, vars);
    for item in filter.id.run((ctx, input)) {
        // Not `unwrap_valr`: on `halt` it exits the process.
        let value = item.map_err(|exn| match exn.get_err() {
            Ok(e) => RunError::Raised(error_text(&e)),
            Err(_) => RunError::Raised("the filter called halt".into()),
        })?;
        let keys = match &value {
            Val::Obj(map) => map
                .keys()
                .map(|k| match serde_json::from_str::<Value>(&k.to_string()) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(_) => k.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        each(value.to_string(), keys)?;
    }
    Ok(())
}

/// An output from the engine's text: plain JSON (no NaN, nesting within serde's limit).
pub fn output_from(text: String, keys: Vec<String>) -> Result<Output, RunError> {
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => Ok(Output { value, keys, text }),
        Err(err) => {
            let start: String = text.chars().take(60).collect();
            let more = if start.len() < text.len() { "…" } else { "" };
            Err(RunError::Raised(format!(
                "the output {start}{more} is not plain JSON ({err})"
            )))
        }
    }
}

/// An `error("text")` shows its text unquoted; anything else as the engine prints it.
fn error_text(error: &jaq_core::Error<Val>) -> String {
    let value = error.clone().into_val();
    match serde_json::from_str::<Value>(&value.to_string()) {
        Ok(Value::String(s)) => s,
        _ => error.to_string(),
    }
}

/// Strip a JSONP wrapper (`callback({...});`) when the text is not bare JSON.
pub fn strip_jsonp(text: &str) -> &str {
    let trimmed = text.trim().trim_start_matches('\u{feff}');
    if trimmed.starts_with(['{', '[', '"']) || trimmed.is_empty() {
        return trimmed;
    }
    let Some(open) = trimmed.find('(') else {
        return trimmed;
    };
    let name = trimmed[..open].trim();
    let is_callback = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.'));
    let body = trimmed.trim_end_matches(';').trim_end();
    match (is_callback, body.strip_suffix(')')) {
        (true, Some(inner)) if inner.len() > open => inner[open + 1..].trim(),
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn values(result: Result<Vec<Output>, RunError>) -> Result<Vec<Value>, RunError> {
        result.map(|outs| outs.into_iter().map(|o| o.value).collect())
    }

    #[test]
    fn jaq_interpolates_a_divided_integer_as_a_float_unlike_jq() {
        let out = values(run_filter(
            r#"6 / 2 | "menu\(.)""#,
            "null",
            d(2025, 11, 24),
            Meal::Lunch,
        ));
        assert_eq!(out, Ok(vec![Value::from("menu3.0")]));
        let floored = values(run_filter(
            r#"6 / 2 | floor | "menu\(.)""#,
            "null",
            d(2025, 11, 24),
            Meal::Lunch,
        ));
        assert_eq!(floored, Ok(vec![Value::from("menu3")]));
    }

    #[test]
    fn a_filter_that_raises_gives_its_message_and_a_syntax_error_its_position() {
        let raised = values(run_filter(
            r#"error("NEIS says ERROR-290: bad key")"#,
            "{}",
            d(2026, 6, 1),
            Meal::Lunch,
        ));
        assert_eq!(
            raised,
            Err(RunError::Raised("NEIS says ERROR-290: bad key".into()))
        );
        let err = check_filter(".a |\n  (.b | ").expect_err("unclosed paren");
        assert_eq!((err.line, err.col), (2, 3), "{err}");
        assert!(err.to_string().contains("line 2, column 3"), "{err}");
        let undefined = check_filter(".x | nosuchfn").expect_err("undefined");
        assert!(undefined.message.contains("nosuchfn"), "{undefined}");
        assert_eq!((undefined.line, undefined.col), (1, 6));
        assert!(check_filter("[$date, $meal, $weekday]").is_ok());
        let vars = values(run_filter(
            "[$date, $meal, $weekday]",
            "{}",
            d(2025, 11, 26),
            Meal::Dinner,
        ));
        assert_eq!(
            vars,
            Ok(vec![serde_json::json!(["2025-11-26", "dinner", 3])])
        );
    }

    #[test]
    fn depth_is_counted_outside_strings_only_and_a_deep_filter_does_not_compile() {
        assert_eq!(too_deep(r#"[[["[[[[", "\"[[["]]]"#, 3), None);
        assert_eq!(too_deep("[[[[1]]]]", 3), Some(3));
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(too_deep(&deep, 256), Some(256));
        let filter = format!(".a | {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let err = check_filter(&filter).expect_err("too deep");
        assert_eq!((err.line, err.col), (1, 6 + MAX_FILTER_DEPTH), "{err}");
        assert!(err.message.contains("more than 256 levels"), "{err}");
    }

    #[test]
    fn a_jsonp_wrapper_is_stripped_and_bare_json_left_alone() {
        assert_eq!(strip_jsonp("jQuery123_456({\"a\":1});"), "{\"a\":1}");
        assert_eq!(strip_jsonp(" cb ( [1] ) "), "[1]");
        assert_eq!(strip_jsonp("{\"f(\":1}"), "{\"f(\":1}");
    }

    #[test]
    fn a_filter_can_neither_read_the_environment_nor_stop_kbot() {
        let env = check_filter("env.KBOT_CLIENT_SECRET").expect_err("no env");
        assert!(env.message.contains("env"), "{env}");
        let halted = values(run_filter("halt", "null", d(2026, 6, 1), Meal::Lunch));
        assert_eq!(
            halted,
            Err(RunError::Raised("the filter called halt".into()))
        );
        let code = values(run_filter(
            "halt_error(1)",
            "null",
            d(2026, 6, 1),
            Meal::Lunch,
        ));
        assert!(code.is_err());
    }
}
