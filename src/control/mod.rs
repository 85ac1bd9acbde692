//! The classroom control plane: one WebSocket per participant, one room
//! state machine per session, replicated in every server process through a
//! broker.

pub mod broker;
pub mod hub;
pub mod media_control;
pub mod protocol;
pub mod report;
pub mod room;
pub mod stored;

pub use hub::Hub;
pub use media_control::{LinkStats, MediaControl};
