//! Object storage: where segments, playlists and recordings end up. A local
//! directory (the embedded default, served by classcast itself) or an S3 bucket
//! (served through CloudFront), behind one interface.

pub mod cloudfront;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
    #[error("CloudFront: {0}")]
    CloudFront(String),
}
