//! kbot: scrape a cafeteria menu and send it to KakaoTalk on a schedule.
//!
//! The binary (`main.rs`) is thin glue; everything lives in these modules so that
//! `tests/` and `benches/` can use it. DESIGN.md §1 says what each module owns.

pub mod account;
pub mod audience;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod correction;
pub mod daemon;
pub mod deliver;
pub mod doctor;
pub mod error;
pub mod highlight;
pub mod holiday;
pub mod http;
pub mod instance;
pub mod interrupt;
pub mod kakao;
pub mod ledger;
pub mod listener;
pub mod meal;
pub mod message;
pub mod noise;
pub mod pause;
pub mod quota;
pub mod reload;
pub mod schedule;
pub mod scrape;
pub mod secrets;
pub mod service;
pub mod session;
pub mod terminal;
pub mod view;
pub mod window;

pub use error::{Error, Exit, Report};
pub use meal::Meal;

/// The result type of every command.
pub type Result<T, E = Error> = std::result::Result<T, E>;
