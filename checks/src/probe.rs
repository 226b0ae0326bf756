//! One probe of each kind, bounded by the check's timeout as a whole.

use crate::{CheckKind, CheckSpec, ProbeResult};
use md5::{Digest, Md5};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// The most of an HTTP response a check reads (keepalived reads it all; a
/// bound keeps a misbehaving server from filling memory).
const MAX_BODY: usize = 1 << 20;

pub async fn probe(spec: &CheckSpec) -> ProbeResult {
    match tokio::time::timeout(spec.timeout, probe_inner(spec)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", spec.timeout.as_millis())),
    }
}

async fn probe_inner(spec: &CheckSpec) -> ProbeResult {
    match &spec.kind {
        CheckKind::Tcp => connect(spec).await.map(|_| None),
        CheckKind::Http {
            tls,
            path,
            host,
            status,
            digest,
        } => {
            let tcp = connect(spec).await?;
            let host = host.clone().unwrap_or_else(|| spec.target.ip().to_string());
            // An IPv6 literal is bracketed in Host (RFC 3986 3.2.2), bare
            // as a TLS server name.
            let header = match spec.target.ip() {
                std::net::IpAddr::V6(a) if host == a.to_string() => format!("[{host}]"),
                _ => host.clone(),
            };
            let req = format!(
                "GET {path} HTTP/1.0\r\nHost: {header}\r\nUser-Agent: xlb-check\r\nConnection: close\r\n\r\n"
            );
            let resp = if *tls {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
                let s = tls::connector()
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                exchange(s, &req).await?
            } else {
                exchange(tcp, &req).await?
            };
            check_http(&resp, status, digest.as_deref()).map(|_| None)
        }
        CheckKind::Misc { command, dynamic } => {
            let st = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .kill_on_drop(true)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .map_err(|e| format!("cannot run {command:?}: {e}"))?;
            match st.code() {
                Some(0) => Ok(None),
                Some(c) if *dynamic && (2..=255).contains(&c) => Ok(Some(c as u32 - 2)),
                Some(c) => Err(format!("{command:?} exited with {c}")),
                None => Err(format!("{command:?} was killed by a signal")),
            }
        }
        CheckKind::Udp {
            payload,
            require_reply,
        } => {
            let local: SocketAddr = match (spec.bind, spec.target) {
                (Some(ip), _) => SocketAddr::new(ip, 0),
                (None, SocketAddr::V4(_)) => "0.0.0.0:0".parse().expect("literal"),
                (None, SocketAddr::V6(_)) => "[::]:0".parse().expect("literal"),
            };
            let s = UdpSocket::bind(local)
                .await
                .map_err(|e| format!("bind {local}: {e}"))?;
            // Connected, so an ICMP port unreachable comes back as an error.
            s.connect(spec.target)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            s.send(payload).await.map_err(|e| format!("send: {e}"))?;
            let mut buf = [0u8; 2048];
            if *require_reply {
                s.recv(&mut buf)
                    .await
                    .map(|_| None)
                    .map_err(|e| format!("no reply: {e}"))
            } else {
                // No reply needed: only an ICMP error, seen within half the
                // timeout, fails the check.
                match tokio::time::timeout(spec.timeout / 2, s.recv(&mut buf)).await {
                    Ok(Err(e)) => Err(format!("{e}")),
                    _ => Ok(None),
                }
            }
        }
    }
}

/// Send the request, read the response (bounded).
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    mut s: S,
    req: &str,
) -> Result<Vec<u8>, String> {
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut resp = Vec::new();
    (&mut s)
        .take(MAX_BODY as u64)
        .read_to_end(&mut resp)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    Ok(resp)
}

mod tls {
    //! A TLS client that does not verify the server (keepalived SSL_GET).
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::{Arc, OnceLock};

    #[derive(Debug)]
    struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub fn connector() -> tokio_rustls::TlsConnector {
        static CFG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
        let cfg = CFG.get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
                .with_no_client_auth();
            Arc::new(cfg)
        });
        tokio_rustls::TlsConnector::from(cfg.clone())
    }
}

async fn connect(spec: &CheckSpec) -> Result<TcpStream, String> {
    let r = match spec.bind {
        None => TcpStream::connect(spec.target).await,
        Some(ip) => {
            let s = if ip.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(|e| format!("socket: {e}"))?;
            s.bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bindto {ip}: {e}"))?;
            s.connect(spec.target).await
        }
    };
    r.map_err(|e| format!("connect to {}: {e}", spec.target))
}

