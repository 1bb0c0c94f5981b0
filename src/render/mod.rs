//! Layer 8: renderers — stap-style .bt, folded stacks, pprof profiles, SVG
//! flame graphs — each a function of the tree (or of folded stacks) and a
//! writer.

mod bt;
mod collapse;
mod folded;
mod pprof;
mod records;
mod sanitize;
mod svg;

pub use self::bt::write_bt;
pub use self::collapse::{collapse_bt, detect, read_folded, read_stacks, Format, Limits, TextStacks, MAX_TOTAL};
pub use self::folded::{fold_tree, write_folded};
pub use self::pprof::write_pprof;
pub use self::records::{for_each_record, for_each_record_counted, RecordOptions, DEFAULT_MAX_DEPTH, DEFAULT_MIN_WIDTH};
pub use self::sanitize::frame;
pub use self::svg::write_svg;
