//! Issue 12's six classes of bad input, one regression test each: what the
//! input is, and that refgraph answers with one line (or a warning and a
//! best-effort result) within a memory bound, never a panic or a half file.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{fixtures, Fixture};

/// Address space a refgraph child may map in these tests: the fixtures'
/// cores are a few MiB, so 1 GiB is far above any honest need and far
/// below what a size taken from a damaged header asks for.
const CHILD_ADDRESS_SPACE: u64 = 1 << 30;

/// Runs refgraph with `args` under [`CHILD_ADDRESS_SPACE`], input on stdin.
pub fn refgraph_limited(args: &[&std::ffi::OsStr], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_refgraph"));
    cmd.args(args);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: CHILD_ADDRESS_SPACE, rlim_max: CHILD_ADDRESS_SPACE };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    match stdin {
        None => cmd.output().unwrap(),
        Some(data) => {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            let mut input = child.stdin.take().unwrap();
            let data = data.to_vec();
            let writer = std::thread::spawn(move || {
                let _ = input.write_all(&data);
            });
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            out
        }
    }
}

/// Exit code and stderr; fails the test on a panic or a signal.
fn code_and_stderr(out: &Output) -> (i32, String) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "panic: {err}");
    let code = out.status.code().unwrap_or_else(|| panic!("killed by a signal: {:?}; stderr: {err}", out.status));
    (code, err)
}

/// The smallest plain fixture of a Go release with DWARF.
pub fn small_fixture() -> Fixture {
    fixtures().into_iter().find(|f| f.program() == "shapes" && f.minor() == 22).expect("shapes go1.22 fixture")
}

/// A fixture file's bytes, decompressed.
pub fn decompressed(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(path).unwrap()).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Class 2: a compressed DWARF section whose header claims 4 GiB made
/// refgraph allocate and touch them before reporting the mismatch.
#[test]
fn compressed_dwarf_claiming_4_gib_is_refused_before_allocating() {
    use object::{Object, ObjectSection};
    let f = small_fixture();
    let mut exe = decompressed(&f.exe());
    let off = {
        let file = object::File::parse(&*exe).unwrap();
        let s = file.section_by_name(".debug_abbrev").unwrap();
        let r = s.compressed_file_range().unwrap();
        assert_ne!(r.format, object::CompressionFormat::None, "the fixture's DWARF is not compressed");
        // Elf64_Chdr: ch_type, ch_reserved (4 bytes each), then ch_size.
        r.offset as usize - 24 + 8
    };
    exe[off..off + 8].copy_from_slice(&(4u64 << 30).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "exe", &exe);
    let out = refgraph_limited(&[f.core().as_os_str(), "--exe".as_ref(), bad.as_os_str(), "overview".as_ref()], None);
    let (code, err) = code_and_stderr(&out);
    assert_ne!(code, 0);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(".debug_abbrev") && err.contains("damaged"), "{err}");
}

/// Runs `refgraph flame OUT` on `input` (stdin) in `dir`; returns the exit
/// code, stderr and the SVG's size (0 if none was written).
fn flame_from_text(dir: &Path, input: &[u8]) -> (i32, String, u64) {
    let svg = dir.join("out.svg");
    let _ = std::fs::remove_file(&svg);
    let out = refgraph_limited(&["flame".as_ref(), svg.as_os_str()], Some(input));
    let (code, err) = code_and_stderr(&out);
    (code, err, std::fs::metadata(&svg).map_or(0, |m| m.len()))
}

/// Class 4: `a;b 2⁶⁴−1` plus `a;c 1` wrapped to 0 and "nothing to draw".
#[test]
fn flame_counts_that_overflow_are_clamped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, size) = flame_from_text(dir.path(), b"a;b 18446744073709551615\na;c 1\n");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning") && err.contains("counts were lowered"), "{err}");
    assert!(size > 0);
    // A .bt count above 2^64-1 no longer reads as 0.
    let (code, err, size) = flame_from_text(dir.path(), b"leaf\nroot\n\t123456789012345678901234567890\n");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("counts were lowered") && size > 0, "{err}");
}

