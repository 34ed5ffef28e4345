//! The subset of OTLP's protobuf messages Kelp reads: `ExportLogsServiceRequest` and what
//! it contains, hand-written with the field numbers of `opentelemetry/proto/logs/v1` and
//! `common/v1`, and the response.

use prost::{Message, Oneof};

/// `ExportLogsServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportLogsServiceRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

/// `ResourceLogs`: the logs of one resource (a pod's container, in Kubernetes).
#[derive(Clone, PartialEq, Message)]
pub struct ResourceLogs {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
    /// Field 3.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Field 2.
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

/// `ScopeLogs`: the logs of one instrumentation scope.
#[derive(Clone, PartialEq, Message)]
pub struct ScopeLogs {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
    /// Field 3.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    /// Field 4.
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `LogRecord`.
#[derive(Clone, PartialEq, Message)]
pub struct LogRecord {
    /// Field 1: when the event happened, ns (0 = unknown).
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// Field 11: when the collector saw it, ns.
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    /// Field 2: `SeverityNumber` (1–24; 0 unspecified).
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    /// Field 3.
    #[prost(string, tag = "3")]
    pub severity_text: String,
    /// Field 5.
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    /// Field 6.
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    /// Field 7.
    #[prost(uint32, tag = "7")]
    pub dropped_attributes_count: u32,
    /// Field 8.
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    /// Field 9: 16 bytes, or empty.
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    /// Field 10: 8 bytes, or empty.
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    /// Field 12.
    #[prost(string, tag = "12")]
    pub event_name: String,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    /// The `value` oneof.
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// The `AnyValue.value` oneof.
#[derive(Clone, PartialEq, Oneof)]
pub enum Value {
    /// Field 1.
    #[prost(string, tag = "1")]
    StringValue(String),
    /// Field 2.
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    /// Field 3.
    #[prost(int64, tag = "3")]
    IntValue(i64),
    /// Field 4.
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    /// Field 5.
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    /// Field 6.
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    /// Field 7.
    #[prost(bytes = "vec", tag = "7")]
    BytesValue(Vec<u8>),
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValueList {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// `ExportLogsServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportLogsServiceResponse {
    /// Field 1: set only when some records were rejected.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

/// `ExportLogsPartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportLogsPartialSuccess {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    /// Field 2.
    #[prost(string, tag = "2")]
    pub error_message: String,
}
