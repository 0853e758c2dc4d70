//! Shared support for integration tests: a PKI made with the OpenSSL CLI in a temporary
//! directory, a seeded RNG, and helpers to run `openssl`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use as2_proto::{Certificate, PrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// A deterministic CSPRNG for tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A fixed "now" inside every generated certificate's validity.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Runs `openssl` with `args` in `dir`, panicking with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `openssl` and returns whether it succeeded, with stdout and stderr.
pub fn openssl_try(dir: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One party: certificate and key, loaded and as files.
pub struct Identity {
    pub cert: Certificate,
    pub key: PrivateKey,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// A CA and parties generated with OpenSSL in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Identity,
}

impl Pki {
    /// A new CA (RSA 2048, with subject key identifiers).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "3650",
                "-subj",
                "/CN=Test CA",
                "-addext",
                "subjectKeyIdentifier=hash",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
        );
        let ca = load(d, "ca");
        Pki { dir, ca }
    }

    /// The directory holding every file.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A party `name` with an RSA key of `bits`, certified by the CA (files `name.key`,
    /// `name.crt`).
    pub fn party(&self, name: &str, bits: u32) -> Identity {
        let d = self.path();
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        let ext = format!("{name}.ext");
        std::fs::write(
            d.join(&ext),
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nkeyUsage=digitalSignature,keyEncipherment\n",
        )
        .expect("write ext");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                &format!("rsa:{bits}"),
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}/O=as2-proto tests"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "365",
                "-extfile",
                &ext,
            ],
        );
        load(d, name)
    }

    /// Writes `data` to `name` in the PKI directory and returns the path.
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, data).expect("write");
        p
    }

    /// Reads `name` from the PKI directory.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).expect("read")
    }
}

fn load(dir: &Path, name: &str) -> Identity {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    let cert =
        Certificate::from_pem(&std::fs::read(&cert_path).expect("read cert")).expect("parse cert");
    let key = PrivateKey::from_pem(&std::fs::read(&key_path).expect("read key"), None)
        .expect("parse key");
    Identity {
        cert,
        key,
        cert_path,
        key_path,
    }
}

/// Runs `python3` (standard library only) with `args` in `dir`, panicking with its stderr
/// on failure; returns its stdout.
pub fn python3(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "python3 {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
