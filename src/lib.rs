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
//! use postback::{ClickId, ClickIdGenerator};
//!
//! // Click time: one generator per process, shared by every request handler.
//! let ids = ClickIdGenerator::new();
//! let click = ids.generate();
//! let offer_link = format!("https://offer.example/?aff_sub={click}");
//! assert!(offer_link.ends_with(click.encode().as_str()));
//!
//! // Conversion time: the network sends the id back, in whatever case it likes.
//! let returned: ClickId = click.encode().to_ascii_uppercase().parse()?;
//! assert_eq!(returned, click);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Scope
//!
//! - Click ids ([`ClickId`], [`ClickIdGenerator`]): unique, unguessable, URL-safe, time-ordered.
//!   Matching never requires them: postbacks may carry any id your tracker issued.
//! - Postback parsing ([`Parser`], [`Postback`], [`ParsePostbackError`]): one [`Profile`] per
//!   sender (21 built in), exact money ([`Amount`], [`Currency`]) and per-profile status words
//!   ([`StatusMap`]); every rejection has a stable code and says what to check.
//! - No HTTP server or client, no persistence beyond memory: you own the transport and the
//!   database.
//!
//! # Crate features
//!
//! - `serde`: `Serialize`/`Deserialize` for ids (as their text form) and the crate's other
//!   value types. Also loads [`Profile`]s from config and reads Post Affiliate Pro's
//!   JSON `sale=` parameter (through `serde_json`).
//!
//! # Performance
//!
//! Formatting an id writes into a stack buffer ([`ClickId::encode`]); generating one takes a
//! thread-local CSPRNG draw and one short uncontended lock. `cargo bench --bench click_id`
//! compares it with `uuid` v7 and `ulid` in the same run; README.md quotes the figures.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod click_id;
pub mod money;
pub mod postback;
pub mod profile;
pub mod status;

pub use click_id::{ClickId, ClickIdGenerator, EncodedClickId, ParseClickIdError};
pub use money::{Amount, Currency};
pub use postback::{ParsePostbackError, Parser, Postback};
pub use profile::Profile;
pub use status::{ConversionState, StatusMap};

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
