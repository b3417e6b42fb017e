//! What real cafeteria sites do over plain HTTP, each a local stand-in on 127.0.0.1: a JSP
//! page that sets `JSESSIONID` on a redirect to itself, a firewall that refuses programs
//! (403 unless a browser's User-Agent), an SSO login wall answered with 200, a host only a
//! proxy can reach (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), and a json source whose secret
//! header must not follow a redirect to another origin.

mod common;
mod support;

use chrono::NaiveDate;
use common::TestEnv;
use serde_json::Value;
use support::pages::week_page;
use support::sites::{Answer, Pki, Site, TlsServer};

const MONDAY: &str = "2026-06-01";
const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0";

fn page() -> String {
    week_page(
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date"),
        &["제육볶음", "된장국"],
    )
}

fn config(url: &str, extra: &str) -> String {
    format!("[[source]]\nname = \"학생식당\"\nurl = {url:?}\ntable = \"table.menu\"\n{extra}\n")
}

/// `kbot scrape lunch --json` for the Monday with `vars` set: the one source's report.
fn scrape(env: &TestEnv, vars: &[(&str, &str)]) -> Value {
    let mut cmd = env.kbot();
    cmd.env("KBOT_RETRY_BASE_MS", "1");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let output = cmd
        .args(["scrape", "lunch", "--date", MONDAY, "--json"])
        .output()
        .expect("run kbot");
    common::json(&output)["sources"][0].clone()
}

fn detail(report: &Value) -> &str {
    report["detail"].as_str().unwrap_or_default()
}

fn dishes(report: &Value) -> Vec<String> {
    report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["dishes"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_jsp_page_that_sets_its_session_cookie_on_a_redirect_to_itself_is_read() {
    let site = Site::start(|request| {
        if request
            .header("cookie")
            .is_some_and(|c| c.contains("jsessionid=a1b2c3"))
        {
            Answer::html(page())
        } else {
            Answer::status(302)
                .with("Set-Cookie", "JSESSIONID=A1B2C3; Path=/; HttpOnly")
                .with("Location", "/menu.jsp")
        }
    });
    let env = TestEnv::new();
    env.write_config(&config(&site.url("/menu.jsp"), ""));
    let report = scrape(&env, &[]);
    assert_eq!(report["outcome"], "menu", "{report}");
    assert_eq!(dishes(&report), ["제육볶음", "된장국"]);
    assert_eq!(site.requests().len(), 2, "one redirect, then the page");

    // The jar lives for one fetch: the next run starts without the cookie again.
    scrape(&env, &[]);
    let first_of_second_run = &site.requests()[2];
    assert_eq!(first_of_second_run.header("cookie"), None);
}

#[test]
fn a_site_that_refuses_programs_names_headers_and_is_read_with_a_browser_user_agent() {
    let site = Site::start(|request| {
        if request
            .header("user-agent")
            .is_some_and(|ua| ua.contains("mozilla"))
        {
            Answer::html(page())
        } else {
            Answer::status(403)
        }
    });
    let env = TestEnv::new();
    env.write_config(&config(&site.url("/menu"), ""));
    let refused = scrape(&env, &[]);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    assert!(detail(&refused).contains("403"), "{refused}");
    assert!(
        detail(&refused).contains("User-Agent in headers"),
        "{refused}"
    );
    assert!(
        detail(&refused).contains("trying again will not help"),
        "{refused}"
    );
    assert_eq!(site.requests().len(), 1, "a 403 is not retried");

    env.write_config(&config(
        &site.url("/menu"),
        &format!("headers = {{ User-Agent = {BROWSER:?}, Accept-Language = \"ko-KR\" }}"),
    ));
    let read = scrape(&env, &[]);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["제육볶음", "된장국"]);
    let sent = site.requests().last().cloned().expect("a request");
    assert_eq!(sent.header("accept-language").as_deref(), Some("ko-kr"));
}

#[test]
fn a_login_wall_is_reported_as_a_login_page_not_as_a_missing_table() {
    let site = Site::start(|_| {
        Answer::html(
            "<html><body><h1>통합로그인</h1><form action=\"/sso/login\" method=\"post\">\
             <input name=\"userId\"><input type=\"PASSWORD\" name=\"pw\">\
             <button>로그인</button></form></body></html>",
        )
    });
    let env = TestEnv::new();
    env.write_config(&config(&site.url("/menu"), ""));
    let report = scrape(&env, &[]);
    assert_eq!(report["outcome"], "fetch_failed", "{report}");
    assert!(
        detail(&report).contains("the site answered with a login page"),
        "{report}"
    );
    assert!(!detail(&report).contains("no table"), "{report}");
}

#[test]
fn a_host_only_the_proxy_reaches_is_read_through_http_proxy_and_no_proxy_is_honoured() {
    let proxy = Site::start(|request| {
        if request.target == "http://menu.invalid/menu" {
            Answer::html(page())
        } else {
            Answer::status(502)
        }
    });
    let direct = Site::start(|_| Answer::html(page()));
    let env = TestEnv::new();
    env.write_config(&config("http://menu.invalid/menu", ""));
    let proxy_url = format!("http://{}", proxy.addr);
    let read = scrape(&env, &[("HTTP_PROXY", &proxy_url)]);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["제육볶음", "된장국"]);
    assert_eq!(proxy.requests().len(), 1);

    // A loopback host is proxied like any other (the proxy refuses it here)…
    let local = format!("http://localhost:{}/menu", direct.addr.port());
    env.write_config(&config(&local, ""));
    let proxied = scrape(&env, &[("HTTP_PROXY", &proxy_url)]);
    assert_eq!(proxied["outcome"], "fetch_failed", "{proxied}");
    assert_eq!(proxy.requests()[1].target, local);
    assert!(direct.requests().is_empty());
    let proxied_so_far = proxy.requests().len();
    // …unless NO_PROXY names it: then kbot goes direct.
    let read = scrape(
        &env,
        &[
            ("HTTP_PROXY", &proxy_url),
            ("NO_PROXY", "example.org,localhost"),
        ],
    );
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(direct.requests().len(), 1);
    assert_eq!(
        proxy.requests().len(),
        proxied_so_far,
        "NO_PROXY goes direct"
    );
}

