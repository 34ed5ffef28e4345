//! The small answers Elasticsearch clients need besides `_bulk` (spec §10.5).

use serde_json::json;

use crate::bulk::response::to_vec;

/// The header every Elasticsearch answer carries; official clients ≥ 7.14 and Logstash
/// check it.
pub const PRODUCT_HEADER: (&str, &str) = ("X-Elastic-Product", "Elasticsearch");

/// What `GET /` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsInfo {
    /// The node name.
    pub name: String,
    /// The cluster name.
    pub cluster_name: String,
    /// The cluster id.
    pub cluster_uuid: String,
    /// `version.number`: a recent 8.x, so that Filebeat does not call the server too old
    /// and Vector omits `_type`.
    pub version: String,
}

impl Default for EsInfo {
    fn default() -> Self {
        Self {
            name: "kelp".into(),
            cluster_name: "kelp".into(),
            cluster_uuid: "kelp-0001".into(),
            version: "8.17.0".into(),
        }
    }
}

/// `GET /`: the cluster info document (`build_flavor` is `default`, never `serverless`).
pub fn root_info(info: &EsInfo) -> Vec<u8> {
    to_vec(&json!({
        "name": info.name,
        "cluster_name": info.cluster_name,
        "cluster_uuid": info.cluster_uuid,
        "version": {
            "number": info.version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "0000000",
            "build_date": "2024-01-01T00:00:00Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

/// `GET /_cluster/health`: green, one node.
pub fn cluster_health(cluster_name: &str) -> Vec<u8> {
    to_vec(&json!({
        "cluster_name": cluster_name,
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0
    }))
}

/// `GET /_license`: an active basic license.
pub fn license() -> Vec<u8> {
    to_vec(&json!({"license": {
        "status": "active",
        "type": "basic",
        "uid": "00000000-0000-0000-0000-000000000000"
    }}))
}

/// `{}`: `GET|HEAD` of `/_index_template/*`, `/_ilm/policy/*`, `/_ingest/pipeline/*`,
/// `/_nodes*`.
pub fn empty_object() -> Vec<u8> {
    b"{}".to_vec()
}

/// `{"acknowledged":true}`: `PUT` of templates, policies and pipelines.
pub fn acknowledged() -> Vec<u8> {
    b"{\"acknowledged\":true}".to_vec()
}
