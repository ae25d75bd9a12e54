//! The Sinch Conversation API bridge: everything both Lambdas do, without Lambda types.
//!
//! * [`protocol`] is pure: signatures, callbacks, channels, queue addresses, regions, messaging
//!   service configuration and the outbound envelope. No I/O, no clocks (time is passed in).
//!
//! Dependencies point one way: use cases -> ports -> protocol. Adapters implement ports.

#[cfg(feature = "aws")]
pub mod adapters;
pub mod clock;
mod codes;
pub mod config;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub mod ports;
pub mod protocol;
pub mod send;
pub mod service_cache;
pub mod setup;
pub mod startup;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
