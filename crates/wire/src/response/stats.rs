//! The `stats` object of query responses (spec §3.4), with Loki's JSON names.
//!
//! Every counter defaults to zero, which Grafana accepts; the server fills in `summary`.

use serde::{Deserialize, Serialize};

/// `data.stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Stats {
    /// Totals for the whole query.
    pub summary: Summary,
    /// What queriers read from storage.
    pub querier: Querier,
    /// What ingesters (the head, in Kelp) contributed.
    pub ingester: Ingester,
    /// Cache statistics (zeros in Kelp).
    pub cache: Caches,
    /// Index statistics.
    pub index: IndexStatsSummary,
}

/// `stats.summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    /// Bytes processed per second of execution.
    pub bytes_processed_per_second: i64,
    /// Lines processed per second of execution.
    pub lines_processed_per_second: i64,
    /// Bytes processed in total.
    pub total_bytes_processed: i64,
    /// Lines processed in total.
    pub total_lines_processed: i64,
    /// Execution time in seconds.
    pub exec_time: f64,
    /// Time spent queued, in seconds.
    pub queue_time: f64,
    /// Number of sub-queries.
    pub subqueries: i64,
    /// Entries in the result.
    pub total_entries_returned: i64,
    /// Number of time splits.
    pub splits: i64,
    /// Number of shards.
    pub shards: i64,
    /// Lines left after filters.
    pub total_post_filter_lines: i64,
    /// Structured-metadata bytes processed.
    pub total_structured_metadata_bytes_processed: i64,
}

/// `stats.querier`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Querier {
    /// Storage statistics.
    pub store: Store,
}

/// `stats.ingester`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ingester {
    /// Ingesters reached.
    pub total_reached: i64,
    /// Chunks matched.
    pub total_chunks_matched: i64,
    /// Batches sent.
    pub total_batches: i64,
    /// Lines sent.
    pub total_lines_sent: i64,
    /// Storage statistics.
    pub store: Store,
}

/// `store`, under `querier` and `ingester`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Store {
    /// Chunks referenced.
    pub total_chunks_ref: i64,
    /// Chunks downloaded.
    pub total_chunks_downloaded: i64,
    /// Download time in nanoseconds.
    pub chunks_download_time: i64,
    /// Whether structured metadata was read.
    pub query_referenced_structured_metadata: bool,
    /// Chunk statistics.
    pub chunk: Chunk,
}

/// `store.chunk`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Chunk {
    /// Bytes read from head chunks.
    pub head_chunk_bytes: i64,
    /// Lines read from head chunks.
    pub head_chunk_lines: i64,
    /// Bytes decompressed.
    pub decompressed_bytes: i64,
    /// Lines decompressed.
    pub decompressed_lines: i64,
    /// Compressed bytes read.
    pub compressed_bytes: i64,
    /// Duplicates removed.
    pub total_duplicates: i64,
    /// Lines left after filters.
    pub post_filter_lines: i64,
    /// Structured-metadata bytes in head chunks.
    pub head_chunk_structured_metadata_bytes: i64,
    /// Structured-metadata bytes decompressed.
    pub decompressed_structured_metadata_bytes: i64,
}

/// `stats.cache`: one entry per Loki cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Caches {
    /// Chunk cache.
    pub chunk: Cache,
    /// Index cache.
    pub index: Cache,
    /// Results cache.
    pub result: Cache,
    /// Stats results cache.
    pub stats_result: Cache,
    /// Volume results cache.
    pub volume_result: Cache,
    /// Series results cache.
    pub series_result: Cache,
    /// Label results cache.
    pub label_result: Cache,
    /// Instant metric results cache.
    pub instant_metric_result: Cache,
}

/// One cache's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cache {
    /// Entries found.
    pub entries_found: i64,
    /// Entries requested.
    pub entries_requested: i64,
    /// Entries stored.
    pub entries_stored: i64,
    /// Bytes received.
    pub bytes_received: i64,
    /// Bytes sent.
    pub bytes_sent: i64,
    /// Requests.
    pub requests: i64,
    /// Download time in nanoseconds.
    pub download_time: i64,
    /// Query length served, in nanoseconds.
    pub query_length_served: i64,
}

/// `stats.index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IndexStatsSummary {
    /// Chunks in the index.
    pub total_chunks: i64,
    /// Chunks after filters.
    pub post_filter_chunks: i64,
    /// Time spent sharding, in nanoseconds.
    pub shards_duration: i64,
    /// Whether bloom filters were used.
    pub used_bloom_filters: bool,
}
