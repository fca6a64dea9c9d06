//! The host's metrics after real verbs and calls.

use super::{TestHost, calc};

#[tokio::test]
async fn metrics_count_what_ran_and_how_it_was_prepared() {
    let host = TestHost::new().await;
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 4).await.unwrap();
    assert_eq!(host.add(1, 2).await, Ok("3".to_owned()));
    assert_eq!(host.add(3, 4).await, Ok("7".to_owned()));
    let text = host.scrape();
    for line in [
        "trellis_component_invocations_total{component=\"calc\"} 2\n",
        "trellis_component_failures_total{component=\"calc\"} 0\n",
        "trellis_component_in_flight{component=\"calc\"} 0\n",
        "trellis_component_max_instances{component=\"calc\"} 4\n",
        "trellis_component_invocation_duration_seconds_count{component=\"calc\",kind=\"call\"} 2\n",
        "trellis_component_invocation_duration_seconds_bucket{le=\"+Inf\",component=\"calc\",kind=\"call\"} 2\n",
        "trellis_component_invocation_duration_seconds_count{component=\"calc\",kind=\"http\"} 0\n",
        "trellis_host_component_prepares_total{outcome=\"compiled\"} 1\n",
        "trellis_host_artifact_loads_total{source=\"lattice\"} 1\n",
        "trellis_host_info{host_id=\"",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let fetched = calc(0).len();
    assert!(
        text.contains(&format!(
            "trellis_host_artifact_fetched_bytes_total {fetched}\n"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_host_without_metrics_counts_but_does_not_time() {
    let host = TestHost::with(|config| config.allow_unsigned = true).await;
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 1).await.unwrap();
    assert_eq!(host.add(1, 2).await, Ok("3".to_owned()));
    let text = host.scrape();
    assert!(
        text.contains("trellis_component_invocations_total{component=\"calc\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "trellis_component_invocation_duration_seconds_count{component=\"calc\",kind=\"call\"} 0\n"
        ),
        "{text}"
    );
}
