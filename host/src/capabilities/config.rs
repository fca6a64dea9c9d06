//! `wasi:config` from the named configs a component was scaled with,
//! resolved on every call so a `config put` shows at once. Three shapes:
//! `store@0.2.0-rc.1`, and `runtime` and `store` of `0.2.0-draft`.

use super::bindings::wasi::{config0_2_0_draft as draft, config0_2_0_rc_1 as rc1};
use crate::capabilities::CapabilityView;

impl CapabilityView {
    fn config_get(&self, key: &str) -> Option<String> {
        self.caps.links.resolve(&self.caps.config).remove(key)
    }

    fn config_all(&self) -> Vec<(String, String)> {
        self.caps
            .links
            .resolve(&self.caps.config)
            .into_iter()
            .collect()
    }
}

impl rc1::store::Host for CapabilityView {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, rc1::store::Error>> {
        Ok(Ok(self.config_get(&key)))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, rc1::store::Error>> {
        Ok(Ok(self.config_all()))
    }
}

impl draft::store::Host for CapabilityView {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, draft::store::Error>> {
        Ok(Ok(self.config_get(&key)))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, draft::store::Error>> {
        Ok(Ok(self.config_all()))
    }
}

impl draft::runtime::Host for CapabilityView {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, draft::runtime::ConfigError>> {
        Ok(Ok(self.config_get(&key)))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, draft::runtime::ConfigError>> {
        Ok(Ok(self.config_all()))
    }
}
