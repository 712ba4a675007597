//! openraft's own storage suite (`openraft::testing::log::Suite`) on every compiled-in
//! engine, with the state machine in both sync modes.

mod common;

use std::path::Path;

use common::{Log, Sm, TypeConfig, open_node};
use fsmstore::{Backend, SyncMode};
use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use rstest::rstest;
use tempfile::TempDir;

struct Builder {
    backend: Backend,
    sync_mode: SyncMode,
}

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
        Ok((dir, log, sm))
    }
}

#[rstest]
#[case::memory(Backend::Memory)]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn openraft_suite(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    // The suite sleeps a second at a time in eight of its tests; a paused clock skips
    // the waits (it advances whenever the runtime is idle).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        Suite::test_all(Builder { backend, sync_mode })
            .await
            .expect("openraft's storage suite");
    });
}