/// Status line and optional MD5 of the body, as keepalived's HTTP_GET.
fn check_http(resp: &[u8], want: &[u16], digest: Option<&str>) -> Result<(), String> {
    let line_end = resp
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no status line in the response")?;
    let line = String::from_utf8_lossy(&resp[..line_end]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP status line: {:?}", line.trim_end()))?;
    let good = if want.is_empty() {
        (200..300).contains(&code)
    } else {
        want.contains(&code)
    };
    if !good {
        return Err(format!("HTTP status {code}"));
    }
    if let Some(d) = digest {
        let body = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| &resp[p + 4..])
            .ok_or("no end of headers in the response")?;
        let got: String = Md5::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !got.eq_ignore_ascii_case(d) {
            return Err(format!("body digest {got}, expected {d}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckSpec;
    use std::time::Duration;
    use tokio::net::TcpListener;

    fn spec(kind: CheckKind, target: SocketAddr) -> CheckSpec {
        CheckSpec {
            kind,
            target,
            bind: None,
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(400),
            rise: 1,
            fall: 1,
            retry: 0,
            delay_before_retry: Duration::from_millis(10),
        }
    }

    /// A one-shot HTTP server on loopback answering `response`, or never
    /// answering when `None` (a hung server).
    async fn server(response: Option<&'static str>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                match response {
                    Some(r) => {
                        let _ = s.write_all(r.as_bytes()).await;
                    }
                    None => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                }
            }
        });
        addr
    }

    fn http(status: Vec<u16>, digest: Option<&str>) -> CheckKind {
        CheckKind::Http {
            tls: false,
            path: "/".into(),
            host: None,
            status,
            digest: digest.map(String::from),
        }
    }

    #[tokio::test]
    async fn http_status_digest_and_hangs() {
        let ok = server(Some("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc")).await;
        assert_eq!(probe(&spec(http(vec![], None), ok)).await, Ok(None));
        // md5("abc")
        let d = "900150983cd24fb0d6963f7d28e17f72";
        assert_eq!(probe(&spec(http(vec![200], Some(d)), ok)).await, Ok(None));
        let e = probe(&spec(http(vec![], Some("00")), ok))
            .await
            .unwrap_err();
        assert!(
            e.contains("body digest 900150983cd24fb0d6963f7d28e17f72"),
            "{e}"
        );

        let bad = server(Some("HTTP/1.1 503 Busy\r\n\r\n")).await;
        assert_eq!(
            probe(&spec(http(vec![], None), bad)).await,
            Err("HTTP status 503".into())
        );
        assert_eq!(probe(&spec(http(vec![503], None), bad)).await, Ok(None));

        let hung = server(None).await;
        let e = probe(&spec(http(vec![], None), hung)).await.unwrap_err();
        assert!(e.contains("no answer within 400 ms"), "{e}");
    }

    /// An IPv6 server is asked with its address bracketed in Host.
    #[tokio::test]
    async fn http_over_ipv6_brackets_the_host() {
        let Ok(l) = TcpListener::bind("[::1]:0").await else {
            eprintln!("no IPv6 loopback here: skipped");
            return;
        };
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        });
        assert_eq!(probe(&spec(http(vec![200], None), addr)).await, Ok(None));
        let req = rx.await.unwrap();
        assert!(req.contains("\r\nHost: [::1]\r\n"), "{req}");
    }

    #[tokio::test]
    async fn tcp_connect_refused_fails() {
        let up = server(Some("")).await;
        assert_eq!(probe(&spec(CheckKind::Tcp, up)).await, Ok(None));
        // A port nobody listens on: bind then drop to find one.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = probe(&spec(CheckKind::Tcp, free)).await.unwrap_err();
        assert!(e.contains("refused"), "{e}");
    }

    #[tokio::test]
    async fn misc_exit_codes_and_dynamic_weight() {
        let t: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let misc = |c: &str, dynamic| CheckKind::Misc {
            command: c.into(),
            dynamic,
        };
        assert_eq!(probe(&spec(misc("exit 0", false), t)).await, Ok(None));
        assert!(probe(&spec(misc("exit 1", false), t))
            .await
            .unwrap_err()
            .contains("exited with 1"));
        assert_eq!(probe(&spec(misc("exit 7", true), t)).await, Ok(Some(5)));
        let e = probe(&spec(misc("sleep 5", false), t)).await.unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
    }

    #[tokio::test]
    async fn udp_reply_or_icmp_error() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            loop {
                let (n, p) = echo.recv_from(&mut b).await.unwrap();
                echo.send_to(&b[..n], p).await.unwrap();
            }
        });
        let udp = |require_reply| CheckKind::Udp {
            payload: b"hi".to_vec(),
            require_reply,
        };
        assert_eq!(probe(&spec(udp(true), addr)).await, Ok(None));
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(
            probe(&spec(udp(false), closed)).await.is_err(),
            "port unreachable fails"
        );
        assert!(probe(&spec(udp(true), closed)).await.is_err());
    }

    #[tokio::test]
    async fn run_reports_transitions_only() {
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut s = spec(CheckKind::Tcp, free);
        s.fall = 2;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(crate::run(s, move |r| {
            let _ = tx.send(r);
        }));
        let r = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.health, crate::Health::Down);
        assert!(r.reason.unwrap().contains("refused"));
        task.abort();
    }

    #[tokio::test]
    async fn ssl_get_over_tls_with_a_self_signed_certificate() {
        use std::sync::Arc;
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nabc").await;
                    let _ = s.shutdown().await;
                });
            }
        });
        let https = |host: Option<&str>| CheckKind::Http {
            tls: true,
            path: "/".into(),
            host: host.map(String::from),
            status: vec![200],
            digest: Some("900150983cd24fb0d6963f7d28e17f72".into()),
        };
        assert_eq!(probe(&spec(https(Some("localhost")), addr)).await, Ok(None));
        assert_eq!(
            probe(&spec(https(None), addr)).await,
            Ok(None),
            "by IP, no SNI name"
        );
        // Plain HTTP to the TLS port is no valid answer.
        assert!(probe(&spec(http(vec![], None), addr)).await.is_err());
    }
}
