//! TLS of the hook port: the rustls configuration, the serving certificate (from files that may rotate, or
//! self-signed for a local run), client-certificate checking, and the `certs` command.
//!
//! Metacontroller reads the CompositeController's `caBundle` only when the CompositeController changes, so the
//! CA must live long while the serving certificate may rotate freely: cert-manager and Kubernetes Secret volumes
//! replace the files in place, and [`watch`] picks the new pair up for new connections.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tracing::{error, info};

use crate::metrics::Metrics;

/// How often [`watch`] looks at the certificate files. A poll works on every filesystem, including the symlink
/// swaps of Secret volumes that inotify reports poorly; each look is two `stat` calls, and the files are read
/// only when what those return changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The only crypto provider of the crate: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate and key files of the hook port, as given on the command line.
#[derive(Clone, Debug)]
pub struct PairFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl PairFiles {
    /// Read and check the pair. Errors name the flag to fix: `--tls-cert /x: no such file`.
    pub fn load(&self) -> Result<CertifiedKey, String> {
        self.load_watched().map(|(pair, _)| pair)
    }

    /// [`Self::load`], also returning what was read, for [`watch`] to compare the files with: a change made
    /// between loading and watching is then not missed.
    pub fn load_watched(&self) -> Result<(CertifiedKey, Snapshot), String> {
        let cert = read_file("--tls-cert", &self.cert)?;
        let key = read_file("--tls-key", &self.key)?;
        let pair = self.parse(&cert, &key)?;
        Ok((pair, Snapshot(Seen::Files(cert, key))))
    }

    fn parse(&self, cert: &[u8], key: &[u8]) -> Result<CertifiedKey, String> {
        let cert_flag = format!("--tls-cert {}", self.cert.display());
        let key_flag = format!("--tls-key {}", self.key.display());
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{cert_flag}: not a PEM certificate chain: {e}"))?;
        if chain.is_empty() {
            return Err(format!("{cert_flag}: no PEM certificate found"));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                format!("{key_flag}: no PEM private key found")
            }
            e => format!("{key_flag}: not a PEM private key: {e}"),
        })?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!("{key_flag} does not match {cert_flag}"),
            e => format!("{key_flag}: unusable with {cert_flag}: {e}"),
        })
    }
}

/// Read the PEM bundle of `--client-ca`: the CAs whose client certificates are accepted.
pub fn load_client_ca(path: &Path) -> Result<RootCertStore, String> {
    let flag = format!("--client-ca {}", path.display());
    let pem = read_file("--client-ca", path)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{flag}: not a PEM certificate bundle: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{flag}: not a usable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{flag}: no PEM certificate found"));
    }
    Ok(roots)
}

fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{flag} {}: no such file", path.display()),
        _ => format!("{flag} {}: {e}", path.display()),
    })
}

/// A certificate for `localhost` and `127.0.0.1`, made now, for a local run without certificate files.
pub fn self_signed() -> Result<CertifiedKey, String> {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| format!("making a self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    CertifiedKey::from_der(vec![made.cert.der().clone()], key, &provider())
        .map_err(|e| format!("making a self-signed certificate: {e}"))
}

/// The serving certificate in use, swapped whole when the files change; each handshake takes the current one,
/// so established connections keep theirs and new connections get the new one.
pub struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloading {
    pub fn new(pair: CertifiedKey) -> Self {
        Self {
            current: RwLock::new(Arc::new(pair)),
        }
    }

    fn set(&self, pair: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
    }
}

impl fmt::Debug for Reloading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The contents of the certificate files as last read.
pub struct Snapshot(Seen);

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Snapshot(..)")
    }
}

/// What [`watch`] last read: the same bytes are never loaded, logged or counted twice.
#[derive(PartialEq, Eq)]
enum Seen {
    Files(Vec<u8>, Vec<u8>),
    Unreadable(String),
}

/// What identifies a file's contents without reading it, after following symlinks (a Secret volume's `..data`
/// swap gives a new inode): device, inode, size, and modification and change times to the nanosecond.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

fn look(files: &PairFiles) -> Seen {
    match (
        read_file("--tls-cert", &files.cert),
        read_file("--tls-key", &files.key),
    ) {
        (Ok(cert), Ok(key)) => Seen::Files(cert, key),
        (Err(e), _) | (_, Err(e)) => Seen::Unreadable(e),
    }
}

