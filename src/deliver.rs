//! One run of kbot: scrape every source for (date, meal), render the message, and (with a
//! login) send it and record it. Shared by `send-now`, `preview` and the daemon.
//!
//! Does network I/O through `scrape`; the rendering itself is `message`'s pure work.

use chrono::NaiveDate;

use crate::config::Config;
use crate::error::{Exit, Report};
use crate::meal::Meal;
use crate::message::{self, Rendered, Style};
use crate::scrape::{self, Outcome, SourceReport};

/// What one run found and would send.
#[derive(Debug, Clone)]
pub struct Run {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// One report per source, in config order.
    pub reports: Vec<SourceReport>,
    /// The parts to send.
    pub rendered: Rendered,
}

impl Run {
    /// The names of sources whose scrape failed (not found, wrong date, fetch failed).
    pub fn failed_sources(&self) -> Vec<String> {
        self.reports
            .iter()
            .filter(|r| is_failure(&r.outcome))
            .map(|r| format!("{} ({})", r.name, r.outcome.as_str()))
            .collect()
    }
}

/// True for the outcomes that mean "something is wrong", as opposed to menu or closed.
pub fn is_failure(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::NotFound | Outcome::WrongDate | Outcome::FetchFailed
    )
}

/// The rendering settings a config implies for `date`.
pub fn style(config: &Config, date: NaiveDate) -> Style {
    Style {
        template: config.message.template,
        on_closed: config.message.on_closed,
        link: config
            .link_for(date)
            .unwrap_or_else(|| "https://kakao.com".into()),
        button_title: config.message.button_title.clone(),
    }
}

/// Scrape every source (in config order) for one date and meal.
pub async fn scrape_all(
    config: &Config,
    http: &reqwest::Client,
    date: NaiveDate,
    meal: Meal,
) -> Vec<SourceReport> {
    let mut reports = Vec::with_capacity(config.sources.len());
    for source in &config.sources {
        let report = scrape::scrape(http, source, date, meal).await;
        tracing::info!(source = %report.name, outcome = report.outcome.as_str(), "scraped");
        reports.push(report);
    }
    reports
}

/// Scrape and render: everything a run does before it talks to Kakao.
pub async fn prepare(config: &Config, http: &reqwest::Client, date: NaiveDate, meal: Meal) -> Run {
    let reports = scrape_all(config, http, date, meal).await;
    let rendered = message::render(date, meal, &reports, &style(config, date));
    Run {
        date,
        meal,
        reports,
        rendered,
    }
}

/// Scraping failed for at least one source (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("scraping failed for {meal} on {date}: {}", sources.join(", "))]
pub struct ScrapeFailed {
    /// The day.
    pub date: NaiveDate,
    /// The meal.
    pub meal: Meal,
    /// `name (outcome)` of each failed source.
    pub sources: Vec<String>,
}

impl Report for ScrapeFailed {
    fn exit(&self) -> Exit {
        Exit::Delivery
    }

    fn hint(&self) -> Option<String> {
        Some(format!(
            "kbot scrape {} --date {} --explain   (shows what the scraper saw)",
            self.meal, self.date
        ))
    }
}
