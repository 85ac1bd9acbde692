//! Storage, CDN and spool settings from the command line / environment.

use std::path::Path;
use std::sync::Arc;

use super::cloudfront::{Invalidator, UrlSigner};
use super::{
    Delivery, Invalidate, LocalStore, S3Settings, S3Store, Storage, StorageError, UploadsSettings,
};
use crate::cli::{StorageArgs, StorageBackend};

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

pub async fn from_args(args: &StorageArgs, data_dir: &Path) -> Result<StorageSetup, StorageError> {
    let uploads = UploadsSettings {
        concurrency: args.upload_concurrency.max(1),
        retry_max: args.upload_retry_max,
    };
    if args.storage == StorageBackend::Local {
        return Ok(StorageSetup {
            storage: Storage::Local(Arc::new(LocalStore::new(data_dir.to_path_buf()))),
            delivery: Delivery::local(args.playback_url_ttl),
            invalidator: None,
            uploads,
        });
    }
    let store = S3Store::new(&S3Settings {
        bucket: args.s3_bucket.clone(),
        prefix: args.s3_prefix.clone(),
        region: args.s3_region.clone(),
        endpoint: args.s3_endpoint.clone(),
        path_style: args.s3_path_style,
    })
    .await?;
    let signer = match (
        &args.cloudfront_key_pair_id,
        &args.cloudfront_private_key_file,
    ) {
        (Some(id), Some(file)) => Some(UrlSigner::from_pem_file(id, file)?),
        (None, None) => None,
        _ => {
            return Err(StorageError::Config(
                "CloudFront signed URLs need both --cloudfront-key-pair-id and \
                 --cloudfront-private-key-file"
                    .into(),
            ))
        }
    };
    if signer.is_some() && args.cdn_url.is_none() {
        return Err(StorageError::Config(
            "CloudFront signed URLs need --cdn-url (the distribution's URL)".into(),
        ));
    }
    let invalidator: Option<Arc<dyn Invalidate>> = match &args.cloudfront_distribution_id {
        Some(id) if !id.is_empty() => {
            let sdk = super::aws::sdk_config(args.s3_region.clone()).await;
            Some(Arc::new(Invalidator::new(
                &sdk,
                id.clone(),
                args.cloudfront_endpoint.clone(),
            )))
        }
        _ => None,
    };
    Ok(StorageSetup {
        storage: Storage::S3(Arc::new(store)),
        delivery: Delivery {
            cdn_url: args.cdn_url.clone(),
            signer,
            ttl: args.playback_url_ttl,
        },
        invalidator,
        uploads,
    })
}
