//! What networks send and trackers expect: the data behind the linter and the URL builder.
//!
//! A postback URL joins two vocabularies: the macros the *network* expands (Affise's `{sub1}`,
//! CAKE's `#s2#`) and the parameters the *tracker* reads (Keitaro's `subid`, Voluum's `cid`).
//! Getting either side wrong loses conversions silently, so the crate ships both as data:
//! [`NetworkMacros`] per network and [`TrackerParams`] per tracker, gathered in a [`Catalog`].
//! A tracker's entry is the parser's [`Profile`] for its postbacks plus an endpoint path, so
//! what a built URL sends is what the [parser](crate::Parser) reads; the built-in trackers are
//! the built-in profiles of the same names.
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
//! assert_eq!(&*keitaro.click()[0], "subid");
//! assert_eq!(keitaro.profile(), postback::Profile::builtin("keitaro").unwrap());
//! ```

use std::sync::OnceLock;

use crate::profile::{Field, Profile, StatusParam};
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

/// What one tracker reads from an incoming postback, for writing templates: the parser's
/// [`Profile`] for its postbacks, and the endpoint path a postback URL goes to.
///
/// The profile is the one model of what a receiver reads: the getters here are views of it,
/// so the URL the builder writes and the linter checks is the one the parser reads
/// ([`Parser::new`](crate::Parser::new) of [`TrackerParams::profile`]). The built-in entries
/// are the parser's built-in profiles of the same names ([`TrackerParams::from_profile`]).
/// Each parameter list is preferred name first; an empty list means the tracker has no such
/// parameter.
///
/// In a config file (with the `serde` feature) an entry is its path and its profile, written as
/// a [`Profile`] is:
///
/// ```toml
/// [[trackers]]
/// path = "/conv"
/// profile = { name = "mine", click_id = ["clid"], payout = ["amount"] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TrackerParams {
    path: String,
    profile: Profile,
}

