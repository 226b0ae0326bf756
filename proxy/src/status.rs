//! The proxy as `xlbctl show`, the status page and the metrics see it.

use crate::counters::CounterValues;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatus {
    pub frontends: Vec<FrontendStatus>,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontendStatus {
    pub name: String,
    pub mode: String,
    pub binds: Vec<String>,
    pub maxconn: u32,
    pub counters: CounterValues,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStatus {
    pub name: String,
    pub mode: String,
    pub balance: String,
    /// Usable active and backup servers.
    pub active: usize,
    pub backups: usize,
    /// Waiting for any server.
    pub queued: usize,
    pub queue_max: u64,
    pub queue_timeouts: u64,
    pub counters: CounterValues,
    pub servers: Vec<ServerStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub name: String,
    pub address: String,
    /// HAProxy's status words: UP, DOWN, MAINT, DRAIN, "UP 1/3", "no check".
    pub status: String,
    pub weight: u32,
    pub configured_weight: u32,
    pub backup: bool,
    /// The last check's result (`L4OK`, `L7STS 503`...), empty before one.
    pub check: String,
    /// In use now (sessions or requests) and waiting for this server.
    pub served: u32,
    pub queued: usize,
    pub maxconn: u32,
    pub since_secs: u64,
    pub counters: CounterValues,
}
