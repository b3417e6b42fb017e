//! End to end: `kind = "json"` sources through the real binary against the JSON samples of
//! `tests/fixtures/json`, served on 127.0.0.1 by a server that checks each request the way
//! the real endpoint needs it (method, path, query, form body, headers) and answers 400
//! otherwise. The filters are the truth files' own (`jq_example.filter`).

mod common;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use common::{TestEnv, kakao_section, seed_login};
use support::fake_kakao::FakeKakao;
use support::fake_kakao::api::MEMO_PATH;

const NEIS_KEY: &str = "neis-SECRET-9f3a77c2b1";

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json")
}

fn truth(name: &str) -> Value {
    let text =
        std::fs::read_to_string(fixtures().join(format!("{name}.truth.json"))).expect("truth file");
    serde_json::from_str(&text).expect("truth is JSON")
}

fn body(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("{name}.json.body"))).expect("body file")
}

/// The filter of a truth file, as written there — with, for Hanbat only, the one change
/// jaq needs (see `src/scrape/json.rs`: jaq's `6 / 2` is `3.0` and interpolates as "3.0").
fn truth_filter(name: &str) -> String {
    truth(name)["jq_example"]["filter"]
        .as_str()
        .expect("filter")
        .replace("/ 86400) as $i", "/ 86400 | floor) as $i")
}

// ─── The menu server ────────────────────────────────────────────────────────────────────

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The JSON endpoints, each checking its request like the real site would need it.
struct MenuServer {
    addr: SocketAddr,
    log: Log,
}

fn answer(seen: &Seen) -> Result<(Vec<u8>, &'static str), String> {
    let q = |k: &str| seen.query.get(k).map(String::as_str);
    let h = |k: &str| seen.headers.get(k).map(String::as_str);
    let is_ymd = |v: Option<&str>| {
        v.is_some_and(|v| NaiveDate::parse_from_str(v, "%Y%m%d").is_ok() && v.len() == 8)
    };
    match seen.path.as_str() {
        "/hub/mealServiceDietInfo" | "/nodata/hub/mealServiceDietInfo" => {
            if seen.method != "GET" {
                return Err("NEIS wants GET".into());
            }
            for (k, v) in [
                ("KEY", NEIS_KEY),
                ("Type", "json"),
                ("pIndex", "1"),
                ("pSize", "1000"),
                ("ATPT_OFCDC_SC_CODE", "B10"),
                ("SD_SCHUL_CODE", "7091380"),
                ("MMEAL_SC_CODE", "2"),
            ] {
                if q(k) != Some(v) {
                    return Err(format!("query {k} must be {v}, got {:?}", q(k)));
                }
            }
            if !is_ymd(q("MLSV_FROM_YMD")) || q("MLSV_FROM_YMD") != q("MLSV_TO_YMD") {
                return Err("MLSV_FROM_YMD/MLSV_TO_YMD must be one YYYYMMDD day".into());
            }
            let name = if seen.path.starts_with("/nodata") {
                "neis-nodata"
            } else {
                "neis-daechi-elem-2026-06"
            };
            Ok((body(name), "application/json;charset=UTF-8"))
        }
        path if path.starts_with("/v1/menus/period/") => {
            let days: Vec<&str> = path["/v1/menus/period/".len()..].split('/').collect();
            if seen.method != "GET"
                || days.len() != 2
                || !is_ymd(Some(days[0]))
                || days[0] != days[1]
                || h("content-type") != Some("application/json")
            {
                return Err(
                    "POSTECH wants GET /v1/menus/period/D/D with Content-Type: application/json"
                        .into(),
                );
            }
            Ok((body("postech-menus-2026-06-03"), "application/json"))
        }
        "/prog/carteGuidance/kor/sub06_030301/C1/getCalendar.do" => {
            let form: BTreeMap<String, String> = url::form_urlencoded::parse(seen.body.as_bytes())
                .into_owned()
                .collect();
            let monday = form
                .get("bgnde")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .is_some_and(|d| d.weekday() == chrono::Weekday::Mon);
            if seen.method != "POST"
                || form.len() != 1
                || !monday
                || h("content-type") != Some("application/x-www-form-urlencoded; charset=utf-8")
                || h("user-agent") != Some("Mozilla/5.0")
                || h("accept") != Some("application/json")
            {
                return Err(format!(
                    "carteGuidance wants POST bgnde=<Monday> as a form with User-Agent and Accept, got {seen:?}"
                ));
            }
            Ok((
                body("hanbat-c1-getcalendar-2025-11-24"),
                "application/json;charset=UTF-8",
            ))
        }
        // A GET with a JSON body and an API key in a header (as 청강대's API wants).
        "/api/v2/menu" => {
            let sent: Value = serde_json::from_str(&seen.body).map_err(|e| format!("body: {e}"))?;
            let dated = sent["date"]
                .as_str()
                .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
            if seen.method != "GET"
                || !dated
                || h("x-dreamfactory-api-key") != Some(NEIS_KEY)
                || h("content-type") != Some("application/json")
            {
                return Err("wants GET with a JSON body {date} and the key header".into());
            }
            Ok((body("postech-menus-2026-06-03"), "application/json"))
        }
        // The POSTECH answer as an older PHP endpoint would give it: EUC-KR, in a JSONP call.
        "/menujson.php" => {
            let callback = q("callback").ok_or("callback is required")?;
            let json = String::from_utf8(body("postech-menus-2026-06-03")).expect("utf-8");
            let wrapped = format!("{callback}({json});");
            let (bytes, _, _) = encoding_rs::EUC_KR.encode(&wrapped);
            Ok((bytes.into_owned(), "text/javascript; charset=euc-kr"))
        }
        _ => Err(format!("no such endpoint {}", seen.path)),
    }
}

