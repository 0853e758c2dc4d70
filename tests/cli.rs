//! The `as2` CLI example (`examples/as2.rs`) and its file contract: send, receive and
//! verify-mdn between PartnerA and PartnerB (keys in `examples/pki`), rejections with their
//! exit codes, duplicates, and (ignored by default; run in CI) the same contract against
//! pyas2lib's `tests/pyas2lib/peer.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The built example, building it if `cargo test --test cli` ran without examples.
fn as2() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    let bin = debug
        .join("examples")
        .join(format!("as2{}", std::env::consts::EXE_SUFFIX));
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "as2"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example as2");
        assert!(status.success(), "cargo build --example as2 failed");
    });
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

/// Runs `as2 args...`; returns the exit code and stderr.
fn run(args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = run_out(args);
    (code, stderr)
}

/// Runs `as2 args...`; returns the exit code, stdout and stderr.
fn run_out(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(as2()).args(args).output().expect("run as2");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pki() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/pki")
        .to_string_lossy()
        .into_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("JSON")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PAYLOAD: &[u8] = b"ISA*00*          *00*          *ZZ*PARTNERA       *ZZ*PARTNERB       ~\r\nIEA*1*000000001~\r\n";

/// `as2 send` from PartnerA to PartnerB with `extra` options into `dir/sent`.
fn send(dir: &Path, extra: &[&str]) -> (PathBuf, Value) {
    let payload = dir.join("po.x12");
    std::fs::write(&payload, PAYLOAD).unwrap();
    let out = dir.join("sent");
    let pki = pki();
    let mut args = vec![
        "send",
        "--pki",
        &pki,
        "--from",
        "PartnerA",
        "--to",
        "PartnerB",
        "--payload",
        s(&payload),
        "--out",
        s(&out),
        "--content-type",
        "application/EDI-X12",
    ];
    args.extend_from_slice(extra);
    let (code, stderr) = run(&args);
    assert_eq!(code, 0, "send {extra:?}: {stderr}");
    let meta = json(&out.join("meta.json"));
    (out, meta)
}

/// `as2 receive` of `sent` into `dir/name`.
fn receive(dir: &Path, sent: &Path, name: &str, extra: &[&str]) -> (i32, PathBuf, Value) {
    let out = dir.join(name);
    let pki = pki();
    let (headers, body) = (sent.join("headers.json"), sent.join("body.bin"));
    let mut args = vec![
        "receive",
        "--headers",
        s(&headers),
        "--body",
        s(&body),
        "--pki",
        &pki,
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let (code, stderr) = run(&args);
    assert!(code == 0 || code == 1, "receive crashed ({code}): {stderr}");
    let result = json(&out.join("result.json"));
    (code, out, result)
}

/// `as2 verify-mdn` of the MDN under `received/mdn` for a message sent to PartnerB.
fn verify_mdn(received: &Path, extra: &[&str]) -> (i32, Value) {
    verify_mdn_in(&pki(), received, "PartnerB", extra)
}

/// `as2 verify-mdn --pki pki --partner partner` of the MDN under `received/mdn`.
fn verify_mdn_in(pki: &str, received: &Path, partner: &str, extra: &[&str]) -> (i32, Value) {
    let report = received.join("mdn-report.json");
    let (headers, body) = (
        received.join("mdn/headers.json"),
        received.join("mdn/body.bin"),
    );
    let mut args = vec![
        "verify-mdn",
        "--mdn-headers",
        s(&headers),
        "--mdn-body",
        s(&body),
        "--pki",
        pki,
        "--partner",
        partner,
        "--out",
        s(&report),
    ];
    args.extend_from_slice(extra);
    let (code, stderr) = run(&args);
    assert!(
        code == 0 || code == 1,
        "verify-mdn crashed ({code}): {stderr}"
    );
    (code, json(&report))
}

#[test]
fn send_receive_verify_matrix() {
    let work = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_cbc",
            "--compress",
            "before",
            "--mdn",
            "sync-signed",
        ],
        &[
            "--sign",
            "sha1",
            "--encrypt",
            "tripledes_192_cbc",
            "--mdn",
            "sync-signed",
            "--mdn-alg",
            "sha1",
        ],
        &[
            "--sign",
            "sha384",
            "--sign-alg",
            "pss",
            "--encrypt",
            "aes_128_cbc",
            "--key-enc-alg",
            "oaep",
            "--compress",
            "after",
            "--mdn",
            "sync-signed",
            "--mdn-alg",
            "sha512",
        ],
        &[
            "--sign",
            "sha512",
            "--encrypt",
            "aes_192_cbc",
            "--mdn",
            "async-signed",
            "--mdn-url",
            "http://127.0.0.1:9/mdn",
        ],
        // No --mdn-url: the documented default.
        &["--sign", "sha256", "--mdn", "async"],
        &["--encrypt", "aes_256_cbc", "--mdn", "sync"],
        &[
            "--sign",
            "sha256",
            "--mdn",
            "none",
            "--filename",
            "order.x12",
            "--message-id",
            "fixed-left",
        ],
    ];
    for (i, case) in cases.iter().enumerate() {
        let dir = work.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (sent, meta) = send(&dir, case);
        let (code, out, result) = receive(
            &dir,
            &sent,
            "received",
            &["--require-encryption"]
                .iter()
                .copied()
                .filter(|_| case.contains(&"--encrypt"))
                .collect::<Vec<_>>(),
        );
        assert_eq!(code, 0, "case {case:?}: {result}");
        assert_eq!(result["status"], "processed", "{case:?}");
        assert_eq!(
            result["disposition"],
            "automatic-action/MDN-sent-automatically; processed"
        );
        assert_eq!(result["message_id"], meta["message_id"], "{case:?}");
        assert_eq!(
            result["signed"],
            Value::Bool(case.contains(&"--sign")),
            "{case:?}"
        );
        assert_eq!(
            result["encrypted"],
            Value::Bool(case.contains(&"--encrypt")),
            "{case:?}"
        );
        assert_eq!(
            result["compressed"],
            Value::Bool(case.contains(&"--compress")),
            "{case:?}"
        );
        // The cipher by its --encrypt name, null when not encrypted.
        let cipher = case
            .iter()
            .position(|a| *a == "--encrypt")
            .map(|p| case[p + 1]);
        assert_eq!(
            result["content_encryption"],
            cipher.map_or(Value::Null, Value::from),
            "{case:?}"
        );
        assert_eq!(
            std::fs::read(out.join("payload.bin")).unwrap(),
            PAYLOAD,
            "{case:?}"
        );
        if case.contains(&"--sign") {
            assert_eq!(result["mic"], meta["mic"], "{case:?}: MIC");
        }
        if case.contains(&"fixed-left") {
            assert_eq!(meta["message_id"], "fixed-left@PartnerA");
        }
        let mode = case
            .iter()
            .position(|a| *a == "--mdn")
            .map(|p| case[p + 1])
            .unwrap();
        if mode == "none" {
            assert_eq!(result["mdn"], Value::Null);
            assert!(!out.join("mdn").exists());
            continue;
        }
        assert_eq!(
            result["mdn"]["mode"],
            if mode.starts_with("async") {
                "ASYNC"
            } else {
                "SYNC"
            }
        );
        assert_eq!(
            result["mdn"]["signed"],
            Value::Bool(mode.ends_with("-signed")),
            "{case:?}"
        );
        if mode.starts_with("async") {
            let url = case
                .iter()
                .position(|a| *a == "--mdn-url")
                .map_or("http://localhost:5081/as2", |p| case[p + 1]);
            assert_eq!(result["mdn"]["url"], url, "{case:?}");
            assert_eq!(meta["mdn_url"], url, "{case:?}");
        }
        let mic = meta["mic"].as_str().map(str::to_owned);
        let id = meta["message_id"].as_str().unwrap().to_owned();
        let mut extra = vec!["--orig-message-id", id.as_str()];
        if let Some(m) = &mic {
            extra.extend(["--expected-mic", m.as_str()]);
        }
        if mode.ends_with("-signed") {
            extra.push("--require-signed");
        }
        let (code, report) = verify_mdn(&out, &extra);
        assert_eq!(code, 0, "{case:?}: {report}");
        assert_eq!(report["accepted"], Value::Bool(true));
        assert_eq!(report["signed"], Value::Bool(mode.ends_with("-signed")));
        assert_eq!(report["original_message_id"], format!("<{id}>"));
        if mic.is_some() {
            assert_eq!(report["mic_match"], Value::Bool(true), "{case:?}");
        }
        // The same MDN against another MIC or another message is refused.
        if let Some(m) = &mic {
            let (b64, alg) = m.split_once(", ").unwrap();
            let mut wrong = b64.to_owned().into_bytes();
            wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
            let wrong = format!("{}, {alg}", String::from_utf8(wrong).unwrap());
            let (code, report) =
                verify_mdn(&out, &["--orig-message-id", &id, "--expected-mic", &wrong]);
            assert_eq!(code, 1, "{case:?}");
            assert_eq!(report["mic_match"], Value::Bool(false));
            assert_eq!(report["error_code"], "VERIFICATION_FAILED");
        }
        let (code, report) = verify_mdn(&out, &["--orig-message-id", "other@PartnerA"]);
        assert_eq!(code, 1, "{case:?}");
        assert_eq!(report["error_code"], "INVALID_REQUEST");
    }
}

