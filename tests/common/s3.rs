//! Test side of object storage: an S3 client for moto, and MP4 checks.

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::Client;

pub const BUCKET: &str = "classcast-test";

/// Credentials and region for the server processes (inherited by children),
/// and no reaching out to instance metadata.
pub fn aws_test_env() {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }
}

pub fn s3_client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(classcast::storage::aws::https_client())
        .build();
    Client::from_conf(config)
}

pub async fn create_bucket(client: &Client) {
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
}

pub async fn keys(client: &Client, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        out.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = r.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

pub async fn get(client: &Client, key: &str) -> (Vec<u8>, Option<String>, Option<String>) {
    let r = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    let content_type = r.content_type().map(str::to_owned);
    let cache = r.cache_control().map(str::to_owned);
    let body = r.body.collect().await.expect("body").into_bytes().to_vec();
    (body, content_type, cache)
}

/// The top-level box types of an MP4, in file order.
pub fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let size = match size32 {
            0 => bytes.len() - at,
            1 if at + 16 <= bytes.len() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[at + 8..at + 16]);
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        out.push(kind);
        if size < 8 {
            break;
        }
        at += size;
    }
    out
}

/// What ffprobe sees in an MP4: (codec names, duration in seconds); and
/// decoding it whole prints no error.
pub fn probe_mp4(path: &Path) -> (Vec<String>, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let codecs = v["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "ffmpeg decoding: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    (codecs, duration)
}

/// moov before mdat: a browser can start playing before the download ends.
pub fn assert_faststart(bytes: &[u8]) {
    let boxes = top_level_boxes(bytes);
    let moov = boxes.iter().position(|b| b == "moov");
    let mdat = boxes.iter().position(|b| b == "mdat");
    assert!(
        matches!((moov, mdat), (Some(a), Some(b)) if a < b),
        "not faststart: {boxes:?}"
    );
}

pub fn cloudfront_client(endpoint: &str) -> aws_sdk_cloudfront::Client {
    let config = aws_sdk_cloudfront::config::Builder::new()
        .behavior_version_latest()
        .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudfront::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .http_client(classcast::storage::aws::https_client())
        .build();
    aws_sdk_cloudfront::Client::from_conf(config)
}

/// A distribution in moto, in front of the test bucket; its id.
pub async fn create_distribution(endpoint: &str) -> String {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig,
        ViewerProtocolPolicy,
    };
    let origin = Origin::builder()
        .id("bucket")
        .domain_name(format!("{BUCKET}.s3.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .expect("origin");
    let config = DistributionConfig::builder()
        .caller_reference(uuid::Uuid::new_v4().to_string())
        .comment("classcast test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("bucket")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .expect("behavior"),
        )
        .build()
        .expect("distribution config");
    let r = cloudfront_client(endpoint)
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("create distribution");
    r.distribution().expect("distribution").id().to_owned()
}

/// Paths of every invalidation made on the distribution.
pub async fn invalidated_paths(endpoint: &str, distribution: &str) -> Vec<String> {
    let client = cloudfront_client(endpoint);
    let list = client
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .expect("list invalidations");
    let mut paths = Vec::new();
    let ids: Vec<String> = list
        .invalidation_list()
        .map(|l| l.items().iter().map(|i| i.id().to_owned()).collect())
        .unwrap_or_default();
    for id in ids {
        let inv = client
            .get_invalidation()
            .distribution_id(distribution)
            .id(&id)
            .send()
            .await
            .expect("get invalidation");
        if let Some(batch) = inv.invalidation().map(|i| i.invalidation_batch()) {
            if let Some(p) = batch.and_then(|b| b.paths()) {
                paths.extend(p.items().iter().cloned());
            }
        }
    }
    paths
}
