//! The analyzer's integration tests, linked into one binary.
//!
//! Every test binary that touches the analyzer links polars; one binary
//! instead of five keeps a debug build's link time and disk use down (CI
//! machines have a bounded disk). The lab ground-truth test stays a binary
//! of its own (`tests/lab_ground_truth.rs`): its timing slack assumes it
//! does not share the two cores with these tests.

mod auto_merge;
mod bad_input;
mod cli;
mod common;
mod connections;
mod control;
mod golden;
mod html;
mod keepalive_results;
mod modes;
mod outputs;
mod properties;
mod real_results;
mod truth;
mod windows;