async fn handle(log: Log, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.lock().expect("log").push(seen.clone());
    match answer(&seen) {
        Ok((bytes, content_type)) => {
            ([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(why) => (StatusCode::BAD_REQUEST, why).into_response(),
    }
}

impl MenuServer {
    fn start() -> MenuServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let log: Log = Arc::default();
        let shared = log.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        handle(shared.clone(), method, uri, headers, body)
                    },
                );
                axum::serve(listener, app).await.expect("serve");
            });
        });
        MenuServer { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Seen> {
        self.log.lock().expect("log").clone()
    }
}

// ─── Sources as a user writes them ──────────────────────────────────────────────────────

fn neis_source(server: &MenuServer, name: &str, prefix: &str) -> String {
    format!(
        r#"[[source]]
name = {name:?}
kind = "json"
url = "{}?Type=json&pIndex=1&pSize=1000&ATPT_OFCDC_SC_CODE=B10&SD_SCHUL_CODE=7091380&MMEAL_SC_CODE=2&MLSV_FROM_YMD={{date:%Y%m%d}}&MLSV_TO_YMD={{date:%Y%m%d}}"
secret_query = {{ KEY = "NEIS_API_KEY" }}
filter = '''
{}'''
"#,
        server.url(&format!("{prefix}/hub/mealServiceDietInfo")),
        truth_filter("neis-daechi-elem-2026-06")
    )
}

fn postech_source(server: &MenuServer) -> String {
    format!(
        r#"[[source]]
name = "포스텍"
kind = "json"
url = "{}/{{date:%Y%m%d}}/{{date:%Y%m%d}}"
headers = {{ Content-Type = "application/json" }}
filter = '''
{}'''
"#,
        server.url("/v1/menus/period"),
        truth_filter("postech-menus-2026-06-03")
    )
}

fn hanbat_source(server: &MenuServer) -> String {
    format!(
        r#"[[source]]
name = "한밭대"
kind = "json"
method = "POST"
url = "{}"
form = {{ bgnde = "{{week_start:%Y-%m-%d}}" }}
headers = {{ Content-Type = "application/x-www-form-urlencoded; charset=utf-8", User-Agent = "Mozilla/5.0", Accept = "application/json" }}
filter = '''
{}'''
"#,
        server.url("/prog/carteGuidance/kor/sub06_030301/C1/getCalendar.do"),
        truth_filter("hanbat-c1-getcalendar-2025-11-24")
    )
}

fn scrape_json(env: &TestEnv, date: NaiveDate, meal: &str) -> (Value, std::process::Output) {
    let output = env
        .kbot()
        .env("NEIS_API_KEY", NEIS_KEY)
        .env("KBOT_RETRY_BASE_MS", "1")
        .args(["scrape", meal, "--date", &date.to_string(), "--json"])
        .output()
        .expect("run kbot");
    (common::json(&output), output)
}

