//! A linter for postback templates: the field's classic mistakes, caught before they cost money.
//!
//! Conversions are lost to small things: a macro the network does not know (`{subid1}` at
//! Impact, which wants `{SubId1}`), a stray `?` or `&`, `http` where the tracker wants `https`, a
//! forgotten status macro, a tracker placeholder word (`REPLACE`) left in, a macro that arrives
//! percent-encoded (`%7Bsubid%7D`). [`lint`] checks a template or a pasted URL, with optional
//! knowledge of the network that expands it and the tracker that receives it
//! ([`LintContext`]), and returns [`Finding`]s with a stable code, a byte span and a hint.
//!
//! A clean template gets no finding: false alarms are bugs too.
//!
//! ```
//! use postback::catalog::Catalog;
//! use postback::lint::{LintContext, lint};
//!
//! let catalog = Catalog::builtin();
//! let ctx = LintContext::new()
//!     .with_network(catalog.network("affise").unwrap())
//!     .with_tracker(catalog.tracker("keitaro").unwrap());
//! let findings = lint("http://tr.example/k/postback?subid={subid1}&&payout={sum}", &ctx);
//! let codes: Vec<_> = findings.iter().map(|f| f.code()).collect();
//! assert_eq!(codes, ["http_not_https", "unknown_macro", "stray_ampersand", "missing_status_macro"]);
//! assert_eq!(findings[1].span(), 35..43);
//! ```

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use crate::catalog::{NetworkMacros, TrackerParams};
use crate::template::{Dialect, Scanner, Token, is_name_byte};

/// What a [`Finding`] is about. [`LintCode::as_str`] gives the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LintCode {
    /// The tracker's click parameter is absent, empty, or holds no macro.
    MissingClickMacro,
    /// The network has a status macro, and no parameter carries a status.
    MissingStatusMacro,
    /// The URL uses `http`.
    HttpNotHttps,
    /// Whitespace outside a macro.
    Whitespace,
    /// More than one `?` outside macros.
    StrayQuestionMark,
    /// `?&`, `&&` or a trailing `&`.
    StrayAmpersand,
    /// A well-formed macro the network does not have (names are case-sensitive).
    UnknownMacro,
    /// A macro delimiter that is opened and not closed, or closed and not opened.
    UnbalancedDelimiter,
    /// The same parameter twice.
    DuplicateParam,
    /// A parameter with a value and no name (`&=x`).
    EmptyParamName,
    /// A tracker placeholder word (`REPLACE`, `OPTIONAL`) left in a value.
    PlaceholderLeft,
    /// A percent-encoded macro (`%7Bsubid%7D`): the network will not expand it.
    EncodedMacro,
}

impl LintCode {
    /// Every code.
    pub const ALL: [Self; 12] = [
        Self::MissingClickMacro,
        Self::MissingStatusMacro,
        Self::HttpNotHttps,
        Self::Whitespace,
        Self::StrayQuestionMark,
        Self::StrayAmpersand,
        Self::UnknownMacro,
        Self::UnbalancedDelimiter,
        Self::DuplicateParam,
        Self::EmptyParamName,
        Self::PlaceholderLeft,
        Self::EncodedMacro,
    ];

    /// The stable code (`missing_click_macro`, `http_not_https`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingClickMacro => "missing_click_macro",
            Self::MissingStatusMacro => "missing_status_macro",
            Self::HttpNotHttps => "http_not_https",
            Self::Whitespace => "whitespace",
            Self::StrayQuestionMark => "stray_question_mark",
            Self::StrayAmpersand => "stray_ampersand",
            Self::UnknownMacro => "unknown_macro",
            Self::UnbalancedDelimiter => "unbalanced_delimiter",
            Self::DuplicateParam => "duplicate_param",
            Self::EmptyParamName => "empty_param_name",
            Self::PlaceholderLeft => "placeholder_left",
            Self::EncodedMacro => "encoded_macro",
        }
    }
}

impl fmt::Display for LintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One problem found by [`lint`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    kind: LintCode,
    span: Range<usize>,
    hint: String,
}

impl Finding {
    /// The stable code, as [`LintCode::as_str`].
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The code as an enum.
    #[must_use]
    pub fn kind(&self) -> LintCode {
        self.kind
    }

    /// Byte range in the linted text.
    #[must_use]
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// One line saying what to change.
    #[must_use]
    pub fn hint(&self) -> &str {
        &self.hint
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at bytes {}..{}: {}",
            self.kind, self.span.start, self.span.end, self.hint
        )
    }
}

