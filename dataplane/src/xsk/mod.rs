//! AF_XDP sockets over `libc`: a UMEM shared by all of a worker's ports, and
//! per-port fill/completion/RX/TX rings mapped into our memory.
//!
//! Why our own layer rather than a crate: see docs/design/af-xdp.md. In short,
//! the ring protocol is a few hundred lines, we need shared-UMEM across
//! devices (own fill/completion ring per socket) and batch-level control of
//! every wakeup syscall; the candidates either bind libxdp (a C build) or
//! carry a licence (EUPL) our users would have to review.

mod ring;
mod socket;
mod sys;
mod umem;

pub use ring::{refill, ConsumerRing, ProducerRing};
pub use socket::{BindMode, XskConfig, XskError, XskSocket};
pub use sys::XdpDesc;
pub use umem::Umem;
