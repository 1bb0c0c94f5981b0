//! The Go toolchain's identity stamps: the `.go.buildinfo` blob (Go version,
//! experiments, module and build settings; survives stripping) and the Go
//! build ID note.

use object::{Object, ObjectSection};

use super::Error;

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const FLAG_INLINE: u8 = 0x2;
const GO_NOTE_BUILD_ID: u32 = 4;

/// A Go release as named in a build version string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoVersion {
    /// The whole string, e.g. `go1.25.6 X:greenteagc`.
    pub raw: String,
    /// Minor release (the 22 of go1.22.12).
    pub minor: u32,
    /// Patch (0 for release candidates and betas).
    pub patch: u32,
    /// GOEXPERIMENT changes from the release's defaults: `greenteagc`,
    /// `nogreenteagc`, …
    pub experiments: Vec<String>,
}

impl GoVersion {
    /// Parses `go1.N[.M][rcK|betaK][ X:exp,exp]`. Returns None for devel
    /// builds and anything not of that form.
    pub fn parse(s: &str) -> Option<GoVersion> {
        let mut parts = s.split_whitespace();
        let release = parts.next()?.strip_prefix("go1.")?;
        let num_end = release.find(|c: char| !c.is_ascii_digit()).unwrap_or(release.len());
        let minor = release[..num_end].parse().ok()?;
        let rest = &release[num_end..];
        let patch = match rest.strip_prefix('.') {
            Some(p) => p.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()?,
            None => 0,
        };
        let experiments = parts
            .filter_map(|p| p.strip_prefix("X:").or_else(|| p.strip_prefix("-X:")))
            .flat_map(|p| p.split(','))
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect();
        Some(GoVersion { raw: s.to_string(), minor, patch, experiments })
    }

    /// The release without experiments, e.g. `go1.25.6`.
    pub fn release(&self) -> &str {
        self.raw.split_whitespace().next().unwrap_or(&self.raw)
    }

    /// Whether the named experiment was switched on (`greenteagc`) or off
    /// (`nogreenteagc` gives Some(false)) relative to the release default.
    pub fn experiment(&self, name: &str) -> Option<bool> {
        let off = format!("no{name}");
        self.experiments.iter().rev().find_map(|e| {
            if e == name {
                Some(true)
            } else if *e == off {
                Some(false)
            } else {
                None
            }
        })
    }
}

/// What `.go.buildinfo` says.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    /// The toolchain that built the binary.
    pub version: GoVersion,
    /// Module path of the main package (`path` line), if recorded.
    pub main_path: Option<String>,
    /// `build` settings (`-buildmode`, `-ldflags`, `GOARCH`, `GOEXPERIMENT`, …).
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// A build setting's value.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The shell command that builds this binary again with symbols and
    /// DWARF, from what the build info records: the same toolchain,
    /// environment (CGO_ENABLED, GOARCH, GOOS, GOAMD64, GOEXPERIMENT) and
    /// flags, `-ldflags` without `-s` and `-w`, at the recorded VCS
    /// revision (`-buildvcs=false` when none is recorded). To run in the
    /// main module's directory.
    pub fn rebuild_command(&self) -> String {
        let mut cmd = vec![format!("GOTOOLCHAIN={}", self.version.release())];
        for key in ["CGO_ENABLED", "GOARCH", "GOOS", "GOAMD64", "GOARM64", "GOEXPERIMENT"] {
            if let Some(v) = self.setting(key).filter(|v| !v.is_empty()) {
                cmd.push(format!("{key}={}", shell_word(v)));
            }
        }
        cmd.push("go build".to_string());
        for (key, value) in &self.settings {
            match key.as_str() {
                "-buildmode" if value != "exe" => cmd.push(shell_word(&format!("-buildmode={value}"))),
                "-compiler" if value != "gc" => cmd.push(shell_word(&format!("-compiler={value}"))),
                "-trimpath" | "-race" | "-msan" | "-asan" if value == "true" => cmd.push(key.clone()),
                "-tags" | "-gcflags" | "-asmflags" | "-pgo" => cmd.push(shell_word(&format!("{key}={}", unquote(value)))),
                "-ldflags" => {
                    let kept: Vec<String> = split_flags(&unquote(value))
                        .into_iter()
                        .filter(|f| !STRIP_FLAGS.contains(&f.as_str()))
                        .map(|f| if f.contains(char::is_whitespace) { format!("'{f}'") } else { f })
                        .collect();
                    if !kept.is_empty() {
                        cmd.push(shell_word(&format!("-ldflags={}", kept.join(" "))));
                    }
                }
                _ => {}
            }
        }
        if self.setting("vcs").is_none() {
            // Nothing stamped: keep it so (inside a repository the go
            // command would stamp the revision into the build info).
            cmd.push("-buildvcs=false".to_string());
        }
        cmd.push("-o BINARY.debug".to_string());
        cmd.push(self.main_path.as_deref().map(shell_word).unwrap_or_else(|| ".".to_string()));
        let build = cmd.join(" ");
        match self.setting("vcs.revision") {
            Some(rev) if !rev.is_empty() => format!("git checkout {} && {build}", shell_word(rev)),
            _ => build,
        }
    }
}

