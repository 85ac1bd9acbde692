//! S3 (and S3-compatible stores: MinIO, moto, …) through aws-sdk-s3.
//! Credentials come from the usual AWS chain (environment, profile, web
//! identity, instance metadata).

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;

use super::{ObjectMeta, StorageError};

/// Files above this go up in parts (a single PUT tops out at 5 GB, and a
/// failed part is cheaper to retry than a whole recording).
const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
const PART_SIZE: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub bucket: String,
    /// Prepended to every key, e.g. `classcast/`.
    pub prefix: String,
    pub region: Option<String>,
    /// Custom endpoint (MinIO, moto, …).
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible
    /// stores need.
    pub path_style: bool,
}

#[derive(Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

fn remote<E: std::error::Error>(what: &str, e: E) -> StorageError {
    StorageError::Remote(format!("{what}: {}", DisplayErrorContext(&e)))
}

impl S3Store {
    pub async fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        if settings.bucket.is_empty() {
            return Err(StorageError::Config("S3 storage needs a bucket".into()));
        }
        let sdk = super::aws::sdk_config(settings.region.clone()).await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.path_style)
            // A store that is down must fail fast: the spool retries later.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .read_timeout(Duration::from_secs(30))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            // Checksums only where S3 requires them: the default sends bodies
            // `aws-chunked` with trailing checksums, which many S3-compatible
            // stores (older MinIO, moto, Ceph) store verbatim.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let mut prefix = settings.prefix.trim_matches('/').to_owned();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            prefix,
        })
    }

    pub fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        meta: &ObjectMeta,
    ) -> Result<u64, StorageError> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| StorageError::Io(path.display().to_string(), e))?
            .len();
        if size > MULTIPART_THRESHOLD {
            self.put_multipart(key, path, size, meta).await?;
            return Ok(size);
        }
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| remote(&path.display().to_string(), e))?;
        self.put(key, body, size, meta).await
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        size: u64,
        meta: &ObjectMeta,
    ) -> Result<u64, StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_type(&meta.content_type)
            .cache_control(&meta.cache_control)
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| remote(&format!("PUT {key}"), e))?;
        Ok(size)
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        meta: &ObjectMeta,
    ) -> Result<(), StorageError> {
        let full = self.full_key(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(&meta.content_type)
            .cache_control(&meta.cache_control)
            .send()
            .await
            .map_err(|e| remote(&format!("multipart {key}"), e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StorageError::Remote(format!("multipart {key}: no upload id")))?
            .to_owned();
        let result = async {
            let mut parts = Vec::new();
            let mut offset = 0;
            let mut number = 1;
            while offset < size {
                let length = PART_SIZE.min(size - offset);
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|e| remote(&path.display().to_string(), e))?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&full)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(length as i64)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| remote(&format!("part {number} of {key}"), e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                );
                offset += length;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&full)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| remote(&format!("complete {key}"), e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Parts of an abandoned upload are billed until aborted.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&full)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        meta: &ObjectMeta,
    ) -> Result<u64, StorageError> {
        let size = bytes.len() as u64;
        self.put(key, ByteStream::from(bytes), size, meta).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| remote(&format!("DELETE {key}"), e))?;
        Ok(())
    }

    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let full = self.full_key(prefix);
        let mut deleted = 0;
        loop {
            // Listing again after each batch: deleting changes the listing.
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| remote(&format!("LIST {prefix}"), e))?;
            let ids: Vec<ObjectIdentifier> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            if ids.is_empty() {
                return Ok(deleted);
            }
            let count = ids.len() as u64;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| remote("delete request", e))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| remote(&format!("DELETE {prefix}*"), e))?;
            deleted += count;
        }
    }

    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| remote("presign", e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .presigned(config)
            .await
            .map_err(|e| remote(&format!("presign {key}"), e))?;
        Ok(request.uri().to_owned())
    }
}
