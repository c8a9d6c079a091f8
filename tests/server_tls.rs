//! The real binary's TLS: `certs` output, verification, rotation, client certificates, versions.

mod server_support;

use std::path::Path;
use std::time::Instant;

use hyper::http::StatusCode;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use server_support::*;

fn flag(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

async fn sync(
    server: &Server,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> Result<Answer, String> {
    send(server.hook, config, post("/sync", EXAMPLE))
        .await
        .map_err(|e| e.to_string())
}

fn assert_ok(answer: &Result<Answer, String>) {
    match answer {
        Ok(answer) => assert_eq!(answer.status, StatusCode::OK, "{}", answer.text()),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Replace `name` in `dir` by the file of `from`, atomically, as a Secret volume's symlink swap does.
fn replace(dir: &Path, from: &Path, name: &str) {
    let staged = dir.join(format!(".{name}.new"));
    std::fs::copy(from.join(name), &staged).expect("copy");
    std::fs::rename(&staged, dir.join(name)).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_output_serves_tls_that_verifies_against_its_ca() {
    let dir = temp_dir();
    certs(dir.path(), &["localhost", "127.0.0.1"]);
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let server = Server::start(&[
        "--tls-cert",
        flag(&dir.path().join("tls.crt")),
        "--tls-key",
        flag(&dir.path().join("tls.key")),
    ]);
    let ca = dir.path().join("ca.crt");
    assert_ok(&sync(&server, client(Trust::Ca(&ca), &["h2"], None)).await);
    assert_ok(&sync(&server, client(Trust::Ca(&ca), &["http/1.1"], None)).await);

    // A client trusting another CA refuses the server.
    let other = temp_dir();
    certs(other.path(), &["localhost"]);
    let refused = sync(
        &server,
        client(Trust::Ca(&other.path().join("ca.crt")), &["h2"], None),
    )
    .await;
    assert!(refused.is_err(), "verified against the wrong CA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_are_both_accepted() {
    let server = Server::start(&[]);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client_versions(Trust::Anything, &["h2"], None, &[version]);
        assert_ok(&sync(&server, config).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_is_served_to_new_connections() {
    let (live, next) = (temp_dir(), temp_dir());
    certs(live.path(), &["localhost"]);
    certs(next.path(), &["localhost"]);
    let server = Server::start(&[
        "--tls-cert",
        flag(&live.path().join("tls.crt")),
        "--tls-key",
        flag(&live.path().join("tls.key")),
    ]);
    let (old_ca, new_ca) = (live.path().join("ca.crt"), next.path().join("ca.crt"));
    assert_ok(&sync(&server, client(Trust::Ca(&old_ca), &["h2"], None)).await);
    assert!(
        sync(&server, client(Trust::Ca(&new_ca), &["h2"], None))
            .await
            .is_err()
    );

    replace(live.path(), next.path(), "tls.key");
    replace(live.path(), next.path(), "tls.crt");

    let deadline = Instant::now() + PATIENCE;
    while sync(&server, client(Trust::Ca(&new_ca), &["h2"], None))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        sync(&server, client(Trust::Ca(&old_ca), &["h2"], None))
            .await
            .is_err()
    );
    assert!(
        server
            .metric("prometheus_replica_operator_tls_reloads_total")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_rotated_key_keeps_the_previous_certificate() {
    let dir = temp_dir();
    certs(dir.path(), &["localhost"]);
    let server = Server::start(&[
        "--tls-cert",
        flag(&dir.path().join("tls.crt")),
        "--tls-key",
        flag(&dir.path().join("tls.key")),
    ]);
    std::fs::write(
        dir.path().join("tls.key"),
        "-----BEGIN PRIVATE KEY-----\nhalf-writ",
    )
    .expect("write");
    server
        .wait_for_metric(
            "prometheus_replica_operator_tls_reload_failures_total",
            |n| n >= 1.0,
        )
        .await;
    assert_ok(
        &sync(
            &server,
            client(Trust::Ca(&dir.path().join("ca.crt")), &["h2"], None),
        )
        .await,
    );
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains("--tls-key")),
        "no error logged"
    );
}

/// A CA (PEM) and a client certificate it signed.
fn client_ca() -> (String, Identity) {
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let mut leaf = CertificateParams::new(vec!["metacontroller".to_owned()]).expect("params");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca).expect("signed");
    let identity = Identity {
        chain: cert.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    };
    (ca.pem(), identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_a_trusted_certificate() {
    let dir = temp_dir();
    let (ca_pem, identity) = client_ca();
    let (_, stranger) = client_ca();
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, ca_pem).expect("write");
    let server = Server::start(&["--client-ca", flag(&ca_file)]);

    for alpn in ["h2", "http/1.1"] {
        let without = sync(&server, client(Trust::Anything, &[alpn], None)).await;
        assert!(
            without.is_err(),
            "{alpn}: served without a client certificate"
        );
        let untrusted = sync(&server, client(Trust::Anything, &[alpn], Some(&stranger))).await;
        assert!(
            untrusted.is_err(),
            "{alpn}: served a certificate of another CA"
        );
        assert_ok(&sync(&server, client(Trust::Anything, &[alpn], Some(&identity))).await);
    }
    assert!(
        server
            .metric("prometheus_replica_operator_tls_handshake_failures_total")
            .await
            >= 4.0
    );
}
