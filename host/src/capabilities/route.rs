//! Finding the provider behind a component's capability link: the one
//! lookup key-value and messaging calls share. The link is looked up on
//! every call, so a link changed at runtime applies to the next call.

use std::sync::Arc;

use trellis_lattice::Lattice;
use trellis_protocol::link::InterfaceRef;
use trellis_protocol::{ComponentId, LinkName};

use crate::counters::RoutedCalls;
use crate::providers::{Providers, RunningProvider};
use trellis_provider_sdk::links::LinkState;

/// Where a capability call goes.
pub(crate) enum Target {
    /// A provider on this host: called in process.
    Local(RunningProvider),
    /// A provider elsewhere: called over the lattice.
    Remote(ComponentId),
}

/// Routes components' capability calls to providers, local first.
pub struct ProviderRouter {
    links: Arc<LinkState>,
    providers: Arc<Providers>,
    pub(crate) lattice: Lattice,
    /// What the calls reached and how they ended.
    pub(crate) counted: Arc<RoutedCalls>,
}

impl ProviderRouter {
    /// A router over this host's links and providers and the lattice,
    /// counting into `counted`.
    pub fn new(
        links: Arc<LinkState>,
        providers: Arc<Providers>,
        lattice: Lattice,
        counted: Arc<RoutedCalls>,
    ) -> Self {
        Self {
            links,
            providers,
            lattice,
            counted,
        }
    }

    /// The provider behind `source`'s link named `link_name` for
    /// `interface`; without one, a message naming the link and `how` to
    /// make it.
    pub(crate) fn target(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        interface: &InterfaceRef,
        how: impl FnOnce() -> String,
    ) -> Result<Target, String> {
        let link = self
            .links
            .route(source, link_name, interface)
            .map_err(|unlinked| unlinked.describe(source, link_name, interface, &how()))?;
        Ok(match self.providers.get(&link.target_id) {
            Some(local) => Target::Local(local),
            None => Target::Remote(link.target_id),
        })
    }
}
