//! Reads of the store plus the not yet committed writes of an apply call.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use fsmstore::{Bytes, Direction, Engine, Op, RangeQuery};

/// Reads for [`Application::apply`](crate::Application::apply): the committed store
/// plus the writes of the earlier entries of the same apply call.
pub trait PendingReads {
    /// The value of data key `key` as the entries before this one left it.
    fn get(&self, key: &[u8]) -> fsmstore::Result<Option<Bytes>>;

    /// The data entries `query` selects (bounds, direction and limit as
    /// [`Engine::range`]) as the entries before this one left them: their puts merged
    /// into the store's entries in key order, their deletes, prefix deletes and range
    /// deletes applied. The store is read in one scan that stops at the limit.
    fn range(&self, query: &RangeQuery) -> fsmstore::Result<Vec<(Bytes, Bytes)>>;
}

/// The writes of the entries applied so far in one apply call, over the store.
pub(crate) struct Pending<'a> {
    engine: &'a dyn Engine,
    /// Keys written since the start of the call: `Some` put, `None` deleted.
    written: BTreeMap<Bytes, Option<Bytes>>,
    /// Prefix and range deletes since the start of the call, as predicates' data.
    deleted: Vec<Deleted>,
    /// How many ops of the shared batch are already folded in.
    folded: usize,
}

enum Deleted {
    Prefix {
        prefix: Bytes,
        exclude: Option<Bytes>,
    },
    Range {
        start: Bytes,
        end: Bytes,
    },
}

impl Deleted {
    fn covers(&self, key: &[u8]) -> bool {
        match self {
            Deleted::Prefix { prefix, exclude } => {
                key.starts_with(prefix) && !exclude.as_ref().is_some_and(|e| key.starts_with(e))
            }
            Deleted::Range { start, end } => key >= &start[..] && key < &end[..],
        }
    }
}

impl<'a> Pending<'a> {
    pub(crate) fn new(engine: &'a dyn Engine) -> Self {
        Self {
            engine,
            written: BTreeMap::new(),
            deleted: Vec::new(),
            folded: 0,
        }
    }

    /// Takes in the ops added to `ops` since the last call.
    pub(crate) fn fold(&mut self, ops: &[Op]) {
        for op in ops.iter().skip(self.folded) {
            match op {
                Op::Put { key, value } => {
                    self.written.insert(key.clone(), Some(value.clone()));
                }
                Op::Delete { key } => {
                    self.written.insert(key.clone(), None);
                }
                Op::DeletePrefix { prefix, exclude } => {
                    let deleted = Deleted::Prefix {
                        prefix: prefix.clone(),
                        exclude: exclude.clone(),
                    };
                    self.forget(&deleted);
                }
                Op::DeleteRange { start, end } => {
                    let deleted = Deleted::Range {
                        start: start.clone(),
                        end: end.clone(),
                    };
                    self.forget(&deleted);
                }
                Op::PutMeta { .. } | Op::DeleteMeta { .. } => {}
            }
        }
        self.folded = ops.len();
    }

    fn forget(&mut self, deleted: &Deleted) {
        self.written.retain(|key, _| !deleted.covers(key));
        self.deleted.push(match deleted {
            Deleted::Prefix { prefix, exclude } => Deleted::Prefix {
                prefix: prefix.clone(),
                exclude: exclude.clone(),
            },
            Deleted::Range { start, end } => Deleted::Range {
                start: start.clone(),
                end: end.clone(),
            },
        });
    }
}

/// Whether `BTreeMap::range` may be called with these bounds (it panics on an inverted
/// range, and on equal bounds that are both excluded); such a range holds no key.
fn is_valid_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(start) | Bound::Excluded(start), Bound::Included(end)) => start <= end,
        (Bound::Included(start), Bound::Excluded(end)) => start <= end,
        (Bound::Excluded(start), Bound::Excluded(end)) => start < end,
        _ => true,
    }
}

