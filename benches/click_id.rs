//! Placeholder until the click-id bench lands.
fn main() {}
