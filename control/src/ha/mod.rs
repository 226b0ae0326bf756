//! High availability: the VRRP instances of the configuration, run on their
//! own control thread with the kernel stack. The `xlb-vrrp` state machines
//! decide; this module carries out what they decide: adverts on raw
//! sockets, virtual addresses over netlink, gratuitous ARP / unsolicited
//! NA, notify commands, sync groups and tracked interfaces. The daemon
//! reads `held()` to forward only for the addresses this router holds.

mod announce;
mod runner;
pub mod socket;

pub use announce::{garp_frame, unsolicited_na_frame};
pub use runner::Vrrp;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One instance as `xlbctl vrrp` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub group: Option<String>,
    /// "INIT", "BACKUP", "MASTER" or "FAULT".
    pub state: String,
    pub priority: u8,
    pub configured_priority: u8,
    /// The current master's address: ours while master, else the last
    /// advertising master's.
    pub master: Option<String>,
    pub vips: Vec<String>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    /// Dropped adverts by reason.
    pub errors: BTreeMap<String, u64>,
    /// Seconds since the last transition, and why it happened.
    pub since_secs: Option<f64>,
    pub reason: String,
}
