//! kbot: scrape a cafeteria menu and send it to KakaoTalk on a schedule.
//!
//! The binary (`main.rs`) is thin glue; everything lives in these modules so that
//! `tests/` and `benches/` can use it. DESIGN.md §1 says what each module owns.

pub mod auth;
pub mod clock;
pub mod error;
pub mod http;
pub mod listener;
pub mod meal;
pub mod secrets;
pub mod session;

pub use error::{Error, Exit, Report};
pub use meal::Meal;

/// The result type of every command.
pub type Result<T, E = Error> = std::result::Result<T, E>;
