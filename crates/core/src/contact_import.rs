//! Contacts from files agents already have: CSV (a header row naming the columns) and vCard
//! (3.0/4.0, as phones and address books export it). Each record becomes a `ContactInput`
//! or a reason it was skipped, with the line it started on; validation happens later, per
//! record, so one bad row never stops an import.

use crate::contact::{ContactInput, PhoneInput};

/// The largest file accepted (about 100 000 contacts in CSV).
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// 1-based line where the record starts.
    pub line: usize,
    pub contact: Result<ContactInput, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is larger than {} MB", MAX_IMPORT_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the first row must name the columns, with at least “name” and “phone”")]
    NoHeader,
    #[error("no vCard (BEGIN:VCARD) found in the file")]
    NoCards,
}

/// Reads CSV with a header row. Columns (case-insensitive, in any order): `name` (or
/// `first name` + `last name`), `company`/`organization`, `phone`, `phone2`…/`mobile`/`work phone`,
/// `email`, `email2`…; others are ignored.
pub fn parse_csv(text: &str) -> Result<Vec<ImportRecord>, ImportError> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|_| ImportError::NoHeader)?
        .iter()
        .map(|h| h.to_ascii_lowercase().replace(['_', '-'], " "))
        .collect();
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let name = column(&["name", "full name", "display name"]);
    let first = column(&["first name", "given name"]);
    let last = column(&["last name", "family name", "surname"]);
    let company = column(&["company", "organization", "organisation", "account"]);
    let phones: Vec<(usize, Option<String>)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| phone_column(h).map(|label| (i, label)))
        .collect();
    let emails: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.starts_with("email") || h.starts_with("e mail"))
        .map(|(i, _)| i)
        .collect();
    if (name.is_none() && first.is_none() && last.is_none()) || phones.is_empty() {
        return Err(ImportError::NoHeader);
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                records.push(ImportRecord {
                    line,
                    contact: Err(format!("unreadable row: {e}")),
                });
                continue;
            }
        };
        let line = row.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).unwrap_or("").to_string();
        let full = match get(name) {
            n if !n.is_empty() => n,
            _ => format!("{} {}", get(first), get(last)).trim().to_string(),
        };
        if row.iter().all(str::is_empty) {
            continue;
        }
        records.push(ImportRecord {
            line,
            contact: Ok(ContactInput {
                name: full,
                company: Some(get(company)).filter(|c| !c.is_empty()),
                phones: phones
                    .iter()
                    .map(|(i, label)| PhoneInput {
                        number: get(Some(*i)),
                        label: label.clone(),
                    })
                    .collect(),
                emails: emails.iter().map(|i| get(Some(*i))).collect(),
            }),
        });
    }
    Ok(records)
}

/// A phone column's label (None for a plain `phone`), or None when it is not a phone column.
fn phone_column(header: &str) -> Option<Option<String>> {
    let h = header.trim();
    if h == "phone" || h == "telephone" || h == "phone number" {
        return Some(None);
    }
    if let Some(rest) = h.strip_prefix("phone") {
        if rest.trim().chars().all(|c| c.is_ascii_digit()) {
            return Some(None);
        }
    }
    for label in ["mobile", "work", "home", "fax", "direct"] {
        if h == label || h == format!("{label} phone") || h == format!("phone {label}") {
            return Some(Some(label.to_string()));
        }
    }
    None
}

