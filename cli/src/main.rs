//! `fsmstore`: look inside, copy and check fsmstore stores of every compiled-in engine.
//!
//! ```text
//! fsmstore inspect <path> [--json]
//! fsmstore export <path> <file|->
//! fsmstore import <file|-> <path> --engine NAME [--sync-mode sync|nosync] [--force]
//! fsmstore migrate <from-path> <to-path> --engine NAME [--force]
//! fsmstore verify <file|->
//! fsmstore verify --deep <path>
//! ```
//!
//! The engine of an existing store comes from its directory marker. The exit codes are
//! [`Exit`]'s, the README's table.

mod inspect;
mod pipe;
mod progress;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fsmstore::{Backend, Config, Engine, Error, SnapshotHeader, SyncMode, read_marker};

/// Look inside, copy and check fsmstore stores.
#[derive(Parser, Debug)]
#[command(name = "fsmstore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a store's engine, applied index, meta keys and data size.
    Inspect {
        /// The store directory.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a store's snapshot stream to a file, or to stdout with `-`.
    Export {
        /// The store directory.
        path: PathBuf,
        /// The snapshot file, or `-` for stdout.
        output: String,
    },
    /// Create a store from a snapshot stream (a file, or stdin with `-`).
    Import {
        /// The snapshot file, or `-` for stdin.
        input: String,
        /// The store directory to create.
        path: PathBuf,
        /// The engine of the new store.
        #[arg(long, value_parser = parse_engine)]
        engine: Backend,
        /// The sync mode the new store is created with.
        #[arg(long, default_value = "sync", value_parser = parse_sync_mode)]
        sync_mode: SyncMode,
        /// Replace the contents of an existing store.
        #[arg(long)]
        force: bool,
    },
    /// Copy a store into a new store of another engine, applied index included.
    Migrate {
        /// The store to copy.
        from: PathBuf,
        /// The store directory to create.
        to: PathBuf,
        /// The engine of the new store.
        #[arg(long, value_parser = parse_engine)]
        engine: Backend,
        /// Replace the contents of an existing store at the destination.
        #[arg(long)]
        force: bool,
    },
    /// Check a snapshot stream (framing, order, counts, CRC32C) and print its header;
    /// with `--deep`, read a whole store back and check it.
    Verify {
        /// The snapshot file, or `-` for stdin; with `--deep`, the store directory.
        input: String,
        /// Check the store directory `input`: the engine's own integrity check (redb:
        /// every page's checksum), then every entry (order, lengths, the applied
        /// index). Reads the whole store: its time grows with the data.
        #[arg(long)]
        deep: bool,
    },
}

fn parse_engine(name: &str) -> Result<Backend, String> {
    name.parse().map_err(|error: Error| error.to_string())
}

fn parse_sync_mode(name: &str) -> Result<SyncMode, String> {
    name.parse().map_err(|error: Error| error.to_string())
}

/// What the exit code says went wrong (0 is success). The README's table lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Anything not listed below: an I/O error, a store that stopped, ...
    Failed = 1,
    /// Bad usage: an unknown command or flag, a missing argument, a bad value (an
    /// unknown `--engine` name among them), or an invalid `FSMSTORE_SYNC_MODE`. clap
    /// exits with this code for what it refuses.
    Usage = 2,
    /// The engine is not compiled into this binary; the message names the feature.
    NotCompiled = 3,
    /// The store path is missing, not a directory or not a store (or another engine's);
    /// a snapshot file to read is missing; or the destination of an import or migrate
    /// already holds something and `--force` was not given.
    NotAStore = 4,
    /// A damaged snapshot stream or store: a bad checksum or framing, missing engine
    /// files, a damaged marker or one that names an engine this build does not know, a
    /// store format newer than this build reads.
    Damaged = 5,
    /// Another process (or handle) holds the store.
    InUse = 6,
}

