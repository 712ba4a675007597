//! `WriteBatch`: an ordered list of mutations committed atomically.

use bytes::Bytes;

use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index, encode_applied_index};
use crate::error::{Error, Result};
use crate::range::DeletedRanges;

/// The longest data key or meta name, in bytes, on every engine.
///
/// LMDB cannot store a longer key, and a store must be able to move to any engine (by a
/// feature flag or a snapshot), so every engine enforces LMDB's limit. A longer key is
/// rejected with [`Error::InvalidArgument`]; reading one returns `None`, since it cannot
/// exist.
pub const MAX_KEY_LEN: usize = 511;

/// The longest value, in bytes, on every engine: `u32::MAX`.
///
/// The snapshot stream frames a value with a 32-bit length, RocksDB and fjall cannot
/// store a longer one, and a store must be able to move to any engine, so a longer value
/// is refused when it is applied, with [`Error::InvalidArgument`], rather than when the
/// store is exported.
pub const MAX_VALUE_LEN: usize = u32::MAX as usize;

/// One mutation in a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a data key.
    Put {
        /// The data key (non-empty).
        key: Bytes,
        /// The new value (may be empty).
        value: Bytes,
    },
    /// Remove a data key; removing an absent key is not an error.
    Delete {
        /// The data key (non-empty).
        key: Bytes,
    },
    /// Remove every data key that starts with `prefix`, except those that start with
    /// `exclude`. An empty prefix means every data key. Meta keys are never touched.
    DeletePrefix {
        /// The prefix to delete (may be empty: everything).
        prefix: Bytes,
        /// Keys starting with this prefix survive (must be non-empty when given).
        exclude: Option<Bytes>,
    },
    /// Remove every data key `k` with `start <= k < end`. A range with `end <= start`
    /// (an empty `end` included) removes nothing; an empty `start` starts at the first
    /// key. Meta keys are never touched.
    DeleteRange {
        /// The first key removed (may be empty: from the first key).
        start: Bytes,
        /// The first key kept above the range.
        end: Bytes,
    },
    /// Set a meta key.
    PutMeta {
        /// The meta key name (non-empty).
        name: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Remove a meta key.
    DeleteMeta {
        /// The meta key name (non-empty).
        name: Bytes,
    },
}

