//! Recordings: the ladder's top rung, kept as segments while live (crash-safe),
//! remuxed into one faststart MP4 when the publish ends.

pub mod remux;
