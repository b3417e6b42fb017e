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
//! A link taken from a page (the post, the image, the PDF) is the page author's, not the
//! user's: it must be http(s), carry no `user:password@`, and stay on the networks the
//! source's own URL is on ([`Network`]): a public page cannot point kbot, or the friends'
//! button, at loopback, a private range or a link-local address; an intranet source may
//! point inside its intranet. A refused link is never fetched, read or sent: the source is
//! `not_found` with the reason. `file://` stays for the user's own configured `url`.
//!
//! Pure except [`scrape`], which fetches the list page and the post, resolves link hosts, and
//! checks that the image URL answers with an image (`Content-Type: image/*`: the URL itself
//! often does not say). [`scrape_via`] takes those three as a [`Net`], so tests run it
//! against any address without contacting one.

use std::collections::BTreeSet;
use std::net::IpAddr;
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
/// parser), resolved against `base`; http(s) and `file:` results are returned (a `file:`
/// one so the refusal can name it), anything else is no link. Whether a link may be
/// followed or sent is [`vet_form`]'s and the network check's call.
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

/// The kind of network an address is on. A link from a page may reach [`Network::Public`]
/// or a network the source's own URL is on; [`Network::Unroutable`] never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Network {
    /// This machine: 127.0.0.0/8, `::1`, and the unspecified addresses (0.0.0.0 reaches it).
    Loopback,
    /// RFC 1918, carrier-grade NAT (100.64.0.0/10), IPv6 unique local (fc00::/7).
    Private,
    /// 169.254.0.0/16 (cloud metadata lives there), fe80::/10.
    LinkLocal,
    /// Multicast, broadcast, reserved: nothing to fetch or link.
    Unroutable,
    /// Everything else.
    Public,
}

impl Network {
    /// The network of `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn of(ip: IpAddr) -> Network {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                if v4.is_loopback() || a == 0 {
                    Network::Loopback
                } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                    Network::Private
                } else if v4.is_link_local() {
                    Network::LinkLocal
                } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                    Network::Unroutable
                } else {
                    Network::Public
                }
            }
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Network::of(IpAddr::V4(v4));
                }
                let first = v6.segments()[0];
                if v6.is_loopback() || v6.is_unspecified() {
                    Network::Loopback
                } else if first & 0xfe00 == 0xfc00 {
                    Network::Private
                } else if first & 0xffc0 == 0xfe80 {
                    Network::LinkLocal
                } else if v6.is_multicast() {
                    Network::Unroutable
                } else {
                    Network::Public
                }
            }
        }
    }

    fn words(self) -> &'static str {
        match self {
            Network::Loopback => "this machine (loopback)",
            Network::Private => "a private network",
            Network::LinkLocal => "a link-local network",
            Network::Unroutable => "an unroutable address",
            Network::Public => "the internet",
        }
    }
}

/// A link taken from a page, before any network check: http(s), a host, no userinfo.
/// `what` names it in the reason (`the image`, `the pdf`, `the post`). Pure.
pub fn vet_form(link: &str, what: &str) -> Result<url::Url, String> {
    let parsed =
        url::Url::parse(link).map_err(|e| format!("{what} link {link:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{what} link {} is not http(s): a link taken from a page is never followed to a {}: URL",
            redact(&parsed),
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{what} link {} carries a user name or password: refused",
            redact(&parsed)
        ));
    }
    if parsed.host().is_none() {
        return Err(format!("{what} link {link:?} has no host"));
    }
    Ok(parsed)
}

/// `url` without its userinfo, to name it in a reason.
fn redact(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// What [`scrape_via`] needs from the outside: pages, an image's type and name lookups.
pub trait Net {
    /// Fetch a page (through the page cache where one is in use).
    fn page(&self, url: &str) -> impl Future<Output = Result<super::Page, super::FetchError>>;
    /// The `Content-Type` an image URL answers with, or why it cannot be read.
    fn content_type(&self, url: &str) -> impl Future<Output = Result<String, String>>;
    /// The addresses `host` resolves to.
    fn lookup(&self, host: &str, port: u16) -> impl Future<Output = Result<Vec<IpAddr>, String>>;
}

/// The real [`Net`]: the shared client, with `retry` for pages.
struct Live<'a> {
    client: &'a reqwest::Client,
    retry: &'a Retry,
}

