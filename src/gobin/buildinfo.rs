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
}

/// Reads `.go.buildinfo` from an executable's bytes. Falls back to scanning
/// for the magic when the section headers are gone.
pub fn read_buildinfo(exe: &[u8]) -> Result<BuildInfo, Error> {
    let blob = object::File::parse(exe)
        .ok()
        .and_then(|f| f.section_by_name(".go.buildinfo").and_then(|s| s.data().ok()).map(<[u8]>::to_vec))
        .or_else(|| {
            // Aligned to 16 in the data segment.
            exe.chunks(16).position(|c| c.starts_with(MAGIC)).map(|i| exe[i * 16..].to_vec())
        })
        .ok_or(Error::NotGo)?;
    if blob.len() < HEADER || &blob[..14] != MAGIC {
        return Err(Error::BadBuildInfo("missing magic"));
    }
    if blob[15] & FLAG_INLINE == 0 {
        return Err(Error::BadBuildInfo("pointer-style build info (Go older than 1.18 is not supported)"));
    }
    let mut rest = &blob[HEADER..];
    let version = read_string(&mut rest).ok_or(Error::BadBuildInfo("version string"))?;
    let modinfo = read_string(&mut rest).unwrap_or_default();
    let version = GoVersion::parse(&version).ok_or_else(|| Error::UnsupportedVersion(version.clone()))?;
    // modinfo is framed by 16-byte sentinels.
    let modinfo = if modinfo.len() >= 32 { &modinfo[16..modinfo.len() - 16] } else { "" };
    let mut info = BuildInfo { version, main_path: None, settings: Vec::new() };
    for line in modinfo.lines() {
        let mut f = line.splitn(2, '\t');
        match (f.next(), f.next()) {
            (Some("path"), Some(p)) => info.main_path = Some(p.to_string()),
            (Some("build"), Some(kv)) => {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                info.settings.push((k.to_string(), v.to_string()));
            }
            _ => {}
        }
    }
    Ok(info)
}

fn read_string(b: &mut &[u8]) -> Option<String> {
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
    let s = String::from_utf8_lossy(&b[..len]).into_owned();
    *b = &b[len..];
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
}
