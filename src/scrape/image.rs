//! `kind = "image"` sources: a menu published as a picture or a PDF in a board post, sent as
//! it is (a Kakao feed message with the image, or a text message whose button opens the PDF).
//!
//! The post is the source's `url`, or, with `post_link`, the first post linked from that list
//! page whose title states a period containing the target date (else `wrong_date`). On the
//! post, `image` / `pdf` select the element; its `src` (`data-src`) / `href` is decoded (the
//! HTML parser decodes entities), stripped of whitespace and resolved against the post's URL.
//! A post page with a `title` selector is checked the same way. Kakao fetches the image
//! itself, so it must be a public http(s) URL.
//!
//! Pure except [`scrape`], which fetches the list page and the post, and checks that the image
//! URL answers with an image (`Content-Type: image/*`: the URL itself often does not say).

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use scraper::{Html, Selector};
use serde::Serialize;

use super::fetch::Retry;
use super::{Explain, Outcome, Source, SourceReport, decode, dom, expand, fetch, labels};
use crate::Meal;

/// How a `kind = "image"` source finds the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Selector of the menu image on the post (`.board_view .view_cont img`).
    pub image: Option<String>,
    /// Selector of the PDF link on the post (`.view_files a[href]`).
    pub pdf: Option<String>,
    /// Selector of the post links on the list page (`url`); `None`: `url` is the post.
    pub post_link: Option<String>,
    /// Selector of the post's title on the post page, checked for the stated period.
    pub title: Option<String>,
}

/// What an image source found: sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    /// `image` or `pdf`.
    pub kind: MediaKind,
    /// The image or PDF URL, absolute.
    pub url: String,
    /// The post it was found on.
    pub post: String,
    /// The post's title, when known.
    pub title: Option<String>,
}

/// An image or a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A picture: sent in a feed template.
    Image,
    /// A PDF: sent as a text message whose button opens it.
    Pdf,
}

/// Why a page gave no media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The post (or every listed post) states a period that does not contain the date.
    WrongDate(String),
    /// A selector matched nothing, or a link does not resolve.
    NotFound(String),
}

static PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    // 26.09.28~26.10.02, 2026-09-28 ~ 2026-10-02, 2026.09.28~10.02
    Regex::new(
        r"(?x)
        (?P<y1>\d{4}|\d{2})[./-]\s*(?P<m1>\d{1,2})[./-]\s*(?P<d1>\d{1,2})\.?
        \s*[~∼〜–-]\s*
        (?:(?P<y2>\d{4}|\d{2})[./-]\s*)?(?P<m2>\d{1,2})[./-]\s*(?P<d2>\d{1,2})",
    )
    .expect("static regex")
});

fn year(text: &str) -> Option<i32> {
    let y: i32 = text.parse().ok()?;
    Some(if text.len() == 2 { 2000 + y } else { y })
}

/// The periods a title states: `(26.09.28~26.10.02)` and every form table mode reads
/// (`9월 28일 ~ 10월 2일`, `2026.09.28 ~ 2026.10.02`).
pub fn stated_periods(title: &str, around: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = PERIOD
        .captures_iter(title)
        .filter_map(|c| {
            let y1 = year(&c["y1"])?;
            let y2 = c.name("y2").map_or(Some(y1), |y| year(y.as_str()))?;
            let from = NaiveDate::from_ymd_opt(y1, c["m1"].parse().ok()?, c["d1"].parse().ok()?)?;
            let mut to = NaiveDate::from_ymd_opt(y2, c["m2"].parse().ok()?, c["d2"].parse().ok()?)?;
            if to < from && c.name("y2").is_none() {
                to = next_year(to)?;
            }
            (from <= to && (to - from).num_days() <= 31).then_some((from, to))
        })
        .collect();
    if out.is_empty() {
        out = labels::find_ranges(title, around)
            .into_iter()
            .map(|s| (s.from, s.to))
            .collect();
    }
    out
}

/// The same day a year later (a period written `12.28 ~ 01.01` ends in the next year).
fn next_year(date: NaiveDate) -> Option<NaiveDate> {
    use chrono::Datelike;
    date.with_year(date.year() + 1)
}

