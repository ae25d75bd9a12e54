//! The pure protocol core: what Sinch sends, what Sinch accepts, and how we name things.
//! Nothing here does I/O or reads a clock, so every rule is a unit test away.

pub mod callback;
pub mod channel;
pub mod lenient;
pub mod outbound;
pub mod region;
pub mod secret;
pub mod sender_address;
pub mod service;
pub mod signature;

pub use callback::{Trigger, classify};
pub use outbound::{EnvelopeError, OutboundMessage, parse_outbound};
pub use region::Region;
pub use secret::SecretString;
pub use sender_address::SenderAddress;
pub use service::{MessagingService, ServiceConfigError};
pub use signature::{Rejection, SignatureHeaders, WebhookSecret, sign, verify};
