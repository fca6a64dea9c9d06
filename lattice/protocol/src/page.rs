//! Pages of a listing. A reply is one NATS message, so a listing that
//! grows with the lattice (links, apps) is sent in pages of a bounded
//! number of JSON bytes, each naming where the next one starts.

use serde::Serialize;

use crate::limits;

/// Collects the items of one page until the next would overflow it.
#[derive(Debug)]
pub struct Pager<T> {
    items: Vec<T>,
    used: usize,
    budget: usize,
    /// An item was turned away: the listing goes on after this page.
    full: bool,
}

impl<T: Serialize> Pager<T> {
    /// An empty page of at most `page_bytes` bytes of items (the caller's
    /// wish, clamped as inventory pages are; `None`: the default).
    pub fn new(page_bytes: Option<usize>) -> Self {
        let budget = page_bytes.unwrap_or(limits::INVENTORY_PAGE_BYTES).clamp(
            limits::MIN_INVENTORY_PAGE_BYTES,
            limits::INVENTORY_PAGE_BYTES,
        );
        Self {
            items: Vec::new(),
            used: 0,
            budget,
            full: false,
        }
    }

    /// Adds `item` when it fits; `false` (and the item dropped) when the
    /// page is full. The first item always fits, so every page moves the
    /// listing forward.
    pub fn push(&mut self, item: T) -> bool {
        // The comma between items counts too.
        let len = serde_json::to_vec(&item).map_or(0, |v| v.len()) + 1;
        if self.full || !self.items.is_empty() && self.used.saturating_add(len) > self.budget {
            self.full = true;
            return false;
        }
        self.used += len;
        self.items.push(item);
        true
    }

    /// The items of the page, in the order pushed, and where the next
    /// page starts (`key` of the last item) when one was turned away.
    pub fn finish<K>(self, key: impl FnOnce(&T) -> K) -> (Vec<T>, Option<K>) {
        let next = if self.full {
            self.items.last().map(key)
        } else {
            None
        };
        (self.items, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_stops_before_its_budget_but_always_takes_one_item() {
        let mut page = Pager::new(Some(limits::MIN_INVENTORY_PAGE_BYTES));
        let item = "x".repeat(300);
        let mut taken = 0;
        while page.push(item.clone()) {
            taken += 1;
        }
        // 303 bytes per item (quotes and comma) in 1024.
        assert_eq!(taken, 3);
        let (items, next) = page.finish(|s| s.len());
        assert_eq!((items.len(), next), (3, Some(300)));
        let mut big = Pager::new(Some(limits::MIN_INVENTORY_PAGE_BYTES));
        assert!(big.push("y".repeat(4096)));
        assert!(!big.push("z".to_string()));
        assert_eq!(
            big.finish(|s| s.len()),
            (vec!["y".repeat(4096)], Some(4096))
        );
        let mut roomy = Pager::new(None);
        assert!(roomy.push(1u8));
        assert_eq!(
            roomy.finish(|n| *n),
            (vec![1], None),
            "nothing turned away, no next page"
        );
    }

    #[test]
    fn page_sizes_are_clamped() {
        let tiny: Pager<u8> = Pager::new(Some(1));
        assert_eq!(tiny.budget, limits::MIN_INVENTORY_PAGE_BYTES);
        let huge: Pager<u8> = Pager::new(Some(usize::MAX));
        assert_eq!(huge.budget, limits::INVENTORY_PAGE_BYTES);
    }
}
