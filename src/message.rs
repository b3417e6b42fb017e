//! Rendering a day's menu into Kakao template objects, split to Kakao's limits.
//!
//! Pure: takes the scrape reports and the message settings, returns the parts to send and
//! who gets each. Owns the wording of every message (Korean by default); does not decide
//! who "friends" are (that is `deliver`) and does no I/O.
//!
//! A menu is rendered compactly (docs/messages.md): noise (`noise`) dropped, the source
//! named only when there are several, a restaurant named once above its corners, a heading
//! never left at the end of a part, favourites and avoided dishes marked (`highlight`).
//! With `max_parts` set, a menu that needs more parts is shortened: fixed price lists
//! first (the same every day), then minor lines, then dishes from the end; the last part
//! names what was left out and whose it was (`… 외: 한미락 10개 · 전체 메뉴`).

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use crate::highlight::Highlight;
use crate::meal::Meal;
use crate::noise;
use crate::scrape::image::{Media, MediaKind};
use crate::scrape::{Outcome, SourceReport};

/// Kakao's text template shows at most this many characters (kakao-api.md §4.2).
pub const TEXT_LIMIT: usize = 200;

/// `message.template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Kakao's text template (200 characters shown), split into numbered parts.
    Text,
    /// Kakao's list template: a header and 2–3 entries per part.
    List,
}

/// `message.on_closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClosed {
    /// Send a short "closed today" notice.
    Notify,
    /// Send nothing.
    Skip,
}

/// How to render.
#[derive(Debug, Clone)]
pub struct Style {
    /// Text or list template.
    pub template: Template,
    /// Notify or skip on a closed day.
    pub on_closed: OnClosed,
    /// The link every template carries (Kakao requires one).
    pub link: String,
    /// The button label.
    pub button_title: String,
    /// The kinds of noise to drop (`message.noise`).
    pub noise: noise::Kinds,
    /// At most this many menu parts; 0 keeps every line (`message.max_parts`).
    pub max_parts: usize,
    /// Favourite and avoided dishes (`[highlight]`).
    pub highlight: Highlight,
    /// A test message (`send-now --test`): the title says so.
    pub is_test: bool,
}

impl Style {
    /// The defaults of a config with only a link: text, notify, every noise kind dropped,
    /// at most two parts, nothing highlighted.
    pub fn new(link: impl Into<String>) -> Style {
        Style {
            template: Template::Text,
            on_closed: OnClosed::Notify,
            link: link.into(),
            button_title: "메뉴 보기".into(),
            noise: noise::all(),
            max_parts: DEFAULT_MAX_PARTS,
            highlight: Highlight::default(),
            is_test: false,
        }
    }
}

/// `message.max_parts` when the config does not set it.
pub const DEFAULT_MAX_PARTS: usize = 2;

/// Who a part is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone configured: me and the friends.
    Everyone,
    /// Only the logged-in user, whether or not `recipients.me` is set: problems with the
    /// scrape, the vacation pause notice.
    Me,
    /// Only the logged-in user, likewise: the favourite alert (recorded apart from warnings).
    Alert,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Who gets it.
    pub audience: Audience,
    /// The Kakao `template_object`.
    pub template: Value,
}

/// What a run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The parts, in sending order: the menu parts first, then any notice for me.
    pub parts: Vec<Part>,
    /// True when at least one source failed (not found, wrong date, fetch failed).
    pub has_problems: bool,
    /// The dish lines the menu parts show, in order, as shown (marks included).
    pub shown: Vec<String>,
    /// How many dish lines `max_parts` left out (counted in the `… 외: …` line).
    pub omitted: usize,
    /// Who the left-out lines belong to, in menu order (named in the `… 외: …` line).
    pub left_out: Vec<LeftOut>,
    /// The dishes with a favourite word in them, in menu order.
    pub favorites: Vec<String>,
}

/// Dish lines `max_parts` left out of one restaurant (or source, or corner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The restaurant, source or corner the lines belong to; `None` for a menu without
    /// names.
    pub name: Option<String>,
    /// How many lines.
    pub count: usize,
}

impl Rendered {
    /// For `preview` and `doctor` (English, for the user): that the menu did not fit
    /// `max_parts` and what was left out; `None` when everything fits.
    pub fn left_out_note(&self, max_parts: usize) -> Option<String> {
        if self.omitted == 0 {
            return None;
        }
        let what: Vec<String> = self
            .left_out
            .iter()
            .map(|l| match &l.name {
                Some(name) => format!("{name} {}", l.count),
                None => l.count.to_string(),
            })
            .collect();
        Some(format!(
            "the menu does not fit message.max_parts = {max_parts}: {} line{} left out ({}); message.max_parts = 0 sends every line",
            self.omitted,
            if self.omitted == 1 { "" } else { "s" },
            what.join(", ")
        ))
    }

