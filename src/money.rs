//! Exact payout amounts and currency codes.
//!
//! Money in a postback arrives as text (`12.50`, `12,34`, `-3`), and a float would turn `0.1 + 0.2`
//! into a rounding argument with the network's invoice. [`Amount`] keeps the decimal digits exactly
//! as sent (`12.50` stays `12.50` when displayed) while comparing by value (`12.50 == 12.5`).
//! Anything that is not one plain number (thousands separators, symbols, words, exponents, two
//! amounts) is an error, never a silent zero: TUNE's habit of storing a malformed amount as `0.00`
//! is exactly the failure this module exists to prevent.
//!
//! [`Currency`] is a validated three-letter code, upper-cased on parse (`usd` → `USD`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The most decimal places an [`Amount`] keeps: 10^18 still fits an `i64`.
const MAX_DIGITS: u32 = 18;

/// An exact decimal amount: `units × 10^-scale`, with the scale kept as sent.
///
/// Equality, ordering and hashing are by value, so `12.50` equals `12.5`; [`Display`](fmt::Display)
/// keeps the sent scale (`12.50`) and always uses `.` as the decimal separator.
///
/// ```
/// use postback::money::Amount;
///
/// let a: Amount = "12.50".parse()?;
/// let b: Amount = "12,5".parse()?; // a decimal comma, when it is the only separator
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "12.50");
/// assert_eq!(b.to_string(), "12.5");
/// assert!("1.234,56".parse::<Amount>().is_err(), "mixed separators are ambiguous");
/// assert!("-3".parse::<Amount>()?.is_negative());
/// # Ok::<(), postback::money::ParseAmountError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    units: i64,
    scale: u8,
}

impl Amount {
    /// Zero, with no decimal places.
    pub const ZERO: Self = Self { units: 0, scale: 0 };

    /// The largest scale (digits after the decimal separator) an amount can have.
    pub const MAX_SCALE: u8 = MAX_DIGITS as u8;

    /// The amount `units × 10^-scale`, or `None` when `scale` exceeds [`Amount::MAX_SCALE`].
    ///
    /// ```
    /// use postback::money::Amount;
    ///
    /// let amount = Amount::new(1250, 2).unwrap();
    /// assert_eq!(amount.to_string(), "12.50");
    /// assert!(Amount::new(1, 19).is_none());
    /// ```
    #[must_use]
    pub const fn new(units: i64, scale: u8) -> Option<Self> {
        if scale > Self::MAX_SCALE {
            None
        } else {
            Some(Self { units, scale })
        }
    }

    /// The amount in its smallest sent unit: `1250` for `12.50`.
    #[must_use]
    pub const fn units(self) -> i64 {
        self.units
    }

    /// How many digits follow the decimal separator: `2` for `12.50`.
    #[must_use]
    pub const fn scale(self) -> u8 {
        self.scale
    }

    /// Whether the amount is below zero (a reversal or a correction, as some networks send).
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.units < 0
    }

    /// Whether the amount is zero, whatever its scale.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.units == 0
    }

    /// The value scaled to [`Amount::MAX_SCALE`] digits, which always fits an `i128`.
    fn widened(self) -> i128 {
        /// `10^n` for every `n` a scale difference can be: a lookup, where `pow` multiplies in
        /// a loop (a duplicate check compares two payouts on every retried postback).
        const POWERS: [i128; Amount::MAX_SCALE as usize + 1] = {
            let mut powers = [1i128; Amount::MAX_SCALE as usize + 1];
            let mut n = 1;
            while n < powers.len() {
                powers[n] = powers[n - 1] * 10;
                n += 1;
            }
            powers
        };
        let factor = POWERS
            .get(usize::from(Self::MAX_SCALE.saturating_sub(self.scale)))
            .copied()
            .unwrap_or(1);
        i128::from(self.units) * factor
    }

    /// The same value with trailing fractional zeros removed, so equal values hash equally.
    fn normalized(self) -> Self {
        let mut out = self;
        while out.scale > 0 && out.units % 10 == 0 {
            out.units /= 10;
            out.scale -= 1;
        }
        out
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        // The common case, two amounts written alike, needs no widening.
        if self.scale == other.scale {
            return self.units == other.units;
        }
        self.widened() == other.widened()
    }
}

