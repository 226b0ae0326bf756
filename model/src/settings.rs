//! The dataplane's run-time settings as the configuration and NIC profiles
//! name them; the dataplane acts on them.

/// How a worker waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// Sleep in poll(2) when idle: low CPU, some latency on the first packet.
    Wakeup,
    /// Spin: lowest latency, one core at 100%.
    BusyPoll,
}

/// How the steering program is attached to a NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) XDP: required for AF_XDP at speed; veth supports it.
    Driver,
    /// Generic XDP, for drivers without native support (slow; testing only).
    Generic,
}

/// How AF_XDP sockets bind to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, copy otherwise.
    Auto,
    ZeroCopy,
    Copy,
}
