//! Runs every conformance body once per compiled-in engine.
//!
//! `engines` is an rstest template with one case per engine feature, so the cases that
//! exist are exactly the engines compiled into this build. Test names read
//! `<group>::<body>::case_N_<engine>`.

use conformance::Harness;
use fsmstore::Backend;
use rstest::rstest;
use rstest_reuse::{self, apply, template};

#[cfg(not(any(
    feature = "memory",
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
)))]
compile_error!("enable at least one engine feature to run the conformance suite");

#[template]
#[rstest]
#[cfg_attr(feature = "memory", case::memory(Backend::Memory))]
#[cfg_attr(feature = "redb", case::redb(Backend::Redb))]
#[cfg_attr(feature = "fjall", case::fjall(Backend::Fjall))]
#[cfg_attr(feature = "heed", case::heed(Backend::Heed))]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn engines(#[case] backend: Backend) {}

/// The engines that keep data across processes: the ones a kill can test.
#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
))]
#[template]
#[rstest]
#[cfg_attr(feature = "redb", case::redb(Backend::Redb))]
#[cfg_attr(feature = "fjall", case::fjall(Backend::Fjall))]
#[cfg_attr(feature = "heed", case::heed(Backend::Heed))]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn durable_engines(#[case] backend: Backend) {}

fn harness(backend: Backend) -> Harness {
    Harness::new(backend).with_probe(env!("CARGO_BIN_EXE_fsmstore-probe"))
}

/// Instantiates the bodies of one group of the suite for every engine, and records their
/// names so `every_body_is_instantiated` can tell when one is forgotten.
macro_rules! group {
    ($group:ident: $($body:ident),+ $(,)?) => {
        group!($group (engines): $($body),+);
    };
    // The group again with each store driven through `AsyncEngine`, in the module
    // `through_async` (so one group at most can use this form).
    ($group:ident and through_async: $($body:ident),+ $(,)?) => {
        group!($group (engines): $($body),+);
        mod through_async {
            use super::*;
            $(
                #[apply(engines)]
                fn $body(#[case] backend: Backend) {
                    conformance::$group::$body(&harness(backend).through_async());
                }
            )+
        }
    };
    // The group again through one group of a groups store, among neighbour groups that
    // hold data (see `Harness::in_group`), in the module `in_a_group`.
    ($group:ident in_a_group: $($body:ident),+ $(,)?) => {
        mod $group {
            use super::*;

            pub const BODIES: &[&str] = &[$(stringify!($body)),+];

            $(
                #[apply(engines)]
                fn $body(#[case] backend: Backend) {
                    conformance::$group::$body(&harness(backend));
                }
            )+

            mod in_a_group {
                use super::*;
                $(
                    #[apply(engines)]
                    fn $body(#[case] backend: Backend) {
                        conformance::$group::$body(&harness(backend).in_group());
                    }
                )+
            }
        }
    };
    ($group:ident in_a_group and through_async: $($body:ident),+ $(,)?) => {
        group!($group in_a_group: $($body),+);
        mod through_async {
            use super::*;
            $(
                #[apply(engines)]
                fn $body(#[case] backend: Backend) {
                    conformance::$group::$body(&harness(backend).through_async());
                }
            )+
        }
    };
    ($group:ident ($template:ident): $($body:ident),+ $(,)?) => {
        mod $group {
            use super::*;

            pub const BODIES: &[&str] = &[$(stringify!($body)),+];

            $(
                #[apply($template)]
                fn $body(#[case] backend: Backend) {
                    conformance::$group::$body(&harness(backend));
                }
            )+
        }
    };
}

