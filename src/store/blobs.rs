//! Content-addressed blob files: the bytes of originals (and of clean copies the recipient
//! page offers), named by their SHA-256 under `<data_dir>/blobs/ab/abcd…`.
//!
//! A blob is written to a file without a name, flushed to disk and only then given its name,
//! so a reader (or a crash) never sees half a blob; the same content stored twice is one file.
//! Blobs are immutable; the ledger decides when one may go.
//!
//! On Linux the file is made nameless in the blob's own directory (`O_TMPFILE`) and linked
//! there once flushed: no temporary name, no rename, nothing to clean up after a crash, and
//! writers of different blobs lock different directories. Everywhere else (or on a file
//! system without `O_TMPFILE`) it is written under a temporary name in `tmp/` and renamed,
//! as before 2026-12: with one `tmp/` every writer took that directory's lock to make a name
//! and the file system's rename lock to move it, and under distinct office mail the waits for
//! those locks were 3-13 % of the daemon's time.
//!
//! One level of 256 directories, made once: stores before 2026-12 used two (`ab/cd/abcd…`,
//! 65,536 directories), and with distinct traffic nearly every blob made a new directory,
//! which ext4 places by searching its block groups (a quarter of the daemon's time under
//! office mail). [`FileBlobs::open`] moves such a store's files up a level, once.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Whether the store answers now (`/readyz`); a local folder always does.
    fn reachable(&self) -> bool {
        true
    }
}

/// Blobs as files in a directory.
pub struct FileBlobs {
    root: PathBuf,
    /// Cleared when the file system turns `O_TMPFILE` down: from then on, `tmp/` and rename.
    nameless: AtomicBool,
}

/// Present once the store has the one-level layout (made by this version, or moved to it).
const LAYOUT_MARK: &str = "layout-1";

impl FileBlobs {
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("tmp"))?;
        let blobs = FileBlobs {
            root: root.to_path_buf(),
            nameless: AtomicBool::new(cfg!(target_os = "linux")),
        };
        if !root.join(LAYOUT_MARK).exists() {
            for byte in 0..=255u8 {
                let dir = root.join(hex(&[byte]));
                fs::create_dir_all(&dir)?;
                Self::move_up_two_level_files(&dir)?;
            }
            fs::File::create(root.join(LAYOUT_MARK))?.sync_all()?;
        }
        Ok(blobs)
    }

    /// Move the files of `dir`'s two-hex-digit subdirectories (the old layout) into `dir`.
    /// A crash half way leaves each file in one place or the other, and the next start goes
    /// on (the mark is written last).
    fn move_up_two_level_files(dir: &Path) -> io::Result<()> {
        for sub in fs::read_dir(dir)? {
            let sub = sub?;
            let name = sub.file_name();
            let is_fan_out = name.to_str().is_some_and(|n| n.len() == 2 && n.bytes().all(lower_hex));
            if !is_fan_out || !sub.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(sub.path())? {
                let file = file?;
                fs::rename(file.path(), dir.join(file.file_name()))?;
            }
            fs::remove_dir(sub.path())?;
        }
        Ok(())
    }

    /// The file for an address; `None` for anything that is not 64 lowercase hex digits, so a
    /// crafted address can never name a path outside the store.
    fn path(&self, address: &str) -> Option<PathBuf> {
        is_address(address).then(|| self.root.join(&address[..2]).join(address))
    }
}

/// Whether `address` is a content address (64 lowercase hex digits): only such a string
/// ever names a file or an object key, so a crafted one cannot reach outside the store.
pub(super) fn is_address(address: &str) -> bool {
    address.len() == 64 && address.bytes().all(lower_hex)
}

fn lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
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
        if self.nameless.load(Ordering::Relaxed) {
            match nameless::put(dir, &path, bytes) {
                Err(e) if nameless::unsupported(&e) => self.nameless.store(false, Ordering::Relaxed),
                // Its directory was removed by hand since the store opened.
                Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => {
                    fs::create_dir_all(dir)?;
                    return nameless::put(dir, &path, bytes);
                }
                other => return other,
            }
        }
        let mut tmp = tempfile_in(&self.root.join("tmp"))?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_data()?;
        drop_cached(&tmp.1);
        match fs::rename(&tmp.0, &path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                fs::rename(&tmp.0, &path)
            }
            other => other,
        }
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

/// Nameless files linked into place once flushed (Linux's `O_TMPFILE`).
#[cfg(target_os = "linux")]
mod nameless {
    use std::fs;
    use std::io::{self, Write};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;

    /// Write `bytes` to a new file without a name in `dir`, flush it, then name it `path`.
    /// Another writer naming the same blob first is success: a name is only ever given to a
    /// whole, flushed file with the address's content.
    pub fn put(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        super::drop_cached(&file);
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(io::Error::other)?;
        let to = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: both arguments are NUL-terminated strings that live across the call, and
        // `file` keeps open the descriptor `from` names until after it.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked == 0 {
            return Ok(());
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            e => Err(e),
        }
    }

    /// Whether `e` says the file system (or the kernel, or a missing `/proc`) cannot do this,
    /// rather than that this write failed.
    pub fn unsupported(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOSYS)
        ) || (e.kind() == io::ErrorKind::NotFound && !Path::new("/proc/self/fd").exists())
    }
}

