//! openraft's own storage suite (`openraft::testing::log::Suite`) on every compiled-in
//! engine, with the state machine in both sync modes, and the log and the state machine
//! each in a store of its own or in a group of a groups store.

mod common;

use std::path::Path;

use common::{Kv, Log, Sm, TypeConfig, open_node};
use fsmstore::{Backend, Config, SyncMode};
use fsmstore_openraft::{LogStore, StateMachine};
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

/// The group the log and the state machine run in (each in a groups store of its own),
/// between two groups that hold data.
const GROUP: u64 = 1 << 40;

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
        drop((log, sm));
        let open_group = |store: &str, sync_mode| {
            let groups = fsmstore::open_groups(
                self.backend,
                dir.path().join(store),
                &Config::new(sync_mode),
            )
            .expect("open a groups store");
            in_between_neighbours(&*groups)
        };
        let log = LogStore::new(open_group("log-groups", SyncMode::NoSync))
            .expect("a log store on a group");
        let sm = StateMachine::new(
            open_group("sm-groups", self.sync_mode),
            dir.path().join("group-snapshots"),
            Kv,
        )
        .expect("a state machine on a group");
        Ok((dir, log, sm))
    }
}

/// Creates [`GROUP`] and its neighbour groups in `groups`, fills the neighbours, and
/// opens [`GROUP`].
fn in_between_neighbours(groups: &dyn fsmstore::GroupStore) -> Box<dyn fsmstore::Engine> {
    for id in [GROUP - 1, GROUP, GROUP + 1] {
        groups.create_group(id).expect("create a group");
    }
    for neighbour in [GROUP - 1, GROUP + 1] {
        let mut batch = fsmstore::WriteBatch::new();
        batch.put("neighbour", "kept").put_meta("neighbour", "kept");
        let group = groups.open_group(neighbour).expect("open a neighbour");
        group.apply(&batch, Some(3)).expect("fill a neighbour");
    }
    groups.open_group(GROUP).expect("open the group")
}

/// `in_group`: the log store and the state machine are each one group of a groups store
/// (among neighbour groups that hold data), so the openraft crate is shown to take a
/// group as it takes a store.
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
