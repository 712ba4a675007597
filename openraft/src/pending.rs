//! Reads of the store plus the not yet committed writes of an apply call.

use std::collections::BTreeMap;

use fsmstore::{Bytes, Engine, Op};

/// Point reads for [`Application::apply`](crate::Application::apply): the committed
/// store plus the writes of the earlier entries of the same apply call.
pub trait PendingReads {
    /// The value of data key `key` as the entries before this one left it.
    fn get(&self, key: &[u8]) -> fsmstore::Result<Option<Bytes>>;
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

impl PendingReads for Pending<'_> {
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
