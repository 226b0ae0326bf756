//! `xlbctl import`: keepalived.conf and haproxy.cfg, whichever the text
//! looks like: translated (TOML and warnings) or refused with a line
//! number, never a panic. (That whatever is translated also passes
//! check-config is the strict importer's promise, still to come: issue
//! "hostile input", strict import.)
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (_, result) = xlb_control::import::import_any(text);
    if let Ok(imported) = result {
        for (line, _) in &imported.warnings {
            assert!(
                *line <= text.lines().count() + 1,
                "a warning names line {line}"
            );
        }
    }
});
