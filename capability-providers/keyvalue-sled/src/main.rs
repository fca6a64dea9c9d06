//! `trellis-provider-keyvalue-sled`: the keyvalue-sled provider as its own process, started and supervised
//! by a Trellis host (`trellis start provider file://PATH ID`).

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    trellis_provider_sdk::external::main(Arc::new(
        trellis_provider_keyvalue_sled::SledProvider::new(),
    ))
}