/// What the linter knows about the two ends of the postback. Both are optional; without them
/// only the context-free checks run.
#[derive(Debug, Clone, Copy, Default)]
pub struct LintContext<'a> {
    network: Option<&'a NetworkMacros>,
    tracker: Option<&'a TrackerParams>,
    click_macro: Option<&'a str>,
}

impl<'a> LintContext<'a> {
    /// A context that knows neither side.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The network that expands the template: its macros are the known ones.
    #[must_use]
    pub fn with_network(mut self, network: &'a NetworkMacros) -> Self {
        self.network = Some(network);
        self
    }

    /// The tracker that receives the postback: which parameters carry click id and status.
    #[must_use]
    pub fn with_tracker(mut self, tracker: &'a TrackerParams) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// The macro the click id went out in (the network's sub the offer link filled, such as
    /// `sub2`): the tracker's click parameter must hold exactly this macro. This catches the
    /// field's most common mistake, a click sent in `sub2` and read back from `{sub1}`.
    ///
    /// ```
    /// use postback::catalog::Catalog;
    /// use postback::lint::{LintContext, lint};
    ///
    /// let keitaro = Catalog::builtin().tracker("keitaro").unwrap();
    /// let ctx = LintContext::new().with_tracker(keitaro).with_click_macro("sub2");
    /// let findings = lint("https://tr.example/k/postback?subid={sub1}", &ctx);
    /// assert_eq!(findings[0].code(), "missing_click_macro");
    /// assert_eq!(findings[0].hint(), "the click id went out in `sub2`, but `subid` holds `sub1`");
    /// ```
    #[must_use]
    pub fn with_click_macro(mut self, name: &'a str) -> Self {
        self.click_macro = Some(name);
        self
    }

    /// The macro the click id went out in, if known.
    #[must_use]
    pub fn click_macro(&self) -> Option<&'a str> {
        self.click_macro
    }

    /// The network, if known.
    #[must_use]
    pub fn network(&self) -> Option<&'a NetworkMacros> {
        self.network
    }

    /// The tracker, if known.
    #[must_use]
    pub fn tracker(&self) -> Option<&'a TrackerParams> {
        self.tracker
    }
}

/// Placeholder words trackers print into templates for the user to replace.
const PLACEHOLDER_WORDS: [&str; 2] = ["REPLACE", "OPTIONAL"];

/// Encoded macro delimiters, longest first: `%7B` is `{`, `%5B` `[`, `%23` `#`. (An encoded
/// `<b>` is more often HTML than a macro, so `%3C…%3E` is left alone.)
const ENCODED_DELIMITERS: [(&str, &str); 8] = [
    ("%21%21%21", "%21%21%21"),
    ("%5B%5B%5B", "%5D%5D%5D"),
    ("%5B%5B", "%5D%5D"),
    ("%24%7B", "%7D"),
    ("%7B%7B", "%7D%7D"),
    ("%7B", "%7D"),
    ("%5B", "%5D"),
    ("%23", "%23"),
];

/// Checks `template` (a template or a pasted postback URL) and returns its findings in the
/// order they were checked. Never panics, whatever the input.
#[must_use]
pub fn lint(template: &str, ctx: &LintContext<'_>) -> Vec<Finding> {
    Linter {
        src: template,
        ctx,
        out: Vec::new(),
    }
    .run()
}

struct Linter<'s, 'c> {
    src: &'s str,
    ctx: &'c LintContext<'c>,
    out: Vec<Finding>,
}

/// One `name=value` of the query.
struct Param<'s> {
    /// The literal name, or `None` when the name holds a macro.
    name: Option<&'s str>,
    span: Range<usize>,
    value: Range<usize>,
    /// Names of the macros in the value.
    macros: Vec<&'s str>,
    unclosed: bool,
}

/// A byte of the source that matters to the query structure, or a macro.
enum Event<'s> {
    Byte(usize, u8),
    Macro(&'s str),
    Unclosed,
}