/// EC keys through `--sign-stem sign_ec --enc-stem enc_ec` (examples/pki: P-256 signing,
/// P-384 encryption): ECDSA signatures and ECDH encryption with AES-GCM and AES-CBC, an
/// MDN signed with PartnerB's EC key and verified by `verify-mdn --sign-stem sign_ec`, and
/// EC signing with RSA encryption. The same stems on both sides; the RSA defaults on one
/// side only do not fit.
#[test]
fn ec_keys_through_the_stems() {
    let work = tempfile::tempdir().unwrap();
    const EC: [&str; 4] = ["--sign-stem", "sign_ec", "--enc-stem", "enc_ec"];
    let cases: &[(&[&str], &[&str])] = &[
        (&EC, &["--sign", "sha256", "--encrypt", "aes_256_gcm"]),
        (
            &EC,
            &[
                "--sign",
                "sha384",
                "--encrypt",
                "aes_128_cbc",
                "--compress",
                "before",
            ],
        ),
        (&EC, &["--sign", "sha512", "--encrypt", "aes_128_gcm"]),
        // EC signing, RSA encryption (the default enc stem).
        (&EC[..2], &["--sign", "sha256", "--encrypt", "aes_256_cbc"]),
    ];
    for (i, (stems, case)) in cases.iter().enumerate() {
        let dir = work.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = stems.to_vec();
        args.extend_from_slice(case);
        args.extend(["--mdn", "sync-signed"]);
        let (sent, meta) = send(&dir, &args);
        let mut receive_args = stems.to_vec();
        receive_args.extend(["--require-encryption", "--require-signature"]);
        let (code, out, result) = receive(&dir, &sent, "received", &receive_args);
        assert_eq!(code, 0, "{args:?}: {result}");
        assert_eq!(result["status"], "processed", "{args:?}");
        assert_eq!(result["signed"], Value::Bool(true));
        assert_eq!(result["encrypted"], Value::Bool(true));
        let cipher = case.iter().position(|a| *a == "--encrypt").unwrap();
        assert_eq!(result["content_encryption"], case[cipher + 1]);
        assert_eq!(result["mic"], meta["mic"], "{args:?}: MIC");
        assert_eq!(std::fs::read(out.join("payload.bin")).unwrap(), PAYLOAD);
        assert_eq!(result["mdn"]["signed"], Value::Bool(true));

        // The MDN is signed with PartnerB's EC key: it verifies with sign_ec.crt, not
        // with the RSA sign.crt.
        let id = meta["message_id"].as_str().unwrap();
        let mic = meta["mic"].as_str().unwrap();
        let check = [
            "--orig-message-id",
            id,
            "--expected-mic",
            mic,
            "--require-signed",
        ];
        let (code, report) = verify_mdn(&out, &[&check[..], &["--sign-stem", "sign_ec"]].concat());
        assert_eq!(code, 0, "{args:?}: {report}");
        assert_eq!(report["accepted"], Value::Bool(true));
        assert_eq!(report["signature_valid"], Value::Bool(true));
        assert_eq!(report["mic_match"], Value::Bool(true));
        let (code, report) = verify_mdn(&out, &check);
        assert_eq!(code, 1, "{args:?}: {report}");
        assert_eq!(report["error_code"], "VERIFICATION_FAILED");

        // Received with the RSA defaults: an ECDH envelope is not for PartnerB's RSA key,
        // and an ECDSA signature is not PartnerA's RSA certificate's.
        let (code, _, result) = receive(&dir, &sent, "rsa-defaults", &[]);
        assert_eq!(code, 1, "{args:?}: {result}");
        let expected = if stems.len() == 4 {
            "decryption-failed"
        } else {
            "authentication-failed"
        };
        assert_eq!(result["detailed_status"], expected, "{args:?}");
    }
}

