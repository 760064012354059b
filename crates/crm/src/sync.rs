//! Where a pull of changed contacts stands, for CRMs whose lists take a "changed since" time
//! and hand out page tokens. The cursor the app stores is this, as JSON; only connectors read
//! it. A pass follows the CRM's page tokens to the end, remembering the newest change it saw;
//! the next pass starts a little before that (`OVERLAP`), because "changed since" filters and
//! clocks drop rows at the edge — re-reading a row is harmless, missing one is not.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ChangePage;

/// How far before the newest change seen the next pass starts.
pub const OVERLAP_MS: i64 = 120_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Changes from this instant on (Unix ms; None: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The CRM's token for the next page of this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The newest change seen in this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<i64>,
    /// Rows read in this pass (some CRMs stop a pass after so many).
    #[serde(default)]
    pub read: u32,
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Watermark {
    /// The stored cursor; an unreadable one starts over from the beginning (a full pull is
    /// slow but right).
    pub fn decode(cursor: Option<&str>) -> Self {
        match cursor.map(serde_json::from_str) {
            Some(Ok(w)) => w,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "unreadable CRM sync cursor: pulling everything");
                Watermark::default()
            }
            None => Watermark::default(),
        }
    }

    pub fn since(&self) -> Option<OffsetDateTime> {
        self.since
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
    }

    /// Notes a row changed at `updated_at`.
    pub fn seen(&mut self, updated_at: Option<OffsetDateTime>) {
        self.read += 1;
        if let Some(t) = updated_at.map(millis) {
            self.high = Some(self.high.map_or(t, |h| h.max(t)));
        }
    }

    /// The page to hand back: more pages when the CRM gave a token for the next one; else
    /// this pass is done and the next starts just before its newest change.
    pub fn page(
        mut self,
        contacts: Vec<crate::CrmContact>,
        deleted: Vec<String>,
        next: Option<String>,
    ) -> ChangePage {
        let more = next.is_some();
        if more {
            self.page = next;
        } else {
            self.since = match (self.high, self.since) {
                (Some(high), _) => Some(high - OVERLAP_MS),
                (None, since) => since,
            };
            self.page = None;
            self.high = None;
            self.read = 0;
        }
        ChangePage {
            contacts,
            deleted,
            cursor: self.encode(),
            more,
        }
    }

    /// Starts a new pass from the newest change seen (CRMs that cap a pass's rows).
    pub fn restart_from_high(mut self) -> ChangePage {
        self.since = self.high.or(self.since);
        self.page = None;
        self.high = None;
        self.read = 0;
        ChangePage {
            contacts: Vec::new(),
            deleted: Vec::new(),
            cursor: self.encode(),
            more: true,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_follows_pages_then_the_next_starts_before_its_newest_change() {
        let mut w = Watermark::decode(None);
        w.seen(OffsetDateTime::from_unix_timestamp(1_000).ok());
        w.seen(OffsetDateTime::from_unix_timestamp(3_000).ok());
        let first = w.page(vec![], vec![], Some("p2".into()));
        assert!(first.more);
        let mut w = Watermark::decode(Some(&first.cursor));
        assert_eq!((w.page.as_deref(), w.read), (Some("p2"), 2));
        w.seen(OffsetDateTime::from_unix_timestamp(2_000).ok());
        let done = w.page(vec![], vec![], None);
        assert!(!done.more);
        let next = Watermark::decode(Some(&done.cursor));
        assert_eq!(next.since, Some(3_000_000 - OVERLAP_MS));
        assert_eq!(
            (next.page.as_deref(), next.high, next.read),
            (None, None, 0)
        );
        // A pass that saw nothing keeps its start.
        assert_eq!(
            Watermark::decode(Some(&next.clone().page(vec![], vec![], None).cursor)).since,
            next.since
        );
        assert_eq!(Watermark::decode(Some("{not json")), Watermark::default());
    }
}
