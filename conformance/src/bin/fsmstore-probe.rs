//! A child process for the conformance suite: does one thing to a store and reports it
//! on stdout, so tests can control its environment or kill it.
//!
//! ```text
//! fsmstore-probe open <engine> <dir> <sync|nosync>
//! fsmstore-probe open-group <engine> <dir> <sync|nosync>   (the harness's group under test)
//! fsmstore-probe writer <engine> <dir> <sync|nosync> <checkpoint-every> <write-every> <close-every>
//! fsmstore-probe restore <engine> <dir> <sync|nosync> <snapshot-file>
//! fsmstore-probe restorer <engine> <dir> <sync|nosync> <snapshot-file> <applies-before>
//! fsmstore-probe failstop <engine> <dir> <sync|nosync>
//! fsmstore-probe groups-writer <engine> <dir> <sync|nosync> <checkpoint-every> [<snapshot-file>]
//! fsmstore-probe groups-failstop <engine> <dir> <sync|nosync>
//! ```
//! `groups-writer` applies to many groups of one groups store at once, one thread per
//! group, acknowledging each call with the group's tag (`g<id> applied <i>`), and with a
//! snapshot file restores one more group again and again; `groups-failstop` applies to
//! every group until a call fails, then tries every kind of write (see
//! `conformance::group_crash`).
//! `failstop` applies the writer's batches until one fails, prints
//! `acknowledged <index>` and `failed kind=<kind>`, then tries every kind of write and
//! prints `<what> kind=<kind>` (or `<what> ok`) for each, and the same for `read` and
//! `close`.
//! `restorer` applies the writer's batches up to `<applies-before>`, restores the
//! snapshot, then goes on applying until it is killed (see `conformance::crash`).
//! `restore` prints `opened` once the store is open, restores the snapshot file, closes
//! and prints `restored applied_index=<index>`.
//! `open` prints `opened engine=<name> sync_mode=<mode>` and exits 0. `writer` applies
//! batches until it is killed, acknowledging each call on stdout (see
//! `conformance::crash`). On failure either prints `error kind=<kind>: <message>` and
//! exits 2.

use std::process::ExitCode;

use conformance::crash::WriterPlan;
use fsmstore::{Backend, Config, SyncMode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!(
                "error kind={}: {error}",
                conformance::support::error_kind(&error)
            );
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> fsmstore::Result<String> {
    match args {
        [command, engine, dir, mode] if command == "open" || command == "open-group" => {
            let backend: Backend = engine.parse()?;
            let mode: SyncMode = mode.parse()?;
            let store = if command == "open" {
                fsmstore::open(backend, dir, &Config::new(mode))?
            } else {
                conformance::harness::open_in_group(backend, dir.as_ref(), &Config::new(mode))?
            };
            let line = format!(
                "opened engine={} sync_mode={}",
                store.engine_name(),
                store.sync_mode()
            );
            store.close()?;
            Ok(line)
        }
        [command, engine, dir, mode, plan @ ..] if command == "writer" => {
            let plan = WriterPlan::parse(plan).ok_or_else(|| {
                fsmstore::Error::invalid_argument("writer takes three numbers after the mode")
            })?;
            conformance::crash::run_writer(engine.parse()?, dir.as_ref(), mode.parse()?, plan)?;
            Ok("writer stopped".to_owned())
        }
        [command, engine, dir, mode, snapshot] if command == "restore" => {
            let backend: Backend = engine.parse()?;
            let store = fsmstore::open(backend, dir, &Config::new(mode.parse()?))?;
            println!("opened");
            let header = store.restore(&mut std::fs::File::open(snapshot)?)?;
            store.close()?;
            Ok(format!("restored applied_index={:?}", header.applied_index))
        }
        [command, engine, dir, mode, snapshot, before] if command == "restorer" => {
            let before = before.parse().map_err(|_| {
                fsmstore::Error::invalid_argument("restorer takes a number after the snapshot")
            })?;
            conformance::crash::run_restorer(
                engine.parse()?,
                dir.as_ref(),
                mode.parse()?,
                snapshot.as_ref(),
                before,
            )?;
            Ok("restorer stopped".to_owned())
        }
        [command, engine, dir, mode] if command == "failstop" => {
            conformance::crash::run_until_a_write_fails(
                engine.parse()?,
                dir.as_ref(),
                mode.parse()?,
            )?;
            Ok("failstop done".to_owned())
        }
        [command, engine, dir, mode, checkpoint_every, snapshot @ ..]
            if command == "groups-writer" && snapshot.len() <= 1 =>
        {
            let checkpoint_every = checkpoint_every.parse().map_err(|_| {
                fsmstore::Error::invalid_argument("groups-writer takes a number after the mode")
            })?;
            conformance::group_crash::run_writer(
                engine.parse()?,
                dir.as_ref(),
                mode.parse()?,
                checkpoint_every,
                snapshot.first().map(std::path::Path::new),
            )?;
            Ok("groups writer stopped".to_owned())
        }
        [command, engine, dir, mode] if command == "groups-failstop" => {
            conformance::group_crash::run_until_a_round_fails(
                engine.parse()?,
                dir.as_ref(),
                mode.parse()?,
            )?;
            Ok("groups failstop done".to_owned())
        }
        _ => Err(fsmstore::Error::invalid_argument(
            "usage: fsmstore-probe open|writer|restore|restorer|failstop|groups-writer|groups-failstop <engine> <dir> <sync|nosync> [plan|snapshot]",
        )),
    }
}
