//! Bad input: each case ends with one line on stderr naming the problem and
//! a non-zero exit, never a panic.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::util::{fixtures, Fixture};

/// Runs refgraph; returns (exit code, stderr).
fn refgraph(args: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_refgraph")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_one_line_error(args: &[&Path], needle: &str) {
    let (code, err) = refgraph(args);
    assert_ne!(code, 0, "exit code 0 for {args:?}");
    assert!(!err.contains("panicked"), "panic for {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{err:?} does not say {needle:?}");
}

fn two_versions() -> (Fixture, Fixture) {
    let mut fx: Vec<Fixture> =
        fixtures().into_iter().filter(|f| f.program() == "retain" && f.variant() == "plain" && f.arch() == "amd64").collect();
    let a = fx.remove(0);
    let b = fx.pop().unwrap();
    (a, b)
}

#[test]
fn wrong_executable_for_the_core() {
    let (a, b) = two_versions();
    let overview = Path::new("overview");
    assert_one_line_error(&[&a.core(), Path::new("--exe"), &b.exe(), overview], "is not the executable of this core");
}

#[test]
fn executable_for_another_machine() {
    let (amd, _) = two_versions();
    let arm = fixtures().into_iter().find(|f| f.arch() == "arm64").expect("an arm64 fixture");
    let overview = Path::new("overview");
    assert_one_line_error(
        &[&amd.core(), Path::new("--exe"), &arm.exe(), overview],
        "the core is for amd64 but the executable is for arm64",
    );
}

#[test]
fn executable_not_built_by_go() {
    let (a, _) = two_versions();
    let sh = Path::new("/bin/sh");
    assert_one_line_error(&[&a.core(), Path::new("--exe"), sh, Path::new("overview")], "not built by Go");
}

#[test]
fn executable_passed_as_core() {
    let (a, _) = two_versions();
    assert_one_line_error(&[&a.exe(), Path::new("--exe"), &a.exe(), Path::new("overview")], "is not a core file");
}

#[test]
fn truncated_core() {
    let (a, _) = two_versions();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("core.truncated");
    // The first 4 MiB of the decompressed core: headers intact, segments cut.
    let mut dec = zstd::stream::read::Decoder::new(std::fs::File::open(a.core()).unwrap()).unwrap();
    let mut head = vec![0u8; 4 << 20];
    dec.read_exact(&mut head).unwrap();
    std::fs::write(&cut, &head).unwrap();
    assert_one_line_error(&[&cut, Path::new("--exe"), &a.exe(), Path::new("overview")], "truncated");
}

#[test]
fn not_an_elf_file() {
    let (a, _) = two_versions();
    let truth = a.dir.join("truth.json");
    assert_one_line_error(&[&truth, Path::new("--exe"), &a.exe(), Path::new("overview")], "not an ELF file");
}
