//! Menu pages for the window and cache tests: a week grid generator and a tiny HTTP page
//! server on 127.0.0.1 that can go down, answers `ETag` / `If-None-Match` with `304`, and
//! records what it was asked.
//!
//! I/O: one loopback listener on its own thread (detached; it dies with the test process).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Datelike, NaiveDate};

/// A week grid (`table.menu`, Monday first) with 조식 / 중식 / 석식 rows that carry
/// `dishes` on every day of the week starting on `monday`.
pub fn week_page(monday: NaiveDate, dishes: &[&str]) -> String {
    const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
    let mut head = String::from("<tr><th>구분</th>");
    for (i, day) in DAYS.iter().enumerate() {
        let date = monday + chrono::Days::new(i as u64);
        head.push_str(&format!("<th>{}({day})</th>", date.format("%m.%d")));
    }
    head.push_str("</tr>");
    let mut rows = String::new();
    for meal in ["조식", "중식", "석식"] {
        rows.push_str(&format!("<tr><th>{meal}</th>"));
        for _ in DAYS {
            rows.push_str(&format!("<td>{}</td>", dishes.join("<br>")));
        }
        rows.push_str("</tr>");
    }
    format!("<html><body><table class=\"menu\">{head}{rows}</table></body></html>")
}

/// The Monday of `date`'s week.
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()))
}

#[derive(Debug, Default)]
struct Served {
    /// The page and its version (the `ETag`), or `None` while the site is down.
    page: Option<(u64, String)>,
    /// The head of every request, lowercased.
    requests: Vec<String>,
    /// The status of every answer.
    statuses: Vec<u16>,
    /// How long each answer takes.
    delay: std::time::Duration,
}

/// A page server on 127.0.0.1: `GET /menu` answers the current page (HTTP 503 while down).
#[derive(Debug, Clone)]
pub struct PageServer {
    /// `http://127.0.0.1:PORT/menu`.
    pub url: String,
    served: Arc<Mutex<Served>>,
}

impl PageServer {
    /// Start serving nothing yet (down).
    pub fn start() -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!(
            "http://{}/menu",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let served = Arc::new(Mutex::new(Served::default()));
        let shared = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &shared);
            }
        });
        PageServer { url, served }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Served) -> T) -> T {
        f(&mut self.served.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Serve `html` from now on (a new version, so a new `ETag`).
    pub fn serve(&self, html: &str) {
        self.with(|s| {
            let version = s.page.as_ref().map_or(1, |(v, _)| v + 1);
            s.page = Some((version, html.to_string()));
        });
    }

    /// Take `delay` over every answer from now on (a slow site).
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.with(|s| s.delay = delay);
    }

    /// Answer 503 from now on.
    pub fn go_down(&self) {
        self.with(|s| s.page = None);
    }

    /// The status of every answer so far.
    pub fn statuses(&self) -> Vec<u16> {
        self.with(|s| s.statuses.clone())
    }

    /// The lowercased head of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }
}

fn answer(stream: TcpStream, served: &Mutex<Served>) {
    let mut reader = BufReader::new(&stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let head = head.to_lowercase();
    let delay = served.lock().unwrap_or_else(PoisonError::into_inner).delay;
    std::thread::sleep(delay);
    let (status, etag, body) = {
        let mut s = served.lock().unwrap_or_else(PoisonError::into_inner);
        s.requests.push(head.clone());
        let (status, etag, body) = match &s.page {
            None => (503, String::new(), "down".to_string()),
            Some((version, html)) => {
                let etag = format!("\"v{version}\"");
                if head.contains(&format!("if-none-match: {etag}")) {
                    (304, etag, String::new())
                } else {
                    (200, etag, html.clone())
                }
            }
        };
        s.statuses.push(status);
        (status, etag, body)
    };
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Service Unavailable",
    };
    let etag = if etag.is_empty() {
        String::new()
    } else {
        format!("ETag: {etag}\r\n")
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n{etag}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}
