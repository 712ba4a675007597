//! Ordered range reads: [`RangeQuery`] (what the caller asks for), [`KeyRange`] (the
//! bounds a backend is handed), [`Direction`] and the [`ScanVisitor`] every scan calls.
//!
//! Why a visitor rather than an iterator: see the crate docs.

use std::ops::{Bound, ControlFlow, RangeBounds};

use bytes::Bytes;

use crate::batch::MAX_KEY_LEN;
use crate::error::{Error, Result};
use crate::keys::prefix_successor;

/// What a scan calls with each entry, in scan order: return
/// [`ControlFlow::Continue`] for the next entry, [`ControlFlow::Break`] to stop, or an
/// error to stop and report it.
pub type ScanVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>> + 'a;

/// Hands each entry of `entries` to `visit` until it breaks or fails: the walk every
/// backend's [`ReadView::scan`](crate::ReadView::scan) ends in, whatever its iterator.
/// An engine error becomes an [`Error`] through `map_error`.
///
/// Each entry is taken apart where the engine's iterator returns it and only its two
/// slices travel on, all of it inlined into the backend's walk: an entry moved whole into
/// a closure is spilled to the stack and read back with wider loads than were stored, a
/// store-to-load stall per entry that cost heed's scans about 15% of their time.
#[inline(always)]
pub fn visit_each<K, V, E>(
    entries: impl Iterator<Item = std::result::Result<(K, V), E>>,
    map_error: impl Fn(E) -> Error,
    visit: &mut ScanVisitor<'_>,
) -> Result<()>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for entry in entries {
        let (key, value) = entry.map_err(&map_error)?;
        if visit(key.as_ref(), value.as_ref())?.is_break() {
            break;
        }
    }
    Ok(())
}

/// The order in which a scan visits keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending byte order.
    #[default]
    Forward,
    /// Descending byte order.
    Reverse,
}

/// An ordered range read of data keys: start and end bounds, a direction, and an
/// optional limit on the number of entries.
///
/// ```
/// use std::ops::Bound;
/// use engine_api::{Direction, RangeQuery};
///
/// let all = RangeQuery::all();
/// let users = RangeQuery::prefix("user/");
/// let last_ten = RangeQuery::new("log/0001".."log/0100").reverse().limit(10);
/// let after = RangeQuery::from_bounds(Bound::Excluded("k".into()), Bound::Unbounded);
/// assert_eq!(last_ten.direction(), Direction::Reverse);
/// assert_eq!(last_ten.max_entries(), Some(10));
/// # let _ = (all, users, after);
/// ```
///
/// Bounds may be of any length, empty included; an empty or inverted range (start above
/// end, or equal with either excluded) reads nothing and is not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeQuery {
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    direction: Direction,
    limit: Option<usize>,
}

impl RangeQuery {
    /// The keys in `range`: `"a".."c"`, `"a"..="c"`, `"a"..`, `.."c"`.
    pub fn new<K: AsRef<[u8]>>(range: impl RangeBounds<K>) -> Self {
        let own = |bound: Bound<&K>| match bound {
            Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key.as_ref())),
            Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Self::from_bounds(own(range.start_bound()), own(range.end_bound()))
    }

    /// The keys between `start` and `end`.
    pub fn from_bounds(start: Bound<Bytes>, end: Bound<Bytes>) -> Self {
        Self {
            start,
            end,
            direction: Direction::Forward,
            limit: None,
        }
    }

    /// Every data key.
    pub fn all() -> Self {
        Self::from_bounds(Bound::Unbounded, Bound::Unbounded)
    }

    /// The keys starting with `prefix` (every key when it is empty).
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let prefix = prefix.into();
        let end = prefix_successor(&prefix)
            .map_or(Bound::Unbounded, |end| Bound::Excluded(Bytes::from(end)));
        Self::from_bounds(Bound::Included(prefix), end)
    }

    /// The same range in descending key order.
    #[must_use]
    pub fn reverse(mut self) -> Self {
        self.direction = Direction::Reverse;
        self
    }

    /// The same range in `direction`.
    #[must_use]
    pub fn direction_of(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// At most `limit` entries, the first ones in scan order.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The start bound (the lowest key side, whatever the direction).
    pub fn start(&self) -> Bound<&[u8]> {
        as_slice(&self.start)
    }

    /// The end bound (the highest key side, whatever the direction).
    pub fn end(&self) -> Bound<&[u8]> {
        as_slice(&self.end)
    }

    /// The scan order.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The limit, if any.
    pub fn max_entries(&self) -> Option<usize> {
        self.limit
    }

    /// The bounds as a backend receives them, or `None` when no storable key is in the
    /// range.
    pub fn key_range(&self) -> Option<KeyRange> {
        KeyRange::storable(self.start(), self.end())
    }
}