fn css(selector: &str, date: NaiveDate, what: &str) -> Result<(String, Selector), Miss> {
    let expanded = expand(selector, date).map_err(|e| Miss::NotFound(format!("{what}: {e}")))?;
    let parsed = Selector::parse(&expanded)
        .map_err(|e| Miss::NotFound(format!("{what} `{expanded}` is not valid CSS: {e}")))?;
    Ok((expanded, parsed))
}

/// An attribute value as a link: whitespace stripped (entities are already decoded by the
/// parser), resolved against `base`; only http(s) results count.
pub fn resolve(base: &str, raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\t'))
        .collect();
    if cleaned.is_empty() || cleaned.starts_with("javascript:") {
        return None;
    }
    let joined = url::Url::parse(base).ok()?.join(&cleaned).ok()?;
    matches!(joined.scheme(), "http" | "https" | "file").then(|| joined.to_string())
}

/// On a list page, the first post linked by `selector` whose title states a period that
/// contains `date`: (post URL, title). Pure.
pub fn find_post(
    html: &str,
    page_url: &str,
    selector: &str,
    date: NaiveDate,
) -> Result<(String, String), Miss> {
    let doc = Html::parse_document(html);
    let (expanded, css) = css(selector, date, "post_link selector")?;
    let mut seen = Vec::new();
    for link in doc.select(&css) {
        let title = dom::lines(link, dom::MAX_NODES_PER_CELL).join(" ");
        let periods = stated_periods(&title, date);
        if periods
            .iter()
            .any(|(from, to)| *from <= date && date <= *to)
        {
            let href = link.value().attr("href").unwrap_or("");
            return resolve(page_url, href)
                .map(|url| (url, title.clone()))
                .ok_or_else(|| {
                    Miss::NotFound(format!(
                        "the post \"{title}\" links to {href:?}, not a page"
                    ))
                });
        }
        seen.push(title);
    }
    if seen.is_empty() {
        return Err(Miss::NotFound(format!(
            "post_link selector `{expanded}` matches nothing: the list page may have changed"
        )));
    }
    Err(Miss::WrongDate(format!(
        "no post states a period containing {date}; the newest is \"{}\"",
        seen[0]
    )))
}

/// On a post page, the menu image (preferred) or PDF. Pure.
pub fn find_media(
    html: &str,
    post_url: &str,
    spec: &ImageSpec,
    date: NaiveDate,
    title: Option<String>,
) -> Result<Media, Miss> {
    let doc = Html::parse_document(html);
    let mut title = title;
    if let Some(selector) = &spec.title {
        let (expanded, css) = css(selector, date, "title selector")?;
        let Some(found) = doc.select(&css).next() else {
            return Err(Miss::NotFound(format!(
                "title selector `{expanded}` matches nothing on {post_url}"
            )));
        };
        let text = dom::lines(found, dom::MAX_NODES_PER_CELL).join(" ");
        let periods = stated_periods(&text, date);
        if !periods.is_empty() && !periods.iter().any(|(f, t)| *f <= date && date <= *t) {
            return Err(Miss::WrongDate(format!(
                "the post \"{text}\" is not for {date}"
            )));
        }
        title = Some(text);
    }
    let mut misses = Vec::new();
    for (kind, selector, attrs) in [
        (MediaKind::Image, &spec.image, &["src", "data-src"][..]),
        (MediaKind::Pdf, &spec.pdf, &["href"][..]),
    ] {
        let Some(selector) = selector else { continue };
        let what = match kind {
            MediaKind::Image => "image selector",
            MediaKind::Pdf => "pdf selector",
        };
        let (expanded, css) = css(selector, date, what)?;
        let found = doc.select(&css).find_map(|e| {
            attrs
                .iter()
                .filter_map(|a| e.value().attr(a))
                .find_map(|raw| resolve(post_url, raw))
        });
        match found {
            Some(url) if kind == MediaKind::Image && !url.starts_with("http") => {
                misses.push(format!(
                    "the image {url} is not an http(s) URL; Kakao fetches the image itself, so it must be public"
                ));
            }
            Some(url) => {
                return Ok(Media {
                    kind,
                    url,
                    post: post_url.to_string(),
                    title,
                });
            }
            None => misses.push(format!("{what} `{expanded}` matches no link on {post_url}")),
        }
    }
    Err(Miss::NotFound(if misses.is_empty() {
        "neither image nor pdf is set".into()
    } else {
        format!("{}: the page may have changed", misses.join("; "))
    }))
}

