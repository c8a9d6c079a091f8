//! Validated, defaulted spec.
