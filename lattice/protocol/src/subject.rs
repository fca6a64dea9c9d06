//! Every NATS subject of the lattice, built and parsed in one place.
//!
//! Nothing outside this module formats or splits a subject: callers build a
//! [`Subject`] and call `to_string()`, or parse an incoming subject with
//! [`Subject::from_str`]. Subscription patterns (with `*`/`>`) come from the
//! functions in [`pattern`].

use std::fmt;
use std::str::FromStr;

use crate::id::{ComponentId, ConfigName, HostId, IdError, LatticeName, StreamId};
use crate::link::{InterfaceRef, WitName};

/// The first token of every Trellis subject.
pub const PREFIX: &str = "trellis";

/// Why a string is not a Trellis subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The subject does not start with `trellis.{lattice}.`.
    #[error("subject `{0}` is not a Trellis subject (expected `trellis.<lattice>.<kind>...`)")]
    NotTrellis(String),
    /// The kind/verb tokens are not ones this protocol knows.
    #[error("unknown subject `{subject}`: {hint}")]
    Unknown {
        /// The subject as received.
        subject: String,
        /// What would have been accepted.
        hint: String,
    },
    /// A token that should be an id is not a valid one.
    #[error("subject `{subject}`: {source}")]
    BadId {
        /// The subject as received.
        subject: String,
        /// The id error.
        #[source]
        source: IdError,
    },
}

/// A control verb: the part of a control subject after `ctl`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlVerb {
    /// Scatter-gather: every host answers with a summary.
    HostPing,
    /// The full inventory of one host.
    HostInventory(HostId),
    /// Ask one host to stop gracefully.
    HostStop(HostId),
    /// Put or delete labels on one host.
    HostLabels(HostId),
    /// Start, rescale or stop (max 0) a component on one host.
    ComponentScale(HostId),
    /// Replace the image of a running component on one host.
    ComponentUpdate(HostId),
    /// Send one HTTP health probe to a component's local instance on one host.
    ComponentProbe(HostId),
    /// Call an exported function of a component's instance on one host.
    ComponentCall(HostId),
    /// The function types of a component's custom interfaces on one host.
    ComponentTypes(HostId),
    /// Start a provider on one host.
    ProviderStart(HostId),
    /// Stop a provider on one host.
    ProviderStop(HostId),
    /// Create or replace a link (lattice-wide).
    LinkPut,
    /// Delete a link (lattice-wide).
    LinkDel,
    /// List all links (lattice-wide).
    LinkList,
    /// Store a named config (lattice-wide).
    ConfigPut(ConfigName),
    /// Read a named config.
    ConfigGet(ConfigName),
    /// Delete a named config.
    ConfigDel(ConfigName),
}

const CONTROL_VERBS: &str = "host.ping, host.inventory.<host>, host.stop.<host>, \
host.labels.<host>, component.scale.<host>, component.update.<host>, component.probe.<host>, \
component.call.<host>, component.types.<host>, \
provider.start.<host>, \
provider.stop.<host>, link.put, link.del, link.list, config.put.<name>, config.get.<name>, \
config.del.<name>";

