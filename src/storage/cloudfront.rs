//! CloudFront: signed URLs (canned policy) and invalidations.
// TEMPORARY STUB by the integrator so the crate compiles; the helper owning
// this file replaces it entirely.

use std::path::Path;

use super::StorageError;

pub struct UrlSigner;

impl UrlSigner {
    pub fn from_pem_file(_key_pair_id: &str, _path: &Path) -> Result<Self, StorageError> {
        Err(StorageError::Config("stub".into()))
    }
    pub fn sign(&self, url: &str, _expires: i64) -> String {
        url.to_owned()
    }
}

pub struct Invalidator;

impl Invalidator {
    pub fn new(
        _sdk: &aws_config::SdkConfig,
        _distribution_id: String,
        _endpoint: Option<String>,
    ) -> Self {
        Invalidator
    }
    pub async fn invalidate(
        &self,
        _paths: &[String],
        _reference: &str,
    ) -> Result<String, StorageError> {
        Err(StorageError::CloudFront("stub".into()))
    }
}
