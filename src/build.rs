//! The postback URL builder: a network's macros in a tracker's parameters, checked by the
//! linter.
//!
//! [`build_postback_url`] writes the URL a user pastes into a network, from the built-in
//! [`Catalog`]; [`Catalog::build_postback_url`] and [`TrackerParams::postback_url`] do the same
//! from a catalog or entries of your own. The builder sits above both the catalog (its data)
//! and the linter (which checks every URL it writes), so neither of those depends on the other
//! through it: the two methods are defined here, on the catalog's types.
//!
//! ```
//! use postback::build_postback_url;
//!
//! let url = build_postback_url("affise", "keitaro", "https://tr.example/a1b2c3")?;
//! assert_eq!(
//!     url,
//!     "https://tr.example/a1b2c3/postback?subid={sub1}&payout={sum}&currency={currency}\
//!      &tid={transactionid}&status={status}&lead_status=2,5&sale_status=1&rejected_status=3"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::catalog::{Catalog, NetworkMacros, TrackerParams};
use crate::lint::{LintContext, lint};
use crate::profile::StatusParam;
use crate::status::ConversionState;
use crate::template::Dialect;

impl TrackerParams {
    /// Writes the postback URL a user pastes into `network`: the network's click macro in the
    /// tracker's click parameter, then payout, currency, transaction id and status where both
    /// sides have them. `base` is the tracker's address (Keitaro: including the postback key
    /// path).
    ///
    /// The status is written so that an approved conversion counts as approved and no status
    /// is read as another state. The network's status macro goes in as it is when the tracker
    /// reads its values; otherwise a Keitaro value map into the tracker's words, or the
    /// tracker's mapping parameters for the network's codes (Affise's `1` in Keitaro's
    /// `sale_status=1`). Where neither exists and the network can limit a postback to approved
    /// conversions ([`NetworkMacros::status_filter`]), the URL is the one for approved
    /// conversions and carries the tracker's word for approved: set the network's filter to
    /// approved. A network without a status macro gets that word too when the tracker would not
    /// count a postback without one ([`TrackerParams::default_state`]: RedTrack records
    /// "other").
    ///
    /// ```
    /// use postback::build_postback_url;
    ///
    /// let base = "https://tr.example";
    /// assert_eq!(
    ///     build_postback_url("affise", "redtrack", base)?,
    ///     "https://tr.example/postback?clickid={sub1}&sum={sum}&rdtk_event_id={transactionid}&status=approved"
    /// );
    /// assert_eq!(
    ///     build_postback_url("cake", "redtrack", base)?,
    ///     "https://tr.example/postback?clickid=#s2#&sum=#price#&rdtk_event_id=#leadid#&status=approved"
    /// );
    /// assert_eq!(
    ///     build_postback_url("cake", "binom", base)?,
    ///     "https://tr.example/click.php?cnv_id=#s2#&payout=#price#"
    /// );
    /// # Ok::<(), postback::build::BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidBase`] for a base that is not an `https` URL without query and
    /// fragment (`http://tr.example`, `https://tr.example/?x=1`);
    /// [`BuildError::NoClickMacro`] when the network lists no click macro; [`BuildError::Lint`]
    /// when the result would not pass [`lint`] (a base with `{` in it).
    pub fn postback_url(&self, network: &NetworkMacros, base: &str) -> Result<String, BuildError> {
        check_base(base)?;
        let click_macro = network
            .click()
            .first()
            .ok_or_else(|| BuildError::NoClickMacro {
                network: network.name().into(),
            })?;
        let mut out = String::with_capacity(base.len() + 160);
        out.push_str(base.trim_end_matches('/'));
        out.push_str(self.path());
        let mut sep = if self.path().contains('?') { '&' } else { '?' };
        let mut param = |out: &mut String, name: &str| {
            out.push(sep);
            sep = '&';
            out.push_str(name);
            out.push('=');
        };
        let dialect = network.dialect();
        if let Some(click_param) = self.click().first() {
            param(&mut out, click_param);
            dialect.write_macro(&mut out, click_macro);
        }
        for (params, name) in [
            (self.payout(), network.payout()),
            (self.currency(), network.currency()),
            (self.txid(), network.txid()),
        ] {
            if let (Some(p), Some(m)) = (params.first(), name) {
                param(&mut out, p);
                dialect.write_macro(&mut out, m);
            }
        }
        if let Some(p) = self.status().first() {
            match self.status_plan(network) {
                StatusPlan::Omit => {}
                StatusPlan::Macro(status) => {
                    param(&mut out, p);
                    dialect.write_macro(&mut out, status);
                }
                StatusPlan::ValueMap(status) => {
                    param(&mut out, p);
                    self.write_value_map(&mut out, network, status);
                }
                StatusPlan::Mapped(status) => {
                    param(&mut out, p);
                    dialect.write_macro(&mut out, status);
                    for mapping in self.status_mapping() {
                        let codes = network.codes_for(mapping.state, self.status_mapping());
                        if !codes.is_empty() {
                            param(&mut out, &mapping.param);
                            out.push_str(&codes);
                        }
                    }
                }
                StatusPlan::Literal(word) => {
                    param(&mut out, p);
                    out.push_str(word);
                }
            }
        }
        let ctx = LintContext::new().with_network(network).with_tracker(self);
        if let Some(finding) = lint(&out, &ctx).into_iter().next() {
            return Err(BuildError::Lint {
                code: finding.code(),
                at: finding.span().start,
            });
        }
        Ok(out)
    }

