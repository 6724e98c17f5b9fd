//! The hash table behind [`ClickId`](crate::ClickId)-keyed clicks: open addressing over one
//! array of `(key, value)` slots, Robin Hood probing.
//!
//! Why not `std`'s map: at a million clicks every lookup misses the cache, and a `HashMap`
//! lookup is two dependent misses (its control bytes, then the bucket they point to). Here the
//! key sits in the slot the hash names, so a lookup is one miss (and the next slot, if the
//! first holds another key, is usually in the same or the next cache line). A store keeps a
//! click and its conversions in two of these tables under one key, and looks in both before
//! using either result, so their two misses overlap instead of following one another.
//!
//! Robin Hood: an insert takes the slot of a resident that is nearer its home slot than the
//! new key is to its own, so a lookup for a missing key stops as soon as it meets a resident
//! nearer home than the key would be. That keeps "this click has no conversion yet", the most
//! common lookup in the conversions table, short at any fill.

use super::{IdKey, MIX, folded_multiply};

/// Grow past this fill (4/5): linear probing's probe counts climb steeply above it.
const MAX_LOAD: (usize, usize) = (4, 5);

/// The smallest table allocated.
const MIN_SLOTS: usize = 16;

pub(super) struct IdTable<V> {
    /// A power of two long, or empty.
    slots: Box<[Option<(IdKey, V)>]>,
    len: usize,
    /// Keeps which keys collide unknowable from the keys alone.
    seed: u64,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        Self {
            slots: Box::default(),
            len: 0,
            seed: rand::random(),
        }
    }
}

/// Where `key` would sit with no collisions: the low 64 bits of a `ClickId` are random, but
/// keys may be chosen by whoever sends clicks, so both halves are mixed with the seed.
#[inline]
fn home(seed: u64, mask: usize, key: &IdKey) -> usize {
    folded_multiply(folded_multiply(seed ^ key.high, MIX) ^ key.low, MIX) as usize & mask
}

/// How far the slot `at` is past `key`'s home slot.
#[inline]
fn distance(seed: u64, mask: usize, key: &IdKey, at: usize) -> usize {
    at.wrapping_sub(home(seed, mask, key)) & mask
}

