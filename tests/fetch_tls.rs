//! TLS against the servers cafeterias run on, each a local stand-in on 127.0.0.1 made with
//! `openssl s_server` and certificates generated here at run time: a self-signed server
//! (`ca_file`), a server that forgets its intermediate (fetched from the leaf's AIA URL
//! and cached), and an old server with only `AES128-SHA:AES256-SHA` (`tls = "legacy"`).

mod common;
mod support;

use chrono::NaiveDate;
use common::TestEnv;
use serde_json::Value;
use support::pages::week_page;
use support::sites::{Answer, Pki, Relay, Site, TlsServer};

const MONDAY: &str = "2026-06-01";

fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date")
}

/// A temp env whose `www/menu.html` is this week's grid with 돈까스 at lunch.
fn env_with_page() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("www")).expect("www dir");
    std::fs::write(
        env.path("www/menu.html"),
        week_page(monday(), &["돈까스", "미역국"]),
    )
    .expect("write the page");
    env
}

fn config(url: &str, extra: &str) -> String {
    format!("[[source]]\nname = \"학생식당\"\nurl = {url:?}\ntable = \"table.menu\"\n{extra}\n")
}

/// `kbot scrape lunch --json` for the Monday: the one source's report, and all output.
fn scrape(env: &TestEnv) -> (Value, String) {
    let output = env
        .kbot()
        .env("KBOT_RETRY_BASE_MS", "1")
        .args(["scrape", "lunch", "--date", MONDAY, "--json"])
        .output()
        .expect("run kbot");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (common::json(&output)["sources"][0].clone(), text)
}

fn explain(env: &TestEnv) -> String {
    let output = env
        .kbot()
        .env("KBOT_RETRY_BASE_MS", "1")
        .args(["scrape", "lunch", "--date", MONDAY, "--explain"])
        .output()
        .expect("run kbot");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
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
fn a_self_signed_server_is_refused_naming_ca_file_and_read_with_it() {
    let env = env_with_page();
    let pki = Pki::new(&env.path("pki"));
    pki.self_signed("site");
    let server = TlsServer::start(
        &env.path("www"),
        &["-cert", "../pki/site.pem", "-key", "../pki/site.key"],
    );
    let relay = Relay::start(server.addr);
    let url = format!("https://{}/menu.html", relay.addr);

    env.write_config(&config(&url, ""));
    let (refused, _) = scrape(&env);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("ca_file"), "{detail}");
    assert!(
        detail.contains("not from an authority kbot trusts"),
        "{detail}"
    );
    assert!(detail.contains("trying again will not help"), "{detail}");
    assert_eq!(relay.accepted(), 1, "a refused certificate is not retried");

    env.write_config(&config(&url, "ca_file = \"pki/site.pem\""));
    let (read, _) = scrape(&env);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["돈까스", "미역국"]);
    let explained = explain(&env);
    assert!(explained.contains("TLS: TLS 1.3"), "{explained}");
    assert!(explained.contains("ca_file trusted"), "{explained}");
}

#[test]
fn a_certificate_for_another_name_is_named_as_such_and_ca_file_does_not_hide_it() {
    let env = env_with_page();
    let pki = Pki::new(&env.path("pki"));
    pki.self_signed_for("other", "DNS:other.test");
    let server = TlsServer::start(
        &env.path("www"),
        &["-cert", "../pki/other.pem", "-key", "../pki/other.key"],
    );
    let url = format!("https://{}/menu.html", server.addr);
    env.write_config(&config(&url, "ca_file = \"pki/other.pem\""));
    let (refused, _) = scrape(&env);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("for another host name"), "{detail}");
    assert!(detail.contains("ca_file does not fix that"), "{detail}");
}

#[test]
fn a_missing_intermediate_is_fetched_from_the_aia_url_once_and_kept() {
    let env = env_with_page();
    let pki_dir = env.path("pki");
    // The AIA server answers with the intermediate in PEM (kbot takes DER or PEM).
    let pem_body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shared = pem_body.clone();
    let aia = Site::start(move |request| match request.target.as_str() {
        "/int.crt" => Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/x-x509-ca-cert".into())],
            body: shared.lock().expect("lock").clone(),
        },
        _ => Answer::status(404),
    });
    let pki = Pki::new(&pki_dir);
    pki.chain(&aia.url("/int.crt"));
    *pem_body.lock().expect("lock") =
        std::fs::read_to_string(pki.path("int.pem")).expect("the intermediate");
    // The server sends its leaf alone, as many misconfigured servers do.
    let server = TlsServer::start(
        &env.path("www"),
        &["-cert", "../pki/leaf.pem", "-key", "../pki/leaf.key"],
    );
    let url = format!("https://{}/menu.html", server.addr);
    env.write_config(&config(&url, "ca_file = \"pki/root.pem\""));

    let explained = explain(&env);
    assert!(
        explained.contains("did not send its intermediate certificate")
            && explained.contains(&aia.url("/int.crt")),
        "{explained}"
    );
    assert!(
        explained.contains("issued by CN=Cafeteria Test Intermediate"),
        "{explained}"
    );
    let fetched = |aia: &Site| {
        aia.requests()
            .iter()
            .filter(|r| r.target == "/int.crt")
            .count()
    };
    assert_eq!(fetched(&aia), 1);
    let kept: Vec<_> = std::fs::read_dir(env.data_dir().join("intermediates"))
        .expect("the intermediate is kept under the data dir")
        .collect();
    assert_eq!(kept.len(), 1);

    // Later runs use the kept copy: the menu is read, the AIA URL is not asked again.
    let (read, _) = scrape(&env);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["돈까스", "미역국"]);
    assert_eq!(fetched(&aia), 1, "the intermediate is fetched once");

    // Without the private root, the chain still ends nowhere kbot trusts: ca_file is named.
    env.write_config(&config(&url, ""));
    let (refused, _) = scrape(&env);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("ca_file"), "{detail}");
}

#[test]
fn an_old_suites_only_server_is_refused_once_naming_tls_legacy_and_read_with_it() {
    let env = env_with_page();
    let pki = Pki::new(&env.path("pki"));
    pki.self_signed("old");
    let server = TlsServer::start(
        &env.path("www"),
        &[
            "-cert",
            "../pki/old.pem",
            "-key",
            "../pki/old.key",
            "-tls1_2",
            "-cipher",
            "AES128-SHA:AES256-SHA",
        ],
    );
    let relay = Relay::start(server.addr);
    let url = format!("https://{}/menu.html", relay.addr);

    env.write_config(&config(&url, "ca_file = \"pki/old.pem\""));
    let (refused, _) = scrape(&env);
    assert_eq!(refused["outcome"], "fetch_failed", "{refused}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("tls = \"legacy\""), "{detail}");
    assert!(detail.contains("only old TLS"), "{detail}");
    // One attempt (never retried) and one bare handshake to tell old suites from other
    // refusals: two connections, not the three of an attempt retried twice.
    assert_eq!(relay.accepted(), 2, "one attempt and one legacy probe");

    env.write_config(&config(&url, "ca_file = \"pki/old.pem\"\ntls = \"legacy\""));
    let (read, _) = scrape(&env);
    assert_eq!(read["outcome"], "menu", "{read}");
    assert_eq!(dishes(&read), ["돈까스", "미역국"]);
    let explained = explain(&env);
    assert!(explained.contains("tls = \"legacy\""), "{explained}");
}