/// `receive` reports the sender's AS2-Product header as it came, and the content cipher
/// by its `--encrypt` name (here AES-CCM, in AuthEnvelopedData); null when absent.
#[test]
fn receive_reports_the_cipher_and_the_sender_product() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (sent, _) = send(
        dir,
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_128_ccm",
            "--mdn",
            "sync",
        ],
    );
    set_header(&sent.join("headers.json"), "AS2-Product", "acme-as2 9.1 ");
    let (code, _, result) = receive(dir, &sent, "received", &[]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["content_encryption"], "aes_128_ccm");
    assert_eq!(result["sender_product"], "acme-as2 9.1");

    let plain_dir = dir.join("plain");
    std::fs::create_dir_all(&plain_dir).unwrap();
    let (plain, _) = send(&plain_dir, &["--sign", "sha256", "--mdn", "none"]);
    let headers = plain.join("headers.json");
    let mut without = json(&headers);
    without
        .as_object_mut()
        .unwrap()
        .retain(|name, _| !name.eq_ignore_ascii_case("AS2-Product"));
    std::fs::write(&headers, without.to_string()).unwrap();
    let (code, _, result) = receive(dir, &plain, "received-plain", &[]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["content_encryption"], Value::Null);
    assert_eq!(result["sender_product"], Value::Null);
}

