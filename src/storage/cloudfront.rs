//! CloudFront: signed URLs with a canned policy (so learners replay through
//! the CDN without the bucket being public) and invalidations (so the CDN
//! serves the final VOD playlists once a publish ends).

use std::path::Path;
use std::time::Duration;

use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::error::DisplayErrorContext;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

use super::StorageError;

/// Signs URLs for one CloudFront key pair (RSA-SHA1, as CloudFront requires).
pub struct UrlSigner {
    key_pair_id: String,
    key: SigningKey<sha1::Sha1>,
}

/// The canned policy CloudFront rebuilds from a signed URL: this resource,
/// until this time (Unix seconds). No whitespace: the signature covers the
/// exact bytes.
pub fn canned_policy(url: &str, expires: i64) -> String {
    let resource = serde_json::to_string(url).unwrap_or_else(|_| format!("\"{url}\""));
    format!(
        r#"{{"Statement":[{{"Resource":{resource},"Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

/// CloudFront's URL-safe base64: `+`→`-`, `=`→`_`, `/`→`~`.
fn url_safe(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

impl UrlSigner {
    /// A PEM private key: PKCS#1 (`BEGIN RSA PRIVATE KEY`, what CloudFront's
    /// console and `openssl genrsa -traditional` give) or PKCS#8.
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, StorageError> {
        if key_pair_id.trim().is_empty() {
            return Err(StorageError::Config("empty CloudFront key pair id".into()));
        }
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|_| {
                StorageError::Config(
                    "the CloudFront private key is not an RSA private key in PEM (PKCS#1 or PKCS#8)"
                        .into(),
                )
            })?;
        Ok(UrlSigner {
            key_pair_id: key_pair_id.trim().to_owned(),
            key: SigningKey::new(key),
        })
    }

    pub fn from_pem_file(key_pair_id: &str, path: &Path) -> Result<Self, StorageError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| StorageError::Io(path.display().to_string(), e))?;
        Self::from_pem(key_pair_id, &pem)
    }

    /// `url` with `Expires`, `Signature` and `Key-Pair-Id` appended.
    pub fn sign(&self, url: &str, expires_at_unix_secs: i64) -> String {
        let policy = canned_policy(url, expires_at_unix_secs);
        let signature = self.key.sign(policy.as_bytes()).to_vec();
        let signature = url_safe(&base64::engine::general_purpose::STANDARD.encode(signature));
        let sep = if url.contains('?') { '&' } else { '?' };
        format!(
            "{url}{sep}Expires={expires_at_unix_secs}&Signature={signature}&Key-Pair-Id={}",
            self.key_pair_id
        )
    }
}

/// Invalidations on one distribution.
pub struct Invalidator {
    client: aws_sdk_cloudfront::Client,
    distribution_id: String,
}

impl Invalidator {
    /// `endpoint` overrides the CloudFront API's (tests: moto).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        distribution_id: String,
        endpoint: Option<String>,
    ) -> Self {
        let mut config = aws_sdk_cloudfront::config::Builder::from(sdk).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        );
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Invalidator {
            client: aws_sdk_cloudfront::Client::from_conf(config.build()),
            distribution_id,
        }
    }

    /// Requests an invalidation of `paths` (each starting with `/`, `*` only
    /// at the end); `caller_reference` makes a retried request idempotent.
    /// Returns CloudFront's id for it.
    pub async fn invalidate(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String, StorageError> {
        let paths = Paths::builder()
            .quantity(paths.len() as i32)
            .set_items(Some(paths.to_vec()))
            .build()
            .map_err(|e| StorageError::CloudFront(e.to_string()))?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(caller_reference)
            .build()
            .map_err(|e| StorageError::CloudFront(e.to_string()))?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| StorageError::CloudFront(DisplayErrorContext(&e).to_string()))?;
        Ok(out
            .invalidation()
            .map(|i| i.id().to_owned())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_compact_json() {
        assert_eq!(
            canned_policy("https://d.example/a b.mp4", 1700000000),
            r#"{"Statement":[{"Resource":"https://d.example/a b.mp4","Condition":{"DateLessThan":{"AWS:EpochTime":1700000000}}}]}"#
        );
        assert_eq!(url_safe("a+b/c=="), "a-b~c__");
    }

    #[test]
    fn bad_keys_are_configuration_errors() {
        assert!(matches!(
            UrlSigner::from_pem("K1", "not a key"),
            Err(StorageError::Config(_))
        ));
        assert!(UrlSigner::from_pem_file("K1", Path::new("/nonexistent/key.pem")).is_err());
    }
}
