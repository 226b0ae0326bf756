//! A frontend at run time: its definition with the backends its rules
//! name resolved, its connection limit, TLS, and its counters.

use crate::acl::{self, Sample};
use crate::backend::Backend;
use crate::counters::Counters;
use crate::tls;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;
use xlb_model::proxy::FrontendDef;

pub struct Frontend {
    pub def: FrontendDef,
    /// The name, shared by every log entry instead of copied into it.
    pub name: Arc<str>,
    /// The backend of each `use_backend` rule, in order.
    rules: Vec<Arc<Backend>>,
    pub default_backend: Option<Arc<Backend>>,
    /// `maxconn`: a permit per connection; none free, accepting waits and
    /// connections stay in the kernel's queue, as HAProxy's.
    pub slots: Arc<Semaphore>,
    pub maxconn: u32,
    /// Shared with the frontend this one replaced: sessions still running
    /// there count here too.
    pub counters: Arc<Counters>,
    /// TLS per bind address.
    pub tls: HashMap<SocketAddr, tokio_rustls::TlsAcceptor>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("frontend {frontend}: {what}")]
    Tls { frontend: String, what: String },
}

impl Frontend {
    /// `backends` by name; `global_maxconn` when the frontend gives none.
    /// `previous`: the frontend this one replaces (its counters and
    /// connection permits carry over, so a reload neither resets the
    /// listing nor lets a second maxconn's worth in).
    pub fn new(
        def: FrontendDef,
        backends: &HashMap<String, Arc<Backend>>,
        global_maxconn: u32,
        previous: Option<&Frontend>,
    ) -> Result<Frontend, FrontendError> {
        let rules = def
            .use_backend
            .iter()
            .filter_map(|u| backends.get(&u.backend).cloned())
            .collect();
        let default_backend = def
            .default_backend
            .as_ref()
            .and_then(|b| backends.get(b).cloned());
        let mut tls_map = HashMap::new();
        for b in &def.binds {
            if let Some(t) = &b.tls {
                let acceptor = tls::acceptor(t).map_err(|what| FrontendError::Tls {
                    frontend: def.name.clone(),
                    what,
                })?;
                tls_map.insert(b.addr, acceptor);
            }
        }
        let maxconn = if def.maxconn > 0 {
            def.maxconn
        } else {
            global_maxconn
        };
        let slots = match previous {
            Some(p) if p.maxconn == maxconn => p.slots.clone(),
            _ => Arc::new(Semaphore::new(maxconn as usize)),
        };
        let counters = previous.map_or_else(Default::default, |p| p.counters.clone());
        Ok(Frontend {
            name: def.name.as_str().into(),
            def,
            rules,
            default_backend,
            slots,
            maxconn,
            counters,
            tls: tls_map,
        })
    }

    /// The backend for this connection or request: the first rule whose
    /// condition holds, else the default.
    pub fn route(&self, s: &dyn Sample) -> Option<&Arc<Backend>> {
        for (rule, b) in self.def.use_backend.iter().zip(&self.rules) {
            if acl::holds(&rule.cond, &self.def.acls, s) {
                return Some(b);
            }
        }
        self.default_backend.as_ref()
    }
}
