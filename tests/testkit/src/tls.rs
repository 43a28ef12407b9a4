//! HTTPS in tests: a certificate authority and a server certificate made at test time
//! ([`TestCa`]), written as PEM files for the server's `--tls-cert`/`--tls-key` and the
//! devices' `--ca-cert`; and a private NSS database trusting exactly that CA for
//! Chromium ([`ChromiumTrust`]), so browser tests open `https://localhost:<port>/` with
//! Chromium's default, secure settings (no certificate errors ignored).
//!
//! Start a server with it through [`crate::TestServer::start_tls`] or
//! [`crate::TestServer::start_tls_with`].
//!
//! ```no_run
//! # async fn example() {
//! use rapport_testkit::{Backend, ChromiumTrust, TestCa, TestServer};
//! let ca = TestCa::new();
//! let server = TestServer::start_tls(Backend::Sqlite, &ca).await.expect("server");
//! // server.url() is https://127.0.0.1:<port>; server.http trusts the CA.
//! let trust = ChromiumTrust::new(&ca);
//! // Start chromedriver with `HOME` set to `trust.home()` (the browser tests:
//! // `rapport_e2e::Browser::start_with_home(trust.home())`): the Chromium it starts
//! // reads `$HOME/.pki/nssdb` and trusts the test CA, and only it.
//! # let _ = (server, trust);
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// The names every [`TestCa`] server certificate is made out for.
pub const TLS_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A test certificate authority and a server certificate it signed (for
/// [`TLS_NAMES`] and any names given), as PEM files in a temporary folder that lives
/// as long as this value.
pub struct TestCa {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new CA and a server certificate for `127.0.0.1` and `localhost`.
    pub fn new() -> Self {
        Self::with_names(&[])
    }

    /// A new CA and a server certificate for `127.0.0.1`, `localhost` and `names`
    /// (DNS names or IP addresses).
    pub fn with_names(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the test certificates");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Тестовый УЦ Rapport");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "ООО «Ромашка» (тест)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA certificate");

        let mut all: Vec<String> = TLS_NAMES.iter().map(|n| (*n).to_owned()).collect();
        all.extend(names.iter().map(|n| (*n).to_owned()));
        let mut params = CertificateParams::new(all).expect("server certificate names");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &ca).expect("the server certificate");

        let ca_pem = ca.pem();
        write(dir.path(), "ca.pem", &ca_pem);
        write(dir.path(), "server.pem", &cert.pem());
        write(dir.path(), "server-key.pem", &key.serialize_pem());
        Self { dir, ca_pem }
    }

    /// The folder holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ca.pem`: the CA's certificate (what devices and browsers are told to trust).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `server.pem`: the server's certificate (for `--tls-cert`).
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// `server-key.pem`: the server certificate's private key, PKCS#8 (for `--tls-key`).
    pub fn key_pem(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// The CA's certificate as PEM text.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes a fresh private key that belongs to no certificate here, as `name` in the
    /// folder (for tests of a key that does not match the certificate); its path.
    pub fn write_unrelated_key(&self, name: &str) -> PathBuf {
        let key = KeyPair::generate().expect("a key");
        write(self.dir.path(), name, &key.serialize_pem())
    }

    /// An HTTP client that trusts this CA (besides the system's roots), verifying every
    /// certificate as usual.
    pub fn client(&self) -> reqwest::Client {
        let certs = reqwest::Certificate::from_pem_bundle(self.ca_pem.as_bytes())
            .expect("the CA certificate reads back");
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tls_certs_merge(certs)
            .build()
            .expect("an HTTP client trusting the test CA")
    }
}

/// Writes `contents` as `name` in `dir`; its path.
fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// A private home folder whose NSS database (`.pki/nssdb`, where Chromium on Linux looks
/// for trusted authorities) trusts exactly one CA for websites. Give it to the browser
/// by starting chromedriver (or Chromium) with `HOME` set to [`Self::home`]; the
/// folder is removed when this value is dropped. Needs `certutil` (Debian package
/// libnss3-tools, installed by tests/setup.sh).
pub struct ChromiumTrust {
    home: tempfile::TempDir,
}

impl ChromiumTrust {
    /// A new home folder trusting the CA of `ca` (nickname `rapport-test`).
    pub fn new(ca: &TestCa) -> Self {
        Self::trusting(&ca.ca_pem())
    }

    /// A new home folder trusting the CA certificate in the PEM file `ca_pem`.
    pub fn trusting(ca_pem: &Path) -> Self {
        let home = tempfile::tempdir().expect("a private home folder for the browser");
        let nssdb = home.path().join(".pki").join("nssdb");
        std::fs::create_dir_all(&nssdb).expect("the NSS database folder");
        let db = format!("sql:{}", nssdb.display());
        certutil(&["-d", &db, "-N", "--empty-password"]);
        let ca = ca_pem.to_str().expect("a UTF-8 path to the CA certificate");
        certutil(&["-d", &db, "-A", "-t", "C,,", "-n", "rapport-test", "-i", ca]);
        Self { home }
    }

    /// The home folder: set `HOME` to it for chromedriver/Chromium.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The NSS database folder inside it (`<home>/.pki/nssdb`).
    pub fn nssdb(&self) -> PathBuf {
        self.home.path().join(".pki").join("nssdb")
    }
}

/// Runs certutil; panics with its output (and how to install it) when it fails.
fn certutil(args: &[&str]) {
    let output = Command::new("certutil")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run certutil ({e}): install libnss3-tools (bash tests/setup.sh)")
        });
    assert!(
        output.status.success(),
        "certutil {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
