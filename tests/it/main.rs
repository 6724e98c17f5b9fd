//! Integration tests over the public API only: one test crate, one module per area.

mod click_id;
mod money;
mod postback;
mod profile;
mod props;
