//! The bounded fuzz smoke of the normal test suite: every target, a few
//! thousand inputs each, with the allocation limit armed.

use trellis_fuzz::{Budget, alloc::LimitAlloc, targets};

#[global_allocator]
static ALLOC: LimitAlloc = LimitAlloc;

/// Inputs per target; the whole smoke stays within seconds.
const CASES: u64 = 10_000;

#[test]
fn every_decoder_survives_mutated_input() {
    trellis_fuzz::capture_panics();
    let mut failures = Vec::new();
    for target in targets::all() {
        let report = trellis_fuzz::run(&target, Budget::Cases(CASES), 0x5eed);
        assert_eq!(report.inputs, CASES, "{}", target.name);
        eprintln!(
            "{}: {} inputs in {:.1}s",
            target.name,
            report.inputs,
            report.elapsed.as_secs_f64()
        );
        for f in report.failures {
            failures.push(format!("{}: {} ({})", target.name, f.message, f.saved));
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn seeds_are_valid_messages() {
    // A target whose seeds do not decode would only fuzz the error path.
    let decodes = |name: &str, bytes: &[u8]| -> bool {
        use trellis_protocol::invocation::{ChunkReply, ChunkRequest, HttpRequest, decode};
        match name {
            "invocation-http" => {
                decode::<HttpRequest>(bytes).is_ok()
                    || decode::<trellis_protocol::invocation::HttpResponse>(bytes).is_ok()
                    || decode::<
                        trellis_protocol::invocation::InvocationReply<
                            trellis_protocol::invocation::HttpResponse,
                        >,
                    >(bytes)
                    .is_ok()
            }
            "invocation-chunk" => {
                decode::<ChunkRequest>(bytes).is_ok() || decode::<ChunkReply>(bytes).is_ok()
            }
            _ => true,
        }
    };
    for target in targets::all() {
        let seeds = (target.seeds)();
        assert!(!seeds.is_empty(), "{} has no seeds", target.name);
        for seed in seeds {
            assert!(
                decodes(target.name, &seed),
                "{}: seed does not decode",
                target.name
            );
        }
    }
}
