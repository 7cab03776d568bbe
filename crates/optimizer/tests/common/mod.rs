//! Shared test helpers: rung-testkit's module, and the optimizing tier.
#![allow(dead_code)]

use rung_optimizer::OptimizingTier;
pub use rung_testkit::Module;

pub fn tier() -> OptimizingTier {
    OptimizingTier::new().expect("host ISA")
}
