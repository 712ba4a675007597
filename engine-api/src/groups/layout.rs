//! Where a group's entries live in the shared engine.
//!
//! - data key `[group u64 BE][generation u32 BE][user key]` in the data namespace;
//! - meta name `[group u64 BE][generation u32 BE][user name]` in the meta namespace (the
//!   group's applied index is one of them);
//! - the group's record `[group u64 BE]` in the meta namespace, whose value is the live
//!   generation (`u32 BE`).
//!
//! Every group's entries share a fixed-width prefix that no other group's entries
//! start with, so every range a group reads or deletes is clipped to its own prefix and
//! no op of one group can reach another's. A record (8 bytes) sorts before its group's
//! meta names (at least 13 bytes), so a walk of the meta namespace meets each group's
//! record first.

use std::ops::Bound;

use bytes::Bytes;

use crate::batch::MAX_KEY_LEN;
use crate::error::{Error, Result};
use crate::keys::prefix_successor;
use crate::range::KeyRange;

/// The bytes a group puts before each of its keys and meta names.
pub const GROUP_KEY_PREFIX_LEN: usize = 12;

/// The longest key or meta name of a group: [`MAX_KEY_LEN`] less the group's prefix.
pub const GROUP_MAX_KEY_LEN: usize = MAX_KEY_LEN - GROUP_KEY_PREFIX_LEN;

/// The prefix of one generation of one group.
pub(crate) fn prefix(group: u64, generation: u32) -> [u8; GROUP_KEY_PREFIX_LEN] {
    let mut prefix = [0; GROUP_KEY_PREFIX_LEN];
    prefix[..8].copy_from_slice(&group.to_be_bytes());
    prefix[8..].copy_from_slice(&generation.to_be_bytes());
    prefix
}

/// `key` under `prefix`.
pub(crate) fn prefixed(prefix: &[u8], key: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(prefix.len() + key.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(key);
    out.into()
}

/// The meta name of a group's record.
pub(crate) fn record_name(group: u64) -> [u8; 8] {
    group.to_be_bytes()
}

/// The value of a group's record: its live generation.
pub(crate) fn encode_record(generation: u32) -> [u8; 4] {
    generation.to_be_bytes()
}

/// The live generation a record holds.
pub(crate) fn decode_record(group: u64, value: &[u8]) -> Result<u32> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| {
        Error::Corruption(format!(
            "the record of group {group} has {} bytes, not 4",
            value.len()
        ))
    })?;
    Ok(u32::from_be_bytes(bytes))
}

/// The group an engine key or meta name belongs to.
pub(crate) fn group_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

/// `range` (of a group's own keys) moved under `prefix`: the same keys, and no key
/// without the prefix. `None` when it holds no storable engine key.
pub(crate) fn clip(prefix: &[u8], range: &KeyRange) -> Option<KeyRange> {
    let start = match range.start() {
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
        Bound::Included(key) => Bound::Included(prefixed(prefix, key).to_vec()),
        Bound::Excluded(key) => Bound::Excluded(prefixed(prefix, key).to_vec()),
    };
    let end = match range.end() {
        Bound::Unbounded => prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Included(key) => Bound::Included(prefixed(prefix, key).to_vec()),
        Bound::Excluded(key) => Bound::Excluded(prefixed(prefix, key).to_vec()),
    };
    KeyRange::storable(as_slice(&start), as_slice(&end))
}

/// Every engine key under `from` and up to (not including) `to`, both group prefixes or
/// group records: `None` for `to` is the end of the keyspace.
pub(crate) fn between(from: &[u8], to: Option<&[u8]>) -> Option<KeyRange> {
    KeyRange::storable(
        Bound::Included(from),
        to.map_or(Bound::Unbounded, Bound::Excluded),
    )
}

/// Every engine key of `group`, all generations, and its record.
pub(crate) fn whole_group(group: u64) -> Option<KeyRange> {
    let start = record_name(group);
    let end = group.checked_add(1).map(record_name);
    between(&start, end.as_ref().map(|end| &end[..]))
}

/// Every engine key of `group` in a generation other than `live` (and not its record):
/// the two ranges on either side of the live generation.
pub(crate) fn other_generations(group: u64, live: u32) -> [Option<KeyRange>; 2] {
    let below = between(&prefix(group, 0), Some(&prefix(group, live)));
    let above = prefix_successor(&prefix(group, live)).and_then(|after| {
        let end = group.checked_add(1).map(record_name);
        between(&after, end.as_ref().map(|end| &end[..]))
    });
    [below, above]
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key),
        Bound::Excluded(key) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clipped(group: u64, start: Bound<&[u8]>, end: Bound<&[u8]>) -> KeyRange {
        let range = KeyRange::storable(start, end).expect("a range");
        clip(&prefix(group, 0), &range).expect("a clipped range")
    }

    #[test]
    fn the_whole_range_of_a_group_holds_none_of_its_neighbours_keys() {
        for group in [0, 1, 41, u64::MAX - 1, u64::MAX] {
            let all = clip(&prefix(group, 3), &KeyRange::full()).expect("a range");
            assert!(all.contains(&prefixed(&prefix(group, 3), b"k")));
            assert!(all.contains(&prefixed(&prefix(group, 3), &[0xFF; 400])));
            for (other, generation) in [
                (group.wrapping_add(1), 3),
                (group.wrapping_sub(1), 3),
                (group, 2),
                (group, 4),
            ] {
                let key = prefixed(&prefix(other, generation), b"k");
                assert!(!all.contains(&key), "{group}: {key:?}");
                let key = prefixed(&prefix(other, generation), &[0xFF; 400]);
                assert!(!all.contains(&key), "{group}: {key:?}");
            }
            assert!(!all.contains(&record_name(group)));
        }
    }

    #[test]
    fn an_unbounded_end_stops_at_the_group_and_an_over_long_bound_is_clipped() {
        let range = clipped(7, Bound::Included(b"m"), Bound::Unbounded);
        assert!(range.contains(&prefixed(&prefix(7, 0), b"z")));
        assert!(!range.contains(&prefixed(&prefix(7, 0), b"a")));
        assert!(!range.contains(&prefixed(&prefix(7, 1), b"z")));
        let long = vec![b'x'; GROUP_MAX_KEY_LEN + 5];
        let range = clipped(7, Bound::Included(b"a"), Bound::Included(&long));
        let Bound::Included(end) = range.end() else {
            panic!("an over-long end is clipped to an included bound");
        };
        assert_eq!(end.len(), MAX_KEY_LEN);
        assert!(range.contains(&prefixed(&prefix(7, 0), &long[..GROUP_MAX_KEY_LEN])));
    }

    #[test]
    fn other_generations_never_hold_the_live_one_or_the_record() {
        for live in [0, 1, 9, u32::MAX] {
            let ranges = other_generations(5, live);
            let holds = |key: &[u8]| ranges.iter().flatten().any(|range| range.contains(key));
            assert!(!holds(&prefixed(&prefix(5, live), b"k")));
            assert!(!holds(&record_name(5)));
            assert!(!holds(&prefixed(&prefix(6, 0), b"k")));
            assert!(!holds(&prefixed(&prefix(4, u32::MAX), b"k")));
            if live > 0 {
                assert!(holds(&prefixed(&prefix(5, live - 1), b"k")));
            }
            if live < u32::MAX {
                assert!(holds(&prefixed(&prefix(5, live + 1), b"k")));
            }
        }
    }
}
