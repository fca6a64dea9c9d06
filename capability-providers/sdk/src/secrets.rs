//! Link secrets for providers: the values a link's secret references name,
//! merged into the link config the provider receives. Builtin providers get
//! them from their host; an external provider process resolves them itself
//! with the key its host hands it ([`crate::external::env::SECRETS_KEY`]).

use trellis_lattice::Lattice;
use trellis_lattice::secrets::{SecretStoreError, SecretsKey};

use crate::{LinkContext, ProviderError};

/// Why secrets cannot be read without a key, and what to do.
pub const NO_KEY: &str = "this host has no secrets key, so it cannot read secrets; start it with `trellis host --secrets-key FILE` (the lattice's key file)";

/// `link` with its secrets merged into its configs, by name (source
/// secrets into `source_config`, target secrets into `target_config`;
/// a secret wins over a config key of the same name). The values exist
/// only in what the provider receives, never in the lattice in clear.
pub async fn link_with_secrets(
    lattice: &Lattice,
    key: Option<&SecretsKey>,
    mut link: LinkContext,
) -> Result<LinkContext, ProviderError> {
    if link.link.source_secrets.is_empty() && link.link.target_secrets.is_empty() {
        return Ok(link);
    }
    let key = key.ok_or_else(|| {
        ProviderError::Unavailable(format!(
            "link {} names secrets, but {NO_KEY}",
            link.link.key().storage_key()
        ))
    })?;
    let unavailable = |e: SecretStoreError| ProviderError::Unavailable(e.to_string());
    let store = lattice
        .secret_store(Some(key.clone()))
        .await
        .map_err(unavailable)?;
    let sides = [
        (&link.link.source_secrets, &mut link.source_config),
        (&link.link.target_secrets, &mut link.target_config),
    ];
    for (refs, config) in sides {
        for r in refs {
            let value = store.resolve(r).await.map_err(unavailable)?;
            let text = value.as_str().ok_or_else(|| {
                ProviderError::Config(format!(
                    "secret {} (key {}) is not UTF-8 text, and link config takes text only",
                    r.name, r.key
                ))
            })?;
            config.insert(r.name.to_string(), text.to_owned());
        }
    }
    Ok(link)
}