impl ControlVerb {
    /// The host this verb is addressed to, if it is host-specific.
    pub fn host(&self) -> Option<&HostId> {
        match self {
            Self::HostInventory(h)
            | Self::HostStop(h)
            | Self::HostLabels(h)
            | Self::ComponentScale(h)
            | Self::ComponentUpdate(h)
            | Self::ComponentProbe(h)
            | Self::ComponentCall(h)
            | Self::ComponentTypes(h)
            | Self::ProviderStart(h)
            | Self::ProviderStop(h) => Some(h),
            _ => None,
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HostPing => f.write_str("host.ping"),
            Self::HostInventory(h) => write!(f, "host.inventory.{h}"),
            Self::HostStop(h) => write!(f, "host.stop.{h}"),
            Self::HostLabels(h) => write!(f, "host.labels.{h}"),
            Self::ComponentScale(h) => write!(f, "component.scale.{h}"),
            Self::ComponentUpdate(h) => write!(f, "component.update.{h}"),
            Self::ComponentProbe(h) => write!(f, "component.probe.{h}"),
            Self::ComponentCall(h) => write!(f, "component.call.{h}"),
            Self::ComponentTypes(h) => write!(f, "component.types.{h}"),
            Self::ProviderStart(h) => write!(f, "provider.start.{h}"),
            Self::ProviderStop(h) => write!(f, "provider.stop.{h}"),
            Self::LinkPut => f.write_str("link.put"),
            Self::LinkDel => f.write_str("link.del"),
            Self::LinkList => f.write_str("link.list"),
            Self::ConfigPut(n) => write!(f, "config.put.{n}"),
            Self::ConfigGet(n) => write!(f, "config.get.{n}"),
            Self::ConfigDel(n) => write!(f, "config.del.{n}"),
        }
    }

    fn parse(tokens: &[&str]) -> Result<Self, ParseFail> {
        let host = |t: &str| HostId::new(t).map_err(ParseFail::Id);
        let config = |t: &str| ConfigName::new(t).map_err(ParseFail::Id);
        Ok(match tokens {
            ["host", "ping"] => Self::HostPing,
            ["host", "inventory", h] => Self::HostInventory(host(h)?),
            ["host", "stop", h] => Self::HostStop(host(h)?),
            ["host", "labels", h] => Self::HostLabels(host(h)?),
            ["component", "scale", h] => Self::ComponentScale(host(h)?),
            ["component", "update", h] => Self::ComponentUpdate(host(h)?),
            ["component", "probe", h] => Self::ComponentProbe(host(h)?),
            ["component", "call", h] => Self::ComponentCall(host(h)?),
            ["component", "types", h] => Self::ComponentTypes(host(h)?),
            ["provider", "start", h] => Self::ProviderStart(host(h)?),
            ["provider", "stop", h] => Self::ProviderStop(host(h)?),
            ["link", "put"] => Self::LinkPut,
            ["link", "del"] => Self::LinkDel,
            ["link", "list"] => Self::LinkList,
            ["config", "put", n] => Self::ConfigPut(config(n)?),
            ["config", "get", n] => Self::ConfigGet(config(n)?),
            ["config", "del", n] => Self::ConfigDel(config(n)?),
            _ => {
                return Err(ParseFail::Unknown(format!(
                    "known control verbs: {CONTROL_VERBS}"
                )));
            }
        })
    }
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The token used in subjects.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the subject token.
            pub fn from_token(token: &str) -> Option<Self> {
                match token { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// The type of a lattice event; also the last token of its subject.
    EventType {
        /// A host joined the lattice.
        HostStarted = "host_started",
        /// A host left the lattice gracefully.
        HostStopped = "host_stopped",
        /// Periodic host liveness with the full inventory.
        HostHeartbeat = "host_heartbeat",
        /// A component was started, rescaled or stopped.
        ComponentScaled = "component_scaled",
        /// A component could not be scaled.
        ComponentScaleFailed = "component_scale_failed",
        /// A provider started.
        ProviderStarted = "provider_started",
        /// A provider stopped.
        ProviderStopped = "provider_stopped",
        /// A provider's health changed or was checked.
        ProviderHealth = "provider_health",
        /// A link was created or replaced.
        LinkPut = "link_put",
        /// A link was deleted.
        LinkDeleted = "link_deleted",
        /// A named config was stored.
        ConfigSet = "config_set",
        /// A named config was deleted.
        ConfigDeleted = "config_deleted",
        /// wadm's view of an app changed.
        AppStatus = "app_status",
    }
);

named_enum!(
    /// An operation of the wadm API.
    WadmOp {
        /// Store a manifest version.
        Put = "put",
        /// Read a manifest.
        Get = "get",
        /// List apps.
        List = "list",
        /// Deploy a version.
        Deploy = "deploy",
        /// Undeploy an app.
        Undeploy = "undeploy",
        /// Delete an app and its versions.
        Delete = "delete",
        /// Status of an app.
        Status = "status",
        /// Versions of an app.
        History = "history",
        /// Pause, resume or abort a staged rollout.
        Rollout = "rollout",
    }
);

/// A fully qualified Trellis subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `trellis.{lattice}.ctl.{verb...}`
    Control {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The control verb.
        verb: ControlVerb,
    },
    /// `trellis.{lattice}.evt.{type}`
    Event {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The event type.
        event: EventType,
    },
    /// `trellis.{lattice}.rpc.{target}.{interface}.{function}`
    Rpc {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The component or provider being invoked.
        target: ComponentId,
        /// The WIT interface (`ns:pkg/iface`, no version).
        interface: InterfaceRef,
        /// The function within the interface.
        function: WitName,
    },
    /// `trellis.{lattice}.stream.{id}`: chunk pulls of one large body.
    Stream {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The transfer.
        stream: StreamId,
    },
    /// `trellis.{lattice}.prov.{provider}.{host}.health`: the health of the
    /// external provider process that `host` runs for `provider`.
    ProviderHealth {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The provider.
        provider: ComponentId,
        /// The host supervising the process.
        host: HostId,
    },
    /// `trellis.{lattice}.wadm.app.{op}`
    Wadm {
        /// Lattice the subject belongs to.
        lattice: LatticeName,
        /// The API operation.
        op: WadmOp,
    },
}

impl Subject {
    /// Shorthand for a control subject.
    pub fn control(lattice: &LatticeName, verb: ControlVerb) -> Self {
        Self::Control {
            lattice: lattice.clone(),
            verb,
        }
    }

