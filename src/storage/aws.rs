//! Shared AWS SDK configuration: the usual credential chain, HTTPS on rustls
//! with ring (the crypto the rest of the server already links).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Credentials and region from the environment, profile files, web identity or
/// instance metadata; `region` overrides the chain's.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}
