//! Server-to-server (S2S) postbacks for affiliate tracking.
//!
//! A tracker gives every ad click a unique click id and passes it to the affiliate network in the
//! offer link (`https://offer.example/?aff_sub={subid}`). When the user converts, the network's
//! server calls the tracker's postback URL with that id, a status and a payout
//! (`/postback?subid=…&status=approved&payout=12.50`). The tracker must match the id to its click,
//! map the network's status word to a conversion state, count the conversion once, and explain
//! every postback it could not use. `postback` is the library for that job, without the HTTP
//! server: it does no I/O of its own and never reads the clock behind your back.
//!
//! # Quick start
//!
//! ```
//! use postback::{Click, ClickId, MemoryStore, Outcome, Parser, Request, Template, Tracker};
//!
//! // Setup: one tracker per postback endpoint, here receiving Keitaro-style postbacks.
//! let tracker = Tracker::new(MemoryStore::new(), Parser::builtin("keitaro").unwrap());
//!
//! // Click time: make an id, remember the click, send the visitor to the offer.
//! let click = ClickId::generate();
//! tracker.record_click(Click::from_id(click))?;
//! let offer = Template::parse("https://offer.example/?aff_sub={subid}")?;
//! let id = click.to_string();
//! let link = offer.expand(&[("subid", id.as_str())])?;
//! assert!(link.ends_with(&id));
//!
//! // Conversion time: the network calls the postback URL with the id it was given.
//! let url = format!("/postback?subid={id}&status=sale&payout=12.50&tid=T1");
//! let now = time::OffsetDateTime::now_utc();
//! assert_eq!(tracker.handle(&Request::get(&url), now), Outcome::Recorded);
//! assert_eq!(tracker.handle(&Request::get(&url), now), Outcome::Duplicate); // a retry
//! assert_eq!(tracker.handle(&Request::get("/postback?subid=nope&status=sale"), now).code(),
//!            "click_not_found");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The parts
//!
//! | module | what it does |
//! |---|---|
//! | [`click_id`] | [`ClickId`]: unique, unguessable, URL-safe, time-ordered ids |
//! | [`template`], [`lint`](mod@lint), [`catalog`], [`build`] | compile URL templates with macros once and expand them many times; catch the field's classic template mistakes; the macros of well-known networks and the [postback URL](build_postback_url) to paste into one |
//! | [`parse`], [`profile`], [`status`], [`money`] | parse what a network sends into a typed [`Postback`], per network [`Profile`], with exact amounts and errors that say what to check |
//! | [`guard`], [`request`] | token, IP allow-list and signature checks on a [`Request`] |
//! | [`store`], [`tracker`], [`outcome`], [`log`] | the compare-and-set [`ClickStore`], the in-memory [`MemoryStore`], the [`Tracker`] that counts each conversion once, what became of each postback ([`Outcome`]), and the postback log |
//!
//! # Scope
//!
//! - No HTTP server or client: you pass a [`Request`] in and answer with
//!   [`Outcome::http_status`]. Clicks live in memory, or in Redis with the `redis` feature;
//!   for another database implement [`ClickStore`] (the `testing` feature has a conformance
//!   suite for it).
//! - No I/O and no hidden clock in parsing, templating, linting and deciding: time comes in as
//!   an argument.
//! - Click ids are [`ClickId`]s if you like, but matching works on any id up to 128 bytes that
//!   your tracker already issues.
//!
//! # Crate features
//!
//! - `serde`: `Serialize`/`Deserialize` for ids, states, amounts, profiles and the catalog
//!   (string forms), JSON-lines output of the postback log, and Post Affiliate Pro's JSON
//!   `sale=` parameter.
//! - `redis`: [`store::RedisStore`], a [`ClickStore`] in Redis (or Valkey) that
//!   many tracker nodes share, with an atomic server-side compare-and-set (pulls in `redis`,
//!   sync client, no TLS).
//! - `signature`: HMAC-SHA256 signature checks in the [`guard`] (pulls in `hmac` and `sha2`).
//! - `testing`: [`testing::check_store`], the conformance suite for [`ClickStore`]
//!   implementations.
//!
//! # Performance
//!
//! Compile templates once and expand them with [`Template::expand_into`] into a reused buffer;
//! parse with a [`Parser`] made once. A postback that needs no percent-decoding is parsed and
//! matched without allocating. The benches (`cargo bench`) compare each hot path with the
//! obvious alternative in the same run (`uuid`/`ulid`, chained `str::replace`,
//! `url::Url::parse` + `HashMap`); README.md quotes the figures.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod build;
pub mod catalog;
pub mod click_id;
pub mod guard;
pub mod lint;
pub mod log;
pub mod money;
pub mod outcome;
pub mod parse;
pub mod profile;
mod query;
pub mod request;
pub mod status;
pub mod store;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracker;

pub use build::build_postback_url;
pub use catalog::Catalog;
pub use click_id::{ClickId, ClickIdGenerator, EncodedClickId, ParseClickIdError};
pub use guard::{Guard, GuardError};
pub use lint::{Finding, LintCode, LintContext, lint};
pub use money::{Amount, Currency};
pub use outcome::Outcome;
pub use parse::{ParsePostbackError, Parser, Postback};
pub use profile::{Field, Profile};
pub use request::Request;
pub use status::{ConversionState, StatusMap};
pub use store::{Click, ClickStore, MemoryConfig, MemoryStore, MemoryStoreError};
#[cfg(feature = "redis")]
pub use store::{RedisStore, RedisStoreError};
pub use template::{Dialect, OnMissing, Template, Value, Values};
pub use tracker::Tracker;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
