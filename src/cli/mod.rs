//! One module per `rung` subcommand, and `ladder`: the tier-ladder options
//! `rung run` shares with anything that builds an engine.

pub mod disas;
pub mod inspect;
pub mod ladder;
pub mod run;
pub mod stats;
pub mod stream;
pub mod trace;
pub mod validate;
pub mod wast;