impl<V> IdTable<V> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Asks the CPU to start loading `key`'s home slot and the next one (where the key is
    /// when displaced, and where a slot that spans two cache lines ends), without waiting for
    /// either: a software prefetch, which cannot fault and changes nothing. Nothing happens on
    /// targets without one.
    #[inline]
    pub(super) fn prefetch(&self, key: &IdKey) {
        #[cfg(all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse"
        ))]
        {
            let at = home(self.seed, self.mask(), key);
            for slot in self.slots.get(at..).unwrap_or_default().iter().take(2) {
                safe_arch::prefetch_t0(slot);
            }
        }
        #[cfg(not(all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse"
        )))]
        let _ = key;
    }

    /// The slot holding `key`.
    #[inline]
    fn find(&self, key: &IdKey) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let (seed, mask) = (self.seed, self.mask());
        let mut at = home(seed, mask, key);
        // At most every slot; the table always has an empty one, which ends the loop sooner.
        for dist in 0..self.slots.len() {
            match self.slots.get(at)? {
                None => return None,
                Some((resident, _)) if resident == key => return Some(at),
                // A resident nearer its home than `key` would be here: `key` would have taken
                // this slot, so it is not in the table.
                Some((resident, _)) if distance(seed, mask, resident, at) < dist => return None,
                Some(_) => at = (at + 1) & mask,
            }
        }
        None
    }

    #[inline]
    pub(super) fn get(&self, key: &IdKey) -> Option<&V> {
        let at = self.find(key)?;
        self.slots.get(at)?.as_ref().map(|(_, value)| value)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: &IdKey) -> Option<&mut V> {
        let at = self.find(key)?;
        self.slots.get_mut(at)?.as_mut().map(|(_, value)| value)
    }

    /// Adds `key`, which the caller has checked is not in the table.
    pub(super) fn insert_new(&mut self, key: IdKey, value: V) {
        if (self.len + 1) * MAX_LOAD.1 > self.slots.len() * MAX_LOAD.0 {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
        }
        self.place(key, value);
        self.len += 1;
    }

    /// Keeps only the entries `keep` (a pure test) says yes to, in place: a purge must not
    /// allocate a second table per shard (glibc then serves later large buffers from the
    /// heap, and the freed tables fragment it: a load test's peak memory grew by half).
    ///
    /// The walk starts after an empty slot and goes once round. A removal shifts the entries
    /// after it back by one ([`IdTable::remove_at`]) and the slot is looked at again; no entry
    /// moves past an empty slot, so none moves into the part already walked and none is
    /// skipped.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&IdKey, &V) -> bool) {
        let size = self.slots.len();
        let Some(empty) = self.slots.iter().position(Option::is_none) else {
            return;
        };
        let mask = self.mask();
        let mut step = 1;
        while step < size {
            let at = (empty + step) & mask;
            let drop = matches!(&self.slots[at], Some((key, value)) if !keep(key, value));
            if drop {
                self.remove_at(at);
            } else {
                step += 1;
            }
        }
    }

    /// Empties slot `at` and shifts back each following entry that is not in its home slot,
    /// so that every probe chain stays unbroken (Robin Hood's backward-shift deletion).
    fn remove_at(&mut self, mut hole: usize) {
        let (seed, mask) = (self.seed, self.mask());
        if self.slots[hole].take().is_some() {
            self.len -= 1;
        }
        loop {
            let next = (hole + 1) & mask;
            let displaced = matches!(
                &self.slots[next],
                Some((key, _)) if distance(seed, mask, key, next) > 0
            );
            if !displaced {
                return;
            }
            self.slots.swap(hole, next);
            hole = next;
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(slots));
        for (key, value) in old.into_vec().into_iter().flatten() {
            self.place(key, value);
        }
    }

    /// Puts an entry in its Robin Hood place. There is always an empty slot (the fill stays
    /// under [`MAX_LOAD`]), and each step moves one entry one slot further from its home, so
    /// the loop ends at one; the entry in hand is always put down, never dropped.
    fn place(&mut self, key: IdKey, value: V) {
        let (seed, mask) = (self.seed, self.mask());
        let mut carried = (key, value);
        let mut at = home(seed, mask, &carried.0);
        let mut dist = 0;
        loop {
            let slot = &mut self.slots[at];
            match slot {
                None => {
                    *slot = Some(carried);
                    return;
                }
                Some(resident) => {
                    let theirs = distance(seed, mask, &resident.0, at);
                    if theirs < dist {
                        std::mem::swap(resident, &mut carried);
                        dist = theirs;
                    }
                }
            }
            at = (at + 1) & mask;
            dist += 1;
        }
    }
}

