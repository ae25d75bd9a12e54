//! Setting a service up on Sinch's side and keeping it right: the management API client, the
//! webhook sync plan, the doctor's checks and the webhook-secret rotation. Used by `bridgectl`
//! and the secret-rotation function; none of it is on a message path.

pub mod doctor;
pub mod management;
pub mod rotation;
pub mod service_document;
pub mod sync;
pub mod webhooks;