/// What kbot should report for (date, meal) by the truth file: (outcome, groups).
fn expected(truth: &Value, date: NaiveDate, meal: &str) -> (&'static str, Value) {
    let key = date.to_string();
    let covered = match &truth["covered_dates"] {
        Value::Array(dates) => dates.iter().any(|d| d == key.as_str()),
        _ => true,
    };
    if !covered {
        return ("wrong_date", json!([]));
    }
    match truth["days"][&key][meal].as_object() {
        Some(groups) => (
            "menu",
            groups
                .iter()
                .map(|(label, dishes)| json!({"label": label, "dishes": dishes}))
                .collect(),
        ),
        // Covered but nothing for that meal (closed, or no such meal).
        None => ("closed", json!([])),
    }
}

fn days_around(truth: &Value) -> Vec<NaiveDate> {
    let covered = truth["covered_dates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut dates: Vec<NaiveDate> = truth["days"]
        .as_object()
        .expect("days")
        .keys()
        .filter_map(|d| d.parse().ok())
        .chain(covered.iter().filter_map(|d| d.as_str()?.parse().ok()))
        .collect();
    dates.sort();
    let (first, last) = (dates[0], dates[dates.len() - 1]);
    (-3..=(last - first).num_days() + 3)
        .map(|i| first + chrono::Duration::days(i))
        .collect()
}

/// Run every (date, meal) from 3 days before to 3 days after the sample's data and check
/// kbot's report against the truth.
fn check_sample(name: &str, config: &str, server: &MenuServer) {
    let env = TestEnv::new();
    env.write_config(config);
    let truth = truth(name);
    for date in days_around(&truth) {
        for meal in ["breakfast", "lunch", "dinner"] {
            let (report, output) = scrape_json(&env, date, meal);
            let source = &report["sources"][0];
            let (outcome, groups) = expected(&truth, date, meal);
            assert_eq!(
                (source["outcome"].as_str(), &source["groups"]),
                (Some(outcome), &groups),
                "{name} {date} {meal}: {source}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let code = output.status.code();
            let want = if outcome == "wrong_date" {
                Some(5)
            } else {
                Some(0)
            };
            assert_eq!(code, want, "{name} {date} {meal} exit code");
        }
    }
    assert!(
        !server.requests().is_empty(),
        "{name}: the server saw no request"
    );
}

#[test]
fn each_json_sample_gives_the_truth_for_covered_days_and_wrong_date_around_them() {
    let server = MenuServer::start();
    check_sample(
        "neis-daechi-elem-2026-06",
        &neis_source(&server, "대치초", ""),
        &server,
    );
    check_sample(
        "postech-menus-2026-06-03",
        &postech_source(&server),
        &server,
    );
    check_sample(
        "hanbat-c1-getcalendar-2025-11-24",
        &hanbat_source(&server),
        &server,
    );
    // Every request the server got was one it accepted (it answers 400 otherwise).
    for seen in server.requests() {
        assert!(answer(&seen).is_ok(), "{seen:?}");
    }
}

#[test]
fn the_neis_no_data_answer_is_no_menu_for_that_meal_not_an_error() {
    let server = MenuServer::start();
    let env = TestEnv::new();
    env.write_config(&neis_source(&server, "대치초", "/nodata"));
    for date in ["2026-06-06", "2026-07-28"] {
        let date: NaiveDate = date.parse().expect("date");
        let (report, output) = scrape_json(&env, date, "lunch");
        let source = &report["sources"][0];
        assert_eq!(source["outcome"], "closed", "{source}");
        assert!(
            source["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no lunch on") && d.contains("no such meal")),
            "{source}"
        );
        assert_eq!(output.status.code(), Some(0), "no data is not a failure");
    }
}

fn all_output(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_secret_api_key_from_the_environment_reaches_the_server_and_no_output() {
    let server = MenuServer::start();
    let env = TestEnv::new();
    env.write_config(&neis_source(&server, "대치초", ""));
    let runs: [&[&str]; 3] = [
        &[
            "-vv",
            "scrape",
            "lunch",
            "--date",
            "2026-06-01",
            "--explain",
        ],
        &["-vv", "scrape", "lunch", "--date", "2026-06-01", "--json"],
        &["-vv", "preview", "lunch", "--date", "2026-06-01"],
    ];
    for args in runs {
        let output = env
            .kbot()
            .env("NEIS_API_KEY", NEIS_KEY)
            .env("KBOT_LOG", "trace")
            .args(args)
            .output()
            .expect("run kbot");
        let text = all_output(&output);
        assert!(
            text.contains("현미찹쌀밥"),
            "{args:?} did not read the menu: {text}"
        );
        assert!(
            !text.contains(NEIS_KEY),
            "{args:?} printed the key:\n{text}"
        );
        assert!(!text.contains("SECRET"), "{args:?} printed part of the key");
    }
    let explained = env
        .kbot()
        .env("NEIS_API_KEY", NEIS_KEY)
        .args(["scrape", "lunch", "--date", "2026-06-01", "--explain"])
        .output()
        .expect("run kbot");
    let text = all_output(&explained);
    assert!(
        text.contains("KEY=***"),
        "--explain shows the request redacted: {text}"
    );
    assert!(text.contains("answer: HTTP 200 OK, 1970 bytes"), "{text}");
    assert!(
        text.contains("filter output: {\"서울대치초등학교\""),
        "{text}"
    );
    let keys: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.query.get("KEY").cloned())
        .collect();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k == NEIS_KEY),
        "{keys:?}"
    );

    // Without the variable, the source fails with a hint and still no key anywhere.
    let unset = env
        .kbot()
        .args(["scrape", "lunch", "--date", "2026-06-01"])
        .output()
        .expect("run kbot");
    let text = all_output(&unset);
    assert_eq!(unset.status.code(), Some(5), "{text}");
    assert!(text.contains("NEIS_API_KEY is not set"), "{text}");
}

