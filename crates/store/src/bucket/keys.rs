//! Object keys in the bucket (relative to the configured prefix). A replica writes only
//! under its own folder, so replicas never overwrite each other's objects:
//!
//! ```text
//! replicas/<replica>/MANIFEST                                   the replica's manifest
//! replicas/<replica>/tenants/<tenant>/<YYYY-MM-DD>/seg-<id>.kseg a segment
//! replicas/<replica>/tenants/<tenant>/<YYYY-MM-DD>/index-<id>.kidx a partition index
//! ```
//!
//! Object contents are byte for byte the local files (`docs/format/`).

use kelp_model::TenantId;

use crate::format::{
    day_dir, index_file, segment_file, BUCKET_REPLICAS_DIR, MANIFEST_FILE, TENANTS_DIR,
};

/// The folder of `replica`'s objects, with a trailing `/`.
pub fn replica_dir(replica: &str) -> String {
    format!("{BUCKET_REPLICAS_DIR}/{replica}/")
}

/// The key of `replica`'s manifest.
pub fn manifest_key(replica: &str) -> String {
    format!("{BUCKET_REPLICAS_DIR}/{replica}/{MANIFEST_FILE}")
}

fn part_prefix(replica: &str, tenant: &TenantId, day: i32) -> String {
    format!(
        "{BUCKET_REPLICAS_DIR}/{replica}/{TENANTS_DIR}/{}/{}/",
        tenant.as_str(),
        day_dir(day)
    )
}

/// The key of segment `id` of a partition.
pub fn segment_key(replica: &str, tenant: &TenantId, day: i32, id: u64) -> String {
    part_prefix(replica, tenant, day) + &segment_file(id)
}

/// The key of label index `id` of a partition.
pub fn index_key(replica: &str, tenant: &TenantId, day: i32, id: u64) -> String {
    part_prefix(replica, tenant, day) + &index_file(id)
}

/// The replica names found in a listing of `replicas/` (keys of their manifests).
pub fn replicas_in(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let rest = k.strip_prefix(BUCKET_REPLICAS_DIR)?.strip_prefix('/')?;
            let (replica, file) = rest.split_once('/')?;
            (file == MANIFEST_FILE).then(|| replica.to_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_local_layout_under_the_replica() {
        let t = TenantId::parse("fake").unwrap();
        assert_eq!(manifest_key("kelp-0"), "replicas/kelp-0/MANIFEST");
        assert_eq!(
            segment_key("kelp-0", &t, 19_000, 0x2a),
            "replicas/kelp-0/tenants/fake/2022-01-08/seg-000000000000002a.kseg"
        );
        assert_eq!(
            index_key("kelp-1", &t, 19_000, 1),
            "replicas/kelp-1/tenants/fake/2022-01-08/index-0000000000000001.kidx"
        );
        let listed = vec![
            "replicas/kelp-1/MANIFEST".to_owned(),
            "replicas/kelp-0/tenants/fake/2022-01-08/seg-000000000000002a.kseg".to_owned(),
            "replicas/kelp-0/MANIFEST".to_owned(),
            "other/MANIFEST".to_owned(),
        ];
        assert_eq!(replicas_in(&listed), vec!["kelp-0", "kelp-1"]);
    }
}
