//! What networks send and trackers expect: the data behind the linter and the URL builder.
//!
//! A postback URL joins two vocabularies: the macros the *network* expands (Affise's `{sub1}`,
//! CAKE's `#s2#`) and the parameters the *tracker* reads (Keitaro's `subid`, Voluum's `cid`).
//! Getting either side wrong loses conversions silently, so the crate ships both as data:
//! [`NetworkMacros`] per network and [`TrackerParams`] per tracker, gathered in a [`Catalog`].
//!
//! The built-in catalog ([`Catalog::builtin`]) covers networks `affise`, `cake`, `everflow`,
//! `tune` (alias `hasoffers`), `impact`, `admitad`, `awin`, `scaleo` and `keitaro` (Keitaro's
//! outgoing S2S placeholders), and trackers `keitaro`, `binom`, `voluum`, `redtrack`, `bemob`,
//! `clickflare`, `peerclick`, `funnelflux`, `prosper202` and `generic`. With the `serde` feature
//! a catalog loads from configuration, and [`Catalog::with_network`] and
//! [`Catalog::with_tracker`] add or replace entries.
//!
//! ```
//! use postback::catalog::build_postback_url;
//!
//! let url = build_postback_url("affise", "keitaro", "https://tr.example/a1b2c3")?;
//! assert_eq!(
//!     url,
//!     "https://tr.example/a1b2c3/postback?subid={sub1}&payout={sum}&currency={currency}\
//!      &tid={transactionid}&status={status}&lead_status=2,5&sale_status=1&rejected_status=3"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::OnceLock;

use crate::lint::{LintContext, lint};
use crate::status::ConversionState;
use crate::template::Dialect;

/// The macros one network expands in the postback URLs its affiliates give it.
///
/// Names are case-sensitive and written without delimiters (`sub1`, not `{sub1}`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NetworkMacros {
    name: String,
    #[cfg_attr(feature = "serde", serde(default))]
    aliases: Vec<String>,
    dialect: Dialect,
    #[cfg_attr(feature = "serde", serde(default))]
    macros: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    click: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    payout: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    currency: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    txid: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    status: Option<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    status_values: Vec<(String, ConversionState)>,
}

