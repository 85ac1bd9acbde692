//! Local storage: the data directory itself. The HLS ladder and the recorder
//! already write there, so "uploading" their files is a no-op.

use std::path::{Path, PathBuf};

use super::StorageError;

#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        LocalStore { root }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub async fn put_file(&self, key: &str, src: &Path) -> Result<u64, StorageError> {
        let dst = self.path(key);
        let io = |e| StorageError::Io(dst.display().to_string(), e);
        let same = match (
            tokio::fs::canonicalize(src).await,
            tokio::fs::canonicalize(&dst).await,
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            if let Some(parent) = dst.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io)?;
            }
            let tmp = dst.with_extension("part");
            tokio::fs::copy(src, &tmp).await.map_err(io)?;
            tokio::fs::rename(&tmp, &dst).await.map_err(io)?;
        }
        Ok(tokio::fs::metadata(&dst).await.map_err(io)?.len())
    }

    pub async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<u64, StorageError> {
        let dst = self.path(key);
        let io = |e| StorageError::Io(dst.display().to_string(), e);
        if let Some(parent) = dst.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let tmp = dst.with_extension("part");
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &dst).await.map_err(io)?;
        Ok(bytes.len() as u64)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::Io(path.display().to_string(), e)),
        }
    }

    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let dir = self.path(prefix.trim_end_matches('/'));
        let mut count = 0;
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(mut entries) = tokio::fs::read_dir(&d).await else {
                continue;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                match e.file_type().await {
                    Ok(t) if t.is_dir() => stack.push(e.path()),
                    _ => count += 1,
                }
            }
        }
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StorageError::Io(dir.display().to_string(), e)),
        }
    }
}