/// Linker flags that leave symbols (`-s`) or DWARF (`-w`) out.
const STRIP_FLAGS: [&str; 4] = ["-s", "-w", "-s=true", "-w=true"];

/// A build setting's value without the Go quoting the toolchain adds when it
/// holds spaces or quotes (`"-X \"a=b c\""`).
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else { return v.to_string() };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(e) => out.push(e),
            None => {}
        }
    }
    out
}

/// Splits a flag list as the go command does: on white space, with single
/// or double quotes grouping (no escapes inside).
fn split_flags(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `s` as one POSIX shell word.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Reads `.go.buildinfo` from an executable's bytes. Falls back to scanning
/// for the magic when the section headers are gone. Everything is cut and
/// split as bytes; only whole fields become strings (lossily), so no byte
/// value can land a cut inside a character.
pub fn read_buildinfo(exe: &[u8]) -> Result<BuildInfo, Error> {
    let file = object::File::parse(exe).ok();
    let blob: &[u8] = file
        .as_ref()
        .and_then(|f| f.section_by_name(".go.buildinfo").and_then(|s| s.data().ok()))
        .or_else(|| {
            // Aligned to 16 in the data segment.
            exe.chunks(16).position(|c| c.starts_with(MAGIC)).map(|i| &exe[i * 16..])
        })
        .ok_or(Error::NotGo)?;
    if blob.len() < HEADER || &blob[..14] != MAGIC {
        return Err(Error::BadBuildInfo("missing magic"));
    }
    if blob[15] & FLAG_INLINE == 0 {
        return Err(Error::BadBuildInfo("pointer-style build info (Go older than 1.18 is not supported)"));
    }
    let mut rest = &blob[HEADER..];
    let version = read_bytes(&mut rest).ok_or(Error::BadBuildInfo("version string"))?;
    let version = std::str::from_utf8(version).map_err(|_| Error::BadBuildInfo("version string is not UTF-8"))?;
    let modinfo = read_bytes(&mut rest).unwrap_or_default();
    let version = GoVersion::parse(version).ok_or_else(|| Error::UnsupportedVersion(version.to_string()))?;
    // modinfo is framed by 16-byte sentinels.
    let modinfo = if modinfo.len() >= 32 { &modinfo[16..modinfo.len() - 16] } else { &[][..] };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut info = BuildInfo { version, main_path: None, settings: Vec::new() };
    for line in modinfo.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(tab) = line.iter().position(|&b| b == b'\t') else { continue };
        let (key, value) = (&line[..tab], &line[tab + 1..]);
        match key {
            b"path" => info.main_path = Some(text(value)),
            b"build" => {
                let (k, v) = match value.iter().position(|&b| b == b'=') {
                    Some(eq) => (&value[..eq], &value[eq + 1..]),
                    None => (value, &[][..]),
                };
                info.settings.push((text(k), text(v)));
            }
            _ => {}
        }
    }
    Ok(info)
}

/// A uvarint-length-prefixed byte string; None if it runs past the end.
fn read_bytes<'b>(b: &mut &'b [u8]) -> Option<&'b [u8]> {
    let mut len = 0u64;
    let mut shift = 0;
    loop {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(len).ok().filter(|&l| l <= b.len())?;
    let (s, rest) = b.split_at(len);
    *b = rest;
    Some(s)
}

