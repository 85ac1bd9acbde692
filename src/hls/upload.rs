//! Pushes one session's ladder to object storage as it is written: segments
//! first, then the playlists that list them (the spool keeps that order), and
//! a CDN invalidation when the publish ends so the CDN serves the final VOD.

use std::path::Path;

use crate::ids::SessionId;
use crate::storage::{hls_key, ObjectMeta, Uploads};

#[derive(Clone)]
pub struct HlsUploader {
    uploads: Uploads,
    session_id: SessionId,
}

impl HlsUploader {
    pub fn new(uploads: Uploads, session_id: &str) -> Self {
        HlsUploader {
            uploads,
            session_id: session_id.into(),
        }
    }

    pub async fn segment(&self, relative: &str, path: &Path) {
        let key = hls_key(&self.session_id, relative);
        let meta = ObjectMeta::for_key(&key, false);
        if let Err(e) = self
            .uploads
            .enqueue_file(&self.session_id, &key, path, &meta, None)
            .await
        {
            tracing::error!(%key, "cannot spool segment for upload: {e}");
        }
    }

    /// `live`: the playlist will change again (short CDN caching).
    pub async fn playlist(&self, relative: &str, bytes: &[u8], live: bool) {
        let key = hls_key(&self.session_id, relative);
        let meta = ObjectMeta::for_key(&key, live);
        let body = String::from_utf8_lossy(bytes).into_owned();
        if let Err(e) = self
            .uploads
            .enqueue_playlist(&self.session_id, &key, body, &meta)
            .await
        {
            tracing::error!(%key, "cannot spool playlist for upload: {e}");
        }
    }

    /// The publish ended: once the final playlists are up, the CDN drops its
    /// cached live versions.
    pub async fn ended(&self) {
        let path = format!(
            "/{}*",
            self.uploads
                .storage()
                .object_path(&crate::storage::hls_prefix(&self.session_id))
        );
        if let Err(e) = self
            .uploads
            .enqueue_invalidation(&self.session_id, vec![path])
            .await
        {
            tracing::error!(session = %self.session_id, "cannot spool the CDN invalidation: {e}");
        }
    }
}
