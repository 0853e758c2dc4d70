//! `as2-gateway serve` in process, on loopback: PartnerB's gateway (the sample
//! configuration `gateway/config/partner-b.toml`, with its state in SQLite) receives
//! from PartnerA's client over HTTP and HTTPS (a test CA made with `openssl`), answers a
//! resent message with the MDN it stored, still does after a restart, and holds a partner
//! to HTTP Basic credentials.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use as2_gateway::cli::ClientOptions;
use as2_gateway::config::GatewayConfig;
use as2_gateway::send::{ClientOutcome, send_with};
use as2_gateway::service::Service;
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::outbound;
use as2_proto::partner::PartnerDirectory;
use as2_proto::record::StatusCode;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The sample configuration `name` with `gateway` as its `[gateway]` section and
/// absolute key paths, written into `dir`.
fn config(dir: &Path, name: &str, gateway: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("gateway/config").join(name)).unwrap();
    let examples = root().join("examples");
    let text = text.replace("\"../../examples/", &format!("\"{}/", examples.display()));
    // Everything from the first [[certificates]] on is the partner configuration.
    let partners = &text[text.find("[[certificates]]").unwrap()..];
    let path = dir.join(name);
    std::fs::write(&path, format!("[gateway]\n{gateway}\n\n{partners}")).unwrap();
    path
}

fn b_gateway(dir: &Path, extra: &str) -> PathBuf {
    let data = dir.join("b-data");
    config(
        dir,
        "partner-b.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{extra}",
            data.display()
        ),
    )
}

async fn start(config: &Path) -> Service {
    as2_gateway::init_logging();
    Service::start(GatewayConfig::load(config).unwrap())
        .await
        .unwrap()
}

/// PartnerA's signed, encrypted, compressed message to PartnerB asking for a signed
/// synchronous MDN, built once (so that it can be resent byte for byte).
fn a_message() -> (HttpHeaders, Vec<u8>, String) {
    let a = GatewayConfig::load(&root().join("gateway/config/partner-a.toml")).unwrap();
    let connector = a.directory.connector("c-to-partner-b").unwrap();
    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();
    let now = SystemTime::now();
    let mut message = connector.outbound(&payload, now).unwrap();
    message.file_name = Some("po-4711.x12".into());
    let built = outbound::build(&message, now, &mut rand::rng()).unwrap();
    let id = built.message_id.bare().to_owned();
    (built.headers, built.body, id)
}

async fn post(url: &str, headers: &HttpHeaders, body: &[u8]) -> (u16, Vec<u8>) {
    let http = as2_gateway::http_client().unwrap();
    let response = as2_gateway::post(&http, url, headers, body.to_vec())
        .await
        .unwrap();
    (response.status, response.body)
}

