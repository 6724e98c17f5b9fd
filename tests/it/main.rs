//! Integration tests over the public API only: one test crate, one module per area.

mod catalog;
mod click_id;
mod lint;
mod template;
