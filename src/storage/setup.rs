//! Storage, CDN and spool set up from their configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::cloudfront::{Invalidator, UrlSigner};
use super::{
    Delivery, Invalidate, LocalStore, S3Settings, S3Store, Storage, StorageError, UploadsSettings,
};

/// Where HLS and recordings are stored for viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The data directory, served by classcast.
    #[default]
    Local,
    /// An S3 bucket (or S3-compatible store), served through a CDN.
    S3,
}

/// The CDN (CloudFront) in front of the bucket: its URL (without it,
/// playback URLs are S3 presigned URLs), the key pair that signs them (or
/// `unsigned`: the CDN is meant to be public, its URLs never expire), and the
/// distribution to invalidate when a publish ends.
#[derive(Debug, Clone, Default)]
pub struct CdnConfig {
    pub url: Option<String>,
    pub key_pair_id: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub unsigned: bool,
    pub invalidation: Option<Invalidation>,
}

/// A CloudFront distribution to invalidate, through the API at `endpoint`
/// (tests) or AWS's.
#[derive(Debug, Clone)]
pub struct Invalidation {
    pub distribution_id: String,
    pub endpoint: Option<String>,
}

/// Object storage, the CDN in front of it and the upload spool.
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    pub backend: Backend,
    pub s3: S3Settings,
    pub uploads: UploadsSettings,
    pub cdn: CdnConfig,
    /// Lifetime of playback URLs (signed, presigned or token-carrying).
    pub playback_url_ttl: Duration,
}

pub struct StorageSetup {
    pub storage: Storage,
    pub delivery: Delivery,
    pub invalidator: Option<Arc<dyn Invalidate>>,
    pub uploads: UploadsSettings,
}

impl Invalidate for Invalidator {
    fn invalidate<'a>(
        &'a self,
        paths: &'a [String],
        reference: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<String, StorageError>> {
        Box::pin(Invalidator::invalidate(self, paths, reference))
    }
}

pub async fn from_config(
    config: &StorageConfig,
    data_dir: &Path,
) -> Result<StorageSetup, StorageError> {
    let uploads = UploadsSettings {
        concurrency: config.uploads.concurrency.max(1),
        retry_max: config.uploads.retry_max,
        max_attempts: config.uploads.max_attempts.max(1),
    };
    if config.backend == Backend::Local {
        return Ok(StorageSetup {
            storage: Storage::Local(Arc::new(LocalStore::new(data_dir.to_path_buf()))),
            delivery: Delivery::local(config.playback_url_ttl),
            invalidator: None,
            uploads,
        });
    }
    check_delivery(config)?;
    let store = S3Store::new(&config.s3).await?;
    let cdn = &config.cdn;
    let signer = match (&cdn.key_pair_id, &cdn.private_key_file) {
        (Some(id), Some(file)) => Some(UrlSigner::from_pem_file(id, file)?),
        _ => None,
    };
    let invalidator: Option<Arc<dyn Invalidate>> = match &cdn.invalidation {
        Some(target) => {
            let sdk = super::aws::sdk_config(config.s3.region.clone()).await;
            Some(Arc::new(Invalidator::new(
                &sdk,
                target.distribution_id.clone(),
                target.endpoint.clone(),
            )))
        }
        None => None,
    };
    Ok(StorageSetup {
        storage: Storage::S3(Arc::new(store)),
        delivery: Delivery {
            cdn_url: cdn.url.clone(),
            signer,
            ttl: config.playback_url_ttl,
        },
        invalidator,
        uploads,
    })
}

/// The longest an S3 presigned URL may live (SigV4).
pub const PRESIGN_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Playback settings that would hand out URLs nobody meant: refused at start
/// rather than discovered by a viewer.
pub fn check_delivery(config: &StorageConfig) -> Result<(), StorageError> {
    let cdn = &config.cdn;
    let key_pair = (cdn.key_pair_id.is_some(), cdn.private_key_file.is_some());
    match (cdn.url.is_some(), key_pair) {
        (_, (true, false)) | (_, (false, true)) => Err(StorageError::Config(
            "CloudFront signed URLs need both --cloudfront-key-pair-id and \
             --cloudfront-private-key-file"
                .into(),
        )),
        (false, (true, true)) => Err(StorageError::Config(
            "CloudFront signed URLs need --cdn-url (the distribution's URL)".into(),
        )),
        // Unsigned CDN URLs never expire and reach anyone who has them.
        (true, (false, false)) if !cdn.unsigned => Err(StorageError::Config(
            "--cdn-url without --cloudfront-key-pair-id and --cloudfront-private-key-file \
             would hand out unsigned playback URLs that never expire; give the key pair, \
             or --cdn-unsigned if the CDN is meant to be public"
                .into(),
        )),
        // Without a CDN, playback URLs are S3 presigned URLs, which S3 caps.
        (false, _) if config.playback_url_ttl > PRESIGN_MAX => Err(StorageError::Config(format!(
            "--playback-url-ttl {} is longer than 7 days, the longest an S3 presigned URL \
             may live; shorten it, or serve through --cdn-url with CloudFront signed URLs",
            humantime::format_duration(config.playback_url_ttl)
        ))),
        _ => Ok(()),
    }
}
