//! A line on xlbd's unix socket: a request or a clear refusal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlb_control::api::Request;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<Request>(data) {
        // What parses serializes again to the same request.
        let again = serde_json::to_string(&req).expect("a request serializes");
        assert_eq!(serde_json::from_str::<Request>(&again).ok(), Some(req));
    }
});
