//! The vacation pause is for vacations: a selector that matches nothing, a filter that
//! fails or a page that cannot be fetched is a fault, and warns "me" at every run (as
//! docs/delivery.md says), however many runs in a row. Through the real binary against the
//! fake Kakao server.

mod common;
mod support;

use common::{TestEnv, kakao_section, seed_login};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";
const DATES: [&str; 5] = [
    "2026-06-01",
    "2026-06-02",
    "2026-06-03",
    "2026-06-04",
    "2026-06-05",
];

fn bot(fake: &FakeKakao, env: &TestEnv, source: &str) {
    env.write_config(&format!(
        "{}{source}[recipients]\nme = true\n",
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

/// Five runs on five days: what reached me, and each run's exit code.
fn five_runs(fake: &FakeKakao, env: &TestEnv) -> (Vec<String>, Vec<Option<i32>>) {
    let codes = DATES
        .iter()
        .map(|date| {
            env.kbot()
                .args(["send-now", "lunch", "--date", date])
                .output()
                .expect("run kbot")
                .status
                .code()
        })
        .collect();
    let to_me = fake
        .delivered_to("me")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect();
    (to_me, codes)
}

fn assert_five_warnings_and_no_pause(to_me: &[String], source: &str) {
    assert_eq!(to_me.len(), 5, "one warning per run: {to_me:#?}");
    assert!(
        to_me.iter().all(|t| t.contains(source)),
        "each names the source: {to_me:#?}"
    );
    assert!(
        !to_me
            .iter()
            .any(|t| t.starts_with('⏸') || t.contains("멈춥니다")),
        "no pause notice: {to_me:#?}"
    );
}

#[test]
fn five_runs_with_a_selector_that_matches_nothing_give_five_warnings_and_no_pause() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let page = env.path("menu.html");
    std::fs::write(
        &page,
        "<html><body><h2>오늘의 메뉴</h2><div class=\"lunch\">쌀밥<br>된장국</div></body></html>",
    )
    .unwrap();
    let url = url::Url::from_file_path(&page).unwrap();
    bot(
        &fake,
        &env,
        &format!(
            "[[source]]\nname = \"학생식당\"\nurl = \"{url}\"\n[source.select]\nlunch = \"div.renamed-lunch\"\n"
        ),
    );
    let (to_me, codes) = five_runs(&fake, &env);
    assert_eq!(codes, [Some(5); 5], "each run is a scrape problem");
    assert_five_warnings_and_no_pause(&to_me, "학생식당");
}

#[test]
fn five_runs_with_a_failing_filter_give_five_warnings_and_no_pause() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let answer = env.path("menu.json");
    std::fs::write(&answer, r#"{"result": "ERROR-300"}"#).unwrap();
    let url = url::Url::from_file_path(&answer).unwrap();
    bot(
        &fake,
        &env,
        &format!(
            "[[source]]\nname = \"급식API\"\nkind = \"json\"\nurl = \"{url}\"\nfilter = '''.menus // error(\"no menus: \" + .result)'''\n"
        ),
    );
    let (to_me, codes) = five_runs(&fake, &env);
    assert_eq!(codes, [Some(5); 5], "each run is a scrape problem");
    assert_five_warnings_and_no_pause(&to_me, "급식API");
}
