//! The newest Go on this machine, right now: build the retain fixture with
//! the local `go`, dump it with gcore, and check the walk against what the
//! program reported; and, where qemu's user-mode emulator is installed, the
//! same for linux/arm64 with the crash trace as a second truth. Skipped,
//! with the reason printed, when go, gcore, zstd or qemu-aarch64-static are
//! missing.

use std::process::Command;

use refgraph::gobin::read_buildinfo;
use refgraph::heap::Heap;
use refgraph::image::Image;
use refgraph::runtime::Process;

use crate::stack::frames_match_crash_trace;
use crate::util::{load, root, run_refgraph, Fixture};

fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success())
}

/// The retain fixture built with the local Go as `variant` by capture.sh
/// into a temporary directory (kept alive by the returned guard), its Go
/// version checked against the local one and its heap against MemStats;
/// None (and why, printed) when one of `tools` is missing.
///
/// A live capture can miss its truth through no fault of refgraph's: the
/// runtime may start a thread after the report (an m, its g0 and gsignal),
/// which happens now and then under qemu's slow emulation. The walk of a
/// given core is deterministic, so a capture that disagrees is taken again,
/// up to three times in all; a walk that is wrong fails every time.
fn capture_local(variant: &str, tools: &[&str]) -> Option<(tempfile::TempDir, Fixture)> {
    let missing: Vec<&str> = tools.iter().copied().filter(|c| !have(c)).collect();
    if !missing.is_empty() {
        println!("skipped: {} not on PATH", missing.join(", "));
        return None;
    }
    let go_version = Command::new("go").args(["env", "GOVERSION"]).output().unwrap();
    let go_version = String::from_utf8_lossy(&go_version.stdout).trim().to_string();
    let mut disagreements = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(format!("retain-local-{variant}"));
        let status =
            Command::new("bash").arg(root().join("fixtures/capture.sh")).args(["retain", "local", variant]).arg(&out).status().unwrap();
        assert!(status.success(), "capture.sh failed");
        let f = load(&out);
        println!("local Go: {go_version} ({variant})");
        assert_eq!(f.str("go_version").split_whitespace().next().unwrap(), go_version.split_whitespace().next().unwrap());

        let image = Image::open(&f.core(), &f.exe()).unwrap();
        let info = read_buildinfo(image.exe.bytes()).unwrap();
        assert_eq!(info.version.raw, f.str("go_version"));
        let p = Process::new(&image).unwrap();
        let heap = Heap::build(&p).unwrap();
        let (objects, bytes) = (heap.len() as u64, heap.bytes());
        if objects == f.num("heap_objects") && bytes == f.num("heap_alloc") {
            return Some((dir, f));
        }
        let d = format!("{objects} objects and {bytes} bytes; MemStats said {} and {}", f.num("heap_objects"), f.num("heap_alloc"));
        println!("capture disagrees with its truth, taken again: {d}");
        disagreements.push(d);
    }
    panic!("three captures disagree with MemStats (objects, bytes): {}", disagreements.join("; "));
}

#[test]
fn fixture_built_and_dumped_with_the_local_go() {
    let Some((dir, f)) = capture_local("plain", &["go", "gcore", "zstd"]) else { return };

    // The closure of over 512 bytes: Go 1.22+ records its struct type in a
    // malloc header; it is still named for its function.
    if let Some(bytes) = f.opt_num("closure_big_bytes") {
        let path = dir.path().join("local.folded");
        run_refgraph(&f, &["objref", "--folded", "--minwidth", "0", path.to_str().unwrap()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let want = "globals;main.bigHook;closure for main.buildBigClosure.func1 ";
        let line = text.lines().find(|l| l.starts_with(want)).unwrap_or_else(|| {
            let near: Vec<&str> = text.lines().filter(|l| l.starts_with("globals;main.bigHook")).collect();
            panic!("no stack {want:?}; under main.bigHook: {near:?}")
        });
        let count: u64 = line[want.len()..].parse().unwrap();
        assert!(count >= bytes, "closure_big: {count} bytes, the program built {bytes}");
    }
}

#[test]
fn arm64_fixture_built_with_the_local_go_and_dumped_under_qemu() {
    let Some((_dir, f)) = capture_local("arm64", &["go", "zstd", "qemu-aarch64-static"]) else { return };
    assert_eq!(f.arch(), "arm64");
    if let Err(e) = frames_match_crash_trace(&f) {
        panic!("{e}");
    }
}
