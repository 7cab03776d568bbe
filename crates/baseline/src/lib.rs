//! rung-baseline: the single-pass baseline tier. Only its place in the
//! workspace exists yet; the compiler is issue 4.
