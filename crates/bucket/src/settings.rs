//! [`StorageSettings`]: the `storage:` section of `kelp server`'s configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use serde::{Deserialize, Deserializer};

use crate::{BucketError, ObjectBucket};

/// Where closed segments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Local disk only, under the data directory (the default; no bucket).
    #[default]
    Disk,
    /// Amazon S3 or an S3-compatible server (`endpoint`), credentials from `AWS_*`
    /// variables, the web-identity token file or the instance metadata service.
    S3,
    /// Google Cloud Storage, credentials from `GOOGLE_SERVICE_ACCOUNT` (a key file) or
    /// the metadata service.
    Gcs,
    /// Azure Blob Storage (`bucket` is the container), credentials from `AZURE_*`
    /// variables.
    Azure,
    /// A local directory used as a bucket (`bucket` is its path): a shared filesystem, or
    /// tests.
    Local,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Disk => "disk",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azure",
            Backend::Local => "local",
        }
    }
}

/// The `storage:` section: where closed segments live and the local cache they are read
/// through. Every field is optional; unknown fields are rejected.
///
/// ```
/// let s: kelp_bucket::StorageSettings = serde_json::from_str(
///     r#"{"backend": "s3", "bucket": "logs", "endpoint": "http://127.0.0.1:9000",
///         "region": "garage", "cache_size": "2Gi"}"#,
/// )
/// .unwrap();
/// assert_eq!(s.cache_size, 2 << 30);
/// assert!(serde_json::from_str::<kelp_bucket::StorageSettings>(r#"{"bukket": "x"}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `disk` (default: no bucket), `s3`, `gcs`, `azure` or `local`.
    pub backend: Backend,
    /// The bucket (S3, GCS), container (Azure) or directory (`local`).
    pub bucket: String,
    /// A folder inside the bucket for Kelp's objects (empty: the bucket's root).
    pub prefix: String,
    /// The S3 endpoint of an S3-compatible server (`http://127.0.0.1:3900`); unset: AWS
    /// (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The S3 region (unset: `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Whether plain `http://` endpoints are allowed (unset: when `endpoint` is `http://`).
    pub allow_http: Option<bool>,
    /// The cache directory (unset: `<data_dir>/cache`). Its contents are disposable.
    pub cache_dir: Option<PathBuf>,
    /// The cache's bound: bytes, or a quantity such as `10Gi` (default 10 GiB).
    #[serde(deserialize_with = "byte_size")]
    pub cache_size: u64,
    /// This replica's name (unset: the host name, as a StatefulSet's pod name is): its
    /// objects go under `replicas/<replica>/`.
    pub replica: Option<String>,
    /// Timeout of one request, in seconds.
    pub request_timeout_secs: u64,
    /// How long the client retries a failing request before the store sees an error, in
    /// seconds.
    pub retry_timeout_secs: u64,
    /// Most retries of one request.
    pub max_retries: usize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Disk,
            bucket: String::new(),
            prefix: String::new(),
            endpoint: None,
            region: None,
            allow_http: None,
            cache_dir: None,
            cache_size: 10 << 30,
            replica: None,
            request_timeout_secs: 30,
            retry_timeout_secs: 30,
            max_retries: 5,
        }
    }
}

fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => kelp_model::ByteSize::parse(&s)
            .map(|b| b.0)
            .map_err(serde::de::Error::custom),
    }
}

impl StorageSettings {
    /// Checks the settings without reaching the bucket or touching the disk.
    pub fn validate(&self) -> Result<(), BucketError> {
        let cfg = |field, reason: String| Err(BucketError::Config { field, reason });
        if self.backend == Backend::Disk {
            return Ok(());
        }
        if self.bucket.is_empty() {
            return cfg("bucket", "required with a bucket backend".into());
        }
        if self.backend != Backend::S3 && (self.endpoint.is_some() || self.region.is_some()) {
            return cfg("endpoint", "endpoint and region are S3 settings".into());
        }
        if let Some(r) = self
            .replica
            .as_deref()
            .filter(|r| !kelp_store::bucket::valid_replica(r))
        {
            return cfg(
                "replica",
                format!("{r:?} is not a replica name (1 to 128 letters, digits, '-', '_', '.')"),
            );
        }
        if self.cache_size < kelp_store::bucket::MIN_CACHE_BYTES {
            return cfg(
                "cache_size",
                format!(
                    "{} bytes is below the minimum of {} (four cache pages)",
                    self.cache_size,
                    kelp_store::bucket::MIN_CACHE_BYTES
                ),
            );
        }
        Ok(())
    }

