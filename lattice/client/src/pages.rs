//! Reading a paged listing to its end, whoever answers it.

use std::fmt::Debug;
use std::future::Future;

use trellis_protocol::limits::MAX_INVENTORY_PAGES;

use crate::error::ControlError;

/// Every item of a listing: `fetch(after)` returns one page and where the
/// next starts. The answerer is not trusted to end it: cursors must move
/// forward, and at most [`MAX_INVENTORY_PAGES`] pages are read.
pub(crate) async fn read_all<K, T, F, Fut>(
    subject: impl Fn() -> String,
    what: &str,
    mut fetch: F,
) -> Result<Vec<T>, ControlError>
where
    K: PartialOrd + Debug,
    F: FnMut(Option<&K>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<K>), ControlError>>,
{
    let bad = |reason: String| ControlError::BadReply {
        subject: subject(),
        reason,
    };
    let mut after: Option<K> = None;
    let mut all = Vec::new();
    for _ in 0..MAX_INVENTORY_PAGES {
        let (items, next) = fetch(after.as_ref()).await?;
        all.extend(items);
        match next {
            // Pages must move forward: an answerer that repeats or goes
            // back (A, B, A, ...) would otherwise be read until the cap.
            Some(next) if after.as_ref().is_none_or(|after| &next > after) => after = Some(next),
            Some(next) => return Err(bad(format!("{what} pages do not advance past {next:?}"))),
            None => return Ok(all),
        }
    }
    Err(bad(format!(
        "more than {MAX_INVENTORY_PAGES} pages of {what}"
    )))
}
