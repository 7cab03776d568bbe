//! One module per `rung` subcommand.

pub mod disas;
pub mod inspect;
pub mod run;
pub mod validate;
pub mod wast;
