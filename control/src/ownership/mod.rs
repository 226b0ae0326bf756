//! Which virtual addresses this director forwards for, and how that
//! reaches the steering program. An owner decides (VRRP: a master holds
//! its instances' addresses); the steering gate applies the decision to
//! the XDP maps at once, from the owner's own thread, as a difference.
//! Announced VIPs (`crate::announce`) are not gated: every active/active
//! director forwards them whether it announces them or not, so a drained
//! director still serves the flows that reach it.

mod gate;

pub use gate::{SteeringGate, SteeringMaps};

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

/// Told whenever the set of held addresses changes, at once and from the
/// owner's own thread (no control-loop tick in between).
pub trait HeldSink: Send + Sync {
    fn held_changed(&self, held: &HashSet<IpAddr>);
}

/// Decides which of the virtual addresses it manages this director holds.
pub trait VipOwner {
    /// The addresses held now.
    fn held(&self) -> HashSet<IpAddr>;
    /// Tell `sink` the held set now and after every change.
    fn watch(&self, sink: Arc<dyn HeldSink>);
}
