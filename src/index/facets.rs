//! Counts of the desks that offer one of a set of service domains and pass a search's filters —
//! how many, how many speak each language and offer each domain — for searches understood as
//! needs. One domain under an audience filter alone is counted when the bundle loads; any other
//! combination is counted exactly by one pass over the desks' filter bits the first time it is
//! asked, then kept with the bundle (keyed by bitmasks only: no search text is kept).

use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::text::{BitCounts, DeskBits};
use crate::model::{Audience, Domain};

/// Audience bits, as in [`DeskBits::audience`].
pub const PUBLIC: u8 = 1;
pub const UNIONS: u8 = 2;

/// Combinations kept per bundle; past this the cache starts again (each entry is about 1 KB).
const MAX_KEPT: usize = 4096;

/// The audience bit of `a`.
pub fn audience_bit(a: Audience) -> u8 {
    match a {
        Audience::Public => PUBLIC,
        Audience::Unions => UNIONS,
    }
}

/// What is counted: desks offering any domain of `needs` whose bits meet the filter masks
/// (`langs`, `domains`, `audience`: any of each; all ones for "any").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountKey {
    pub needs: u32,
    pub langs: u64,
    pub domains: u32,
    pub audience: u8,
}

/// The counts over the desks a [`CountKey`] selects, and every distinct subset of the needs
/// they offer (what tells the best level a search can reach).
#[derive(Debug, Clone, Default)]
pub struct NeedMatch {
    pub counts: BitCounts,
    pub subsets: Vec<u32>,
}

/// Counts per combination of needs and filters, for one bundle.
pub struct NeedCounts {
    kept: Mutex<FxHashMap<CountKey, Arc<NeedMatch>>>,
}

impl NeedCounts {
    /// Counts every single domain under each audience filter (public, unions, all) in one pass.
    pub fn build(bits: &[DeskBits]) -> NeedCounts {
        let audiences = [PUBLIC, UNIONS, u8::MAX];
        let mut table = vec![NeedMatch::default(); Domain::ALL.len() * audiences.len()];
        for (ord, b) in bits.iter().enumerate() {
            let mut d = b.domains;
            while d != 0 {
                let i = d.trailing_zeros() as usize;
                d &= d - 1;
                if i >= Domain::ALL.len() {
                    continue;
                }
                for (j, a) in audiences.iter().enumerate() {
                    if b.audience & a != 0 {
                        table[i * audiences.len() + j].counts.add(ord as u32, b);
                    }
                }
            }
        }
        let mut kept = FxHashMap::default();
        for (slot, mut m) in table.into_iter().enumerate() {
            let (i, j) = (slot / audiences.len(), slot % audiences.len());
            let needs = 1u32 << i;
            if m.counts.matches > 0 {
                m.subsets.push(needs);
            }
            kept.insert(CountKey { needs, langs: u64::MAX, domains: u32::MAX, audience: audiences[j] }, Arc::new(m));
        }
        NeedCounts { kept: Mutex::new(kept) }
    }

    /// The counts for `key`: kept ones, or `accept`'s pass over every desk's bits (`accept`
    /// must select exactly what `key` says).
    pub fn get(&self, key: CountKey, bits: &[DeskBits], accept: impl FnMut(u32, &DeskBits) -> bool) -> Arc<NeedMatch> {
        if let Some(m) = self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return m.clone();
        }
        let m = Arc::new(scan(bits, key.needs, accept));
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.retain(|k, _| k.langs == u64::MAX && k.domains == u32::MAX && k.needs.count_ones() == 1);
        }
        kept.insert(key, m.clone());
        m
    }
}

/// Exact counts over the desks whose bits `accept` lets through, with the subsets of `needs`
/// they offer.
pub fn scan(bits: &[DeskBits], needs: u32, mut accept: impl FnMut(u32, &DeskBits) -> bool) -> NeedMatch {
    let mut m = NeedMatch::default();
    let mut seen: Vec<u32> = Vec::new();
    for (ord, b) in bits.iter().enumerate() {
        if accept(ord as u32, b) {
            m.counts.add(ord as u32, b);
            let sub = b.domains & needs;
            if !seen.contains(&sub) {
                seen.push(sub);
            }
        }
    }
    m.subsets = seen;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(langs: u64, domains: u32, audience: u8) -> DeskBits {
        DeskBits { langs, domains, audience }
    }

    #[test]
    fn kept_counts_equal_a_fresh_pass() {
        let bits = vec![desk(1, 0b011, PUBLIC), desk(2, 0b010, UNIONS), desk(3, 0b100, PUBLIC), desk(1, 0b110, PUBLIC)];
        let n = NeedCounts::build(&bits);
        let key = CountKey { needs: 0b010, langs: u64::MAX, domains: u32::MAX, audience: PUBLIC };
        let kept = n.get(key, &bits, |_, _| panic!("single domains are counted at build"));
        let fresh = scan(&bits, 0b010, |_, b| b.domains & 0b010 != 0 && b.audience == PUBLIC);
        assert_eq!(kept.counts, fresh.counts);
        assert_eq!(kept.counts.matches, 2);
        assert_eq!(kept.counts.langs[0], 2);
        // Two needs: counted once, then kept.
        let key = CountKey { needs: 0b101, langs: u64::MAX, domains: u32::MAX, audience: u8::MAX };
        let m = n.get(key, &bits, |_, b| b.domains & 0b101 != 0);
        assert_eq!(m.counts.matches, 3);
        let mut subsets = m.subsets.clone();
        subsets.sort_unstable();
        assert_eq!(subsets, vec![0b001, 0b100]);
        let again = n.get(key, &bits, |_, _| panic!("kept"));
        assert_eq!(again.counts, m.counts);
    }
}
