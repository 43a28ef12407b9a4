//! HTTPS served by the server itself: the certificate and key files read and checked at
//! start (every problem named with its file and what to fix), and a listener that does
//! the TLS handshakes so the same router and graceful shutdown serve both schemes.
//!
//! The crypto provider is aws-lc-rs, the one the devices' HTTP client compiles in
//! already; it is named explicitly, so no process-wide default has to be installed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest wait for a client's TLS handshake; a client that stalls is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// The certificate chain and private key files HTTPS is served with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file with the certificate chain (the server's certificate first).
    pub cert: PathBuf,
    /// PEM file with the certificate's private key.
    pub key: PathBuf,
}

/// Why HTTPS cannot be served as configured; each says which file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate without a key.
    #[error(
        "a TLS certificate ({0}) is given without its private key: give the key too with --tls-key (or RAPPORT_TLS_KEY, or tls_key in the configuration file), or neither to serve plain HTTP"
    )]
    CertWithoutKey(PathBuf),
    /// A key without a certificate.
    #[error(
        "a TLS private key ({0}) is given without its certificate: give the certificate too with --tls-cert (or RAPPORT_TLS_CERT, or tls_cert in the configuration file), or neither to serve plain HTTP"
    )]
    KeyWithoutCert(PathBuf),
    /// A file cannot be read.
    #[error(
        "cannot read the TLS {what} file {path}: {source}; check the path and that the server may read it"
    )]
    Read {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not PEM text.
    #[error(
        "the TLS {what} file {path} is not a PEM file ({detail}): give the {what} as PEM text, the blocks that start with -----BEGIN"
    )]
    NotPem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The certificate file holds no certificate.
    #[error(
        "the TLS certificate file {path} holds no certificate (no -----BEGIN CERTIFICATE----- block{found}): give the server's certificate chain with --tls-cert"
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What it holds instead, if anything known.
        found: String,
    },
    /// The key file holds no private key.
    #[error(
        "the TLS private key file {path} holds no private key (no -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block{found}): give the certificate's private key with --tls-key"
    )]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What it holds instead, if anything known.
        found: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the private key in {key} does not belong to the certificate in {cert}: give the key the certificate was made for"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refuses the pair for another reason (an unsupported key type, …).
    #[error(
        "the TLS certificate {cert} and private key {key} cannot be used ({reason}); give an RSA, ECDSA or Ed25519 key and its certificate"
    )]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

impl TlsFiles {
    /// Both files, neither (plain HTTP: `None`), or an error naming the one missing.
    pub fn pair(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Self>, TlsError> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (Some(cert), None) => Err(TlsError::CertWithoutKey(cert)),
            (None, Some(key)) => Err(TlsError::KeyWithoutCert(key)),
        }
    }

    /// Reads and checks both files: a server configuration ready to serve, or what to fix.
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let certs = read_sections(&self.cert, "certificate")?;
        let chain: Vec<CertificateDer<'static>> = certs
            .iter()
            .filter(|(kind, _)| *kind == SectionKind::Certificate)
            .map(|(_, der)| CertificateDer::from(der.clone()))
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: self.cert.clone(),
                found: found(&certs),
            });
        }
        let keys = read_sections(&self.key, "private key")?;
        let key = keys
            .iter()
            .find_map(|(kind, der)| private_key(*kind, der))
            .ok_or_else(|| TlsError::NoKey {
                path: self.key.clone(),
                found: found(&keys),
            })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.unusable(e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    TlsError::KeyMismatch {
                        cert: self.cert.clone(),
                        key: self.key.clone(),
                    }
                }
                other => self.unusable(other),
            })?;
        let mut config = config;
        // The server speaks HTTP/1.1 (axum is built without HTTP/2).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    fn unusable(&self, e: rustls::Error) -> TlsError {
        TlsError::Unusable {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: e.to_string(),
        }
    }
}

/// Every PEM block of a file, or why it is not a PEM file.
fn read_sections(path: &Path, what: &'static str) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    let not_pem = |detail: String| TlsError::NotPem {
        what,
        path: path.to_owned(),
        detail,
    };
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(e.to_string()))?;
    if sections.is_empty() {
        let detail = if bytes.is_empty() {
            "the file is empty".to_owned()
        } else {
            "no -----BEGIN block in it".to_owned()
        };
        return Err(not_pem(detail));
    }
    Ok(sections)
}

/// The key of a PEM block, if it is one.
fn private_key(kind: SectionKind, der: &[u8]) -> Option<PrivateKeyDer<'static>> {
    let der = der.to_vec();
    match kind {
        SectionKind::PrivateKey => Some(PrivatePkcs8KeyDer::from(der).into()),
        SectionKind::RsaPrivateKey => Some(PrivatePkcs1KeyDer::from(der).into()),
        SectionKind::EcPrivateKey => Some(PrivateSec1KeyDer::from(der).into()),
        _ => None,
    }
}

/// What a file holds instead, for the error message (", only a private key").
fn found(sections: &[(SectionKind, Vec<u8>)]) -> String {
    let has = |k: SectionKind| sections.iter().any(|(kind, _)| *kind == k);
    if has(SectionKind::Certificate) {
        "; it holds a certificate: are the certificate and key files swapped?".to_owned()
    } else if [
        SectionKind::PrivateKey,
        SectionKind::RsaPrivateKey,
        SectionKind::EcPrivateKey,
    ]
    .into_iter()
    .any(has)
    {
        "; it holds a private key: are the certificate and key files swapped?".to_owned()
    } else {
        String::new()
    }
}

/// A TCP listener whose connections come out TLS-terminated. Handshakes run
/// concurrently (a slow client holds up no one) and are bounded in time and number;
/// a failed handshake is logged and dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serves `config` on connections accepted by `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((stream, peer)) => self.handshake(stream, peer),
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum's own
                        // listener does, instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