    /// How many parts go to everyone (the menu itself): what a day costs per recipient.
    pub fn menu_parts(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| p.audience == Audience::Everyone)
            .count()
    }
}

/// `4월 10일 (월) 점심`.
pub fn title(date: NaiveDate, meal: Meal) -> String {
    const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
    let day = DAYS[date.weekday().num_days_from_monday() as usize];
    format!(
        "{}월 {}일 ({day}) {}",
        date.month(),
        date.day(),
        meal.korean()
    )
}

/// Render the reports of one run.
pub fn render(date: NaiveDate, meal: Meal, reports: &[SourceReport], style: &Style) -> Rendered {
    let mut title = title(date, meal);
    if style.is_test {
        title = format!("[테스트] {title}");
    }
    let menu = Menu::build(reports, style);
    let mut problems: Vec<(&str, &Outcome)> = Vec::new();
    let mut media = Vec::new();
    for report in reports {
        if let Outcome::Media(found) = &report.outcome {
            media.push(media_template(&title, &report.name, found, style));
        }
        if matches!(
            report.outcome,
            Outcome::NotFound | Outcome::WrongDate | Outcome::FetchFailed
        ) {
            problems.push((&report.name, &report.outcome));
        }
    }
    let send_menu =
        menu.has_menu || (!menu.lines.is_empty() && style.on_closed == OnClosed::Notify);
    let mut parts = Vec::new();
    let mut shown = Vec::new();
    let mut omitted = 0;
    let mut left_out = Vec::new();
    if send_menu {
        let templates = match style.template {
            Template::List if menu.sections().len() >= 2 => {
                shown = menu.dishes();
                list_parts(&title, &menu.sections(), style)
            }
            _ => {
                let fitted = fit(&title, &menu.lines, style.max_parts, TEXT_LIMIT);
                shown = fitted.shown;
                omitted = fitted.omitted;
                left_out = fitted.left_out;
                fitted
                    .texts
                    .into_iter()
                    .map(|text| text_template(text, style))
                    .collect()
            }
        };
        parts.extend(templates.into_iter().map(|template| Part {
            audience: Audience::Everyone,
            template,
        }));
    }
    parts.extend(media.into_iter().map(|template| Part {
        audience: Audience::Everyone,
        template,
    }));
    if style.highlight.notify_me && !menu.favorites.is_empty() {
        parts.push(Part {
            audience: Audience::Alert,
            template: text_template(favorite_alert(&title, &menu.favorites), style),
        });
    }
    if !problems.is_empty() {
        parts.push(Part {
            audience: Audience::Me,
            template: text_template(warning(&title, meal, &problems), style),
        });
    }
    Rendered {
        has_problems: !problems.is_empty(),
        parts,
        shown,
        omitted,
        left_out,
        favorites: menu.favorites,
    }
}

/// One line of a rendered menu.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A source, restaurant or corner name; never the last line of a part.
    Heading(String),
    /// A dish (or a closed notice), with how much it matters when shortening and whose it
    /// is (the restaurant, source or corner a left-out line is counted under).
    Dish {
        text: String,
        rank: Rank,
        owner: Option<String>,
    },
}

/// What to drop first when a menu must be shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// A fixed price list (`김밥:2,500원, 참치김밥:3,000원`): the same every day of the
    /// page's week, so the first to go.
    Fixed,
    /// Sides and notes (`배추김치`, `*자율배식*`).
    Minor,
    /// A dish.
    Normal,
    /// A favourite: kept longest.
    Favorite,
}

impl Line {
    fn text(&self) -> &str {
        match self {
            Line::Heading(t) | Line::Dish { text: t, .. } => t,
        }
    }

    fn is_heading(&self) -> bool {
        matches!(self, Line::Heading(_))
    }
}

/// The menu of one run as lines, before splitting into parts.
struct Menu {
    lines: Vec<Line>,
    has_menu: bool,
    favorites: Vec<String>,
}

/// Headings longer than this are shortened with `…` (a corner label is a label).
const HEADING_MAX: usize = 30;

