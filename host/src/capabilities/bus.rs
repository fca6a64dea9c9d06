//! `wasmcloud:bus/lattice` (1.0.0 and 2.0.0): a component picks, at run
//! time, which of its links (by name) later calls of an interface use, as
//! wasmCloud components do when they link two providers of one interface
//! (a cache and a store, say). The choice belongs to the instance: it is
//! gone with it, so one request's choice never leaks into the next.

use trellis_protocol::LinkName;
use trellis_protocol::link::{InterfaceRef, WitName};
use wasmtime::component::Resource;

use super::bindings::wasmcloud::{bus1_0_0 as v1, bus2_0_0 as v2};
use crate::capabilities::CapabilityView;

/// A `call-target-interface`: the interface a link name is chosen for, or
/// why its parts do not name one.
pub struct CallTarget {
    interface: Result<InterfaceRef, String>,
}

impl CallTarget {
    fn new(namespace: &str, package: &str, interface: &str) -> Self {
        let parts = (
            WitName::new(namespace),
            WitName::new(package),
            WitName::new(interface),
        );
        let interface = match parts {
            (Ok(ns), Ok(pkg), Ok(iface)) => Ok(InterfaceRef::new(ns, pkg, iface)),
            _ => Err(format!(
                "`{namespace}:{package}/{interface}` is not a WIT interface name"
            )),
        };
        Self { interface }
    }
}

impl CapabilityView {
    /// The link name calls of `interface` go through: the instance's
    /// choice, else the component's (`default`).
    pub fn link_name_for(&self, interface: &InterfaceRef) -> LinkName {
        self.link_names
            .get(interface)
            .cloned()
            .unwrap_or_else(|| self.caps.link_name.clone())
    }

    fn new_target(
        &mut self,
        namespace: &str,
        package: &str,
        interface: &str,
    ) -> wasmtime::Result<Resource<CallTarget>> {
        Ok(self
            .table
            .push(CallTarget::new(namespace, package, interface))?)
    }

    /// Chooses `name` for every interface in `targets` (handles the guest
    /// gave up). With `require_link`, refuses, and changes nothing, when
    /// the component has no link of that name covering one of them.
    fn set_link_name(
        &mut self,
        name: String,
        targets: Vec<Resource<CallTarget>>,
        require_link: bool,
    ) -> wasmtime::Result<Result<(), String>> {
        let mut interfaces = Vec::with_capacity(targets.len());
        for target in targets {
            interfaces.push(self.table.delete(target)?.interface);
        }
        let chosen = (|| {
            let name = LinkName::new(name.clone())
                .map_err(|e| format!("`{name}` is not a link name: {e}"))?;
            let interfaces = interfaces.into_iter().collect::<Result<Vec<_>, _>>()?;
            if require_link {
                let source = &self.caps.component_id;
                for interface in &interfaces {
                    if self.caps.links.route(source, &name, interface).is_err() {
                        return Err(format!(
                            "no link named {name} from {source} covers {interface}; link it: \
                             trellis link put {source} TARGET {} {} --interface {} --name {name}",
                            interface.namespace, interface.package, interface.interface
                        ));
                    }
                }
            }
            Ok((name, interfaces))
        })();
        Ok(chosen.map(|(name, interfaces)| {
            for interface in interfaces {
                self.link_names.insert(interface, name.clone());
            }
        }))
    }
}

/// The `call-target-interface` resource is the same in both versions.
macro_rules! call_target_interface {
    ($version:ident) => {
        impl $version::lattice::HostCallTargetInterface for CapabilityView {
            async fn new(
                &mut self,
                namespace: String,
                package: String,
                interface: String,
            ) -> wasmtime::Result<Resource<CallTarget>> {
                self.new_target(&namespace, &package, &interface)
            }

            async fn drop(&mut self, target: Resource<CallTarget>) -> wasmtime::Result<()> {
                self.table.delete(target)?;
                Ok(())
            }
        }
    };
}

call_target_interface!(v1);
call_target_interface!(v2);

impl v1::lattice::Host for CapabilityView {
    /// Version 1 has no error to return: a bad name is logged and ignored.
    async fn set_link_name(
        &mut self,
        name: String,
        interfaces: Vec<Resource<CallTarget>>,
    ) -> wasmtime::Result<()> {
        if let Err(reason) = CapabilityView::set_link_name(self, name, interfaces, false)? {
            tracing::warn!(component = %self.caps.component_id, %reason, "set-link-name ignored");
        }
        Ok(())
    }
}

impl v2::lattice::Host for CapabilityView {
    async fn set_link_name(
        &mut self,
        name: String,
        interfaces: Vec<Resource<CallTarget>>,
    ) -> wasmtime::Result<Result<(), String>> {
        CapabilityView::set_link_name(self, name, interfaces, true)
    }
}
