//! Files for the offline commands: input read into memory or mapped, outputs written through
//! a temporary file and renamed (a reader never sees half a file), `-` for stdin/stdout, and
//! output names that never escape their directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Input bytes: read into memory, or mapped for large regular files.
pub enum Input {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl AsRef<[u8]> for Input {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Owned(v) => v,
            Input::Mapped(m) => m,
        }
    }
}

/// Files at least this large are mapped instead of copied into memory.
const MMAP_MIN_BYTES: u64 = 4 << 20;

pub fn read_input(path: &Path) -> anyhow::Result<Input> {
    if is_dash(path) {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
        return Ok(Input::Owned(buf));
    }
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() && meta.len() >= MMAP_MIN_BYTES {
        // SAFETY: the map is read-only and lives only for this command. As with any mapped
        // file (ripgrep does the same), truncating the file while mugai reads it ends the
        // process with SIGBUS; that is a failed run with no output, never a wrong output.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(Input::Mapped(map));
        }
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let mut file = file;
    file.read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Input::Owned(buf))
}

/// The temporary file an output is written to before it is renamed into place: in the same
/// directory (so the rename is atomic), hidden, named for this process.
fn temp_beside(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{file_name}.mugai-tmp-{}", std::process::id()))
}

/// Write through a temporary file and rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

/// Like [`write_atomically`], for output written piece by piece (`-` is stdout).
pub fn write_streaming(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    if is_dash(path) {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write(&mut out).context("writing stdout")?;
        return out.flush().context("writing stdout");
    }
    let tmp = temp_beside(path);
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let written = write(&mut out).and_then(|()| out.flush());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

pub fn display_name(path: &Path, explicit: Option<&str>) -> Option<String> {
    explicit.map(str::to_string).or_else(|| {
        (!is_dash(path))
            .then(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .flatten()
    })
}

/// `dir/name`, or `dir/name (2).ext`, ... when two inputs share a name.
pub fn unique_path(dir: &Path, name: &str, used: &mut std::collections::HashSet<String>) -> PathBuf {
    // Never let a name escape the output directory.
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = match base.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
            _ => format!("{base} ({n})"),
        };
        n += 1;
    }
    dir.join(candidate)
}
