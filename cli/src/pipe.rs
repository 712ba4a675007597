//! An in-process pipe: one thread writes a snapshot stream, another reads it, with a
//! bounded amount of it in memory at any time.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per chunk sent through the pipe.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight: the pipe holds at most `CHUNK * DEPTH` bytes.
const DEPTH: usize = 16;

/// A connected writer and reader.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (sender, receiver) = sync_channel(DEPTH);
    (
        PipeWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        },
        PipeReader {
            receiver,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

/// The writing end. Dropping it (after the last write) ends the reader's stream.
pub struct PipeWriter {
    sender: SyncSender<Vec<u8>>,
    buffer: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reading side stopped"))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() == CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // A reader that already stopped needs nothing more.
        let _ = self.send();
    }
}

/// The reading end: end of stream once the writer is dropped and drained.
pub struct PipeReader {
    receiver: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let taken = out.len().min(self.chunk.len() - self.at);
        out[..taken].copy_from_slice(&self.chunk[self.at..self.at + taken]);
        self.at += taken;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arrive_in_order_and_the_stream_ends_when_the_writer_drops() {
        let (mut writer, mut reader) = pipe();
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let thread = std::thread::spawn(move || {
            writer.write_all(&sent).expect("write");
        });
        let mut received = Vec::new();
        reader.read_to_end(&mut received).expect("read");
        thread.join().expect("writer thread");
        assert_eq!(received, expected);
    }

    #[test]
    fn a_writer_fails_once_the_reader_is_gone() {
        let (mut writer, reader) = pipe();
        drop(reader);
        assert!(writer.write_all(&vec![0; CHUNK * 2]).is_err());
    }
}
