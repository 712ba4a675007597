use std::time::UNIX_EPOCH;

use super::*;

/// Writes one case the way criterion 0.8 does: `<group>/<case>/new/` with the directory
/// names made file-name safe, a confidence interval of `median × (1 ± spread)`, and an
/// older result in `base/`.
fn write_case(root: &Path, id: &str, median_ns: f64, spread: f64) {
    let (group, case) = id.rsplit_once('/').unwrap_or(("", id));
    let dir = root.join(group.replace('/', "_")).join(case);
    for (sub, median) in [("new", median_ns), ("base", median_ns * 100.0)] {
        let (low, high) = (median * (1.0 - spread), median * (1.0 + spread));
        let interval =
            serde_json::json!({"confidence_level": 0.95, "lower_bound": low, "upper_bound": high});
        let estimate = serde_json::json!({"point_estimate": median, "standard_error": 1.0, "confidence_interval": interval});
        let estimates = serde_json::json!({"mean": estimate, "median": estimate, "median_abs_dev": estimate, "slope": null, "std_dev": estimate});
        let benchmark =
            serde_json::json!({"group_id": group, "function_id": case, "full_id": id, "title": id});
        let dir = dir.join(sub);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("benchmark.json"), benchmark.to_string()).expect("write");
        std::fs::write(dir.join("estimates.json"), estimates.to_string()).expect("write");
    }
}

/// Two engines in full, memory in part, floors, cold starts and another bench.
fn fake_tree(root: &Path) {
    let case = |id: String, median, spread| write_case(root, &id, median, spread);
    for (engine, sync, nosync) in [("redb", 2e6, 2e4), ("heed", 3e6, 1e4)] {
        // heed's NoSync cases are measured tightly, redb's loosely.
        let spread = if engine == "heed" { 0.01 } else { 0.1 };
        for ops in [1u64, 16, 256] {
            let (sync, nosync) = (sync + ops as f64 * 1000.0, nosync * ops as f64);
            case(format!("apply/{engine}/sync/{ops}"), sync, 0.1);
            case(format!("native/{engine}/sync/{ops}"), sync, 0.1);
            case(format!("apply/{engine}/nosync/{ops}"), nosync, spread);
            let native = nosync / 1.25;
            case(format!("native/{engine}/nosync/{ops}"), native, spread);
        }
        let checkpoint = sync * 1.5;
        case(
            format!("checkpoint/{engine}/after_1000_nosync"),
            checkpoint,
            0.1,
        );
    }
    for (id, median) in [
        ("floor/fdatasync_4k", 1e6),
        ("floor/write_4k", 4e3),
        ("apply/memory/sync/1", 800.0),
        ("apply/memory/nosync/1", 400.0),
        ("checkpoint/memory/after_1000_nosync", 50.0),
        ("cold_start/redb/skip/1000000", 2e6),
        ("cold_start/redb/restore/1000000", 3e9),
        ("cold_start/redb/after_kill/1000000", 2.5e8),
        ("cold_start/heed/restore/100000", 4e7),
        // Another bench's output is ignored.
        ("unrelated/thing", 5.0),
    ] {
        case(id.to_owned(), median, 0.1);
    }
}

/// The results of [`fake_tree`].
fn fake_results() -> Results {
    let dir = tempfile::tempdir().expect("tempdir");
    fake_tree(dir.path());
    Results::from_estimates(load(dir.path()).expect("load"))
}

/// Results with only the given floors, written at the given seconds.
fn floors_measured_at(fdatasync: u64, write: u64) -> Results {
    let json =
        r#"{"point_estimate": 1, "confidence_interval": {"lower_bound": 1, "upper_bound": 1}}"#;
    let estimate = |seconds| Estimate {
        measured: Some(UNIX_EPOCH + Duration::from_secs(seconds)),
        ..serde_json::from_str(json).expect("an estimate")
    };
    let floors = [(FDATASYNC, estimate(fdatasync)), (WRITE, estimate(write))];
    Results::from_estimates(BTreeMap::from(floors.map(|(id, e)| (id.to_owned(), e))))
}

#[test]
fn a_criterion_tree_is_read_by_full_id_from_the_new_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    fake_tree(dir.path());
    let estimates = load(dir.path()).expect("load");
    assert_eq!(estimates.len(), 2 + 2 * 13 + 3 + 4 + 1);
    let floor = &estimates[FDATASYNC];
    assert_eq!(floor.median_ns, 1_000_000.0);
    assert_eq!(
        (floor.interval.low, floor.interval.high),
        (900_000.0, 1_100_000.0)
    );
    assert!(floor.measured.is_some());
    assert_eq!(estimates["apply/redb/nosync/16"].median_ns, 320_000.0);
}

