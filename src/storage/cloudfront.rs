//! CloudFront: signed URLs with a canned policy (so learners replay through
//! the CDN without the bucket being public) and invalidations (so the CDN
//! serves the final VOD playlists once a publish ends).

use std::path::Path;
use std::time::Duration;

use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::config::Region;
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
    /// console and `openssl genrsa -traditional` give) or PKCS#8 (`BEGIN
    /// PRIVATE KEY`, what OpenSSL 3 `genrsa` gives).
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, StorageError> {
        let key_pair_id = key_pair_id.trim();
        if key_pair_id.is_empty() {
            return Err(StorageError::Config("empty CloudFront key pair id".into()));
        }
        // Ids are like `K2JCJMDEHXQW5F` (or legacy `APKA…`); they go into the
        // URL unescaped, so anything else is a configuration mistake.
        if !key_pair_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(StorageError::Config(format!(
                "CloudFront key pair id {key_pair_id:?} is not alphanumeric"
            )));
        }
        // The PEM parser wants the boundary first: tolerate blank lines and
        // indentation around it (keys pasted into config files).
        let pem = pem.trim();
        let bad = |why: String| {
            StorageError::Config(format!(
                "the CloudFront private key is unusable: {why} (expected an unencrypted RSA \
                 private key in PEM, PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`)"
            ))
        };
        // Encrypted first: legacy encrypted PKCS#1 keeps the RSA label.
        let key = if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || pem.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(bad(
                "it is encrypted; decrypt it with `openssl rsa -in KEY -out KEY.plain`".into(),
            ));
        } else if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| bad(format!("PKCS#1: {e}")))?
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| bad(format!("PKCS#8: {e}")))?
        } else if pem.contains("PUBLIC KEY-----") {
            return Err(bad(
                "it is a public key; signing needs the private key of the pair".into(),
            ));
        } else {
            return Err(bad("no PEM private key block".into()));
        };
        Ok(UrlSigner {
            key_pair_id: key_pair_id.to_owned(),
            key: SigningKey::new(key),
        })
    }

    /// The id CloudFront looks the public key up by (`Key-Pair-Id`).
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    pub fn from_pem_file(key_pair_id: &str, path: &Path) -> Result<Self, StorageError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| StorageError::Io(path.display().to_string(), e))?;
        Self::from_pem(key_pair_id, &pem)
    }

    /// `url` with `Expires`, `Signature` and `Key-Pair-Id` appended (after
    /// `&` when it already has a query, which stays part of the signed
    /// resource). `url` is signed as given: it must already be percent-encoded
    /// the way the viewer will request it.
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
        // CloudFront is global (signed in us-east-1): a missing region must
        // not stop invalidations when the bucket's region came from elsewhere.
        if sdk.region().is_none() {
            config = config.region(Region::from_static("us-east-1"));
        }
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
        // CloudFront rejects an empty batch; say so without a round trip.
        if paths.is_empty() {
            return Err(StorageError::CloudFront("no paths to invalidate".into()));
        }
        let quantity = i32::try_from(paths.len())
            .map_err(|_| StorageError::CloudFront("too many paths to invalidate".into()))?;
        let paths = Paths::builder()
            .quantity(quantity)
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
        out.invalidation()
            .map(|i| i.id().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| StorageError::CloudFront("no invalidation id in the response".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::signature::Verifier;

    use super::*;

    /// One small key for all tests: the signature scheme does not depend on
    /// the size, and 1024-bit generation keeps debug test runs fast.
    fn key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("keygen"))
    }

    fn pkcs1() -> String {
        key().to_pkcs1_pem(LineEnding::LF).expect("pem").to_string()
    }

    fn pkcs8() -> String {
        key().to_pkcs8_pem(LineEnding::LF).expect("pem").to_string()
    }

    /// (resource, expires, signature, key pair id) from a signed URL.
    fn split(signed: &str) -> (String, i64, String, String) {
        let (head, id) = signed.rsplit_once("&Key-Pair-Id=").expect("Key-Pair-Id");
        let (head, sig) = head.rsplit_once("&Signature=").expect("Signature");
        let (resource, expires) = head
            .rsplit_once("?Expires=")
            .or_else(|| head.rsplit_once("&Expires="))
            .expect("Expires");
        (
            resource.to_owned(),
            expires.parse().expect("epoch"),
            sig.to_owned(),
            id.to_owned(),
        )
    }

    fn verifies(resource: &str, expires: i64, sig: &str) -> bool {
        let b64: String = sig
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '=',
                '~' => '/',
                c => c,
            })
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        let sig = Signature::try_from(raw.as_slice()).expect("signature");
        VerifyingKey::<sha1::Sha1>::new(key().to_public_key())
            .verify(canned_policy(resource, expires).as_bytes(), &sig)
            .is_ok()
    }

    #[test]
    fn the_policy_is_compact_json() {
        assert_eq!(
            canned_policy("https://d.example/a b.mp4", 1700000000),
            r#"{"Statement":[{"Resource":"https://d.example/a b.mp4","Condition":{"DateLessThan":{"AWS:EpochTime":1700000000}}}]}"#
        );
        assert_eq!(url_safe("a+b/c=="), "a-b~c__");
    }

    #[test]
    fn signed_urls_carry_expiry_signature_and_key_pair_id() {
        let url = "https://d111.cloudfront.net/recordings/s1/r1.mp4";
        for pem in [pkcs1(), pkcs8()] {
            let signer = UrlSigner::from_pem("K2JCJMDEHXQW5F", &pem).expect("key");
            let signed = signer.sign(url, 1_900_000_000);
            assert!(
                signed.starts_with(&format!("{url}?Expires=1900000000&Signature=")),
                "{signed}"
            );
            let (resource, expires, sig, id) = split(&signed);
            assert_eq!((resource.as_str(), expires), (url, 1_900_000_000));
            assert_eq!(id, "K2JCJMDEHXQW5F");
            // Only URL-safe characters: the mapping replaced + = /.
            assert!(
                sig.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_~".contains(c)),
                "{sig}"
            );
            // 1024-bit signature: 128 bytes, 172 base64 characters, the
            // last one the `=` padding mapped to `_`.
            assert_eq!(sig.len(), 172);
            assert!(sig.ends_with('_') && !sig.ends_with("__"), "{sig}");
            assert!(verifies(&resource, expires, &sig));
            assert!(!verifies(&resource, expires + 1, &sig));
            assert!(!verifies(
                "https://d111.cloudfront.net/other.mp4",
                expires,
                &sig
            ));
        }
    }

    #[test]
    fn an_existing_query_is_joined_with_an_ampersand_and_signed() {
        let signer = UrlSigner::from_pem("K1", &pkcs1()).expect("key");
        let url = "https://d111.cloudfront.net/a.mp4?part=1";
        let signed = signer.sign(url, 1_900_000_000);
        assert!(signed.starts_with(&format!("{url}&Expires=")), "{signed}");
        let (resource, expires, sig, _) = split(&signed);
        assert_eq!(resource, url);
        assert!(verifies(url, expires, &sig));
        assert!(!verifies(
            "https://d111.cloudfront.net/a.mp4",
            expires,
            &sig
        ));
    }

    #[test]
    fn keys_are_read_with_surrounding_whitespace_and_from_files() {
        let padded = format!("\n  {}\n\n", pkcs1());
        assert!(UrlSigner::from_pem("K1", &padded).is_ok());
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k.pem");
        std::fs::write(&path, pkcs8()).expect("write");
        let signer = UrlSigner::from_pem_file(" K1 ", &path).expect("key file");
        assert_eq!(signer.key_pair_id(), "K1");
    }

    fn config_error(r: Result<UrlSigner, StorageError>) -> String {
        match r {
            Err(StorageError::Config(m)) => m,
            Err(e) => panic!("not a configuration error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn bad_keys_are_configuration_errors() {
        let m = config_error(UrlSigner::from_pem("K1", "not a key"));
        assert!(m.contains("no PEM private key block"), "{m}");
        assert!(m.contains("BEGIN RSA PRIVATE KEY"), "{m}");

        // Right label, broken body.
        let broken = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let m = config_error(UrlSigner::from_pem("K1", broken));
        assert!(m.contains("PKCS#1"), "{m}");
        let truncated: String = pkcs8().lines().take(4).collect::<Vec<_>>().join("\n");
        let m = config_error(UrlSigner::from_pem("K1", &truncated));
        assert!(m.contains("PKCS#8"), "{m}");

        let public =
            rsa::pkcs8::EncodePublicKey::to_public_key_pem(&key().to_public_key(), LineEnding::LF)
                .expect("pem");
        let m = config_error(UrlSigner::from_pem("K1", &public));
        assert!(m.contains("public key"), "{m}");
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let m = config_error(UrlSigner::from_pem("K1", encrypted));
        assert!(m.contains("encrypted"), "{m}");

        config_error(UrlSigner::from_pem("", &pkcs1()));
        config_error(UrlSigner::from_pem("K1&x=y", &pkcs1()));
        assert!(matches!(
            UrlSigner::from_pem_file("K1", Path::new("/nonexistent/key.pem")),
            Err(StorageError::Io(..))
        ));
    }

    #[tokio::test]
    async fn an_empty_invalidation_fails_without_a_request() {
        // Endpoint on a closed port: a request would fail differently.
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let inv = Invalidator::new(&sdk, "E1".into(), Some("http://127.0.0.1:9".into()));
        match inv.invalidate(&[], "ref").await {
            Err(StorageError::CloudFront(m)) => assert!(m.contains("no paths"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
