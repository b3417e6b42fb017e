//! Setting a source up through the real `kbot` binary: `table = "auto"` from `config init`,
//! `kbot scrape --find` and its selectors, the `no_meal` outcome (nothing sent, nobody
//! warned, advice to drop the schedule key), the `undated` key, and page text that carries
//! terminal escapes.
//!
//! I/O: runs the binary against saved pages through `file://` URLs in a temp dir.

mod common;

use common::{TestEnv, json, pages_dir, source_block};
use serde_json::Value;

fn page(name: &str) -> std::path::PathBuf {
    pages_dir().join(format!("{name}.html"))
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn groups(value: &Value) -> Value {
    value["sources"][0]["groups"].clone()
}

#[test]
fn find_lists_the_menu_tables_first_and_its_pasted_selector_reads_the_same_menu_as_auto() {
    let env = TestEnv::new();
    let name = "pknu-weekly-2025-08-18";
    let url = url::Url::from_file_path(page(name)).expect("absolute path");
    let output = env
        .kbot()
        .args(["scrape", "--date", "2025-08-18", "--find", url.as_str()])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let first = text.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("  menu score"), "{text}");
    assert!(text.contains("week grid"), "{text}");
    assert!(text.contains("under \"미래관 라일락 레스토랑\""), "{text}");
    let pasted = text
        .lines()
        .find_map(|l| l.split_once("or paste: table = "))
        .map(|(_, quoted)| serde_json::from_str::<String>(quoted).expect("a quoted selector"))
        .expect("a paste line");

    let mut runs = Vec::new();
    for table in ["auto", pasted.as_str()] {
        env.write_config(&source_block("식당", &page(name), table, ""));
        let output = env
            .kbot()
            .args(["scrape", "lunch", "--date", "2025-08-19", "--json"])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{table}: {output:?}");
        let value = json(&output);
        assert_eq!(value["sources"][0]["outcome"], "menu", "{table}");
        runs.push(groups(&value));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].as_array().map(Vec::len), Some(9));
}

#[test]
fn find_takes_a_saved_pages_path_as_well_as_a_url() {
    let env = TestEnv::new();
    let path = page("jbnu-jinsuwon-2023-04-10");
    let output = env
        .kbot()
        .args(["scrape", "--date", "2023-04-10", "--find"])
        .arg(&path)
        .output()
        .expect("runs");
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(text.starts_with("file://"), "{text}");
    assert!(
        text.contains("menu score") && text.contains("table.tblType03"),
        "{text}"
    );
    // A name that is neither a URL nor a file is named in the failure.
    let missing = env
        .kbot()
        .args(["scrape", "--find", "no-such-page.html"])
        .output()
        .expect("runs");
    let errors = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(5), "{missing:?}");
    assert!(
        errors.contains("no-such-page.html (fetch_failed)"),
        "{errors}"
    );
}