#[test]
fn results_without_a_benchmark_json_are_named_by_their_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_case(dir.path(), WRITE, 4_000.0, 0.1);
    std::fs::remove_file(dir.path().join("floor/write_4k/new/benchmark.json")).expect("rm");
    let estimates = load(dir.path()).expect("load");
    assert!(estimates.contains_key(WRITE), "{estimates:?}");
}

#[test]
fn ratios_are_computed_from_the_medians() {
    let results = fake_results();
    assert_eq!(results.engines(), ["memory", "redb", "heed"]);
    assert_eq!(results.batch_sizes(), [1, 16, 256]);
    let close = |a: Option<f64>, b: f64| {
        let a = a.expect("a ratio");
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    };
    let ratios = [
        (results.sync_to_floor("redb"), 2.001),
        (results.sync_to_floor("heed"), 3.001),
        (results.nosync_speedup("redb", 1), 2_001_000.0 / 20_000.0),
        (
            results.nosync_speedup("heed", 256),
            3_256_000.0 / 2_560_000.0,
        ),
        (
            results.checkpoint_to_sync_apply("redb"),
            3_000_000.0 / 2_001_000.0,
        ),
        (results.checkpoint_to_sync_apply("memory"), 50.0 / 800.0),
        // 1000 NoSync applies of 20 µs and a 3 ms checkpoint: 23 µs per apply.
        (
            results.amortised_speedup("redb"),
            2_001_000.0 / (20_000.0 + 3_000_000.0 / 1000.0),
        ),
        (results.overhead("redb", Mode::SYNC, 16), 1.0),
        (results.overhead("heed", Mode::NOSYNC, 256), 1.25),
    ];
    for (ratio, expected) in ratios {
        close(ratio, expected);
    }
    let (low, high) = results
        .overhead_range("redb", Mode::SYNC, 1)
        .expect("a range");
    close(Some(low), 0.9 / 1.1);
    close(Some(high), 1.1 / 0.9);
    assert_eq!(results.overhead("memory", Mode::SYNC, 1), None);
    assert_eq!(results.nosync_speedup("memory", 16), None);
}

#[test]
fn the_markdown_has_the_floor_the_summary_and_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (criterion, out) = (dir.path().join("criterion"), dir.path().join("report"));
    fake_tree(&criterion);
    let (now, minute) = (SystemTime::now(), Duration::from_secs(60));
    let (started, finished) = (now - minute, now + minute);
    let engines = vec!["redb".to_owned(), "heed".to_owned()];
    let run = BenchRun {
        started,
        finished,
        quick: true,
        large: false,
        engines,
        criterion_args: Vec::new(),
    };
    run.save(&out).expect("save");
    let markdown = write_report(&criterion, &out).expect("report");
    let written = std::fs::read_to_string(out.join("report.md")).expect("read");
    assert_eq!(written, markdown);
    for expected in [
        "by `cargo xtask bench --quick` (0.3 s warm-up, 1 s measurement per case). Absolute",
        "| 4 KiB append + `fdatasync` | 1.00 ms | 1,000 |",
        "| 4 KiB append, no sync | 4.00 µs | 250,000 |",
        // redb: Sync 1 put 2.001 ms = 2.0× the floor, NoSync 20 µs = 100× faster (and
        // slower at 256 puts in this fake tree); checkpoint 3 ms = 1.5× a Sync apply.
        "| redb | 2.00 ms | 2.0× | 20.0 µs | 100× / 6.3× / 0.44× | 3.00 ms | 1.5× | 87× |",
        "| memory | 800 ns | 0.0008× | 400 ns | 2.0× / — / — | 50.0 ns | 0.063× | 2.0× |",
        // Every case: 16 puts in 320 µs is 50,000 puts/s. A NoSync overhead of 1.25 is
        // over the 1.15 target, but only bold when its whole range is.
        "| redb | NoSync | 16 | 320 µs ±10% | 50,000 | 256 µs ±10% | 62,500 | 1.25 (1.02–1.53) |",
        "| heed | NoSync | 256 | 2.56 ms ±1% | 100,000 | 2.05 ms ±1% | 125,000 | **1.25** (1.23–1.28) |",
        "| redb | Sync | 1 | 2.00 ms ±10% | 500 | 2.00 ms ±10% | 500 | 1.00 (0.82–1.22) |",
        "| memory | Sync | 1 | 800 ns ±10% | 1,250,000 | — | — | — |",
        // Cold start: restore ÷ skip, and a dash where one side is missing.
        "| redb | 1,000,000 | 2.00 ms ±10% | 3.00 s ±10% | 1500× | 250 ms ±10% |",
        "| heed | 100,000 | — | 40.0 ms ±10% | — | — |",
    ] {
        assert!(
            markdown.contains(expected),
            "{expected} missing from\n{markdown}"
        );
    }
    assert!(!markdown.contains("unrelated") && !markdown.contains("Warning"));
}

