//! End to end: `kind = "image"` sources through the real binary. A board list page and the
//! real DGU post (`tests/fixtures/json/dgu-namsan-dorm-detail-2026-09-28.html`) are served on
//! 127.0.0.1; what reaches the fake Kakao is checked against the truth file.
//!
//! The truth's URLs are on `https://dorm.dongguk.edu`; served here, the same links resolve
//! against the test server, so the expected URLs are the truth's with that origin swapped
//! (`src/scrape/image.rs` checks them byte for byte against the real origin).

mod common;
mod support;

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use serde_json::Value;

use common::{TestEnv, kakao_section, seed_login};
use support::fake_kakao::FakeKakao;

const CLIENT_ID: &str = "fake-rest-api-key";
const REAL_ORIGIN: &str = "https://dorm.dongguk.edu";

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/json")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn truth() -> Value {
    serde_json::from_str(&fixture("dgu-namsan-dorm-detail-2026-09-28.truth.json")).expect("truth")
}

/// The board's list page: newest first, titles carrying the week (as the real list does).
const LIST: &str = r#"<html><body><table class="board_list"><tbody>
<tr><td class="title"><a href="/article/food/detail/215423?pageIndex=1">동국대학교 남산학사 기숙사식당 주간 식단표 10월 1주차 (26.10.05~26.10.09)</a></td></tr>
<tr><td class="title"><a href="/article/food/detail/215215?pageIndex=1&amp;category_cd=">동국대학교 남산학사 기숙사식당 주간 식단표 9월 5주차 (26.09.28~26.10.02)</a></td></tr>
<tr><td class="title"><a href="/article/food/detail/215038?pageIndex=1">동국대학교 남산학사 기숙사식당 주간 식단표 9월 4주차 (26.09.21~26.09.25)</a></td></tr>
</tbody></table></body></html>"#;

/// The query of the post's menu image (`&amp;` decoded, `//` kept).
const MENU_IMAGE_QUERY: &str = "path=/ckeditor//food&physical=1790128846944.png&contentType=image";

/// A post whose image link is dead: the site answers it with an HTML page.
const DEAD_LINK_POST: &str = r#"<div class="board_view"><div class="tit"><p>식단표 (26.09.28~26.10.02)</p></div>
<div class="view_cont"><p><img src="/cmmn/fileView?path=/ckeditor//food&amp;physical=gone.png&amp;contentType=image"></p></div></div>"#;

/// A list page whose post link for the week is a local file that never ends.
const EVIL_LIST: &str = r#"<html><body><table class="board_list"><tbody>
<tr><td class="title"><a href="file:///dev/zero">주간 식단표 9월 5주차 (26.09.28~26.10.02)</a></td></tr>
</tbody></table></body></html>"#;

/// A post whose PDF link carries a user name and password.
const EVIL_POST: &str = r#"<div class="board_view"><div class="tit"><p>식단표 (26.09.28~26.10.02)</p></div>
<div class="view_files"><a href="http://kim:hunter2@127.0.0.1:9/menu.pdf">식단표.pdf</a></div></div>"#;

fn start_board() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let post = fixture("dgu-namsan-dorm-detail-2026-09-28.html");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new()
                .route(
                    "/article/food/list",
                    axum::routing::get(|| async { Html(LIST) }),
                )
                .route(
                    "/article/food/detail/215215",
                    axum::routing::get(move || {
                        let post = post.clone();
                        async move { Html(post) }
                    }),
                )
                .route(
                    "/article/food/evil",
                    axum::routing::get(|| async { Html(EVIL_LIST) }),
                )
                .route(
                    "/article/food/detail/666",
                    axum::routing::get(|| async { Html(EVIL_POST) }),
                )
                .route(
                    "/article/food/detail/999",
                    axum::routing::get(|| async { Html(DEAD_LINK_POST) }),
                )
                .route(
                    "/cmmn/fileView",
                    axum::routing::get(|query: axum::extract::RawQuery| async move {
                        // The menu image (a PNG signature is enough); anything else is the
                        // site's HTML error page, as real boards answer a dead file link.
                        if query.0.as_deref() == Some(MENU_IMAGE_QUERY) {
                            (
                                [(axum::http::header::CONTENT_TYPE, "image/png")],
                                b"\x89PNG\r\n\x1a\n".to_vec(),
                            )
                                .into_response()
                        } else {
                            Html("<html>파일이 없습니다</html>").into_response()
                        }
                    }),
                )
                .fallback(|| async { (StatusCode::NOT_FOUND, "no such post").into_response() });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    addr
}

