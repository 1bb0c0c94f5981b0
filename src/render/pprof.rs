//! The tree as a pprof profile (gzipped profile.proto), so that `go tool
//! pprof` (-top, -http, -diff_base) explores it: one sample per record,
//! its frames as locations leaf first, valued in objects and bytes
//! (`inuse_objects`, `inuse_space`, the names of Go's heap profiles).
//!
//! Each distinct frame name is one function and one location; the messages
//! below declare just the fields of profile.proto that are written.

use std::collections::HashMap;
use std::io::Write;

use prost::Message;

use crate::graph::{Names, Tree};

use super::records::{for_each_record_counted, RecordOptions};

#[derive(Clone, PartialEq, Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, tag = "14")]
    default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "3")]
    system_name: i64,
}

/// The profile being built: strings and frames interned.
struct Builder {
    profile: Profile,
    strings: HashMap<String, i64>,
    /// Location (= function) id by frame name.
    frames: HashMap<String, u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn frame(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.frames.get(name) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let s = self.string(name);
        self.profile.function.push(Function { id, name: s, system_name: s });
        self.profile.location.push(Location { id, line: vec![Line { function_id: id }] });
        self.frames.insert(name.to_string(), id);
        id
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> ValueType {
        ValueType { r#type: self.string(kind), unit: self.string(unit) }
    }
}

/// Writes the tree's records (cut as for .bt and folded output) as a
/// gzipped profile.proto.
pub fn write_pprof(tree: &Tree, names: &dyn Names, opt: RecordOptions, out: &mut dyn Write) -> std::io::Result<()> {
    let mut b = Builder { profile: Profile::default(), strings: HashMap::new(), frames: HashMap::new() };
    b.string("");
    let objects = b.value_type("inuse_objects", "count");
    let space = b.value_type("inuse_space", "bytes");
    b.profile.default_sample_type = space.r#type;
    b.profile.period_type = Some(b.value_type("space", "bytes"));
    b.profile.period = 1;
    b.profile.sample_type = vec![objects, space];
    for_each_record_counted(tree, names, opt, &mut |frames, bytes, count| {
        let location_id = frames.iter().map(|f| b.frame(f)).collect();
        let value = vec![i64::try_from(count).unwrap_or(i64::MAX), i64::try_from(bytes).unwrap_or(i64::MAX)];
        b.profile.sample.push(Sample { location_id, value });
        Ok(())
    })?;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&b.profile.encode_to_vec())?;
    gz.finish()?;
    Ok(())
}