    /// How the status reaches this tracker from `network`, so that an approved conversion is
    /// counted as approved and no status is read as another state:
    ///
    /// 1. the network's own values, when the tracker reads every one it knows as the network
    ///    means it and reads the approved ones (Impact's `APPROVED` in RedTrack);
    /// 2. a Keitaro value map into the tracker's words, when the network expands one;
    /// 3. the network's values with the tracker's mapping parameters (Keitaro's
    ///    `sale_status=1`);
    /// 4. the tracker's word for approved, written literally, when the network can fire a
    ///    postback for approved conversions only (Affise's status filter: the URL goes there);
    /// 5. nothing, when the tracker counts a postback without a status as approved;
    /// 6. otherwise the network's values as they are, for the user to map in the tracker.
    ///
    /// A network without a status macro sends one postback per conversion: the tracker's word
    /// for approved is written literally when the tracker would not count the postback without
    /// it (RedTrack records "other"), and nothing otherwise.
    fn status_plan<'n>(&'n self, network: &'n NetworkMacros) -> StatusPlan<'n> {
        use ConversionState::Approved;
        let approved_word = self.word_for(Approved);
        let Some(status) = network.status() else {
            return match approved_word {
                Some(word) if self.default_state() != Some(Approved) => StatusPlan::Literal(word),
                _ => StatusPlan::Omit,
            };
        };
        if self.reads(network) {
            StatusPlan::Macro(status)
        } else if network.dialect() == Dialect::Keitaro && approved_word.is_some() {
            StatusPlan::ValueMap(status)
        } else if !self.status_mapping().is_empty() {
            StatusPlan::Mapped(status)
        } else if let (true, Some(word)) =
            (network.status_filter().contains(&Approved), approved_word)
        {
            StatusPlan::Literal(word)
        } else if self.default_state() == Some(Approved) {
            StatusPlan::Omit
        } else {
            StatusPlan::Macro(status)
        }
    }

    /// Whether the tracker reads the network's status values as the network means them: none
    /// as another state, and every approved one as approved.
    fn reads(&self, network: &NetworkMacros) -> bool {
        let mut approved = false;
        for (value, state) in network.status_values() {
            match self.state_of(value) {
                Some(read) if read == *state => approved |= read == ConversionState::Approved,
                Some(_) => return false,
                None if *state == ConversionState::Approved => return false,
                None => {}
            }
        }
        approved
    }

    /// The state the tracker gives `word`, as the parser does.
    fn state_of(&self, word: &str) -> Option<ConversionState> {
        self.profile().status_map().get(word)
    }

    /// The tracker's first word for `state`.
    fn word_for(&self, state: ConversionState) -> Option<&str> {
        self.profile()
            .status_map()
            .iter()
            .find(|(_, s)| *s == state)
            .map(|(word, _)| word)
    }

    /// Writes a Keitaro value map from the network's states into this tracker's words.
    fn write_value_map(&self, out: &mut String, network: &NetworkMacros, status: &str) {
        out.push('{');
        out.push_str(status);
        out.push(':');
        let mut first = true;
        for (word, state) in network.status_values() {
            if let Some(ours) = self.word_for(*state) {
                if !first {
                    out.push(' ');
                }
                first = false;
                out.push_str(word);
                out.push('=');
                out.push_str(ours);
            }
        }
        out.push('}');
    }
}