impl Net for Live<'_> {
    async fn page(&self, url: &str) -> Result<super::Page, super::FetchError> {
        fetch(self.client, url, self.retry).await
    }

    async fn content_type(&self, url: &str) -> Result<String, String> {
        image_type(self.client, url).await
    }

    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let found = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        Ok(found.map(|addr| addr.ip()).collect())
    }
}

/// The networks `url`'s host is on: an IP literal's own, a name's addresses' (`file://`
/// is this machine). Empty when the name does not resolve.
async fn networks(net: &impl Net, url: &url::Url) -> Result<BTreeSet<Network>, String> {
    let host = match url.host() {
        None if url.scheme() == "file" => return Ok(BTreeSet::from([Network::Loopback])),
        None => return Err(format!("{url} has no host")),
        Some(url::Host::Ipv4(ip)) => return Ok(BTreeSet::from([Network::of(ip.into())])),
        Some(url::Host::Ipv6(ip)) => return Ok(BTreeSet::from([Network::of(ip.into())])),
        Some(url::Host::Domain(name)) => name.to_string(),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let found = net.lookup(&host, port).await?;
    if found.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(found.into_iter().map(Network::of).collect())
}

/// A link taken from a page, checked in full before kbot fetches it or puts it in a
/// message: [`vet_form`], then every address it resolves to is public or on a network the
/// source is on (`allowed`).
async fn vet_link(
    net: &impl Net,
    allowed: &BTreeSet<Network>,
    link: &str,
    what: &str,
) -> Result<(), String> {
    let parsed = vet_form(link, what)?;
    let reached = networks(net, &parsed)
        .await
        .map_err(|why| format!("{what} link {link} cannot be checked: {why}"))?;
    match reached
        .iter()
        .find(|n| **n == Network::Unroutable || (**n != Network::Public && !allowed.contains(n)))
    {
        None => Ok(()),
        Some(network) => Err(format!(
            "{what} link {link} points at {}, which the source's own URL is not on: refused",
            network.words()
        )),
    }
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
    scrape_via(&Live { client, retry }, source, spec, date, meal).await
}

/// [`scrape`] through `net`: every link taken from a page is vetted (http(s), no userinfo,
/// the source's networks) before it is fetched or returned.
pub async fn scrape_via(
    net: &impl Net,
    source: &Source,
    spec: &ImageSpec,
    date: NaiveDate,
    meal: Meal,
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
    // The networks the source itself is on: links from its pages may reach those (and
    // the internet), no other. A source whose host does not resolve fails to fetch anyway.
    let allowed = match url::Url::parse(&url) {
        Ok(parsed) => networks(net, &parsed).await.unwrap_or_default(),
        Err(_) => BTreeSet::new(),
    };
    let (post_url, title) = match &spec.post_link {
        None => (url.clone(), None),
        Some(selector) => {
            let list = match net.page(&url).await {
                Ok(page) => read(page),
                Err(e) => return report(&url, Outcome::FetchFailed, e.detail(), explain),
            };
            match find_post(&list, &url, selector, date) {
                Ok((post, title)) => {
                    explain
                        .notes
                        .push(format!("list {url}: chose \"{title}\" → {post}"));
                    if let Err(why) = vet_link(net, &allowed, &post, "the post").await {
                        return missed(&url, Miss::NotFound(why), explain, &report);
                    }
                    (post, Some(title))
                }
                Err(miss) => return missed(&url, miss, explain, &report),
            }
        }
    };
    let post = match net.page(&post_url).await {
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
            if let Err(why) = vet_link(net, &allowed, &media.url, &format!("the {what}")).await {
                return missed(&post_url, Miss::NotFound(why), explain, &report);
            }
            if media.kind == MediaKind::Image {
                match net.content_type(&media.url).await {
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

    /// A [`Net`] that serves pages from memory and records everything asked of it; it
    /// contacts nothing, so sources may sit on any address.
    #[derive(Default)]
    struct Fake {
        pages: std::collections::HashMap<String, String>,
        names: std::collections::HashMap<String, Vec<IpAddr>>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Fake {
        fn page(mut self, url: &str, html: &str) -> Fake {
            self.pages.insert(url.into(), html.into());
            self
        }

        fn name(mut self, host: &str, ip: &str) -> Fake {
            self.names.insert(host.into(), vec![ip.parse().unwrap()]);
            self
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    impl Net for Fake {
        async fn page(&self, url: &str) -> Result<super::super::Page, super::super::FetchError> {
            self.asked.lock().unwrap().push(format!("page {url}"));
            let html = self.pages.get(url).cloned().unwrap_or_default();
            Ok(super::super::Page {
                bytes: html.into_bytes(),
                content_type: Some("text/html".into()),
                stale: None,
                tls: None,
            })
        }

        async fn content_type(&self, url: &str) -> Result<String, String> {
            self.asked.lock().unwrap().push(format!("image {url}"));
            Ok("image/png".into())
        }

        async fn lookup(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
            self.asked.lock().unwrap().push(format!("lookup {host}"));
            self.names
                .get(host)
                .cloned()
                .ok_or_else(|| "unknown name".into())
        }
    }

    const PERIOD_TITLE: &str = "<div class=\"tit\">식단표 (26.09.28~26.10.02)</div>";

    fn board(url: &str, post_link: Option<&str>) -> (Source, ImageSpec) {
        let source = Source {
            name: "기숙사".into(),
            url: url.into(),
            rule: super::super::Rule::table("table"),
            reach: Default::default(),
        };
        let spec = ImageSpec {
            image: Some(".v img".into()),
            pdf: Some(".v a.pdf".into()),
            post_link: post_link.map(str::to_string),
            title: None,
        };
        (source, spec)
    }

    fn run(fake: &Fake, source: &Source, spec: &ImageSpec) -> SourceReport {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(scrape_via(fake, source, spec, d(2026, 10, 2), Meal::Lunch))
    }

    fn refused(report: &SourceReport) -> String {
        assert_eq!(report.outcome, Outcome::NotFound, "{report:?}");
        report.detail.clone().unwrap_or_default()
    }

    #[test]
    fn a_post_link_to_a_local_file_is_never_read() {
        let list = format!("<ul><li><a href=\"file:///dev/zero\">{PERIOD_TITLE}</a></li></ul>");
        let fake = Fake::default().page("http://203.0.113.7/board/list", &list);
        let (source, spec) = board("http://203.0.113.7/board/list", Some("ul a"));
        let why = refused(&run(&fake, &source, &spec));
        assert!(
            why.contains("file:///dev/zero") && why.contains("not http(s)"),
            "{why}"
        );
        assert_eq!(fake.asked(), ["page http://203.0.113.7/board/list"]);
    }

    #[test]
    fn a_pdf_on_loopback_from_a_public_page_is_not_linked() {
        let post = format!(
            "{PERIOD_TITLE}<div class=\"v\"><a class=\"pdf\" href=\"http://127.0.0.1:8080/menu.pdf\">식단</a></div>"
        );
        let fake = Fake::default().page("http://203.0.113.7/post/1", &post);
        let (source, spec) = board("http://203.0.113.7/post/1", None);
        let report = run(&fake, &source, &spec);
        let why = refused(&report);
        assert!(why.contains("loopback") && why.contains("refused"), "{why}");
        assert_eq!(fake.asked(), ["page http://203.0.113.7/post/1"]);
    }

    #[test]
    fn an_image_on_a_private_address_or_a_name_that_resolves_inside_is_never_fetched() {
        for (src, lookups) in [
            ("http://10.1.2.3/menu.png", 0),
            ("http://169.254.169.254/latest/meta-data", 0),
            ("http://[fd00::5]/menu.png", 0),
            ("http://[::ffff:192.168.0.9]/menu.png", 0),
            ("http://intranet.example/menu.png", 1),
        ] {
            let post = format!("{PERIOD_TITLE}<div class=\"v\"><img src=\"{src}\"></div>");
            let fake = Fake::default()
                .page("http://203.0.113.7/post/1", &post)
                .name("intranet.example", "192.168.0.5");
            let (source, spec) = board("http://203.0.113.7/post/1", None);
            let why = refused(&run(&fake, &source, &spec));
            assert!(why.contains("refused"), "{src}: {why}");
            let asked = fake.asked();
            assert!(
                !asked.iter().any(|a| a.starts_with("image")),
                "{src}: {asked:?}"
            );
            assert_eq!(
                asked.iter().filter(|a| a.starts_with("lookup")).count(),
                lookups
            );
        }
    }

    #[test]
    fn a_link_with_a_user_and_password_is_refused_without_showing_them() {
        let post = format!(
            "{PERIOD_TITLE}<div class=\"v\"><img src=\"https://kim:hunter2@cdn.example.com/menu.png\"></div>"
        );
        let fake = Fake::default()
            .page("http://203.0.113.7/post/1", &post)
            .name("cdn.example.com", "198.51.100.20");
        let (source, spec) = board("http://203.0.113.7/post/1", None);
        let why = refused(&run(&fake, &source, &spec));
        assert!(why.contains("user name or password"), "{why}");
        assert!(!why.contains("hunter2") && !why.contains("kim"), "{why}");
    }

    #[test]
    fn an_intranet_source_may_link_inside_its_intranet_and_a_public_page_to_the_internet() {
        let post = format!("{PERIOD_TITLE}<div class=\"v\"><img src=\"/files/menu.png\"></div>");
        let fake = Fake::default().page("http://10.0.0.2/post/1", &post);
        let (source, spec) = board("http://10.0.0.2/post/1", None);
        let report = run(&fake, &source, &spec);
        assert!(matches!(report.outcome, Outcome::Media(_)), "{report:?}");
        assert!(
            fake.asked()
                .contains(&"image http://10.0.0.2/files/menu.png".to_string())
        );

        let post = format!(
            "{PERIOD_TITLE}<div class=\"v\"><img src=\"https://cdn.example.com/menu.png\"></div>"
        );
        let fake = Fake::default()
            .page("http://board.example.ac.kr/post/1", &post)
            .name("board.example.ac.kr", "203.0.113.7")
            .name("cdn.example.com", "198.51.100.20");
        let (source, spec) = board("http://board.example.ac.kr/post/1", None);
        let report = run(&fake, &source, &spec);
        assert!(matches!(report.outcome, Outcome::Media(_)), "{report:?}");
    }

    #[test]
    fn addresses_fall_into_their_networks() {
        let of = |ip: &str| Network::of(ip.parse().unwrap());
        assert_eq!(of("127.0.0.1"), Network::Loopback);
        assert_eq!(of("0.0.0.0"), Network::Loopback);
        assert_eq!(of("::1"), Network::Loopback);
        assert_eq!(of("10.9.8.7"), Network::Private);
        assert_eq!(of("172.16.0.1"), Network::Private);
        assert_eq!(of("192.168.1.1"), Network::Private);
        assert_eq!(of("100.64.0.1"), Network::Private);
        assert_eq!(of("fc00::1"), Network::Private);
        assert_eq!(of("169.254.169.254"), Network::LinkLocal);
        assert_eq!(of("fe80::1"), Network::LinkLocal);
        assert_eq!(of("::ffff:127.0.0.1"), Network::Loopback);
        assert_eq!(of("224.0.0.1"), Network::Unroutable);
        assert_eq!(of("255.255.255.255"), Network::Unroutable);
        assert_eq!(of("8.8.8.8"), Network::Public);
        assert_eq!(of("2001:4860::8888"), Network::Public);
    }
}