#[test]
fn a_filter_syntax_error_is_a_config_problem_with_its_position() {
    let env = TestEnv::new();
    env.write_config(
        "[[source]]\nname = \"x\"\nkind = \"json\"\nurl = \"http://127.0.0.1:9/m\"\nfilter = '''\n.rows[]\n| select(.date == $date\n'''\n",
    );
    let output = env
        .kbot()
        .args(["config", "check"])
        .output()
        .expect("run kbot");
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(text.contains("source[0].filter"), "{text}");
    // `(` opens on line 7 of the file (line 2 of the filter), column 9.
    assert!(text.contains("7:9"), "{text}");
    assert!(text.contains("line 2, column 9 of the filter"), "{text}");
}

#[test]
fn a_filter_that_raises_is_a_problem_for_its_source_and_the_others_are_still_sent() {
    const CLIENT_ID: &str = "fake-rest-api-key";
    let server = MenuServer::start();
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let raising = format!(
        "[[source]]\nname = \"고장\"\nkind = \"json\"\nurl = \"{}/{{date:%Y%m%d}}/{{date:%Y%m%d}}\"\nheaders = {{ Content-Type = \"application/json\" }}\nfilter = '''error(\"menu API changed: no .menus\")'''\n",
        server.url("/v1/menus/period")
    );
    env.write_config(&format!(
        "{}{raising}{}[recipients]\nme = true\n",
        kakao_section(&fake.url(), CLIENT_ID),
        postech_source(&server)
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
    let output = env
        .kbot()
        .env("KBOT_RETRY_BASE_MS", "1")
        .args(["send-now", "lunch", "--date", "2026-06-03"])
        .output()
        .expect("run kbot");
    let text = all_output(&output);
    assert_eq!(
        output.status.code(),
        Some(5),
        "a scrape problem is exit 5: {text}"
    );
    let sent: Vec<String> = fake
        .delivered_to("me")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        sent.iter().any(|t| t.contains("돈육찹스테이크")),
        "the good source was sent: {sent:?}"
    );
    assert!(
        text.contains("menu API changed: no .menus"),
        "the terminal names the filter's message: {text}"
    );
    assert!(
        sent.iter()
            .any(|t| t.contains("고장") && t.contains("kbot scrape 점심 --explain")),
        "the warning to me names the source and how to see the filter's message: {sent:?}"
    );
    assert_eq!(fake.count(MEMO_PATH), sent.len());
}

#[test]
fn every_toml_example_in_the_docs_passes_config_check() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-and-image-sources.md"),
    )
    .expect("docs");
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 3, "one example per kind and the POST one");
    for block in blocks {
        let env = TestEnv::new();
        env.write_config(block);
        let output = env
            .kbot()
            .args(["config", "check"])
            .output()
            .expect("run kbot");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{block}\n{}",
            all_output(&output)
        );
    }
}

