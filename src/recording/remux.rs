//! TS segments → one MP4 with `moov` in front.
