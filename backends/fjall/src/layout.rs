//! How the `data` keyspace lays out its tables.
//!
//! fjall's open recovers every table of a keyspace: it reads each table file's trailer
//! and metadata, and loads into memory the blocks its options pin. By default fjall pins
//! the filter blocks of level 0 and the whole block indexes of levels 0 and 1, which
//! hold up to a quarter of a gigabyte of data; an open then reads index and filter bytes
//! in proportion to the store until level 1 is full (0.4 ms at 100k keys, 1.0–1.3 ms
//! from 1M keys on).
//!
//! fsmstore creates its `data` keyspace with two changes:
//!
//! - **Partitioned block indexes and filters on every level** (fjall's default already
//!   partitions them from level 3 on). A table then pins only its top-level index and
//!   filter index, a few hundred times smaller than the index and filter themselves
//!   (830 bytes against 290 KB for a 12 MB table), and the partitions come through
//!   fjall's block cache when a read needs them. The open no longer reads the indexes
//!   and filters, and the memory they pin no longer grows with the store. A read that
//!   misses the cache loads one partition instead of a table's whole index or filter:
//!   the first reads after an open of a 10M-key store cost a fifth of what they did.
//! - **Tables of 256 MiB instead of 64 MiB.** The open still reads each table's trailer
//!   and metadata, with about forty small reads per table file, so once the pinned
//!   blocks are gone the number of tables sets the open's cost: a 10M-key store
//!   (1.4 GB) has 6 tables instead of 23. Compactions are bigger, but a 10M-key fill
//!   wrote as many bytes to disk either way (7.1 GB against 7.2 GB, journal included).
//!
//! The price is on point reads while the store is small: a read looks its partitions up
//! in the block cache, where a pinned block needed no lookup. Measured in pairs with
//! `benches/examples/fjall_layout.rs` (medians of 11 rounds, fsmstore's layout ÷
//! fjall's default): at 1M keys a read of a present key took 1.29× as long (8.4 µs
//! against 6.7 µs) and a read of an absent key 3.3× (2.8 µs against 0.9 µs); at 10M
//! keys a read of a present key took 0.67× as long (12.5 µs against 21.0 µs), one of an
//! absent key 1.8× (3.4 µs against 1.6 µs), and the first reads after an open 0.20×.
//!
//! fjall keeps a keyspace's options from its creation on: a store created with fjall's
//! default layout keeps that layout, and opens and works as before, until a restore
//! builds it anew with this one.

use std::sync::Arc;

use fjall::KeyspaceCreateOptions;
use fjall::compaction::Leveled;
use fjall::config::PartitioningPolicy;

/// The size fjall's leveled compaction aims at for each table of the `data` keyspace.
pub const TABLE_TARGET_SIZE: u64 = 256 * 1024 * 1024;

/// The options fsmstore creates its `data` keyspace with: see the module docs.
pub fn data_keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .index_block_partitioning_policy(PartitioningPolicy::all(true))
        .filter_block_partitioning_policy(PartitioningPolicy::all(true))
        .compaction_strategy(Arc::new(
            Leveled::default().with_table_target_size(TABLE_TARGET_SIZE),
        ))
}
