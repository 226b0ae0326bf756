//! Counters the workers publish and the control thread sums. Each worker owns
//! its `WorkerStats` (single writer: a relaxed load + store, no locked
//! instruction per packet); only connection gauges, touched once per
//! connection event, are shared between workers.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Highest number of real servers / virtual services a snapshot may hold;
/// ids index fixed counter arrays so the hot path never allocates.
pub use xlb_model::service::{MAX_REALS, MAX_SERVICES};

/// A counter with exactly one writing thread.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Why the dataplane dropped a frame. Every drop is counted under one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    ShortEthernet,
    UnknownEthertype,
    BadIpHeader,
    BadIpLength,
    Fragment,
    /// IPv6 extension headers truncated, too many, out of order, or a
    /// routing header with segments left.
    BadExtensionHeader,
    UnsupportedProtocol,
    BadL4Header,
    TtlExpired,
    /// Neither a virtual service nor a reply of a known connection.
    NoService,
    /// TCP segment without SYN and without a connection (IPVS does the same).
    NoConnection,
    /// Every real server of the service has weight 0, is disabled or unresolved.
    NoRealServer,
    ConnTableFull,
    /// The connection's real server left the configuration.
    RealRemoved,
    /// The real server's MAC is not (yet) in the kernel's neighbour table.
    NoNeighbour,
    TxRingFull,
    /// The kernel dropped the frame before the worker saw it: the socket's
    /// RX ring was full (the worker fell behind the offered load).
    RxRingFull,
    /// The kernel dropped the frame for want of a fill-ring buffer or for
    /// another reason of its own (XDP_STATISTICS rx_dropped).
    RxKernelDropped,
    /// SYN proxy: an ACK to a proxied service with no connection whose
    /// acknowledgement is not a cookie of ours (forged, or too old).
    SynCookieInvalid,
    /// SYN proxy: a client segment while the real server's handshake is
    /// still under way (the client sends it again).
    SynProxyWait,
    /// A new connection beyond the service's `max_conn_rate`.
    RateLimited,
    /// A new connection from a client that holds the service's
    /// `max_conns_per_client` already.
    ClientCap,
    /// TUN: bigger than the egress MTU once wrapped (a client that set DF
    /// got ICMP "fragmentation needed", `frag_needed_sent`).
    TooBig,
    /// TUN: the egress port has no IPv4 address to send the tunnel from.
    NoTunnelSource,
    /// TUN: the frame has no room before it for the outer header (it did
    /// not come from a UMEM frame).
    NoHeadroom,
}

impl DropReason {
    pub const ALL: [DropReason; 25] = [
        DropReason::ShortEthernet,
        DropReason::UnknownEthertype,
        DropReason::BadIpHeader,
        DropReason::BadIpLength,
        DropReason::Fragment,
        DropReason::BadExtensionHeader,
        DropReason::UnsupportedProtocol,
        DropReason::BadL4Header,
        DropReason::TtlExpired,
        DropReason::NoService,
        DropReason::NoConnection,
        DropReason::NoRealServer,
        DropReason::ConnTableFull,
        DropReason::RealRemoved,
        DropReason::NoNeighbour,
        DropReason::TxRingFull,
        DropReason::RxRingFull,
        DropReason::RxKernelDropped,
        DropReason::SynCookieInvalid,
        DropReason::SynProxyWait,
        DropReason::RateLimited,
        DropReason::ClientCap,
        DropReason::TooBig,
        DropReason::NoTunnelSource,
        DropReason::NoHeadroom,
    ];

    /// Reasons that happen after a packet is matched to a service (and
    /// maybe a real server), so they are also counted there.
    pub const ATTRIBUTABLE: [DropReason; 10] = [
        DropReason::NoConnection,
        DropReason::NoRealServer,
        DropReason::ConnTableFull,
        DropReason::RealRemoved,
        DropReason::NoNeighbour,
        DropReason::TtlExpired,
        DropReason::RateLimited,
        DropReason::ClientCap,
        DropReason::TooBig,
        DropReason::NoTunnelSource,
    ];

    fn attributable_index(self) -> Option<usize> {
        Self::ATTRIBUTABLE.iter().position(|&r| r == self)
    }

    pub fn name(self) -> &'static str {
        match self {
            DropReason::ShortEthernet => "short_ethernet",
            DropReason::UnknownEthertype => "unknown_ethertype",
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::BadIpLength => "bad_ip_length",
            DropReason::Fragment => "fragment",
            DropReason::BadExtensionHeader => "bad_extension_header",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::BadL4Header => "bad_l4_header",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoService => "no_service",
            DropReason::NoConnection => "no_connection",
            DropReason::NoRealServer => "no_real_server",
            DropReason::ConnTableFull => "conn_table_full",
            DropReason::RealRemoved => "real_removed",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::TxRingFull => "tx_ring_full",
            DropReason::RxRingFull => "rx_ring_full",
            DropReason::RxKernelDropped => "rx_kernel_dropped",
            DropReason::SynCookieInvalid => "syn_cookie_invalid",
            DropReason::SynProxyWait => "syn_proxy_wait",
            DropReason::RateLimited => "rate_limited",
            DropReason::ClientCap => "client_cap",
            DropReason::TooBig => "too_big",
            DropReason::NoTunnelSource => "no_tunnel_source",
            DropReason::NoHeadroom => "no_headroom",
        }
    }
}