fn as_slice(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key),
        Bound::Excluded(key) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A non-empty range of keys whose bound keys are each 1 to [`MAX_KEY_LEN`] bytes long:
/// what a backend is handed for a scan or a range delete, so that no engine sees a key
/// it would reject (LMDB refuses empty and over-long keys even as a cursor position).
///
/// [`KeyRange::storable`] builds one from any bounds and keeps exactly the storable keys
/// (1 to [`MAX_KEY_LEN`] bytes) the bounds hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    start: Bound<Bytes>,
    end: Bound<Bytes>,
}

impl KeyRange {
    /// Every key.
    pub fn full() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// The range holding exactly the storable keys between `start` and `end`, or `None`
    /// when it holds none (an inverted range, an empty end key, ...).
    ///
    /// A bound longer than [`MAX_KEY_LEN`] is replaced by one of that length that holds
    /// the same storable keys: for a key `k` of at most `MAX_KEY_LEN` bytes and a longer
    /// bound `b` whose first `MAX_KEY_LEN` bytes are `t`, `k >= b` exactly when `k > t`,
    /// and `k < b` exactly when `k <= t`. An empty start is unbounded (every key is above
    /// it); an empty end holds nothing.
    pub fn storable(start: Bound<&[u8]>, end: Bound<&[u8]>) -> Option<Self> {
        let start = match start {
            Bound::Included(key) | Bound::Excluded(key) if key.is_empty() => Bound::Unbounded,
            Bound::Included(key) | Bound::Excluded(key) if key.len() > MAX_KEY_LEN => {
                Bound::Excluded(Bytes::copy_from_slice(&key[..MAX_KEY_LEN]))
            }
            Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key)),
            Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match end {
            Bound::Included(key) | Bound::Excluded(key) if key.is_empty() => return None,
            Bound::Included(key) | Bound::Excluded(key) if key.len() > MAX_KEY_LEN => {
                Bound::Included(Bytes::copy_from_slice(&key[..MAX_KEY_LEN]))
            }
            Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key)),
            Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let empty = match (&start, &end) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (Bound::Included(low) | Bound::Excluded(low), Bound::Excluded(high))
            | (Bound::Excluded(low), Bound::Included(high)) => low >= high,
            _ => false,
        };
        (!empty).then_some(Self { start, end })
    }

    /// The half-open range `[start, end)` of
    /// [`WriteBatch::delete_range`](crate::WriteBatch::delete_range), or `None` when it
    /// holds no storable key.
    pub fn half_open(start: &[u8], end: &[u8]) -> Option<Self> {
        Self::storable(Bound::Included(start), Bound::Excluded(end))
    }

    /// The keys starting with `prefix`, or `None` when no storable key does.
    pub fn prefix(prefix: &[u8]) -> Option<Self> {
        let end = prefix_successor(prefix);
        Self::storable(
            Bound::Included(prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        )
    }

    /// The start bound.
    pub fn start(&self) -> Bound<&[u8]> {
        as_slice(&self.start)
    }

    /// The end bound.
    pub fn end(&self) -> Bound<&[u8]> {
        as_slice(&self.end)
    }

    /// Both bounds, in the shape `BTreeMap::range`, redb, heed and fjall take.
    pub fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (self.start(), self.end())
    }

    /// Whether the range holds every key.
    pub fn is_full(&self) -> bool {
        matches!(
            (&self.start, &self.end),
            (Bound::Unbounded, Bound::Unbounded)
        )
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        RangeBounds::<[u8]>::contains(&self.bounds(), key)
    }
}

/// The key ranges one range-deleting op removes: nothing, one range, or the two ranges
/// on either side of an excluded prefix, in ascending order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedRanges {
    ranges: [Option<KeyRange>; 2],
}