#[test]
fn bad_json_and_image_source_keys_are_config_problems_naming_them() {
    let env = TestEnv::new();
    env.write_config(
        r#"[[source]]
name = "a"
kind = "jsonp"
url = "http://127.0.0.1:9/a"

[[source]]
name = "b"
kind = "json"
url = "http://127.0.0.1:9/b?d={date:%Y%m%d}"
secret_query = { KEY = "abc-123-the-key-itself" }
form = { bgnde = "{week_start:%H}" }
filter = "."

[[source]]
name = "c"
kind = "image"
url = "http://127.0.0.1:9/c"
post_link = "a["

[[source]]
name = "d"
url = "http://127.0.0.1:9/d"
table = "table"
filter = "."
"#,
    );
    let output = env
        .kbot()
        .args(["config", "check"])
        .output()
        .expect("run kbot");
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(4), "{text}");
    for needle in [
        "source[0].kind",
        "\"jsonp\" is not one of: table, json, image",
        "source[1].secret_query.KEY",
        "is not an environment variable name",
        "source[1].form.bgnde",
        "source[2].post_link",
        "an image source needs `image` or `pdf`",
        "source[3].filter",
        "filter is for kind = \"json\" sources, not \"table\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        !text.contains("abc-123-the-key-itself"),
        "a secret written by mistake is not echoed"
    );
}

#[test]
fn a_jsonp_answer_in_euc_kr_is_decoded_and_unwrapped_like_a_page() {
    let server = MenuServer::start();
    let env = TestEnv::new();
    env.write_config(&format!(
        "[[source]]\nname = \"포스텍\"\nkind = \"json\"\nurl = \"{}?callback=jQuery3600_1718\"\nfilter = '''\n{}'''\n",
        server.url("/menujson.php"),
        truth_filter("postech-menus-2026-06-03")
    ));
    let date: NaiveDate = "2026-06-03".parse().expect("date");
    let (report, _) = scrape_json(&env, date, "dinner");
    let (outcome, groups) = expected(&truth("postech-menus-2026-06-03"), date, "dinner");
    assert_eq!(report["sources"][0]["outcome"], outcome, "{report}");
    assert_eq!(report["sources"][0]["groups"], groups, "{report}");
}

#[test]
fn a_get_with_a_json_body_and_a_secret_header_reaches_the_api() {
    let server = MenuServer::start();
    let env = TestEnv::new();
    env.write_config(&format!(
        "[[source]]\nname = \"포스텍\"\nkind = \"json\"\nurl = \"{}\"\nbody = '{{\"date\": \"{{date}}\", \"meal\": \"all\"}}'\nheaders = {{ Content-Type = \"application/json\" }}\nsecret_headers = {{ X-Dreamfactory-API-Key = \"NEIS_API_KEY\" }}\nfilter = '''\n{}'''\n",
        server.url("/api/v2/menu"),
        truth_filter("postech-menus-2026-06-03")
    ));
    let date: NaiveDate = "2026-06-03".parse().expect("date");
    let (report, output) = scrape_json(&env, date, "lunch");
    let (outcome, groups) = expected(&truth("postech-menus-2026-06-03"), date, "lunch");
    assert_eq!(report["sources"][0]["outcome"], outcome, "{report}");
    assert_eq!(report["sources"][0]["groups"], groups, "{report}");
    assert!(!all_output(&output).contains(NEIS_KEY));
    let seen = server.requests();
    let last = seen.last().expect("a request");
    assert_eq!(last.body, r#"{"date": "2026-06-03", "meal": "all"}"#);
    let explained = env
        .kbot()
        .env("NEIS_API_KEY", NEIS_KEY)
        .args(["scrape", "lunch", "--date", "2026-06-03", "--explain"])
        .output()
        .expect("run kbot");
    let text = all_output(&explained);
    assert!(text.contains("X-Dreamfactory-API-Key: ***"), "{text}");
    assert!(!text.contains(NEIS_KEY), "{text}");
}

#[test]
fn a_request_the_endpoint_does_not_accept_is_a_fetch_failure_naming_the_status() {
    // Hanbat's endpoint wants a POST with the week's Monday; a GET (as one repo does) is refused.
    let server = MenuServer::start();
    let env = TestEnv::new();
    env.write_config(&hanbat_source(&server).replace("method = \"POST\"\n", ""));
    let (report, output) = scrape_json(&env, "2025-11-26".parse().expect("date"), "lunch");
    let source = &report["sources"][0];
    assert_eq!(source["outcome"], "fetch_failed", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("answered HTTP 400")),
        "{source}"
    );
    assert_eq!(output.status.code(), Some(5));
}
