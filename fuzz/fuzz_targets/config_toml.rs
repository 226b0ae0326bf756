//! xlbd's TOML configuration: parsed and validated or refused with errors
//! that point inside the text, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use xlb_model::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Config::parse(Path::new("fuzz.toml"), text) {
        // Rendering places each error in the text (line, column).
        let _ = errors.to_string();
    }
});
