//! Query results (spec §3.3, §3.5): streams, matrix, vector, scalar, in Loki's envelope.

use bytes::Bytes;
use kelp_model::{Entry, LabelPair, Labels, Timestamp};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

use crate::response::{Point, Stats};

/// The flag name of `X-Loki-Response-Encoding-Flags: categorize-labels`.
pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// A query answer: `{"status":"success","warnings":[...],"data":{...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// Warnings, emitted only when there are some.
    pub warnings: Vec<String>,
    /// Whether the client asked for `categorize-labels` (then `data.encodingFlags` is
    /// emitted and every log entry carries its third element).
    pub categorize_labels: bool,
    /// The result.
    pub result: QueryResult,
    /// `data.stats`; Loki always emits it for queries (volume answers leave it out).
    pub stats: Option<Stats>,
}

/// `data.resultType` and `data.result`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// `streams`: log lines.
    Streams(Vec<LogStream>),
    /// `matrix`: range metric series.
    Matrix(Vec<Series>),
    /// `vector`: instant samples.
    Vector(Vec<InstantSample>),
    /// `scalar`: one point.
    Scalar(Point),
}

/// One stream of a `streams` result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogStream {
    /// The `stream` object: every label of the entries by default, only the indexed stream
    /// labels with `categorize-labels`.
    pub labels: Labels,
    /// The entries, in the query's direction.
    pub values: Vec<LogValue>,
}

/// One entry of a stream: `["<ns>","<line>"]`, or with `categorize-labels`
/// `["<ns>","<line>",{"structuredMetadata":{...},"parsed":{...}}]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogValue {
    /// The entry's time.
    pub timestamp: Timestamp,
    /// The line (non-UTF-8 bytes are replaced when serialized).
    pub line: Bytes,
    /// Structured metadata, emitted only with `categorize-labels`.
    pub structured_metadata: Vec<LabelPair>,
    /// Labels extracted by parsers, emitted only with `categorize-labels`.
    pub parsed: Vec<LabelPair>,
}

impl LogValue {
    /// From a stored entry (its metadata becomes `structured_metadata`).
    pub fn from_entry(e: &Entry) -> Self {
        Self {
            timestamp: e.timestamp,
            line: e.line.clone(),
            structured_metadata: e.metadata.clone(),
            parsed: Vec::new(),
        }
    }
}

/// One series of a `matrix` result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The series' labels (`metric`).
    pub metric: Labels,
    /// Its points, oldest first.
    pub values: Vec<Point>,
}

/// One sample of a `vector` result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The sample's labels (`metric`).
    pub metric: Labels,
    /// Its point.
    pub value: Point,
}

impl QueryResponse {
    /// A response with `result`, zero `stats`, no warnings and no encoding flags.
    pub fn new(result: QueryResult) -> Self {
        Self {
            warnings: Vec::new(),
            categorize_labels: false,
            result,
            stats: Some(Stats::default()),
        }
    }

    /// The body: compact JSON and a final newline, as Loki writes it.
    pub fn to_json(&self) -> Vec<u8> {
        crate::response::to_body(self)
    }
}

impl QueryResult {
    /// `streams`, `matrix`, `vector` or `scalar`.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Streams(_) => "streams",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Vector(_) => "vector",
            QueryResult::Scalar(_) => "scalar",
        }
    }
}

impl Serialize for QueryResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("status", "success")?;
        if !self.warnings.is_empty() {
            m.serialize_entry("warnings", &self.warnings)?;
        }
        m.serialize_entry("data", &Data(self))?;
        m.end()
    }
}

struct Data<'a>(&'a QueryResponse);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resultType", r.result.result_type())?;
        if r.categorize_labels {
            m.serialize_entry("encodingFlags", &[CATEGORIZE_LABELS])?;
        }
        match &r.result {
            QueryResult::Streams(streams) => {
                m.serialize_entry("result", &Streams(streams, r.categorize_labels))?
            }
            QueryResult::Matrix(series) => m.serialize_entry("result", &SeriesList(series))?,
            QueryResult::Vector(samples) => m.serialize_entry("result", &Samples(samples))?,
            QueryResult::Scalar(p) => m.serialize_entry("result", p)?,
        }
        if let Some(stats) = &r.stats {
            m.serialize_entry("stats", stats)?;
        }
        m.end()
    }
}

/// Streams serialized in plain or categorized form.
pub(crate) struct Streams<'a>(pub(crate) &'a [LogStream], pub(crate) bool);

impl Serialize for Streams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for stream in self.0 {
            seq.serialize_element(&StreamRef(stream, self.1))?;
        }
        seq.end()
    }
}

struct StreamRef<'a>(&'a LogStream, bool);

impl Serialize for StreamRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("stream", &self.0.labels)?;
        m.serialize_entry("values", &Values(&self.0.values, self.1))?;
        m.end()
    }
}

struct Values<'a>(&'a [LogValue], bool);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&ValueRef(v, self.1))?;
        }
        seq.end()
    }
}

struct ValueRef<'a>(&'a LogValue, bool);

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut t = s.serialize_tuple(if self.1 { 3 } else { 2 })?;
        t.serialize_element(&v.timestamp.as_unix_nanos().to_string())?;
        t.serialize_element(&String::from_utf8_lossy(&v.line))?;
        if self.1 {
            t.serialize_element(&Categories(v))?;
        }
        t.end()
    }
}

struct Categories<'a>(&'a LogValue);

impl Serialize for Categories<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.0.structured_metadata.is_empty() {
            m.serialize_entry("structuredMetadata", &Pairs(&self.0.structured_metadata))?;
        }
        if !self.0.parsed.is_empty() {
            m.serialize_entry("parsed", &Pairs(&self.0.parsed))?;
        }
        m.end()
    }
}

/// Name/value pairs as a JSON object.
struct Pairs<'a>(&'a [LabelPair]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|p| (&p.name, &p.value)))
    }
}

struct SeriesList<'a>(&'a [Series]);

impl Serialize for SeriesList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(SeriesRef))
    }
}

struct SeriesRef<'a>(&'a Series);

impl Serialize for SeriesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &self.0.metric)?;
        m.serialize_entry("values", &self.0.values)?;
        m.end()
    }
}

struct Samples<'a>(&'a [InstantSample]);

impl Serialize for Samples<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(SampleRef))
    }
}

struct SampleRef<'a>(&'a InstantSample);

impl Serialize for SampleRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &self.0.metric)?;
        m.serialize_entry("value", &self.0.value)?;
        m.end()
    }
}
