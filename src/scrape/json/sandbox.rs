//! Filters run where they cannot hurt kbot: in a child process (`kbot run-filter`, hidden),
//! bounded in memory, CPU time and depth, killed when given up.
//!
//! A jq filter is code from the config running on an answer from the network. In kbot's own
//! process, a deep answer or a filter such as `def f: [f]; f` overflows the stack (which
//! aborts the whole process, the daemon with it), and `[repeat(1)]` grows until the machine
//! runs out of memory; jaq cannot be interrupted, so a thread given up on keeps running. The
//! child is the one place such a filter can fail without taking anything else down: on Unix
//! it lowers its own limits (`RLIMIT_DATA`, `RLIMIT_CPU`, no core dumps, no files) before
//! it reads the job, and dies with its parent (Linux); the parent kills it at the deadline
//! and reaps it, so nothing of a given-up filter runs on.
//!
//! The job goes in on stdin (one JSON line: filter, date, meal; then the answer), the
//! result comes out on stdout as one JSON object. The child starts with an empty
//! environment: it never holds a secret.

use std::io::{Read, Write};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::filter::{self, Output, RunError};
use crate::Meal;

/// The hidden sub-command the child runs.
pub const SUBCOMMAND: &str = "run-filter";
/// Memory a filter may use (the child's data segment and heap), in bytes.
pub const MEMORY_LIMIT: u64 = 128 << 20;
/// Most output a filter may give, in bytes of JSON text: far above any menu.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Deepest nesting of arrays and objects an answer may have: real APIs nest a handful of
/// levels; a deeper answer is refused before it is parsed.
pub const MAX_DEPTH: usize = 256;
/// What the child may print on stderr that the parent reads (its panic or abort message).
const MAX_STDERR_BYTES: u64 = 4096;

/// What the parent asks the child.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    filter: String,
    date: NaiveDate,
    meal: Meal,
    /// Whole seconds of CPU the child may use before the kernel stops it (a backstop for
    /// a parent that died without killing it).
    cpu_seconds: u64,
}

/// One output as the child sends it: the engine's text and the object's keys in order.
#[derive(Debug, Serialize, Deserialize)]
struct Shown {
    text: String,
    keys: Vec<String>,
}

/// The child's answer.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Outputs(Vec<Shown>),
    Failed(RunError),
}

// ─── The child ──────────────────────────────────────────────────────────────────────────

/// `kbot run-filter`: limit this process, read a job from `input`, run it, write the answer
/// to `output`. Exit code 0 when an answer was written (a filter error is an answer too).
pub fn serve(mut input: impl Read, mut output: impl Write) -> std::io::Result<()> {
    // Before reading anything: the job's size is the first thing a hostile answer controls.
    limit_self(None);
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if input.read(&mut byte)? == 0 || byte[0] == b'\n' {
            break;
        }
        header.push(byte[0]);
        if header.len() > 1 << 20 {
            return Err(std::io::Error::other("the job's header is too long"));
        }
    }
    let job: Job = serde_json::from_slice(&header).map_err(std::io::Error::other)?;
    limit_self(Some(job.cpu_seconds));
    let mut json = String::new();
    input
        .take(super::MAX_BODY_BYTES as u64 * 4 + 1)
        .read_to_string(&mut json)?;
    let answer = match run_capped(&job.filter, &json, job.date, job.meal) {
        Ok(outputs) => Answer::Outputs(outputs),
        Err(err) => Answer::Failed(err),
    };
    drop(json);
    serde_json::to_writer(&mut output, &answer).map_err(std::io::Error::other)?;
    output.flush()
}

/// The filter on the answer, refused when the answer nests deeper than [`MAX_DEPTH`] and
/// stopped once the output passes [`MAX_OUTPUT_BYTES`].
fn run_capped(code: &str, json: &str, date: NaiveDate, meal: Meal) -> Result<Vec<Shown>, RunError> {
    if let Some(depth) = filter::too_deep(json, MAX_DEPTH) {
        return Err(RunError::NotJson(format!(
            "it nests arrays and objects more than {MAX_DEPTH} levels deep (at byte {depth})"
        )));
    }
    let mut shown = Vec::new();
    let mut size = 0usize;
    filter::run_each(code, json, date, meal, |text, keys| {
        size += text.len();
        if size > MAX_OUTPUT_BYTES {
            return Err(RunError::Stopped(format!(
                "its output passed {} MB, more than any menu",
                MAX_OUTPUT_BYTES >> 20
            )));
        }
        shown.push(Shown { text, keys });
        Ok(())
    })?;
    Ok(shown)
}

/// Lower this process's limits: memory, core dumps, files, and (once known) CPU time; die
/// with the parent. Best effort: a limit the system refuses leaves the parent's deadline.
#[cfg(unix)]
fn limit_self(cpu_seconds: Option<u64>) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = |resource, value: u64| {
        let _ = setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        );
    };
    match cpu_seconds {
        None => {
            set(Resource::Data, MEMORY_LIMIT);
            set(Resource::Core, 0);
            set(Resource::Fsize, 0);
            #[cfg(target_os = "linux")]
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
        }
        Some(seconds) => set(Resource::Cpu, seconds.max(1)),
    }
}

#[cfg(not(unix))]
fn limit_self(_cpu_seconds: Option<u64>) {}

// ─── The parent ─────────────────────────────────────────────────────────────────────────

