//! The FTP lines that carry a data-connection address (RFC 959 PORT and
//! 227, RFC 2428 EPRT and 229), found in one TCP segment's payload.
//!
//! Only a line that starts the segment and ends inside it is looked at: a
//! command split across segments is not parsed (counted by the caller and
//! left alone), which is what IPVS's helper does too.

/// What an address-bearing line says and where its address text lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    /// Byte range of the address text in the payload (`h1,h2,h3,h4,p1,p2`
    /// or `|1|a.b.c.d|port|`); empty for 229.
    pub start: usize,
    pub end: usize,
    /// Host order; 0 for 229, which names no address.
    pub addr: u32,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// client: `PORT h1,h2,h3,h4,p1,p2`
    Port,
    /// client: `EPRT |1|a.b.c.d|port|` (any delimiter)
    Eprt,
    /// server: `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`
    Pasv,
    /// server: `229 Entering Extended Passive Mode (|||port|)`
    Epsv,
}

/// Whether the payload holds a whole line (ends with LF).
pub fn is_whole_line(payload: &[u8]) -> bool {
    payload.ends_with(b"\n")
}

/// `h1,h2,h3,h4,p1,p2` at the start of `s`: the address, port and length.
fn six_numbers(s: &[u8]) -> Option<(u32, u16, usize)> {
    let mut nums = [0u32; 6];
    let mut i = 0;
    for (k, n) in nums.iter_mut().enumerate() {
        // Every digit, as a server reads the number ("0211" is 211): a
        // number cut short would expect another port than the server's.
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            *n = n.saturating_mul(10).saturating_add(u32::from(s[i] - b'0'));
            i += 1;
        }
        if i == start || *n > 255 {
            return None;
        }
        if k < 5 {
            if s.get(i) != Some(&b',') {
                return None;
            }
            i += 1;
        }
    }
    let addr = (nums[0] << 24) | (nums[1] << 16) | (nums[2] << 8) | nums[3];
    Some((addr, ((nums[4] << 8) | nums[5]) as u16, i))
}

fn number(s: &[u8]) -> Option<(u32, usize)> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 5 {
        return None;
    }
    let v = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
    Some((v, digits))
}

/// A client command (client to server) that names a data address.
pub fn find_command(p: &[u8]) -> Option<Found> {
    if !is_whole_line(p) || p.len() < 6 {
        return None;
    }
    let verb = &p[..5];
    if verb.eq_ignore_ascii_case(b"PORT ") {
        let (addr, port, n) = six_numbers(&p[5..])?;
        return Some(Found {
            kind: Kind::Port,
            start: 5,
            end: 5 + n,
            addr,
            port,
        });
    }
    if verb.eq_ignore_ascii_case(b"EPRT ") {
        // EPRT <d>1<d>a.b.c.d<d>port<d>
        let rest = &p[5..];
        let d = *rest.first()?;
        let fields: Vec<&[u8]> = rest[1..].splitn(4, |&b| b == d).collect();
        if fields.len() < 4 || fields[0] != b"1" {
            return None; // IPv6 (2) or malformed: left alone
        }
        let addr: std::net::Ipv4Addr = std::str::from_utf8(fields[1]).ok()?.parse().ok()?;
        let (port, n) = number(fields[2])?;
        if n != fields[2].len() || port > 65535 {
            return None;
        }
        let len = 1 + fields[0].len() + 1 + fields[1].len() + 1 + fields[2].len() + 1;
        return Some(Found {
            kind: Kind::Eprt,
            start: 5,
            end: 5 + len,
            addr: u32::from(addr),
            port: port as u16,
        });
    }
    None
}

/// A server reply (server to client) that names a data address.
pub fn find_reply(p: &[u8]) -> Option<Found> {
    if !is_whole_line(p) || p.len() < 5 {
        return None;
    }
    if p.starts_with(b"227 ") {
        // The numbers follow the first '(' or, without one, the first digit
        // after the text (RFC 1123 4.1.2.6 allows either).
        let from = p
            .iter()
            .position(|&b| b == b'(')
            .map(|i| i + 1)
            .or_else(|| {
                p[4..]
                    .iter()
                    .position(|b| b.is_ascii_digit())
                    .map(|i| i + 4)
            })?;
        let (addr, port, n) = six_numbers(&p[from..])?;
        return Some(Found {
            kind: Kind::Pasv,
            start: from,
            end: from + n,
            addr,
            port,
        });
    }
    if p.starts_with(b"229 ") {
        // (<d><d><d>port<d>)
        let open = p.iter().position(|&b| b == b'(')?;
        let d = *p.get(open + 1)?;
        if p.get(open + 2) != Some(&d) || p.get(open + 3) != Some(&d) {
            return None;
        }
        let (port, n) = number(&p[open + 4..])?;
        if p.get(open + 4 + n) != Some(&d) || port > 65535 {
            return None;
        }
        return Some(Found {
            kind: Kind::Epsv,
            start: open,
            end: open,
            addr: 0,
            port: port as u16,
        });
    }
    None
}