impl Menu {
    fn build(reports: &[SourceReport], style: &Style) -> Menu {
        let shown: Vec<&SourceReport> = reports
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Menu(_) | Outcome::Closed { .. }))
            .collect();
        let several = shown.len() > 1;
        let mut menu = Menu {
            lines: Vec::new(),
            has_menu: false,
            favorites: Vec::new(),
        };
        for report in shown {
            let mut lines = Vec::new();
            match &report.outcome {
                Outcome::Menu(groups) => {
                    let restaurants: Vec<&str> = {
                        let mut r: Vec<&str> = groups
                            .iter()
                            .filter_map(|g| split_label(&g.label).0)
                            .collect();
                        r.dedup();
                        r
                    };
                    let named_groups = groups
                        .iter()
                        .filter(|g| !short_corner(split_label(&g.label).1).is_empty())
                        .count();
                    let mut last_restaurant = None;
                    for group in groups {
                        // (cleaned, is a price list): prices are noise, so look before.
                        let dishes: Vec<(String, bool)> = group
                            .dishes
                            .iter()
                            .filter_map(|d| {
                                noise::clean(d, &style.noise).map(|c| (c, is_price_list(d)))
                            })
                            .collect();
                        if dishes.is_empty() {
                            continue;
                        }
                        menu.has_menu = true;
                        let (restaurant, corner) = split_label(&group.label);
                        if restaurants.len() > 1 && restaurant != last_restaurant {
                            if let Some(r) = restaurant {
                                lines.push(Line::Heading(shorten(&format!("■ {r}"))));
                            }
                            last_restaurant = restaurant;
                        }
                        let corner = short_corner(corner);
                        if named_groups > 1 && !corner.is_empty() {
                            lines.push(Line::Heading(shorten(&format!("[{corner}]"))));
                        }
                        // Whose lines these are when some are left out: the restaurant,
                        // else the source, else the corner.
                        let owner = match restaurant {
                            Some(r) if restaurants.len() > 1 => Some(short_name(r)),
                            _ if several => Some(report.name.clone()),
                            _ if named_groups > 1 && !corner.is_empty() => Some(corner.clone()),
                            _ => None,
                        };
                        for (dish, is_fixed) in dishes {
                            let is_favorite = !style.highlight.favorites_in(&dish).is_empty();
                            if is_favorite {
                                menu.favorites.push(dish.clone());
                            }
                            let rank = if is_favorite {
                                Rank::Favorite
                            } else if is_fixed {
                                Rank::Fixed
                            } else if noise::is_minor(&dish) {
                                Rank::Minor
                            } else {
                                Rank::Normal
                            };
                            lines.push(Line::Dish {
                                text: style.highlight.mark(&dish),
                                rank,
                                owner: owner.clone(),
                            });
                        }
                    }
                }
                Outcome::Closed { notice } => lines.push(Line::Dish {
                    text: format!("오늘은 운영하지 않습니다 ({notice})"),
                    rank: Rank::Normal,
                    owner: several.then(|| report.name.clone()),
                }),
                _ => {}
            }
            if several && !lines.is_empty() {
                menu.lines
                    .push(Line::Heading(shorten(&format!("《{}》", report.name))));
            }
            menu.lines.extend(lines);
        }
        menu
    }

    /// The dish lines, in order.
    fn dishes(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| !l.is_heading())
            .map(|l| l.text().to_string())
            .collect()
    }

    /// The menu as (heading, dishes) sections, for the list template: each run of dishes
    /// under the source, restaurant and corner names above it (`상록원3층식당 · 한그릇`).
    fn sections(&self) -> Vec<Section> {
        let mut sections: Vec<Section> = Vec::new();
        // The current heading at each level: source, restaurant, corner.
        let mut names: [Option<String>; 3] = [None, None, None];
        let mut open = false;
        for line in &self.lines {
            match line {
                Line::Heading(h) => {
                    let level = heading_level(h);
                    names[level] = Some(
                        h.trim_start_matches("■ ")
                            .trim_matches(['《', '》', '[', ']'])
                            .to_string(),
                    );
                    for deeper in names.iter_mut().skip(level + 1) {
                        *deeper = None;
                    }
                    open = false;
                }
                Line::Dish { text, .. } => {
                    if !open {
                        let title: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
                        sections.push(Section {
                            heading: title.join(" · "),
                            lines: Vec::new(),
                        });
                        open = true;
                    }
                    sections
                        .last_mut()
                        .expect("pushed above")
                        .lines
                        .push(text.clone());
                }
            }
        }
        sections
    }
}

/// 0 for a source heading, 1 for a restaurant, 2 for a corner.
fn heading_level(heading: &str) -> usize {
    if heading.starts_with('《') {
        0
    } else if heading.starts_with("■ ") {
        1
    } else {
        2
    }
}

