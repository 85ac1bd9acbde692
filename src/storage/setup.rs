//! Storage, CDN and spool settings from the command line / environment.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
        max_attempts: args.upload_max_attempts.max(1),
    };
    if args.storage == StorageBackend::Local {
        return Ok(StorageSetup {
            storage: Storage::Local(Arc::new(LocalStore::new(data_dir.to_path_buf()))),
            delivery: Delivery::local(args.playback_url_ttl),
            invalidator: None,
            uploads,
        });
    }
    check_delivery(args)?;
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
        _ => None,
    };
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

/// The longest an S3 presigned URL may live (SigV4).
pub const PRESIGN_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Playback settings that would hand out URLs nobody meant: refused at start
/// rather than discovered by a viewer.
pub fn check_delivery(args: &StorageArgs) -> Result<(), StorageError> {
    let key_pair = (
        args.cloudfront_key_pair_id.is_some(),
        args.cloudfront_private_key_file.is_some(),
    );
    match (args.cdn_url.is_some(), key_pair) {
        (_, (true, false)) | (_, (false, true)) => Err(StorageError::Config(
            "CloudFront signed URLs need both --cloudfront-key-pair-id and \
             --cloudfront-private-key-file"
                .into(),
        )),
        (false, (true, true)) => Err(StorageError::Config(
            "CloudFront signed URLs need --cdn-url (the distribution's URL)".into(),
        )),
        // Unsigned CDN URLs never expire and reach anyone who has them.
        (true, (false, false)) if !args.cdn_unsigned => Err(StorageError::Config(
            "--cdn-url without --cloudfront-key-pair-id and --cloudfront-private-key-file \
             would hand out unsigned playback URLs that never expire; give the key pair, \
             or --cdn-unsigned if the CDN is meant to be public"
                .into(),
        )),
        // Without a CDN, playback URLs are S3 presigned URLs, which S3 caps.
        (false, _) if args.playback_url_ttl > PRESIGN_MAX => Err(StorageError::Config(format!(
            "--playback-url-ttl {} is longer than 7 days, the longest an S3 presigned URL \
             may live; shorten it, or serve through --cdn-url with CloudFront signed URLs",
            humantime::format_duration(args.playback_url_ttl)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        storage: StorageArgs,
    }

    fn args(extra: &[&str]) -> StorageArgs {
        let mut argv = vec!["t", "--storage", "s3", "--s3-bucket", "b"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).storage
    }

    fn refused(extra: &[&str]) -> String {
        match check_delivery(&args(extra)) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{extra:?} was accepted"),
        }
    }

    #[test]
    fn a_cdn_without_a_key_pair_needs_an_explicit_flag() {
        let cdn = ["--cdn-url", "https://d1.cloudfront.net"];
        let e = refused(&cdn);
        for flag in [
            "--cloudfront-key-pair-id",
            "--cloudfront-private-key-file",
            "--cdn-unsigned",
        ] {
            assert!(e.contains(flag), "{e}");
        }
        assert!(check_delivery(&args(&[&cdn[..], &["--cdn-unsigned"]].concat())).is_ok());
        let signed = [
            "--cloudfront-key-pair-id",
            "K1",
            "--cloudfront-private-key-file",
            "/k.pem",
        ];
        assert!(check_delivery(&args(&[&cdn[..], &signed[..]].concat())).is_ok());
        assert!(refused(&signed).contains("--cdn-url"));
        assert!(refused(&[&cdn[..], &signed[..2]].concat()).contains("both"));
    }

    #[test]
    fn presigned_urls_live_at_most_seven_days() {
        assert!(check_delivery(&args(&["--playback-url-ttl", "7days"])).is_ok());
        let e = refused(&["--playback-url-ttl", "8days"]);
        assert!(
            e.contains("--playback-url-ttl") && e.contains("7 days"),
            "{e}"
        );
        // CloudFront signed URLs have no such cap.
        assert!(check_delivery(&args(&[
            "--playback-url-ttl",
            "30days",
            "--cdn-url",
            "https://d1.cloudfront.net",
            "--cdn-unsigned"
        ]))
        .is_ok());
    }
}
