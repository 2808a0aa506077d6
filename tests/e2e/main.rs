//! End-to-end tests: each starts real `weft` processes on loopback ports
//! and drives them through the CLI, the way a user would.

mod actors;
mod bad_input;
mod controller_group;
mod foundation;
mod http;
mod objects;
mod tasks;
