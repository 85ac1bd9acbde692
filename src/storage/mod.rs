//! Object storage: where segments, playlists and recordings end up. A local
//! directory (the embedded default, served by classcast itself) or an S3 bucket
//! (served through CloudFront), behind one interface. Keys are relative paths
//! such as `hls/<session>/720p/seg_00003.ts` or `recordings/<session>/<id>.mp4`,
//! the same layout as the data directory.

pub mod aws;
pub mod cloudfront;
mod delivery;
mod disk;
mod local;
mod s3;
pub mod setup;
pub mod spool;

pub use delivery::Delivery;
pub use disk::{DiskGuard, DiskStatus};
pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};
pub use setup::{Backend, CdnConfig, Invalidation, StorageConfig};
pub use spool::{Backlog, FailedUpload, Uploads, UploadsSettings};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
    #[error("CloudFront: {0}")]
    CloudFront(String),
    #[error("invalid storage key {0:?}")]
    Key(String),
}

/// A CDN that can drop cached copies of paths (CloudFront).
pub trait Invalidate: Send + Sync {
    /// Requests the invalidation; the CDN's id for it.
    fn invalidate<'a>(
        &'a self,
        paths: &'a [String],
        reference: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<String, StorageError>>;
}

/// HTTP headers an object is stored with, for the CDN and browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: String,
    pub cache_control: String,
}

/// Segments and recordings never change once written.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Live playlists change every segment.
pub const LIVE_PLAYLIST: &str = "public, max-age=1";
/// Final (VOD) playlists and the master; invalidated when a publish ends.
pub const FINAL_PLAYLIST: &str = "public, max-age=300";

impl ObjectMeta {
    /// Content type and caching from the key's extension; `live` for playlists
    /// that will still change.
    pub fn for_key(key: &str, live: bool) -> Self {
        let (content_type, cache_control) = match key.rsplit('.').next().unwrap_or_default() {
            "ts" => ("video/mp2t", IMMUTABLE),
            "mp4" => ("video/mp4", IMMUTABLE),
            "m3u8" if live => ("application/vnd.apple.mpegurl", LIVE_PLAYLIST),
            "m3u8" => ("application/vnd.apple.mpegurl", FINAL_PLAYLIST),
            _ => ("application/octet-stream", FINAL_PLAYLIST),
        };
        ObjectMeta {
            content_type: content_type.into(),
            cache_control: cache_control.into(),
        }
    }
}

/// Keys are relative, `/`-separated, without `.`/`..` parts: they become
/// paths under the local root.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::Key(key.into()))
    }
}

pub fn hls_key(session_id: &str, relative: &str) -> String {
    format!("hls/{session_id}/{relative}")
}

pub fn hls_prefix(session_id: &str) -> String {
    format!("hls/{session_id}/")
}

pub fn recording_key(session_id: &str, recording_id: &str) -> String {
    format!("recordings/{session_id}/{recording_id}.mp4")
}

/// What an object is made of: a file (segments, recordings) or bytes in
/// memory (playlists).
pub enum Payload<'a> {
    File(&'a Path),
    Bytes(Vec<u8>),
}

#[derive(Clone)]
pub enum Storage {
    Local(Arc<LocalStore>),
    S3(Arc<S3Store>),
}

impl Storage {
    pub fn name(&self) -> &'static str {
        match self {
            Storage::Local(_) => "local",
            Storage::S3(_) => "s3",
        }
    }

    /// Local storage *is* the data directory: files the server writes there
    /// need no upload.
    pub fn is_local(&self) -> bool {
        matches!(self, Storage::Local(_))
    }

    /// Stores `payload` under `key`; the bytes stored.
    pub async fn put(
        &self,
        key: &str,
        payload: Payload<'_>,
        meta: &ObjectMeta,
    ) -> Result<u64, StorageError> {
        check_key(key)?;
        match (self, payload) {
            (Storage::Local(s), Payload::File(path)) => s.put_file(key, path).await,
            (Storage::Local(s), Payload::Bytes(bytes)) => s.put_bytes(key, &bytes).await,
            (Storage::S3(s), Payload::File(path)) => s.put_file(key, path, meta).await,
            (Storage::S3(s), Payload::Bytes(bytes)) => s.put_bytes(key, bytes, meta).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        match self {
            Storage::Local(s) => s.delete(key).await,
            Storage::S3(s) => s.delete(key).await,
        }
    }

    /// Deletes every object under `prefix` (which ends with `/`); how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        check_key(prefix.trim_end_matches('/'))?;
        match self {
            Storage::Local(s) => s.delete_prefix(prefix).await,
            Storage::S3(s) => s.delete_prefix(prefix).await,
        }
    }

    /// A time-limited URL for an S3 object (presigned); `None` for local
    /// storage, whose files the server serves itself.
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        match self {
            Storage::Local(_) => Ok(None),
            Storage::S3(s) => s.presigned_get(key, ttl).await.map(Some),
        }
    }

    /// The object's path in the bucket (with the configured prefix), as the
    /// CDN sees it.
    pub fn object_path(&self, key: &str) -> String {
        match self {
            Storage::Local(_) => key.to_owned(),
            Storage::S3(s) => s.full_key(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_relative() {
        assert!(check_key("hls/s1/720p/seg_00001.ts").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a/"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_follow_the_kind_of_file() {
        assert_eq!(
            ObjectMeta::for_key("a/seg_1.ts", true).cache_control,
            IMMUTABLE
        );
        assert_eq!(
            ObjectMeta::for_key("a/index.m3u8", true).cache_control,
            LIVE_PLAYLIST
        );
        assert_eq!(
            ObjectMeta::for_key("a/index.m3u8", false).cache_control,
            FINAL_PLAYLIST
        );
        assert_eq!(
            ObjectMeta::for_key("r/x.mp4", false).content_type,
            "video/mp4"
        );
    }
}
