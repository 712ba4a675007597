//! Receiving a snapshot sent in pieces.

use std::fs::{self, File, OpenOptions};
use std::io::{self, PipeWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use fsmstore::{SnapshotHeader, SnapshotReader};

use crate::io_error;
use crate::state_machine::unfinished_path;

/// Takes a snapshot as a network layer receives it (an HTTP body, chunks of a stream)
/// into the receiving node's snapshot directory, in bounded memory, checking the
/// fsmstore stream as it arrives, and hands over the `File` that `Raft::install_full_snapshot`
/// takes as the snapshot's data.
///
/// The sender sends the data file of the snapshot it got from openraft (a
/// `std::fs::File` of the fsmstore stream) as bytes, and the snapshot meta beside it
/// (serde); the receiver writes the bytes here, in order, and calls [`finish`](Self::finish).
///
/// The bytes go to a file in the snapshot directory (named as unfinished, so a state
/// machine opened after a crash removes it) and through a checker on its own thread:
/// damage (a bad checksum, a record out of order, a cut stream) fails the write that
/// carries it or `finish`, and nothing is left in the directory. The state machine's
/// install checks the stream again against the meta before it restores.
pub struct SnapshotReceiver {
    path: PathBuf,
    file: Option<File>,
    checker: Option<(PipeWriter, JoinHandle<fsmstore::Result<SnapshotHeader>>)>,
}

impl SnapshotReceiver {
    /// Starts receiving into `snapshot_dir` (the receiving state machine's).
    pub fn new(snapshot_dir: impl AsRef<Path>) -> io::Result<Self> {
        let path = unfinished_path(snapshot_dir.as_ref(), "receiving");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let (reader, writer) = io::pipe()?;
        let checker = std::thread::Builder::new()
            .name("fsmstore-snapshot-check".into())
            .spawn(move || {
                let mut input = io::BufReader::new(reader);
                let mut stream = SnapshotReader::new(&mut input)?;
                while stream.next_record()?.is_some() {}
                let header = stream.finish()?;
                // Whatever follows the stream's end is not part of it.
                let after = io::copy(&mut input, &mut io::sink())?;
                if after > 0 {
                    return Err(fsmstore::Error::InvalidSnapshot(format!(
                        "{after} bytes after the end of the snapshot stream"
                    )));
                }
                Ok(header)
            })?;
        Ok(Self {
            path,
            file: Some(file),
            checker: Some((writer, checker)),
        })
    }

    /// Takes the next bytes of the stream. Fails with `InvalidData` when the checker
    /// found the stream damaged.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let (file, Some((pipe, _))) = (self.file.as_mut(), self.checker.as_mut()) else {
            return Err(io::Error::other("the receiver already failed"));
        };
        let file = file.ok_or_else(|| io::Error::other("the receiver already failed"))?;
        file.write_all(bytes)?;
        if pipe.write_all(bytes).is_err() {
            // The checker stopped reading: the stream is damaged, or went on past its
            // end.
            return Err(match self.checked() {
                Err(damaged) => damaged,
                Ok(_) => io::Error::other("the snapshot checker stopped reading"),
            });
        }
        Ok(())
    }

    /// Ends the stream: checks that it was whole, makes the file durable, and returns
    /// it open for reading at its start, for `install_full_snapshot`. The file's name
    /// is gone from the directory (the state machine's install keeps its own copy), so
    /// nothing is left behind whatever happens to the snapshot next.
    pub fn finish(mut self) -> io::Result<File> {
        self.checked()?;
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the receiver already failed"))?;
        // No fsync: the name goes below, and the install fsyncs its own copy.
        drop(file);
        let data = File::open(&self.path)?;
        fs::remove_file(&self.path)?;
        Ok(data)
    }

    /// Closes the checker's input and waits for its verdict on the whole stream.
    fn checked(&mut self) -> io::Result<SnapshotHeader> {
        let Some((pipe, checker)) = self.checker.take() else {
            return Err(io::Error::other("the receiver already failed"));
        };
        drop(pipe);
        let verdict = checker
            .join()
            .map_err(|_| io::Error::other("the snapshot checker panicked"))?;
        verdict.map_err(|error| match error {
            fsmstore::Error::Io(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the snapshot stream was cut short",
                )
            }
            damaged @ (fsmstore::Error::InvalidSnapshot(_) | fsmstore::Error::Corruption(_)) => {
                io::Error::new(io::ErrorKind::InvalidData, damaged)
            }
            other => io_error(other),
        })
    }
}

impl Drop for SnapshotReceiver {
    fn drop(&mut self) {
        if let Some((pipe, checker)) = self.checker.take() {
            drop(pipe);
            let _ = checker.join();
        }
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}
