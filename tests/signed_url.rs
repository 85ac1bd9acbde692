//! CloudFront: signed URLs, checked the way CloudFront does it but with
//! openssl (rebuild the canned policy from the URL, verify the RSA-SHA1
//! signature with the public key, check the expiry); and invalidations
//! against moto, with credentials from the environment.

mod common;

use std::path::Path;
use std::process::Command;

use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use classcast::storage::cloudfront::{canned_policy, Invalidator, UrlSigner};
use classcast::storage::StorageError;
use common::s3::{aws_test_env, cloudfront_client, create_distribution, invalidated_paths};
use common::MotoServer;

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl")
}

/// (private PKCS#1, private PKCS#8, public) PEM files.
fn key_pair(dir: &Path) -> (String, String, String) {
    assert!(
        openssl(&["genrsa", "-traditional", "-out", "k1.pem", "2048"], dir)
            .status
            .success()
    );
    assert!(openssl(
        &["pkcs8", "-topk8", "-nocrypt", "-in", "k1.pem", "-out", "k8.pem"],
        dir
    )
    .status
    .success());
    assert!(
        openssl(&["rsa", "-in", "k1.pem", "-pubout", "-out", "pub.pem"], dir)
            .status
            .success()
    );
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("pem");
    let pkcs1 = read("k1.pem");
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    (pkcs1, read("k8.pem"), read("pub.pem"))
}