#[test]
fn rejections_and_duplicates() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (sent, meta) = send(
        dir,
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_cbc",
            "--mdn",
            "sync-signed",
        ],
    );

    // Damaged on the wire: decryption-failed, nothing delivered, a signed error MDN.
    let damaged = dir.join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::copy(sent.join("headers.json"), damaged.join("headers.json")).unwrap();
    let mut body = std::fs::read(sent.join("body.bin")).unwrap();
    let mid = body.len() / 2;
    body[mid] ^= 0x5a;
    std::fs::write(damaged.join("body.bin"), &body).unwrap();
    let (code, out, result) = receive(dir, &damaged, "r-damaged", &[]);
    assert_eq!(code, 1);
    assert_eq!(result["status"], "processed/Error");
    assert_eq!(result["detailed_status"], "decryption-failed");
    assert_eq!(result["error_code"], "DECRYPT_FAILED");
    // The envelope was read before decryption failed: its cipher is known.
    assert_eq!(result["content_encryption"], "aes_256_cbc");
    assert!(!out.join("payload.bin").exists());
    assert_eq!(result["mdn"]["signed"], Value::Bool(true));
    let id = meta["message_id"].as_str().unwrap();
    let (code, report) = verify_mdn(&out, &["--orig-message-id", id, "--require-signed"]);
    assert_eq!(code, 1, "an error MDN is not an acceptance");
    assert_eq!(report["signature_valid"], Value::Bool(true));
    assert_eq!(report["status"], "processed/Error: decryption-failed");

    // Duplicates: the second delivery is a warning and delivers nothing.
    let seen = dir.join("seen.txt");
    let args = ["--seen-ids", s(&seen), "--record-id"];
    let (code, out, result) = receive(dir, &sent, "r-first", &args);
    assert_eq!((code, &result["status"]), (0, &Value::from("processed")));
    assert!(out.join("payload.bin").exists());
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), id);
    assert_eq!(result["delivered"], Value::Bool(true));
    // Exit 1: answered, but nothing delivered. --record-id kept the first MDN (in
    // seen.txt.mdn/), and the resend is answered with it, the same bytes: the sender
    // learns that the first copy was processed.
    let first_mdn = std::fs::read(dir.join("r-first/mdn/body.bin")).unwrap();
    let (code, out, result) = receive(dir, &sent, "r-second", &args);
    assert_eq!(code, 1);
    assert_eq!(result["status"], "processed/Warning");
    assert_eq!(result["detailed_status"], "duplicate-document");
    assert_eq!(result["delivered"], Value::Bool(false));
    assert!(!out.join("payload.bin").exists());
    assert_eq!(std::fs::read(out.join("mdn/body.bin")).unwrap(), first_mdn);
    let (code, report) = verify_mdn(&out, &["--orig-message-id", id, "--require-signed"]);
    assert_eq!(code, 0, "the first MDN again: {report}");
    assert_eq!(report["status"], "processed");

    // Without the kept MDN (a Message-ID recorded by hand): a new MDN saying
    // duplicate-document, which is no delivery.
    std::fs::remove_dir_all(dir.join("seen.txt.mdn")).unwrap();
    let (code, out, result) = receive(dir, &sent, "r-third", &args);
    assert_eq!(code, 1);
    assert_eq!(result["detailed_status"], "duplicate-document");
    assert!(out.join("mdn/body.bin").is_file());
    assert_ne!(std::fs::read(out.join("mdn/body.bin")).unwrap(), first_mdn);
    let (code, report) = verify_mdn(&out, &["--orig-message-id", id, "--require-signed"]);
    assert_eq!(code, 1, "a duplicate is no delivery: {report}");
    assert_eq!(report["signature_valid"], Value::Bool(true));
    assert_eq!(report["status"], "processed/Warning: duplicate-document");

    // Unencrypted where encryption is required.
    let plain_dir = dir.join("plain");
    std::fs::create_dir_all(&plain_dir).unwrap();
    let (plain, _) = send(&plain_dir, &["--sign", "sha256", "--mdn", "sync"]);
    let (code, _, result) = receive(dir, &plain, "r-plain", &["--require-encryption"]);
    assert_eq!(code, 1);
    assert_eq!(result["detailed_status"], "insufficient-message-security");
    assert_eq!(
        result["error_code"],
        "INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED"
    );

    // Addressed to a party we do not have: no agreement.
    let mut headers: Value = json(&plain.join("headers.json"));
    headers["AS2-To"] = Value::from("Stranger");
    let stranger = dir.join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    std::fs::write(stranger.join("headers.json"), headers.to_string()).unwrap();
    std::fs::copy(plain.join("body.bin"), stranger.join("body.bin")).unwrap();
    let (code, _, result) = receive(dir, &stranger, "r-stranger", &[]);
    assert_eq!(code, 1);
    assert_eq!(result["detailed_status"], "unknown-trading-relationship");
    assert_eq!(result["error_code"], "AGREEMENT_NOT_FOUND");

    // Verified against another party's certificate: the signer is not the one expected.
    let (code, _, result) = receive(
        dir,
        &plain,
        "r-wrong-cert",
        &["--verify-cert", "PartnerB/sign"],
    );
    assert_eq!(code, 1);
    assert_eq!(result["detailed_status"], "authentication-failed");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["send", "--pki"][..],
        &[
            "send",
            "--pki",
            "/nonexistent",
            "--from",
            "A",
            "--to",
            "B",
            "--payload",
            "x",
            "--out",
            "y",
        ][..],
        &["receive", "--bogus", "1"][..],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("usage"), "{stderr}");
    }
}