/// Class 5: a million-frame stack gave a 196 MB SVG; a .bt whose first
/// record is deeper than 200 lines was read as folded and drew nothing.
#[test]
fn flame_text_input_is_bounded_by_maxdepth() {
    let dir = tempfile::tempdir().unwrap();
    let mut folded = (0..1_000_000).map(|i| format!("f{i}")).collect::<Vec<_>>().join(";");
    folded.push_str(" 100\n");
    let (code, err, size) = flame_from_text(dir.path(), folded.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deeper than 100 frames"), "{err}");
    assert!(size > 0 && size < 1 << 20, "SVG of {size} bytes");
    let mut bt: String = (0..500).rev().map(|i| format!("f{i}\n")).collect();
    bt.push_str("\t100\n");
    let (code, err, size) = flame_from_text(dir.path(), bt.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deeper than 100 frames") && size > 0, "{err}");
    let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
    assert!(svg.contains("f0") && svg.contains("f99") && !svg.contains(">f100<"), "root-side frames kept");
}

/// Class 6: an unwritable output path was found only after the analysis.
/// The core named here does not exist: the output's error must come
/// first, proving it is checked before anything is read.
#[test]
fn unwritable_output_is_reported_before_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a-file", b"x");
    let cases = [
        (dir.path().join("missing/out.bt"), "missing"),
        (file.join("out.bt"), "not a directory"),
        (dir.path().to_path_buf(), "is a directory"),
    ];
    for (out, needle) in cases {
        for cmd in [["objref".as_ref(), out.as_os_str()], ["flame".as_ref(), out.as_os_str()]] {
            let args = [&["/nonexistent/core".as_ref(), "--exe".as_ref(), "/nonexistent/exe".as_ref()][..], &cmd[..]].concat();
            let (code, err) = code_and_stderr(&refgraph_limited(&args, None));
            assert_ne!(code, 0);
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(err.contains(needle) && err.contains("cannot write"), "{out:?}: {err}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the file the test made");
}

/// The bytes of the output `child` has open in `dir` so far, and whether
/// it has one: an unnamed O_TMPFILE file (seen through /proc/PID/fd) or a
/// named `.refgraph-*` file.
fn pending_output(pid: u32, dir: &Path) -> Option<u64> {
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        if target.starts_with(dir) {
            return std::fs::metadata(e.path()).ok().map(|m| m.len());
        }
    }
    None
}

/// Class 3: a kill by SIGINT or SIGTERM in the middle of writing left
/// `.refgraph-XXXXXX` files of hundreds of MB. A real child writes a large
/// flame graph (200 stacks 3000 frames deep: hundreds of MB if let run;
/// since chains fold, no fixture's objref output is large enough any more)
/// and is killed once a MiB of it is written, with O_TMPFILE and with the
/// named-file fallback; nothing may be left in the directory.
#[test]
fn killed_mid_write_leaves_nothing() {
    let input_dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("s{i}"));
        for d in 0..3000 {
            text.push_str(&format!(";f{d}"));
        }
        text.push_str(" 1\n");
    }
    let input = write(input_dir.path(), "deep.folded", text.as_bytes());
    for (sig, named) in [(libc::SIGTERM, false), (libc::SIGINT, false), (libc::SIGTERM, true), (libc::SIGINT, true)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.svg");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_refgraph"));
        cmd.args(["flame", "--maxdepth", "4000", "--input"]).arg(&input).arg(&out);
        cmd.stderr(std::process::Stdio::null());
        if named {
            cmd.env("REFGRAPH_NO_O_TMPFILE", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let start = std::time::Instant::now();
        let mut written = 0;
        while start.elapsed() < std::time::Duration::from_secs(60) {
            written = pending_output(child.id(), dir.path()).unwrap_or(0);
            if written >= 1 << 20 || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "named={named}: {status:?}");
        assert!(written >= 1 << 20, "named={named}: the child was killed after writing only {written} bytes");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "signal {sig}, named={named}: left {left:?}");
    }
}

/// A truncated core yields what its complete segments hold, naming what is
/// missing. gdb writes the notes last: a core cut inside them still has
/// the whole heap (objects = the program's MemStats), with a warning; one
/// cut inside a memory segment names the first missing range, computed
/// here from the program headers.
#[test]
fn truncated_core_gives_what_it_holds_and_names_the_missing_ranges() {
    use object::read::elf::{FileHeader, ProgramHeader};
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain" && f.str("dump") == "gcore").unwrap();
    let core = decompressed(&f.core());
    let (note_off, cut_load) = {
        let h = object::elf::FileHeader64::<object::Endianness>::parse(&*core).unwrap();
        let e = h.endian().unwrap();
        let ph = h.program_headers(e, &*core).unwrap();
        let note = ph.iter().find(|p| p.p_type(e) == object::elf::PT_NOTE).unwrap();
        // The largest memory segment with bytes in the file.
        let load = ph.iter().filter(|p| p.p_type(e) == object::elf::PT_LOAD).max_by_key(|p| p.p_filesz(e)).unwrap();
        (note.p_offset(e), (load.p_offset(e), load.p_vaddr(e), load.p_filesz(e)))
    };
    assert!(note_off > cut_load.0, "gdb writes notes after the memory");
    let dir = tempfile::tempdir().unwrap();
    let cut = write(dir.path(), "core", &core[..note_off as usize + 100]);
    let out = refgraph_limited(&[cut.as_os_str(), "--exe".as_ref(), f.exe().as_os_str(), "overview".as_ref(), "--json".as_ref()], None);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["heap_objects"].as_u64(), Some(f.num("heap_objects")));
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("the core is truncated") && warnings.contains("notes"), "{warnings}");

    let (off, vaddr, filesz) = cut_load;
    let at = off + filesz / 2;
    let cut = write(dir.path(), "core", &core[..at as usize]);
    let (code, err) = code_and_stderr(&refgraph_limited(&[cut.as_os_str(), "--exe".as_ref(), f.exe().as_os_str(), "overview".as_ref()], None));
    let first = format!("{:#x}-{:#x}", vaddr + filesz / 2, vaddr + filesz);
    assert!(err.contains("the core is truncated") && err.contains(&first), "{first}: {err}");
    if code != 0 {
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
