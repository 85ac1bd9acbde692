//! A WHIP publisher built on webrtcbin: the demo's test pattern, and a second
//! publishing client for tests and benchmarks.

mod whip;

pub use whip::{TestPattern, WhipClient, WhipClientError, WhipClientOptions};
