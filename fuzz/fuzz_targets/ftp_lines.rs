//! FTP command and reply lines as the helper finds them in a control
//! connection's payload: no panic, a match lies inside the payload, and
//! what the helper would write instead parses back to the same address.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlb_dataplane::ftp::text;

fuzz_target!(|p: &[u8]| {
    let _ = text::is_whole_line(p);
    for found in [text::find_command(p), text::find_reply(p)]
        .into_iter()
        .flatten()
    {
        assert!(
            found.start <= found.end && found.end <= p.len(),
            "{found:?}"
        );
        let new = text::format(found.kind, found.addr, found.port);
        let mut line = p[..found.start].to_vec();
        line.extend_from_slice(&new);
        line.extend_from_slice(&p[found.end..]);
        let again = text::find_command(&line).or_else(|| text::find_reply(&line));
        if let Some(again) = again {
            assert_eq!((again.addr, again.port), (found.addr, found.port));
        }
    }
});
