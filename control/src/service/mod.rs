//! xlbd as a system service: how it logs (`log`), what it checks of the
//! host before it starts (`caps`: capabilities and resource limits), and
//! what it tells systemd while it runs (`notify`, `watchdog`). The daemon
//! itself knows nothing of these; `bin/xlbd.rs` wires them.

pub mod caps;
pub mod log;
pub mod notify;
pub mod supervisor;
pub mod watchdog;
