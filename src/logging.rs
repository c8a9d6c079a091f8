//! Logging setup. (To be written.)
pub fn init_cli() {}