/// A failure with the exit code that names its kind.
#[derive(Debug)]
struct Failure {
    exit: Exit,
    message: String,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let exit = match &error {
            // The configuration the command line can reach is the sync-mode override
            // in the environment: the user's input, like a flag.
            Error::Config(_) => Exit::Usage,
            Error::NotCompiled { .. } => Exit::NotCompiled,
            Error::BackendMismatch { .. } | Error::NotADirectory(_) => Exit::NotAStore,
            Error::InvalidSnapshot(_)
            | Error::Corruption(_)
            | Error::UnsupportedFormat { .. }
            | Error::RolledBack { .. } => Exit::Damaged,
            Error::Locked(_) => Exit::InUse,
            _ => Exit::Failed,
        };
        Failure {
            exit,
            message: error.to_string(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error).into()
    }
}

fn failure(exit: Exit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { exit, message }) => {
            eprintln!("fsmstore: {message}");
            ExitCode::from(exit as u8)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Inspect { path, json } => {
            let store = open_existing(&path)?;
            let report = inspect::inspect(&path, &*store)?;
            store.close()?;
            let text = if json {
                report.to_json()
            } else {
                report.to_text()
            };
            print!("{text}");
            Ok(())
        }
        Command::Export { path, output } => {
            let store = open_existing(&path)?;
            let bar = progress::bar(None, "exporting");
            let header = if output == "-" {
                store.export(&mut bar.wrap_write(std::io::stdout().lock()))?
            } else {
                let mut file = BufWriter::new(File::create(&output)?);
                let header = store.export(&mut bar.wrap_write(&mut file))?;
                file.into_inner()
                    .map_err(|error| error.into_error())?
                    .sync_all()?;
                header
            };
            bar.finish_and_clear();
            store.close()?;
            eprintln!("exported {}", describe(&header));
            Ok(())
        }
        Command::Import {
            input,
            path,
            engine,
            sync_mode,
            force,
        } => {
            check_destination(&path, force)?;
            let store = fsmstore::open(engine, &path, &Config::new(sync_mode))?;
            let (reader, total) = open_input(&input)?;
            let bar = progress::bar(total, "importing");
            let header = store.restore(&mut bar.wrap_read(reader))?;
            bar.finish_and_clear();
            store.close()?;
            eprintln!(
                "imported {} into {engine} at {}",
                describe(&header),
                path.display()
            );
            Ok(())
        }
        Command::Migrate {
            from,
            to,
            engine,
            force,
        } => {
            let source = open_existing(&from)?;
            let created = read_marker(&from)?
                .created_sync_mode
                .unwrap_or(SyncMode::Sync);
            check_destination(&to, force)?;
            let target = fsmstore::open(engine, &to, &Config::new(created))?;
            let bar = progress::bar(None, "migrating");
            let header = migrate(&*source, &*target, &bar)?;
            bar.finish_and_clear();
            source.close()?;
            target.close()?;
            eprintln!(
                "migrated {} from {} to {engine} at {}",
                describe(&header),
                from.display(),
                to.display()
            );
            Ok(())
        }
        Command::Verify { input, deep: true } => {
            let path = PathBuf::from(&input);
            let store = open_existing(&path)?;
            let checked = store.verify_deep()?;
            let engine = store.engine_name();
            store.close()?;
            println!("store passes the deep check");
            println!("engine: {engine}");
            println!("applied index: {}", optional(checked.applied_index));
            println!("data entries: {}", checked.data_entries);
            println!("meta entries: {}", checked.meta_entries);
            Ok(())
        }
        Command::Verify { input, deep: false } => {
            let (reader, _) = open_input(&input)?;
            let header = fsmstore::verify_snapshot(BufReader::new(reader))?;
            println!("valid fsmstore snapshot");
            println!("format version: {}", header.format_version);
            println!("applied index: {}", optional(header.applied_index));
            println!("data records: {}", header.data_records);
            println!("meta records: {}", header.meta_records);
            Ok(())
        }
    }
}

