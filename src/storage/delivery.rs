//! How viewers reach stored objects: through the CDN (CloudFront, with signed
//! URLs when a key pair is configured), straight from S3 with a presigned URL,
//! or — for local storage — from classcast itself (the HTTP layer's URL).

use std::time::Duration;

use super::cloudfront::UrlSigner;
use super::{Storage, StorageError};

pub struct Delivery {
    /// The CDN's base URL in front of the bucket, e.g. `https://d111.cloudfront.net`.
    pub cdn_url: Option<String>,
    pub signer: Option<UrlSigner>,
    /// Lifetime of the playback URLs handed out.
    pub ttl: Duration,
}

impl Delivery {
    pub fn local(ttl: Duration) -> Self {
        Delivery {
            cdn_url: None,
            signer: None,
            ttl,
        }
    }

    /// The playback URL of `key`, valid until `expires_ms`; `None` when the
    /// server serves the file itself.
    pub async fn url(
        &self,
        storage: &Storage,
        key: &str,
        expires_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        if storage.is_local() {
            return Ok(None);
        }
        match &self.cdn_url {
            Some(base) => {
                let url = format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    storage.object_path(key)
                );
                Ok(Some(match &self.signer {
                    Some(signer) => signer.sign(&url, expires_ms / 1000),
                    None => url,
                }))
            }
            None => storage.presigned_get(key, self.ttl).await,
        }
    }
}
