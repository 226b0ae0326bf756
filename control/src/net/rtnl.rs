//! The rtnetlink plumbing shared by the request socket (`neigh::Netlink`)
//! and the neighbour watcher: opening a socket, framing a request with
//! netlink-packet-route, and walking the messages of a received datagram.

use netlink_packet_core::{
    DoneBuffer, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NLMSG_DONE, NLMSG_ERROR,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::time::Duration;

/// Room for one datagram: the kernel builds dump datagrams of at most
/// 32 KiB, notifications are far smaller.
pub(super) const RECV_BUF: usize = 64 * 1024;

/// A NETLINK_ROUTE socket talking to the kernel, whose blocking receives
/// give up after `timeout`. Returns the socket and its port id.
pub(super) fn open(timeout: Duration) -> io::Result<(Socket, u32)> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(context("open an rtnetlink socket"))?;
    let addr = socket
        .bind_auto()
        .map_err(context("bind the rtnetlink socket"))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(context("connect the rtnetlink socket to the kernel"))?;
    socket2::SockRef::from(&socket)
        .set_read_timeout(Some(timeout))
        .map_err(context("set the rtnetlink receive timeout"))?;
    Ok((socket, addr.port_number()))
}

/// `msg` framed as one netlink message with the given sequence number and
/// NLM_F_* flags (type and length are filled in from the payload).
pub(super) fn encode(seq: u32, flags: u16, msg: RouteNetlinkMessage) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Send one request.
pub(super) fn send(
    socket: &Socket,
    seq: u32,
    flags: u16,
    msg: RouteNetlinkMessage,
) -> io::Result<()> {
    let buf = encode(seq, flags, msg);
    let n = socket.send(&buf, 0).map_err(context("send to rtnetlink"))?;
    if n != buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("rtnetlink took {n} of {} bytes", buf.len()),
        ));
    }
    Ok(())
}

/// One message of a received datagram, header fields and payload.
pub(super) struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// For NLMSG_ERROR (an ACK when the code is 0) and NLMSG_DONE: the
    /// outcome the kernel reports. `None` for every other message.
    pub fn outcome(&self) -> Option<io::Result<()>> {
        let code = match self.kind {
            NLMSG_ERROR => match ErrorBuffer::new_checked(self.payload) {
                Ok(b) => b.code().map_or(0, |c| c.get()),
                Err(e) => return Some(Err(invalid(format!("NLMSG_ERROR: {e}")))),
            },
            // A DONE may come without the (then zero) code.
            NLMSG_DONE => DoneBuffer::new_checked(self.payload).map_or(0, |b| b.code()),
            _ => return None,
        };
        Some(if code == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(code.saturating_abs()))
        })
    }
}

/// The messages of one datagram. Stops at the first one whose length does
/// not fit (a truncated datagram): nothing after it can be framed.
pub(super) fn messages(mut data: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let buf = NetlinkBuffer::new_checked(data).ok()?;
        let len = buf.length() as usize;
        let msg = Message {
            kind: buf.message_type(),
            seq: buf.sequence_number(),
            payload: buf.payload(),
        };
        // Messages are 4-byte aligned within a datagram.
        data = data.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some(msg)
    })
}

/// Whether a receive error is the receive timeout expiring.
pub(super) fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

pub(super) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Wrap an error with what was being done. The kind stays, the errno
/// does not (`raw_os_error` is `None` afterwards): match errno first.
pub(super) fn context<D: std::fmt::Display>(what: D) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{ErrorMessage, NLM_F_REQUEST};
    use netlink_packet_route::neighbour::NeighbourMessage;

    #[test]
    fn framing_round_trips_and_stops_at_a_truncated_message() {
        let a = encode(
            7,
            NLM_F_REQUEST,
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
        );
        let mut data = a.clone();
        data.extend_from_slice(&a);
        let got: Vec<_> = messages(&data)
            .map(|m| (m.kind, m.seq, m.payload.len()))
            .collect();
        assert_eq!(got, vec![(30, 7, 12), (30, 7, 12)]);
        assert_eq!(messages(&data[..a.len() + 10]).count(), 1);
        assert_eq!(messages(&[]).count(), 0);
    }

    #[test]
    fn acks_errors_and_done_are_outcomes() {
        let mut err = ErrorMessage::default();
        err.code = std::num::NonZeroI32::new(-libc::EEXIST);
        let mut header = NetlinkHeader::default();
        header.sequence_number = 3;
        let mut msg: NetlinkMessage<RouteNetlinkMessage> =
            NetlinkMessage::new(header, NetlinkPayload::Error(err));
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        let m = messages(&buf).next().unwrap();
        let e = m.outcome().unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        // A bare DONE (no code) ends a dump successfully.
        let mut done = Vec::new();
        done.extend_from_slice(&16u32.to_ne_bytes());
        done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        done.extend_from_slice(&[0; 10]);
        assert!(messages(&done).next().unwrap().outcome().unwrap().is_ok());
    }
}
