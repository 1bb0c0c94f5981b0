//! Writing output files whole or not at all, whenever the process dies.
//!
//! The file is opened before the analysis starts, so an unwritable path is
//! reported at once, not after minutes of work. Where the filesystem has
//! `O_TMPFILE` (Linux: ext4, xfs, btrfs, tmpfs) the data goes to an unnamed
//! file in the target's directory, given its name by `linkat` only when
//! complete: a process killed by any signal, even SIGKILL, leaves nothing.
//! Elsewhere it goes to a named `.refgraph-XXXXXX` file beside the target,
//! renamed into place at the end; an error return removes it, and a
//! handler for SIGINT, SIGTERM and SIGHUP removes it before the process
//! dies of the signal (only SIGKILL can leave it behind).

use std::ffi::CString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

/// Set to 1 to use the named temporary file even where `O_TMPFILE` works
/// (to test that path).
pub const NO_O_TMPFILE_ENV: &str = "REFGRAPH_NO_O_TMPFILE";

/// An output destination, opened and checked before any analysis.
pub struct Output {
    target: PathBuf,
    file: Option<Pending>,
}

/// Where the bytes go until they are complete.
enum Pending {
    /// An `O_TMPFILE` file in the target's directory.
    Unnamed { file: File, dir: PathBuf },
    /// A named temporary file (removed by the signal guard if killed).
    Named { tmp: tempfile::NamedTempFile, guard: Guard },
}

impl Output {
    /// Opens the destination `path` (`-` = standard output): its directory
    /// must exist and be writable, and `path` must not be a directory.
    pub fn create(path: &Path) -> Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output { target: path.to_path_buf(), file: None });
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("cannot write {}: {} is not a directory", path.display(), dir.display()),
            Err(e) => bail!("cannot write {}: directory {}: {e}", path.display(), dir.display()),
        }
        if path.is_dir() {
            bail!("cannot write {}: it is a directory; give a file name", path.display());
        }
        let cannot = || format!("cannot write {}: cannot create a file in {}", path.display(), dir.display());
        let pending = match open_unnamed(dir) {
            Some(Ok(file)) => Pending::Unnamed { file, dir: dir.to_path_buf() },
            Some(Err(e)) => return Err(e).with_context(cannot),
            None => {
                let tmp = tempfile::Builder::new().prefix(".refgraph-").tempfile_in(dir).with_context(cannot)?;
                let guard = Guard::arm(tmp.path());
                Pending::Named { tmp, guard }
            }
        };
        Ok(Output { target: path.to_path_buf(), file: Some(pending) })
    }

    /// Runs `f` on a writer; the file appears at the target only if `f`
    /// and the flush succeed.
    pub fn write(self, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        self.write_counted(&AtomicU64::new(0), f)
    }

    /// [`Output::write`], adding to `written` the bytes written, a buffer
    /// at a time (for a progress display).
    pub fn write_counted(self, written: &AtomicU64, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        let path = &self.target;
        let writing = || format!("writing {}", path.display());
        let Some(pending) = self.file else {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(Counted { inner: stdout.lock(), written });
            f(&mut w)?;
            w.flush()?;
            return Ok(());
        };
        match pending {
            Pending::Unnamed { file, dir } => {
                let mut w = BufWriter::new(Counted { inner: file, written });
                f(&mut w).with_context(writing)?;
                let file = w.into_inner().map_err(|e| e.into_error()).with_context(writing)?.inner;
                link_into_place(&file, &dir, path).with_context(|| format!("cannot create {}", path.display()))
            }
            Pending::Named { tmp, guard } => {
                let mut w = BufWriter::new(Counted { inner: tmp, written });
                f(&mut w).with_context(writing)?;
                let tmp = w.into_inner().map_err(|e| e.into_error()).with_context(writing)?.inner;
                // Temporary files are private (0600); an output file should
                // be as readable as any other the user creates.
                use std::os::unix::fs::PermissionsExt;
                let _ = tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
                tmp.persist(path).with_context(|| format!("cannot create {}", path.display()))?;
                drop(guard);
                Ok(())
            }
        }
    }
}