#[test]
fn the_chart_has_a_bar_per_case_and_is_well_formed() {
    let results = fake_results();
    let svg = chart::svg(&results, &Context::new(&results, None)).expect("chart");
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    // A bar per case and a legend swatch: per mode, 2 engines × 3 sizes and memory's one
    // size; 3 checkpoints.
    for (colour, bars) in [("#1F4E9A", 7), ("#86B8E8", 7), ("#E08A2C", 3)] {
        let fill = format!("fill=\"{colour}\"");
        let rects = svg
            .lines()
            .filter(|line| line.starts_with("<rect") && line.contains(&fill));
        assert_eq!(rects.count(), bars + 1, "{colour}");
    }
    let labels = ["memory", "redb", "heed", "1 ms", "10 µs", "\n2.00 ms\n"];
    for label in labels.iter().chain(&["4 KiB append + fdatasync, 1.00 ms"]) {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn a_run_record_only_describes_the_results_it_made() {
    let at = |seconds| UNIX_EPOCH + Duration::from_secs(seconds);
    let (started, finished, quick) = (at(1_000), at(2_000), false);
    let criterion_args = vec!["--sample-size".to_owned(), "20".to_owned()];
    let run = BenchRun {
        started,
        finished,
        quick,
        large: false,
        engines: Vec::new(),
        criterion_args,
    };
    let context = Context::new(&floors_measured_at(1_500, 1_600), Some(&run));
    let with_args = "with criterion arguments `--sample-size 20`";
    assert!(context.run.is_some_and(|run| run.ends_with(with_args)));
    assert_eq!(
        Context::new(&floors_measured_at(1_500, 3_000), Some(&run)).run,
        None
    );
}

#[test]
fn results_hours_apart_are_flagged_as_mixed_runs() {
    let context = Context::new(&floors_measured_at(1_795_478_400, 1_795_479_000), None);
    assert!(!context.mixed_runs);
    assert_eq!(
        context.measured,
        "measured 2026-11-24 00:00 UTC to 2026-11-24 00:10 UTC"
    );
    let a_day_later = floors_measured_at(1_795_478_400, 1_795_478_400 + 86_400);
    assert!(Context::new(&a_day_later, None).mixed_runs);
}

#[test]
fn an_empty_tree_is_an_error_that_says_what_to_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = write_report(dir.path(), &dir.path().join("out")).expect_err("empty");
    assert!(error.contains("cargo xtask bench"), "{error}");
    let error = load(&dir.path().join("missing")).expect_err("missing");
    assert!(error.contains("cargo xtask bench"), "{error}");
}

#[test]
fn numbers_are_printed_with_three_significant_digits() {
    let ns = [850.0, 1_234.0, 12_345.0, 999_960.0, 5_432_100.0, 2.5e9];
    let durations = [
        "850 ns", "1.23 µs", "12.3 µs", "1.00 ms", "5.43 ms", "2.50 s",
    ];
    assert_eq!(ns.map(duration), durations);
    assert_eq!(
        [1_234_567.0, 812.4, 99.44].map(rate),
        ["1,230,000", "812", "99.4"]
    );
    assert_eq!([57.4, 3.44, 0.0625].map(times), ["57×", "3.4×", "0.063×"]);
    assert_eq!([1e4, 1e6].map(decade_label), ["10 µs", "1 ms"]);
}

#[test]
fn dates_are_utc_calendar_dates() {
    let (second, day) = (Duration::from_secs(1), Duration::from_secs(86_400));
    assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00 UTC");
    assert_eq!(utc(UNIX_EPOCH - day), "1969-12-31 00:00 UTC");
    assert_eq!(
        utc(UNIX_EPOCH + second * 951_829_500),
        "2000-02-29 13:05 UTC"
    );
    assert_eq!(utc(UNIX_EPOCH + day * 20_781), "2026-11-24 00:00 UTC");
}

#[test]
fn range_reads_are_paired_with_their_native_baseline_and_shown_as_ratios() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_case(dir.path(), "scan/redb/forward/1000", 1_100_000.0, 0.1);
    write_case(
        dir.path(),
        "scan_native/redb/forward/1000",
        1_000_000.0,
        0.1,
    );
    write_case(dir.path(), "scan/heed/reverse/100000", 50_000_000.0, 0.1);
    write_case(
        dir.path(),
        "scan_native/heed/reverse/100000",
        40_000_000.0,
        0.1,
    );
    let results = Results::from_estimates(load(dir.path()).expect("load"));
    let markdown = markdown(&results, &Context::new(&results, None));
    let redb = markdown.find("| redb | forward | 1,000 | 1.10 ms ±10% | 1.00 ms ±10% | 1.10 |");
    let heed =
        markdown.find("| heed | reverse | 100,000 | 50.0 ms ±10% | 40.0 ms ±10% | **1.25** |");
    assert!(redb.is_some() && heed.is_some(), "{markdown}");
    assert!(redb < heed, "engines in the usual order");
}