/// How [`TrackerParams::postback_url`] writes the status parameter.
enum StatusPlan<'n> {
    /// No status parameter.
    Omit,
    /// The network's status macro.
    Macro(&'n str),
    /// The status macro with a Keitaro value map.
    ValueMap(&'n str),
    /// The status macro and the tracker's mapping parameters.
    Mapped(&'n str),
    /// A fixed word.
    Literal(&'n str),
}

impl NetworkMacros {
    /// The network's status codes meaning `state`, comma-separated. Reversals are listed with
    /// rejections when the tracker has no mapping parameter for them.
    fn codes_for(&self, state: ConversionState, mapping: &[StatusParam]) -> String {
        let has_reversed = mapping.iter().any(|p| p.state == ConversionState::Reversed);
        let mut codes = String::new();
        for (value, s) in self.status_values() {
            let folded = if *s == ConversionState::Reversed && !has_reversed {
                ConversionState::Rejected
            } else {
                *s
            };
            if folded == state {
                if !codes.is_empty() {
                    codes.push(',');
                }
                codes.push_str(value);
            }
        }
        codes
    }
}

fn check_base(base: &str) -> Result<(), BuildError> {
    let invalid = |reason: &'static str| Err(BuildError::InvalidBase { reason });
    let Ok(url) = url::Url::parse(base) else {
        return invalid("it is not an absolute URL");
    };
    if url.scheme() != "https" {
        return invalid("it does not use https");
    }
    if url.query().is_some() || base.contains('?') {
        return invalid("it has a query");
    }
    if url.fragment().is_some() || base.contains('#') {
        return invalid("it has a fragment");
    }
    Ok(())
}

/// A postback URL that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The catalog has no network by that name or alias.
    #[error("unknown network `{name}`")]
    #[non_exhaustive]
    UnknownNetwork {
        /// The name asked for.
        name: Box<str>,
    },
    /// The catalog has no tracker by that name.
    #[error("unknown tracker `{name}`")]
    #[non_exhaustive]
    UnknownTracker {
        /// The name asked for.
        name: Box<str>,
    },
    /// The base URL cannot start a postback URL.
    #[error("invalid base url: {reason}")]
    #[non_exhaustive]
    InvalidBase {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The network's entry lists no macro that can carry a click id.
    #[error("network `{network}` has no click macro")]
    #[non_exhaustive]
    NoClickMacro {
        /// The network's name.
        network: Box<str>,
    },
    /// The URL would not pass the linter.
    #[error("built url fails lint `{code}` at byte {at}")]
    #[non_exhaustive]
    Lint {
        /// The lint code.
        code: &'static str,
        /// Byte offset of the finding in the built URL.
        at: usize,
    },
}

impl Catalog {
    /// [`TrackerParams::postback_url`] for entries looked up by name.
    ///
    /// # Errors
    ///
    /// [`BuildError::UnknownNetwork`] / [`BuildError::UnknownTracker`] for names not in the
    /// catalog (`build_postback_url("affise", "thrive", …)`), and the errors of
    /// [`TrackerParams::postback_url`].
    pub fn build_postback_url(
        &self,
        network: &str,
        tracker: &str,
        base: &str,
    ) -> Result<String, BuildError> {
        let net = self
            .network(network)
            .ok_or_else(|| BuildError::UnknownNetwork {
                name: network.into(),
            })?;
        let trk = self
            .tracker(tracker)
            .ok_or_else(|| BuildError::UnknownTracker {
                name: tracker.into(),
            })?;
        trk.postback_url(net, base)
    }
}

/// Builds the postback URL for `network` and `tracker` from the built-in catalog; see
/// [`TrackerParams::postback_url`].
///
/// # Errors
///
/// As [`Catalog::build_postback_url`], for example `build_postback_url("affise", "keitaro",
/// "http://tr.example")` fails with [`BuildError::InvalidBase`] because it is not https.
pub fn build_postback_url(network: &str, tracker: &str, base: &str) -> Result<String, BuildError> {
    Catalog::builtin().build_postback_url(network, tracker, base)
}