/// What CloudFront checks: the signature over the canned policy rebuilt from
/// the URL, and that `Expires` is in the future.
fn verify_signed_url(url: &str, public_pem: &str, now: i64) -> Result<(), String> {
    let (resource, query) = url.split_once('?').ok_or("no query")?;
    let mut params: Vec<(&str, &str)> =
        query.split('&').filter_map(|p| p.split_once('=')).collect();
    let take = |params: &mut Vec<(&str, &str)>, k: &str| -> Result<String, String> {
        let i = params
            .iter()
            .position(|(n, _)| *n == k)
            .ok_or(format!("no {k}"))?;
        Ok(params.remove(i).1.to_owned())
    };
    let expires: i64 = take(&mut params, "Expires")?
        .parse()
        .map_err(|_| "bad Expires")?;
    let signature = take(&mut params, "Signature")?;
    take(&mut params, "Key-Pair-Id")?;
    let resource = if params.is_empty() {
        resource.to_owned()
    } else {
        let rest: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{resource}?{}", rest.join("&"))
    };
    let b64: String = signature
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
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("policy.json"),
        canned_policy(&resource, expires),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("sig.bin"), raw).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("pub.pem"), public_pem).map_err(|e| e.to_string())?;
    let out = openssl(
        &[
            "dgst",
            "-sha1",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.bin",
            "policy.json",
        ],
        dir.path(),
    );
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if said != "Verified OK" {
        return Err(format!(
            "openssl: {said} {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if expires <= now {
        return Err(format!("expired at {expires}, now {now}"));
    }
    Ok(())
}

fn now() -> i64 {
    classcast::time::now_ms() / 1000
}

#[test]
fn signed_urls_verify_with_openssl_and_tampering_or_expiry_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let (pkcs1, pkcs8, public) = key_pair(dir.path());
    let url = "https://d111111abcdef8.cloudfront.net/recordings/s1/r1.mp4";
    for pem in [&pkcs1, &pkcs8] {
        let signer = UrlSigner::from_pem("K2JCJMDEHXQW5F", pem).expect("key");
        let signed = signer.sign(url, now() + 3600);
        assert!(signed.starts_with(&format!("{url}?Expires=")), "{signed}");
        assert!(signed.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"), "{signed}");
        verify_signed_url(&signed, &public, now()).expect("a fresh signed URL verifies");

        // Tampered: another object, or a later expiry.
        let other = signed.replace("r1.mp4", "r2.mp4");
        assert!(
            verify_signed_url(&other, &public, now()).is_err(),
            "another resource"
        );
        let expires = signed
            .split("Expires=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .expect("Expires");
        let later = signed.replace(
            &format!("Expires={expires}"),
            &format!("Expires={}", now() + 999_999),
        );
        assert!(
            verify_signed_url(&later, &public, now()).is_err(),
            "a moved expiry"
        );
        // Expired.
        let old = signer.sign(url, now() - 10);
        let err = verify_signed_url(&old, &public, now()).expect_err("expired");
        assert!(err.contains("expired"), "{err}");
    }
    // A URL that already has a query keeps it in the signed resource.
    let signer = UrlSigner::from_pem("K1", &pkcs1).expect("key");
    let signed = signer.sign(&format!("{url}?part=1"), now() + 60);
    assert!(signed.contains("?part=1&Expires="), "{signed}");
    verify_signed_url(&signed, &public, now()).expect("verifies");
    // Someone else's key does not verify.
    let dir2 = tempfile::tempdir().expect("tmp");
    let (_, _, other_public) = key_pair(dir2.path());
    assert!(verify_signed_url(&signer.sign(url, now() + 60), &other_public, now()).is_err());
}

#[tokio::test]
async fn invalidations_reach_cloudfront_with_credentials_from_the_environment() {
    // The server's path: the default chain (aws-config without its default
    // features) must still find keys and region in the environment.
    aws_test_env();
    let sdk = classcast::storage::aws::sdk_config(None).await;
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
    let creds = sdk
        .credentials_provider()
        .expect("a credential chain")
        .provide_credentials()
        .await
        .expect("credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY");
    assert_eq!(creds.access_key_id(), "testing");
    assert_eq!(creds.secret_access_key(), "testing");

    let moto = MotoServer::start();
    let distribution = create_distribution(&moto.endpoint).await;
    let invalidator = Invalidator::new(&sdk, distribution.clone(), Some(moto.endpoint.clone()));
    let id = invalidator
        .invalidate(&["/hls/s1/*".into()], "ref-1")
        .await
        .expect("invalidate");
    assert!(!id.is_empty());

    let got = cloudfront_client(&moto.endpoint)
        .get_invalidation()
        .distribution_id(&distribution)
        .id(&id)
        .send()
        .await
        .expect("get invalidation");
    let batch = got
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .expect("batch");
    assert_eq!(batch.caller_reference(), "ref-1");
    assert_eq!(
        batch.paths().map(|p| p.items().to_vec()),
        Some(vec!["/hls/s1/*".to_owned()])
    );
    assert_eq!(
        invalidated_paths(&moto.endpoint, &distribution).await,
        vec!["/hls/s1/*".to_owned()]
    );

    // Several paths in one batch.
    let paths = vec![
        "/hls/s2/master.m3u8".to_owned(),
        "/hls/s2/720p/index.m3u8".to_owned(),
    ];
    invalidator.invalidate(&paths, "ref-2").await.expect("two");
    let mut all = invalidated_paths(&moto.endpoint, &distribution).await;
    all.sort();
    assert_eq!(
        all,
        vec![
            "/hls/s1/*".to_owned(),
            "/hls/s2/720p/index.m3u8".to_owned(),
            "/hls/s2/master.m3u8".to_owned(),
        ]
    );

    // An unknown distribution is CloudFront's error, not a panic.
    let wrong = Invalidator::new(&sdk, "EDOESNOTEXIST".into(), Some(moto.endpoint.clone()));
    match wrong.invalidate(&["/x".into()], "ref-3").await {
        Err(StorageError::CloudFront(m)) => assert!(!m.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invalidations_work_without_a_region_in_the_sdk_config() {
    // CloudFront is global: the Invalidator falls back to us-east-1 when the
    // shared config has no region.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "test"),
            ),
        )
        .http_client(classcast::storage::aws::https_client())
        .build();
    assert!(sdk.region().is_none());
    let moto = MotoServer::start();
    let distribution = create_distribution(&moto.endpoint).await;
    let invalidator = Invalidator::new(&sdk, distribution.clone(), Some(moto.endpoint.clone()));
    invalidator
        .invalidate(&["/recordings/s1/*".into()], "ref-1")
        .await
        .expect("invalidate without a region");
    assert_eq!(
        invalidated_paths(&moto.endpoint, &distribution).await,
        vec!["/recordings/s1/*".to_owned()]
    );
}

/// `classcast serve` with S3 storage and `extra`: (exited by itself, stderr).
fn serve_s3(extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_classcast"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--storage", "s3", "--s3-bucket", "b", "--s3-path-style"])
        // Never contacted: the check comes before any request.
        .args(["--s3-endpoint", "http://127.0.0.1:9"])
        .args(extra)
        .env("CLASSCAST_JWT_SECRET", common::SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start classcast");
    // Either it exits (refused) or it prints the line saying it listens.
    let stdout = child.stdout.take().expect("stdout");
    let listening = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .any(|l| l.starts_with("classcast listening on "));
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let exited = !listening && !status.success();
    (exited, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn a_cdn_url_without_a_key_pair_is_refused_unless_declared_public() {
    let cdn = ["--cdn-url", "https://d111111abcdef8.cloudfront.net"];
    let (refused, log) = serve_s3(&cdn);
    assert!(refused, "started with unsigned CDN URLs: {log}");
    for flag in [
        "--cloudfront-key-pair-id",
        "--cloudfront-private-key-file",
        "--cdn-unsigned",
    ] {
        assert!(log.contains(flag), "the error names {flag}: {log}");
    }
    // Declared public: it starts.
    let (refused, log) = serve_s3(&[&cdn[..], &["--cdn-unsigned"]].concat());
    assert!(!refused, "a declared public CDN starts: {log}");

    // Presigned URLs (no CDN) cannot outlive 7 days: said at start.
    let (refused, log) = serve_s3(&["--playback-url-ttl", "30days"]);
    assert!(refused, "{log}");
    assert!(
        log.contains("--playback-url-ttl") && log.contains("7 days"),
        "{log}"
    );
}