fn owned(bound: Bound<&[u8]>) -> Bound<Bytes> {
    bound.map(Bytes::copy_from_slice)
}

impl PendingReads for Pending<'_> {
    fn range(&self, query: &RangeQuery) -> fsmstore::Result<Vec<(Bytes, Bytes)>> {
        let limit = query.max_entries().unwrap_or(usize::MAX);
        let mut found = Vec::new();
        if limit == 0 || !is_valid_range(query.start(), query.end()) {
            return Ok(found);
        }
        let direction = query.direction();
        let puts = self
            .written
            .range::<[u8], _>((query.start(), query.end()))
            .filter_map(|(key, value)| Some((key, value.as_ref()?)));
        let mut puts: Box<dyn Iterator<Item = (&Bytes, &Bytes)>> = match direction {
            Direction::Forward => Box::new(puts),
            Direction::Reverse => Box::new(puts.rev()),
        };
        let mut next_put = puts.next();
        // Whether `put` comes before `key` in scan order.
        let before = |put: &[u8], key: &[u8]| match direction {
            Direction::Forward => put < key,
            Direction::Reverse => put > key,
        };
        // The store's entries without a limit: pending deletes and overwrites change
        // which of them count; the visitor stops at the limit.
        let stored = RangeQuery::from_bounds(owned(query.start()), owned(query.end()))
            .direction_of(direction);
        self.engine.scan(&stored, &mut |key, value| {
            while let Some((put, put_value)) = next_put.filter(|(put, _)| before(put, key)) {
                found.push((put.clone(), put_value.clone()));
                next_put = puts.next();
                if found.len() == limit {
                    return Ok(ControlFlow::Break(()));
                }
            }
            // A key the earlier entries wrote or deleted is theirs to report.
            let overridden = self.written.contains_key(key)
                || self.deleted.iter().any(|deleted| deleted.covers(key));
            if !overridden {
                found.push((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
            }
            Ok(if found.len() == limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        while let Some((put, put_value)) = next_put.filter(|_| found.len() < limit) {
            found.push((put.clone(), put_value.clone()));
            next_put = puts.next();
        }
        Ok(found)
    }

    fn get(&self, key: &[u8]) -> fsmstore::Result<Option<Bytes>> {
        if let Some(value) = self.written.get(key) {
            return Ok(value.clone());
        }
        if self.deleted.iter().any(|deleted| deleted.covers(key)) {
            return Ok(None);
        }
        self.engine.get(key)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ops::Bound;

    use fsmstore::{Backend, Config, Direction, RangeQuery, SyncMode, WriteBatch};
    use proptest::prelude::*;

    use super::{Pending, PendingReads};

    /// A write of the model: keys are a letter and a digit, so prefixes and ranges
    /// cut across them.
    #[derive(Clone, Debug)]
    enum Write {
        Put(String, String),
        Delete(String),
        DeletePrefix(String, Option<String>),
        DeleteRange(String, String),
    }

    fn key() -> impl Strategy<Value = String> {
        ("[abc]", 0..4u8).prop_map(|(letter, digit)| format!("{letter}{digit}"))
    }

    fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            4 => (key(), "[xyz]{1,3}").prop_map(|(key, value)| Write::Put(key, value)),
            2 => key().prop_map(Write::Delete),
            1 => ("[abc]?", proptest::option::of(key()))
                .prop_map(|(prefix, exclude)| Write::DeletePrefix(prefix, exclude)),
            1 => (key(), key()).prop_map(|(start, end)| Write::DeleteRange(start, end)),
        ]
    }

    fn bound() -> impl Strategy<Value = Bound<String>> {
        prop_oneof![
            Just(Bound::Unbounded),
            key().prop_map(Bound::Included),
            key().prop_map(Bound::Excluded),
        ]
    }

    fn add(batch: &mut WriteBatch, write: &Write) {
        match write {
            Write::Put(key, value) => batch.put(key.clone(), value.clone()),
            Write::Delete(key) => batch.delete(key.clone()),
            Write::DeletePrefix(prefix, exclude) => batch.delete_prefix(
                prefix.clone(),
                exclude.clone().map(|exclude| exclude.into_bytes().into()),
            ),
            Write::DeleteRange(start, end) => batch.delete_range(start.clone(), end.clone()),
        };
    }

    fn model(model: &mut BTreeMap<String, String>, write: &Write) {
        match write {
            Write::Put(key, value) => {
                model.insert(key.clone(), value.clone());
            }
            Write::Delete(key) => {
                model.remove(key);
            }
            Write::DeletePrefix(prefix, exclude) => model.retain(|key, _| {
                !key.starts_with(prefix.as_str())
                    || exclude
                        .as_ref()
                        .is_some_and(|exclude| key.starts_with(exclude.as_str()))
            }),
            Write::DeleteRange(start, end) => {
                model.retain(|key, _| !(key >= start && key < end));
            }
        }
    }

    fn in_bounds(key: &str, start: &Bound<String>, end: &Bound<String>) -> bool {
        let above = match start {
            Bound::Included(start) => key >= start.as_str(),
            Bound::Excluded(start) => key > start.as_str(),
            Bound::Unbounded => true,
        };
        let below = match end {
            Bound::Included(end) => key <= end.as_str(),
            Bound::Excluded(end) => key < end.as_str(),
            Bound::Unbounded => true,
        };
        above && below
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Range reads of the pending writes of an apply call (folded entry by entry,
        /// as the state machine does) over committed data equal the same reads of a
        /// model that applied every write in order, for every bound shape, both
        /// directions and limits.
        #[test]
        fn range_reads_see_the_pending_writes_merged_into_the_store(
            committed in proptest::collection::vec(write(), 0..12),
            entries in proptest::collection::vec(proptest::collection::vec(write(), 0..4), 0..5),
            queries in proptest::collection::vec(
                (bound(), bound(), any::<bool>(), proptest::option::of(0..6usize)),
                1..6,
            ),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine = fsmstore::open(Backend::Memory, dir.path(), &Config::new(SyncMode::NoSync))
                .expect("open");
            let mut expected = BTreeMap::new();
            let mut batch = WriteBatch::new();
            for write in &committed {
                add(&mut batch, write);
                model(&mut expected, write);
            }
            if !batch.is_empty() {
                engine.apply(&batch, Some(1)).expect("commit");
            }
            let mut pending = Pending::new(&*engine);
            let mut batch = WriteBatch::new();
            for entry in &entries {
                for write in entry {
                    add(&mut batch, write);
                    model(&mut expected, write);
                }
                pending.fold(batch.ops());
            }
            for (start, end, reverse, limit) in &queries {
                let mut query = RangeQuery::from_bounds(
                    start.clone().map(|key| key.into_bytes().into()),
                    end.clone().map(|key| key.into_bytes().into()),
                );
                if *reverse {
                    query = query.direction_of(Direction::Reverse);
                }
                if let Some(limit) = limit {
                    query = query.limit(*limit);
                }
                let mut wanted: Vec<(String, String)> = expected
                    .iter()
                    .filter(|(key, _)| in_bounds(key, start, end))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                if *reverse {
                    wanted.reverse();
                }
                wanted.truncate(limit.unwrap_or(usize::MAX));
                let got: Vec<(String, String)> = pending
                    .range(&query)
                    .expect("range")
                    .into_iter()
                    .map(|(key, value)| {
                        (
                            String::from_utf8(key.to_vec()).expect("utf-8"),
                            String::from_utf8(value.to_vec()).expect("utf-8"),
                        )
                    })
                    .collect();
                prop_assert_eq!(got, wanted, "{:?}", query);
            }
        }
    }
}