/// The address text for `kind` naming `addr:port`.
pub fn format(kind: Kind, addr: u32, port: u16) -> Vec<u8> {
    let a = addr.to_be_bytes();
    match kind {
        Kind::Port | Kind::Pasv => format!(
            "{},{},{},{},{},{}",
            a[0],
            a[1],
            a[2],
            a[3],
            port >> 8,
            port & 0xff
        )
        .into_bytes(),
        Kind::Eprt => format!("|1|{}.{}.{}.{}|{port}|", a[0], a[1], a[2], a[3]).into_bytes(),
        Kind::Epsv => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RS: u32 = 0x0ac8_020b; // 10.200.2.11

    #[test]
    fn port_and_eprt_are_found_with_their_span() {
        let p = b"PORT 10,200,1,2,195,80\r\n";
        let f = find_command(p).unwrap();
        assert_eq!(f.kind, Kind::Port);
        assert_eq!(&p[f.start..f.end], b"10,200,1,2,195,80");
        assert_eq!((f.addr, f.port), (0x0ac8_0102, 195 * 256 + 80));
        let e = b"EPRT |1|10.200.1.2|50000|\r\n";
        let f = find_command(e).unwrap();
        assert_eq!(&e[f.start..f.end], b"|1|10.200.1.2|50000|");
        assert_eq!((f.addr, f.port), (0x0ac8_0102, 50000));
        assert!(
            find_command(b"eprt !1!10.200.1.2!7!\r\n").is_some(),
            "any delimiter, any case"
        );
        assert_eq!(
            find_command(b"EPRT |2|::1|5000|\r\n"),
            None,
            "IPv6 left alone"
        );
    }

    #[test]
    fn a_number_with_leading_zeros_is_read_whole_as_servers_read_it() {
        // Found by fuzzing (fuzz/ftp_lines): "0211" was read as 21 and its
        // last digit left behind, so the helper expected port 2*256+21
        // while the server connected to 2*256+211, and the rewritten line
        // ("...,2,21" + "1") named 211 again.
        let p = b"PORT 10,0,10,0,2,0211,,,958\r\n";
        let f = find_command(p).unwrap();
        assert_eq!(&p[f.start..f.end], b"10,0,10,0,2,0211");
        assert_eq!(f.port, 2 * 256 + 211);
        let mut line = p[..f.start].to_vec();
        line.extend_from_slice(&format(f.kind, f.addr, f.port));
        line.extend_from_slice(&p[f.end..]);
        assert_eq!(find_command(&line).map(|g| g.port), Some(f.port));
        assert_eq!(find_command(b"PORT 10,0,10,0,2,00000000000256\r\n"), None);
    }

    #[test]
    fn malformed_or_partial_commands_are_not_touched() {
        for bad in [
            &b"PORT 10,200,1,2,195\r\n"[..],
            b"PORT 10,200,1,256,1,1\r\n",
            b"PORT 10,200,1,2,195,80",
            b"PORT 1000,1,1,1,1,1\r\n",
            b"RETR file\r\n",
            b"EPRT |1|10.200.1.2|999999|\r\n",
            b"EPRT |1|10.200.1|80|\r\n",
            b"",
        ] {
            assert_eq!(
                find_command(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn pasv_and_epsv_replies_are_found() {
        let p = b"227 Entering Passive Mode (10,200,2,11,39,16).\r\n";
        let f = find_reply(p).unwrap();
        assert_eq!(&p[f.start..f.end], b"10,200,2,11,39,16");
        assert_eq!((f.addr, f.port), (RS, 10000));
        let bare = b"227 =10,200,2,11,39,16\r\n";
        assert_eq!(find_reply(bare).unwrap().port, 10000, "no parentheses");
        let e = find_reply(b"229 Entering Extended Passive Mode (|||10000|)\r\n").unwrap();
        assert_eq!((e.kind, e.port, e.addr), (Kind::Epsv, 10000, 0));
        assert_eq!(
            find_reply(b"229 Entering Extended Passive Mode (|1|10000|)\r\n"),
            None
        );
        assert_eq!(find_reply(b"200 PORT command successful\r\n"), None);
        assert_eq!(find_reply(b"227 (10,200,2,11,39,16"), None, "partial line");
    }

    #[test]
    fn formatting_round_trips() {
        let t = format(Kind::Pasv, 0x0ac8_0164, 10000);
        assert_eq!(t, b"10,200,1,100,39,16");
        let mut line = b"PORT ".to_vec();
        line.extend(format(Kind::Port, RS, 20));
        line.extend(b"\r\n");
        assert_eq!(
            find_command(&line).map(|f| (f.addr, f.port)),
            Some((RS, 20))
        );
        assert_eq!(format(Kind::Eprt, RS, 20), b"|1|10.200.2.11|20|");
    }
}