/// A copy of `examples/pki` with a third party, PartnerC (its own keys, issued by the
/// same CA with `peer.py mkpki`, which needs only `python3` and `openssl`).
fn pki_with_partner_c(dir: &Path) -> PathBuf {
    let copy = dir.join("pki");
    for entry in walk(Path::new(&pki())) {
        let rel = entry.strip_prefix(pki()).unwrap();
        let target = copy.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyas2lib/peer.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["mkpki", "--out", s(&copy), "--parties", "PartnerC"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "mkpki: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// `as2 send` with `--pki pki`, from `from` to `to`, into `out`; returns meta.json.
fn send_in(pki: &Path, from: &str, to: &str, out: &Path, extra: &[&str]) -> Value {
    let payload = out.with_extension("x12");
    std::fs::write(&payload, PAYLOAD).unwrap();
    let mut args = vec![
        "send",
        "--pki",
        s(pki),
        "--from",
        from,
        "--to",
        to,
        "--payload",
        s(&payload),
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let (code, stderr) = run(&args);
    assert_eq!(code, 0, "send: {stderr}");
    json(&out.join("meta.json"))
}

/// `as2 receive` with `--pki pki` of `sent` into `out`.
fn receive_in(pki: &Path, sent: &Path, out: &Path) -> Value {
    let (code, stderr) = run(&[
        "receive",
        "--headers",
        s(&sent.join("headers.json")),
        "--body",
        s(&sent.join("body.bin")),
        "--pki",
        s(pki),
        "--out",
        s(out),
    ]);
    assert_eq!(code, 0, "receive: {stderr}");
    json(&out.join("result.json"))
}

/// Rewrites header `name` in a headers.json file (HTTP headers are not signed).
fn set_header(path: &Path, name: &str, value: &str) {
    let mut headers = json(path);
    headers[name] = Value::from(value);
    std::fs::write(path, headers.to_string()).unwrap();
}

#[test]
fn verify_mdn_accepts_only_the_partner_the_message_went_to() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let pki = pki_with_partner_c(dir);
    let pki_s = pki.to_str().unwrap();
    let opts = [
        "--sign",
        "sha256",
        "--mdn",
        "sync-signed",
        "--message-id",
        "bound-1",
        "--filename",
        "po.x12",
    ];
    // PartnerA sends to PartnerB; B's signed receipt verifies.
    let meta = send_in(&pki, "PartnerA", "PartnerB", &dir.join("to-b"), &opts);
    let id = meta["message_id"].as_str().unwrap().to_owned();
    assert_eq!(id, "bound-1@PartnerA");
    assert_eq!(meta["to"], "PartnerB");
    let mic = meta["mic"].as_str().unwrap().to_owned();
    let check = [
        "--orig-message-id",
        &id,
        "--expected-mic",
        &mic,
        "--require-signed",
    ];
    let from_b = dir.join("from-b");
    receive_in(&pki, &dir.join("to-b"), &from_b);
    let (code, report) = verify_mdn_in(pki_s, &from_b, "PartnerB", &check);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["partner"], "PartnerB");

    // Another partner the PKI knows answers for the same Message-ID and MIC, as itself.
    let meta_c = send_in(&pki, "PartnerA", "PartnerC", &dir.join("to-c"), &opts);
    assert_eq!(meta_c["message_id"].as_str(), Some(id.as_str()));
    let from_c = dir.join("from-c");
    receive_in(&pki, &dir.join("to-c"), &from_c);
    let (code, report) = verify_mdn_in(pki_s, &from_c, "PartnerB", &check);
    assert_eq!(
        code, 1,
        "PartnerC's receipt accepted for PartnerB: {report}"
    );
    assert_eq!(report["error_code"], "INVALID_REQUEST", "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("AS2-From"),
        "{report}"
    );
    // ... or claims to be PartnerB: its signature is not B's.
    set_header(&from_c.join("mdn/headers.json"), "AS2-From", "PartnerB");
    let (code, report) = verify_mdn_in(pki_s, &from_c, "PartnerB", &check);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["error_code"], "VERIFICATION_FAILED", "{report}");
    assert_eq!(report["signature_valid"], Value::Bool(false));

    // A receipt signed by ourselves (PartnerA) for the same Message-ID.
    let to_a = dir.join("to-a");
    send_in(&pki, "PartnerB", "PartnerA", &to_a, &opts);
    set_header(&to_a.join("headers.json"), "Message-ID", &format!("<{id}>"));
    let from_a = dir.join("from-a");
    receive_in(&pki, &to_a, &from_a);
    let (code, report) = verify_mdn_in(pki_s, &from_a, "PartnerB", &check);
    assert_eq!(code, 1, "our own receipt accepted for PartnerB: {report}");
    assert_eq!(report["error_code"], "INVALID_REQUEST", "{report}");
    set_header(&from_a.join("mdn/headers.json"), "AS2-From", "PartnerB");
    let (code, report) = verify_mdn_in(pki_s, &from_a, "PartnerB", &check);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["error_code"], "VERIFICATION_FAILED", "{report}");

    // The partner is required, must exist, and certificates come from it only.
    let (mdn_headers, mdn_body) = (from_b.join("mdn/headers.json"), from_b.join("mdn/body.bin"));
    let base = [
        "verify-mdn",
        "--mdn-headers",
        s(&mdn_headers),
        "--mdn-body",
        s(&mdn_body),
        "--pki",
        pki_s,
    ];
    for extra in [
        &[][..],
        &["--partner", "../PartnerB"][..],
        &["--partner", "Nobody"][..],
        &["--partner", "PartnerB", "--verify-cert", "PartnerC/sign"][..],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
    }
}