fn empty_slots<T>(len: usize) -> Box<[Option<T>]> {
    std::iter::repeat_with(|| None).take(len).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::{IdKey, IdTable};

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Get(u8),
        Bump(u8),
        Retain(u8),
    }

    /// Few distinct keys, so that operations meet; their bits vary in both halves.
    fn key(n: u8) -> IdKey {
        IdKey {
            high: u64::from(n % 7) << 40,
            low: u64::from(n).wrapping_mul(0x0100_0000_0000_0001),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => any::<u8>().prop_map(Op::Get),
            2 => any::<u8>().prop_map(Op::Bump),
            1 => any::<u8>().prop_map(Op::Retain),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The table behaves as a `HashMap` does through inserts, lookups, updates and purges,
        /// across every resize: nothing is lost, nothing appears.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 0..400)) {
            let mut table = IdTable::<u32>::default();
            let mut model = HashMap::<u8, u32>::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        if let std::collections::hash_map::Entry::Vacant(slot) = model.entry(k) {
                            table.insert_new(key(k), v);
                            slot.insert(v);
                        } else {
                            prop_assert!(table.get(&key(k)).is_some());
                        }
                    }
                    Op::Get(k) => {
                        // A prefetch (of the key, or of one near the end of the array) is
                        // only a hint: the lookup after it answers as the map does.
                        table.prefetch(&key(k));
                        table.prefetch(&key(k.wrapping_add(1)));
                        prop_assert_eq!(table.get(&key(k)), model.get(&k));
                    }
                    Op::Bump(k) => {
                        if let Some(v) = table.get_mut(&key(k)) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = model.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                    }
                    Op::Retain(m) => {
                        let m = m % 4 + 1;
                        table.retain(|_, v| v % u32::from(m) != 0);
                        model.retain(|_, v| *v % u32::from(m) != 0);
                        // Every key, kept or dropped, as the map has it: a removal that broke
                        // a probe chain would hide a kept key here.
                        for k in 0..=u8::MAX {
                            prop_assert_eq!(table.get(&key(k)), model.get(&k));
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert!(robin_hood_holds(&table));
            }
            for k in 0..=u8::MAX {
                prop_assert_eq!(table.get(&key(k)), model.get(&k));
            }
        }
    }

    /// Every filled slot is counted, and every slot between an entry's home and its slot
    /// holds an entry at least as far from its own home as that slot is from the entry's:
    /// what lets a lookup stop early and a removal shift back without breaking a chain.
    fn robin_hood_holds<V>(table: &IdTable<V>) -> bool {
        let mask = table.mask();
        let filled = table.slots.iter().flatten().count();
        filled == table.len
            && table.slots.iter().enumerate().all(|(at, slot)| {
                let Some((key, _)) = slot else { return true };
                let dist = super::distance(table.seed, mask, key, at);
                (0..dist).all(|step| {
                    let before = at.wrapping_sub(dist).wrapping_add(step) & mask;
                    matches!(&table.slots[before], Some((resident, _))
                        if super::distance(table.seed, mask, resident, before) >= step)
                })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Forty keys that differ only in their low word, any seed: homes cluster, runs wrap
        /// round the end of the array, and purges cut through the middle of runs.
        #[test]
        fn clustered_keys_keep_every_chain_whole(
            ops in proptest::collection::vec((0u8..4, 0u64..40, any::<u32>()), 0..200),
            seed in any::<u64>(),
        ) {
            let mut table = IdTable::<u32> { seed, ..IdTable::default() };
            let mut model = HashMap::<u64, u32>::new();
            let key = |low: u64| IdKey { high: 0, low };
            for (op, k, v) in ops {
                match op {
                    0 | 1 => {
                        if let std::collections::hash_map::Entry::Vacant(slot) = model.entry(k) {
                            table.insert_new(key(k), v);
                            slot.insert(v);
                        }
                    }
                    2 => {
                        let m = v % 3 + 2;
                        table.retain(|_, x| x % m != 0);
                        model.retain(|_, x| *x % m != 0);
                    }
                    _ => {
                        let parity = u64::from(v % 2);
                        table.retain(|kept, _| kept.low % 2 == parity);
                        model.retain(|kept, _| kept % 2 == parity);
                    }
                }
                prop_assert!(robin_hood_holds(&table));
                for k in 0..40 {
                    prop_assert_eq!(table.get(&key(k)), model.get(&k));
                }
            }
        }
    }

    #[test]
    fn a_full_load_of_keys_is_all_found_and_nothing_else_is() {
        let mut table = IdTable::default();
        let keys = (0..10_000u64).map(|n| IdKey {
            high: n >> 3,
            low: n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        });
        for (n, k) in keys.clone().enumerate() {
            table.insert_new(k, n);
        }
        assert_eq!(table.len(), 10_000);
        for (n, k) in keys.enumerate() {
            assert_eq!(table.get(&k), Some(&n));
            let missing = IdKey {
                high: k.high,
                low: !k.low,
            };
            assert_eq!(table.get(&missing), None);
        }
        // Never fuller than 4/5.
        assert!(table.slots.len() * 4 >= table.len() * 5);
    }
}
