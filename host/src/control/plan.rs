//! What a workload verb will do, decided from its request and what this
//! host runs, with no IO: the rules of `component.scale`,
//! `component.update`, `provider.start`, `host.labels` and probes, unit
//! tested on their own. The handlers carry the decisions out.

use trellis_protocol::control::{
    ArtifactRef, Failure, LabelsRequest, ScaleComponentRequest, StartProviderRequest,
    UpdateComponentRequest,
};
use trellis_protocol::inventory::{ComponentDescription, Labels};
use trellis_protocol::{ComponentId, limits};

use super::not_running;

/// Image scheme of provider executables the CLI uploaded.
const FILE_SCHEME: &str = "file://";

/// What `component.scale` does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scale<'a> {
    /// Stop the running component.
    Stop,
    /// Change the running component's bounds (and annotations, if given).
    Rescale,
    /// Start the component from this artifact.
    Start(&'a ArtifactRef),
}

/// `component.scale` of `request`, given the description of what runs
/// under its id here, if anything.
pub(super) fn scale<'a>(
    request: &'a ScaleComponentRequest,
    running: Option<&ComponentDescription>,
) -> Result<Scale<'a>, Failure> {
    let id = &request.component_id;
    request
        .check_limits()
        .map_err(|e| Failure::invalid(format!("component.scale of {id} refused: {e}")))?;
    match (running, &request.artifact) {
        (Some(current), Some(artifact)) if artifact.sha256.as_str() != current.digest => {
            Err(Failure::conflict(format!(
                "component {id} already runs {} (sha256 {}) on this host; use `component.update` to change its image",
                current.image, current.digest
            )))
        }
        (Some(_), _) if request.max == 0 => Ok(Scale::Stop),
        (Some(_), _) => Ok(Scale::Rescale),
        (None, _) if request.max == 0 => Err(not_running(id)),
        (None, Some(artifact)) => Ok(Scale::Start(artifact)),
        (None, None) => Err(Failure::invalid(format!(
            "no artifact given for component {id}; pass a file:// image to the CLI, which uploads it"
        ))),
    }
}

/// `component.update` of `request`: allowed only for a component that
/// runs here.
pub(super) fn update(request: &UpdateComponentRequest, runs: bool) -> Result<(), Failure> {
    let id = &request.component_id;
    request
        .check_limits()
        .map_err(|e| Failure::invalid(format!("component.update of {id} refused: {e}")))?;
    if runs { Ok(()) } else { Err(not_running(id)) }
}

/// How a provider runs.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProviderStart<'a> {
    /// As its own process, from this artifact.
    External(&'a ArtifactRef),
    /// In the host (`builtin://NAME`).
    Builtin,
}

/// `provider.start` of `request`, given whether a provider or a
/// component already runs under its id here.
pub(super) fn provider_start(
    request: &StartProviderRequest,
    provider_runs: bool,
    component_runs: bool,
) -> Result<ProviderStart<'_>, Failure> {
    let id = &request.provider_id;
    request
        .check_limits()
        .map_err(|e| Failure::invalid(format!("provider.start of {id} refused: {e}")))?;
    if provider_runs {
        return Err(Failure::conflict(format!(
            "provider {id} already runs on this host"
        )));
    }
    if component_runs {
        return Err(Failure::conflict(format!(
            "{id} is a component on this host; pick another provider id"
        )));
    }
    // An executable: a file the CLI uploaded, or (from wadm, which sends
    // the uploaded image's nats:// reference) any image with an artifact.
    match &request.artifact {
        Some(artifact) => Ok(ProviderStart::External(artifact)),
        None if request.image.starts_with(FILE_SCHEME) => Err(Failure::invalid(format!(
            "no artifact given for provider {id}; pass a file:// image to the CLI, which uploads it"
        ))),
        None => Ok(ProviderStart::Builtin),
    }
}

/// The labels `request` leaves on a host that has `current`: the limits
/// hold for the result, so nothing changes unless it passes.
pub(super) fn labels(current: &Labels, request: LabelsRequest) -> Result<Labels, Failure> {
    request.check().map_err(Failure::invalid)?;
    let mut next = current.clone();
    for key in &request.delete {
        next.remove(key);
    }
    next.extend(request.put);
    limits::check_labels(&next).map_err(|e| Failure::invalid(format!("labels refused: {e}")))?;
    Ok(next)
}

/// A probe path must be absolute.
pub(super) fn probe_path(id: &ComponentId, path: &str) -> Result<(), Failure> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(Failure::invalid(format!(
            "probe of {id}: path `{path}` must start with `/`, e.g. /healthz"
        )))
    }
}

#[cfg(test)]
mod tests {
    use trellis_protocol::control::FailureKind;

    use super::*;

    fn artifact(byte: &str) -> ArtifactRef {
        ArtifactRef::parse_reference(&format!("nats://ART/sha256-{}", byte.repeat(32))).unwrap()
    }

