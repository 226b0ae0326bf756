//! TLS termination with rustls, from HAProxy's `crt` file: one PEM with the
//! certificate chain and its private key.

use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use xlb_model::proxy::TlsDef;

/// The acceptor for a bind's `ssl crt FILE [alpn LIST]`; the error says
/// what is wrong with the file.
pub fn acceptor(t: &TlsDef) -> Result<TlsAcceptor, String> {
    let pem = std::fs::read(&t.crt)
        .map_err(|e| format!("cannot read the certificate {}: {e}", t.crt.display()))?;
    let mut certs = Vec::new();
    let mut key = None;
    for item in rustls_pemfile::read_all(&mut pem.as_slice()) {
        match item {
            Ok(rustls_pemfile::Item::X509Certificate(c)) => certs.push(c),
            Ok(rustls_pemfile::Item::Pkcs8Key(k)) => key = Some(k.into()),
            Ok(rustls_pemfile::Item::Pkcs1Key(k)) => key = Some(k.into()),
            Ok(rustls_pemfile::Item::Sec1Key(k)) => key = Some(k.into()),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: not a PEM file: {e}", t.crt.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate; HAProxy's crt is one PEM with the chain and the key",
            t.crt.display()
        ));
    }
    let Some(key) = key else {
        return Err(format!(
            "{} holds no private key; append the key to the certificate, as HAProxy's crt takes it",
            t.crt.display()
        ));
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", t.crt.display()))?;
    cfg.alpn_protocols = t.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}
