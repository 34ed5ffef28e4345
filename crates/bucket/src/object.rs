//! [`ObjectBucket`]: `kelp_store::Bucket` over an `object_store::ObjectStore`.

use std::future::Future;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

/// Files up to this size are uploaded in one request; larger ones in parts of this size.
const PART_BYTES: usize = 8 << 20;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// A bucket (or a prefix of one) reached through `object_store`, with the runtime its
/// requests run on.
pub struct ObjectBucket {
    store: Arc<dyn ObjectStore>,
    /// `Some` until dropped (taken to shut it down without blocking).
    rt: Option<tokio::runtime::Runtime>,
    describe: String,
}

impl std::fmt::Debug for ObjectBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBucket")
            .field("at", &self.describe)
            .finish()
    }
}

impl Drop for ObjectBucket {
    fn drop(&mut self) {
        // `shutdown_background` never blocks, so a store dropped inside an async task
        // does not panic.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The `io::Error` for an object_store error: a missing object is `NotFound`.
fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl ObjectBucket {
    /// Wraps `store`; `describe` says where it is (`s3://logs/kelp`).
    pub fn new(store: Arc<dyn ObjectStore>, describe: String) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kelp-bucket")
            .enable_all()
            .build()?;
        Ok(Self {
            store,
            rt: Some(rt),
            describe,
        })
    }

    /// The underlying object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Runs `fut` on the bucket's runtime and waits for it on this thread.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| io::Error::other("the bucket is shut down"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv() {
            Ok(r) => r.map_err(to_io),
            Err(_) => Err(io::Error::other("the bucket request was cancelled")),
        }
    }
}

fn path(key: &str) -> Path {
    Path::from(key.trim_end_matches('/'))
}

impl kelp_store::Bucket for ObjectBucket {
    fn put_file(&self, key: &str, file: &FsPath) -> io::Result<()> {
        let mut f = std::fs::File::open(file)?;
        let len = f.metadata()?.len();
        if len <= PART_BYTES as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf)?;
            return self.put(key, Bytes::from(buf));
        }
        let (store, p) = (self.store.clone(), path(key));
        let upload = self.run(async move { store.put_multipart(&p).await })?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = read_full(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            let chunk = buf[..n].to_vec();
            w = self.run(async move {
                w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                w.write(&chunk);
                Ok(w)
            })?;
        }
        self.run(async move { w.finish().await.map(|_| ()) })
    }

    fn put(&self, key: &str, data: Bytes) -> io::Result<()> {
        let (store, p) = (self.store.clone(), path(key));
        self.run(async move { store.put(&p, PutPayload::from(data)).await.map(|_| ()) })
    }

    fn get(&self, key: &str) -> io::Result<Bytes> {
        let (store, p) = (self.store.clone(), path(key));
        self.run(async move { store.get(&p).await?.bytes().await })
    }

    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> io::Result<Vec<Bytes>> {
        let (store, p, ranges) = (self.store.clone(), path(key), ranges.to_vec());
        self.run(async move { store.get_ranges(&p, &ranges).await })
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        let (store, p) = (self.store.clone(), path(key));
        match self.run(async move { store.delete(&p).await }) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let (store, p) = (self.store.clone(), path(prefix));
        self.run(async move {
            let metas: Vec<_> = store.list(Some(&p)).try_collect().await?;
            Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
        })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