    /// The bucket these settings name (`None` for `backend: disk`).
    pub fn bucket(&self) -> Result<Option<Arc<ObjectBucket>>, BucketError> {
        self.validate()?;
        let backend = self.backend;
        if backend == Backend::Disk {
            return Ok(None);
        }
        let client = |e| BucketError::Client {
            backend: backend.name(),
            source: e,
        };
        let allow_http = self.allow_http.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
        });
        let options = ClientOptions::new()
            .with_timeout(Duration::from_secs(self.request_timeout_secs.max(1)))
            .with_connect_timeout(Duration::from_secs(5))
            .with_allow_http(allow_http);
        let retry = RetryConfig {
            max_retries: self.max_retries,
            retry_timeout: Duration::from_secs(self.retry_timeout_secs),
            ..RetryConfig::default()
        };
        let (store, scheme): (Arc<dyn ObjectStore>, &str) = match backend {
            Backend::Disk => return Ok(None),
            Backend::S3 => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&self.bucket)
                    .with_client_options(options)
                    .with_retry(retry);
                if let Some(e) = &self.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &self.region {
                    b = b.with_region(r);
                }
                (Arc::new(b.build().map_err(client)?), "s3")
            }
            Backend::Gcs => {
                let b = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&self.bucket)
                    .with_client_options(options)
                    .with_retry(retry);
                (Arc::new(b.build().map_err(client)?), "gs")
            }
            Backend::Azure => {
                let b = MicrosoftAzureBuilder::from_env()
                    .with_container_name(&self.bucket)
                    .with_client_options(options)
                    .with_retry(retry);
                (Arc::new(b.build().map_err(client)?), "az")
            }
            Backend::Local => {
                std::fs::create_dir_all(&self.bucket).map_err(|e| BucketError::Config {
                    field: "bucket",
                    reason: format!("creating {}: {e}", self.bucket),
                })?;
                let fs = LocalFileSystem::new_with_prefix(&self.bucket).map_err(client)?;
                (Arc::new(fs), "file")
            }
        };
        let prefix = self.prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        let describe = match prefix {
            "" => format!("{scheme}://{}", self.bucket.trim_end_matches('/')),
            p => format!("{scheme}://{}/{p}", self.bucket.trim_end_matches('/')),
        };
        let bucket = ObjectBucket::new(store, describe).map_err(BucketError::Runtime)?;
        Ok(Some(Arc::new(bucket)))
    }

    /// The store's bucket configuration (`None` for `backend: disk`): the bucket, the
    /// replica name (`default_replica` when unset) and the cache under `data_dir` unless
    /// `cache_dir` says otherwise.
    pub fn store_bucket(
        &self,
        data_dir: &Path,
        default_replica: &str,
    ) -> Result<Option<kelp_store::BucketConfig>, BucketError> {
        let Some(bucket) = self.bucket()? else {
            return Ok(None);
        };
        let c = kelp_store::BucketConfig {
            bucket,
            replica: self
                .replica
                .clone()
                .unwrap_or_else(|| default_replica.to_owned()),
            cache_dir: self
                .cache_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("cache")),
            cache_bytes: self.cache_size,
        };
        c.validate().map_err(|e| match e {
            kelp_store::StoreError::Config { field, reason } => BucketError::Config {
                field: field.trim_start_matches("storage."),
                reason,
            },
            e => BucketError::Config {
                field: "replica",
                reason: e.to_string(),
            },
        })?;
        Ok(Some(c))
    }
}
