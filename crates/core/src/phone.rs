//! Phone numbers: E.164 everywhere inside Ringdesk, parsed and validated with libphonenumber's
//! metadata (the `phonenumber` crate) so that what an agent types or pastes in any local format
//! becomes one canonical form.

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::Mode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest input we even try to parse; E.164 itself is at most 15 digits, the rest is
/// room for separators, a leading `00`/`+` and an extension.
pub const MAX_PHONE_INPUT_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("enter a phone number")]
    Empty,
    #[error("that is too long for a phone number")]
    TooLong,
    #[error("a phone number may hold only digits, spaces, + - . ( ) — found “{0}”")]
    InvalidCharacter(char),
    #[error("“{0}” is not a phone number we can dial")]
    NotANumber(String),
    #[error("“{0}” is not a valid number{1}")]
    Invalid(String, String),
    #[error("unknown country code “{0}”")]
    UnknownRegion(String),
}

/// An ISO 3166-1 alpha-2 region used to read numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Id);

impl Region {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }

    /// The region from a POSIX locale such as `en_GB.UTF-8`, if it names one.
    pub fn from_locale(locale: &str) -> Option<Region> {
        let tag = locale.split(['.', '@']).next()?;
        let country = tag.split(['_', '-']).nth(1)?;
        country.parse().ok()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(Id::US)
    }
}

impl FromStr for Region {
    type Err = PhoneNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Id::from_str(&upper)
            .map(Region)
            .map_err(|_| PhoneNumberError::UnknownRegion(s.trim().to_string()))
    }
}

/// A valid phone number in E.164 form (`+14155551234`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164Number(String);

impl E164Number {
    /// Parses what a person typed: international (`+44 20 …`, `0044 …`) or national in `region`.
    pub fn parse(input: &str, region: Region) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        if trimmed.len() > MAX_PHONE_INPUT_LEN {
            return Err(PhoneNumberError::TooLong);
        }
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')))
        {
            return Err(PhoneNumberError::InvalidCharacter(bad));
        }
        if trimmed.chars().filter(|c| *c == '+').count() > 1
            || trimmed.find('+').is_some_and(|pos| pos != 0)
        {
            return Err(PhoneNumberError::NotANumber(trimmed.to_string()));
        }
        let parsed = phonenumber::parse(Some(region.0), trimmed)
            .map_err(|_| PhoneNumberError::NotANumber(trimmed.to_string()))?;
        if !phonenumber::is_valid(&parsed) {
            let hint = if trimmed.starts_with('+') || trimmed.starts_with("00") {
                String::new()
            } else {
                format!(" in {} (add the country code, e.g. +44…)", region.code())
            };
            return Err(PhoneNumberError::Invalid(trimmed.to_string(), hint));
        }
        Ok(E164Number(parsed.format().mode(Mode::E164).to_string()))
    }

    /// Parses a number that must already carry its country code.
    pub fn parse_international(input: &str) -> Result<Self, PhoneNumberError> {
        if !input.trim().starts_with('+') {
            return Err(PhoneNumberError::NotANumber(input.trim().to_string()));
        }
        Self::parse(input, Region::default())
    }

    /// A number Ringdesk wrote itself (read back from its own store): only its E.164 shape is
    /// checked, not libphonenumber's metadata, which costs tens of microseconds per number and
    /// is on the caller-lookup path.
    pub fn from_stored(stored: &str) -> Result<Self, PhoneNumberError> {
        let digits = stored.strip_prefix('+').unwrap_or("");
        if (2..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(E164Number(stored.to_string()))
        } else {
            Err(PhoneNumberError::NotANumber(stored.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region the number belongs to (`GB` for `+44…`), when the metadata knows it.
    pub fn region(&self) -> Option<Region> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        parsed.country().id().map(Region)
    }

    /// What kind of line the numbering plan says this is (None: the plan does not say).
    pub fn line_type(&self) -> Option<LineType> {
        use phonenumber::metadata::DATABASE;
        use phonenumber::Type;
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        match parsed.number_type(&DATABASE) {
            Type::TollFree => Some(LineType::TollFree),
            Type::Mobile => Some(LineType::Mobile),
            Type::FixedLine | Type::FixedLineOrMobile => Some(LineType::FixedLine),
            _ => None,
        }
    }

    /// The national significant number's digits (`2079460958` for `+442079460958`): how
    /// numbers are often typed in CRMs, for searching them.
    pub fn national_digits(&self) -> Option<String> {
        phonenumber::parse(None, &self.0)
            .ok()
            .map(|n| n.national().to_string())
    }

    /// A readable international form (`+44 20 7946 0958`).
    pub fn international(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|n| n.format().mode(Mode::International).to_string())
            .unwrap_or_else(|_| self.0.clone())
    }
}

/// Kinds of line in a numbering plan that Ringdesk tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineType {
    FixedLine,
    Mobile,
    TollFree,
}

impl fmt::Display for E164Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for E164Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        E164Number::parse_international(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_numbers_are_checked_for_shape_only() {
        assert_eq!(
            E164Number::from_stored("+14155552671").unwrap().as_str(),
            "+14155552671"
        );
        for bad in [
            "14155552671",
            "+",
            "+0123",
            "+1415555267a",
            "+1234567890123456",
            "",
        ] {
            assert!(E164Number::from_stored(bad).is_err(), "{bad}");
        }
    }

    fn us() -> Region {
        "US".parse().unwrap()
    }

    #[test]
    fn normalises_common_formats() {
        for input in [
            "+1 415 555 2671",
            "(415) 555-2671",
            "415.555.2671",
            "+1-415-555-2671",
            "011 1 415 555 2671",
        ] {
            assert_eq!(
                E164Number::parse(input, us()).unwrap().as_str(),
                "+14155552671",
                "{input}"
            );
        }
        let gb: Region = "gb".parse().unwrap();
        assert_eq!(
            E164Number::parse("020 7946 0958", gb).unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert_eq!(E164Number::parse("  ", us()), Err(PhoneNumberError::Empty));
        assert!(matches!(
            E164Number::parse("1-800-FLOWERS", us()),
            Err(PhoneNumberError::InvalidCharacter('F'))
        ));
        assert!(E164Number::parse("+1 415 555 2671 +1 415 555 2672", us()).is_err());
        assert!(E164Number::parse("12", us()).is_err());
        assert!(matches!(
            E164Number::parse(&"1".repeat(65), us()),
            Err(PhoneNumberError::TooLong)
        ));
        assert!(E164Number::parse("555 2671", us()).is_err());
    }

    #[test]
    fn region_from_locale_and_number() {
        assert_eq!(Region::from_locale("en_GB.UTF-8").unwrap().code(), "GB");
        assert_eq!(Region::from_locale("de_DE@euro").unwrap().code(), "DE");
        assert!(Region::from_locale("C").is_none());
        assert!(Region::from_locale("C.UTF-8").is_none());
        let n = E164Number::parse("+442079460958", us()).unwrap();
        assert_eq!(n.region().unwrap().code(), "GB");
        assert_eq!(n.international(), "+44 20 7946 0958");
    }

    #[test]
    fn serde_round_trip_requires_e164() {
        let n: E164Number = serde_json::from_str("\"+14155552671\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+14155552671\"");
        assert!(serde_json::from_str::<E164Number>("\"4155552671\"").is_err());
    }
}
