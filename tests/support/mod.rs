//! Test support shared by the integration tests (`mod support;` in each `tests/*.rs`).
//!
//! Owns helpers only; no test lives here. Not every test file uses every helper, hence the
//! `dead_code` / `unused_imports` allowance (each `tests/*.rs` is its own crate).
#![allow(dead_code, unused_imports)]

pub mod fake_kakao;
pub mod pages;
pub mod sites;
