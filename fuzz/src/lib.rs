//! Fuzz targets for as2-proto. The target bodies live in [`targets`], a plain module
//! with no fuzzing dependency, so that `tests/fuzz_regressions.rs` replays crash inputs
//! through exactly the same code in the normal `cargo test`.

pub mod targets;
