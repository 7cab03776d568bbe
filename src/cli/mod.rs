//! One module per `rung` subcommand.

pub mod inspect;
pub mod validate;
pub mod wast;
