//! rung-optimizer: the optimizing tier on Cranelift. Only its place in the
//! workspace exists yet; the translator is issue 3.