fn processed(data: &Path, message_id: &str) -> Vec<String> {
    let dir = data.join("PartnerB/inbox/processed");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| n.contains(message_id) && n.ends_with(".x12"));
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_through_the_gateway_with_a_sync_mdn() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(&b_gateway(dir.path(), "")).await;
    let url = format!("http://{}/as2", b.http_addr.unwrap());

    let health = reqwest::get(format!("http://{}/healthz", b.http_addr.unwrap()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().contains("\"ok\""));

    // PartnerA's client (the `send` command's engine), with its own data directory.
    let a_config = GatewayConfig::load(&root().join("gateway/config/partner-a.toml")).unwrap();
    let options = ClientOptions {
        config: PathBuf::new(),
        connector: "c-to-partner-b".into(),
        file: root().join("examples/data/po-4711.x12"),
        data: dir.path().join("a-data"),
        url: Some(url),
        mdn: None,
        async_listen: None,
        async_url: None,
        content_type: None,
        timeout: Duration::from_secs(60),
        max_payload_size: None,
    };
    let ClientOutcome::Finished(f) = send_with(a_config.directory, &options).await.unwrap() else {
        panic!("a synchronous MDN was asked for");
    };
    assert_eq!(f.status, StatusCode::Completed, "{:?}", f.record);
    let data = dir.path().join("b-data");
    assert_eq!(processed(&data, &f.message_id).len(), 1);
    assert!(data.join(as2_gateway::STATE_FILE).is_file());
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_is_answered_with_the_stored_mdn_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = b_gateway(dir.path(), "");
    let data = dir.path().join("b-data");
    let (headers, body, message_id) = a_message();

    let b = start(&config).await;
    let url = format!("http://{}/as2", b.http_addr.unwrap());
    let (status, first) = post(&url, &headers, &body).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&first).contains("multipart/signed") || !first.is_empty());
    let (status, again) = post(&url, &headers, &body).await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "the stored MDN, byte for byte");
    assert_eq!(processed(&data, &message_id).len(), 1, "delivered once");

    // The duplicate history is in the SQLite file: a new process still has it.
    b.shutdown(Duration::from_secs(5)).await;
    let b = start(&config).await;
    let url = format!("http://{}/as2", b.http_addr.unwrap());
    let (status, after_restart) = post(&url, &headers, &body).await;
    assert_eq!(status, 200);
    assert_eq!(after_restart, first);
    assert_eq!(processed(&data, &message_id).len(), 1);

    // Another message is new.
    let (headers, body, other_id) = a_message();
    let (status, other) = post(&url, &headers, &body).await;
    assert_eq!(status, 200);
    assert_ne!(other, first);
    assert_eq!(processed(&data, &other_id).len(), 1);
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_of_an_agreement_with_basic_auth_must_present_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = b_gateway(
        dir.path(),
        "\n[[gateway.basic_auth]]\nagreement = \"a-from-partner-a\"\n\
         username = \"partner-a\"\npassword = \"s3cret\"",
    );
    let b = start(&config).await;
    let url = format!("http://{}/as2", b.http_addr.unwrap());
    let (mut headers, body, message_id) = a_message();
    let (status, _) = post(&url, &headers, &body).await;
    assert_eq!(status, 401);
    let mut wrong = headers.clone();
    wrong.push("Authorization", "Basic cGFydG5lci1hOndyb25n");
    assert_eq!(post(&url, &wrong, &body).await.0, 401);
    assert!(processed(&dir.path().join("b-data"), &message_id).is_empty());
    // partner-a:s3cret
    headers.push("Authorization", "Basic cGFydG5lci1hOnMzY3JldA==");
    assert_eq!(post(&url, &headers, &body).await.0, 200);
    assert_eq!(processed(&dir.path().join("b-data"), &message_id).len(), 1);
    b.shutdown(Duration::from_secs(5)).await;
}

/// A CA and a certificate for 127.0.0.1 it issued, made with `openssl`.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl on PATH");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_tls_1_2_and_1_3() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path());
    let config = b_gateway(
        dir.path(),
        &format!(
            "tls_listen = \"127.0.0.1:0\"\ntls_certificate = \"{}\"\ntls_private_key = \"{}\"",
            cert.display(),
            key.display()
        ),
    );
    let b = start(&config).await;
    let https = b.https_addr.unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let _ = as2_gateway::http_client().unwrap(); // installs the crypto provider
        let http = reqwest::Client::builder()
            .tls_certs_only([ca.clone()])
            .min_tls_version(version)
            .max_tls_version(version)
            .no_proxy()
            .build()
            .unwrap();
        let (headers, body, message_id) = a_message();
        let response = as2_gateway::post(&http, &format!("https://{https}/as2"), &headers, body)
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{version:?}");
        assert!(
            String::from_utf8_lossy(&response.body).contains("processed"),
            "{version:?}"
        );
        assert_eq!(processed(&dir.path().join("b-data"), &message_id).len(), 1);
        // /healthz answers over HTTPS too.
        let health = http
            .get(format!("https://{https}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    b.shutdown(Duration::from_secs(5)).await;
}