group!(batch in_a_group:
    a_put_is_visible_to_get,
    a_missing_key_reads_as_none,
    later_ops_in_a_batch_win_over_earlier_ones,
    a_later_batch_overwrites_a_value,
    delete_removes_a_key_and_tolerates_absent_keys,
    delete_prefix_removes_only_matching_keys,
    delete_prefix_with_exclude_keeps_the_excluded_keys,
    delete_prefix_with_an_unrelated_exclude_deletes_the_whole_prefix,
    an_exclude_prefix_containing_the_deleted_prefix_keeps_every_key,
    delete_prefix_removes_puts_made_earlier_in_the_same_batch,
    a_put_after_delete_prefix_in_the_same_batch_survives,
    empty_prefix_delete_removes_all_data_and_keeps_meta,
    delete_prefix_of_ff_bytes_reaches_the_end_of_the_keyspace,
    scan_prefix_returns_keys_in_ascending_byte_order,
    scan_of_an_unmatched_prefix_is_empty,
    an_empty_value_is_stored_and_differs_from_missing,
    binary_keys_and_values_round_trip,
    a_batch_with_an_empty_key_is_rejected_whole,
    an_empty_exclude_prefix_or_meta_name_is_rejected,
    keys_up_to_the_maximum_length_work_and_longer_ones_are_rejected,
    a_large_batch_is_fully_visible,
    data_survives_close_and_reopen,
    a_value_over_the_limit_is_refused_when_applied,
);

group!(range in_a_group:
    every_range_shape_reads_exactly_the_keys_in_it,
    scan_prefix_is_the_range_read_of_the_prefix,
    range_reads_never_return_meta_keys,
    a_scan_stops_where_the_visitor_says,
    a_view_reads_one_point_in_time,
    a_range_scan_racing_commits_sees_each_batch_wholly_or_not,
    delete_range_removes_the_half_open_range_and_nothing_else,
    delete_range_is_ordered_and_atomic_with_its_batch,
    delete_range_never_touches_meta_keys,
    empty_and_inverted_delete_ranges_delete_nothing,
    delete_range_with_over_long_bounds_deletes_exactly_the_keys_between,
    async_range_reads_and_views_read_what_the_sync_ones_read,
);

group!(meta in_a_group:
    a_data_key_and_a_meta_key_with_one_name_are_independent,
    scans_never_return_meta_keys,
    delete_prefix_never_touches_meta_keys,
    delete_meta_removes_only_that_meta_key,
    a_missing_meta_key_reads_as_none,
    one_batch_spans_data_and_meta_across_reopen,
);

group!(applied_index in_a_group and through_async:
    a_new_store_has_no_applied_index,
    the_index_round_trips_0xdead_beef_cafe_f00d,
    apply_with_an_index_lands_data_and_index_together,
    apply_without_an_index_leaves_the_index_alone,
    apply_with_delete_prefix_bundles_the_index,
    a_checkpoint_survives_close_and_reopen_under_nosync,
    a_truncated_index_reads_as_missing,
    a_checkpoint_below_the_applied_index_keeps_the_higher_index,
    checkpoints_only_move_forward,
    a_pin_above_the_applied_index_is_refused_and_skips_nothing,
    replaying_an_applied_index_is_skipped_and_writes_nothing,
    a_stale_index_is_skipped_and_writes_nothing,
    a_replay_after_reopen_is_still_skipped,
    an_empty_batch_with_an_index_advances_the_index,
    index_zero_is_rejected,
    indices_may_jump_up_to_u64_max,
    a_sync_apply_survives_reopen_without_a_checkpoint,
    write_leaves_the_index_and_survives_reopen_in_nosync,
    deleting_the_index_key_resets_the_index,
    the_bundled_index_wins_over_an_explicit_index_write,
    an_applied_index_of_zero_written_as_meta_is_refused,
);

group!(checkpoint in_a_group:
    checkpoint_then_pins_before_it_saves,
    a_rejected_pin_never_calls_the_save,
    a_failing_pin_surfaces_its_error_and_skips_the_save,
    a_failing_save_is_reported_after_the_pin_held,
    checkpoint_then_survives_reopen_under_nosync,
);

group!(restore_gate in_a_group:
    a_store_at_the_snapshot_index_skips_the_restore,
    a_store_past_the_snapshot_index_skips_the_restore,
    a_store_behind_the_snapshot_executes_the_restore,
    a_store_without_an_index_falls_back_to_restoring,
    a_corrupt_index_falls_back_to_restoring,
    an_unreadable_index_falls_back_to_restoring,
    the_gate_sees_the_checkpointed_index_after_reopen,
);

