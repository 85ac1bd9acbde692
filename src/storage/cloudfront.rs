//! CloudFront: signed URLs (canned policy) and invalidations.