    /// Shorthand for an event subject.
    pub fn event(lattice: &LatticeName, event: EventType) -> Self {
        Self::Event {
            lattice: lattice.clone(),
            event,
        }
    }

    /// Shorthand for an invocation subject.
    pub fn rpc(
        lattice: &LatticeName,
        target: &ComponentId,
        interface: &InterfaceRef,
        function: &WitName,
    ) -> Self {
        Self::Rpc {
            lattice: lattice.clone(),
            target: target.clone(),
            interface: interface.clone(),
            function: function.clone(),
        }
    }

    /// Shorthand for a body-stream subject.
    pub fn stream(lattice: &LatticeName, stream: &StreamId) -> Self {
        Self::Stream {
            lattice: lattice.clone(),
            stream: stream.clone(),
        }
    }

    /// The lattice of any subject.
    pub fn lattice(&self) -> &LatticeName {
        match self {
            Self::Control { lattice, .. }
            | Self::Event { lattice, .. }
            | Self::Rpc { lattice, .. }
            | Self::Stream { lattice, .. }
            | Self::ProviderHealth { lattice, .. }
            | Self::Wadm { lattice, .. } => lattice,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}.{}.", self.lattice())?;
        match self {
            Self::Control { verb, .. } => {
                f.write_str("ctl.")?;
                verb.write(f)
            }
            Self::Event { event, .. } => write!(f, "evt.{event}"),
            Self::Rpc {
                target,
                interface,
                function,
                ..
            } => write!(f, "rpc.{target}.{interface}.{function}"),
            Self::Stream { stream, .. } => write!(f, "stream.{stream}"),
            Self::ProviderHealth { provider, host, .. } => {
                write!(f, "prov.{provider}.{host}.health")
            }
            Self::Wadm { op, .. } => write!(f, "wadm.app.{op}"),
        }
    }
}

enum ParseFail {
    Unknown(String),
    Id(IdError),
}

impl FromStr for Subject {
    type Err = SubjectError;

