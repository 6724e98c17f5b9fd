//! Integration tests over the public API only: one test crate, one module per area.
#![allow(
    clippy::unwrap_used,
    reason = "a test that hits an unexpected error should fail loudly at that line"
)]

mod alloc;
mod bounds;
mod catalog;
#[cfg(feature = "cli")]
mod cli;
mod click_id;
mod fuzz_harness;
mod fuzz_regressions;
mod guard;
mod leads;
mod lint;
mod model;
mod money;
mod oracle;
mod postback;
mod profile;
mod props;
mod readme;
mod redis;
mod request;
mod security;
mod server;
mod store;
mod template;
mod tracker;
