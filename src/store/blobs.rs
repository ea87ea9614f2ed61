//! Content-addressed blob files: the bytes of originals (and of clean copies the recipient
//! page offers), named by their SHA-256 under `<data_dir>/blobs/ab/cd/abcd…`.
//!
//! A blob is written to a temporary file in the same directory tree, flushed to disk and then
//! renamed into place, so a reader (or a crash) never sees half a blob; the same content
//! stored twice is one file. Blobs are immutable; the ledger decides when one may go.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ids::hex;

/// Where original bytes are kept. The embedded default is [`FileBlobs`]; a scale-out
/// deployment puts an S3-compatible object store behind the same three calls.
pub trait OriginalStore: Send + Sync {
    /// Store `bytes`; returns their content address (lowercase SHA-256 hex).
    fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let address = hex(&Sha256::digest(bytes));
        self.put_addressed(bytes, &address)?;
        Ok(address)
    }
    /// Store `bytes` under `address`, which the caller computed as their SHA-256 (the engine
    /// hashes every input and output already; hashing them again costs as much as a rebuild
    /// of a simple file).
    fn put_addressed(&self, bytes: &[u8], address: &str) -> io::Result<()>;
    /// The bytes stored under `address`.
    fn get(&self, address: &str) -> io::Result<Vec<u8>>;
    /// Forget `address` (no error when it is already gone).
    fn remove(&self, address: &str) -> io::Result<()>;
}

/// Blobs as files in a directory.
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("tmp"))?;
        Ok(FileBlobs {
            root: root.to_path_buf(),
        })
    }

    /// The file for an address; `None` for anything that is not 64 lowercase hex digits, so a
    /// crafted address can never name a path outside the store.
    fn path(&self, address: &str) -> Option<PathBuf> {
        let ok = address.len() == 64
            && address
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| self.root.join(&address[..2]).join(&address[2..4]).join(address))
    }
}

fn bad_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a blob address")
}

impl OriginalStore for FileBlobs {
    fn put_addressed(&self, bytes: &[u8], address: &str) -> io::Result<()> {
        let path = self.path(address).ok_or_else(bad_address)?;
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().ok_or_else(bad_address)?;
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile_in(&self.root.join("tmp"))?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_data()?;
        fs::rename(&tmp.0, &path)?;
        Ok(())
    }

    fn get(&self, address: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(address).ok_or_else(bad_address)?)
    }

    fn remove(&self, address: &str) -> io::Result<()> {
        match fs::remove_file(self.path(address).ok_or_else(bad_address)?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// A new, exclusively created file under `dir` with a random name, open for reading and
/// writing (the blob store writes it; the request spool reads it back).
pub(super) fn tempfile_in(dir: &Path) -> io::Result<(PathBuf, fs::File)> {
    loop {
        let path = dir.join(format!("{}.part", super::random_hex(12)?));
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_address_and_crafted_addresses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let a = blobs.put(b"original").unwrap();
        assert_eq!(blobs.put(b"original").unwrap(), a);
        assert_eq!(blobs.get(&a).unwrap(), b"original");
        assert!(blobs.get("../../etc/passwd").is_err());
        assert!(blobs.get(&a.to_uppercase()).is_err());
        blobs.remove(&a).unwrap();
        blobs.remove(&a).unwrap();
        assert!(blobs.get(&a).is_err());
    }
}
