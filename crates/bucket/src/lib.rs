//! # kelp-bucket
//!
//! Object storage for Kelp's store: [`ObjectBucket`] implements `kelp_store::Bucket` over
//! the [`object_store`] crate (S3 and S3-compatible servers, Google Cloud Storage, Azure
//! Blob Storage, a local directory), and [`StorageSettings`] is the `storage:` section of
//! the server's configuration, which builds one with the credentials each service's usual
//! environment variables and files give (`AmazonS3Builder::from_env` and its peers).
//!
//! `object_store` is async; the store is not. An [`ObjectBucket`] owns a small tokio
//! runtime (two worker threads) and each call runs its future there while the calling
//! thread (a flusher, a rayon scan thread, a server's blocking-pool thread) waits on a
//! channel: the store never blocks inside an async context, and no runtime is entered on
//! the caller's thread.
//!
//! ```
//! use kelp_store::Bucket;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let settings: kelp_bucket::StorageSettings = serde_json::from_str(&format!(
//!     r#"{{"backend": "local", "bucket": "{}", "prefix": "kelp"}}"#,
//!     dir.path().display()
//! ))
//! .unwrap();
//! let bucket = settings.bucket().unwrap().expect("a bucket is configured");
//! bucket.put("a/b", bytes::Bytes::from_static(b"hello")).unwrap();
//! assert_eq!(&bucket.get_ranges("a/b", &[1..3]).unwrap()[0][..], b"el");
//! assert_eq!(bucket.list("a").unwrap(), vec!["a/b".to_owned()]);
//! ```
//!
//! Not for: deciding what to upload or when (the store does), HTTP serving.

mod object;
mod settings;

pub use object::ObjectBucket;
pub use settings::{Backend, StorageSettings};

/// What can go wrong building a bucket from settings.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// A setting is missing or out of range.
    #[error("storage.{field}: {reason}")]
    Config {
        /// The setting, as named under `storage:`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The object_store client could not be built (bad endpoint, credentials file, ...).
    #[error("storage: building the {backend} client: {source}")]
    Client {
        /// The backend.
        backend: &'static str,
        /// The client's error.
        #[source]
        source: object_store::Error,
    },
    /// The runtime the bucket's requests run on could not start.
    #[error("storage: starting the bucket's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
