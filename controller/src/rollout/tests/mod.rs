//! Tests of the rollout's internals (the trackers, the completion rules),
//! kept inside the crate so those modules need not be public. The tests of
//! what users call (`execute`, the binary) are in `controller/tests/`.

#[path = "../../../tests/fixtures/rollout/fake_api.rs"]
mod fake_api;

mod complete;
mod track;
