//! Benchmark: one `kbot send-now` of a one-part menu to 100 friends, through the real
//! binary and the fake Kakao server answering every call after 20 ms (a realistic round
//! trip to kapi.kakao.com), and after 0 ms (kbot's own share: process start, config,
//! scrape, SQLite).
//!
//! Each iteration is the first send of a day in a fresh data dir, as a cron-started kbot
//! would do it: read the config, scrape the saved page, refresh the access token (the
//! seeded one has expired), read the friends list, send 20 calls of 5 receivers, and record
//! 100 deliveries in the ledger (WAL, `synchronous=FULL`). Before measuring, one run prints
//! the requests it made. Not a test: nothing here asserts a time.
//!
//! Run: `cargo bench --bench send` (builds the release profile once).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};

use common::{TestEnv, kakao_section, pages_dir, seed_login, source_block};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";
const FRIENDS: usize = 100;

/// A fake with 100 friends and no quota or issuance limit in the way of repeated runs.
fn fake(delay: Duration) -> FakeKakao {
    let fake = FakeKakao::start_on_thread();
    for i in 0..FRIENDS {
        fake.add_friend(&format!("fuuid-bench-{i:03}"), &format!("친구{i:03}"), true);
    }
    fake.configure(|c| {
        c.delay = delay;
        c.sender_daily_quota = u32::MAX;
        c.receiver_daily_quota = u32::MAX;
        c.pair_daily_quota = u32::MAX;
        c.access_issue_limit = usize::MAX;
        c.refresh_issue_limit = usize::MAX;
    });
    fake
}

/// A fresh kbot home: config for the one-part JBNU lunch to the 100 friends (half by
/// nickname, half by uuid), and a login whose access token has expired.
fn home(fake: &FakeKakao) -> TestEnv {
    let env = TestEnv::new();
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    let friends: Vec<String> = (0..FRIENDS)
        .map(|i| {
            if i % 2 == 0 {
                format!("\"친구{i:03}\"")
            } else {
                format!("\"fuuid-bench-{i:03}\"")
            }
        })
        .collect();
    env.write_config(&format!(
        "{}{}[recipients]\nme = false\nfriends = [{}]\n",
        kakao_section(&fake.url(), CLIENT_ID),
        source_block("진수원", &page, "table.tblType03", ""),
        friends.join(", ")
    ));
    let tokens = fake.issue_tokens();
    seed_login(
        &env.data_dir(),
        CLIENT_ID,
        &tokens.access_token,
        &tokens.refresh_token,
        chrono::Duration::hours(-1),
    );
    env
}

/// `kbot send-now lunch --date 2023-04-10` in `env`; panics unless it succeeds.
fn send(env: &TestEnv) {
    let status = Command::new(env!("CARGO_BIN_EXE_kbot"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.path("xdg-config"))
        .env("XDG_DATA_HOME", env.path("xdg-data"))
        .env("KBOT_CONFIG", env.config_path())
        .env("KBOT_DATA_DIR", env.data_dir())
        .args(["send-now", "lunch", "--date", "2023-04-10"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run kbot");
    assert!(status.success(), "kbot send-now failed: {status:?}");
}

/// One run outside the measurement, to show what a run asks of Kakao.
fn report_requests(fake: &FakeKakao) {
    let before = fake.requests().len();
    let delivered = fake.delivered().len();
    send(&home(fake));
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for request in &fake.requests()[before..] {
        *by_path.entry(request.path.clone()).or_default() += 1;
    }
    eprintln!(
        "one run: {} requests {by_path:?}; {} messages delivered",
        fake.requests().len() - before,
        fake.delivered().len() - delivered
    );
}

fn send_to_100_friends(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_one_part_to_100_friends");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(12));
    for ms in [20, 0] {
        let fake = fake(Duration::from_millis(ms));
        report_requests(&fake);
        group.bench_function(format!("kakao_answers_in_{ms}ms"), |b| {
            b.iter_batched(|| home(&fake), |env| send(&env), BatchSize::PerIteration);
        });
    }
    group.finish();
}

criterion_group!(benches, send_to_100_friends);
criterion_main!(benches);