impl NetworkMacros {
    /// An entry with a name and a dialect and nothing else yet.
    ///
    /// ```
    /// use postback::catalog::NetworkMacros;
    /// use postback::template::Dialect;
    ///
    /// let net = NetworkMacros::new("mynet", Dialect::Brace)
    ///     .with_click(["aff_sub1"])
    ///     .with_payout("amount")
    ///     .with_macros(["clickid_unused", "country"]);
    /// assert!(net.knows("aff_sub1") && net.knows("amount") && net.knows("country"));
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, dialect: Dialect) -> Self {
        Self {
            name: name.into(),
            aliases: Vec::new(),
            dialect,
            macros: Vec::new(),
            click: Vec::new(),
            payout: None,
            currency: None,
            txid: None,
            status: None,
            status_values: Vec::new(),
        }
    }

    /// Adds other names the network is known by (`hasoffers` for `tune`).
    #[must_use]
    pub fn with_aliases<I: IntoIterator<Item = S>, S: Into<String>>(mut self, aliases: I) -> Self {
        self.aliases.extend(aliases.into_iter().map(Into::into));
        self
    }

    /// Adds macros to the list of known ones.
    #[must_use]
    pub fn with_macros<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.macros.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds macros that can carry the tracker's click id, preferred first (they become known
    /// macros too).
    #[must_use]
    pub fn with_click<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.click.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets the payout macro.
    #[must_use]
    pub fn with_payout(mut self, name: impl Into<String>) -> Self {
        self.payout = Some(name.into());
        self
    }

    /// Sets the currency macro.
    #[must_use]
    pub fn with_currency(mut self, name: impl Into<String>) -> Self {
        self.currency = Some(name.into());
        self
    }

    /// Sets the transaction id macro.
    #[must_use]
    pub fn with_txid(mut self, name: impl Into<String>) -> Self {
        self.txid = Some(name.into());
        self
    }

    /// Sets the status macro and the values it expands to, each with its state.
    #[must_use]
    pub fn with_status<I, S>(mut self, name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = (S, ConversionState)>,
        S: Into<String>,
    {
        self.status = Some(name.into());
        self.status_values
            .extend(values.into_iter().map(|(v, s)| (v.into(), s)));
        self
    }

    /// The catalog name (`affise`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Other names for the network.
    #[must_use]
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// How the network writes macros.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether `name` is one of the network's macros (case-sensitive).
    #[must_use]
    pub fn knows(&self, name: &str) -> bool {
        [&self.payout, &self.currency, &self.txid, &self.status]
            .into_iter()
            .flatten()
            .chain(&self.click)
            .chain(&self.macros)
            .any(|m| m == name)
    }

    /// Macros that can carry the click id, preferred first.
    #[must_use]
    pub fn click(&self) -> &[String] {
        &self.click
    }

    /// The payout macro.
    #[must_use]
    pub fn payout(&self) -> Option<&str> {
        self.payout.as_deref()
    }

    /// The currency macro.
    #[must_use]
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The transaction id macro.
    #[must_use]
    pub fn txid(&self) -> Option<&str> {
        self.txid.as_deref()
    }

    /// The status macro, when the network has one.
    #[must_use]
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The values the status macro expands to, each with the state it means (Affise: `1`
    /// approved, `2` pending, `3` rejected, `5` pending).
    #[must_use]
    pub fn status_values(&self) -> &[(String, ConversionState)] {
        &self.status_values
    }

    fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The parameters one tracker reads from an incoming postback, for writing templates.
///
/// Each parameter list is preferred name first; an empty list means the tracker has no such
/// parameter. (The postback parser keeps its own per-source profiles under the same names.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackerParams {
    name: String,
    path: String,
    click: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    payout: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    currency: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    txid: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    status: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    status_words: Vec<(String, ConversionState)>,
    #[cfg_attr(feature = "serde", serde(default))]
    status_mapping: Vec<(String, ConversionState)>,
}

impl TrackerParams {
    /// An entry with a name, the endpoint path appended to the user's base URL, and the click
    /// id parameter.
    ///
    /// ```
    /// use postback::catalog::TrackerParams;
    ///
    /// let t = TrackerParams::new("mytracker", "/conv", "clid").with_payout("payout");
    /// assert_eq!(t.click(), ["clid"]);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, path: impl Into<String>, click: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            click: vec![click.into()],
            payout: Vec::new(),
            currency: Vec::new(),
            txid: Vec::new(),
            status: Vec::new(),
            status_words: Vec::new(),
            status_mapping: Vec::new(),
        }
    }

    /// Adds a payout parameter.
    #[must_use]
    pub fn with_payout(mut self, param: impl Into<String>) -> Self {
        self.payout.push(param.into());
        self
    }

    /// Adds a currency parameter.
    #[must_use]
    pub fn with_currency(mut self, param: impl Into<String>) -> Self {
        self.currency.push(param.into());
        self
    }

    /// Adds a transaction id parameter.
    #[must_use]
    pub fn with_txid(mut self, param: impl Into<String>) -> Self {
        self.txid.push(param.into());
        self
    }

    /// Adds a status parameter and the words it understands natively, each with its state.
    #[must_use]
    pub fn with_status<I, S>(mut self, param: impl Into<String>, words: I) -> Self
    where
        I: IntoIterator<Item = (S, ConversionState)>,
        S: Into<String>,
    {
        self.status.push(param.into());
        self.status_words
            .extend(words.into_iter().map(|(w, s)| (w.into(), s)));
        self
    }

    /// Adds status-mapping parameters: each names the state whose network codes it lists
    /// (Keitaro: `lead_status` pending, `sale_status` approved, `rejected_status` rejected).
    #[must_use]
    pub fn with_status_mapping<I, S>(mut self, params: I) -> Self
    where
        I: IntoIterator<Item = (S, ConversionState)>,
        S: Into<String>,
    {
        self.status_mapping
            .extend(params.into_iter().map(|(p, s)| (p.into(), s)));
        self
    }

    /// The catalog name (`keitaro`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint path appended to the base URL (`/postback`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Click id parameters, preferred first.
    #[must_use]
    pub fn click(&self) -> &[String] {
        &self.click
    }

    /// Payout parameters, preferred first.
    #[must_use]
    pub fn payout(&self) -> &[String] {
        &self.payout
    }

    /// Currency parameters.
    #[must_use]
    pub fn currency(&self) -> &[String] {
        &self.currency
    }

    /// Transaction id parameters.
    #[must_use]
    pub fn txid(&self) -> &[String] {
        &self.txid
    }

    /// Status parameters.
    #[must_use]
    pub fn status(&self) -> &[String] {
        &self.status
    }

    /// Status words the tracker understands natively, each with its state.
    #[must_use]
    pub fn status_words(&self) -> &[(String, ConversionState)] {
        &self.status_words
    }

    /// Status-mapping parameters and the state each one lists codes for.
    #[must_use]
    pub fn status_mapping(&self) -> &[(String, ConversionState)] {
        &self.status_mapping
    }

    /// Whether `param` carries a status (the status parameter or a status-mapping one).
    #[must_use]
    pub fn is_status_param(&self, param: &str) -> bool {
        self.status.iter().any(|p| p == param)
            || self.status_mapping.iter().any(|(p, _)| p == param)
    }

    /// Writes the postback URL a user pastes into `network`: the network's click macro in the
    /// tracker's click parameter, then payout, currency, transaction id and status where both
    /// sides have them, and the status-mapping parameters that translate the network's status
    /// codes. `base` is the tracker's address (Keitaro: including the postback key path).
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
            .click
            .first()
            .ok_or_else(|| BuildError::NoClickMacro {
                network: network.name.as_str().into(),
            })?;
        let mut out = String::with_capacity(base.len() + 160);
        out.push_str(base.trim_end_matches('/'));
        out.push_str(&self.path);
        let mut sep = if self.path.contains('?') { '&' } else { '?' };
        let mut param = |out: &mut String, name: &str| {
            out.push(sep);
            sep = '&';
            out.push_str(name);
            out.push('=');
        };
        let dialect = network.dialect;
        if let Some(click_param) = self.click.first() {
            param(&mut out, click_param);
            dialect.write_macro(&mut out, click_macro);
        }
        for (params, name) in [
            (&self.payout, &network.payout),
            (&self.currency, &network.currency),
            (&self.txid, &network.txid),
        ] {
            if let (Some(p), Some(m)) = (params.first(), name) {
                param(&mut out, p);
                dialect.write_macro(&mut out, m);
            }
        }
        if let (Some(p), Some(status)) = (self.status.first(), &network.status) {
            param(&mut out, p);
            self.write_status(&mut out, network, status);
            if !self.speaks_natively(network) {
                for (mapping_param, state) in &self.status_mapping {
                    let codes = network.codes_for(*state, &self.status_mapping);
                    if !codes.is_empty() {
                        param(&mut out, mapping_param);
                        out.push_str(&codes);
                    }
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

    /// Writes the status macro; a network that can map states itself (Keitaro's value maps)
    /// gets a map into this tracker's words.
    fn write_status(&self, out: &mut String, network: &NetworkMacros, status: &str) {
        let can_map = network.dialect == Dialect::Keitaro && !self.status_words.is_empty();
        if !can_map || self.speaks_natively(network) {
            network.dialect.write_macro(out, status);
            return;
        }
        out.push('{');
        out.push_str(status);
        out.push(':');
        let mut first = true;
        for (word, state) in &network.status_values {
            if let Some((ours, _)) = self.status_words.iter().find(|(_, s)| s == state) {
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

    /// Whether the network's status values are words this tracker already understands.
    fn speaks_natively(&self, network: &NetworkMacros) -> bool {
        !network.status_values.is_empty()
            && network.status_values.iter().all(|(value, state)| {
                self.status_words
                    .iter()
                    .any(|(word, s)| word == value && s == state)
            })
    }
}

impl NetworkMacros {
    /// The network's status codes meaning `state`, comma-separated. Reversals are listed with
    /// rejections when the tracker has no mapping parameter for them.
    fn codes_for(&self, state: ConversionState, mapping: &[(String, ConversionState)]) -> String {
        let has_reversed = mapping.iter().any(|(_, s)| *s == ConversionState::Reversed);
        let mut codes = String::new();
        for (value, s) in &self.status_values {
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

/// Networks and trackers by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Catalog {
    #[cfg_attr(feature = "serde", serde(default))]
    networks: Vec<NetworkMacros>,
    #[cfg_attr(feature = "serde", serde(default))]
    trackers: Vec<TrackerParams>,
}

/// The built-in data, parsed on first use.
const BUILTIN: &str = include_str!("catalog.txt");

impl Catalog {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in catalog (see the module docs for its names). Clone it to extend it.
    #[must_use]
    pub fn builtin() -> &'static Self {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        // The data ships with the crate and a unit test parses it strictly; a failure here
        // could only come from an edited file, and then an empty catalog is the honest answer.
        CATALOG.get_or_init(|| parse_catalog(BUILTIN).unwrap_or_default())
    }

    /// The network called `name` (or aliased so), ignoring ASCII case.
    #[must_use]
    pub fn network(&self, name: &str) -> Option<&NetworkMacros> {
        self.networks.iter().find(|n| n.answers_to(name))
    }

    /// The tracker called `name`, ignoring ASCII case.
    #[must_use]
    pub fn tracker(&self, name: &str) -> Option<&TrackerParams> {
        self.trackers
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every network, in catalog order.
    #[must_use]
    pub fn networks(&self) -> impl ExactSizeIterator<Item = &NetworkMacros> {
        self.networks.iter()
    }

    /// Every tracker, in catalog order.
    #[must_use]
    pub fn trackers(&self) -> impl ExactSizeIterator<Item = &TrackerParams> {
        self.trackers.iter()
    }

    /// The catalog with `network` added, replacing an entry of the same name.
    #[must_use]
    pub fn with_network(mut self, network: NetworkMacros) -> Self {
        self.networks
            .retain(|n| !n.name.eq_ignore_ascii_case(&network.name));
        self.networks.push(network);
        self
    }

    /// The catalog with `tracker` added, replacing an entry of the same name.
    #[must_use]
    pub fn with_tracker(mut self, tracker: TrackerParams) -> Self {
        self.trackers
            .retain(|t| !t.name.eq_ignore_ascii_case(&tracker.name));
        self.trackers.push(tracker);
        self
    }

    /// Adds every entry of `other`, replacing entries of the same name (config over built-ins).
    pub fn extend(&mut self, other: Self) {
        let mut this = std::mem::take(self);
        for n in other.networks {
            this = this.with_network(n);
        }
        for t in other.trackers {
            this = this.with_tracker(t);
        }
        *self = this;
    }

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

/// A line of the built-in data file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataError {
    pub(crate) line: usize,
    pub(crate) what: &'static str,
}

/// Reads the section format of `catalog.txt` (described at its top).
pub(crate) fn parse_catalog(text: &str) -> Result<Catalog, DataError> {
    enum Entry {
        None,
        Net(NetworkMacros),
        Trk(TrackerParams),
    }
    let mut catalog = Catalog::new();
    let mut entry = Entry::None;
    let flush = |catalog: &mut Catalog, entry: Entry| match entry {
        Entry::None => {}
        Entry::Net(n) => catalog.networks.push(n),
        Entry::Trk(t) => catalog.trackers.push(t),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let line_no = i + 1;
        let err = |what| DataError {
            line: line_no,
            what,
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut catalog, std::mem::replace(&mut entry, Entry::None));
            entry = match header.split_once(' ') {
                Some(("network", name)) => Entry::Net(NetworkMacros::new(name, Dialect::Brace)),
                Some(("tracker", name)) => Entry::Trk(TrackerParams {
                    click: Vec::new(),
                    ..TrackerParams::new(name, "", "")
                }),
                _ => return Err(err("unknown section")),
            };
            continue;
        }
        let (key, value) = line.split_once('=').ok_or(err("expected `key = value`"))?;
        let (key, value) = (key.trim(), value.trim());
        let list = expand_list(value).ok_or(err("bad range"))?;
        let single = || Some(value.to_owned());
        let pairs = || -> Option<Vec<(String, ConversionState)>> {
            value
                .split_whitespace()
                .map(|p| {
                    let (w, s) = p.rsplit_once(':')?;
                    Some((w.to_owned(), s.parse().ok()?))
                })
                .collect()
        };
        match &mut entry {
            Entry::None => return Err(err("key outside a section")),
            Entry::Net(n) => match key {
                "aliases" => n.aliases = list,
                "dialect" => n.dialect = value.parse().map_err(|_| err("unknown dialect"))?,
                "macros" => n.macros = list,
                "click" => n.click = list,
                "payout" => n.payout = single(),
                "currency" => n.currency = single(),
                "txid" => n.txid = single(),
                "status" => n.status = single(),
                "status_values" => n.status_values = pairs().ok_or(err("bad status pair"))?,
                _ => return Err(err("unknown network key")),
            },
            Entry::Trk(t) => match key {
                "path" => value.clone_into(&mut t.path),
                "click" => t.click = list,
                "payout" => t.payout = list,
                "currency" => t.currency = list,
                "txid" => t.txid = list,
                "status" => t.status = list,
                "status_words" => t.status_words = pairs().ok_or(err("bad status pair"))?,
                "status_mapping" => t.status_mapping = pairs().ok_or(err("bad status pair"))?,
                _ => return Err(err("unknown tracker key")),
            },
        }
    }
    flush(&mut catalog, entry);
    Ok(catalog)
}

/// Splits a space-separated list, expanding `name{a..b}suffix` ranges.
fn expand_list(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for item in value.split_whitespace() {
        let Some((prefix, rest)) = item.split_once('{') else {
            out.push(item.to_owned());
            continue;
        };
        let (range, suffix) = rest.split_once('}')?;
        let (from, to) = range.split_once("..")?;
        let (from, to): (u32, u32) = (from.parse().ok()?, to.parse().ok()?);
        out.extend((from..=to).map(|n| format!("{prefix}{n}{suffix}")));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_data_parses_strictly() {
        let catalog = parse_catalog(BUILTIN).unwrap();
        assert_eq!(&catalog, Catalog::builtin());
        assert_eq!(catalog.networks.len(), 9);
        assert_eq!(catalog.trackers.len(), 10);
    }

    #[test]
    fn data_errors_name_the_line() {
        assert_eq!(
            parse_catalog("[network x]\ndialect = curly").unwrap_err(),
            DataError {
                line: 2,
                what: "unknown dialect"
            }
        );
        assert_eq!(expand_list("s{1..3} a").unwrap(), ["s1", "s2", "s3", "a"]);
    }
}
