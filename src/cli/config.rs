//! The one place where flags become each layer's configuration.

use crate::auth::{AuthConfig, KeySource, TokenRules};
use crate::control::broker::BrokerConfig;
use crate::egress::forward::ForwardConfig;
use crate::egress::EgressConfig;
use crate::http::serve::ConnLimits;
use crate::http::RateConfig;
use crate::ingest::IngestConfig;
use crate::media::ice::IceServer;
use crate::media::VideoCodecPref;
use crate::rtc::PeerConfig;
use crate::server::{Config, HlsSetup, HttpConfig, Retention, ServerError, Site};
use crate::storage::{
    Backend, CdnConfig, Invalidation, S3Settings, StorageConfig, UploadsSettings,
};

use super::{AuthArgs, ServeArgs, StorageArgs, StorageBackend, StoreArgs, VideoCodec};

impl From<VideoCodec> for VideoCodecPref {
    fn from(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::H264 => VideoCodecPref::H264,
            VideoCodec::Vp8 => VideoCodecPref::Vp8,
        }
    }
}

impl From<StorageBackend> for Backend {
    fn from(backend: StorageBackend) -> Self {
        match backend {
            StorageBackend::Local => Backend::Local,
            StorageBackend::S3 => Backend::S3,
        }
    }
}

/// An empty value (an environment variable set to "") means unset.
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|s| !s.is_empty())
}

impl From<&AuthArgs> for AuthConfig {
    fn from(args: &AuthArgs) -> Self {
        // Key files win over a secret.
        let keys = match (
            &args.jwt_key_file,
            &args.jwt_public_key_file,
            &args.jwt_secret,
        ) {
            (None, None, Some(secret)) => KeySource::Secret(secret.clone()),
            (None, None, None) => KeySource::Generated,
            (private_key, public_key, _) => KeySource::Rsa {
                private_key: private_key.clone(),
                public_key: public_key.clone(),
            },
        };
        AuthConfig {
            keys,
            rules: TokenRules {
                max_lifetime: args.jwt_max_lifetime,
                issuer: non_empty(&args.jwt_issuer),
                audience: non_empty(&args.jwt_audience),
            },
        }
    }
}

impl From<&StorageArgs> for StorageConfig {
    fn from(args: &StorageArgs) -> Self {
        StorageConfig {
            backend: args.storage.into(),
            s3: S3Settings {
                bucket: args.s3_bucket.clone(),
                prefix: args.s3_prefix.clone(),
                region: args.s3_region.clone(),
                endpoint: args.s3_endpoint.clone(),
                path_style: args.s3_path_style,
            },
            uploads: UploadsSettings {
                concurrency: args.upload_concurrency,
                retry_max: args.upload_retry_max,
                max_attempts: args.upload_max_attempts,
            },
            cdn: CdnConfig {
                url: args.cdn_url.clone(),
                key_pair_id: args.cloudfront_key_pair_id.clone(),
                private_key_file: args.cloudfront_private_key_file.clone(),
                unsigned: args.cdn_unsigned,
                invalidation: non_empty(&args.cloudfront_distribution_id).map(|id| Invalidation {
                    distribution_id: id,
                    endpoint: args.cloudfront_endpoint.clone(),
                }),
            },
            playback_url_ttl: args.playback_url_ttl,
        }
    }
}

impl StoreArgs {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("classcast.db").display()
            ),
        }
    }
}

/// Fails on an ICE server or broker URL that does not parse.
impl TryFrom<&ServeArgs> for Config {
    type Error = ServerError;

    fn try_from(args: &ServeArgs) -> Result<Self, ServerError> {
        let ice_servers = args
            .ice_servers
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| IceServer::parse(s.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let storage = &args.storage;
        Ok(Config {
            data_dir: args.store.data_dir.clone(),
            database_url: args.store.database_url(),
            auth: (&args.auth).into(),
            storage: storage.into(),
            retention: Some(Retention {
                recordings: storage.recording_retention,
                unrecorded_hls_ttl: storage.unrecorded_hls_ttl,
            }),
            min_free_disk: storage.min_free_disk_mb.saturating_mul(1024 * 1024),
            ingest: IngestConfig {
                peer: PeerConfig {
                    ice_servers: ice_servers.clone(),
                    ice_gather_timeout: args.ice_gather_timeout,
                    connect_timeout: args.connect_timeout,
                },
                media_timeout: args.media_timeout,
                prefer_video_codec: args.prefer_video_codec.into(),
                max_publishes_per_user: args.max_publishes_per_user,
                max_stage_publishes: usize::from(args.max_stage_publishes),
            },
            egress: EgressConfig {
                peer: PeerConfig {
                    ice_servers,
                    connect_timeout: args.connect_timeout,
                    ..EgressConfig::default().peer
                },
                rtcp_timeout: args.viewer_rtcp_timeout,
                adapt: args.viewer_adaptation,
                max_views_per_user: args.max_views_per_user,
                forward: (args.webrtc_egress == super::WebrtcEgress::Forward).then(|| {
                    ForwardConfig {
                        udp_port: args.webrtc_udp_port,
                        addresses: args.webrtc_addresses.clone(),
                    }
                }),
            },
            broker: BrokerConfig::from_url(&args.broker)?,
            site: Site {
                listen: args.listen,
                public_url: args.public_url.clone(),
                instance: args.instance.clone(),
            },
            hls: HlsSetup {
                enabled: !args.disable_hls,
                ladder: args.ladder.clone(),
            },
            demo: args.demo,
            http: HttpConfig {
                max_sdp_bytes: args.max_sdp_bytes,
                max_webrtc_viewers: args.max_webrtc_viewers,
                max_sessions_per_instructor: args.max_sessions_per_instructor,
                player_dir: args.player_dir.clone(),
                metrics_token: non_empty(&args.metrics_token),
                rate: RateConfig {
                    per_ip: args.rate_limit_ip,
                    per_user: args.rate_limit_user,
                    auth_failures: args.rate_limit_auth_failures,
                    invite_redeems: args.rate_limit_invite_redeems,
                    position_writes: args.rate_limit_position_writes,
                    trust_forwarded_for: args.trust_forwarded_for,
                },
                connections: ConnLimits {
                    header_timeout: args.http_header_timeout,
                    body_timeout: args.http_body_timeout,
                    max_connections: args.max_connections,
                    max_per_ip: args.max_connections_per_ip,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::setup::check_delivery;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        storage: StorageArgs,
    }

    fn args(extra: &[&str]) -> StorageConfig {
        let mut argv = vec!["t", "--storage", "s3", "--s3-bucket", "b"];
        argv.extend_from_slice(extra);
        (&Wrap::parse_from(argv).storage).into()
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
