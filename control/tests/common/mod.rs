//! What the control-surface tests share: a daemon state made up in place,
//! and room for thousands of sockets.

use std::sync::Arc;
use xlb_control::api::server::StatusSource;
use xlb_control::api::{ConnFilter, ConnStatus, Status};

/// A daemon whose status carries `config` (its size sets the answer's).
pub struct FakeDaemon {
    pub config: String,
}

impl FakeDaemon {
    pub fn new(config_bytes: usize) -> Arc<FakeDaemon> {
        Arc::new(FakeDaemon {
            config: "x".repeat(config_bytes),
        })
    }
}

impl StatusSource for FakeDaemon {
    fn status(&self) -> Status {
        Status {
            generation: 7,
            config: self.config.clone(),
            services: Vec::new(),
            workers: Vec::new(),
            timeouts: [900, 120, 300],
            conn_table_size: 1024,
            proxy: None,
            sync: None,
            announce: None,
        }
    }
    fn zero(&self, _: Option<&xlb_model::ServiceKey>) -> Result<String, String> {
        Ok("zeroed".into())
    }
    fn conns(&self, _: &ConnFilter) -> Result<(Vec<ConnStatus>, usize), String> {
        Ok((Vec::new(), 0))
    }
    fn vrrp(&self) -> Vec<xlb_control::ha::InstanceStatus> {
        vec![xlb_control::ha::InstanceStatus {
            name: "VI_1".into(),
            state: "MASTER".into(),
            ..Default::default()
        }]
    }
}

/// Descriptors for `n` more sockets (both ends of each count here).
pub fn room_for_sockets(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let want = (2 * n + 256).min(lim.rlim_max);
        if lim.rlim_cur < want {
            lim.rlim_cur = want;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= 2 * n + 256,
        "RLIMIT_NOFILE hard limit {} is too low for this test",
        lim.rlim_max
    );
}