impl TrackerParams {
    /// An entry with a name, the endpoint path appended to the user's base URL, and the click
    /// id parameter: [`TrackerParams::from_profile`] of [`Profile::new`]`(name, click)`.
    ///
    /// ```
    /// use postback::catalog::TrackerParams;
    ///
    /// let t = TrackerParams::new("mytracker", "/conv", "clid").with_payout("payout");
    /// assert_eq!(&*t.click()[0], "clid");
    /// assert_eq!(t.profile().payout_params(), t.payout());
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, path: impl Into<String>, click: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            profile: Profile::new(&name.into(), &click.into()),
        }
    }

    /// The entry for a tracker whose incoming postbacks the parser reads with `profile`: the
    /// profile itself, and `path`, the endpoint appended to the base URL. Its parameters,
    /// status words, mapping parameters and default state are the profile's, so the URL the
    /// builder writes is the one the parser reads. The built-in trackers are made this way
    /// from the built-in profiles.
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
        Self {
            path: path.into(),
            profile: profile.clone(),
        }
    }

    /// Adds a payout parameter to the profile ([`Profile::with_payout_param`]).
    #[must_use]
    pub fn with_payout(mut self, param: impl Into<String>) -> Self {
        self.profile = self.profile.with_payout_param(&param.into());
        self
    }

    /// Adds a currency parameter to the profile ([`Profile::with_currency_param`]).
    #[must_use]
    pub fn with_currency(mut self, param: impl Into<String>) -> Self {
        self.profile = self.profile.with_currency_param(&param.into());
        self
    }

    /// Adds a transaction id parameter to the profile ([`Profile::with_txid_param`]).
    #[must_use]
    pub fn with_txid(mut self, param: impl Into<String>) -> Self {
        self.profile = self.profile.with_txid_param(&param.into());
        self
    }

    /// Adds a status parameter to the profile, and the words it understands natively, each
    /// with its state, to the profile's status map.
    #[must_use]
    pub fn with_status<I, S>(mut self, param: impl Into<String>, words: I) -> Self
    where
        I: IntoIterator<Item = (S, ConversionState)>,
        S: Into<String>,
    {
        let statuses = words
            .into_iter()
            .fold(self.profile.status_map().clone(), |map, (word, state)| {
                map.with(&word.into(), state)
            });
        self.profile = self
            .profile
            .with_status_param(&param.into())
            .with_status_map(statuses);
        self
    }

    /// Adds status-mapping parameters to the profile: each names the state whose network codes
    /// it lists (Keitaro: `lead_status` pending, `sale_status` approved, `rejected_status`
    /// rejected).
    #[must_use]
    pub fn with_status_mapping<I, S>(mut self, params: I) -> Self
    where
        I: IntoIterator<Item = (S, ConversionState)>,
        S: Into<String>,
    {
        for (param, state) in params {
            self.profile = self.profile.with_status_mapping_param(&param.into(), state);
        }
        self
    }

    /// Sets the state the tracker gives a postback without a status (Keitaro: a sale); `None`
    /// when it does not count such a postback as a conversion (RedTrack records "other").
    #[must_use]
    pub fn with_default_state(mut self, state: Option<ConversionState>) -> Self {
        self.profile = self.profile.with_default_state(state);
        self
    }

    /// The profile the parser reads this tracker's postbacks with.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The catalog name (`keitaro`): the profile's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.profile.name()
    }

    /// The endpoint path appended to the base URL (`/postback`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Click id parameters, preferred first.
    #[must_use]
    pub fn click(&self) -> &[Box<str>] {
        self.profile.params(Field::ClickId)
    }

    /// Payout parameters, preferred first.
    #[must_use]
    pub fn payout(&self) -> &[Box<str>] {
        self.profile.params(Field::Payout)
    }

    /// Currency parameters.
    #[must_use]
    pub fn currency(&self) -> &[Box<str>] {
        self.profile.params(Field::Currency)
    }

    /// Transaction id parameters.
    #[must_use]
    pub fn txid(&self) -> &[Box<str>] {
        self.profile.params(Field::Txid)
    }

    /// Status parameters a postback URL can fill: the profile's, or none when a status could
    /// not help. That is a tracker that has no word for approved and no mapping parameter,
    /// and counts a postback without a status as approved: the builder never writes a status
    /// for it, and the linter asks for none. Prosper202 reads `status` only for reversals;
    /// a network's code for approved there would be a word it does not know, and a postback
    /// with an unknown status is not counted.
    #[must_use]
    pub fn status(&self) -> &[Box<str>] {
        let profile = &self.profile;
        let never_sent = profile.default_state() == Some(ConversionState::Approved)
            && profile.status_mapping_params().is_empty()
            && !profile
                .status_map()
                .iter()
                .any(|(_, state)| state == ConversionState::Approved);
        if never_sent {
            &[]
        } else {
            profile.params(Field::Status)
        }
    }

    /// Status words the tracker understands natively, each with its state: the profile's
    /// status map, in the order it was written.
    #[must_use]
    pub fn status_words(&self) -> &[(Box<str>, ConversionState)] {
        self.profile.status_map().entries()
    }

    /// Status-mapping parameters and the state each one lists codes for: the profile's.
    #[must_use]
    pub fn status_mapping(&self) -> &[StatusParam] {
        self.profile.status_mapping_params()
    }

    /// The state the tracker gives a postback without a status, if it counts one.
    #[must_use]
    pub fn default_state(&self) -> Option<ConversionState> {
        self.profile.default_state()
    }

    /// Whether `param` carries a status (a [status parameter](TrackerParams::status) or a
    /// status-mapping one).
    #[must_use]
    pub fn is_status_param(&self, param: &str) -> bool {
        self.status().iter().any(|p| **p == *param)
            || self.status_mapping().iter().any(|p| *p.param == *param)
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
            .find(|t| t.name().eq_ignore_ascii_case(name))
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
            .retain(|t| !t.name().eq_ignore_ascii_case(tracker.name()));
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
                // A tracker is the parser's built-in profile of its name: what it reads is
                // written down once, there.
                Some(("tracker", name)) => {
                    let profile = Profile::builtin(name).ok_or(err("unknown profile"))?;
                    Entry::Trk(TrackerParams::from_profile(profile, ""))
                }
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
                "path" => value.clone_into(&mut t.path),
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
            parse_catalog("[tracker nope]\npath = /pb").unwrap_err(),
            DataError {
                line: 1,
                what: "unknown profile"
            }
        );
        assert_eq!(
            parse_catalog("[tracker keitaro]\nstatus =").unwrap_err(),
            DataError {
                line: 2,
                what: "unknown tracker key"
            }
        );
        assert_eq!(expand_list("s{1..3} a").unwrap(), ["s1", "s2", "s3", "a"]);
    }
}