#[test]
fn a_meal_the_page_never_has_is_no_meal_sends_nothing_warns_nobody_and_find_says_to_drop_it() {
    let env = TestEnv::new();
    env.write_config(&format!(
        "{}[recipients]\nme = true\nfriends = [\"이서연\"]\n[schedule]\nbreakfast = \"30 7 * * Mon-Fri\"\nlunch = \"30 11 * * Mon-Fri\"\n",
        source_block("진수원", &page("jbnu-jinsuwon-2023-04-10"), "auto", "")
    ));
    let output = env
        .kbot()
        .args(["scrape", "breakfast", "--date", "2023-04-10", "--json"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "no_meal is not a failure: {output:?}"
    );
    let value = json(&output);
    assert_eq!(value["sources"][0]["outcome"], "no_meal");

    let preview = env
        .kbot()
        .args(["preview", "breakfast", "--date", "2023-04-10", "--json"])
        .output()
        .expect("runs");
    assert!(preview.status.success(), "{preview:?}");
    assert_eq!(
        json(&preview)["parts"],
        serde_json::json!([]),
        "nothing for friends, no warning for me"
    );

    let find = env
        .kbot()
        .args(["scrape", "--find", "--date", "2023-04-10"])
        .output()
        .expect("runs");
    assert!(find.status.success(), "{find:?}");
    let text = stdout(&find);
    assert!(
        text.contains(
            "this page has no breakfast: remove schedule.breakfast or add a source that has it"
        ),
        "{text}"
    );
    assert!(!text.contains("no lunch"), "{text}");
}

#[test]
fn config_init_writes_table_auto_and_the_undated_key_is_checked() {
    let env = TestEnv::new();
    env.kbot().args(["config", "init"]).assert().success();
    let written = std::fs::read_to_string(env.config_path()).expect("written");
    assert!(written.contains("\ntable = \"auto\"\n"), "{written}");

    env.write_config(&source_block(
        "식당",
        &page("jbnu-jinsuwon-2023-04-10"),
        "auto",
        "undated = \"yesterday\"",
    ));
    let output = env.kbot().args(["config", "check"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("undated") && err.contains("\"today\""),
        "{err}"
    );
}

#[test]
fn undated_today_or_a_date_placeholder_in_the_url_trusts_a_page_that_states_no_date() {
    let env = TestEnv::new();
    let day_view = "<table><tr><th>구분</th><th>메뉴</th></tr><tr><th>중식</th><td>김밥<br>라면</td></tr></table>";
    std::fs::write(env.path("menu.html"), day_view).expect("write page");
    std::fs::write(env.path("menu-20260302.html"), day_view).expect("write page");
    let outcome = |extra: &str, file: &str| {
        let page = env.path(file);
        let mut block = source_block("식당", &page, "auto", extra);
        if file.contains('{') {
            block = format!(
                "[[source]]\nname = \"식당\"\nurl = {:?}\ntable = \"auto\"\n",
                format!("file://{}", page.display())
            );
        }
        env.write_config(&block);
        let output = env
            .kbot()
            .args(["scrape", "lunch", "--date", "2026-03-02", "--json"])
            .output()
            .expect("runs");
        json(&output)["sources"][0].clone()
    };
    let refused = outcome("", "menu.html");
    assert_eq!(refused["outcome"], "wrong_date");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("undated = \"today\"") && d.contains("{date:%Y%m%d}")),
        "{refused}"
    );
    assert_eq!(
        outcome("undated = \"today\"", "menu.html")["outcome"],
        "menu"
    );
    assert_eq!(outcome("", "menu-{date:%Y%m%d}.html")["outcome"], "menu");
}

#[test]
fn terminal_escapes_and_bidi_overrides_in_a_page_never_reach_scrape_or_preview_output() {
    let env = TestEnv::new();
    let hostile = "<p>3월 2일 ~ 3월 6일</p><table><tr><th>구분</th><th>월</th></tr>\
        <tr><th>중식\u{1b}]0;owned\u{7}</th><td>김치\u{1b}[2J찌개<br>\u{202e}밥</td></tr></table>";
    std::fs::write(env.path("menu.html"), hostile).expect("write page");
    env.write_config(&format!(
        "{}[recipients]\nme = true\n",
        source_block("식당", &env.path("menu.html"), "auto", "")
    ));
    for args in [
        &["scrape", "lunch", "--date", "2026-03-02", "--explain"][..],
        &["scrape", "lunch", "--date", "2026-03-02", "--json"][..],
        &["preview", "lunch", "--date", "2026-03-02", "--json"][..],
    ] {
        let output = env.kbot().args(args).output().expect("runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        let text = stdout(&output);
        assert!(text.contains("김치 찌개"), "{args:?}: {text}");
        for bad in ["\u{1b}", "\\u001b", "\u{7}", "\u{202e}", "owned"] {
            assert!(!text.contains(bad), "{args:?} carries {bad:?}: {text}");
        }
    }
}

#[test]
fn a_page_that_decodes_to_many_replacement_characters_is_reported_not_scraped() {
    let env = TestEnv::new();
    env.write_config(&source_block(
        "상록원",
        &page("dgu-coop-week-2026-09-27-euckr"),
        "auto",
        "encoding = \"utf-8\"",
    ));
    let output = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-09-28", "--json"])
        .output()
        .expect("runs");
    let source = json(&output)["sources"][0].clone();
    assert_eq!(source["outcome"], "not_found", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("replacement characters") && d.contains("encoding")),
        "{source}"
    );
}
