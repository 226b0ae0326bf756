//! `xlbctl import`: keepalived.conf and haproxy.cfg, whichever the text
//! looks like: translated (TOML and warnings) or refused with a line
//! number, never a panic. Whatever the keepalived import writes passes the
//! validation `xlbctl check-config` runs, strict or lenient; lenient only
//! turns refusals into warnings, so it refuses nothing and changes nothing
//! a strict import took.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use xlb_control::config::Config;
use xlb_control::import::{import_any, Format, ImportError, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count() + 1;
    let (format, strict) = import_any(text, Options::default());
    if let Ok(imported) = &strict {
        for (line, _) in &imported.warnings {
            assert!(*line <= lines, "a warning names line {line}");
        }
    }
    if format != Format::Keepalived {
        return;
    }
    let (_, lenient) = import_any(text, Options { lenient: true });
    for out in [&strict, &lenient] {
        match out {
            Ok(imported) => {
                if let Err(e) = Config::parse(Path::new("imported.toml"), &imported.toml) {
                    panic!("check-config refuses the import: {e}\n{}", imported.toml);
                }
            }
            Err(ImportError::Refused { errors, .. }) => {
                assert!(!errors.is_empty());
                for (line, _) in errors {
                    assert!(*line <= lines, "an error names line {line}");
                }
            }
            Err(_) => {}
        }
    }
    assert!(
        !matches!(lenient, Err(ImportError::Refused { .. })),
        "lenient refused"
    );
    if let (Ok(s), Ok(l)) = (&strict, &lenient) {
        assert_eq!(s.toml, l.toml, "lenient changed what strict took");
    }
    if strict.is_ok() {
        assert!(lenient.is_ok(), "lenient failed where strict did not");
    }
});