/// `("상록원3층식당", "집밥")` from `"상록원3층식당 > 집밥"`; `(None, "백반")` from `"백반"`.
fn split_label(label: &str) -> (Option<&str>, &str) {
    match label.split_once(" > ") {
        Some((restaurant, corner)) => (Some(restaurant.trim()), corner.trim()),
        None => (None, label.trim()),
    }
}

/// A corner label as a heading: without notes in parentheses (`한그릇(한정판매)` →
/// `한그릇`), nested levels joined by a space, and nothing for a generic `메뉴`.
fn short_corner(corner: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in corner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.replace(" > ", " ");
    let out = out.trim();
    if out == "메뉴" || out.is_empty() {
        String::new()
    } else {
        out.to_string()
    }
}

fn shorten(heading: &str) -> String {
    if chars(heading) <= HEADING_MAX {
        heading.to_string()
    } else {
        let cut: String = heading.chars().take(HEADING_MAX - 1).collect();
        format!("{cut}…")
    }
}

struct Section {
    heading: String,
    lines: Vec<String>,
}

/// An image menu as a feed template (the image, a link to the post); a PDF as a text
/// template whose button opens the PDF (kakao-api.md §4.2).
pub fn media_template(title: &str, source: &str, media: &Media, style: &Style) -> Value {
    let heading = format!("{title} [{source}]");
    match media.kind {
        MediaKind::Image => {
            let post = json!({"web_url": media.post, "mobile_web_url": media.post});
            let mut content = json!({
                "title": heading,
                "image_url": media.url,
                "link": post,
            });
            if let Some(post_title) = &media.title {
                content["description"] = json!(post_title);
            }
            json!({
                "object_type": "feed",
                "content": content,
                "buttons": [{"title": style.button_title, "link": post}],
            })
        }
        MediaKind::Pdf => {
            let mut lines = vec![format!("[{source}] 식단표 (PDF)")];
            lines.extend(media.title.clone());
            let text = split_text(&heading, &lines, TEXT_LIMIT)
                .into_iter()
                .next()
                .unwrap_or(heading);
            json!({
                "object_type": "text",
                "text": text,
                "link": {"web_url": media.url, "mobile_web_url": media.url},
                "button_title": "PDF 보기",
            })
        }
    }
}

/// The one message "me" gets about failed sources: Korean, what happened and what to run.
/// Never a year: the page may not state one, and a guessed one would read as a fact.
fn warning(title: &str, meal: Meal, problems: &[(&str, &Outcome)]) -> String {
    let head = format!("⚠ kbot · {title}");
    let fix = format!("확인: kbot scrape {} --explain", meal.korean());
    let mut lines: Vec<String> = problems
        .iter()
        .map(|(source, outcome)| {
            let what = match outcome {
                Outcome::NotFound => "메뉴를 찾지 못했습니다. 페이지가 바뀌었을 수 있습니다.",
                Outcome::WrongDate => "페이지에 오늘 날짜의 메뉴가 없습니다.",
                Outcome::FetchFailed => "페이지를 가져오지 못했습니다.",
                Outcome::Menu(_) | Outcome::Closed { .. } | Outcome::Media(_) | Outcome::NoMeal => {
                    ""
                }
            };
            format!("{source}: {what}")
        })
        .collect();
    // One message: drop sources from the end (counted) until it fits.
    let fits = |lines: &[String], more: usize| {
        let extra = if more > 0 {
            format!("\n외 {more}곳")
        } else {
            String::new()
        };
        chars(&head)
            + lines.iter().map(|l| chars(l) + 1).sum::<usize>()
            + chars(&extra)
            + 1
            + chars(&fix)
            <= TEXT_LIMIT
    };
    let mut more = 0;
    while lines.len() > 1 && !fits(&lines, more) {
        lines.pop();
        more += 1;
    }
    let mut text = head;
    for line in lines {
        text.push('\n');
        text.push_str(&line);
    }
    if more > 0 {
        text.push_str(&format!("\n외 {more}곳"));
    }
    text.push('\n');
    text.push_str(&fix);
    truncate(&text, TEXT_LIMIT)
}

/// The short alert "me" gets when a favourite is on the menu.
fn favorite_alert(title: &str, favorites: &[String]) -> String {
    let text = format!("★ {title}: {}", favorites.join(", "));
    truncate(&text, TEXT_LIMIT)
}

/// The notice "me" gets once when a meal has had no menu for `days` weekdays in a row.
pub fn pause_notice(date: NaiveDate, meal: Meal, days: usize, style: &Style) -> Part {
    let text = format!(
        "⏸ kbot · {}\n{meal_ko} 메뉴가 {days}일째 없어 알림을 멈춥니다 (방학·휴무).\n메뉴가 다시 올라오면 저절로 다시 보냅니다.\n페이지가 바뀐 것 같다면: kbot scrape {meal_ko} --explain",
        title(date, meal),
        meal_ko = meal.korean()
    );
    Part {
        audience: Audience::Me,
        template: text_template(truncate(&text, TEXT_LIMIT), style),
    }
}