/// Elsewhere there is no nameless file: every blob takes the `tmp/` and rename path.
#[cfg(not(target_os = "linux"))]
mod nameless {
    use std::io;
    use std::path::Path;

    pub fn put(_: &Path, _: &Path, _: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn unsupported(_: &io::Error) -> bool {
        true
    }
}

/// Let the kernel drop a flushed blob's pages from its cache. A blob is written once and
/// read rarely (a released original, a recipient's download): kept cached, a day of mail
/// pushes out what the machine does use, and the kernel finds pages for every new blob
/// among memory nobody touched lately — under distinct office mail the copy into the page
/// cache went from 4 % to a quarter of the daemon's time as it grew. Dropped, the next
/// blob's pages are the ones just freed. Advice only: an error changes nothing.
fn drop_cached(file: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: `file` keeps its descriptor open across the call; the call reads nothing
        // of ours.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
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

    #[test]
    fn blobs_are_named_only_once_written_and_leave_no_temporary_names() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        // Eight writers of the same blob at once: one file, every writer told it is stored.
        let bytes = vec![7u8; 300_000];
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| blobs.put(&bytes).unwrap());
            }
        });
        let address = hex(&Sha256::digest(&bytes));
        assert_eq!(blobs.get(&address).unwrap(), bytes);
        assert_eq!(fs::read_dir(dir.path().join(&address[..2])).unwrap().count(), 1);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = dir.path().join(&address[..2]).join(&address);
            assert_eq!(fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // This machine's file system takes nameless files: the test ran that path.
        assert_eq!(blobs.nameless.load(Ordering::Relaxed), cfg!(target_os = "linux"));
        // The named path (no O_TMPFILE): stored the same way, tmp/ left empty.
        blobs.nameless.store(false, Ordering::Relaxed);
        let other = blobs.put(b"renamed into place").unwrap();
        assert_eq!(blobs.get(&other).unwrap(), b"renamed into place");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    /// Pages of `path` in the kernel's cache (`mincore` over a mapping, which reads nothing).
    #[cfg(target_os = "linux")]
    fn cached_pages(path: &Path) -> usize {
        use std::os::unix::io::AsRawFd;
        let file = fs::File::open(path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        let pages = len.div_ceil(4096);
        let mut resident = vec![0u8; pages];
        // SAFETY: a read-only shared mapping of an open file, unmapped before returning;
        // `resident` has one byte per page of it, as `mincore` writes.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
            libc::munmap(map, len);
        }
        resident.iter().filter(|&&r| r & 1 == 1).count()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_flushed_blob_leaves_the_page_cache() {
        // On the project's disk, not /tmp: a tmpfs keeps its pages (they are the file).
        let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).unwrap();
        let mut fs_info: libc::statfs = unsafe { std::mem::zeroed() };
        let c_dir = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and a struct of the size `statfs` writes.
        assert_eq!(unsafe { libc::statfs(c_dir.as_ptr(), &mut fs_info) }, 0);
        if fs_info.f_type == libc::TMPFS_MAGIC {
            eprintln!("target/ is on a tmpfs: no page cache to leave");
            return;
        }
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 / 3) as u8).collect();
        let address = blobs.put(&bytes).unwrap();
        let path = blobs.path(&address).unwrap();
        assert_eq!(cached_pages(&path), 0, "the blob's pages stayed in the cache");
        // Read back whole all the same (from the disk).
        assert_eq!(blobs.get(&address).unwrap(), bytes);
        // Renamed into place (no O_TMPFILE): the same.
        blobs.nameless.store(false, Ordering::Relaxed);
        let other = blobs.put(&bytes[1..]).unwrap();
        assert_eq!(cached_pages(&blobs.path(&other).unwrap()), 0);
    }

    #[test]
    fn a_two_level_store_is_moved_up_once_and_keeps_every_blob() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<(String, Vec<u8>)> = (0..40u8)
            .map(|i| {
                let bytes = vec![i; 10 + i as usize];
                let address = hex(&Sha256::digest(&bytes));
                let sub = dir.path().join(&address[..2]).join(&address[2..4]);
                fs::create_dir_all(&sub).unwrap();
                fs::write(sub.join(&address), &bytes).unwrap();
                (address, bytes)
            })
            .collect();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        for (address, bytes) in &old {
            assert_eq!(&blobs.get(address).unwrap(), bytes);
            assert!(!dir.path().join(&address[..2]).join(&address[2..4]).exists());
        }
        assert!(dir.path().join(LAYOUT_MARK).exists());
        let fresh = blobs.put(b"new").unwrap();
        drop(blobs);
        let again = FileBlobs::open(dir.path()).unwrap();
        assert_eq!(again.get(&fresh).unwrap(), b"new");
        assert_eq!(again.get(&old[0].0).unwrap(), old[0].1);
        // A removed fan-out directory is made again by the next put.
        let address = hex(&Sha256::digest(b"gone"));
        fs::remove_dir_all(dir.path().join(&address[..2])).unwrap();
        again.put(b"gone").unwrap();
        assert_eq!(again.get(&address).unwrap(), b"gone");
    }
}