impl Eq for Amount {}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Amount {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.scale == other.scale {
            return self.units.cmp(&other.units);
        }
        self.widened().cmp(&other.widened())
    }
}

impl Hash for Amount {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        n.units.hash(state);
        n.scale.hash(state);
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At most a sign, 19 digits, a separator and leading zeros up to the scale: 40 bytes.
        let mut buf = [b'0'; 48];
        let mut end = buf.len();
        let mut rest = self.units.unsigned_abs();
        let mut written = 0u32;
        let scale = u32::from(self.scale);
        loop {
            if written == scale && scale > 0 {
                end -= 1;
                buf[end] = b'.';
            }
            end -= 1;
            buf[end] = b'0' + (rest % 10) as u8;
            rest /= 10;
            written += 1;
            if rest == 0 && written > scale {
                break;
            }
        }
        if self.units < 0 {
            end -= 1;
            buf[end] = b'-';
        }
        let text = std::str::from_utf8(&buf[end..]).map_err(|_| fmt::Error)?;
        f.pad(text)
    }
}

/// Why a text is not an [`Amount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AmountErrorKind {
    /// Nothing to read (empty or only a sign).
    Empty,
    /// A character that is not a digit, sign or decimal separator: a currency symbol, a word,
    /// a space between two amounts, an exponent.
    InvalidCharacter,
    /// More than one separator (`1.234,56`, `1,234,567`): thousands separators are ambiguous.
    SeveralSeparators,
    /// A separator with no digit on one side (`12.`, `.5`).
    MisplacedSeparator,
    /// More than an `i64` of units (about 9.2 × 10^18) or more than 18 decimal places.
    TooManyDigits,
}

impl AmountErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "no digits",
            Self::InvalidCharacter => "a character that is not a digit, sign or decimal separator",
            Self::SeveralSeparators => {
                "more than one separator (thousands separators are not accepted)"
            }
            Self::MisplacedSeparator => "a decimal separator without digits on both sides",
            Self::TooManyDigits => {
                "more digits than an amount holds (18 decimal places, 19 digits)"
            }
        }
    }
}

impl fmt::Display for AmountErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not a plain decimal amount.
///
/// ```
/// use postback::money::{Amount, AmountErrorKind};
///
/// let err = "$12".parse::<Amount>().unwrap_err();
/// assert_eq!(err.kind(), AmountErrorKind::InvalidCharacter);
/// assert_eq!(err.at(), 0);
/// assert_eq!(err.to_string(), "not an amount: a character that is not a digit, sign or decimal separator at byte 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("not an amount: {kind} at byte {at}")]
pub struct ParseAmountError {
    kind: AmountErrorKind,
    at: usize,
}

impl ParseAmountError {
    /// What was wrong.
    #[must_use]
    pub const fn kind(&self) -> AmountErrorKind {
        self.kind
    }

    /// The byte offset in the parsed text where the problem starts.
    #[must_use]
    pub const fn at(&self) -> usize {
        self.at
    }
}

impl FromStr for Amount {
    type Err = ParseAmountError;

    /// Parses `[+-]digits[(.|,)digits]`.
    ///
    /// # Errors
    ///
    /// Anything else, for example `1.234,56` and `1,234,567` (thousands separators), `$12`,
    /// `12 EUR`, `12.50 13.00`, `auto`, `1e3`, `12.` and an empty text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Self::parse_short(s.as_bytes()) {
            Some(amount) => Ok(amount),
            None => Self::parse_checked(s),
        }
    }
}

