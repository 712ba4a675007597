//! What the cluster benchmark runs on besides the tests' network: an in-memory log store
//! and state machine (the ceiling: openraft with no storage cost).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use openraft::alias::{EntryOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{
    EntryResponder, IOFlushed, LogState, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::{OptionalSend, RaftLogReader};

use crate::common::{Request, Response, TypeConfig};
use fsmstore_openraft::EntryData;

type C = TypeConfig;

#[derive(Default)]
struct MemLogState {
    last_purged: Option<LogIdOf<C>>,
    log: BTreeMap<u64, EntryOf<C>>,
    committed: Option<LogIdOf<C>>,
    vote: Option<VoteOf<C>>,
}

/// An in-memory raft log: a `BTreeMap` behind a mutex. Appends are "durable" at once.
#[derive(Clone, Default)]
pub struct MemLog {
    state: Arc<Mutex<MemLogState>>,
}

impl MemLog {
    fn state(&self) -> std::sync::MutexGuard<'_, MemLogState> {
        self.state.lock().expect("log lock")
    }
}

impl RaftLogReader<C> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        Ok(self
            .state()
            .log
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(self.state().vote)
    }
}

impl RaftLogStorage<C> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let state = self.state();
        let last = state
            .log
            .last_key_value()
            .map(|(_, entry)| entry.log_id())
            .or_else(|| state.last_purged);
        Ok(LogState {
            last_purged_log_id: state.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.state().vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.state().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(self.state().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut state = self.state();
            for entry in entries {
                state.log.insert(entry.index(), entry);
            }
        }
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let first_removed = last_log_id.map_or(0, |log_id| log_id.index + 1);
        self.state().log.split_off(&first_removed);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let mut state = self.state();
        state.log = state.log.split_off(&(log_id.index + 1));
        state.last_purged = Some(log_id);
        Ok(())
    }
}

/// An in-memory state machine: the last applied log id, the membership and the data in a
/// `BTreeMap`. Snapshots are the data as JSON.
#[derive(Default)]
pub struct MemSm {
    last_applied: Option<LogIdOf<C>>,
    membership: StoredMembershipOf<C>,
    data: BTreeMap<String, String>,
    current: Option<(SnapshotMetaOf<C>, Vec<u8>)>,
}

/// Builds a [`MemSm`] snapshot from a copy of its state.
pub struct MemSnapshotBuilder {
    meta: SnapshotMetaOf<C>,
    data: BTreeMap<String, String>,
}

impl RaftSnapshotBuilder<C> for MemSnapshotBuilder {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, Cursor<Vec<u8>>>, io::Error> {
        let bytes = serde_json::to_vec(&self.data).map_err(io::Error::other)?;
        Ok(SnapshotOf::<C, Cursor<Vec<u8>>> {
            meta: self.meta.clone(),
            snapshot: Cursor::new(bytes),
        })
    }
}

fn apply_request(data: &mut BTreeMap<String, String>, request: &Request) -> Response {
    match request {
        Request::Set { key, value } => {
            data.insert(key.clone(), value.clone());
            Response(Some(value.clone()))
        }
        Request::Append { key, suffix } => {
            let value = data.entry(key.clone()).or_default();
            value.push_str(suffix);
            Response(Some(value.clone()))
        }
        Request::DeletePrefix { prefix } => {
            data.retain(|key, _| !key.starts_with(prefix.as_str()));
            Response(None)
        }
        Request::Increment { key, by } => {
            let old = data.get(key).map_or(Some(0), |old| old.parse::<i64>().ok());
            match (old, by.parse::<i64>()) {
                (Some(old), Ok(by)) => {
                    data.insert(format!("touched/{key}"), "yes".into());
                    let new = (old + by).to_string();
                    data.insert(key.clone(), new.clone());
                    Response(Some(new))
                }
                _ => Response(Some("not a number".into())),
            }
        }
        Request::ScanInto {
            prefix,
            reverse,
            limit,
            into,
        } => {
            let found = data
                .range::<String, _>(prefix.clone()..)
                .take_while(|(key, _)| key.starts_with(prefix.as_str()))
                .map(|(key, value)| format!("{key}={value}"));
            let mut found: Vec<String> = found.collect();
            if *reverse {
                found.reverse();
            }
            found.truncate(limit.unwrap_or(usize::MAX));
            let found = found.join(",");
            data.insert(into.clone(), found.clone());
            Response(Some(found))
        }
    }
}

impl RaftStateMachine<C> for MemSm {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = MemSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<C>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let response = match entry.app_data() {
                Some(request) => apply_request(&mut self.data, request),
                None => {
                    if let Some(members) = entry.get_membership() {
                        self.membership = StoredMembershipOf::<C>::new(Some(log_id), members);
                    }
                    Response(None)
                }
            };
            self.last_applied = Some(log_id);
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> MemSnapshotBuilder {
        MemSnapshotBuilder {
            meta: SnapshotMetaOf::<C> {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
            },
            data: self.data.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: Cursor<Vec<u8>>,
    ) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        self.data = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.current = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<C, Cursor<Vec<u8>>>>, io::Error> {
        Ok(self
            .current
            .as_ref()
            .map(|(meta, bytes)| SnapshotOf::<C, Cursor<Vec<u8>>> {
                meta: meta.clone(),
                snapshot: Cursor::new(bytes.clone()),
            }))
    }
}
