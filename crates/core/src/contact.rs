//! Contacts: the people agents call, kept locally so a caller is recognised instantly and
//! offline. Phones are stored in E.164 only; what the agent typed is normalised on the way in.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{E164Number, PhoneNumberError, Region};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactId(pub Uuid);

impl ContactId {
    pub fn new() -> Self {
        ContactId(Uuid::new_v4())
    }
}

impl Default for ContactId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ContactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPhone {
    pub number: E164Number,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub company: Option<String>,
    pub phones: Vec<ContactPhone>,
    pub emails: Vec<String>,
    /// The record's id in the CRM it came from.
    pub crm_id: Option<String>,
}

/// A contact as typed in the form or read from a file, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContactInput {
    pub name: String,
    pub company: Option<String>,
    pub phones: Vec<PhoneInput>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PhoneInput {
    pub number: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("enter a name")]
    NoName,
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("phone {}: {error}", index + 1)]
    Phone {
        index: usize,
        error: PhoneNumberError,
    },
    #[error("“{0}” is not an email address")]
    Email(String),
    #[error("too many phones or emails (at most {MAX_ENTRIES} each)")]
    TooMany,
}

impl ContactError {
    /// The form field at fault (`name`, `phones.0`, `emails`).
    pub fn field(&self) -> String {
        match self {
            ContactError::NoName | ContactError::TooLong("name") => "name".into(),
            ContactError::TooLong("company") => "company".into(),
            ContactError::Phone { index, .. } => format!("phones.{index}"),
            ContactError::Email(_) | ContactError::TooLong(_) => "emails".into(),
            ContactError::TooMany => "phones".into(),
        }
    }
}

pub const MAX_TEXT: usize = 200;
pub const MAX_ENTRIES: usize = 20;

fn clean(value: &str, what: &'static str) -> Result<Option<String>, ContactError> {
    let value = value.trim();
    if value.chars().count() > MAX_TEXT {
        return Err(ContactError::TooLong(what));
    }
    // Control characters would break the table, the CSV export and log lines.
    let value: String = value.chars().filter(|c| !c.is_control()).collect();
    Ok((!value.is_empty()).then_some(value))
}

impl ContactInput {
    /// Checks and normalises: trimmed text, phones in E.164 (national numbers read in
    /// `region`), duplicates removed, blank rows ignored.
    pub fn validate(&self, region: Region) -> Result<ValidContact, ContactError> {
        let name = clean(&self.name, "name")?.ok_or(ContactError::NoName)?;
        let company = match &self.company {
            Some(c) => clean(c, "company")?,
            None => None,
        };
        if self.phones.len() > MAX_ENTRIES || self.emails.len() > MAX_ENTRIES {
            return Err(ContactError::TooMany);
        }
        let mut phones: Vec<ContactPhone> = Vec::new();
        for (index, p) in self.phones.iter().enumerate() {
            if p.number.trim().is_empty() {
                continue;
            }
            let number = E164Number::parse(&p.number, region)
                .map_err(|error| ContactError::Phone { index, error })?;
            if phones.iter().any(|q| q.number == number) {
                continue;
            }
            let label = match &p.label {
                Some(l) => clean(l, "label")?,
                None => None,
            };
            phones.push(ContactPhone { number, label });
        }
        let mut emails: Vec<String> = Vec::new();
        for e in &self.emails {
            let Some(e) = clean(e, "email")? else {
                continue;
            };
            let valid = e.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !e.contains(char::is_whitespace)
            });
            if !valid {
                return Err(ContactError::Email(e));
            }
            if !emails.iter().any(|known| known.eq_ignore_ascii_case(&e)) {
                emails.push(e);
            }
        }
        Ok(ValidContact {
            name,
            company,
            phones,
            emails,
        })
    }
}

/// A contact that passed `ContactInput::validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    pub name: String,
    pub company: Option<String>,
    pub phones: Vec<ContactPhone>,
    pub emails: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, phones: &[&str], emails: &[&str]) -> ContactInput {
        ContactInput {
            name: name.into(),
            company: Some("  Acme \n".into()),
            phones: phones
                .iter()
                .map(|n| PhoneInput {
                    number: n.to_string(),
                    label: None,
                })
                .collect(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn normalises_phones_and_drops_duplicates_and_blanks() {
        let c = input(
            " Ada Lovelace ",
            &["(415) 555-2671", "", "+1 415 555 2671", "+44 20 7946 0958"],
            &["ada@example.com", "ADA@example.com"],
        )
        .validate(Region::default())
        .unwrap();
        assert_eq!(c.name, "Ada Lovelace");
        assert_eq!(c.company.as_deref(), Some("Acme"));
        let numbers: Vec<_> = c.phones.iter().map(|p| p.number.as_str()).collect();
        assert_eq!(numbers, ["+14155552671", "+442079460958"]);
        assert_eq!(c.emails, ["ada@example.com"]);
    }

    #[test]
    fn names_the_field_at_fault() {
        let e = input("", &[], &[]).validate(Region::default()).unwrap_err();
        assert_eq!(e.field(), "name");
        let e = input("A", &["+1 415 555 2671", "12"], &[])
            .validate(Region::default())
            .unwrap_err();
        assert_eq!(e.field(), "phones.1");
        assert!(e.to_string().starts_with("phone 2:"), "{e}");
        let e = input("A", &[], &["not-an-address"])
            .validate(Region::default())
            .unwrap_err();
        assert_eq!(e.field(), "emails");
        let long = "x".repeat(201);
        assert_eq!(
            input(&long, &[], &[]).validate(Region::default()),
            Err(ContactError::TooLong("name"))
        );
    }
}