impl<'s> Linter<'s, '_> {
    fn push(&mut self, kind: LintCode, span: Range<usize>, hint: impl Into<String>) {
        self.out.push(Finding {
            kind,
            span,
            hint: hint.into(),
        });
    }

    fn text(&self, range: Range<usize>) -> &'s str {
        self.src.get(range).unwrap_or_default()
    }

    fn run(mut self) -> Vec<Finding> {
        let src = self.src;
        let trimmed = src.trim_start();
        let lead = src.len() - trimmed.len();
        if trimmed
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        {
            self.push(
                LintCode::HttpNotHttps,
                lead..lead + 4,
                "use https: trackers with SSL may drop plain-http postbacks",
            );
        }
        let dialect = self.dialect();
        let tokens: Vec<Token> = Scanner::new(src, dialect).collect();
        let (open, close) = dialect.delimiters();
        // Only one-byte bracket-like closers can be stray: `#`, `%` and `!` are ordinary URL
        // text, and a lone `]` in a `[[[…]]]` template is too common in other text to flag.
        let stray = match close.as_bytes() {
            [b @ (b'}' | b']' | b'>')] => Some(*b),
            _ => None,
        };
        // The text right after an unclosed opener holds its would-be closer: one finding is
        // enough for one mistake.
        let mut after_unclosed = false;
        let mut events = Vec::new();
        for token in &tokens {
            let was_unclosed =
                std::mem::replace(&mut after_unclosed, matches!(token, Token::Unclosed(_)));
            match token {
                Token::Lit(range) => {
                    let stray = if was_unclosed { None } else { stray };
                    self.literal(range.clone(), stray, &mut events);
                }
                Token::Macro(m) => {
                    let name = self.text(m.name.clone());
                    self.check_macro(name, m.span.clone(), dialect);
                    events.push(Event::Macro(name));
                }
                Token::Unclosed(at) => {
                    self.push(
                        LintCode::UnbalancedDelimiter,
                        *at..at + open.len(),
                        format!("`{open}` opens a macro that is never closed with `{close}`"),
                    );
                    events.push(Event::Unclosed);
                }
                Token::EmptyName(at) => {
                    self.push(
                        LintCode::UnknownMacro,
                        *at..at + open.len() + close.len(),
                        "an empty macro expands to nothing: write the macro's name",
                    );
                    events.push(Event::Macro(""));
                }
            }
        }
        self.encoded_macros();
        let (params, query) = self.query(&events);
        self.params(&params);
        self.context_checks(&params, &tokens, query);
        self.out
    }

    /// The template's dialect; with no macro of its own, the network's.
    fn dialect(&self) -> Dialect {
        let detected = Dialect::detect(self.src);
        let has_macro = Scanner::new(self.src, detected).any(|t| matches!(t, Token::Macro(_)));
        match self.ctx.network {
            Some(net) if !has_macro => net.dialect(),
            _ => detected,
        }
    }

    fn literal(&mut self, range: Range<usize>, stray: Option<u8>, events: &mut Vec<Event<'s>>) {
        let text = self.text(range.clone());
        let mut ws_start = None;
        for (i, c) in text.char_indices() {
            let at = range.start + i;
            if c.is_whitespace() {
                ws_start.get_or_insert(at);
                continue;
            }
            if let Some(start) = ws_start.take() {
                self.whitespace(start..at);
            }
            if let Ok(b) = u8::try_from(c) {
                if matches!(b, b'?' | b'&' | b'=' | b'#') {
                    events.push(Event::Byte(at, b));
                }
                if stray == Some(b) {
                    self.push(
                        LintCode::UnbalancedDelimiter,
                        at..at + 1,
                        format!("`{c}` closes a macro that was never opened"),
                    );
                }
            }
        }
        if let Some(start) = ws_start {
            self.whitespace(start..range.end);
        }
    }

    fn whitespace(&mut self, span: Range<usize>) {
        self.push(
            LintCode::Whitespace,
            span,
            "remove the whitespace: it breaks the URL or ends up in a value",
        );
    }

    fn check_macro(&mut self, name: &str, span: Range<usize>, dialect: Dialect) {
        let Some(net) = self.ctx.network else { return };
        if !compatible(dialect, net.dialect()) {
            let mut example = String::new();
            net.dialect().write_macro(&mut example, name);
            let hint = format!("{} writes macros as `{example}`", net.name());
            self.push(LintCode::UnknownMacro, span, hint);
            return;
        }
        if net.knows(name) {
            return;
        }
        let hint = match known_like(net, name) {
            Some(similar) => {
                let mut example = String::new();
                net.dialect().write_macro(&mut example, similar);
                format!(
                    "{} has no `{name}` (names are case-sensitive): did you mean `{example}`?",
                    net.name()
                )
            }
            None => format!(
                "{} has no macro `{name}`: it would arrive as literal text",
                net.name()
            ),
        };
        self.push(LintCode::UnknownMacro, span, hint);
    }

    fn encoded_macros(&mut self) {
        let src = self.src;
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes.get(i) != Some(&b'%') {
                i += 1;
                continue;
            }
            let found = ENCODED_DELIMITERS.iter().find_map(|(open, close)| {
                let rest = src.get(i..)?;
                let opened = rest.get(..open.len())?.eq_ignore_ascii_case(open);
                if !opened {
                    return None;
                }
                let name_start = i + open.len();
                let mut j = name_start;
                while bytes.get(j).is_some_and(|&b| is_name_byte(b)) {
                    j += 1;
                }
                let closed = src
                    .get(j..j + close.len())
                    .is_some_and(|c| c.eq_ignore_ascii_case(close));
                let end = j + close.len();
                // A name starts with a letter or `_` (`%5B0%5D` is an index), and an encoded
                // bracket before `=` is a PHP-style array key (`f%5Bname%5D=x`), not a macro.
                let named = bytes
                    .get(name_start)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
                let is_key = bytes.get(end) == Some(&b'=');
                (named && closed && !is_key).then_some((end, name_start..j))
            });
            match found {
                Some((end, name)) => {
                    let hint = format!(
                        "macro `{}` is percent-encoded and will not be expanded: paste it unencoded",
                        self.text(name)
                    );
                    self.push(LintCode::EncodedMacro, i..end, hint);
                    i = end;
                }
                None => i += 1,
            }
        }
    }

    /// Splits the query into parameters, reporting stray `?` and `&`.
    fn query(&mut self, events: &[Event<'s>]) -> (Vec<Param<'s>>, Option<Range<usize>>) {
        let mut params = Vec::new();
        let Some(q) = events
            .iter()
            .position(|e| matches!(e, Event::Byte(_, b'?' | b'#')))
        else {
            return (params, None);
        };
        let Some(Event::Byte(q_at, b'?')) = events.get(q) else {
            return (params, None);
        };
        let q_at = *q_at;
        let mut end = self.src.len();
        let mut current = Param {
            name: None,
            span: q_at + 1..q_at + 1,
            value: q_at + 1..q_at + 1,
            macros: Vec::new(),
            unclosed: false,
        };
        let mut eq: Option<usize> = None;
        let mut name_has_macro = false;
        let mut prev_sep: Option<(usize, u8)> = Some((q_at, b'?'));
        for event in events.iter().skip(q + 1) {
            match *event {
                Event::Byte(at, b'#') => {
                    end = at;
                    break;
                }
                Event::Byte(at, sep @ (b'?' | b'&')) => {
                    if sep == b'?' {
                        self.push(
                            LintCode::StrayQuestionMark,
                            at..at + 1,
                            "only the first `?` starts the query: use `&` between parameters",
                        );
                    } else if prev_sep.is_some_and(|(p, _)| p + 1 == at) {
                        self.push(
                            LintCode::StrayAmpersand,
                            at..at + 1,
                            "remove the extra `&`: it makes an empty parameter",
                        );
                    }
                    self.finish(&mut current, at, eq, name_has_macro, &mut params);
                    current.span = at + 1..at + 1;
                    eq = None;
                    name_has_macro = false;
                    prev_sep = Some((at, sep));
                }
                Event::Byte(at, b'=') => {
                    eq.get_or_insert(at);
                    prev_sep = None;
                }
                Event::Byte(..) => {}
                Event::Macro(name) => {
                    if eq.is_some() {
                        current.macros.push(name);
                    } else {
                        name_has_macro = true;
                    }
                    prev_sep = None;
                }
                Event::Unclosed => {
                    current.unclosed = true;
                    prev_sep = None;
                }
            }
        }
        if let Some((at, b'&')) = prev_sep
            && at + 1 == end
        {
            self.push(
                LintCode::StrayAmpersand,
                at..at + 1,
                "remove the trailing `&`",
            );
        }
        self.finish(&mut current, end, eq, name_has_macro, &mut params);
        (params, Some(q_at..end))
    }

    fn finish(
        &mut self,
        current: &mut Param<'s>,
        end: usize,
        eq: Option<usize>,
        name_has_macro: bool,
        params: &mut Vec<Param<'s>>,
    ) {
        let start = current.span.start;
        let (name_end, value) = match eq {
            Some(eq) => (eq, eq + 1..end),
            None => (end, end..end),
        };
        let param = Param {
            name: (!name_has_macro).then(|| self.text(start..name_end)),
            span: start..end,
            value,
            macros: std::mem::take(&mut current.macros),
            unclosed: std::mem::take(&mut current.unclosed),
        };
        if start < end {
            params.push(param);
        }
    }

    fn params(&mut self, params: &[Param<'s>]) {
        let mut seen = HashSet::new();
        for p in params {
            match p.name {
                Some("") if p.value.start > p.span.start => self.push(
                    LintCode::EmptyParamName,
                    p.span.clone(),
                    "this value has no parameter name: write `name=` before it",
                ),
                Some(name) if !name.is_empty() && !seen.insert(name) => {
                    let end = p.span.start + name.len();
                    self.push(
                        LintCode::DuplicateParam,
                        p.span.start..end,
                        format!("`{name}` appears twice: receivers keep only one of them"),
                    );
                }
                _ => {}
            }
            let value = self.text(p.value.clone());
            if PLACEHOLDER_WORDS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(value.trim()))
            {
                self.push(
                    LintCode::PlaceholderLeft,
                    p.value.clone(),
                    format!("`{value}` is a placeholder: put the network's macro here"),
                );
            }
        }
    }

    fn context_checks(
        &mut self,
        params: &[Param<'s>],
        tokens: &[Token],
        query: Option<Range<usize>>,
    ) {
        let whole = query.unwrap_or(0..self.src.len());
        if let Some(tracker) = self.ctx.tracker {
            let click = params.iter().find(|p| {
                p.name
                    .is_some_and(|n| tracker.click().iter().any(|c| **c == *n))
            });
            let preferred = tracker.click().first().map_or("click id", |c| &**c);
            match click {
                None => self.push(
                    LintCode::MissingClickMacro,
                    whole.clone(),
                    format!("{} reads the click id from `{preferred}`: add `{preferred}=` with the network's click macro", tracker.name()),
                ),
                Some(p) if p.unclosed => {}
                Some(p) if p.macros.is_empty() => self.push(
                    LintCode::MissingClickMacro,
                    p.span.clone(),
                    format!("`{preferred}` holds no macro: put the network's click macro in it"),
                ),
                Some(p) => {
                    if let Some(want) = self.ctx.click_macro
                        && !p.macros.contains(&want)
                    {
                        let held = p.macros.join("`, `");
                        self.push(
                            LintCode::MissingClickMacro,
                            p.value.clone(),
                            format!("the click id went out in `{want}`, but `{preferred}` holds `{held}`"),
                        );
                    }
                }
            }
        }
        let Some(net) = self.ctx.network else { return };
        let Some(status_macro) = net.status() else {
            return;
        };
        if self.ctx.tracker.is_some_and(|t| t.status().is_empty()) {
            return;
        }
        let has_status_param = params.iter().any(|p| {
            p.name.is_some_and(|n| match self.ctx.tracker {
                Some(t) => t.is_status_param(n),
                None => n.to_ascii_lowercase().contains("status"),
            })
        });
        let uses_status_macro = tokens.iter().any(|t| match t {
            Token::Macro(m) => self.text(m.name.clone()) == status_macro,
            _ => false,
        });
        if !has_status_param && !uses_status_macro {
            let param = self
                .ctx
                .tracker
                .and_then(|t| t.status().first())
                .map_or("status", |p| &**p);
            let mut example = String::new();
            net.dialect().write_macro(&mut example, status_macro);
            self.push(
                LintCode::MissingStatusMacro,
                whole,
                format!(
                    "{} sends the conversion status: add `{param}={example}`",
                    net.name()
                ),
            );
        }
    }
}

/// A known macro that differs from `name` only in case or in `_`/`-` (`{sub_5}` for `sub5`).
fn known_like<'n>(net: &'n NetworkMacros, name: &str) -> Option<&'n str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = squash(name);
    let mut all = net.click().iter().map(String::as_str).chain(
        [net.payout(), net.currency(), net.txid(), net.status()]
            .into_iter()
            .flatten(),
    );
    all.find(|m| squash(m) == wanted)
}

/// Whether templates of dialect `a` can hold macros of a network writing dialect `b`: Keitaro's
/// dialect is the brace dialect plus arguments.
fn compatible(a: Dialect, b: Dialect) -> bool {
    let brace = |d| matches!(d, Dialect::Brace | Dialect::Keitaro);
    a == b || (brace(a) && brace(b))
}
