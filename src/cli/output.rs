//! Writing output files whole or not at all: into a temporary file beside
//! the target, renamed into place only after everything was written.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// Runs `f` on a writer for `path` (`-` = standard output). A file appears
/// at `path` only if `f` and the flush succeed.
pub fn write_output(path: &Path, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    if path.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        f(&mut w)?;
        w.flush()?;
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".refgraph-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut w = BufWriter::new(tmp);
    f(&mut w).with_context(|| format!("writing {}", path.display()))?;
    let tmp = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", path.display()))?;
    // Temporary files are private (0600); an output file should be as
    // readable as any other the user creates.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}
