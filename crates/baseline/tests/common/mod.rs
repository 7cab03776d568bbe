//! Shared test helpers: the test executor (`exec`), and rung-testkit's
//! module and disassembly with the baseline tier.
#![allow(dead_code)]

pub mod exec;

use rung_baseline::BaselineTier;
// Not every test binary uses both.
#[allow(unused_imports)]
pub use rung_testkit::{Module, disassemble};

pub fn tier() -> BaselineTier {
    BaselineTier::new()
}
