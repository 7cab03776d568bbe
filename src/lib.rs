//! rung: facade