/// Traffic through one real server or one virtual service, as `ipvsadm --stats`.
#[derive(Default, Debug)]
pub struct TrafficCounters {
    pub conns: Counter,
    pub packets_in: Counter,
    pub packets_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// Indexed like `DropReason::ATTRIBUTABLE`.
    pub drops: [Counter; DropReason::ATTRIBUTABLE.len()],
}

impl TrafficCounters {
    pub fn drops(&self, reason: DropReason) -> u64 {
        reason
            .attributable_index()
            .map_or(0, |i| self.drops[i].get())
    }
}

#[derive(Debug)]
pub struct WorkerStats {
    pub rx_packets: Counter,
    pub tx_packets: Counter,
    pub rx_batches: Counter,
    pub poll_iterations: Counter,
    pub ip_options: Counter,
    pub conns_created: Counter,
    pub conns_expired: Counter,
    pub conns_live: Counter,
    /// Packets of another worker's connection (found in its table).
    pub remote_hits: Counter,
    /// Half-open connections recycled because the table was full.
    pub conns_evicted: Counter,
    /// Connections opened by a segment other than a SYN (sloppy_tcp): a
    /// flow another director started.
    pub conns_picked_up: Counter,
    /// ICMP "fragmentation needed" sent to clients (TUN, DF, too big).
    pub frag_needed_sent: Counter,
    /// Connections taken from the inbox into the table, and those refused
    /// (service or real server unknown here, table full, or a record of a
    /// connection held here with another server).
    pub conns_installed: Counter,
    pub installs_refused: Counter,
    /// Sync updates lost because the outbox was full.
    pub sync_overflow: Counter,
    /// FTP helper: address lines rewritten, data connections it let in, and
    /// control segments it could not help (a line split across segments, a
    /// frame too full to grow, the session table full).
    pub ftp_rewrites: Counter,
    pub ftp_data_conns: Counter,
    pub ftp_unhelped: Counter,
    /// SYN proxy: SYNs answered with a cookie, connections a valid cookie
    /// opened, and whether `auto` services are proxied now (0 or 1).
    pub syn_cookies_sent: Counter,
    pub syn_cookies_accepted: Counter,
    pub syn_proxy_engaged: Counter,
    /// SYN proxy: early client data kept until the server's handshake.
    pub syn_proxy_parked: Counter,
    drops: [Counter; DropReason::ALL.len()],
    pub reals: Box<[TrafficCounters]>,
    pub services: Box<[TrafficCounters]>,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            rx_packets: Counter::default(),
            tx_packets: Counter::default(),
            rx_batches: Counter::default(),
            poll_iterations: Counter::default(),
            ip_options: Counter::default(),
            conns_created: Counter::default(),
            conns_expired: Counter::default(),
            conns_live: Counter::default(),
            remote_hits: Counter::default(),
            conns_evicted: Counter::default(),
            conns_picked_up: Counter::default(),
            frag_needed_sent: Counter::default(),
            conns_installed: Counter::default(),
            installs_refused: Counter::default(),
            sync_overflow: Counter::default(),
            ftp_rewrites: Counter::default(),
            ftp_data_conns: Counter::default(),
            ftp_unhelped: Counter::default(),
            syn_cookies_sent: Counter::default(),
            syn_cookies_accepted: Counter::default(),
            syn_proxy_engaged: Counter::default(),
            syn_proxy_parked: Counter::default(),
            drops: Default::default(),
            reals: (0..MAX_REALS).map(|_| TrafficCounters::default()).collect(),
            services: (0..MAX_SERVICES)
                .map(|_| TrafficCounters::default())
                .collect(),
        }
    }
}

impl WorkerStats {
    #[inline]
    pub fn drop(&self, reason: DropReason) {
        self.drops[reason as usize].add(1);
    }

    /// Count a drop on the worker and on the service (and real server) the
    /// packet belonged to.
    #[inline]
    pub fn drop_at(&self, reason: DropReason, service: u32, real: Option<u32>) {
        self.drop(reason);
        if let Some(i) = reason.attributable_index() {
            if let Some(s) = self.services.get(service as usize) {
                s.drops[i].add(1);
            }
            if let Some(r) = real.and_then(|r| self.reals.get(r as usize)) {
                r.drops[i].add(1);
            }
        }
    }
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].get()
    }
    /// Drops the kernel counts itself (per socket, since it was bound):
    /// the worker copies the sums in, so they read like the others.
    pub fn set_kernel_drops(&self, rx_ring_full: u64, rx_dropped: u64) {
        self.drops[DropReason::RxRingFull as usize]
            .0
            .store(rx_ring_full, Relaxed);
        self.drops[DropReason::RxKernelDropped as usize]
            .0
            .store(rx_dropped, Relaxed);
    }
    pub fn set_conns_live(&self, n: u64) {
        self.conns_live.0.store(n, Relaxed);
    }

    pub fn set_syn_proxy_engaged(&self, on: bool) {
        self.syn_proxy_engaged.0.store(u64::from(on), Relaxed);
    }
}