/// Fetch the list page (if any) and the post; find the image or PDF. Never fails: problems
/// are outcomes with a detail.
pub async fn scrape(
    client: &reqwest::Client,
    source: &Source,
    spec: &ImageSpec,
    date: NaiveDate,
    meal: Meal,
    retry: &Retry,
) -> SourceReport {
    let mut explain = Explain {
        search: format!("image source for {date}, {meal}"),
        ..Explain::default()
    };
    let report = |url: &str, outcome, detail: String, explain: Explain| SourceReport {
        name: source.name.clone(),
        url: url.to_string(),
        outcome,
        detail: Some(detail),
        explain: Some(explain),
    };
    let url = match expand(&source.url, date) {
        Ok(url) => url,
        Err(e) => {
            return report(
                &source.url,
                Outcome::FetchFailed,
                format!("bad source url: {e}"),
                explain,
            );
        }
    };
    let read = |page: super::Page| {
        decode(
            &page.bytes,
            page.content_type.as_deref(),
            source.rule.encoding,
        )
        .0
    };
    let (post_url, title) = match &spec.post_link {
        None => (url.clone(), None),
        Some(selector) => {
            let list = match fetch(client, &url, retry).await {
                Ok(page) => read(page),
                Err(e) => return report(&url, Outcome::FetchFailed, e.detail(), explain),
            };
            match find_post(&list, &url, selector, date) {
                Ok((post, title)) => {
                    explain
                        .notes
                        .push(format!("list {url}: chose \"{title}\" → {post}"));
                    (post, Some(title))
                }
                Err(miss) => return missed(&url, miss, explain, &report),
            }
        }
    };
    let post = match fetch(client, &post_url, retry).await {
        Ok(page) => read(page),
        Err(e) => return report(&post_url, Outcome::FetchFailed, e.detail(), explain),
    };
    match find_media(&post, &post_url, spec, date, title) {
        Ok(media) => {
            let what = match media.kind {
                MediaKind::Image => "image",
                MediaKind::Pdf => "pdf",
            };
            let detail = format!("{what} {}", media.url);
            explain.notes.push(format!("post {post_url}: {detail}"));
            if media.kind == MediaKind::Image {
                match image_type(client, &media.url).await {
                    Ok(kind) if kind.starts_with("image/") => {
                        explain.notes.push(format!("the image answers {kind}"));
                    }
                    Ok(kind) => {
                        let why = format!(
                            "{} answers {kind}, not an image: the page may have changed",
                            media.url
                        );
                        return missed(&post_url, Miss::NotFound(why), explain, &report);
                    }
                    Err(why) => return report(&post_url, Outcome::FetchFailed, why, explain),
                }
            }
            report(&post_url, Outcome::Media(media), detail, explain)
        }
        Err(miss) => missed(&post_url, miss, explain, &report),
    }
}

/// The `Content-Type` an image URL answers with: menu images often sit behind a generic
/// endpoint (`/cmmn/fileView?…`) whose URL says nothing, and a login page or an error page
/// must not go out as the menu. Reads the headers only.
async fn image_type(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the image {url}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!(
            "the image {url} answered HTTP {}",
            response.status()
        ));
    }
    Ok(response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no Content-Type")
        .to_ascii_lowercase())
}