group!(config in_a_group:
    the_configured_sync_mode_is_in_force,
    the_env_variable_overrides_the_configured_mode,
    an_unknown_env_sync_mode_fails_the_open_and_creates_nothing,
    an_unknown_env_sync_mode_leaves_an_existing_store_intact,
);

group!(ownership:
    a_new_directory_is_created_and_marked_with_the_engine,
    a_store_reopens_its_own_directory,
    another_engines_directory_is_refused,
    an_unmarked_non_empty_directory_is_refused,
    a_file_path_is_refused_as_not_a_directory,
    a_missing_parent_directory_is_an_io_error,
    a_corrupt_marker_is_reported_as_corruption,
    a_second_handle_in_one_process_is_refused_as_locked,
    a_store_held_by_another_process_is_refused_as_locked,
    a_store_without_its_engine_files_is_corruption_not_an_empty_store,
    an_interrupted_creation_is_started_over,
    a_read_only_open_creates_nothing_and_writes_nothing,
);

group!(read_only:
    a_read_only_open_leaves_every_file_as_it_was,
    a_read_only_open_reads_a_store_on_a_filesystem_that_refuses_writes,
);

group!(deep_check in_a_group:
    the_deep_check_counts_every_entry_of_a_healthy_store,
    a_badly_encoded_applied_index_fails_the_deep_check,
);

group!(concurrency in_a_group:
    racing_pins_never_move_the_index_backwards,
    racing_appliers_apply_each_index_exactly_once,
    a_scan_never_sees_half_a_batch,
);

group!(model in_a_group: random_histories_match_an_independent_model);

group!(groups:
    no_op_of_one_group_reaches_another_at_the_edges_of_ids_and_keys,
    random_histories_over_many_groups_match_one_model_per_group,
    refused_lifecycle_calls_are_typed_and_change_nothing,
    a_dropped_group_is_gone_after_reopen_and_its_id_starts_empty,
    groups_are_listed_ascending_with_their_applied_indexes,
    a_groups_store_keeps_everything_across_close_and_reopen,
    a_store_of_one_group_and_a_groups_store_refuse_each_others_layout,
    concurrent_sync_applies_of_many_groups_share_fsyncs,
    nosync_applies_make_no_durable_round_and_only_syncs_and_pins_do,
    groups_created_dropped_and_opened_while_others_apply_lose_nothing,
    a_groups_snapshot_moves_to_a_store_of_its_own_and_back_byte_identical,
    a_restore_into_a_group_is_pinned_and_the_gate_then_skips_it,
    an_engine_recovered_below_a_groups_checkpoint_is_refused,
);

group!(snapshot in_a_group:
    an_export_restores_to_the_same_data_meta_and_index,
    a_restore_replaces_everything_and_installs_the_snapshots_index,
    a_restore_is_durable_and_the_gate_then_skips_it,
    successive_restores_keep_only_the_last_one,
    an_empty_snapshot_restores_to_an_empty_store,
    a_damaged_stream_is_refused_and_changes_nothing,
    an_export_is_one_point_in_time_under_concurrent_applies,
    a_stream_restores_identically_into_every_engine,
    mutated_streams_are_refused_or_restored_exactly,
);

#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
))]
group!(crash_tests (durable_engines):
    killed_sync_writers_lose_nothing_acknowledged,
    killed_nosync_writers_never_tear_a_batch_or_lose_a_checkpoint,
    a_kill_during_a_checkpoint_loses_no_checkpoint,
    a_kill_during_close_loses_nothing_already_closed,
    a_kill_during_a_restore_leaves_the_old_or_the_new_contents,
    a_failing_disk_under_sync_gives_typed_errors_and_loses_nothing,
    a_failing_disk_under_nosync_gives_typed_errors_and_loses_no_checkpoint,
    garbage_engine_files_fail_the_open_with_corruption,
    a_store_a_killed_writer_left_opens_and_passes_the_deep_check,
    killed_writers_of_a_large_history_lose_nothing_after_a_close,
    killed_groups_writers_in_sync_lose_no_acknowledged_apply_of_any_group,
    killed_groups_writers_in_nosync_tear_no_batch_and_lose_no_checkpoint,
);

