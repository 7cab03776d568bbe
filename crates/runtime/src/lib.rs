//! rung-runtime: engine, modules, instances, traps and tier-up. Only its
//! place in the workspace exists yet; it is issue 3.

pub use rung_tiering as tiering;