    fn scale_request(max: u32, artifact: Option<ArtifactRef>) -> ScaleComponentRequest {
        serde_json::from_value(serde_json::json!({
            "component_id": "hello", "image": "file://hello.wasm", "max": max,
            "artifact": artifact,
        }))
        .unwrap()
    }

    fn running(digest: &ArtifactRef) -> ComponentDescription {
        serde_json::from_value(serde_json::json!({
            "id": "hello", "image": "file://hello.wasm", "digest": digest.sha256.as_str(),
            "max": 2,
        }))
        .unwrap()
    }

    #[test]
    fn scale_starts_rescales_stops_and_refuses() {
        let a = artifact("aa");
        let b = artifact("bb");
        let current = running(&a);
        // Up from nothing: started from the artifact.
        assert_eq!(
            scale(&scale_request(2, Some(a.clone())), None),
            Ok(Scale::Start(&a))
        );
        // Running: rescaled (with or without an artifact), or stopped at 0.
        assert_eq!(
            scale(&scale_request(5, Some(a.clone())), Some(&current)),
            Ok(Scale::Rescale)
        );
        assert_eq!(
            scale(&scale_request(5, None), Some(&current)),
            Ok(Scale::Rescale)
        );
        assert_eq!(
            scale(&scale_request(0, None), Some(&current)),
            Ok(Scale::Stop)
        );
        // Refusals, each with its kind.
        let kind = |r: Result<Scale<'_>, Failure>| r.unwrap_err().kind;
        assert_eq!(
            kind(scale(&scale_request(2, Some(b)), Some(&current))),
            FailureKind::Conflict
        );
        assert_eq!(
            kind(scale(&scale_request(0, None), None)),
            FailureKind::NotFound
        );
        assert_eq!(
            kind(scale(&scale_request(2, None), None)),
            FailureKind::Invalid
        );
        let mut huge = scale_request(2, Some(a.clone()));
        huge.image = "x".repeat(limits::MAX_IMAGE_BYTES + 1);
        assert_eq!(kind(scale(&huge, None)), FailureKind::Invalid);
    }

    #[test]
    fn update_needs_a_running_component() {
        let request: UpdateComponentRequest = serde_json::from_value(serde_json::json!({
            "component_id": "hello", "image": "file://v2.wasm", "artifact": artifact("cc"),
        }))
        .unwrap();
        assert_eq!(update(&request, true), Ok(()));
        assert_eq!(
            update(&request, false).unwrap_err().kind,
            FailureKind::NotFound
        );
    }

    #[test]
    fn provider_start_picks_how_it_runs_and_refuses_clashes() {
        let request = |image: &str, artifact: Option<ArtifactRef>| -> StartProviderRequest {
            serde_json::from_value(serde_json::json!({
                "provider_id": "kv", "image": image, "artifact": artifact,
            }))
            .unwrap()
        };
        let a = artifact("dd");
        let builtin = request("builtin://keyvalue-sled", None);
        assert_eq!(
            provider_start(&builtin, false, false),
            Ok(ProviderStart::Builtin)
        );
        let external = request("file://kv-provider", Some(a.clone()));
        assert_eq!(
            provider_start(&external, false, false),
            Ok(ProviderStart::External(&a))
        );
        let kind = |r: Result<ProviderStart<'_>, Failure>| r.unwrap_err().kind;
        assert_eq!(
            kind(provider_start(&builtin, true, false)),
            FailureKind::Conflict
        );
        assert_eq!(
            kind(provider_start(&builtin, false, true)),
            FailureKind::Conflict
        );
        let no_artifact = request("file://kv-provider", None);
        assert_eq!(
            kind(provider_start(&no_artifact, false, false)),
            FailureKind::Invalid
        );
    }

    #[test]
    fn labels_change_only_when_the_result_is_within_limits() {
        let current: Labels = [("os", "linux"), ("zone", "a"), ("rack", "r1")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let request =
            |body: serde_json::Value| -> LabelsRequest { serde_json::from_value(body).unwrap() };
        let next = labels(
            &current,
            request(serde_json::json!({"put": {"zone": "b", "tier": "edge"}, "delete": ["rack"]})),
        )
        .unwrap();
        assert_eq!(next.get("zone").map(String::as_str), Some("b"));
        assert_eq!(next.get("tier").map(String::as_str), Some("edge"));
        assert_eq!(next.get("os").map(String::as_str), Some("linux"));
        assert!(!next.contains_key("rack"));
        let kind = |body| labels(&current, request(body)).unwrap_err().kind;
        // The host's own labels, an oversized value: refused as invalid.
        assert_eq!(
            kind(serde_json::json!({"delete": ["os"]})),
            FailureKind::Invalid
        );
        assert_eq!(
            kind(serde_json::json!({"put": {"k": "v".repeat(100_000)}})),
            FailureKind::Invalid
        );
    }

    #[test]
    fn probe_paths_must_be_absolute() {
        let id = ComponentId::new("hello").unwrap();
        assert!(probe_path(&id, "/healthz").is_ok());
        assert_eq!(
            probe_path(&id, "healthz").unwrap_err().kind,
            FailureKind::Invalid
        );
    }
}
