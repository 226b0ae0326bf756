//! A connection-sync datagram (LVS sync protocol version 1): decoded or
//! refused by reason, never a panic; each record decodes or is refused on
//! its own, and what decodes encodes and decodes again to the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = xlb_sync::decode(data) else {
        return;
    };
    let _ = msg.accepted_by(data.get(1).copied().unwrap_or(0));
    let conns: Vec<_> = msg.records().filter_map(Result::ok).collect();
    if conns.is_empty() {
        return;
    }
    let Ok(encoded) = xlb_sync::encode(1, 65000, conns.iter()) else {
        return;
    };
    let back: Vec<_> = encoded
        .iter()
        .flat_map(|d| {
            xlb_sync::decode(d)
                .expect("our own datagram")
                .records()
                .collect::<Vec<_>>()
        })
        .map(|r| r.expect("our own record"))
        .collect();
    assert_eq!(back, conns);
});
