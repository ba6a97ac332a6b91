//! End-to-end tests: each starts the real `gatehouse` binary on a temporary data directory
//! and port 0, and drives it over HTTP as an operator's tools would.

// A test binary exports nothing: `pub` in support marks what the test modules share.
#![allow(unreachable_pub)]
// Test code: a panic with its location is the right failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_tls;
mod certificates;
mod cli;
mod cluster;
mod corpus;
mod demo;
mod differential;
mod edge;
mod entities;
mod faults;
mod framing;
mod front_door;
mod gateway;
mod lifecycle;
mod policies;
mod portal;
mod probe;
mod reliability;
mod roles;
mod secrets;
mod security;
mod storage;
mod support;
mod upstreams;