/// Run `code` on `json` in a child process, given up (and the child killed) at `deadline`.
/// Every way the child can fail is a [`RunError`] for this source only.
pub async fn run(
    code: &str,
    json: &str,
    date: NaiveDate,
    meal: Meal,
    deadline: tokio::time::Instant,
) -> Result<Vec<Output>, RunError> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let job = Job {
        filter: code.to_string(),
        date,
        meal,
        cpu_seconds: left.as_secs() + 1,
    };
    let mut header = serde_json::to_vec(&job).map_err(|e| RunError::Stopped(e.to_string()))?;
    header.push(b'\n');
    let mut child = tokio::process::Command::new(own_executable())
        .arg(SUBCOMMAND)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RunError::Stopped(format!("cannot start kbot to run the filter: {e}")))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(RunError::Stopped(
            "cannot talk to the filter's process".into(),
        ));
    };
    let exchange = async {
        let feed = async {
            // A child that died early closes its end: what it says on stderr tells why.
            let _ = stdin.write_all(&header).await;
            let _ = stdin.write_all(json.as_bytes()).await;
            drop(stdin);
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut stdout = stdout.take(MAX_OUTPUT_BYTES as u64 * 8);
        let mut stderr = stderr.take(MAX_STDERR_BYTES);
        let read_out = stdout.read_to_end(&mut out);
        let read_err = stderr.read_to_end(&mut err);
        let ((), _, _) = tokio::join!(feed, read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    let finished = tokio::time::timeout_at(deadline, exchange).await;
    let Ok((status, out, err)) = finished else {
        // Given up: the child is killed and reaped, so nothing of it runs on.
        let _ = child.kill().await;
        return Err(RunError::Stopped(format!(
            "it ran longer than {} s",
            secs(left)
        )));
    };
    let status =
        status.map_err(|e| RunError::Stopped(format!("cannot wait for the filter: {e}")))?;
    let answer = status
        .success()
        .then(|| serde_json::from_slice::<Answer>(&out).ok())
        .flatten();
    match answer {
        Some(Answer::Outputs(shown)) => shown
            .into_iter()
            .map(|Shown { text, keys }| filter::output_from(text, keys))
            .collect(),
        Some(Answer::Failed(err)) => Err(err),
        None => Err(RunError::Stopped(why_it_died(
            &status,
            &String::from_utf8_lossy(&err),
        ))),
    }
}

/// `5`, `0.1`: seconds to a tenth, without a trailing `.0`.
fn secs(d: Duration) -> String {
    let text = format!("{:.1}", d.as_secs_f32());
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// The words for a child that gave no answer, from its exit and what it printed.
fn why_it_died(status: &std::process::ExitStatus, stderr: &str) -> String {
    if stderr.contains("overflowed its stack") {
        return "the answer or the filter nests too deep (it ran out of stack)".into();
    }
    if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
        return format!("it needed more than {} MB of memory", MEMORY_LIMIT >> 20);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            // SIGXCPU
            Some(24) => return "it used up its CPU time".into(),
            Some(9) => return "it was killed".into(),
            Some(signal) => return format!("its process ended by signal {signal}"),
            None => {}
        }
    }
    format!("its process ended without an answer ({status})")
}

/// This very program: `/proc/self/exe` on Linux (the binary that runs, even when an update
/// replaced the file on disk), else the path the system gives.
fn own_executable() -> std::path::PathBuf {
    #[cfg(target_os = "linux")]
    {
        std::path::PathBuf::from("/proc/self/exe")
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::env::current_exe().unwrap_or_else(|_| "kbot".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_answers_with_outputs_or_the_filters_error() {
        let job = |filter: &str, json: &str| {
            let header = serde_json::to_string(&Job {
                filter: filter.into(),
                date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("date"),
                meal: Meal::Lunch,
                cpu_seconds: 30,
            })
            .expect("job");
            format!("{header}\n{json}")
        };
        let answer = |input: String| {
            let mut out = Vec::new();
            run_capped_from(&input, &mut out);
            serde_json::from_slice::<Answer>(&out).expect("an answer")
        };
        match answer(job(r#"{"b": [$meal], "a": 1}"#, "{}")) {
            Answer::Outputs(shown) => {
                assert_eq!(shown[0].keys, ["b", "a"]);
                assert_eq!(shown[0].text, r#"{"b":["lunch"],"a":1}"#);
            }
            other => panic!("{other:?}"),
        }
        let deep = "[".repeat(5000) + &"]".repeat(5000);
        assert!(matches!(
            answer(job(".", &deep)),
            Answer::Failed(RunError::NotJson(m)) if m.contains("256 levels")
        ));
        assert!(matches!(
            answer(job(r#"range(1000000000) | "0123456789""#, "null")),
            Answer::Failed(RunError::Stopped(m)) if m.contains("output passed")
        ));
    }

    /// [`serve`] without lowering the test process's own limits.
    fn run_capped_from(input: &str, out: &mut Vec<u8>) {
        let (header, json) = input.split_once('\n').expect("header line");
        let job: Job = serde_json::from_str(header).expect("job");
        let answer = match run_capped(&job.filter, json, job.date, job.meal) {
            Ok(o) => Answer::Outputs(o),
            Err(e) => Answer::Failed(e),
        };
        serde_json::to_writer(out, &answer).expect("write");
    }
}
