//! The store: one root on an object store (a local folder by default) holding Parquet data files
//! and the versioned manifest that says which of them are live.
//!
//! - [`manifest`]: the version documents.
//! - [`parquet_io`]: reading and writing Parquet files on the object store.
//! - [`transaction`]: atomic, retried commits (units upsert, dimension tables, import progress).
//! - [`maintenance`]: compaction and vacuum.

pub mod maintenance;
pub mod manifest;
pub mod parquet_io;
pub mod transaction;

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use crate::error::{Error, Result};
pub use manifest::{DataFile, Manifest, Partition, SourceProgress, UnitStats};

/// Where the data lives and how to reach it.
#[derive(Clone)]
pub struct Store {
    os: Arc<dyn ObjectStore>,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

/// A consistent, immutable view of one store version.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub store: Store,
    pub manifest: Arc<Manifest>,
}

impl Snapshot {
    /// The version this snapshot reads (0 = empty store).
    pub fn version(&self) -> u64 {
        self.manifest.version
    }
}

impl Store {
    /// Opens a store at a local path (created if missing) or a URL (`file:///…`, `s3://bucket/prefix`,
    /// `memory://`). `options` are passed to the object store builder (e.g. S3 endpoint and
    /// credentials as `aws_endpoint`, `aws_access_key_id`, …).
    pub fn open(location: &str, options: &[(String, String)]) -> Result<Store> {
        let looks_like_url = location.contains("://");
        if !looks_like_url {
            return Self::open_local(std::path::Path::new(location));
        }
        let url = Url::parse(location)
            .map_err(|e| Error::InvalidArgument(format!("invalid store URL {location:?}: {e}")))?;
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|_| Error::InvalidArgument(format!("invalid file URL {location:?}")))?;
            return Self::open_local(&path);
        }
        let (os, prefix) = object_store::parse_url_opts(&url, options.iter().cloned())
            .map_err(|e| Error::storage(location, e))?;
        let os: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(os)
        } else {
            Arc::new(PrefixStore::new(os, prefix))
        };
        Ok(Store {
            os,
            location: location.to_string(),
        })
    }

    fn open_local(dir: &std::path::Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let os = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::storage(dir.display().to_string(), e))?;
        Ok(Store {
            os: Arc::new(os),
            location: dir.display().to_string(),
        })
    }

    /// A store held in memory (tests).
    pub fn in_memory() -> Store {
        Store {
            os: Arc::new(object_store::memory::InMemory::new()),
            location: "memory://".into(),
        }
    }

    /// The underlying object store, rooted at the store root.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.os)
    }

    /// Where the store is, as given by the user.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// All published versions, ascending.
    pub async fn versions(&self) -> Result<Vec<u64>> {
        let prefix = Path::from(manifest::MANIFEST_DIR);
        let metas: Vec<_> = self
            .os
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| Error::storage(manifest::MANIFEST_DIR, e))?;
        let mut v: Vec<u64> = metas
            .iter()
            .filter_map(|m| m.location.filename().and_then(manifest::parse_version_file))
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// The newest published version (0 when the store is empty).
    pub async fn latest_version(&self) -> Result<u64> {
        Ok(self.versions().await?.last().copied().unwrap_or(0))
    }

    /// Reads the manifest of `version` (version 0 is the empty store).
    pub async fn load(&self, version: u64) -> Result<Manifest> {
        if version == 0 {
            return Ok(Manifest::empty());
        }
        let name = manifest::version_file(version);
        let bytes = self
            .os
            .get(&Path::from(name.as_str()))
            .await
            .map_err(|e| Error::storage(&name, e))?
            .bytes()
            .await
            .map_err(|e| Error::storage(&name, e))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            path: name.clone(),
            message: e.to_string(),
        })?;
        if m.format != manifest::MANIFEST_FORMAT {
            return Err(Error::Manifest {
                path: name,
                message: format!(
                    "format {} is not supported by this build (expected {})",
                    m.format,
                    manifest::MANIFEST_FORMAT
                ),
            });
        }
        Ok(m)
    }

    /// A snapshot of the newest version.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let v = self.latest_version().await?;
        self.snapshot_at(v).await
    }

    /// A snapshot of a given version.
    pub async fn snapshot_at(&self, version: u64) -> Result<Snapshot> {
        Ok(Snapshot {
            store: self.clone(),
            manifest: Arc::new(self.load(version).await?),
        })
    }

    /// Publishes `m` as version `m.version` unless that version exists already.
    pub(crate) async fn publish(&self, m: &Manifest) -> Result<()> {
        let name = manifest::version_file(m.version);
        let body = serde_json::to_vec_pretty(m).map_err(|e| Error::Manifest {
            path: name.clone(),
            message: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .os
            .put_opts(&Path::from(name.as_str()), PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(Error::CommitConflict { version: m.version })
            }
            Err(e) => Err(Error::storage(name, e)),
        }
    }

    /// Writes a whole object.
    pub(crate) async fn put(&self, path: &str, bytes: bytes::Bytes) -> Result<()> {
        self.os
            .put(&Path::from(path), PutPayload::from(bytes))
            .await
            .map_err(|e| Error::storage(path, e))?;
        Ok(())
    }

    /// Deletes an object; a missing object is not an error.
    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        match self.os.delete(&Path::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::storage(path, e)),
        }
    }
}

/// A fresh unique name for a data file.
pub(crate) fn unique_file_name() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    let ms = chrono::Utc::now().timestamp_millis();
    format!("{ms:013}-{a:016x}{b:016x}.parquet")
}

/// Encodes a partition value for use in a path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        out = format!("%{}", hex_of(&out));
    }
    out
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests;