impl Amount {
    /// The common payout (`12.50`, `-3`, `0,99`): at most 18 digits, so no step can overflow
    /// and none is checked. `None` for anything else, which [`Amount::parse_checked`] then
    /// reads digit by digit to say exactly what is wrong.
    #[inline]
    pub(crate) fn parse_short(bytes: &[u8]) -> Option<Self> {
        let (negative, digits) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, bytes),
        };
        if digits.len() > 18 {
            return None;
        }
        // The whole digits, then the separator and the fraction's: one test a digit in each
        // loop, where one loop would also ask on which side of the separator it is.
        let mut magnitude = 0i64;
        let mut at = 0;
        while let Some(digit) = digits.get(at).map(|b| b.wrapping_sub(b'0')) {
            if digit >= 10 {
                break;
            }
            magnitude = magnitude * 10 + i64::from(digit);
            at += 1;
        }
        if at == 0 {
            return None;
        }
        let scale = match digits.get(at) {
            None => 0,
            Some(b'.' | b',') => {
                let point = at;
                at += 1;
                while let Some(&b) = digits.get(at) {
                    let digit = b.wrapping_sub(b'0');
                    if digit >= 10 {
                        return None;
                    }
                    magnitude = magnitude * 10 + i64::from(digit);
                    at += 1;
                }
                let scale = at - point - 1;
                if scale == 0 || scale > usize::from(Self::MAX_SCALE) {
                    return None;
                }
                scale as u8
            }
            Some(_) => return None,
        };
        Some(Self {
            units: if negative { -magnitude } else { magnitude },
            scale,
        })
    }

    /// Parses `[+-]digits[(.|,)digits]` digit by digit, naming what is wrong and where.
    fn parse_checked(s: &str) -> Result<Self, ParseAmountError> {
        let err = |kind, at| ParseAmountError { kind, at };
        let bytes = s.as_bytes();
        let (negative, digits_start) = match bytes.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let mut magnitude: u64 = 0;
        let mut scale = 0u8;
        let mut separator: Option<usize> = None;
        let mut int_digits = 0usize;
        for (i, &b) in bytes.iter().enumerate().skip(digits_start) {
            let digit = b.wrapping_sub(b'0');
            if digit < 10 {
                if separator.is_some() {
                    scale = scale.saturating_add(1);
                } else {
                    int_digits += 1;
                }
                magnitude = match magnitude
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(digit)))
                {
                    Some(m) if scale <= Amount::MAX_SCALE => m,
                    _ => return Err(err(AmountErrorKind::TooManyDigits, i)),
                };
            } else if b == b'.' || b == b',' {
                if separator.is_some() {
                    return Err(err(AmountErrorKind::SeveralSeparators, i));
                }
                if int_digits == 0 {
                    return Err(err(AmountErrorKind::MisplacedSeparator, i));
                }
                separator = Some(i);
            } else {
                return Err(err(AmountErrorKind::InvalidCharacter, i));
            }
        }
        if int_digits == 0 {
            return Err(err(AmountErrorKind::Empty, 0));
        }
        if let Some(at) = separator
            && scale == 0
        {
            return Err(err(AmountErrorKind::MisplacedSeparator, at));
        }
        let units = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        let at = bytes.len().saturating_sub(1);
        Ok(Self {
            units: units.ok_or(err(AmountErrorKind::TooManyDigits, at))?,
            scale,
        })
    }
}

/// A three-letter currency code, always upper case (`USD`, `EUR`).
///
/// Only the shape is checked (three ASCII letters), not membership in ISO 4217: networks send
/// codes the standard does not list (`USDT`-style tickers are rejected, `XBT` is kept).
///
/// ```
/// use postback::money::Currency;
///
/// let usd: Currency = "usd".parse()?;
/// assert_eq!(usd.as_str(), "USD");
/// assert!("US".parse::<Currency>().is_err());
/// # Ok::<(), postback::money::ParseCurrencyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code as text, such as `"USD"`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this never takes the fallback.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A text that is not a three-letter currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a currency code `{input}`: expected three letters such as USD")]
pub struct ParseCurrencyError {
    input: Box<str>,
}

