//! API Gateway events as Lambda receives them: the function crate's own builder, shared with
//! the local loop and the fuzz targets.

pub use webhook_ingest::apigw::{Payload, webhook_event};