/// Reads vCards: `FN` (or `N`), `ORG`, every `TEL` (its TYPE as the label), every `EMAIL`.
pub fn parse_vcard(text: &str) -> Result<Vec<ImportRecord>, ImportError> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge);
    }
    let mut records = Vec::new();
    let mut current: Option<(usize, ContactInput, Option<String>)> = None;
    for (line_no, line) in unfold(text) {
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let mut parts = head.split(';');
        // Properties may carry a group prefix (`item1.TEL`).
        let property = parts
            .next()
            .unwrap_or("")
            .rsplit('.')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let params: Vec<String> = parts.map(|p| p.to_ascii_lowercase()).collect();
        match (property.as_str(), &mut current) {
            ("BEGIN", _) if value.trim().eq_ignore_ascii_case("VCARD") => {
                current = Some((line_no, ContactInput::default(), None));
            }
            ("END", Some(_)) if value.trim().eq_ignore_ascii_case("VCARD") => {
                if let Some((line, mut contact, structured)) = current.take() {
                    if contact.name.trim().is_empty() {
                        contact.name = structured.unwrap_or_default();
                    }
                    records.push(ImportRecord {
                        line,
                        contact: Ok(contact),
                    });
                }
            }
            ("FN", Some((_, c, _))) => c.name = unescape(value),
            ("N", Some((_, _, structured))) => {
                // N:Family;Given;Additional;Prefix;Suffix
                let f: Vec<String> = value.split(';').map(unescape).collect();
                let given = f.get(1).map(String::as_str).unwrap_or("");
                let family = f.first().map(String::as_str).unwrap_or("");
                *structured = Some(format!("{given} {family}").trim().to_string());
            }
            ("ORG", Some((_, c, _))) => {
                let org = unescape(value.split(';').next().unwrap_or(""));
                c.company = Some(org).filter(|o| !o.is_empty());
            }
            ("TEL", Some((_, c, _))) => c.phones.push(PhoneInput {
                number: unescape(value.trim_start_matches("tel:")),
                label: tel_label(&params),
            }),
            ("EMAIL", Some((_, c, _))) => c.emails.push(unescape(value)),
            _ => {}
        }
    }
    if let Some((line, _, _)) = current {
        records.push(ImportRecord {
            line,
            contact: Err("the card has no END:VCARD".into()),
        });
    }
    if records.is_empty() {
        return Err(ImportError::NoCards);
    }
    Ok(records)
}

fn tel_label(params: &[String]) -> Option<String> {
    params
        .iter()
        .filter_map(|p| p.strip_prefix("type="))
        .flat_map(|t| t.trim_matches('"').split(','))
        .map(|t| match t {
            "cell" => "mobile",
            other => other,
        })
        .find(|t| ["mobile", "work", "home", "fax"].contains(t))
        .map(str::to_string)
}

/// RFC 6350 §3.2: a line starting with a space or tab continues the previous one.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some((_, last))) => last.push_str(rest),
            _ => lines.push((i + 1, raw.to_string())),
        }
    }
    lines
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_in_any_order_and_extra_phones() {
        let text = "\u{feff}Email,Name,Company,Phone,Mobile,Notes\n\
                    ada@example.com,Ada Lovelace,\"Analytical, Ltd\",(415) 555-2671,+44 20 7946 0958,x\n\
                    ,,,,,\n\
                    ,Bob,,+1 212 555 0100,,\n";
        let records = parse_csv(text).unwrap();
        assert_eq!(records.len(), 2);
        let ada = records[0].contact.as_ref().unwrap();
        assert_eq!(records[0].line, 2);
        assert_eq!(ada.name, "Ada Lovelace");
        assert_eq!(ada.company.as_deref(), Some("Analytical, Ltd"));
        assert_eq!(ada.phones[1].label.as_deref(), Some("mobile"));
        assert_eq!(ada.emails, ["ada@example.com"]);
        assert_eq!(records[1].line, 4);
    }

    #[test]
    fn csv_first_and_last_names() {
        let records = parse_csv("first_name,last_name,phone1,phone2\nAda,Lovelace,1,2\n").unwrap();
        let c = records[0].contact.as_ref().unwrap();
        assert_eq!(c.name, "Ada Lovelace");
        assert_eq!(c.phones.len(), 2);
    }

    #[test]
    fn csv_without_usable_header_is_refused() {
        assert_eq!(parse_csv("a,b\n1,2\n"), Err(ImportError::NoHeader));
        assert_eq!(parse_csv(""), Err(ImportError::NoHeader));
    }

    #[test]
    fn vcard_folded_grouped_and_escaped() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nORG:Analytical\\, Ltd;R&D\r\n\
                    item1.TEL;TYPE=CELL,VOICE:+1 415\r\n  555 2671\r\nEMAIL;TYPE=INTERNET:ada@example.com\r\n\
                    END:VCARD\r\nBEGIN:VCARD\r\nFN:Bob\r\nTEL;VALUE=uri:tel:+12125550100\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\r\nFN:Cut short\r\n";
        let records = parse_vcard(text).unwrap();
        assert_eq!(records.len(), 3);
        let ada = records[0].contact.as_ref().unwrap();
        assert_eq!(ada.name, "Ada Lovelace");
        assert_eq!(ada.company.as_deref(), Some("Analytical, Ltd"));
        assert_eq!(ada.phones[0].number, "+1 415 555 2671");
        assert_eq!(ada.phones[0].label.as_deref(), Some("mobile"));
        assert_eq!(
            records[1].contact.as_ref().unwrap().phones[0].number,
            "+12125550100"
        );
        assert!(records[2].contact.is_err());
        assert_eq!(parse_vcard("hello"), Err(ImportError::NoCards));
    }
}