fn truncate(text: &str, limit: usize) -> String {
    if chars(text) <= limit {
        text.to_string()
    } else {
        let cut: String = text.chars().take(limit - 1).collect();
        format!("{cut}…")
    }
}

fn link(style: &Style) -> Value {
    json!({"web_url": style.link, "mobile_web_url": style.link})
}

/// A Kakao text template of `text` with the style's link and button.
pub fn text_template(text: String, style: &Style) -> Value {
    json!({
        "object_type": "text",
        "text": text,
        "link": link(style),
        "button_title": style.button_title,
    })
}

/// The texts of a menu within `max_parts`, which dishes they show and what was left out.
struct Fitted {
    texts: Vec<String>,
    shown: Vec<String>,
    omitted: usize,
    left_out: Vec<LeftOut>,
}

/// `… 외 14개 · 전체 메뉴`: the last line of a shortened text that names nothing.
pub fn omitted_line(n: usize) -> String {
    format!("… 외 {n}개 · 전체 메뉴")
}

/// The last line of a shortened menu: `… 외: 다래락 9개, 한미락 2개 · 전체 메뉴`, or
/// `… 외 14개 · 전체 메뉴` when the lines have no names.
/// Names beyond this many characters are counted together (`기타 5개`), so the line
/// always fits a part beside the title.
pub fn left_out_line(left_out: &[LeftOut]) -> String {
    const NAMES_MAX: usize = 40;
    let total: usize = left_out.iter().map(|l| l.count).sum();
    if left_out.iter().all(|l| l.name.is_none()) {
        return omitted_line(total);
    }
    let mut named: Vec<String> = Vec::new();
    let mut used = 0;
    let mut others = 0;
    for l in left_out {
        let entry = l.name.as_ref().map(|name| format!("{name} {}개", l.count));
        match entry {
            Some(e) if others == 0 && used + chars(&e) + 2 <= NAMES_MAX => {
                used += chars(&e) + 2;
                named.push(e);
            }
            _ => others += l.count,
        }
    }
    if others > 0 {
        named.push(format!("기타 {others}개"));
    }
    format!("… 외: {} · 전체 메뉴", named.join(", "))
}

/// A restaurant's name as the `… 외:` line gives it: without generic words (`레스토랑`,
/// `학생식당`) and building names before it (`용당C - 한미르관 한미락 레스토랑` → `한미락`).
fn short_name(restaurant: &str) -> String {
    const GENERIC: [&str; 6] = [
        "레스토랑",
        "학생식당",
        "교직원식당",
        "식당",
        "카페테리아",
        "푸드코트",
    ];
    let words: Vec<&str> = restaurant.split_whitespace().collect();
    let mut end = words.len();
    while end > 1 && GENERIC.contains(&words[end - 1]) {
        end -= 1;
    }
    match words[..end].last() {
        Some(last) if !last.starts_with(|c: char| c.is_ascii_digit()) && *last != "-" => {
            (*last).to_string()
        }
        _ => restaurant.to_string(),
    }
}

/// Whether a line is a price list (`김밥:2,500원, 참치김밥:3,000원`): two or more prices.
/// A restaurant's à-la-carte board is the same every day of the page's week, so it is
/// the first thing to leave out of a day's message.
fn is_price_list(line: &str) -> bool {
    let chars: Vec<char> = line.chars().collect();
    let prices = chars
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            **c == '원'
                && chars[..*i]
                    .iter()
                    .rev()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(char::is_ascii_digit)
        })
        .count();
    prices >= 2
}