fn missed(
    url: &str,
    miss: Miss,
    mut explain: Explain,
    report: &impl Fn(&str, Outcome, String, Explain) -> SourceReport,
) -> SourceReport {
    let (outcome, why) = match miss {
        Miss::WrongDate(why) => (Outcome::WrongDate, why),
        Miss::NotFound(why) => (Outcome::NotFound, why),
    };
    explain.notes.push(why.clone());
    report(url, outcome, why, explain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/json/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn truth() -> serde_json::Value {
        serde_json::from_str(&fixture("dgu-namsan-dorm-detail-2026-09-28.truth.json"))
            .expect("truth")
    }

    fn spec(image: Option<&str>, pdf: Option<&str>) -> ImageSpec {
        ImageSpec {
            image: image.map(str::to_string),
            pdf: pdf.map(str::to_string),
            post_link: None,
            title: Some(".board_view .tit p".into()),
        }
    }

    #[test]
    fn the_post_gives_exactly_the_truths_image_and_pdf_urls() {
        let truth = truth();
        let html = fixture("dgu-namsan-dorm-detail-2026-09-28.html");
        let page_url = truth["page_url"].as_str().expect("page_url");
        let image = find_media(
            &html,
            page_url,
            &spec(
                truth["image_selector"].as_str(),
                truth["pdf_selector"].as_str(),
            ),
            d(2026, 10, 2),
            None,
        )
        .expect("image");
        assert_eq!(image.kind, MediaKind::Image);
        assert_eq!(image.url, truth["expected_url"].as_str().expect("url"));
        assert_eq!(image.title.as_deref(), truth["post_title"].as_str());
        let pdf = find_media(
            &html,
            page_url,
            &spec(None, truth["pdf_selector"].as_str()),
            d(2026, 9, 28),
            None,
        )
        .expect("pdf");
        assert_eq!(pdf.kind, MediaKind::Pdf);
        assert_eq!(
            pdf.url,
            truth["expected_pdf_url"].as_str().expect("pdf url")
        );
    }

    #[test]
    fn a_post_for_another_week_is_wrong_date() {
        let truth = truth();
        let html = fixture("dgu-namsan-dorm-detail-2026-09-28.html");
        let page_url = truth["page_url"].as_str().expect("page_url");
        let miss = find_media(
            &html,
            page_url,
            &spec(truth["image_selector"].as_str(), None),
            d(2026, 10, 5),
            None,
        );
        assert!(
            matches!(miss, Err(Miss::WrongDate(ref why)) if why.contains("2026-10-05")),
            "{miss:?}"
        );
    }

    #[test]
    fn titles_state_periods_in_the_forms_boards_use() {
        let around = d(2026, 9, 30);
        assert_eq!(
            stated_periods("주간 식단표 9월 5주차 (26.09.28~26.10.02)", around),
            vec![(d(2026, 9, 28), d(2026, 10, 2))]
        );
        assert_eq!(
            stated_periods("식단표 2026.12.28 ~ 01.01", around),
            vec![(d(2026, 12, 28), d(2027, 1, 1))]
        );
        assert_eq!(
            stated_periods("9월 28일 ~ 10월 2일 식단", around),
            vec![(d(2026, 9, 28), d(2026, 10, 2))]
        );
        assert!(stated_periods("공지사항", around).is_empty());
    }

    #[test]
    fn the_list_page_leads_to_the_post_whose_period_holds_the_date() {
        let list = r#"<ul class="list">
            <li><a href="/article/food/detail/215423?pageIndex=1">주간 식단표 10월 1주차 (26.10.05~26.10.09)</a></li>
            <li><a href=" /article/food/detail/215215?pageIndex=1&amp;x=1 ">주간 식단표 9월 5주차 (26.09.28~26.10.02)</a></li>
        </ul>"#;
        let base = "https://dorm.dongguk.edu/article/food/list";
        let (post, title) = find_post(list, base, "ul.list a", d(2026, 10, 2)).expect("a post");
        assert_eq!(
            post,
            "https://dorm.dongguk.edu/article/food/detail/215215?pageIndex=1&x=1"
        );
        assert!(title.contains("9월 5주차"));
        let (newer, _) = find_post(list, base, "ul.list a", d(2026, 10, 5)).expect("a post");
        assert!(newer.ends_with("215423?pageIndex=1"));
        let stale = find_post(list, base, "ul.list a", d(2026, 10, 12));
        assert!(
            matches!(stale, Err(Miss::WrongDate(ref why)) if why.contains("10월 1주차")),
            "{stale:?}"
        );
    }

    #[test]
    fn an_image_kakao_cannot_fetch_is_not_sent() {
        let html = r#"<div class="v"><img src="menu.png"></div>"#;
        let spec = ImageSpec {
            image: Some(".v img".into()),
            pdf: None,
            post_link: None,
            title: None,
        };
        let miss = find_media(
            html,
            "file:///srv/board/post.html",
            &spec,
            d(2026, 10, 2),
            None,
        );
        assert!(
            matches!(miss, Err(Miss::NotFound(ref why)) if why.contains("must be public")),
            "{miss:?}"
        );
    }
}
