//! The `_bulk` response (spec §10.3), compact and with `errors` before `items`, because
//! Fluent Bit and Vector look for the literal substrings `"errors":false,"items":[` and
//! `"errors":true`.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::bulk::{BulkItem, ItemOutcome};

/// The response body for `items`: `{"took":..,"errors":..,"items":[..]}`.
///
/// Accepted items answer `201`/`created` with `_version`, `_shards`, `_seq_no` and
/// `_primary_term` as Elasticsearch writes them; failed items carry their status and an
/// `error` object, and make `errors` true.
pub fn bulk_response(took_ms: u64, items: &[BulkItem]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        took: u64,
        errors: bool,
        items: Vec<Item<'a>>,
    }
    let body = Body {
        took: took_ms,
        errors: items
            .iter()
            .any(|i| matches!(i.outcome, ItemOutcome::Failed(_))),
        items: items
            .iter()
            .enumerate()
            .map(|(seq, item)| Item { item, seq })
            .collect(),
    };
    to_vec(&body)
}

/// A whole-request error in Elasticsearch's envelope:
/// `{"error":{"root_cause":[{"type":..,"reason":..}],"type":..,"reason":..},"status":..}`.
/// Use `illegal_argument_exception` with status 400 for a malformed body and
/// `es_rejected_execution_exception` with 429 for overload.
pub fn error_response(status: u16, error_type: &str, reason: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Cause<'a> {
        r#type: &'a str,
        reason: &'a str,
    }
    #[derive(Serialize)]
    struct Error<'a> {
        root_cause: [Cause<'a>; 1],
        r#type: &'a str,
        reason: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        error: Error<'a>,
        status: u16,
    }
    let cause = || Cause {
        r#type: error_type,
        reason,
    };
    to_vec(&Body {
        error: Error {
            root_cause: [cause()],
            r#type: error_type,
            reason,
        },
        status,
    })
}

struct Item<'a> {
    item: &'a BulkItem,
    seq: usize,
}

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.item.action.as_str(), &ItemBody(self))?;
        m.end()
    }
}

struct ItemBody<'a>(&'a Item<'a>);

impl Serialize for ItemBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let item = self.0.item;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("_index", &item.index)?;
        m.serialize_entry("_id", &item.id)?;
        match &item.outcome {
            ItemOutcome::Accepted { .. } => {
                m.serialize_entry("_version", &1)?;
                m.serialize_entry("result", "created")?;
                m.serialize_entry("_shards", &Shards::ONE)?;
                m.serialize_entry("_seq_no", &self.0.seq)?;
                m.serialize_entry("_primary_term", &1)?;
                m.serialize_entry("status", &201)?;
            }
            ItemOutcome::Failed(e) => {
                m.serialize_entry("status", &e.status)?;
                m.serialize_entry(
                    "error",
                    &ErrorObject {
                        r#type: &e.error_type,
                        reason: &e.reason,
                    },
                )?;
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

impl Shards {
    const ONE: Shards = Shards {
        total: 1,
        successful: 1,
        failed: 0,
    };
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    r#type: &'a str,
    reason: &'a str,
}

pub(crate) fn to_vec(v: &impl Serialize) -> Vec<u8> {
    // Only string-keyed maps, strings and numbers: serializing into a Vec cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}
