//! The fixture corpus itself, read through the image and buildinfo layers:
//! every core's notes and program headers, every executable's build ID and
//! Go version, checked against what the program reported at dump time.

use refgraph::gobin::{go_build_id, read_buildinfo};
use object::Object;
use refgraph::image::ExeCheck;

use crate::util::{each, fixtures, open_image};

#[test]
fn every_fixture_core_and_exe_are_readable_and_versions_match_truth() {
    let fx = fixtures();
    each(&fx, |f| {
        let image = open_image(f)?;
        let core = &image.core;
        if core.loads.is_empty() {
            return Err("core has no PT_LOAD segments".into());
        }
        if core.threads.is_empty() {
            return Err("core has no NT_PRSTATUS threads".into());
        }
        if core.threads.iter().any(|t| t.lwp == 0 || t.sp == 0 || t.pc == 0) {
            return Err("a thread has a zero LWP, SP or PC".into());
        }
        if core.arch.name() != f.arch() || image.exe.arch != core.arch {
            return Err(format!("core is {}, exe {}, the program ran on {}", core.arch.name(), image.exe.arch.name(), f.arch()));
        }
        // qemu's cores have no NT_FILE note (so refgraph finds the
        // executable's load address from the auxiliary vector).
        if f.str("dump") == "qemu" {
            if !core.files.is_empty() {
                return Err("a qemu core with an NT_FILE note".into());
            }
        } else {
            if core.files.is_empty() {
                return Err("core has no NT_FILE note".into());
            }
            // NT_FILE maps the executable's first page where its lowest
            // segment was loaded.
            let low = image.exe.loads.iter().map(|l| l.vaddr).min().ok_or("exe has no PT_LOAD")? & !0xfff;
            let at = low.wrapping_add(image.bias);
            if !core.files.iter().any(|m| m.start == at && m.offset == 0) {
                return Err(format!("NT_FILE maps no file at the executable's load address {at:#x}"));
            }
        }
        if !matches!(image.check, ExeCheck::Verified { .. }) {
            return Err("could not verify the executable against the core".into());
        }
        if image.exe.pie != f.pie() {
            return Err(format!("exe PIE = {} for variant {}", image.exe.pie, f.variant()));
        }
        let id = go_build_id(&image.exe.notes).ok_or("no Go build ID note")?;
        if id.split('/').count() < 2 {
            return Err(format!("odd Go build ID {id:?}"));
        }
        let info = read_buildinfo(image.exe.bytes()).map_err(|e| e.to_string())?;
        let want = f.str("go_version");
        if info.version.raw != want {
            return Err(format!("build info says {:?}, the program reported {want:?}", info.version.raw));
        }
        // The cgo variants must really be what distributions ship: cgo on
        // and the C toolchain as the linker. -trimpath keeps -ldflags out of
        // the build info, so the linker is told by `.init`, which the C
        // runtime's crti.o brings and Go's own linker never writes.
        let cgo = info.setting("CGO_ENABLED") == Some("1");
        let file = object::File::parse(image.exe.bytes()).map_err(|e| e.to_string())?;
        let external = file.section_by_name(".init").is_some();
        if f.cgo() != (cgo && external) {
            return Err(format!("variant {} but CGO_ENABLED={:?} and .init section: {external}", f.variant(), info.setting("CGO_ENABLED")));
        }
        Ok(())
    });
}

#[test]
fn corpus_covers_every_go_minor_from_1_19_to_1_27() {
    let fx = fixtures();
    for minor in 19..=27 {
        for (program, variant) in [("retain", "plain"), ("shapes", "plain"), ("retain", "stripped")] {
            assert!(
                fx.iter().any(|f| f.arch() == "amd64" && f.minor() == minor && f.program() == program && f.variant() == variant),
                "no {program} {variant} fixture for go1.{minor}"
            );
        }
    }
    for minor in [19, 22, 24, 27] {
        for variant in ["cgo", "cgo-stripped"] {
            assert!(
                fx.iter().any(|f| f.minor() == minor && f.program() == "retain" && f.variant() == variant),
                "no retain {variant} fixture for go1.{minor}"
            );
        }
    }
    assert!(fx.iter().any(|f| f.arch() == "amd64" && f.pie()), "no PIE fixture");
    // What release pipelines also set: a build tag and a newer amd64 level.
    let release = |f: &crate::util::Fixture| {
        let info = open_image(f).ok().and_then(|i| read_buildinfo(i.exe.bytes()).ok());
        info.is_some_and(|i| i.setting("GOAMD64") == Some("v3") && i.setting("-tags").is_some())
    };
    assert!(fx.iter().any(|f| f.pie() && f.cgo() && release(f)), "no externally linked PIE fixture with GOAMD64=v3 and a build tag");
    assert!(fx.iter().any(|f| f.str("dump") == "kernel"), "no kernel-written core");
}

#[test]
fn corpus_covers_arm64_on_four_go_minors() {
    let fx = fixtures();
    let arm: Vec<_> = fx.iter().filter(|f| f.arch() == "arm64").collect();
    for minor in [19, 22, 24, 27] {
        for program in ["retain", "shapes"] {
            assert!(
                arm.iter().any(|f| f.minor() == minor && f.program() == program && f.variant() == "plain"),
                "no arm64 {program} fixture for go1.{minor}"
            );
        }
    }
    for variant in ["stripped", "pie"] {
        assert!(arm.iter().any(|f| f.program() == "retain" && f.variant() == variant), "no arm64 {variant} fixture");
    }
    // Each arm64 core was dumped through a Go crash whose trace is kept.
    for f in &arm {
        assert!(f.dir.join("crash.txt").exists(), "{}: no crash.txt", f.name);
    }
}