struct Board {
    addr: SocketAddr,
    fake: FakeKakao,
    env: TestEnv,
}

impl Board {
    fn new(source_keys: &str) -> Board {
        let addr = start_board();
        let fake = FakeKakao::start_on_thread();
        let env = TestEnv::new();
        env.write_config(&format!(
            "{}[[source]]\nname = \"남산학사\"\nkind = \"image\"\n{}\n[recipients]\nme = true\n",
            kakao_section(&fake.url(), CLIENT_ID),
            source_keys.replace("ORIGIN", &format!("http://{addr}"))
        ));
        let tokens = fake.issue_tokens();
        seed_login(
            &env.data_dir(),
            CLIENT_ID,
            &tokens.access_token,
            &tokens.refresh_token,
            chrono::Duration::hours(5),
        );
        Board { addr, fake, env }
    }

    /// The truth's URL as served by this test's board.
    fn served(&self, truth_url: &str) -> String {
        truth_url.replacen(REAL_ORIGIN, &format!("http://{}", self.addr), 1)
    }

    fn kbot(&self, args: &[&str]) -> std::process::Output {
        self.env
            .kbot()
            .env("KBOT_RETRY_BASE_MS", "1")
            .args(args)
            .output()
            .expect("run kbot")
    }
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn list_source() -> String {
    let truth = truth();
    format!(
        "url = \"ORIGIN/article/food/list\"\npost_link = \"table.board_list td.title a\"\nimage = {:?}\npdf = {:?}\n",
        truth["image_selector"].as_str().expect("image selector"),
        truth["pdf_selector"].as_str().expect("pdf selector"),
    )
}

#[test]
fn the_image_post_is_sent_as_a_feed_whose_image_is_the_truths_url() {
    let truth = truth();
    let board = Board::new(&list_source());
    let output = board.kbot(&["send-now", "lunch", "--date", "2026-10-02"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let sent = board.fake.delivered_to("me");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let feed = &sent[0];
    assert_eq!(feed["object_type"], "feed", "{feed}");
    let expected = board.served(truth["expected_url"].as_str().expect("expected_url"));
    assert_eq!(
        feed["content"]["image_url"].as_str(),
        Some(expected.as_str())
    );
    let post = board
        .served("https://dorm.dongguk.edu/article/food/detail/215215?pageIndex=1&category_cd=");
    assert_eq!(
        feed["content"]["link"]["web_url"].as_str(),
        Some(post.as_str())
    );
    assert_eq!(
        feed["content"]["description"].as_str(),
        truth["post_title"].as_str(),
        "{feed}"
    );

    // The ledger records it like any menu, and a second run does not send it again.
    let history = common::json(&board.kbot(&["history", "--json"]));
    let rows = history.as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["outcome"] == "menu" && r["status"] == "sent"),
        "{history}"
    );
    let again = board.kbot(&["send-now", "lunch", "--date", "2026-10-02"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(board.fake.delivered_to("me").len(), 1, "sent once");

    let json = common::json(&board.kbot(&["scrape", "lunch", "--date", "2026-10-02", "--json"]));
    let source = &json["sources"][0];
    assert_eq!(source["outcome"], "menu", "{source}");
    assert_eq!(source["media"]["kind"], "image");
    assert_eq!(source["media"]["url"].as_str(), Some(expected.as_str()));
}

#[test]
fn a_pdf_menu_is_a_text_message_whose_button_opens_the_truths_pdf() {
    let truth = truth();
    let keys = format!(
        "url = \"ORIGIN/article/food/detail/215215\"\ntitle = \".board_view .tit p\"\npdf = {:?}\n",
        truth["pdf_selector"].as_str().expect("pdf selector")
    );
    let board = Board::new(&keys);
    let output = board.kbot(&["send-now", "dinner", "--date", "2026-09-28"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let sent = board.fake.delivered_to("me");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let message = &sent[0];
    assert_eq!(message["object_type"], "text", "{message}");
    let pdf = board.served(truth["expected_pdf_url"].as_str().expect("pdf url"));
    assert_eq!(message["link"]["web_url"].as_str(), Some(pdf.as_str()));
    assert!(
        message["text"].as_str().is_some_and(|t| t.contains("PDF")),
        "{message}"
    );
}

#[test]
fn a_post_whose_stated_period_does_not_hold_the_date_is_wrong_date() {
    // Through the list: no post covers 2026-10-12.
    let board = Board::new(&list_source());
    let output = board.kbot(&["scrape", "lunch", "--date", "2026-10-12", "--json"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let source = &common::json(&output)["sources"][0];
    assert_eq!(source["outcome"], "wrong_date", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2026-10-12") && d.contains("10월 1주차")),
        "{source}"
    );
    // The post itself, read for a date outside its (26.09.28~26.10.02).
    let direct = Board::new(
        "url = \"ORIGIN/article/food/detail/215215\"\ntitle = \".board_view .tit p\"\nimage = \".board_view .view_cont img\"\n",
    );
    let output = direct.kbot(&["send-now", "lunch", "--date", "2026-10-05"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let sent = direct.fake.delivered_to("me");
    assert!(
        sent.iter().all(|t| t["object_type"] != "feed"),
        "a stale post must not be sent: {sent:?}"
    );
}

#[test]
fn an_image_url_that_answers_a_web_page_is_not_sent_as_the_menu() {
    let board = Board::new(
        "url = \"ORIGIN/article/food/detail/999\"\nimage = \".board_view .view_cont img\"\n",
    );
    let output = board.kbot(&["send-now", "lunch", "--date", "2026-10-02"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    assert!(
        board
            .fake
            .delivered_to("me")
            .iter()
            .all(|t| t["object_type"] != "feed"),
        "a web page must not go out as the menu image"
    );
    let json = common::json(&board.kbot(&["scrape", "lunch", "--date", "2026-10-02", "--json"]));
    let source = &json["sources"][0];
    assert_eq!(source["outcome"], "not_found", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("answers text/html") && d.contains("not an image")),
        "{source}"
    );
}

#[test]
fn links_to_a_local_file_or_with_a_password_are_refused_and_never_read_or_sent() {
    let board = Board::new(
        "url = \"ORIGIN/article/food/evil\"\npost_link = \"table.board_list td.title a\"\nimage = \".board_view .view_cont img\"\n",
    );
    let output = board.kbot(&["scrape", "lunch", "--date", "2026-10-02", "--json"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let source = &common::json(&output)["sources"][0];
    assert_eq!(source["outcome"], "not_found", "{source}");
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("file:///dev/zero") && d.contains("not http(s)")),
        "{source}"
    );

    let pdf = Board::new(
        "url = \"ORIGIN/article/food/detail/666\"\ntitle = \".board_view .tit p\"\npdf = \".view_files a\"\n",
    );
    let output = pdf.kbot(&["send-now", "dinner", "--date", "2026-09-28"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let sent = pdf.fake.delivered_to("me");
    assert!(
        sent.iter().all(|m| !m.to_string().contains("menu.pdf")),
        "the link never reaches a message: {sent:?}"
    );
    assert!(!text(&output).contains("hunter2"), "{}", text(&output));
    let scraped = pdf.kbot(&["scrape", "dinner", "--date", "2026-09-28", "--json"]);
    let source = &common::json(&scraped)["sources"][0];
    assert!(
        source["detail"]
            .as_str()
            .is_some_and(|d| d.contains("user name or password") && !d.contains("hunter2")),
        "{source}"
    );
}
