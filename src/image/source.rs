//! Input files as byte slices: memory-mapped as they are, or, when a file is a
//! zstd frame (`core.zst`, `exe.zst`), decompressed once into an unlinked
//! temporary file that is then mapped. Nothing is ever read whole into memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::Error;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// One opened input file.
pub struct Source {
    path: PathBuf,
    data: Data,
    compressed: bool,
}

/// Where a source's bytes are.
enum Data {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl Source {
    /// Opens `path`, decompressing it first if it starts with the zstd magic.
    pub fn open(path: &Path) -> Result<Source, Error> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        let mut magic = [0u8; 4];
        let n = read_prefix(&mut file, &mut magic).map_err(io)?;
        let compressed = n == 4 && magic == ZSTD_MAGIC;
        let file = if compressed {
            let input = File::open(path).map_err(io)?;
            let mut out = SparseWriter { file: tempfile::tempfile().map_err(io)?, pos: 0 };
            zstd::stream::copy_decode(input, &mut out).map_err(|e| Error::Decompress {
                path: path.to_path_buf(),
                source: e,
            })?;
            out.finish().map_err(io)?
        } else {
            file
        };
        let len = file.metadata().map_err(io)?.len();
        let data = if len == 0 {
            Data::Owned(Vec::new())
        } else {
            // SAFETY: the mapping is read-only; a file truncated under us by
            // another process could fault, as with every mmap-based reader.
            Data::Map(unsafe { Mmap::map(&file) }.map_err(io)?)
        };
        Ok(Source { path: path.to_path_buf(), data, compressed })
    }

    /// A source made of bytes already in memory (`path` only names it).
    pub fn from_vec(path: &Path, bytes: Vec<u8>) -> Source {
        Source { path: path.to_path_buf(), data: Data::Owned(bytes), compressed: false }
    }

    /// The file's (decompressed) bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Map(m) => m,
            Data::Owned(v) => v,
        }
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file was zstd-compressed on disk.
    pub fn was_compressed(&self) -> bool {
        self.compressed
    }
}

fn read_prefix(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Writes a file, leaving holes where whole blocks are zero: cores are mostly
/// untouched reservations, and a decompressed 1 GiB of zeros should cost no
/// disk.
struct SparseWriter {
    file: File,
    /// Logical length written so far.
    pos: u64,
}

const BLOCK: usize = 4096;

impl SparseWriter {
    fn finish(mut self) -> std::io::Result<File> {
        self.file.set_len(self.pos)?;
        self.file.flush()?;
        Ok(self.file)
    }
}

impl Write for SparseWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Split into runs of all-zero blocks (skipped) and other blocks
        // (written in one call each).
        let mut i = 0;
        while i < buf.len() {
            let zero_run = |from: usize| {
                let mut j = from;
                while j < buf.len() {
                    let end = (j + BLOCK).min(buf.len());
                    if buf[j..end].iter().any(|&b| b != 0) {
                        break;
                    }
                    j = end;
                }
                j
            };
            let z = zero_run(i);
            if z > i {
                self.pos += (z - i) as u64;
                i = z;
                continue;
            }
            let mut j = i;
            while j < buf.len() && zero_run(j) == j {
                j = (j + BLOCK).min(buf.len());
            }
            self.file.seek(SeekFrom::Start(self.pos))?;
            self.file.write_all(&buf[i..j])?;
            self.pos += (j - i) as u64;
            i = j;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
