//! How fast `scrape::parse` reads the saved pages: DGU's week menu (~140 KB with ~80 KB of
//! script before the table, the page the reader's speed is held to), PKNU's board
//! post (~280 KB, the largest) with `table = "auto"`, a NEIS month calendar with `auto`, and
//! the hostile 20,000-deep nested tables; plus decoding the EUC-KR page.
//!
//! Reads the fixture once from `tests/fixtures/pages/`; the measured loop is pure.
//! Run: `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::Path;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encoding_rs::UTF_8;
use kbot::Meal;
use kbot::scrape::{self, Outcome, Rule};

fn parse_largest_page(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pages/dgu-coop-week-2026-09-27.html");
    let bytes = std::fs::read(&path).expect("the DGU fixture page is readable");
    // The stored text is UTF-8 although its <meta> says EUC-KR (see the fixtures README).
    let (html, _) = scrape::decode(&bytes, None, Some(UTF_8));
    let rule = Rule::table("div#sdetail > table:nth-of-type(2)");
    let date = NaiveDate::from_ymd_opt(2026, 10, 2).expect("valid date");
    assert!(
        matches!(
            scrape::parse(&html, &rule, date, Meal::Lunch).outcome,
            Outcome::Menu(_)
        ),
        "the benchmark must measure a successful read"
    );

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(html.len() as u64));
    group.bench_function("dgu_week_page_lunch", |b| {
        b.iter(|| scrape::parse(black_box(&html), &rule, date, Meal::Lunch))
    });
    // The largest shared page (PKNU's board post, ~280 KB) read with `table = "auto"`.
    let pknu = std::fs::read(path.with_file_name("pknu-weekly-2025-08-18.html"))
        .expect("the PKNU fixture page is readable");
    let (pknu, _) = scrape::decode(&pknu, None, None);
    let auto = Rule::table("auto");
    let monday = NaiveDate::from_ymd_opt(2025, 8, 18).expect("valid date");
    group.bench_function("pknu_page_auto_lunch", |b| {
        b.iter(|| scrape::parse(black_box(&pknu), &auto, monday, Meal::Lunch))
    });
    let selector = Rule::table("table.con03_sub_2");
    group.bench_function("pknu_page_selector_lunch", |b| {
        b.iter(|| scrape::parse(black_box(&pknu), &selector, monday, Meal::Lunch))
    });
    // A month calendar (~65 KB, three meals a day) with `table = "auto"`: the month is
    // settled from the page's selected options on every read.
    let calendar = std::fs::read(path.with_file_name("neis-dje-g100000170-month-2022-03-02.html"))
        .expect("the calendar fixture page is readable");
    let (calendar, _) = scrape::decode(&calendar, None, None);
    let wednesday = NaiveDate::from_ymd_opt(2022, 3, 2).expect("valid date");
    assert!(
        matches!(
            scrape::parse(&calendar, &auto, wednesday, Meal::Dinner).outcome,
            Outcome::Menu(_)
        ),
        "the benchmark must measure a successful read"
    );
    group.bench_function("neis_calendar_auto_dinner", |b| {
        b.iter(|| scrape::parse(black_box(&calendar), &auto, wednesday, Meal::Dinner))
    });
    group.finish();

    // The hostile page: `<table class=menu><tr><td>` nested 20,000 deep under
    // `table = "table.menu"` (took 27.7 s at 8,000 before the walk was made linear).
    let nested = "<table class=menu><tr><td>".repeat(20_000);
    let menu = Rule::table("table.menu");
    let mut group = c.benchmark_group("hostile");
    group.sample_size(10);
    group.bench_function("nested_tables_20000", |b| {
        b.iter(|| scrape::parse(black_box(&nested), &menu, date, Meal::Lunch))
    });
    group.finish();

    let mut group = c.benchmark_group("decode");
    let euc_kr = std::fs::read(path.with_file_name("dgu-coop-week-2026-09-27-euckr.html"))
        .expect("the EUC-KR fixture page is readable");
    group.throughput(Throughput::Bytes(euc_kr.len() as u64));
    group.bench_function("dgu_week_page_euc_kr_by_meta", |b| {
        b.iter(|| scrape::decode(black_box(&euc_kr), Some("text/html"), None))
    });
    group.finish();
}

criterion_group!(benches, parse_largest_page);
criterion_main!(benches);
