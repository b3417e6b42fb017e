//! End-to-end tests of sending through the real binary against the fake Kakao server:
//! recipients, parts, the ledger's exactly-once behaviour, faults and crash recovery.

mod common;
mod support;

use common::{TestEnv, json, kakao_section, pages_dir, seed_login, source_block};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";

fn logged_in(fake: &FakeKakao, env: &TestEnv, page: &str, meal_extra: &str) {
    let tokens = fake.issue_tokens();
    let page = pages_dir().join(format!("{page}.html"));
    env.write_config(&format!(
        "{}{}{meal_extra}",
        kakao_section(&fake.url(), CLIENT_ID),
        source_block("진수원", &page, "table.tblType03", "")
    ));
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(5),
    );
}

#[test]
fn send_now_reaches_me_and_friends_once_and_a_second_run_sends_nothing() {
    let fake = FakeKakao::start_on_thread();
    fake.add_friend("uuid-a", "이서연", true);
    fake.add_friend("uuid-b", "박민준", true);
    let env = TestEnv::new();
    logged_in(
        &fake,
        &env,
        "jbnu-jinsuwon-2023-04-10",
        "[recipients]\nme = true\nfriends = [\"이서연\", \"uuid-b\"]\n",
    );
    let output = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(fake.delivered_to("me").len(), 1);
    assert_eq!(fake.delivered_to("uuid-a").len(), 1);
    assert_eq!(fake.delivered_to("uuid-b").len(), 1);
    let again = env
        .kbot()
        .args(["send-now", "lunch", "--date", "2023-04-10", "--json"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    let statuses: Vec<String> = json(&again)["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["skipped", "skipped", "skipped"]);
    assert_eq!(fake.delivered().len(), 3);
}
