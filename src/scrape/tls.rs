//! TLS for pages: which certificates a source trusts (the public roots, the OS store and its
//! `ca_file`), what the handshake showed (protocol, the certificate's issuer), and the
//! intermediate certificate a server forgot to send, fetched from its leaf's AIA `caIssuers`
//! URL the way browsers do and kept under the data directory.
//!
//! The verifier here wraps rustls's own (webpki): it decides nothing new except that a
//! certificate given in `ca_file` *is* trusted as the server's own certificate (a
//! self-signed one often says `CA:TRUE`, which webpki refuses for a server), still for the
//! right name only. Does I/O only in [`fetch_intermediate`] and the intermediate cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Largest intermediate certificate kbot downloads (real ones are 1–2 KB).
const MAX_INTERMEDIATE_BYTES: usize = 64 << 10;
/// Most intermediates kept in the cache directory (and read per fetch).
const MAX_CACHED: usize = 32;
/// Largest `ca_file` read.
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// What one fetch's handshakes showed: filled in by the verifier.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The server's own certificate, as last sent.
    pub leaf: Option<CertificateDer<'static>>,
    /// `TLS 1.2` or `TLS 1.3`, once the server's handshake signature was checked.
    pub protocol: Option<&'static str>,
}

/// The shared slot a verifier writes to.
pub type SeenSlot = Arc<Mutex<Seen>>;

/// Lock a slot even if a panicking thread poisoned it (the data is plain facts).
pub fn seen(slot: &SeenSlot) -> std::sync::MutexGuard<'_, Seen> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The certificates in a `ca_file`: PEM (one or more `CERTIFICATE` blocks) or one DER
/// certificate. Errors say what is wrong with the file, in words.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{} is not a certificate file (a regular file under 1 MiB)",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = certificates_in(&bytes);
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks or one DER certificate)",
            path.display()
        ));
    }
    Ok(certs)
}

/// PEM certificates in `bytes`, or `bytes` itself when it is one DER certificate.
fn certificates_in(bytes: &[u8]) -> Vec<CertificateDer<'static>> {
    let pem: Vec<_> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect();
    if !pem.is_empty() {
        return pem;
    }
    if x509_parser::parse_x509_certificate(bytes).is_ok() {
        return vec![CertificateDer::from(bytes.to_vec())];
    }
    Vec::new()
}

/// What kbot shows about a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// Who issued it (`CN=…, O=…`).
    pub issuer: String,
    /// Its AIA `caIssuers` URLs, where its issuer's certificate can be downloaded.
    pub ca_issuers: Vec<String>,
}

/// The issuer and AIA URLs of a DER certificate; `None` if it does not parse.
pub fn leaf_facts(der: &[u8]) -> Option<LeafFacts> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut ca_issuers = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for desc in aia.iter() {
                if desc.access_method
                    == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS
                    && let GeneralName::URI(uri) = desc.access_location
                {
                    ca_issuers.push(uri.to_string());
                }
            }
        }
    }
    Some(LeafFacts {
        issuer: cert.issuer().to_string(),
        ca_issuers,
    })
}

/// rustls's verifier, recording what it saw, with extra intermediates and the `ca_file`
/// certificates trusted as server certificates.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    extra: Vec<CertificateDer<'static>>,
    seen: SeenSlot,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        seen(&self.seen).leaf = Some(end_entity.clone().into_owned());
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            // The user named this very certificate in `ca_file`: trust it for its names.
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        if self.extra.is_empty() {
            return self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let mut all: Vec<CertificateDer<'_>> = intermediates.to_vec();
        all.extend(self.extra.iter().cloned());
        self.inner
            .verify_server_cert(end_entity, &all, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        seen(&self.seen).protocol = Some("TLS 1.2");
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        seen(&self.seen).protocol = Some("TLS 1.3");
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificates of the operating system's store (read once per process; none if it
/// cannot be read).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The rustls settings for one source: the public roots, the OS store and `extra_roots`
/// (its `ca_file`), `intermediates` offered beside the server's own, what it sees recorded in
/// `seen`.
pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
    intermediates: Vec<CertificateDer<'static>>,
    seen: SeenSlot,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // The OS store too: a company CA the user installed there is trusted like in a browser.
    roots.add_parsable_certificates(native_roots().iter().cloned());
    for cert in extra_roots {
        // A certificate that cannot be an anchor may still be pinned as the server's own.
        let _ = roots.add(cert.clone());
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("cannot set up certificate checks: {e}"))?;
    let verifier = Recording {
        inner,
        pinned: extra_roots.to_vec(),
        extra: intermediates,
        seen,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

// ─── Missing intermediates (AIA) ────────────────────────────────────────────────────────

static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Keep fetched intermediate certificates in `dir` (once per process; later calls are
/// ignored). Without it they are fetched per run and not kept.
pub fn keep_intermediates_in(dir: &Path) {
    let _ = CACHE_DIR.set(dir.to_path_buf());
}

/// FNV-1a of a URL: the cache's file name.
fn name_of(url: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in url.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}.der")
}

/// The intermediates kept from earlier fetches.
pub fn cached_intermediates() -> Vec<CertificateDer<'static>> {
    let Some(dir) = CACHE_DIR.get() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "der"))
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_INTERMEDIATE_BYTES as u64)
        })
        .take(MAX_CACHED)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter(|bytes| x509_parser::parse_x509_certificate(bytes).is_ok())
        .map(CertificateDer::from)
        .collect()
}

fn keep(url: &str, der: &[u8]) {
    let Some(dir) = CACHE_DIR.get() else {
        return;
    };
    let path = dir.join(name_of(url));
    let tmp = dir.join(format!("{}.{}.tmp", name_of(url), std::process::id()));
    let written = crate::ledger::create_private_dir(dir)
        .and_then(|()| std::fs::write(&tmp, der))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(
            "cannot keep the intermediate certificate in {}: {err}",
            dir.display()
        );
    }
}

/// Download the certificate at an AIA `caIssuers` URL (DER or PEM, at most 64 KiB, 10 s),
/// and keep it in the cache directory.
pub async fn fetch_intermediate(
    client: &reqwest::Client,
    url: &str,
) -> Result<CertificateDer<'static>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad AIA URL {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("the AIA URL {url} is not http(s)"));
    }
    let mut response = client
        .get(parsed)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("cannot download {url}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered HTTP {}", response.status()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("cannot download {url}: {}", e.without_url()))?
    {
        if bytes.len() + chunk.len() > MAX_INTERMEDIATE_BYTES {
            return Err(format!("{url} is larger than a certificate"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let cert = certificates_in(&bytes)
        .into_iter()
        .next()
        .ok_or_else(|| format!("{url} did not answer with a certificate"))?;
    keep(url, cert.as_ref());
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_in_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let err = load_ca_file(&path).expect_err("no certificate");
        assert!(err.contains("holds no certificate"), "{err}");
        let missing = load_ca_file(&dir.path().join("gone.pem")).expect_err("missing");
        assert!(missing.contains("cannot read"), "{missing}");
    }

    #[test]
    fn cache_names_are_stable_per_url() {
        assert_eq!(name_of("http://a/x.crt"), name_of("http://a/x.crt"));
        assert_ne!(name_of("http://a/x.crt"), name_of("http://a/y.crt"));
        assert!(name_of("http://a/x.crt").ends_with(".der"));
    }
}