#[test]
fn an_https_host_only_the_proxy_reaches_is_read_through_https_proxy() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("www")).expect("www dir");
    std::fs::write(env.path("www/menu.html"), page()).expect("write the page");
    let pki = Pki::new(&env.path("pki"));
    pki.self_signed("site");
    let server = TlsServer::start(
        &env.path("www"),
        &["-cert", "../pki/site.pem", "-key", "../pki/site.key"],
    );
    let proxy = Site::start_proxy(Some(server.addr), |_| Answer::status(502));
    env.write_config(&config(
        "https://menu.invalid/menu.html",
        "ca_file = \"pki/site.pem\"",
    ));
    let read = scrape(&env, &[("HTTPS_PROXY", &format!("http://{}", proxy.addr))]);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["제육볶음", "된장국"]);
    let tunnels: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "CONNECT")
        .collect();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(tunnels[0].target, "menu.invalid:443");
}

#[test]
fn a_secret_header_never_follows_a_redirect_to_another_origin() {
    const SECRET: &str = "s3cr3t-api-key-9f8e7d";
    let other = Site::start(|_| {
        Answer::html("{\"lunch\": [\"김치찌개\"]}").with("Content-Type", "application/json")
    });
    let elsewhere = other.url("/menu");
    let api = Site::start(move |request| match request.target.as_str() {
        "/moved" => Answer::status(302).with("Location", &elsewhere),
        "/old" => Answer::status(301).with("Location", "/menu"),
        _ => Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: "{\"lunch\": [\"김치찌개\"]}".into(),
        },
    });
    let json_source = |path: &str| {
        format!(
            "[[source]]\nname = \"api\"\nkind = \"json\"\nurl = {:?}\nsecret_headers = {{ X-Api-Key = \"MENU_API_KEY\" }}\nfilter = '.[$meal]'\n",
            api.url(path)
        )
    };
    let env = TestEnv::new();

    env.write_config(&json_source("/moved"));
    let refused = scrape(&env, &[("MENU_API_KEY", SECRET)]);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    assert!(detail(&refused).contains("secret_headers"), "{refused}");
    assert!(
        other
            .requests()
            .iter()
            .all(|r| !r.head.contains(SECRET) && r.header("x-api-key").is_none()),
        "the other origin never sees the secret"
    );
    assert!(!refused.to_string().contains(SECRET));

    // A redirect within the same origin keeps the header (and the menu).
    env.write_config(&json_source("/old"));
    let read = scrape(&env, &[("MENU_API_KEY", SECRET)]);
    assert_eq!(read["outcome"], "menu", "{read}");
    let last = api.requests().last().cloned().expect("a request");
    assert_eq!(last.target, "/menu");
    assert_eq!(last.header("x-api-key").as_deref(), Some(SECRET));
}

#[test]
fn config_check_names_a_bad_ca_file_and_tls_word_and_takes_headers_on_a_table_source() {
    let env = TestEnv::new();
    env.write_config(
        "[[source]]\nname = \"학생식당\"\nurl = \"https://menu.example/menu\"\ntable = \"auto\"\n\
         ca_file = \"missing.pem\"\ntls = \"old\"\nheaders = { User-Agent = \"Mozilla/5.0\" }\n",
    );
    let output = env
        .kbot()
        .args(["config", "check"])
        .output()
        .expect("run kbot");
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr);
    let line_of = |key: &str| {
        text.lines()
            .find(|l| l.contains(key))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line_of("ca_file").contains(":5:"), "{text}");
    assert!(line_of("ca_file").contains("missing.pem"), "{text}");
    assert!(
        line_of("tls").contains("\"old\" is not one of: modern, legacy"),
        "{text}"
    );
    assert!(
        !text.contains("headers"),
        "headers is a key of every kind: {text}"
    );
}
