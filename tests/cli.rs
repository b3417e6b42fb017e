//! End-to-end tests of the offline commands through the real binary: config init/check/path,
//! scrape, preview and send-now --dry-run against saved pages (file:// and loopback HTTP).

mod common;

use std::path::Path;

use common::{TestEnv, json, pages_dir, source_block};
use predicates::prelude::*;
use serde_json::Value;

fn ground_truth(name: &str) -> Value {
    let text = std::fs::read_to_string(pages_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The selector a user would configure for a page: the ground truth's, without its comment.
fn selector_of(truth: &Value) -> String {
    let raw = truth["table_selector"].as_str().unwrap();
    raw.split("  (").next().unwrap().trim().to_string()
}

fn page_config(name: &str, extra_source: &str, rest: &str) -> String {
    let truth = ground_truth(name);
    let page = pages_dir().join(format!("{name}.html"));
    // This saved copy is UTF-8 text under a <meta> that still says EUC-KR: a user with
    // such a page names the real encoding.
    let extra_source = if name == "dgu-coop-week-2026-09-27" {
        format!("encoding = \"utf-8\"\n{extra_source}")
    } else {
        extra_source.to_string()
    };
    format!(
        "{}{rest}",
        source_block("식당", &page, &selector_of(&truth), &extra_source)
    )
}

/// The dish lists of a meal as the ground truth gives them, sorted (labels differ by page).
fn truth_dishes(truth: &Value, date: &str, meal: &str) -> Vec<Vec<String>> {
    let mut lists: Vec<Vec<String>> = truth_groups(truth, date, meal)
        .into_iter()
        .map(|(_, dishes)| dishes)
        .collect();
    lists.sort();
    lists
}

/// All dishes of a meal as the ground truth lists them, sorted by corner label.
fn truth_groups(truth: &Value, date: &str, meal: &str) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = truth["days"][date][meal]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let dishes = v
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_str().unwrap().to_string())
                        .collect();
                    (k.clone(), dishes)
                })
                .collect()
        })
        .unwrap_or_default();
    groups.sort();
    groups
}