#[cfg(target_os = "linux")]
group!(locking:
    racing_opens_and_closes_always_hold_the_cross_process_lock,
);

#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
))]
group!(rollback (durable_engines):
    an_engine_recovered_below_the_pinned_index_is_refused,
    a_restore_of_an_older_snapshot_lowers_the_pin,
    only_a_rising_pin_rewrites_the_marker,
    a_nosync_session_is_recorded_in_the_marker_until_a_clean_close,
);

#[cfg(all(
    target_os = "linux",
    any(
        feature = "redb",
        feature = "fjall",
        feature = "heed",
        feature = "rocksdb"
    )
))]
group!(power_tests (durable_engines):
    power_cuts_on_a_posix_disk_lose_nothing_a_sync_store_acknowledged,
    power_cuts_on_a_journaling_disk_lose_nothing_a_sync_store_acknowledged,
    power_cuts_on_a_posix_disk_lose_no_checkpoint_of_a_nosync_store,
    power_cuts_on_a_journaling_disk_lose_no_checkpoint_of_a_nosync_store,
    a_failed_fsync_stops_the_store_until_it_is_reopened,
    power_cuts_in_a_large_history_around_a_close_lose_nothing_acknowledged,
    a_sync_store_cut_and_reopened_in_nosync_mode_keeps_everything_acknowledged,
    a_nosync_store_cut_and_reopened_in_sync_mode_opens_and_keeps_every_checkpoint,
    power_cuts_under_many_groups_lose_nothing_any_group_acknowledged,
    a_failed_fsync_in_a_shared_round_fails_its_members_and_stops_every_group,
);

/// Every `pub fn <body>(h: &Harness)` in the library's group modules is instantiated
/// above: a body that is written but not listed would silently never run.
#[test]
fn every_body_is_instantiated() {
    let groups: &[(&str, &[&str])] = &[
        ("batch", batch::BODIES),
        ("range", range::BODIES),
        ("meta", meta::BODIES),
        ("applied_index", applied_index::BODIES),
        ("checkpoint", checkpoint::BODIES),
        ("restore_gate", restore_gate::BODIES),
        ("config", config::BODIES),
        ("ownership", ownership::BODIES),
        ("read_only", read_only::BODIES),
        ("deep_check", deep_check::BODIES),
        ("concurrency", concurrency::BODIES),
        ("model", model::BODIES),
        ("snapshot", snapshot::BODIES),
        ("groups", groups::BODIES),
        #[cfg(target_os = "linux")]
        ("locking", locking::BODIES),
        #[cfg(any(
            feature = "redb",
            feature = "fjall",
            feature = "heed",
            feature = "rocksdb"
        ))]
        ("crash_tests", crash_tests::BODIES),
        #[cfg(any(
            feature = "redb",
            feature = "fjall",
            feature = "heed",
            feature = "rocksdb"
        ))]
        ("rollback", rollback::BODIES),
        #[cfg(all(
            target_os = "linux",
            any(
                feature = "redb",
                feature = "fjall",
                feature = "heed",
                feature = "rocksdb"
            )
        ))]
        ("power_tests", power_tests::BODIES),
    ];
    let source_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut total = 0;
    for (group, listed) in groups {
        let source = std::fs::read_to_string(source_dir.join(format!("{group}.rs")))
            .expect("read the group's source");
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub fn "))
            .filter_map(|rest| rest.split_once("(h: &Harness)").map(|(name, _)| name))
            .collect();
        assert_eq!(
            &defined, listed,
            "bodies of `{group}` and the list above differ"
        );
        total += defined.len();
    }
    assert!(total >= 40, "the suite has only {total} bodies");
}
