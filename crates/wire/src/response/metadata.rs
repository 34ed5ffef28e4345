//! Metadata answers (spec §4, §6): labels, label values, series, index stats, buildinfo.

use kelp_model::Labels;
use serde::{Deserialize, Serialize};

/// `{"status":"success","data":<data>}` plus Loki's final newline: the body of `labels`,
/// `label/<name>/values` (a list of strings), `series` (a list of [`Labels`]) and
/// `format_query` (a string).
///
/// ```
/// let body = kelp_wire::response::success(&["app", "env"]);
/// assert_eq!(body, b"{\"status\":\"success\",\"data\":[\"app\",\"env\"]}\n");
/// ```
pub fn success<T: Serialize + ?Sized>(data: &T) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a, T: ?Sized> {
        status: &'static str,
        data: &'a T,
    }
    crate::response::to_body(&Envelope {
        status: "success",
        data,
    })
}

/// The body of `series`: `{"status":"success","data":[{"app":"x"},...]}`.
pub fn series_response(series: &[Labels]) -> Vec<u8> {
    success(series)
}

/// `index/stats`: a bare object, no envelope (spec §4.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Streams matched.
    pub streams: u64,
    /// Chunks (segment blocks, in Kelp) matched.
    pub chunks: u64,
    /// Bytes of lines matched.
    pub bytes: u64,
    /// Entries matched.
    pub entries: u64,
}

impl IndexStats {
    /// The body, with Loki's final newline.
    pub fn to_json(&self) -> Vec<u8> {
        crate::response::to_body(self)
    }
}

/// `status/buildinfo` (spec §6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The Loki-like version reported, such as `3.5.0`.
    pub version: String,
    /// The source revision.
    pub revision: String,
    /// The source branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When it was built.
    pub build_date: String,
    /// The toolchain (Loki reports Go's version; Kelp reports rustc's).
    pub go_version: String,
}

impl BuildInfo {
    /// The body, with Loki's final newline.
    pub fn to_json(&self) -> Vec<u8> {
        crate::response::to_body(self)
    }
}