/// Split `lines` into at most `max_parts` texts (0: no limit). When they need more, lines
/// are left out one at a time, by rank: fixed price lists (the same all week, so every
/// restaurant's dishes of the day come first), then sides and notes, then dishes from the
/// end, favourites last. Headings left without dishes go with them, and the last line
/// names whose lines are out (`… 외: 한미락 10개`), so a restaurant is in the message or
/// named there.
fn fit(title: &str, lines: &[Line], max_parts: usize, limit: usize) -> Fitted {
    let dishes = |lines: &[Line]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.is_heading())
            .map(|l| l.text().to_string())
            .collect()
    };
    let texts = pack(title, lines, limit);
    if max_parts == 0 || texts.len() <= max_parts {
        return Fitted {
            texts,
            shown: dishes(lines),
            omitted: 0,
            left_out: Vec::new(),
        };
    }
    let dish_count = lines.iter().filter(|l| !l.is_heading()).count();
    let mut removed = vec![false; lines.len()];
    let mut kept: Vec<Line> = Vec::new();
    let mut left_out = Vec::new();
    for n in 1..=dish_count {
        let Some(next) = next_to_leave_out(lines, &removed) else {
            break;
        };
        removed[next] = true;
        kept = without_orphans(
            lines
                .iter()
                .zip(&removed)
                .filter(|(_, r)| !**r)
                .map(|(l, _)| l.clone())
                .collect(),
        );
        let shown = dishes(&kept);
        left_out = left_out_by_owner(lines, &removed);
        kept.push(Line::Dish {
            text: left_out_line(&left_out),
            rank: Rank::Normal,
            owner: None,
        });
        let texts = pack(title, &kept, limit);
        if texts.len() <= max_parts {
            return Fitted {
                texts,
                shown,
                omitted: n,
                left_out,
            };
        }
    }
    // Not even the list of what is out fits (a title longer than a part): send it alone.
    Fitted {
        texts: pack(title, &kept, limit),
        shown: Vec::new(),
        omitted: dish_count,
        left_out,
    }
}

/// The index of the dish line to leave out next (see [`fit`]), `None` when none is left:
/// the lowest rank first, and within it the last line.
fn next_to_leave_out(lines: &[Line], removed: &[bool]) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed[*i])
        .filter_map(|(i, l)| match l {
            Line::Dish { rank, .. } => Some((i, *rank)),
            Line::Heading(_) => None,
        })
        .min_by_key(|(i, rank)| (*rank, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

/// The left-out lines counted per owner, in menu order.
fn left_out_by_owner(lines: &[Line], removed: &[bool]) -> Vec<LeftOut> {
    let mut out: Vec<LeftOut> = Vec::new();
    for (line, _) in lines.iter().zip(removed).filter(|(_, r)| **r) {
        let Line::Dish { owner, .. } = line else {
            continue;
        };
        match out.iter_mut().find(|l| &l.name == owner) {
            Some(entry) => entry.count += 1,
            None => out.push(LeftOut {
                name: owner.clone(),
                count: 1,
            }),
        }
    }
    out
}

/// Drop headings that no dish follows before the next heading of the same or a higher
/// level (a heading is only there to name the dishes under it).
fn without_orphans(lines: Vec<Line>) -> Vec<Line> {
    let level = heading_level;
    let mut keep = vec![true; lines.len()];
    for (i, line) in lines.iter().enumerate() {
        if let Line::Heading(h) = line {
            let own = level(h);
            let has_dish = lines[i + 1..]
                .iter()
                .take_while(|l| match l {
                    Line::Heading(next) => level(next) > own,
                    Line::Dish { .. } => true,
                })
                .any(|l| !l.is_heading());
            keep[i] = has_dish;
        }
    }
    lines
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| l)
        .collect()
}

/// Split lines into texts of at most `limit` characters: `title (i/n)` then whole lines.
/// A heading goes to the next part with the first dish under it rather than end a part;
/// a line longer than a whole part is broken, never lost.
fn pack(title: &str, lines: &[Line], limit: usize) -> Vec<String> {
    let mut count = 1;
    loop {
        let header = |i: usize| {
            if count == 1 {
                title.to_string()
            } else {
                format!("{title} ({i}/{count})")
            }
        };
        let budget = limit.saturating_sub(chars(&header(count))).max(8);
        // Headings are short and at most three stand together (source, restaurant,
        // corner), so a dish broken to `room` always fits in one part with the headings
        // above it: a heading never has to end a part.
        let heading_room = HEADING_MAX.min(budget / 4);
        let room = budget.saturating_sub(3 * (heading_room + 1) + 1).max(1);
        let mut pieces: Vec<(bool, String)> = Vec::new();
        for line in lines {
            if line.is_heading() {
                pieces.push((true, truncate(line.text(), heading_room)));
            } else {
                let room = if pieces.last().is_some_and(|(h, _)| *h) {
                    room
                } else {
                    budget - 1
                };
                for piece in break_line(line.text(), room) {
                    pieces.push((false, piece));
                }
            }
        }
        let mut bodies: Vec<Vec<String>> = vec![Vec::new()];
        let mut used = 0;
        let mut i = 0;
        while i < pieces.len() {
            // A heading travels with what follows it, up to the first dish piece.
            let end = pieces[i..]
                .iter()
                .position(|(is_heading, _)| !is_heading)
                .map_or(pieces.len(), |p| i + p + 1);
            let unit: usize = pieces[i..end].iter().map(|(_, t)| chars(t) + 1).sum();
            if !bodies.last().expect("never empty").is_empty() && used + unit > budget {
                bodies.push(Vec::new());
                used = 0;
            }
            let current = bodies.last_mut().expect("never empty");
            for (_, text) in &pieces[i..end] {
                used += chars(text) + 1;
                current.push(text.clone());
            }
            i = end;
        }
        if bodies.len() == count {
            return bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut text = header(i + 1);
                    for line in body {
                        text.push('\n');
                        text.push_str(&line);
                    }
                    text
                })
                .collect();
        }
        count = bodies.len();
    }
}

