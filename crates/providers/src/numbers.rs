//! What the three `list_numbers` share: numbers gathered across pages without duplicates
//! (a number bought or released while paging can shift a page), a ceiling on pages so a
//! misbehaving API cannot keep Ringdesk paging for ever, and numbers the provider returns in
//! a form that is not E.164 skipped with a warning rather than failing the whole list.

use std::collections::HashSet;

use ringdesk_core::ports::{NumberCapabilities, NumberType, ProviderNumber};
use ringdesk_core::{E164Number, ProviderError};

/// More pages than any account has (250 000 numbers at the smallest page size used).
pub(crate) const MAX_PAGES: usize = 2_500;

#[derive(Default)]
pub(crate) struct Collected {
    numbers: Vec<ProviderNumber>,
    seen: HashSet<String>,
    pages: usize,
}

/// A number as one provider describes it.
pub(crate) struct Listed<'a> {
    pub id: String,
    pub number: &'a str,
    pub friendly_name: Option<String>,
    pub number_type: Option<NumberType>,
    pub country: Option<String>,
    pub capabilities: NumberCapabilities,
}

impl Collected {
    /// Counts a page; past `MAX_PAGES` the provider is answering nonsense.
    pub fn page(&mut self) -> Result<(), ProviderError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(ProviderError::InvalidResponse {
                reason: format!("the number list did not end after {MAX_PAGES} pages"),
            });
        }
        Ok(())
    }

    pub fn add(&mut self, listed: Listed<'_>) {
        if !self.seen.insert(listed.id.clone()) {
            return;
        }
        // The provider owns the number, so it exists even when libphonenumber's metadata does
        // not know its range (new ranges, Ofcom's drama numbers): its E.164 shape is enough.
        let Ok(phone_number) = E164Number::parse_international(listed.number)
            .or_else(|_| E164Number::from_stored(listed.number.trim()))
        else {
            tracing::warn!(id = %listed.id, "the provider listed a number that is not E.164: skipped");
            return;
        };
        self.numbers.push(ProviderNumber {
            number_type: listed
                .number_type
                .unwrap_or_else(|| NumberType::of(&phone_number)),
            country: listed
                .country
                .or_else(|| phone_number.region().map(|r| r.code().to_string())),
            phone_number,
            friendly_name: listed.friendly_name.filter(|n| !n.trim().is_empty()),
            capabilities: listed.capabilities,
            provider_number_id: listed.id,
        });
    }

    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn into_numbers(self) -> Vec<ProviderNumber> {
        self.numbers
    }
}
