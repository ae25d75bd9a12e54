//! Tools around the bridge: the local loop (`local-bridge`), the mock Conversation API it
//! runs, and the operator CLI (`bridgectl`). None of this ships in the function binaries; it
//! runs the very same handler code Lambda runs.

pub mod aws;
pub mod cli;
pub mod http;
pub mod local;
pub mod mock;
pub mod samples;
pub mod stack;
pub mod ulid;
