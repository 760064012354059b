//! Caller lookup without SQL. A ringing call must show its contact at once, and even an
//! indexed SQLite probe costs ~70 µs through sqlx's connection thread; this map answers in
//! well under a microsecond. It holds only what the ring needs (id, name, CRM id) per stored
//! E.164 number, is loaded from the database on the first lookup, and is kept in step by every
//! contact write of this store: writers hold its lock across their commit, so the map never
//! sees writes in another order than the database did.

use std::collections::HashMap;

use ringdesk_core::{Contact, ContactId, E164Number, ValidContact};

/// Who owns a number, as the ringing call shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: ContactId,
    pub name: String,
    pub crm_id: Option<String>,
}

/// E.164 numbers are at most 15 digits after the `+`: one u64 each, compact and fast to hash.
fn key(number: &str) -> Option<u64> {
    number.strip_prefix('+')?.parse().ok()
}

#[derive(Debug, Default)]
pub(crate) struct CallerIndex {
    /// Owners of each number; several contacts may share one (the first by name wins, as in
    /// `ContactRepository::find_by_phone`).
    by_number: HashMap<u64, Vec<Caller>>,
    /// The numbers of each contact, to take them out when it changes or goes.
    numbers_of: HashMap<ContactId, Vec<u64>>,
}

impl CallerIndex {
    pub fn find(&self, number: &E164Number) -> Option<Caller> {
        let owners = self.by_number.get(&key(number.as_str())?)?;
        owners
            .iter()
            .min_by(|a, b| a.name.cmp(&b.name).then(a.id.0.cmp(&b.id.0)))
            .cloned()
    }

    pub fn remove(&mut self, id: ContactId) {
        for number in self.numbers_of.remove(&id).unwrap_or_default() {
            if let Some(owners) = self.by_number.get_mut(&number) {
                owners.retain(|c| c.id != id);
                if owners.is_empty() {
                    self.by_number.remove(&number);
                }
            }
        }
    }

    /// Records (or replaces) a contact as stored.
    pub fn put<'a>(
        &mut self,
        id: ContactId,
        name: &str,
        crm_id: Option<&str>,
        numbers: impl Iterator<Item = &'a E164Number>,
    ) {
        self.remove(id);
        let caller = Caller {
            id,
            name: name.to_string(),
            crm_id: crm_id.map(str::to_string),
        };
        let mut keys = Vec::new();
        for k in numbers.filter_map(|n| key(n.as_str())) {
            if keys.contains(&k) {
                continue;
            }
            keys.push(k);
            self.by_number.entry(k).or_default().push(caller.clone());
        }
        keys.shrink_to_fit();
        self.numbers_of.insert(id, keys);
    }

    pub fn put_contact(&mut self, contact: &Contact) {
        self.put(
            contact.id,
            &contact.name,
            contact.crm_id.as_deref(),
            contact.phones.iter().map(|p| &p.number),
        );
    }

    pub fn put_valid(&mut self, id: ContactId, contact: &ValidContact, crm_id: Option<&str>) {
        self.put(
            id,
            &contact.name,
            crm_id,
            contact.phones.iter().map(|p| &p.number),
        );
    }

    pub fn len(&self) -> usize {
        self.numbers_of.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164Number {
        E164Number::parse_international(s).unwrap()
    }

    #[test]
    fn shared_numbers_go_to_the_first_by_name_and_removals_clean_up() {
        let mut index = CallerIndex::default();
        let (ada, bob) = (ContactId::new(), ContactId::new());
        index.put(bob, "Bob", None, [n("+14155552671")].iter());
        index.put(
            ada,
            "Ada",
            Some("crm-1"),
            [n("+14155552671"), n("+442079460958")].iter(),
        );
        assert_eq!(index.find(&n("+14155552671")).unwrap().id, ada);
        assert_eq!(
            index.find(&n("+442079460958")).unwrap().crm_id.as_deref(),
            Some("crm-1")
        );
        // Ada loses the shared number: Bob owns it again.
        index.put(ada, "Ada", None, [n("+442079460958")].iter());
        assert_eq!(index.find(&n("+14155552671")).unwrap().id, bob);
        index.remove(bob);
        assert_eq!(index.find(&n("+14155552671")), None);
        assert_eq!(index.len(), 1);
        index.remove(ada);
        assert!(index.by_number.is_empty());
    }
}