    fn from_str(s: &str) -> Result<Self, SubjectError> {
        let tokens: Vec<&str> = s.split('.').collect();
        let (lattice, rest) = match tokens.as_slice() {
            [PREFIX, lattice, rest @ ..] if !rest.is_empty() => (*lattice, rest),
            _ => return Err(SubjectError::NotTrellis(s.to_owned())),
        };
        let lattice = LatticeName::new(lattice).map_err(|source| SubjectError::BadId {
            subject: s.to_owned(),
            source,
        })?;
        let parsed = match rest {
            ["ctl", verb @ ..] => {
                ControlVerb::parse(verb).map(|verb| Self::Control { lattice, verb })
            }
            ["evt", event] => EventType::from_token(event)
                .map(|event| Self::Event { lattice, event })
                .ok_or_else(|| ParseFail::Unknown(format!("unknown event type `{event}`"))),
            ["rpc", target, interface, function] => (|| {
                Ok(Self::Rpc {
                    lattice,
                    target: ComponentId::new(*target).map_err(ParseFail::Id)?,
                    interface: interface
                        .parse()
                        .map_err(|e: crate::link::WitError| ParseFail::Unknown(e.to_string()))?,
                    function: WitName::new(*function)
                        .map_err(|e| ParseFail::Unknown(e.to_string()))?,
                })
            })(),
            ["stream", stream] => StreamId::new(*stream)
                .map(|stream| Self::Stream { lattice, stream })
                .map_err(ParseFail::Id),
            ["prov", provider, host, "health"] => (|| {
                Ok(Self::ProviderHealth {
                    lattice,
                    provider: ComponentId::new(*provider).map_err(ParseFail::Id)?,
                    host: HostId::new(*host).map_err(ParseFail::Id)?,
                })
            })(),
            ["wadm", "app", op] => WadmOp::from_token(op)
                .map(|op| Self::Wadm { lattice, op })
                .ok_or_else(|| ParseFail::Unknown(format!("unknown wadm operation `{op}`"))),
            _ => Err(ParseFail::Unknown(
                "expected ctl.<verb>, evt.<type>, rpc.<target>.<interface>.<function>, \
                 stream.<id>, prov.<provider>.<host>.health or wadm.app.<op>"
                    .into(),
            )),
        };
        parsed.map_err(|fail| match fail {
            ParseFail::Unknown(hint) => SubjectError::Unknown {
                subject: s.to_owned(),
                hint,
            },
            ParseFail::Id(source) => SubjectError::BadId {
                subject: s.to_owned(),
                source,
            },
        })
    }
}

/// Subscription patterns (with NATS wildcards). They are not [`Subject`]s
/// because they never arrive on a message; they only select messages.
pub mod pattern {
    use super::*;

    /// Every control subject of a lattice.
    pub fn all_control(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.ctl.>")
    }

    /// What the control queue group subscribes to: the lattice-wide verbs
    /// (links, named config), which one host answers, and every subject
    /// shape a host-specific verb cannot have (`ctl.a`, `ctl.a.b`,
    /// `ctl.a.b.c.d...`), so a malformed request gets an error reply.
    /// `ctl.{noun}.{verb}.{host}` is left out on purpose: a request to a
    /// host that is gone must find no subscriber, so that the requester
    /// hears "no responders" at once instead of waiting out its timeout.
    pub fn lattice_wide_control(lattice: &LatticeName) -> [String; 4] {
        [
            format!("{PREFIX}.{lattice}.ctl.*"),
            format!("{PREFIX}.{lattice}.ctl.*.*"),
            format!("{PREFIX}.{lattice}.ctl.config.*.*"),
            format!("{PREFIX}.{lattice}.ctl.*.*.*.>"),
        ]
    }

    /// Every host-specific control subject addressed to `host`.
    pub fn host_control(lattice: &LatticeName, host: &HostId) -> String {
        format!("{PREFIX}.{lattice}.ctl.*.*.{host}")
    }

    /// Every event of a lattice.
    pub fn all_events(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.evt.>")
    }

    /// Every invocation in a lattice (any target, interface, function).
    pub fn all_rpc(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.rpc.>")
    }

    /// Every chunk pull of every large body in a lattice.
    pub fn all_streams(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.stream.>")
    }

