//! Exit codes: which sort of failure ended a command, so scripts can act
//! on it without reading the message (docs/cli.md lists them).

use std::process::ExitCode;

use trellis_lattice::ControlError;
use trellis_protocol::control::{Failure, FailureKind};

/// Any failure the codes below do not name (local files, arguments the
/// CLI itself refuses, ...).
pub(crate) const OTHER: u8 = 1;

/// The exit code for a failure sort.
pub(crate) fn for_kind(kind: FailureKind) -> u8 {
    match kind {
        FailureKind::Invalid => 3,
        FailureKind::NotFound => 4,
        FailureKind::Conflict => 5,
        FailureKind::Refused => 6,
        FailureKind::Unavailable => 7,
        FailureKind::Internal => 8,
        _ => OTHER,
    }
}

/// The exit code for an error that ended a command: the kind a host,
/// wadm or the lattice gave, wherever it sits in the error's chain.
pub(crate) fn code(error: &anyhow::Error) -> ExitCode {
    let kind = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<ControlError>()
            .map(ControlError::kind)
            .or_else(|| cause.downcast_ref::<Failure>().map(|f| f.kind))
    });
    ExitCode::from(kind.map_or(OTHER, for_kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_codes_through_context() {
        let refused =
            anyhow::Error::new(ControlError::Failed(Failure::not_found("no app named x")))
                .context("trellis app deploy");
        assert_eq!(code(&refused), ExitCode::from(4));
        let gone = anyhow::Error::new(ControlError::NoResponders {
            subject: "s".into(),
        });
        assert_eq!(code(&gone), ExitCode::from(7));
        assert_eq!(
            code(&anyhow::anyhow!("local trouble")),
            ExitCode::from(OTHER)
        );
        let all = [
            FailureKind::Invalid,
            FailureKind::NotFound,
            FailureKind::Conflict,
            FailureKind::Refused,
            FailureKind::Unavailable,
            FailureKind::Internal,
        ];
        let mut codes: Vec<u8> = all.iter().map(|k| for_kind(*k)).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(
            !codes.contains(&OTHER) && !codes.contains(&2),
            "2 is clap's usage error"
        );
    }
}
