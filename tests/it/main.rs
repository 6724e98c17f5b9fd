//! Integration tests over the public API only: one test crate, one module per area.
#![allow(
    clippy::unwrap_used,
    reason = "a test that hits an unexpected error should fail loudly at that line"
)]

mod alloc;
mod catalog;
mod click_id;
mod guard;
mod lint;
mod redis;
mod request;
mod store;
mod template;
mod tracker;
