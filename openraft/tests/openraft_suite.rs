//! openraft's own storage suite (`openraft::testing::log::Suite`) on every compiled-in
//! engine, with the state machine in both sync modes, in a store of its own and in a group.

mod common;

use std::path::Path;

use common::{Kv, Log, Sm, TypeConfig, open_node};
use fsmstore::{Backend, Config, SyncMode};
use fsmstore_openraft::StateMachine;
use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use rstest::rstest;
use tempfile::TempDir;

struct Builder {
    backend: Backend,
    sync_mode: SyncMode,
    /// Whether the state machine is one group of a groups store, among others.
    in_group: bool,
}

/// The group the state machine runs in, between two groups that hold data.
const STATE_MACHINE_GROUP: u64 = 1 << 40;

impl StoreBuilder<TypeConfig, Log, Sm, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, Log, Sm), StorageError<TypeConfig>> {
        // The suite checks what openraft sees, not durability (the kill tests do): on
        // Linux its stores live in memory-backed `/dev/shm`, where an fsync costs nothing,
        // so that the few hundred stores it creates do not wait on the disk.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir())
        } else {
            tempfile::tempdir()
        }
        .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        let (log, sm) = open_node(self.backend, dir.path(), self.sync_mode);
        if !self.in_group {
            return Ok((dir, log, sm));
        }
        drop(sm);
        let groups = fsmstore::open_groups(
            self.backend,
            dir.path().join("groups"),
            &Config::new(self.sync_mode),
        )
        .expect("open the groups store");
        for id in [
            STATE_MACHINE_GROUP - 1,
            STATE_MACHINE_GROUP,
            STATE_MACHINE_GROUP + 1,
        ] {
            groups.create_group(id).expect("create a group");
        }
        for neighbour in [STATE_MACHINE_GROUP - 1, STATE_MACHINE_GROUP + 1] {
            let mut batch = fsmstore::WriteBatch::new();
            batch.put("neighbour", "kept").put_meta("neighbour", "kept");
            let group = groups.open_group(neighbour).expect("open a neighbour");
            group.apply(&batch, Some(3)).expect("fill a neighbour");
        }
        let group = groups
            .open_group(STATE_MACHINE_GROUP)
            .expect("open the group");
        let sm = StateMachine::new(group, dir.path().join("group-snapshots"), Kv)
            .expect("a state machine on a group");
        Ok((dir, log, sm))
    }
}

/// `in_group`: the state machine is one group of a groups store (among neighbour groups
/// that hold data), so the openraft crate is shown to take a group as it takes a store.
#[rstest]
#[case::memory(Backend::Memory)]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn openraft_suite(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
    #[values(false, true)] in_group: bool,
) {
    // The suite sleeps a second at a time in eight of its tests; a paused clock skips
    // the waits (it advances whenever the runtime is idle).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        Suite::test_all(Builder {
            backend,
            sync_mode,
            in_group,
        })
        .await
        .expect("openraft's storage suite");
    });
}
