//! Calls of a component's exported functions (any WIT interface), as they
//! cross the lattice on `trellis.{lattice}.rpc.{target}.{iface}.{func}`.
//!
//! Arguments are either wire values ([`Values`], what a component calling
//! another sends: the caller's host lowered them from its guest) or WAVE
//! text (what `trellis call` sends: only the callee knows the parameter
//! types a text must be parsed against). Results are always wire values,
//! plus their WAVE text when the caller asks for it.

use serde::{Deserialize, Serialize};

use crate::value::Values;

/// Most arguments a call may carry (the component model flattens no more
/// than 16 parameters into registers; real functions have a handful).
pub const MAX_CALL_ARGS: usize = 64;

/// Largest WAVE text of one argument.
pub const MAX_WAVE_ARG_BYTES: usize = 1024 * 1024;

/// A call's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CallArgs {
    /// Typed values, checked against the function's parameter types.
    Values(Values),
    /// One WAVE text per parameter (`{x: 1, y: 2}`, `circle(3)`, `"text"`).
    Wave(Vec<String>),
}

/// One call of an exported function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// The arguments.
    pub args: CallArgs,
    /// Also render the results as WAVE text (for people, not programs).
    #[serde(default)]
    pub wave: bool,
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResponse {
    /// The function's results.
    pub results: Values,
    /// Their WAVE text, when the request asked for it.
    #[serde(default)]
    pub wave: Option<Vec<String>>,
}

/// Why a call request is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallLimitError {
    /// More arguments than any function takes.
    #[error("{0} arguments given; at most {MAX_CALL_ARGS} are accepted")]
    TooManyArgs(usize),
    /// A WAVE text over its bound.
    #[error(
        "argument {index} is {len} bytes of WAVE text; at most {MAX_WAVE_ARG_BYTES} are \
         accepted (pass large byte lists from a component instead)"
    )]
    ArgTooLong {
        /// Which argument (from 1).
        index: usize,
        /// Its length.
        len: usize,
    },
}

impl CallRequest {
    /// Checks the sender's claims against the bounds above; values were
    /// bounded when they were decoded.
    pub fn check_limits(&self) -> Result<(), CallLimitError> {
        let count = match &self.args {
            CallArgs::Values(values) => values.count(),
            CallArgs::Wave(texts) => {
                if let Some((i, text)) = texts
                    .iter()
                    .enumerate()
                    .find(|(_, t)| t.len() > MAX_WAVE_ARG_BYTES)
                {
                    return Err(CallLimitError::ArgTooLong {
                        index: i + 1,
                        len: text.len(),
                    });
                }
                texts.len()
            }
        };
        if count > MAX_CALL_ARGS {
            return Err(CallLimitError::TooManyArgs(count));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::{decode, encode};
    use crate::value::Node;

    #[test]
    fn requests_and_responses_round_trip() {
        let request = CallRequest {
            args: CallArgs::Wave(vec!["{x: 1, y: 2}".into(), "circle(3)".into()]),
            wave: true,
        };
        assert_eq!(decode::<CallRequest>(&encode(&request)).unwrap(), request);
        let response = CallResponse {
            results: Values::new(vec![Node::U64(27)]).unwrap(),
            wave: Some(vec!["27".into()]),
        };
        assert_eq!(
            decode::<CallResponse>(&encode(&response)).unwrap(),
            response
        );
    }

    #[test]
    fn oversized_claims_are_refused() {
        let many = CallRequest {
            args: CallArgs::Wave(vec!["1".into(); MAX_CALL_ARGS + 1]),
            wave: false,
        };
        assert_eq!(
            many.check_limits(),
            Err(CallLimitError::TooManyArgs(MAX_CALL_ARGS + 1))
        );
        let long = CallRequest {
            args: CallArgs::Wave(vec!["1".into(), "x".repeat(MAX_WAVE_ARG_BYTES + 1)]),
            wave: false,
        };
        assert!(matches!(
            long.check_limits(),
            Err(CallLimitError::ArgTooLong { index: 2, .. })
        ));
    }
}