    /// Every external provider's health subject in a lattice.
    pub fn all_provider_health(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.prov.>")
    }

    /// Every invocation of one target (all interfaces and functions).
    pub fn rpc_target(lattice: &LatticeName, target: &ComponentId) -> String {
        format!("{PREFIX}.{lattice}.rpc.{target}.>")
    }

    /// The queue group that all instances of one target share, so that a call
    /// goes to exactly one of them whichever host runs it.
    pub fn rpc_queue_group(lattice: &LatticeName, target: &ComponentId) -> String {
        format!("{PREFIX}.{lattice}.rpc.{target}")
    }

    /// The queue group of lattice-wide control verbs (links, config).
    pub fn control_queue_group(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.ctl")
    }

    /// Every wadm API subject of `lattice`.
    pub fn all_wadm(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.wadm.app.*")
    }

    /// The queue group wadm instances answer the API in.
    pub fn wadm_queue_group(lattice: &LatticeName) -> String {
        format!("{PREFIX}.{lattice}.wadm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host() -> HostId {
        HostId::new(format!("N{}", "B".repeat(55))).unwrap()
    }

    fn every_subject() -> Vec<Subject> {
        let l = LatticeName::new("lat-1").unwrap();
        let h = host();
        let c = ConfigName::new("cfg").unwrap();
        let mut all: Vec<Subject> = [
            ControlVerb::HostPing,
            ControlVerb::HostInventory(h.clone()),
            ControlVerb::HostStop(h.clone()),
            ControlVerb::HostLabels(h.clone()),
            ControlVerb::ComponentScale(h.clone()),
            ControlVerb::ComponentUpdate(h.clone()),
            ControlVerb::ComponentProbe(h.clone()),
            ControlVerb::ComponentCall(h.clone()),
            ControlVerb::ComponentTypes(h.clone()),
            ControlVerb::ProviderStart(h.clone()),
            ControlVerb::ProviderStop(h),
            ControlVerb::LinkPut,
            ControlVerb::LinkDel,
            ControlVerb::LinkList,
            ControlVerb::ConfigPut(c.clone()),
            ControlVerb::ConfigGet(c.clone()),
            ControlVerb::ConfigDel(c),
        ]
        .into_iter()
        .map(|verb| Subject::control(&l, verb))
        .collect();
        all.extend(EventType::ALL.iter().map(|e| Subject::event(&l, *e)));
        all.extend(WadmOp::ALL.iter().map(|op| Subject::Wadm {
            lattice: l.clone(),
            op: *op,
        }));
        all.push(Subject::rpc(
            &l,
            &ComponentId::new("hello").unwrap(),
            &"wasi:http/incoming-handler".parse().unwrap(),
            &WitName::new("handle").unwrap(),
        ));
        all.push(Subject::stream(&l, &StreamId::new("abc123").unwrap()));
        all.push(Subject::ProviderHealth {
            lattice: l.clone(),
            provider: ComponentId::new("kv").unwrap(),
            host: host(),
        });
        all
    }

    #[test]
    fn every_subject_round_trips() {
        for subject in every_subject() {
            let text = subject.to_string();
            assert_eq!(text.parse::<Subject>().unwrap(), subject, "{text}");
        }
    }

    #[test]
    fn known_shapes() {
        let l = LatticeName::new("default").unwrap();
        assert_eq!(
            Subject::control(&l, ControlVerb::ComponentScale(host())).to_string(),
            format!("trellis.default.ctl.component.scale.{}", host())
        );
        assert_eq!(
            Subject::event(&l, EventType::HostStopped).to_string(),
            "trellis.default.evt.host_stopped"
        );
    }

    #[test]
    fn unknown_subjects_say_what_is_known() {
        let err = "trellis.default.ctl.bogus".parse::<Subject>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ctl.bogus") && text.contains("link.put"),
            "{text}"
        );
        assert!(matches!(
            "nats.default.ctl.link.put".parse::<Subject>(),
            Err(SubjectError::NotTrellis(_))
        ));
        assert!(matches!(
            "trellis.default.ctl.host.stop.nothost".parse::<Subject>(),
            Err(SubjectError::BadId { .. })
        ));
    }