/// Active/inactive connection counts of one real server across all workers
/// (IPVS `activeconns`/`inactconns`), read by the `lc`/`wlc` schedulers.
#[derive(Default, Debug)]
pub struct ConnGauge {
    pub active: AtomicI64,
    pub inactive: AtomicI64,
    /// keepalived's uthreshold/lthreshold (IPVS's u_threshold and
    /// l_threshold; 0: none), and whether the server is above the upper
    /// one (IPVS's IP_VS_DEST_F_OVERLOAD): then it takes no new connection
    /// until it falls below the lower one.
    upper: AtomicU32,
    lower: AtomicU32,
    overloaded: AtomicBool,
}

impl ConnGauge {
    /// The thresholds of the configuration now in force.
    pub fn set_thresholds(&self, upper: u32, lower: u32) {
        self.upper.store(upper, Relaxed);
        self.lower.store(lower, Relaxed);
        self.update_overload();
    }

    #[inline]
    pub fn overloaded(&self) -> bool {
        self.overloaded.load(Relaxed)
    }

    /// As IPVS on binding and unbinding a connection: on at the upper
    /// threshold; off below the lower one, which is 3/4 of the upper when
    /// not set; always off without an upper threshold.
    fn update_overload(&self) {
        let upper = u64::from(self.upper.load(Relaxed));
        let total = self.active() + self.inactive();
        let over = self.overloaded.load(Relaxed);
        let now = if upper == 0 {
            false
        } else if total >= upper {
            true
        } else if !over {
            false
        } else {
            match u64::from(self.lower.load(Relaxed)) {
                0 => total * 4 >= upper * 3,
                lower => total >= lower,
            }
        };
        if now != over {
            self.overloaded.store(now, Relaxed);
        }
    }

    pub fn active(&self) -> u64 {
        self.active.load(Relaxed).max(0) as u64
    }
    pub fn inactive(&self) -> u64 {
        self.inactive.load(Relaxed).max(0) as u64
    }
    /// Move one connection between the active/inactive columns.
    pub fn change(&self, was_active: Option<bool>, now_active: Option<bool>) {
        if was_active == now_active {
            return;
        }
        match was_active {
            Some(true) => self.active.fetch_sub(1, Relaxed),
            Some(false) => self.inactive.fetch_sub(1, Relaxed),
            None => 0,
        };
        match now_active {
            Some(true) => self.active.fetch_add(1, Relaxed),
            Some(false) => self.inactive.fetch_add(1, Relaxed),
            None => 0,
        };
        // Only a connection coming or going moves the total.
        if was_active.is_none() != now_active.is_none() && self.upper.load(Relaxed) != 0 {
            self.update_overload();
        }
    }
}

pub fn new_gauges() -> std::sync::Arc<[ConnGauge]> {
    (0..MAX_REALS).map(|_| ConnGauge::default()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(g: &ConnGauge, n: usize) {
        for _ in 0..n {
            g.change(None, Some(false));
        }
    }

    fn close(g: &ConnGauge, n: usize) {
        for _ in 0..n {
            g.change(Some(false), None);
        }
    }

    #[test]
    fn a_server_at_its_upper_threshold_waits_until_below_the_lower() {
        let g = ConnGauge::default();
        g.set_thresholds(4, 2);
        open(&g, 3);
        assert!(!g.overloaded());
        open(&g, 1);
        assert!(g.overloaded(), "at 4 of 4");
        // A state change moves nothing.
        g.change(Some(false), Some(true));
        assert!(g.overloaded());
        close(&g, 2);
        assert!(g.overloaded(), "2 is not below the lower threshold");
        close(&g, 1);
        assert!(!g.overloaded(), "1 is");
        open(&g, 2);
        assert!(!g.overloaded(), "3: on again only at the upper threshold");
    }

    #[test]
    fn without_a_lower_threshold_three_quarters_of_the_upper_count() {
        let g = ConnGauge::default();
        g.set_thresholds(8, 0);
        open(&g, 8);
        assert!(g.overloaded());
        close(&g, 2);
        assert!(g.overloaded(), "6 * 4 is not below 8 * 3");
        close(&g, 1);
        assert!(!g.overloaded());
        // Thresholds removed by a reload: no longer overloaded.
        open(&g, 3);
        assert!(g.overloaded());
        g.set_thresholds(0, 0);
        assert!(!g.overloaded());
    }
}