fn scraped_dishes(source: &Value) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = source["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["dishes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn config_init_writes_a_valid_example_and_refuses_to_overwrite_it() {
    let env = TestEnv::new();
    env.kbot()
        .args(["config", "init"])
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote"));
    // The example parses, but its page and key are placeholders: not set yet.
    env.kbot()
        .args(["config", "check"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "source[0].url: not set yet: https://example.ac.kr/menu",
        ))
        .stderr(predicate::str::contains("kakao.client_id: not set yet"));
    env.kbot()
        .args(["config", "init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("hint: kbot config init --force"));
    // --force keeps what it overwrites.
    std::fs::write(env.config_path(), "# my own settings\n").unwrap();
    let mut backup = env.config_path().into_os_string();
    backup.push(".bak");
    env.kbot()
        .args(["config", "init", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "kept the old file as {}",
            std::path::Path::new(&backup).display()
        )));
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "# my own settings\n"
    );
}

#[test]
fn config_check_reports_every_problem_at_once_with_line_and_column() {
    let env = TestEnv::new();
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    let path = env.write_config(&format!(
        "timezone = \"Asia/Seol\"\n{}[schedule]\nlunch = \"30 25 * * Mon-Fri\"\nbrunch = \"0 10 * * Sun\"\n",
        source_block("진수원", &page, "table.tblType03", "")
    ));
    let output = env.kbot().args(["config", "check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let file = path.display().to_string();
    assert!(stderr.contains("(3 problems)"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{file}:1:12: timezone: unknown time zone \"Asia/Seol\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:8:9: schedule.lunch: invalid cron")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:9:1: schedule.brunch: unknown key")),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_says_how_to_create_one() {
    let env = TestEnv::new();
    env.kbot()
        .args(["scrape", "lunch"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("no configuration file at"))
        .stderr(predicate::str::contains("hint: kbot config init"));
}

#[test]
fn config_path_prefers_the_flag_over_the_environment() {
    let env = TestEnv::new();
    env.kbot()
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", env.config_path().display()));
    env.kbot()
        .args(["--config", "/elsewhere/kbot.toml", "config", "path"])
        .assert()
        .success()
        .stdout("/elsewhere/kbot.toml\n");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let env = TestEnv::new();
    env.kbot().args(["scrape", "brunch"]).assert().code(2);
    env.kbot()
        .args(["scrape", "lunch", "--date", "2023-13-01"])
        .assert()
        .code(2);
}

#[test]
fn scrape_json_has_the_design_shape_and_the_pages_dishes() {
    let env = TestEnv::new();
    let name = "jbnu-jinsuwon-2023-04-10";
    env.write_config(&page_config(name, "", ""));
    let truth = ground_truth(name);
    for date in truth["days"].as_object().unwrap().keys() {
        for meal in ["lunch", "dinner"] {
            let output = env
                .kbot()
                .args(["scrape", meal, "--date", date, "--json"])
                .output()
                .unwrap();
            assert!(output.status.success(), "{date} {meal}: {output:?}");
            let value = json(&output);
            assert_eq!(value["date"], date.as_str());
            assert_eq!(value["meal"], meal);
            let source = &value["sources"][0];
            let keys: Vec<&str> = source
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for key in ["name", "url", "outcome", "groups", "detail"] {
                assert!(keys.contains(&key), "{key} missing: {keys:?}");
            }
            assert_eq!(source["outcome"], "menu");
            let expected = truth_dishes(&truth, date, meal);
            assert_eq!(scraped_dishes(source), expected, "{date} {meal}");
        }
    }
}

#[test]
fn a_date_outside_the_pages_week_is_wrong_date_with_exit_5() {
    let env = TestEnv::new();
    env.write_config(&page_config("jbnu-jinsuwon-2023-04-10", "", ""));
    let output = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2023-04-24", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert_eq!(json(&output)["sources"][0]["outcome"], "wrong_date");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("hint: kbot scrape lunch --date 2023-04-24 --explain"),
        "{stderr}"
    );
}

#[test]
fn a_closed_meal_is_reported_as_closed_and_is_not_a_failure() {
    let env = TestEnv::new();
    let name = "dgu-coop-week-2026-09-27";
    // Every line, as many parts as needed (max_parts = 0, noise kept).
    env.write_config(&page_config(
        name,
        "",
        "[message]\nmax_parts = 0\nnoise = []\n",
    ));
    let truth = ground_truth(name);
    let closed = &truth["closed"][0];
    let (date, meal) = (
        closed["date"].as_str().unwrap(),
        closed["meal"].as_str().unwrap(),
    );
    let output = env
        .kbot()
        .args(["scrape", meal, "--date", date, "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json(&output)["sources"][0]["outcome"], "closed");
    env.kbot()
        .args(["send-now", meal, "--date", date, "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("오늘은 운영하지 않습니다"));
}

#[test]
fn a_selector_that_matches_nothing_is_not_found_and_explained() {
    let env = TestEnv::new();
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    env.write_config(&source_block("진수원", &page, "table.menu-v2", ""));
    let output = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2023-04-10", "--explain"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("not_found"), "{stdout}");
    assert!(stdout.contains("table.menu-v2"), "{stdout}");
    // The dry run sends nothing to friends, only a warning part for me.
    let dry = env
        .kbot()
        .args([
            "send-now",
            "lunch",
            "--date",
            "2023-04-10",
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(5));
    let parts = json(&dry)["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["recipients"], serde_json::json!(["me"]));
}

#[test]
fn preview_json_has_the_design_shape() {
    let env = TestEnv::new();
    env.write_config(&page_config(
        "jbnu-jinsuwon-2023-04-10",
        "",
        "[recipients]\nme = true\nfriends = [\"이서연\"]\n[message]\nlink = \"https://coopjbnu.kr/menu\"\n",
    ));
    let output = env
        .kbot()
        .args(["preview", "lunch", "--date", "2023-04-10", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let value = json(&output);
    assert_eq!(value["date"], "2023-04-10");
    assert_eq!(value["meal"], "lunch");
    let part = &value["parts"][0];
    assert_eq!(part["recipients"], serde_json::json!(["me", "이서연"]));
    let template = &part["template_object"];
    assert_eq!(template["object_type"], "text");
    assert_eq!(template["link"]["web_url"], "https://coopjbnu.kr/menu");
    assert!(
        template["text"]
            .as_str()
            .unwrap()
            .starts_with("4월 10일 (월) 점심")
    );
}

#[test]
fn dry_run_splits_a_long_menu_into_parts_of_at_most_200_characters_holding_every_dish_in_order() {
    let env = TestEnv::new();
    let name = "dgu-coop-week-2026-09-27";
    // Every line, as many parts as needed (max_parts = 0, noise kept).
    env.write_config(&page_config(
        name,
        "",
        "[message]\nmax_parts = 0\nnoise = []\n",
    ));
    let (date, meal) = ("2026-09-28", "lunch");
    let scraped = json(
        &env.kbot()
            .args(["scrape", meal, "--date", date, "--json"])
            .output()
            .unwrap(),
    );
    let mut expected: Vec<String> = Vec::new();
    for group in scraped["sources"][0]["groups"].as_array().unwrap() {
        for dish in group["dishes"].as_array().unwrap() {
            expected.push(dish.as_str().unwrap().to_string());
        }
    }
    assert!(expected.iter().map(|d| d.chars().count()).sum::<usize>() > 400);

    let output = env
        .kbot()
        .args(["send-now", meal, "--date", date, "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let parts = json(&output)["parts"].as_array().unwrap().clone();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    let mut lines: Vec<String> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let text = part["template_object"]["text"].as_str().unwrap();
        assert!(
            text.chars().count() <= 200,
            "part {i} has {} chars",
            text.chars().count()
        );
        let mut it = text.lines();
        let header = it.next().unwrap();
        assert!(
            header.ends_with(&format!("({}/{})", i + 1, parts.len())),
            "{header}"
        );
        lines.extend(it.map(str::to_string));
    }
    // Every dish appears, in page order (section headings sit between them).
    let mut rest = lines.iter();
    for dish in &expected {
        assert!(rest.any(|l| l == dish), "{dish} missing or out of order");
    }
}

#[test]
fn the_readme_demo_prints_mondays_lunch_from_the_bundled_page() {
    let env = TestEnv::new();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/kbot.toml");
    let output = env
        .kbot()
        .arg("--config")
        .arg(&demo)
        .args(["send-now", "lunch", "--date", "2023-04-10", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("4월 10일 (월) 점심"), "{stdout}");
    let truth = ground_truth("jbnu-jinsuwon-2023-04-10");
    for (_, dishes) in truth_groups(&truth, "2023-04-10", "lunch") {
        for dish in dishes {
            assert!(stdout.contains(&dish), "{dish} missing from:\n{stdout}");
        }
    }
}

#[test]
fn an_euc_kr_page_served_without_a_charset_header_is_read_right() {
    let bytes = std::fs::read(pages_dir().join("dgu-coop-week-2026-09-27-euckr.html")).unwrap();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in server.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes);
        }
    });
    let name = "dgu-coop-week-2026-09-27-euckr";
    let truth = ground_truth(name);
    let env = TestEnv::new();
    env.write_config(&format!(
        "[[source]]\nname = \"동국대\"\nurl = \"http://{addr}/menu\"\ntable = {:?}\n",
        selector_of(&truth)
    ));
    let (date, meal) = ("2026-09-29", "dinner");
    let output = env
        .kbot()
        .args(["scrape", meal, "--date", date, "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let expected = truth_dishes(&truth, date, meal);
    assert!(!expected.is_empty());
    assert_eq!(scraped_dishes(&json(&output)["sources"][0]), expected);
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let env = TestEnv::new();
    env.kbot()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("send-now"));
    env.kbot()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH kbot"));
}

/// `kbot ARGS | head -1` under bash's pipefail: kbot's own exit status and stderr.
fn piped_into(args: &str, reader: &str) -> std::process::Output {
    let env = TestEnv::new();
    let kbot = env!("CARGO_BIN_EXE_kbot");
    std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {kbot:?} {args} | {reader}"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("KBOT_CONFIG", env.config_path())
        .output()
        .unwrap()
}

#[test]
fn completions_and_man_piped_into_head_exit_0_without_a_word_on_stderr() {
    for args in ["completions bash", "man"] {
        let out = piped_into(args, "head -1");
        assert_eq!(out.status.code(), Some(0), "{args}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
        // A reader that closes the pipe before kbot writes a byte.
        let out = piped_into(args, "{ exec 0<&-; }");
        assert_eq!(out.status.code(), Some(0), "{args}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_man_page_is_one_page_with_files_environment_exit_status_and_examples() {
    let env = TestEnv::new();
    let out = env.kbot().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    for section in [
        ".SH COMMANDS",
        ".SH FILES",
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    assert!(page.contains("kbot send\\-now"), "commands are listed");
    // No pointers to per-command pages that are not generated.
    assert!(!page.contains("kbot-scrape(1)") && !page.contains("kbot\\-scrape(1)"));
    assert!(!page.contains("(1)"), "a reference to another page: {page}");
}

#[test]
fn date_accepts_weekday_names_and_month_slash_day() {
    let env = TestEnv::new();
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    env.write_config(&source_block("진수원", &page, "table.tblType03", ""));
    // 4/10 is this year's, not 2023's: the page's week is another, so wrong_date.
    let out = env
        .kbot()
        .args(["scrape", "lunch", "--date", "4/10", "--json"])
        .output()
        .unwrap();
    let value = json(&out);
    assert!(
        value["date"].as_str().unwrap().ends_with("-04-10"),
        "{value}"
    );
    for word in ["today", "tomorrow", "mon", "월", "금요일"] {
        let out = env
            .kbot()
            .args(["scrape", "lunch", "--date", word, "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(5),
            "{word}: {out:?}"
        );
        assert!(json(&out)["date"].is_string(), "{word}");
    }
    env.kbot()
        .args(["scrape", "lunch", "--date", "someday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected YYYY-MM-DD, today, tomorrow, a weekday (mon, 월) or M/D",
        ));
}

#[test]
fn service_uninstall_prints_the_systemctl_disable_line() {
    let env = TestEnv::new();
    let out = env
        .kbot()
        .args(["service", "uninstall", "--systemd"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("systemctl --user disable --now kbot"),
        "{text}"
    );
}

#[test]
fn config_check_names_near_misses_and_bare_urls_in_plain_words() {
    let env = TestEnv::new();
    env.write_config(
        "[[source]]\nurl = \"cafeteria.ac.kr/menu\"\ntable = \"td >\"\n[message]\non_close = \"skip\"\n",
    );
    let out = env.kbot().args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("did you mean `on_closed`?"), "{err}");
    assert!(
        err.contains("\"cafeteria.ac.kr/menu\" has no scheme"),
        "{err}"
    );
    assert!(
        err.contains("did you mean \"https://cafeteria.ac.kr/menu\"?"),
        "{err}"
    );
    assert!(err.contains("it ends with >, + or ~"), "{err}");
    assert!(!err.contains("report this to the developer"), "{err}");
    // A bare path that names a file is fine.
    std::fs::write(env.path("menu.html"), "<table></table>").unwrap();
    env.write_config("[[source]]\nurl = \"menu.html\"\ntable = \"table\"\n");
    env.kbot().args(["config", "check"]).assert().success();
}

#[test]
fn a_fifo_a_huge_file_and_bad_utf8_are_config_errors_not_hangs() {
    let env = TestEnv::new();
    let fifo = env.path("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    env.kbot()
        .args(["config", "check"])
        .env("KBOT_CONFIG", &fifo)
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("is not a regular file"));

    env.write_config(&format!("# {}\n", "x".repeat(1024 * 1024)));
    env.kbot()
        .args(["config", "check"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("a configuration is at most 1 MB"));

    std::fs::write(
        env.config_path(),
        b"timezone = \"Asia/Seoul\"\n# \xbe\xc8\n",
    )
    .unwrap();
    env.kbot()
        .args(["config", "check"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "config.toml:2:3: not UTF-8 text (invalid byte at offset 26)",
        ));
}

#[test]
fn commands_that_do_not_scrape_work_with_a_broken_source_and_warn() {
    let env = TestEnv::new();
    env.write_config("[[source]]\nurl = \"https://x.kr\"\ntable = \"td >\"\n[kakao]\nclient_id = \"k\"\n[secrets]\nstore = \"file\"\n");
    // Nobody logged in: history works (exit 0); status and logout say "not logged in" (3).
    for (args, code) in [(&["history"][..], 0), (&["status"], 3), (&["logout"], 3)] {
        let out = env.kbot().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        if code == 3 {
            assert!(err.contains("not logged in"), "{args:?}: {err}");
        }
        assert!(
            err.contains("source[0].table: invalid CSS selector"),
            "{args:?}: {err}"
        );
    }
    // friends needs a login, not a source: it fails on the login (exit 3), not the config.
    env.kbot().arg("friends").assert().code(3);
    // Commands that scrape still refuse it.
    env.kbot().args(["scrape", "lunch"]).assert().code(4);
}

#[test]
fn a_bare_kbot_prints_the_help_without_the_hidden_helper_and_exits_2() {
    let env = TestEnv::new();
    let out = env.kbot().output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Commands:") && text.contains("doctor"),
        "{text}"
    );
    assert!(!text.contains("open-browser"), "{text}");
}
