//! TSIG signing (placeholder until written).