/// Writes a groups case with `applies` elements per iteration and what the groups bench
/// records of it.
fn write_groups_case(root: &Path, id: &str, median_ns: f64, applies: u64, latency_ns: f64) {
    write_case(root, id, median_ns, 0.1);
    let (group, case) = id.rsplit_once('/').expect("a case id");
    let path = root
        .join(group.replace('/', "_"))
        .join(case)
        .join("new/benchmark.json");
    let benchmark = serde_json::json!({"group_id": group, "function_id": case, "full_id": id,
        "title": id, "throughput": {"Elements": applies}});
    std::fs::write(path, benchmark.to_string()).expect("write");
    let file = root.join("fsmstore-groups/redb.json");
    let mut cases: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let seconds = median_ns / 1e9 * 10.0;
    let rounds = if id.contains("/groups/") {
        10 * applies / 4
    } else {
        10 * applies
    };
    cases.insert(
        id.to_owned(),
        serde_json::json!({"applies": 10 * applies, "seconds": seconds,
            "applies_per_second": 1.0, "latency_median_ns": latency_ns,
            "latency_p99_ns": latency_ns * 2.0, "durable_rounds": rounds}),
    );
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
    std::fs::write(file, serde_json::Value::Object(cases).to_string()).expect("write");
}

#[test]
fn groups_are_compared_with_one_group_alone_and_a_store_per_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    // 16 applies per thread per iteration; one group alone: 1,000 applies/s, 1 ms each.
    write_groups_case(root, "groups/redb/alone/1/1", 16e6, 16, 1e6);
    write_groups_case(root, "groups/redb/groups/1/1", 16e6, 16, 1e6);
    write_groups_case(root, "groups/redb/stores/1/1", 16e6, 16, 1e6);
    // 16 groups: 10,000 applies/s, 1.6 ms each; 16 stores: 2,000 applies/s.
    write_groups_case(root, "groups/redb/groups/1/16", 25.6e6, 256, 1.6e6);
    write_groups_case(root, "groups/redb/stores/1/16", 128e6, 256, 8e6);
    let results = Results::from_estimates(load(root).expect("load"))
        .with_groups(groups::load(root).expect("load the groups' records"));
    assert_eq!(
        results.applies_per_second("redb", "groups", 1, 16),
        Some(10_000.0)
    );
    let text = markdown(&results, &Context::new(&results, None));
    let one = "| redb | 1 | 1 | 1,000 | 1,000 | 1,000 | 1.0× | 1.0× | 1.00 ms (2.00 ms) | 1.00 ms | 1.0× | 0.250 | 250 |";
    let sixteen = "| redb | 1 | 16 | 10,000 | 2,000 |  | 10× | 5.0× | 1.60 ms (3.20 ms) | 8.00 ms | 1.6× | 0.250 | 2,500 |";
    assert!(text.contains(one), "{text}");
    assert!(text.contains(sixteen), "{text}");

    // Below a target, the ratio is bold.
    write_groups_case(root, "groups/redb/groups/1/16", 51.2e6, 256, 4e6);
    let results = Results::from_estimates(load(root).expect("load"))
        .with_groups(groups::load(root).expect("load the groups' records"));
    let text = markdown(&results, &Context::new(&results, None));
    let sixteen = "| redb | 1 | 16 | 5,000 | 2,000 |  | **5.0×** | **2.5×** | 4.00 ms (8.00 ms) | 8.00 ms | **4.0×** |";
    assert!(text.contains(sixteen), "{text}");
}
