//! trellis-cli
