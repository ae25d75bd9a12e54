//! Tools around the bridge: the local loop (`local-bridge`: the template deployed into an
//! emulator, the function binaries under a Lambda Runtime API emulator), the mock
//! Conversation API it runs, and the operator CLI (`bridgectl`). None of this ships in the
//! function binaries.

pub mod aws;
pub mod cli;
pub mod http;
pub mod local;
pub mod mock;
pub mod runtime_api;
pub mod samples;
pub mod ulid;