/// Poll `files` every [`RELOAD_INTERVAL`] for ever; when their stamps change, read them, and when their
/// contents differ from `loaded` (what `resolver` holds) or from the last look, load the new pair into
/// `resolver`. A pair that does not load (half-written, mismatched, missing) leaves the previous one in use, is
/// logged as an error and counted in `tls_reload_failures`, and is retried when the files change again.
pub async fn watch(
    files: PairFiles,
    loaded: Snapshot,
    resolver: Arc<Reloading>,
    metrics: Arc<Metrics>,
) {
    let Snapshot(mut last) = loaded;
    // None at first, so that the first tick reads the files: a change made between loading and watching
    // is not missed.
    let mut last_stamps: Option<(Stamp, Stamp)> = None;
    let mut ticks = tokio::time::interval(RELOAD_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Two `stat` calls on local files take microseconds: made on this task, not the blocking pool,
        // so that an idle server does not wake a thread every second (issue 22).
        let stamps = Some((stamp(&files.cert), stamp(&files.key)));
        if stamps == last_stamps {
            continue;
        }
        last_stamps = stamps;
        let files = files.clone();
        let (seen, files) = match tokio::task::spawn_blocking(move || (look(&files), files)).await {
            Ok(looked) => looked,
            Err(e) => {
                error!(error = %e, "reading the certificate files failed");
                continue;
            }
        };
        if seen == last {
            continue;
        }
        let loaded = match &seen {
            Seen::Files(cert, key) => files.parse(cert, key),
            Seen::Unreadable(e) => Err(e.clone()),
        };
        match loaded {
            Ok(pair) => {
                resolver.set(pair);
                metrics.tls_reloads.inc();
                info!(cert = %files.cert.display(), "serving certificate reloaded");
            }
            Err(e) => {
                metrics.tls_reload_failures.inc();
                error!(error = %e, "changed certificate files do not load; the previous certificate stays in use");
            }
        }
        last = seen;
    }
}