impl Currency {
    /// Three ASCII letters in any case, upper-cased; `None` for anything else.
    #[inline]
    pub(crate) fn from_code(code: &[u8]) -> Option<Self> {
        const HIGH: u32 = 0x0080_8080;
        let &[a, b, c] = code else {
            return None;
        };
        // The three bytes at once: ASCII, then with the case bit cleared (`u` → `U`), each
        // in `A..=Z`. Below 0x80 and case-cleared, a byte is at most 0x5F, so neither sum
        // carries into the next byte: bit 7 of each says which side of the bound it is.
        let word = u32::from_le_bytes([a, b, c, 0]);
        let upper = word & 0x00DF_DFDF;
        let from_a = upper + 0x003F_3F3F; // bit 7 set from `A` (0x41) up
        let past_z = upper + 0x0025_2525; // bit 7 set from `[` (0x5B) up
        if word & HIGH != 0 || from_a & !past_z & HIGH != HIGH {
            return None;
        }
        let [a, b, c, _] = upper.to_le_bytes();
        Some(Self([a, b, c]))
    }
}

impl FromStr for Currency {
    type Err = ParseCurrencyError;

    /// Parses three ASCII letters in any case.
    ///
    /// # Errors
    ///
    /// Any other text, for example `US`, `USDT`, `$`, `U$D` or `dollars`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s.as_bytes()).ok_or_else(|| ParseCurrencyError {
            input: s.chars().take(16).collect(),
        })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{Amount, Currency};

    /// Every byte value in each of the three places, the other two from the bytes that border
    /// the letters (and the same with bit 7 set): the three-at-once test reads codes as a
    /// byte-by-byte one does.
    #[test]
    fn currency_codes_read_as_a_byte_by_byte_test_does() {
        let by_bytes = |code: [u8; 3]| {
            code.iter()
                .all(u8::is_ascii_alphabetic)
                .then(|| code.map(|b| b.to_ascii_uppercase()))
        };
        let borders = *b"\0@AMZ[`amz{\x7f\x80\xc1\xda\xe1\xfa\xff";
        for place in 0..3 {
            for byte in 0..=u8::MAX {
                for &other in &borders {
                    for &third in &borders {
                        let mut code = [other, third, other];
                        code[place] = byte;
                        let read = Currency::from_code(&code).map(|c| c.0);
                        assert_eq!(read, by_bytes(code), "{code:?}");
                    }
                }
            }
        }
        assert_eq!(Currency::from_code(b"usd").map(|c| c.0), Some(*b"USD"));
        assert_eq!(Currency::from_code(b"US"), None);
        assert_eq!(Currency::from_code(b"USDT"), None);
    }

    /// Every string of up to five bytes over the digits, the separators and the bytes that
    /// border them (`/` and `:` sit on either side of `0`-`9`, and 0xB0 is `0` with bit 7
    /// set, which is not UTF-8 on its own): the unchecked reading agrees with the checked one.
    #[test]
    fn short_amounts_read_as_the_checked_reading_does_on_every_short_string() {
        let alphabet = *b"095.,-+/:\xb0";
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = texts.clone();
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|text| {
                    alphabet
                        .iter()
                        .map(move |&b| [text.as_slice(), &[b]].concat())
                })
                .collect();
            texts.extend(last.iter().cloned());
        }
        for text in &texts {
            let checked = std::str::from_utf8(text)
                .ok()
                .and_then(|text| Amount::parse_checked(text).ok())
                .map(|a| (a.units(), a.scale()));
            let short = Amount::parse_short(text).map(|a| (a.units(), a.scale()));
            assert_eq!(short, checked, "{text:?}");
        }
    }

    proptest::proptest! {
        /// The unchecked reading of short amounts agrees with the checked one wherever it
        /// answers, and answers for every plain short amount.
        #[test]
        fn short_amounts_read_as_the_checked_reading_does(
            text in "[+-]?[0-9]{0,12}([.,][0-9]{0,8})?|[0-9.,+-]{0,20}",
        ) {
            let checked = Amount::parse_checked(&text);
            match Amount::parse_short(text.as_bytes()) {
                Some(amount) => proptest::prop_assert_eq!(
                    Ok((amount.units(), amount.scale())),
                    checked.map(|a| (a.units(), a.scale()))
                ),
                None => proptest::prop_assert!(checked.is_err() || text.trim_start_matches(['+', '-']).len() > 18),
            }
        }
    }
}