/// Export from `source` in a thread, restore into `target` from the other end of a
/// pipe: nothing is staged on disk, and memory stays bounded.
fn migrate(
    source: &dyn Engine,
    target: &dyn Engine,
    bar: &indicatif::ProgressBar,
) -> Result<SnapshotHeader, Failure> {
    let (writer, reader) = pipe::pipe();
    std::thread::scope(|scope| {
        let exporter = scope.spawn(move || {
            let mut writer = writer;
            source.export(&mut writer)
        });
        let restored = target.restore(&mut bar.wrap_read(reader));
        let exported = exporter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failed export makes the restore fail too; the export's error says why.
        exported?;
        Ok(restored?)
    })
}

/// Opens the store at `path` read-only, with the engine its marker names: it creates,
/// removes and writes nothing, and a store another process holds is refused as in use.
fn open_existing(path: &Path) -> Result<Box<dyn Engine>, Failure> {
    if !path.exists() {
        return Err(failure(
            Exit::NotAStore,
            format!("{}: no such store", path.display()),
        ));
    }
    if !path.is_dir() {
        return Err(Error::NotADirectory(path.to_owned()).into());
    }
    let marker = read_marker(path).map_err(|error| match error {
        Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => failure(
            Exit::NotAStore,
            format!("{}: not an fsmstore store (no marker file)", path.display()),
        ),
        other => other.into(),
    })?;
    let backend: Backend = marker.engine.parse().map_err(|_| {
        failure(
            Exit::Damaged,
            format!(
                "{}: the marker names engine {:?}, which this build of fsmstore does not know",
                path.display(),
                marker.engine
            ),
        )
    })?;
    // A read-only open commits nothing, so its mode matters little: the engine's
    // recovery follows what the marker records of the sessions that wrote the store.
    let mode = marker.created_sync_mode.unwrap_or(SyncMode::Sync);
    Ok(fsmstore::open(
        backend,
        path,
        &Config::new(mode).with_read_only(),
    )?)
}

/// Import and migrate create a store: refuse a non-empty destination unless `force`.
fn check_destination(path: &Path, force: bool) -> Result<(), Failure> {
    let occupied = std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some());
    if occupied && !force {
        return Err(failure(
            Exit::NotAStore,
            format!(
                "{} already exists and is not empty; pass --force to replace its contents",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// A reader for `-` (stdin) or a file, with the file's size when known.
fn open_input(input: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), Failure> {
    if input == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file = File::open(input).map_err(|error| {
        failure(
            Exit::NotAStore,
            format!("{input}: cannot open the snapshot: {error}"),
        )
    })?;
    let size = file.metadata().ok().map(|metadata| metadata.len());
    Ok((Box::new(file), size))
}

fn describe(header: &SnapshotHeader) -> String {
    format!(
        "{} data keys and {} meta keys at applied index {}",
        header.data_records,
        header.meta_records,
        optional(header.applied_index)
    )
}

fn optional(index: Option<u64>) -> String {
    index.map_or_else(|| "none".to_owned(), |index| index.to_string())
}

/// Whether progress bars are drawn: only for a person watching a terminal.
fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_map_to_their_exit_codes() {
        let code = |error: Error| Failure::from(error).exit as u8;
        assert_eq!(
            code(Error::NotCompiled {
                engine: "rocksdb".into(),
                feature: "rocksdb".into()
            }),
            3
        );
        assert_eq!(code(Error::InvalidSnapshot("bad".into())), 5);
        assert_eq!(code(Error::Corruption("bad".into())), 5);
        assert_eq!(
            code(Error::RolledBack {
                path: PathBuf::from("/x"),
                recovered: Some(3),
                pinned: 9,
            }),
            5
        );
        assert_eq!(code(Error::NotADirectory(PathBuf::from("/x"))), 4);
        assert_eq!(code(Error::Io(std::io::Error::other("disk"))), 1);
        assert_eq!(code(Error::Config("FSMSTORE_SYNC_MODE".into())), 2);
        assert_eq!(code(Error::Locked(PathBuf::from("/x"))), 6);
    }
}