/// A writer that adds the bytes it passes on to `written`: under a
/// BufWriter, once per buffer.
struct Counted<'c, W> {
    inner: W,
    written: &'c AtomicU64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Opens an unnamed file in `dir`; None where the filesystem (or the
/// environment, [`NO_O_TMPFILE_ENV`]) says no, so the caller falls back.
fn open_unnamed(dir: &Path) -> Option<std::io::Result<File>> {
    if std::env::var_os(NO_O_TMPFILE_ENV).is_some_and(|v| v == "1") {
        return None;
    }
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: plain open(2) of a NUL-terminated path; the descriptor is
    // owned by the File from here on.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC, 0o666) };
    if fd >= 0 {
        // SAFETY: fd is a fresh descriptor nothing else owns.
        return Some(Ok(unsafe { File::from_raw_fd(fd) }));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // Not supported here (old kernel or filesystem): fall back.
        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT) => None,
        _ => Some(Err(e)),
    }
}

/// Gives the unnamed `file` the name `target`: directly when nothing has
/// it; otherwise under a temporary name (guarded) renamed over it.
fn link_into_place(file: &File, dir: &Path, target: &Path) -> std::io::Result<()> {
    match link(file, target) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => return other,
    }
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(".refgraph-{}-{attempt}", std::process::id()));
        let guard = Guard::arm(&tmp);
        match link(file, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        let renamed = std::fs::rename(&tmp, target);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        drop(guard);
        return renamed;
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temporary name"))
}

/// linkat(2) of an open file to `to`: through /proc/self/fd, else by
/// AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH).
fn link(file: &File, to: &Path) -> std::io::Result<()> {
    let to = CString::new(to.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let proc = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("no NUL");
    // SAFETY: NUL-terminated paths; linkat only reads them.
    let r = unsafe { libc::linkat(libc::AT_FDCWD, proc.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        return Err(e);
    }
    // SAFETY: as above, with an empty path naming the descriptor itself.
    let r = unsafe { libc::linkat(file.as_raw_fd(), c"".as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_EMPTY_PATH) };
    if r == 0 {
        Ok(())
    } else {
        Err(e)
    }
}

/// The path the signal handler removes (a leaked C string), or null.
static GUARDED: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

/// While alive, a SIGINT, SIGTERM or SIGHUP removes the guarded file
/// before the process dies of the signal. One file at a time.
struct Guard(());

impl Guard {
    fn arm(path: &Path) -> Guard {
        install_handlers();
        let c = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
        let old = GUARDED.swap(c.into_raw(), Ordering::SeqCst);
        free(old);
        Guard(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        free(GUARDED.swap(std::ptr::null_mut(), Ordering::SeqCst));
    }
}

fn free(p: *mut libc::c_char) {
    if !p.is_null() {
        // SAFETY: every non-null value stored in GUARDED came from
        // CString::into_raw, and each is taken out of it exactly once.
        drop(unsafe { CString::from_raw(p) });
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn install_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in SIGNALS {
            // SAFETY: installs an async-signal-safe handler (it calls only
            // unlink, signal and raise).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

extern "C" fn on_signal(sig: libc::c_int) {
    let p = GUARDED.swap(std::ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: p is null or a NUL-terminated path that is never freed once
    // taken here; unlink, signal and raise are async-signal-safe.
    unsafe {
        if !p.is_null() {
            libc::unlink(p);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::Output;

    #[test]
    fn written_bytes_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let written = AtomicU64::new(0);
        Output::create(&path)
            .unwrap()
            .write_counted(&written, |w| {
                for i in 0..10_000 {
                    writeln!(w, "line {i}")?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(written.load(Ordering::Relaxed), std::fs::metadata(&path).unwrap().len());
    }
}