/// An ordered list of mutations over the data and meta namespaces, committed atomically
/// by [`Engine::apply`](crate::Engine::apply) or [`Engine::write`](crate::Engine::write).
///
/// Ops apply in the order they were added: a later op sees the effect of an earlier one
/// (a put after a delete-prefix survives; a delete-prefix after a put removes it).
/// Keys and meta names must be 1 to [`MAX_KEY_LEN`] bytes long; this is checked when the
/// batch is committed, and a bad batch is rejected whole with [`Error::InvalidArgument`].
///
/// ```
/// use engine_api::WriteBatch;
/// let mut batch = WriteBatch::new();
/// batch.put("user/1", "alice").delete("user/2").put_meta("schema", "v2");
/// assert_eq!(batch.len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `capacity` ops.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ops: Vec::with_capacity(capacity),
        }
    }

    /// Sets data key `key` to `value`.
    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Removes data key `key`.
    pub fn delete(&mut self, key: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// Removes every data key starting with `prefix` except those starting with
    /// `exclude`; an empty `prefix` removes every data key. Meta keys are never touched.
    pub fn delete_prefix(&mut self, prefix: impl Into<Bytes>, exclude: Option<Bytes>) -> &mut Self {
        self.ops.push(Op::DeletePrefix {
            prefix: prefix.into(),
            exclude,
        });
        self
    }

    /// Removes every data key `k` with `start <= k < end` (half-open, like `start..end`).
    ///
    /// Ordered with the other ops of the batch and committed atomically with them: a
    /// put earlier in the batch inside the range is removed, a later one survives. A
    /// range with `end <= start` removes nothing and is not an error; an empty `start`
    /// starts at the first key, and an empty `end` is below every key (nothing). The
    /// bounds may be of any length. Meta keys are never touched.
    pub fn delete_range(&mut self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::DeleteRange {
            start: start.into(),
            end: end.into(),
        });
        self
    }

    /// Sets meta key `name` to `value`.
    ///
    /// Writing the applied-index key ([`APPLIED_INDEX_KEY`]) this way is allowed and
    /// overrides the index (an operator's repair path); the store re-reads it after the
    /// commit. An applied index of 0 is refused with [`Error::InvalidArgument`] when the
    /// batch is committed: 0 is no raft index, and a snapshot could not tell it from "no
    /// index" (delete the key instead).
    pub fn put_meta(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::PutMeta {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Removes meta key `name`.
    pub fn delete_meta(&mut self, name: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::DeleteMeta { name: name.into() });
        self
    }

    /// The ops in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every op, keeping the allocation.
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// Keeps the first `len` ops and removes the rest (nothing when the batch is no
    /// longer than `len`): undoes what was added after [`len`](Self::len) was `len`.
    pub fn truncate(&mut self, len: usize) {
        self.ops.truncate(len);
    }

    /// Checks the batch against the contract and reports what the store must know
    /// about it before committing.
    #[cfg(test)]
    pub(crate) fn validate(&self) -> Result<BatchSummary> {
        self.validate_within(MAX_KEY_LEN)
    }

    /// [`validate`](Self::validate) for a store whose keys and meta names are at most
    /// `max_key_len` bytes (a group's are shorter: see [`Engine::max_key_len`](crate::Engine::max_key_len)).
    pub(crate) fn validate_within(&self, max_key_len: usize) -> Result<BatchSummary> {
        let mut summary = BatchSummary::default();
        for (position, op) in self.ops.iter().enumerate() {
            if let Op::Put { value, .. } | Op::PutMeta { value, .. } = op
                && value.len() > MAX_VALUE_LEN
            {
                return Err(Error::invalid_argument(format!(
                    "op {position} of the batch has a value of {} bytes; \
                     at most {MAX_VALUE_LEN} bytes are allowed",
                    value.len()
                )));
            }
            if let Op::PutMeta { name, value } = op
                && name.as_ref() == APPLIED_INDEX_KEY
                && decode_applied_index(Some(value)) == Some(0)
            {
                // The snapshot header cannot tell index 0 from "no index", so a store
                // holding it could not be exported faithfully; 0 is no raft index anyway.
                return Err(Error::invalid_argument(format!(
                    "op {position} of the batch sets the applied index to 0, which is not a \
                     raft index; delete the key instead"
                )));
            }
            let (what, bytes) = match op {
                Op::Put { key, .. } | Op::Delete { key } => ("key", key),
                Op::DeletePrefix { exclude: None, .. } | Op::DeleteRange { .. } => continue,
                Op::DeletePrefix {
                    exclude: Some(exclude),
                    ..
                } => ("exclude prefix", exclude),
                Op::PutMeta { name, .. } | Op::DeleteMeta { name } => {
                    summary.touches_applied_index |= name.as_ref() == APPLIED_INDEX_KEY;
                    ("meta name", name)
                }
            };
            if bytes.is_empty() || bytes.len() > max_key_len {
                return Err(Error::invalid_argument(format!(
                    "op {position} of the batch has a {what} of {} bytes; \
                     it must be 1 to {max_key_len} bytes long",
                    bytes.len()
                )));
            }
        }
        Ok(summary)
    }
}

/// What [`WriteBatch::validate`] learned about a batch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchSummary {
    /// The batch writes or deletes the applied-index meta key itself.
    pub(crate) touches_applied_index: bool,
}