/// The Go build ID (`go tool buildid`) from the executable's "Go" note.
pub fn go_build_id(notes: &[crate::image::Note]) -> Option<String> {
    notes
        .iter()
        .find(|n| n.name == b"Go" && n.kind == GO_NOTE_BUILD_ID)
        .map(|n| String::from_utf8_lossy(&n.desc).trim_end_matches('\0').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = GoVersion::parse("go1.25.6 X:greenteagc,jsonv2").unwrap();
        assert_eq!((v.minor, v.patch), (25, 6));
        assert_eq!(v.experiments, ["greenteagc", "jsonv2"]);
        assert_eq!(v.experiment("greenteagc"), Some(true));
        assert_eq!(v.release(), "go1.25.6");
        let v = GoVersion::parse("go1.26rc1 -X:nogreenteagc").unwrap();
        assert_eq!((v.minor, v.patch), (26, 0));
        assert_eq!(v.experiment("greenteagc"), Some(false));
        assert_eq!(GoVersion::parse("go1.19").unwrap().minor, 19);
        assert!(GoVersion::parse("devel go1.27-abcdef").is_none());
    }

    /// A build info blob as the linker lays it out: magic, pointer size,
    /// flags, padding to 32, then uvarint-prefixed version and modinfo.
    fn blob(version: &[u8], modinfo: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend([8, FLAG_INLINE]);
        b.resize(HEADER, 0);
        for s in [version, modinfo] {
            assert!(s.len() < 128);
            b.push(s.len() as u8);
            b.extend(s);
        }
        b
    }

    /// Issue 12, class 1: a multi-byte character across the 16-byte
    /// sentinel cut used to panic ("not a char boundary").
    #[test]
    fn modinfo_cut_inside_a_character() {
        let mut modinfo = vec![b'x'; 15];
        modinfo.extend("\u{e9}path\tex.com/m\nbuild\tGOARCH=amd64\n".as_bytes());
        modinfo.extend([0xc3; 17]);
        let info = read_buildinfo(&blob(b"go1.22.1", &modinfo)).unwrap();
        assert_eq!(info.version.minor, 22);
        assert_eq!(info.setting("GOARCH"), Some("amd64"));
        // A version that is not UTF-8 is an error, not a panic.
        assert!(read_buildinfo(&blob(b"go1.\xff", b"")).is_err());
    }

    /// Build settings as `go version -m` shows them for a real stripped
    /// program (the -ldflags value as the toolchain quotes it).
    #[test]
    fn rebuild_command_keeps_every_flag_but_strip() {
        let set = |k: &str, v: &str| (k.to_string(), v.to_string());
        let info = BuildInfo {
            version: GoVersion::parse("go1.22.12").unwrap(),
            main_path: Some("github.com/example/kpt".into()),
            settings: vec![
                set("-buildmode", "exe"),
                set("-compiler", "gc"),
                set("-trimpath", "true"),
                set("-tags", "netgo,osusergo"),
                set("-ldflags", r#""-s -w -X github.com/example/kpt/run.version=1.0 -extldflags \"-z noexecstack\"""#),
                set("CGO_ENABLED", "1"),
                set("GOARCH", "amd64"),
                set("GOOS", "linux"),
                set("GOAMD64", "v3"),
                set("vcs", "git"),
                set("vcs.revision", "39d7233318deb49883d7f5e94cba96db15a01c0f"),
            ],
        };
        let want = "git checkout 39d7233318deb49883d7f5e94cba96db15a01c0f && GOTOOLCHAIN=go1.22.12 CGO_ENABLED=1 GOARCH=amd64 GOOS=linux GOAMD64=v3 go build -trimpath -tags=netgo,osusergo '-ldflags=-X github.com/example/kpt/run.version=1.0 -extldflags '\\''-z noexecstack'\\''' -o BINARY.debug github.com/example/kpt";
        assert_eq!(info.rebuild_command(), want);
        assert_eq!(split_flags(r#"-X 'a=b c' -s"#), ["-X", "a=b c", "-s"]);
    }
}
