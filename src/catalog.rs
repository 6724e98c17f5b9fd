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
//! This module is data only: the [linter](mod@crate::lint) reads it, and the
//! [URL builder](crate::build) (which defines [`TrackerParams::postback_url`] and
//! [`Catalog::build_postback_url`]) reads it and the linter.
//!
//! ```
//! use postback::catalog::Catalog;
//!
//! let affise = Catalog::builtin().network("affise").expect("built in");
//! assert_eq!(affise.click()[0], "sub1");
//! let keitaro = Catalog::builtin().tracker("keitaro").expect("built in");
//! assert_eq!(keitaro.click()[0], "subid");
//! ```

use std::sync::OnceLock;

use crate::profile::Profile;
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
    #[cfg_attr(feature = "serde", serde(default))]
    status_filter: Vec<ConversionState>,
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
            status_filter: Vec::new(),
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

    /// Says the network can fire a postback only for conversions in one of `states`, a URL per
    /// state (Affise's postback status filter: approved, pending, declined, hold).
    ///
    /// A tracker that cannot read the network's status codes then gets the URL for approved
    /// conversions with its own word for approved written in
    /// ([`TrackerParams::postback_url`]).
    #[must_use]
    pub fn with_status_filter<I: IntoIterator<Item = ConversionState>>(
        mut self,
        states: I,
    ) -> Self {
        self.status_filter.extend(states);
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

    /// The states a postback can be limited to in the network's settings (empty when it fires
    /// every postback URL for every conversion).
    #[must_use]
    pub fn status_filter(&self) -> &[ConversionState] {
        &self.status_filter
    }

    fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The parameters one tracker reads from an incoming postback, for writing templates.
///
/// Each parameter list is preferred name first; an empty list means the tracker has no such
/// parameter. The built-in entries are made from the parser's built-in profiles of the same
/// names ([`TrackerParams::from_profile`]), so the URL the builder writes is the one the parser
/// reads.
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
    #[cfg_attr(feature = "serde", serde(default))]
    default_state: Option<ConversionState>,
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
            default_state: None,
        }
    }

    /// The entry for a tracker whose incoming postbacks the parser reads with `profile`: its
    /// parameters, status words, mapping parameters and default state, so the URL the builder
    /// writes is the one the parser reads. `path` is the endpoint appended to the base URL. The
    /// built-in trackers are made this way from the built-in profiles.
    ///
    /// Your own endpoint, described once:
    ///
    /// ```
    /// use postback::catalog::{Catalog, TrackerParams};
    /// use postback::profile::Profile;
    /// use postback::status::StatusMap;
    /// use postback::ConversionState;
    ///
    /// let mine = Profile::new("mine", "clid")
    ///     .with_payout_param("amount")
    ///     .with_status_param("state")
    ///     .with_status_map(StatusMap::new().with("ok", ConversionState::Approved));
    /// let catalog = Catalog::builtin()
    ///     .clone()
    ///     .with_tracker(TrackerParams::from_profile(&mine, "/conv"));
    /// // Affise's codes mean nothing to `mine`: Affise fires its approved postback with `ok`.
    /// let url = catalog.build_postback_url("affise", "mine", "https://tr.example")?;
    /// assert_eq!(url, "https://tr.example/conv?clid={sub1}&amount={sum}&state=ok");
    ///
    /// let fired = url.replace("{sub1}", "c1").replace("{sum}", "2.5");
    /// let parser = postback::Parser::new(mine);
    /// assert_eq!(parser.parse(&fired)?.state(), Some(ConversionState::Approved));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn from_profile(profile: &Profile, path: impl Into<String>) -> Self {
        let names = |list: &[Box<str>]| list.iter().map(|n| String::from(&**n)).collect();
        Self {
            name: profile.name().to_owned(),
            path: path.into(),
            click: names(profile.click_id_params()),
            payout: names(profile.payout_params()),
            currency: names(profile.currency_params()),
            txid: names(profile.txid_params()),
            status: names(profile.status_params()),
            status_words: profile
                .status_map()
                .iter()
                .map(|(word, state)| (word.to_owned(), state))
                .collect(),
            status_mapping: profile
                .status_mapping_params()
                .iter()
                .map(|p| (p.param.to_string(), p.state))
                .collect(),
            default_state: profile.default_state(),
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

    /// Sets the state the tracker gives a postback without a status (Keitaro: a sale); `None`
    /// when it does not count such a postback as a conversion (RedTrack records "other").
    #[must_use]
    pub fn with_default_state(mut self, state: Option<ConversionState>) -> Self {
        self.default_state = state;
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

    /// The state the tracker gives a postback without a status, if it counts one.
    #[must_use]
    pub fn default_state(&self) -> Option<ConversionState> {
        self.default_state
    }

    /// Whether `param` carries a status (the status parameter or a status-mapping one).
    #[must_use]
    pub fn is_status_param(&self, param: &str) -> bool {
        self.status.iter().any(|p| p == param)
            || self.status_mapping.iter().any(|(p, _)| p == param)
    }
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
        let states = || -> Option<Vec<ConversionState>> {
            value.split_whitespace().map(|s| s.parse().ok()).collect()
        };
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
                "status_filter" => n.status_filter = states().ok_or(err("bad state"))?,
                _ => return Err(err("unknown network key")),
            },
            Entry::Trk(t) => match key {
                // The parser's profile is the source of truth; later keys adjust it.
                "profile" => {
                    let profile = Profile::builtin(value).ok_or(err("unknown profile"))?;
                    *t = TrackerParams {
                        name: std::mem::take(&mut t.name),
                        ..TrackerParams::from_profile(profile, std::mem::take(&mut t.path))
                    };
                }
                "path" => value.clone_into(&mut t.path),
                "click" => t.click = list,
                "payout" => t.payout = list,
                "currency" => t.currency = list,
                "txid" => t.txid = list,
                "status" => t.status = list,
                "status_words" => t.status_words = pairs().ok_or(err("bad status pair"))?,
                "status_mapping" => t.status_mapping = pairs().ok_or(err("bad status pair"))?,
                "default_state" => {
                    t.default_state = Some(value.parse().map_err(|_| err("bad state"))?);
                }
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
        assert_eq!(
            parse_catalog("[tracker x]\nprofile = nope").unwrap_err(),
            DataError {
                line: 2,
                what: "unknown profile"
            }
        );
        assert_eq!(expand_list("s{1..3} a").unwrap(), ["s1", "s2", "s3", "a"]);
    }
}
