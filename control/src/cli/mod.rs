//! The command lines of xlb's binaries, in the library so that the man
//! pages and shell completions are generated from the very definitions the
//! binaries parse with (`xlb-docgen`, packaging/).

pub mod xlbctl;
pub mod xlbd;