/// The hook port's TLS: TLS 1.2 and 1.3 only, ALPN `h2` then `http/1.1`, the certificate from `resolver`, and
/// client certificates required (and verified against `client_ca`) when it is given.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    client_ca: Option<RootCertStore>,
) -> Result<ServerConfig, String> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match client_ca {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("--client-ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Arguments of `certs`.
#[derive(clap::Args, Debug)]
pub struct CertsArgs {
    /// Directory to write `ca.crt`, `tls.crt` and `tls.key` into (created if missing; existing files are
    /// replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A DNS name or IP address of the serving certificate; repeat for several. For the in-cluster Service use
    /// `NAME.NAMESPACE` (what Metacontroller calls) and `NAME.NAMESPACE.svc`.
    #[arg(long = "dns", value_name = "NAME", required = true)]
    pub dns: Vec<String>,
    /// Days the CA is valid. It goes into the CompositeController's `caBundle`, read only when that changes.
    #[arg(long, value_name = "DAYS", default_value_t = 3650)]
    pub ca_days: u32,
    /// Days the serving certificate is valid.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub days: u32,
}

/// `certs`: write a new CA (`ca.crt`) and a serving certificate signed by it (`tls.crt`, `tls.key`, the key
/// readable by its owner only). The CA's key is not kept: to renew, run again and update the `caBundle`, or let
/// cert-manager issue the serving certificate.
pub fn write_certs(args: &CertsArgs) -> Result<(), String> {
    crate::logging::init_cli();
    let CertsArgs {
        out,
        dns,
        ca_days,
        days,
    } = args;
    let (ca_pem, cert_pem, key_pem) = issue(dns, *ca_days, *days)?;
    fs::create_dir_all(out).map_err(|e| format!("--out {}: {e}", out.display()))?;
    write(&out.join("ca.crt"), ca_pem.as_bytes(), 0o644)?;
    write(&out.join("tls.crt"), cert_pem.as_bytes(), 0o644)?;
    write(&out.join("tls.key"), key_pem.as_bytes(), 0o600)?;
    eprintln!(
        "wrote ca.crt, tls.crt and tls.key to {} (serving certificate for {})",
        out.display(),
        dns.join(", ")
    );
    Ok(())
}

/// A CA and a serving certificate for `names` signed by it, as PEM: `(ca.crt, tls.crt, tls.key)`.
fn issue(names: &[String], ca_days: u32, days: u32) -> Result<(String, String, String), String> {
    let now = time::OffsetDateTime::now_utc();
    // An hour back, for clocks a little behind ours.
    let not_before = now - time::Duration::hours(1);

    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "prometheus-replica-operator CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = now + time::Duration::days(i64::from(ca_days));
    let ca_key = KeyPair::generate().map_err(|e| format!("making the CA key: {e}"))?;
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(|e| format!("making the CA: {e}"))?;

    let mut leaf = CertificateParams::new(names.to_vec()).map_err(|e| format!("--dns: {e}"))?;
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, names.first().map_or("", String::as_str));
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = now + time::Duration::days(i64::from(days));
    let leaf_key = KeyPair::generate().map_err(|e| format!("making the serving key: {e}"))?;
    let leaf = leaf
        .signed_by(&leaf_key, &ca)
        .map_err(|e| format!("signing the serving certificate: {e}"))?;

    Ok((ca.pem(), leaf.pem(), leaf_key.serialize_pem()))
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let fail = |e: io::Error| format!("--out: writing {}: {e}", path.display());
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> PairFiles {
        PairFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    fn certs_into(dir: &Path, names: &[&str]) {
        write_certs(&CertsArgs {
            out: dir.to_path_buf(),
            dns: names.iter().map(|n| (*n).to_owned()).collect(),
            ca_days: 3650,
            days: 365,
        })
        .expect("certs are written");
    }

    #[test]
    fn certs_output_loads_as_a_serving_pair() {
        let dir = tempfile::tempdir().expect("temp dir");
        certs_into(
            dir.path(),
            &["hook.monitoring", "hook.monitoring.svc", "127.0.0.1"],
        );
        files(dir.path()).load().expect("the pair loads");
        let roots = load_client_ca(&dir.path().join("ca.crt")).expect("the CA loads");
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn certs_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        certs_into(dir.path(), &["localhost"]);
        let mode = fs::metadata(dir.path().join("tls.key"))
            .expect("key written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn missing_cert_file_is_an_error_naming_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = files(dir.path()).load().expect_err("no files");
        assert!(
            err.starts_with("--tls-cert ") && err.ends_with(": no such file"),
            "{err}"
        );
    }

    #[test]
    fn mismatched_pair_is_an_error_naming_both_flags() {
        let (a, b) = (
            tempfile::tempdir().expect("temp dir"),
            tempfile::tempdir().expect("temp dir"),
        );
        certs_into(a.path(), &["localhost"]);
        certs_into(b.path(), &["localhost"]);
        let pair = PairFiles {
            cert: a.path().join("tls.crt"),
            key: b.path().join("tls.key"),
        };
        let err = pair.load().expect_err("keys differ");
        assert!(
            err.contains("--tls-key") && err.contains("does not match --tls-cert"),
            "{err}"
        );
    }

    #[test]
    fn garbage_key_is_an_error_naming_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        certs_into(dir.path(), &["localhost"]);
        fs::write(
            dir.path().join("tls.key"),
            "-----BEGIN PRIVATE KEY-----\nnot base64\n",
        )
        .expect("write");
        let err = files(dir.path()).load().expect_err("broken key");
        assert!(err.starts_with("--tls-key "), "{err}");
    }

    #[test]
    fn self_signed_certificate_is_made() {
        let pair = self_signed().expect("made");
        assert_eq!(pair.cert.len(), 1);
    }

    #[tokio::test]
    async fn watch_swaps_in_a_changed_pair_and_keeps_the_old_one_when_broken() {
        let (live, next) = (
            tempfile::tempdir().expect("temp dir"),
            tempfile::tempdir().expect("temp dir"),
        );
        certs_into(live.path(), &["localhost"]);
        certs_into(next.path(), &["localhost"]);
        let (first, loaded) = files(live.path()).load_watched().expect("loads");
        let resolver = Arc::new(Reloading::new(first));
        let metrics = Arc::new(Metrics::new());
        let current = || resolver.current.read().expect("not poisoned").cert[0].clone();
        let original = current();
        let task = tokio::spawn(watch(
            files(live.path()),
            loaded,
            resolver.clone(),
            metrics.clone(),
        ));

        // Broken key: the previous pair stays, and one failure is counted however often it is seen.
        fs::write(live.path().join("tls.key"), "broken").expect("write");
        settle(|| metrics.tls_reload_failures.get() == 1).await;
        tokio::time::sleep(RELOAD_INTERVAL * 3).await;
        assert_eq!(metrics.tls_reload_failures.get(), 1);
        assert_eq!(current(), original);

        // A good new pair is taken.
        for name in ["tls.crt", "tls.key"] {
            fs::copy(next.path().join(name), live.path().join(name)).expect("copy");
        }
        settle(|| {
            eprintln!(
                "{} {}",
                metrics.tls_reloads.get(),
                metrics.tls_reload_failures.get()
            );
            metrics.tls_reloads.get() == 1
        })
        .await;
        assert_ne!(current(), original);
        task.abort();
    }

    /// Wait (up to a generous minute) until `done`.
    async fn settle(done: impl Fn() -> bool) {
        for _ in 0..600 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("condition not reached within a minute");
    }
}
