//! `GET /metrics` (and `GET /`) on the shared HTTP endpoint server
//! (thread "xlb-metrics"): the exposition rendered from a fresh status.

use super::{render, render_vrrp};
use crate::api::server::StatusSource;
pub use crate::web::Limits;
use crate::web::{Handler, Reply, WebServer};
use hyper::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;

/// The running endpoint; dropping it stops it.
pub struct MetricsServer(WebServer);

impl MetricsServer {
    pub fn start(
        addr: SocketAddr,
        limits: Limits,
        source: Arc<dyn StatusSource>,
    ) -> std::io::Result<MetricsServer> {
        WebServer::start("xlb-metrics", addr, limits, Arc::new(Metrics(source))).map(MetricsServer)
    }

    /// Where it listens (the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
}

struct Metrics(Arc<dyn StatusSource>);

impl Handler for Metrics {
    fn get(&self, path: &str, _query: &str) -> Reply {
        if !matches!(path, "/metrics" | "/") {
            return Reply::text(StatusCode::NOT_FOUND, "try GET /metrics\n");
        }
        let body = render(&self.0.status()) + &render_vrrp(&self.0.vrrp());
        Reply::ok("text/plain; version=0.0.4", body)
    }
}