#[test]
fn inspect_never_reads_keys_outside_the_pki_folder() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let (sent, _) = send(dir, &["--encrypt", "aes_256_cbc", "--mdn", "none"]);
    // PartnerB's keys, but outside the PKI folder.
    let pki_dir = dir.join("pki");
    let pki = pki_dir.to_str().unwrap();
    for party in ["PartnerA", "PartnerB", "ca"] {
        std::fs::create_dir_all(pki_dir.join(party)).unwrap();
        for f in walk(&Path::new(&crate::pki()).join(party)) {
            std::fs::copy(&f, pki_dir.join(party).join(f.file_name().unwrap())).unwrap();
        }
    }
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::rename(pki_dir.join("PartnerB/enc.key"), outside.join("enc.key")).unwrap();
    std::fs::rename(pki_dir.join("PartnerB/enc.crt"), outside.join("enc.crt")).unwrap();
    let (headers, body) = (sent.join("headers.json"), sent.join("body.bin"));
    let inspect = |headers: &Path, extra: &[&str]| {
        let mut args = vec![
            "inspect",
            "--headers",
            s(headers),
            "--body",
            s(&body),
            "--pki",
            pki,
        ];
        args.extend_from_slice(extra);
        run_out(&args)
    };
    // AS2-To "../outside": a typed refusal before any key is looked for.
    let hostile = dir.join("hostile.json");
    std::fs::copy(&headers, &hostile).unwrap();
    set_header(&hostile, "AS2-To", "../outside");
    let (code, stdout, stderr) = inspect(&hostile, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("AS2-To") && stdout.contains("INVALID_REQUEST"),
        "{stdout}"
    );
    assert!(!stdout.contains("payload:"), "{stdout}");
    // --as "../outside": not a PKI name, no key is loaded, nothing is decrypted.
    let (code, stdout, stderr) = inspect(&headers, &["--as", "../outside"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("refused after layers"), "{stdout}");
    assert!(!stdout.contains("payload:"), "{stdout}");
    // The control: with the keys in place it decrypts.
    std::fs::rename(outside.join("enc.key"), pki_dir.join("PartnerB/enc.key")).unwrap();
    std::fs::rename(outside.join("enc.crt"), pki_dir.join("PartnerB/enc.crt")).unwrap();
    let (_, stdout, _) = inspect(&headers, &[]);
    assert!(stdout.contains("payload:"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// The same file contract against pyas2lib.

fn peer() -> (PathBuf, PathBuf) {
    let python = std::env::var_os("AS2_PEER_PYTHON")
        .map(PathBuf::from)
        .expect("AS2_PEER_PYTHON: run tests/pyas2lib/setup.sh and set it to the python it prints");
    (
        python,
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyas2lib/peer.py"),
    )
}

fn run_peer(args: &[&str]) -> i32 {
    let (python, script) = peer();
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("peer.py");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "peer.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

#[test]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test cli -- --ignored"]
fn cli_against_pyas2lib() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let pki = pki();
    // Ours -> pyas2lib: it accepts, and its signed MDN is accepted by `as2 verify-mdn`.
    let (sent, meta) = send(
        dir,
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_cbc",
            "--compress",
            "before",
            "--mdn",
            "sync-signed",
        ],
    );
    let theirs = dir.join("theirs");
    let code = run_peer(&[
        "receive",
        "--pki",
        &pki,
        "--headers",
        s(&sent.join("headers.json")),
        "--body",
        s(&sent.join("body.bin")),
        "--out",
        s(&theirs),
        "--as",
        "PartnerB",
        "--require-signed",
        "--require-encrypted",
    ]);
    let result = json(&theirs.join("result.json"));
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["status"], "processed");
    let id = meta["message_id"].as_str().unwrap();
    let mic = meta["mic"].as_str().unwrap();
    let (code, report) = verify_mdn(
        &theirs,
        &[
            "--orig-message-id",
            id,
            "--expected-mic",
            mic,
            "--require-signed",
        ],
    );
    assert_eq!(code, 0, "{report}");

    // pyas2lib -> ours: accepted, and our signed MDN is accepted by pyas2lib.
    let payload = dir.join("po.x12");
    let py_sent = dir.join("py-sent");
    let code = run_peer(&[
        "send",
        "--pki",
        &pki,
        "--from",
        "PartnerA",
        "--to",
        "PartnerB",
        "--payload",
        s(&payload),
        "--out",
        s(&py_sent),
        "--sign",
        "sha256",
        "--encrypt",
        "aes_128_cbc",
        "--compress",
        "--mdn",
        "sync-signed",
        "--mdn-alg",
        "sha256",
        "--content-type",
        "application/EDI-X12",
        "--filename",
        "po.x12",
    ]);
    assert_eq!(code, 0);
    let py_meta = json(&py_sent.join("meta.json"));
    let (code, ours, result) = receive(
        dir,
        &py_sent,
        "ours",
        &["--require-signature", "--require-encryption"],
    );
    assert_eq!(code, 0, "{result}");
    assert_eq!(std::fs::read(ours.join("payload.bin")).unwrap(), PAYLOAD);
    assert_eq!(result["compressed"], Value::Bool(true));
    let report = ours.join("py-verdict.json");
    let code = run_peer(&[
        "verify-mdn",
        "--pki",
        &pki,
        "--mdn-headers",
        s(&ours.join("mdn/headers.json")),
        "--mdn-body",
        s(&ours.join("mdn/body.bin")),
        "--orig-message-id",
        py_meta["message_id"].as_str().unwrap(),
        "--expected-mic",
        py_meta["mic"].as_str().unwrap(),
        "--require-signed",
        "--out",
        s(&report),
    ]);
    let verdict = json(&report);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["mic_matches"], Value::Bool(true));
}