    #[test]
    fn host_patterns_match_only_host_specific_verbs() {
        let l = LatticeName::new("default").unwrap();
        assert_eq!(
            pattern::host_control(&l, &host()),
            format!("trellis.default.ctl.*.*.{}", host())
        );
    }

    /// NATS subject matching: `*` is one token, `>` the rest.
    fn nats_match(pattern: &str, subject: &str) -> bool {
        let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    #[test]
    fn the_control_queue_group_takes_no_host_specific_subject() {
        let l = LatticeName::new("lat-1").unwrap();
        let wide = pattern::lattice_wide_control(&l);
        let mut seen_wide = 0;
        for subject in every_subject() {
            let Subject::Control { verb, .. } = &subject else {
                continue;
            };
            let text = subject.to_string();
            let claimed = wide.iter().any(|p| nats_match(p, &text));
            // The ping is claimed too; dispatch leaves it to its own route.
            assert_eq!(claimed, verb.host().is_none(), "{text}");
            seen_wide += usize::from(claimed);
            if verb.host().is_some() {
                assert!(nats_match(&pattern::host_control(&l, &host()), &text));
            }
        }
        assert_eq!(seen_wide, 7, "ping, link put/del/list, config put/get/del");
        // Malformed shapes reach a host, which says what is wrong.
        for bogus in ["bogus", "bogus.verb", "a.b.c.d", "a.b.c.d.e"] {
            let text = format!("trellis.lat-1.ctl.{bogus}");
            assert!(wide.iter().any(|p| nats_match(p, &text)), "{text}");
        }
    }

    #[test]
    fn lattice_wide_patterns_match_what_the_subjects_build() {
        let l = LatticeName::new("default").unwrap();
        let matches = |pattern: &str, subject: &Subject| {
            let prefix = pattern.strip_suffix(">").unwrap();
            subject.to_string().starts_with(prefix)
        };
        let stream = StreamId::new("0123456789abcdef0123456789abcdef").unwrap();
        assert!(matches(
            &pattern::all_streams(&l),
            &Subject::stream(&l, &stream)
        ));
        let rpc = Subject::rpc(
            &l,
            &ComponentId::new("hello").unwrap(),
            &"wasi:http/incoming-handler".parse().unwrap(),
            &WitName::new("handle").unwrap(),
        );
        assert!(matches(&pattern::all_rpc(&l), &rpc));
        assert!(!matches(&pattern::all_streams(&l), &rpc));
        assert_eq!(pattern::all_provider_health(&l), "trellis.default.prov.>");
    }

    proptest! {
        #[test]
        fn component_rpc_round_trips(
            lattice in "[a-zA-Z0-9_-]{1,20}",
            target in "[a-zA-Z0-9_-]{1,40}",
            ns in "[a-z][a-z0-9-]{0,10}",
            pkg in "[a-z][a-z0-9-]{0,10}",
            iface in "[a-z][a-z0-9-]{0,10}",
            func in "[a-z][a-z0-9-]{0,10}",
        ) {
            let subject = Subject::rpc(
                &LatticeName::new(lattice).unwrap(),
                &ComponentId::new(target).unwrap(),
                &format!("{ns}:{pkg}/{iface}").parse().unwrap(),
                &WitName::new(func).unwrap(),
            );
            prop_assert_eq!(subject.to_string().parse::<Subject>().unwrap(), subject);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<Subject>();
        }

        #[test]
        fn config_names_round_trip(name in "[a-zA-Z0-9_-]{1,60}") {
            let subject = Subject::control(
                &LatticeName::default_lattice(),
                ControlVerb::ConfigPut(ConfigName::new(name).unwrap()),
            );
            prop_assert_eq!(subject.to_string().parse::<Subject>().unwrap(), subject);
        }
    }
}