/// One op as a backend sees it: borrowed bytes, in commit order.
///
/// Both [`Op::DeletePrefix`] and [`Op::DeleteRange`] reach a backend as
/// [`OpRef::DeleteRange`]: the key ranges they remove, already checked, so each backend
/// has one range-delete implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpRef<'a> {
    /// Set a data key.
    Put {
        /// The data key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove a data key.
    Delete {
        /// The data key.
        key: &'a [u8],
    },
    /// Remove the data keys in each range (none, one, or the two sides of an excluded
    /// prefix), with every earlier op of the commit applied and no later one.
    DeleteRange(DeletedRanges),
    /// Set a meta key.
    PutMeta {
        /// The meta key name.
        name: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove a meta key.
    DeleteMeta {
        /// The meta key name.
        name: &'a [u8],
    },
}

/// What a backend commits in one atomic engine transaction: a validated batch, followed
/// by the applied-index meta write when the store bundles one.
///
/// Backends iterate [`Commit::ops`] and translate each [`OpRef`] to their engine; the
/// bundled index is just the last op, so it costs no extra transaction or fsync.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    source: Source<'a>,
}

/// Where a commit's ops come from.
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    /// A user's batch, and the applied index the store bundles with it.
    Batch {
        batch: &'a WriteBatch,
        applied_index: Option<[u8; 8]>,
    },
    /// Ops already translated to engine keys: one round of the groups' commit pipeline.
    Raw(&'a [RawOp]),
}

/// One op with engine keys, owned: what a group hands to the shared engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawOp {
    Put { key: Bytes, value: Bytes },
    Delete { key: Bytes },
    DeleteRange(DeletedRanges),
    PutMeta { name: Bytes, value: Bytes },
    DeleteMeta { name: Bytes },
}

impl RawOp {
    /// The bytes this op carries (keys and values), for the pipeline's round cap.
    pub(crate) fn size(&self) -> usize {
        match self {
            RawOp::Put { key, value } => key.len() + value.len(),
            RawOp::PutMeta { name, value } => name.len() + value.len(),
            RawOp::Delete { key } => key.len(),
            RawOp::DeleteMeta { name } => name.len(),
            RawOp::DeleteRange(_) => 2 * MAX_KEY_LEN,
        }
    }

    fn as_ref(&self) -> OpRef<'_> {
        match self {
            RawOp::Put { key, value } => OpRef::Put { key, value },
            RawOp::Delete { key } => OpRef::Delete { key },
            RawOp::DeleteRange(ranges) => OpRef::DeleteRange(ranges.clone()),
            RawOp::PutMeta { name, value } => OpRef::PutMeta { name, value },
            RawOp::DeleteMeta { name } => OpRef::DeleteMeta { name },
        }
    }
}

impl<'a> Commit<'a> {
    pub(crate) fn new(batch: &'a WriteBatch, applied_index: Option<u64>) -> Self {
        Self {
            source: Source::Batch {
                batch,
                applied_index: applied_index.map(encode_applied_index),
            },
        }
    }

    /// A commit of ops already in engine keys.
    pub(crate) fn raw(ops: &'a [RawOp]) -> Self {
        Self {
            source: Source::Raw(ops),
        }
    }

    /// The ops to commit, in order, the applied-index write (if any) last.
    pub fn ops(&self) -> impl Iterator<Item = OpRef<'_>> + '_ {
        let (batch, applied_index, raw): (&[Op], _, &[RawOp]) = match &self.source {
            Source::Batch {
                batch,
                applied_index,
            } => (&batch.ops, applied_index.as_ref(), &[]),
            Source::Raw(ops) => (&[], None, ops),
        };
        let batch_ops = batch.iter().map(|op| match op {
            Op::Put { key, value } => OpRef::Put { key, value },
            Op::Delete { key } => OpRef::Delete { key },
            Op::DeletePrefix { prefix, exclude } => {
                OpRef::DeleteRange(DeletedRanges::prefix(prefix, exclude.as_deref()))
            }
            Op::DeleteRange { start, end } => {
                OpRef::DeleteRange(DeletedRanges::half_open(start, end))
            }
            Op::PutMeta { name, value } => OpRef::PutMeta { name, value },
            Op::DeleteMeta { name } => OpRef::DeleteMeta { name },
        });
        let index_op = applied_index.map(|encoded| OpRef::PutMeta {
            name: APPLIED_INDEX_KEY,
            value: encoded,
        });
        batch_ops
            .chain(index_op)
            .chain(raw.iter().map(RawOp::as_ref))
    }