impl DeletedRanges {
    /// The keys starting with `prefix` and not with `exclude`.
    pub fn prefix(prefix: &[u8], exclude: Option<&[u8]>) -> Self {
        let ranges = match exclude {
            // Every key under `prefix` is excluded.
            Some(exclude) if prefix.starts_with(exclude) => [None, None],
            // The excluded keys sit inside the range: delete on both sides of them.
            Some(exclude) if exclude.starts_with(prefix) => {
                let end = prefix_successor(prefix);
                let before = KeyRange::half_open(prefix, exclude);
                let after = prefix_successor(exclude).and_then(|after| {
                    KeyRange::storable(
                        Bound::Included(&after),
                        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
                    )
                });
                [before, after]
            }
            // Neither prefix contains the other, so no key starts with both.
            _ => [KeyRange::prefix(prefix), None],
        };
        Self { ranges }
    }

    /// The half-open range `[start, end)`.
    pub fn half_open(start: &[u8], end: &[u8]) -> Self {
        Self {
            ranges: [KeyRange::half_open(start, end), None],
        }
    }

    /// Ranges already computed (ascending and disjoint), such as one group's share of
    /// another op's ranges.
    pub(crate) fn from_ranges(ranges: [Option<KeyRange>; 2]) -> Self {
        Self { ranges }
    }

    /// The ranges, ascending and disjoint.
    pub fn iter(&self) -> impl Iterator<Item = &KeyRange> + '_ {
        self.ranges.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_in(range: Option<KeyRange>, keys: &[&[u8]]) -> Vec<Vec<u8>> {
        keys.iter()
            .filter(|key| range.as_ref().is_some_and(|range| range.contains(key)))
            .map(|key| key.to_vec())
            .collect()
    }

    #[test]
    fn inverted_and_empty_ranges_hold_nothing() {
        assert_eq!(
            KeyRange::storable(Bound::Included(b"b"), Bound::Included(b"a")),
            None
        );
        assert_eq!(KeyRange::half_open(b"a", b"a"), None);
        assert_eq!(
            KeyRange::storable(Bound::Excluded(b"a"), Bound::Included(b"a")),
            None
        );
        assert_eq!(KeyRange::half_open(b"", b""), None);
        assert!(KeyRange::storable(Bound::Included(b"a"), Bound::Included(b"a")).is_some());
    }

    #[test]
    fn an_empty_start_is_unbounded() {
        let range = KeyRange::half_open(b"", b"b");
        assert_eq!(range.as_ref().map(KeyRange::start), Some(Bound::Unbounded));
    }

    #[test]
    fn over_long_bounds_keep_exactly_the_storable_keys() {
        let t = vec![b'k'; MAX_KEY_LEN];
        let mut longer = t.clone();
        longer.push(0);
        let mut above = t.clone();
        above[MAX_KEY_LEN - 1] = b'l';
        let below = vec![b'k'; MAX_KEY_LEN - 1];
        let keys: [&[u8]; 3] = [&below, &t, &above];
        // keys >= longer: only `above`; keys < longer: `below` and `t`.
        assert_eq!(
            keys_in(
                KeyRange::storable(Bound::Included(&longer), Bound::Unbounded),
                &keys
            ),
            vec![above.clone()]
        );
        assert_eq!(
            keys_in(
                KeyRange::storable(Bound::Unbounded, Bound::Excluded(&longer)),
                &keys
            ),
            vec![below.clone(), t.clone()]
        );
        // Every bound the backend sees is storable.
        let range = KeyRange::storable(Bound::Included(&longer), Bound::Excluded(&longer));
        assert_eq!(range, None);
    }

    #[test]
    fn an_exclude_inside_the_prefix_splits_it_in_two() {
        let ranges = DeletedRanges::prefix(b"user/", Some(b"user/keep/"));
        let keys: [&[u8]; 6] = [
            b"other",
            b"user/1",
            b"user/keep",
            b"user/keep/1",
            b"user/z",
            b"user0",
        ];
        let deleted: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|key| ranges.iter().any(|range| range.contains(key)))
            .collect();
        assert_eq!(deleted, [&b"user/1"[..], b"user/keep", b"user/z"]);
        assert_eq!(
            DeletedRanges::prefix(b"user/1", Some(b"user/"))
                .iter()
                .count(),
            0
        );
    }
}
