//! The README's "Getting started" programs (`examples/sender.rs`, `examples/receiver.rs`)
//! run as a new user runs them, in a scratch copy of `examples/pki` and `examples/data`:
//! the payload arrives intact and the signed MDN verifies; a damaged body and a partner
//! certificate that does not chain to the CA are refused with an error MDN and no payload.

use std::path::{Path, PathBuf};
use std::process::Command;

use as2_proto::mdn::{self, MdnStatus, MicCheck, SentMessage};
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::{Certificate, Limits, Modifier, PrivateKey};

/// The built example `name` (both are built once, so that `cargo test --test
/// getting_started` never runs stale binaries).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "sender", "--example", "receiver"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example");
        assert!(status.success(), "cargo build of the examples failed");
    });
    let bin = debug
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

/// Runs an example in `dir`; returns its stdout.
fn run(dir: &Path, name: &str) -> String {
    let out = Command::new(example(name))
        .current_dir(dir)
        .output()
        .expect("run example");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory with `examples/pki` and `examples/data` copied in.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["pki/ca", "pki/PartnerA", "pki/PartnerB", "data"] {
        let from = root.join("examples").join(sub);
        let to = dir.path().join("examples").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap().path();
            std::fs::copy(&entry, to.join(entry.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn pem(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join("examples/pki").join(name)).unwrap()
}

/// The MDN the receiver wrote, parsed and verified as the sender would: signed by
/// PartnerB, for the message sent, with `mic` when given.
fn verdict(dir: &Path, mic: Option<as2_proto::mic::Mic>) -> mdn::Verdict {
    let out = dir.join("target/as2");
    let sent: HttpHeaders =
        serde_json::from_slice(&std::fs::read(out.join("headers.json")).unwrap()).unwrap();
    let headers: HttpHeaders =
        serde_json::from_slice(&std::fs::read(out.join("mdn-headers.json")).unwrap()).unwrap();
    let body = std::fs::read(out.join("mdn-body.bin")).unwrap();
    let limits = Limits::default();
    let receipt = mdn::parse(&headers, &body, &limits).unwrap();
    let id = as2_proto::message::headers::MessageId::parse(sent.get("Message-ID").unwrap());
    let partner = Certificate::from_pem(&pem(dir, "PartnerB/sign.crt")).unwrap();
    let sent = SentMessage::new(id.unwrap(), "PartnerB".parse().unwrap(), vec![partner], mic);
    receipt.verify(&sent, &limits).unwrap()
}

#[test]
fn sender_and_receiver_exchange_a_file_and_a_signed_mdn() {
    let dir = scratch();
    assert_eq!(run(dir.path(), "sender"), "");
    let out = dir.path().join("target/as2");
    let headers: HttpHeaders =
        serde_json::from_slice(&std::fs::read(out.join("headers.json")).unwrap()).unwrap();
    assert_eq!(headers.get_str("AS2-From"), Some("PartnerA"));
    assert!(
        headers
            .get_str("Disposition-Notification-Options")
            .unwrap()
            .contains("pkcs7-signature")
    );
    // The MIC the receiver must return, computed here as a second receiver would.
    let body = std::fs::read(out.join("body.bin")).unwrap();
    let limits = Limits::default();
    let incoming = inbound::handle(&headers, &body, &limits).unwrap();
    let keys = [(
        Certificate::from_pem(&pem(dir.path(), "PartnerB/enc.crt")).unwrap(),
        PrivateKey::from_pem(&pem(dir.path(), "PartnerB/enc.key"), None).unwrap(),
    )];
    let partner = [Certificate::from_pem(&pem(dir.path(), "PartnerA/sign.crt")).unwrap()];
    let policy = InboundPolicy::new(&keys, &partner, &limits);
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rand::rng())
        .unwrap();

    let printed = run(dir.path(), "receiver");
    assert_eq!(
        printed.trim(),
        "automatic-action/MDN-sent-automatically; processed"
    );
    let payload = std::fs::read(out.join("payload.bin")).unwrap();
    let original = std::fs::read(dir.path().join("examples/data/po-4711.x12")).unwrap();
    assert_eq!(payload, original);
    let verdict = verdict(dir.path(), received.mic);
    assert!(
        verdict.is_success() && verdict.is_authentic(),
        "{verdict:?}"
    );
    assert_eq!(verdict.mic, MicCheck::Matched);
}

#[test]
fn the_receiver_refuses_a_damaged_message() {
    let dir = scratch();
    run(dir.path(), "sender");
    let out = dir.path().join("target/as2");
    let mut body = std::fs::read(out.join("body.bin")).unwrap();
    let middle = body.len() / 2;
    body[middle] ^= 0x01;
    std::fs::write(out.join("body.bin"), &body).unwrap();
    let printed = run(dir.path(), "receiver");
    assert!(
        printed.contains("processed/Error: decryption-failed"),
        "{printed}"
    );
    assert!(!out.join("payload.bin").exists());
    let verdict = verdict(dir.path(), None);
    assert_eq!(verdict.status, MdnStatus::Error(Modifier::DecryptionFailed));
    assert!(verdict.is_authentic());
}

#[test]
fn the_receiver_refuses_a_partner_outside_its_ca() {
    let dir = scratch();
    run(dir.path(), "sender");
    // Another trust anchor: PartnerA's certificate no longer chains to it.
    let other_ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys/doc.crt");
    std::fs::copy(other_ca, dir.path().join("examples/pki/ca/ca.crt")).unwrap();
    let printed = run(dir.path(), "receiver");
    assert!(
        printed.contains("processed/Error: authentication-failed"),
        "{printed}"
    );
    assert!(!dir.path().join("target/as2/payload.bin").exists());
    let verdict = verdict(dir.path(), None);
    assert!(!verdict.is_success());
}

/// The README shows both programs as they are, with their line counts (everything but
/// the leading `//!` comment), and they stay within 20 and 40 lines.
#[test]
fn the_readme_shows_the_examples_as_they_are() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for (name, most) in [("sender", 20), ("receiver", 40)] {
        let source = std::fs::read_to_string(root.join(format!("examples/{name}.rs"))).unwrap();
        let code: Vec<&str> = source
            .lines()
            .skip_while(|l| l.starts_with("//!"))
            .collect();
        assert!(code.len() <= most, "{name}: {} lines", code.len());
        let block = format!("```rust\n{}\n```", code.join("\n"));
        assert!(
            readme.contains(&block),
            "README lacks examples/{name}.rs as it is"
        );
        let count = format!("({} lines, `examples/{name}.rs`)", code.len());
        assert!(readme.contains(&count), "README lacks {count:?}");
    }
}