    /// Number of ops [`Commit::ops`] yields.
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Batch {
                batch,
                applied_index,
            } => batch.len() + usize::from(applied_index.is_some()),
            Source::Raw(ops) => ops.len(),
        }
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_key_anywhere_rejects_the_batch() {
        let mut batch = WriteBatch::new();
        batch.put("a", "1").put("", "2");
        assert!(matches!(batch.validate(), Err(Error::InvalidArgument(_))));

        let mut batch = WriteBatch::new();
        batch.delete("");
        assert!(matches!(batch.validate(), Err(Error::InvalidArgument(_))));

        let mut batch = WriteBatch::new();
        batch.put_meta("", "x");
        assert!(matches!(batch.validate(), Err(Error::InvalidArgument(_))));

        let mut batch = WriteBatch::new();
        batch.delete_prefix("p", Some(Bytes::new()));
        assert!(matches!(batch.validate(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn keys_longer_than_the_limit_reject_the_batch() {
        let longest = vec![b'k'; MAX_KEY_LEN];
        let mut batch = WriteBatch::new();
        batch
            .put(longest.clone(), "v")
            .put_meta(longest.clone(), "v");
        assert!(batch.validate().is_ok());
        let too_long = vec![b'k'; MAX_KEY_LEN + 1];
        for op in [
            Op::Put {
                key: too_long.clone().into(),
                value: Bytes::new(),
            },
            Op::Delete {
                key: too_long.clone().into(),
            },
            Op::PutMeta {
                name: too_long.clone().into(),
                value: Bytes::new(),
            },
            Op::DeleteMeta {
                name: too_long.clone().into(),
            },
            Op::DeletePrefix {
                prefix: Bytes::new(),
                exclude: Some(too_long.clone().into()),
            },
        ] {
            let batch = WriteBatch { ops: vec![op] };
            assert!(matches!(batch.validate(), Err(Error::InvalidArgument(_))));
        }
    }

    #[test]
    fn a_prefix_of_any_length_is_allowed() {
        let mut batch = WriteBatch::new();
        batch.delete_prefix(vec![b'p'; MAX_KEY_LEN * 2], None);
        assert!(batch.validate().is_ok());
    }

    #[test]
    fn empty_prefix_and_empty_value_are_allowed() {
        let mut batch = WriteBatch::new();
        batch.delete_prefix("", None).put("k", "");
        assert!(batch.validate().is_ok());
    }

    #[test]
    fn writing_the_index_key_is_noticed() {
        let mut batch = WriteBatch::new();
        batch.put_meta("other", "x");
        assert!(!batch.validate().unwrap_or_default().touches_applied_index);
        batch.delete_meta(APPLIED_INDEX_KEY);
        assert!(batch.validate().unwrap_or_default().touches_applied_index);
    }

    #[test]
    fn commit_yields_ops_in_order_with_the_index_last() {
        let mut batch = WriteBatch::new();
        batch
            .put("k", "v")
            .delete_prefix("p", Some(Bytes::from_static(b"px")));
        let commit = Commit::new(&batch, Some(7));
        let ops: Vec<_> = commit.ops().collect();
        assert_eq!(
            ops,
            vec![
                OpRef::Put {
                    key: b"k",
                    value: b"v"
                },
                OpRef::DeleteRange(DeletedRanges::prefix(b"p", Some(b"px"))),
                OpRef::PutMeta {
                    name: APPLIED_INDEX_KEY,
                    value: &7u64.to_le_bytes()
                },
            ]
        );
        assert_eq!(commit.len(), 3);
        assert_eq!(Commit::new(&batch, None).len(), 2);
    }
}