/// Split plain `lines` under a title into texts of at most `limit` characters each (every
/// line a dish: no heading rules). With more than one part, each title carries `(i/n)`.
pub fn split_text(title: &str, lines: &[String], limit: usize) -> Vec<String> {
    let lines: Vec<Line> = lines
        .iter()
        .map(|l| Line::Dish {
            text: l.clone(),
            rank: Rank::Normal,
            owner: None,
        })
        .collect();
    pack(title, &lines, limit)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn break_line(line: &str, room: usize) -> Vec<String> {
    let room = room.max(1);
    if chars(line) <= room {
        return vec![line.to_string()];
    }
    let all: Vec<char> = line.chars().collect();
    all.chunks(room).map(|c| c.iter().collect()).collect()
}

/// List templates: 2–3 entries per part (Kakao's limits), each entry a section.
fn list_parts(title: &str, sections: &[Section], style: &Style) -> Vec<Value> {
    let mut chunks: Vec<&[Section]> = sections.chunks(3).collect();
    // Never leave a lone entry: 3+1 becomes 2+2.
    let mut owned: Vec<Vec<&Section>> = chunks.drain(..).map(|c| c.iter().collect()).collect();
    if owned.len() >= 2 && owned.last().is_some_and(|c| c.len() == 1) {
        let n = owned.len();
        let moved = owned[n - 2].pop().expect("a full chunk has three");
        owned[n - 1].insert(0, moved);
    }
    let n = owned.len();
    owned
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let header = if n == 1 {
                title.to_string()
            } else {
                format!("{title} ({}/{n})", i + 1)
            };
            let contents: Vec<Value> = chunk
                .iter()
                .map(|s| {
                    json!({
                        "title": s.heading,
                        "description": s.lines.join(", "),
                        "link": link(style),
                    })
                })
                .collect();
            json!({
                "object_type": "list",
                "header_title": header,
                "header_link": link(style),
                "contents": contents,
                "button_title": style.button_title,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Group;

    fn style(template: Template, on_closed: OnClosed) -> Style {
        Style {
            template,
            on_closed,
            ..Style::new("https://example.ac.kr/menu")
        }
    }

    fn report(name: &str, outcome: Outcome) -> SourceReport {
        SourceReport {
            name: name.into(),
            url: "https://example.ac.kr/menu".into(),
            outcome,
            detail: None,
            explain: None,
        }
    }

    fn menu(label: &str, dishes: &[&str]) -> Outcome {
        Outcome::Menu(vec![Group {
            label: label.into(),
            dishes: dishes.iter().map(|s| s.to_string()).collect(),
        }])
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn title_is_korean_month_day_weekday_meal() {
        assert_eq!(title(date(), Meal::Lunch), "11월 23일 (월) 점심");
    }

    #[test]
    fn a_short_menu_is_one_text_part_for_everyone() {
        let r = render(
            date(),
            Meal::Lunch,
            &[report("진수원", menu("백반", &["쌀밥", "된장국"]))],
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.parts[0].audience, Audience::Everyone);
        assert_eq!(
            r.parts[0].template["text"],
            "11월 23일 (월) 점심\n쌀밥\n된장국"
        );
        assert_eq!(r.parts[0].template["object_type"], "text");
        assert_eq!(
            r.parts[0].template["link"]["web_url"],
            "https://example.ac.kr/menu"
        );
        assert!(!r.has_problems);
    }

    #[test]
    fn long_menus_split_into_numbered_parts_within_the_limit_keeping_every_line_in_order() {
        let dishes: Vec<String> = (1..=60)
            .map(|i| format!("반찬{i:02} 볶음과 무침"))
            .collect();
        let refs: Vec<&str> = dishes.iter().map(String::as_str).collect();
        let r = render(
            date(),
            Meal::Dinner,
            &[report("학생식당", menu("", &refs))],
            &Style {
                max_parts: 0,
                ..style(Template::Text, OnClosed::Notify)
            },
        );
        assert!(r.parts.len() > 3);
        let n = r.parts.len();
        let mut seen = Vec::new();
        for (i, part) in r.parts.iter().enumerate() {
            let text = part.template["text"].as_str().unwrap();
            assert!(text.chars().count() <= TEXT_LIMIT, "part {i} too long");
            let mut lines = text.lines();
            assert_eq!(
                lines.next().unwrap(),
                format!("11월 23일 (월) 저녁 ({}/{n})", i + 1)
            );
            seen.extend(lines.map(str::to_string));
        }
        assert_eq!(seen, dishes);
    }

    #[test]
    fn a_line_longer_than_a_part_is_broken_not_lost() {
        let long = "가".repeat(450);
        let parts = split_text("제목", std::slice::from_ref(&long), 200);
        assert!(parts.iter().all(|p| p.chars().count() <= 200));
        let joined: String = parts
            .iter()
            .map(|p| p.split_once('\n').unwrap().1)
            .collect();
        assert_eq!(joined, long);
    }

    #[test]
    fn closed_days_notify_or_skip() {
        let closed = [report(
            "진수원",
            Outcome::Closed {
                notice: "휴무".into(),
            },
        )];
        let notify = render(
            date(),
            Meal::Lunch,
            &closed,
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(notify.parts.len(), 1);
        assert!(
            notify.parts[0].template["text"]
                .as_str()
                .unwrap()
                .contains("휴무")
        );
        let skip = render(
            date(),
            Meal::Lunch,
            &closed,
            &style(Template::Text, OnClosed::Skip),
        );
        assert!(skip.parts.is_empty());
    }

    #[test]
    fn a_page_that_changed_is_never_sent_as_an_empty_menu_but_told_to_me() {
        let mut failed = report("진수원", Outcome::NotFound);
        failed.detail = Some("no table matches table.tblType03".into());
        let r = render(
            date(),
            Meal::Lunch,
            &[failed],
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.parts[0].audience, Audience::Me);
        let text = r.parts[0].template["text"].as_str().unwrap();
        assert_eq!(
            text,
            "⚠ kbot · 11월 23일 (월) 점심\n진수원: 메뉴를 찾지 못했습니다. 페이지가 바뀌었을 수 있습니다.\n확인: kbot scrape 점심 --explain"
        );
        assert!(r.has_problems);
    }

    #[test]
    fn one_good_source_is_sent_and_the_failed_one_is_reported_to_me() {
        let r = render(
            date(),
            Meal::Lunch,
            &[
                report("A", menu("", &["밥"])),
                report("B", Outcome::FetchFailed),
            ],
            &style(Template::Text, OnClosed::Notify),
        );
        let audiences: Vec<Audience> = r.parts.iter().map(|p| p.audience).collect();
        assert_eq!(audiences, [Audience::Everyone, Audience::Me]);
        assert!(
            !r.parts[0].template["text"]
                .as_str()
                .unwrap()
                .contains("[B]")
        );
    }

    #[test]
    fn list_template_has_two_or_three_entries_per_part() {
        let groups: Vec<Group> = (1..=4)
            .map(|i| Group {
                label: format!("코너{i}"),
                dishes: vec![format!("요리{i}")],
            })
            .collect();
        let r = render(
            date(),
            Meal::Lunch,
            &[report("식당", Outcome::Menu(groups))],
            &style(Template::List, OnClosed::Notify),
        );
        let sizes: Vec<usize> = r
            .parts
            .iter()
            .map(|p| p.template["contents"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [2, 2]);
        assert_eq!(r.parts[0].template["object_type"], "list");
        assert_eq!(
            r.parts[1].template["header_title"],
            "11월 23일 (월) 점심 (2/2)"
        );
    }

    #[test]
    fn the_pause_notice_is_one_korean_message_to_me_with_the_check_to_run() {
        let part = pause_notice(
            date(),
            Meal::Lunch,
            3,
            &style(Template::Text, OnClosed::Notify),
        );
        assert_eq!(part.audience, Audience::Me);
        let text = part.template["text"].as_str().unwrap();
        assert!(text.chars().count() <= TEXT_LIMIT);
        assert!(text.starts_with("⏸ kbot · 11월 23일 (월) 점심\n점심 메뉴가 3일째 없어"));
        assert!(text.ends_with("kbot scrape 점심 --explain"), "{text}");
    }

    #[test]
    fn list_template_with_one_entry_falls_back_to_text() {
        let r = render(
            date(),
            Meal::Lunch,
            &[report("식당", menu("", &["밥"]))],
            &style(Template::List, OnClosed::Notify),
        );
        assert_eq!(r.parts[0].template["object_type"], "text");
    }
}