/// Ours -> pyas2lib without a signature (encrypted only, and plain) with an unsigned sync
/// receipt: pyas2lib's receipt carries no MIC, which `as2 verify-mdn` accepts for an
/// unsigned message (`--unsigned-message`, MIC "not-returned") and refuses otherwise. And
/// an async receipt requested without `--mdn-url` goes to the documented default URL.
#[test]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test cli -- --ignored"]
fn cli_unsigned_and_async_receipts_with_pyas2lib() {
    let work = tempfile::tempdir().unwrap();
    let pki = pki();
    let peer_receive = |sent: &Path, out: &Path, extra: &[&str]| -> (i32, Value) {
        let (headers, body) = (sent.join("headers.json"), sent.join("body.bin"));
        let mut args = vec![
            "receive",
            "--pki",
            &pki,
            "--headers",
            s(&headers),
            "--body",
            s(&body),
            "--out",
            s(out),
            "--as",
            "PartnerB",
        ];
        args.extend_from_slice(extra);
        let code = run_peer(&args);
        (code, json(&out.join("result.json")))
    };
    for (name, opts, require) in [
        (
            "encrypted-only",
            &["--encrypt", "aes_256_cbc", "--mdn", "sync"][..],
            &["--require-encrypted"][..],
        ),
        ("plain", &["--mdn", "sync"][..], &[][..]),
    ] {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let (sent, meta) = send(&dir, opts);
        assert_eq!(meta["signed"], Value::Bool(false));
        let mic = meta["mic"].as_str().expect("a MIC is kept").to_owned();
        let id = meta["message_id"].as_str().unwrap().to_owned();
        let theirs = dir.join("theirs");
        let (code, result) = peer_receive(&sent, &theirs, require);
        assert_eq!(code, 0, "{name}: {result}");
        assert_eq!(result["mdn"]["signed"], Value::Bool(false), "{name}");
        let check = [
            "--orig-message-id",
            id.as_str(),
            "--expected-mic",
            mic.as_str(),
        ];
        let mut unsigned = check.to_vec();
        unsigned.push("--unsigned-message");
        let (code, report) = verify_mdn(&theirs, &unsigned);
        assert_eq!(code, 0, "{name}: {report}");
        assert_eq!(report["mic"], "not-returned", "{name}: {report}");
        assert_eq!(report["mic_match"], Value::Null, "{name}");
        // Not declared unsigned: a MIC kept for a message is required back.
        let (code, report) = verify_mdn(&theirs, &check);
        assert_eq!(code, 1, "{name}: {report}");
        assert_eq!(report["mic"], "missing", "{name}");
        assert_eq!(report["error_code"], "VERIFICATION_FAILED", "{name}");
    }

    // Async, signed, no --mdn-url.
    let dir = work.path().join("async");
    std::fs::create_dir_all(&dir).unwrap();
    let (sent, meta) = send(&dir, &["--sign", "sha256", "--mdn", "async-signed"]);
    assert_eq!(meta["mdn_url"], "http://localhost:5081/as2");
    let headers = json(&sent.join("headers.json"));
    assert_eq!(
        headers["Receipt-Delivery-Option"],
        "http://localhost:5081/as2"
    );
    let theirs = dir.join("theirs");
    let (code, result) = peer_receive(&sent, &theirs, &["--require-signed"]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["mdn"]["mode"], "ASYNC");
    assert_eq!(result["mdn"]["url"], "http://localhost:5081/as2");
    let id = meta["message_id"].as_str().unwrap();
    let mic = meta["mic"].as_str().unwrap();
    let (code, report) = verify_mdn(
        &theirs,
        &[
            "--orig-message-id",
            id,
            "--expected-mic",
            mic,
            "--require-signed",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["mic"], "matched");
}

/// `send --as2-version 1.3`: the headers declare 1.3 and the product, the receiver takes
/// it; SHA-1 or 3DES with 1.3 is a usage error (exit 2) naming algorithm and version, as
/// are an unknown version and a product outside the draft's syntax.
#[test]
fn send_as2_version_1_3() {
    let work = tempfile::tempdir().unwrap();
    let payload = work.path().join("po.x12");
    std::fs::write(&payload, PAYLOAD).unwrap();
    let pki = pki();
    let send = |out: &str, extra: &[&str]| {
        let out = work.path().join(out);
        let mut args = vec![
            "send",
            "--pki",
            pki.as_str(),
            "--from",
            "PartnerA",
            "--to",
            "PartnerB",
            "--payload",
            s(&payload),
            "--out",
            s(&out),
            "--as2-version",
            "1.3",
        ];
        args.extend_from_slice(extra);
        let (code, stderr) = run(&args);
        (code, stderr, out)
    };
    let (code, stderr, out) = send(
        "modern",
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_gcm",
            "--mdn",
            "sync-signed",
            "--as2-product",
            "acme-gateway:2.1.0",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let headers = json(&out.join("headers.json"));
    assert_eq!(headers["AS2-Version"], "1.3");
    assert_eq!(headers["AS2-Product"], "acme-gateway:2.1.0");
    let result = receive_in(Path::new(&pki), &out, &work.path().join("rcv"));
    assert_eq!(result["status"], "processed", "{result}");

    for (name, extra, algorithm) in [
        ("sha1", &["--sign", "sha1"][..], "SHA-1"),
        (
            "mdn-sha1",
            &["--mdn", "sync-signed", "--mdn-alg", "sha1"][..],
            "SHA-1",
        ),
        ("3des", &["--encrypt", "tripledes_192_cbc"][..], "3DES"),
    ] {
        let (code, stderr, _) = send(name, extra);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.contains(algorithm) && stderr.contains("AS2-Version 1.3"),
            "{name}: {stderr}"
        );
    }
    let (code, stderr, _) = send("v2", &["--as2-version", "2.0"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr, _) = send("product", &["--as2-product", "Not A Product"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--as2-product"), "{stderr}");
}

#[test]
fn cem_request_writes_the_parts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cem");
    let cert = format!("{}/PartnerA/enc.crt", pki());
    let (code, _) = run(&[
        "cem-request",
        "--pki",
        &pki(),
        "--from",
        "PartnerA",
        "--to",
        "PartnerB",
        "--cert",
        &cert,
        "--usage",
        "signing,encryption",
        "--respond-by",
        "2027-03-01T00:00:00Z",
        "--out",
        s(&out),
        "--request-id",
        "r1",
    ]);
    assert_eq!(code, 0);
    let summary = json(&out.join("parts.json"));
    assert_eq!(
        summary["parts"][0]["content_type"],
        "application/ediint-cert-exchange+xml"
    );
    assert_eq!(summary["parts"][1]["content_id"], "<cem-cert-r1-1>");
    let parts: Vec<(String, String, Vec<u8>)> = summary["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["content_type"].as_str().unwrap().to_owned(),
                p["content_id"].as_str().unwrap().to_owned(),
                std::fs::read(out.join(p["file"].as_str().unwrap())).unwrap(),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str, &[u8])> = parts
        .iter()
        .map(|(t, i, b)| (t.as_str(), i.as_str(), b.as_slice()))
        .collect();
    let message = as2_proto::CemMessage::from_parts(
        &borrowed,
        &Default::default(),
        &as2_proto::Limits::default(),
    )
    .unwrap();
    let as2_proto::CemMessage::Request(request) = message else {
        panic!("not a request")
    };
    assert_eq!(request.request().partner.name, "PartnerA");
    assert_eq!(request.entries().next().unwrap().2.len(), 1);
    let (code, _) = run(&["cem-request", "--pki", &pki(), "--usage", "bogus"]);
    assert_eq!(code, 2);
}

/// `send --attachments`: the payload is part 1 of a multipart/related payload, signed,
/// compressed and encrypted as a whole; `receive` writes `payload-1.bin`,
/// `payload-2.bin`, ... and `payload.bin` (= part 1), lists the parts in result.json, and
/// the signed MDN's MIC matches.
#[test]
fn attachments_send_and_receive() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, b"line one\nline two\r\n--not-a-boundary\n").unwrap();
    let blob = dir.join("blob.bin");
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    std::fs::write(&blob, &binary).unwrap();
    let empty = dir.join("empty.dat");
    std::fs::write(&empty, b"").unwrap();
    let list = format!("{},{},{}", s(&notes), s(&blob), s(&empty));
    for layers in [
        &[
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_cbc",
            "--mdn",
            "sync-signed",
        ][..],
        &[
            "--sign",
            "sha384",
            "--compress",
            "after",
            "--encrypt",
            "aes_128_gcm",
            "--mdn",
            "sync",
        ],
        &["--mdn", "sync"],
    ] {
        let mut extra = vec!["--attachments", list.as_str()];
        extra.extend_from_slice(layers);
        let (sent, meta) = send(dir, &extra);
        assert_eq!(meta["parts"], 4, "{layers:?}");
        let (code, out, result) = receive(dir, &sent, "received", &[]);
        assert_eq!(code, 0, "{layers:?}: {result}");
        assert_eq!(result["mic"], meta["mic"], "{layers:?}");
        let parts = result["parts"].as_array().expect("parts listed");
        let expected: [(&str, &str, &[u8]); 4] = [
            ("po.x12", "application/edi-x12", PAYLOAD),
            (
                "notes.txt",
                "text/plain",
                b"line one\nline two\r\n--not-a-boundary\n",
            ),
            ("blob.bin", "application/octet-stream", &binary),
            ("empty.dat", "application/octet-stream", b""),
        ];
        assert_eq!(parts.len(), expected.len());
        for (i, (part, (name, ct, bytes))) in parts.iter().zip(expected).enumerate() {
            let file = format!("payload-{}.bin", i + 1);
            assert_eq!(part["file"], file.as_str());
            assert_eq!(part["name"], name);
            assert_eq!(part["size"], bytes.len());
            assert!(std::fs::read(out.join(&file)).unwrap() == bytes, "{file}");
            // The first part's type is what --content-type said.
            if i > 0 {
                assert_eq!(part["content_type"], ct);
            }
        }
        assert_eq!(std::fs::read(out.join("payload.bin")).unwrap(), PAYLOAD);
        assert_eq!(result["payload_sha256"], parts[0]["sha256"]);
        if layers.contains(&"sync-signed") {
            let (code, report) =
                verify_mdn(&out, &["--expected-mic", meta["mic"].as_str().unwrap()]);
            assert_eq!(code, 0, "{report}");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    // A single payload lists no parts and writes no payload-N.bin.
    let (sent, _) = send(dir, &["--mdn", "sync"]);
    let (code, out, result) = receive(dir, &sent, "single", &[]);
    assert_eq!(code, 0);
    assert!(result["parts"].is_null());
    assert!(!out.join("payload-1.bin").exists());
}
