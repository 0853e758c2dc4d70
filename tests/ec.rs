//! Elliptic-curve certificates (AS2 1.3, draft-ietf-ediint-rfc4130bis: P-256 and
//! stronger): EC keys in every file format OpenSSL writes, ECDSA signatures (RFC 5753 §2,
//! RFC 5758) and ECDH key agreement (RFC 5753 §3) with the OpenSSL CLI in both
//! directions, and whole AS2 messages and MDNs. Every key and certificate is made by the
//! OpenSSL CLI at test time.

mod common;

use as2_proto::{
    Certificate, Error, KeyAlgorithm, KeyUse, Limits, Pkcs12, PrivateKey, UsageExtension,
};
use common::{Pki, openssl, openssl_try};

/// The curves, as OpenSSL names them, with the kind of key they give.
const CURVES: [(&str, KeyAlgorithm); 2] = [
    ("prime256v1", KeyAlgorithm::EcP256),
    ("secp384r1", KeyAlgorithm::EcP384),
];

/// An EC party certified by `pki`'s (RSA) CA: `openssl ecparam -genkey -name CURVE` (a
/// SEC1 `EC PRIVATE KEY` after `EC PARAMETERS`), a CSR, and `openssl x509 -req` with
/// `extensions`. Files `name.key`, `name.crt`.
fn ec_party(pki: &Pki, name: &str, curve: &str, extensions: &str) -> common::Identity {
    let d = pki.path();
    let (key, csr, crt, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    std::fs::write(d.join(&ext), extensions).unwrap();
    openssl(d, &["ecparam", "-genkey", "-name", curve, "-out", &key]);
    let subject = format!("/CN={name}/O=as2-proto EC tests");
    openssl(
        d,
        &["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject],
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
    let cert_path = d.join(&crt);
    let key_path = d.join(&key);
    common::Identity {
        cert: Certificate::from_pem(&std::fs::read(&cert_path).unwrap()).unwrap(),
        key: PrivateKey::from_pem(&std::fs::read(&key_path).unwrap(), None).unwrap(),
        cert_path,
        key_path,
    }
}

/// The extensions of an EC certificate that signs and is encrypted to (as S/MIME
/// products issue them: RFC 8550 §4.4.2).
const EC_BOTH: &str = "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
    keyUsage=digitalSignature,nonRepudiation,keyAgreement\nextendedKeyUsage=emailProtection\n";

// ---------------------------------------------------------------------------------------
// Keys and certificates
// ---------------------------------------------------------------------------------------

/// Every form OpenSSL writes an EC key in loads to the same key, and the certificate
/// exposes its kind: SEC1 PEM (with and without `EC PARAMETERS`) and DER, PKCS#8 PEM and
/// DER, encrypted PKCS#8 (PBES2) PEM and DER; a wrong password or an unsupported curve
/// fails with a typed error.
#[test]
fn ec_keys_load_in_every_format() {
    let pki = Pki::new();
    for (curve, kind) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        assert_eq!(id.cert.key_algorithm(), Some(kind));
        assert!(id.cert.rsa_public_key().is_err());
        assert_eq!(id.key.algorithm(), kind);
        assert!(id.key.matches(&id.cert));
        assert_eq!(
            id.key.bits(),
            if kind == KeyAlgorithm::EcP256 {
                256
            } else {
                384
            }
        );
        assert_eq!(format!("{:?}", id.key), format!("PrivateKey({kind})"));
        let d = pki.path();
        let key = format!("{curve}.key");
        let run = |args: &[&str]| openssl(d, args);
        run(&["ec", "-in", &key, "-outform", "DER", "-out", "sec1.der"]);
        run(&["ec", "-in", &key, "-out", "sec1-only.pem"]);
        run(&["pkcs8", "-topk8", "-nocrypt", "-in", &key, "-out", "p8.pem"]);
        run(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER", "-out", "p8.der",
        ]);
        for out in ["p8enc.pem", "p8enc.der"] {
            let form = if out.ends_with("der") { "DER" } else { "PEM" };
            run(&[
                "pkcs8",
                "-topk8",
                "-in",
                &key,
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:pw",
                "-outform",
                form,
                "-out",
                out,
            ]);
        }
        let read = |name: &str| pki.read(name);
        let loaded = [
            PrivateKey::from_sec1_der(&read("sec1.der")).unwrap(),
            PrivateKey::from_pem(&read("sec1-only.pem"), None).unwrap(),
            PrivateKey::from_pem(&read("p8.pem"), None).unwrap(),
            PrivateKey::from_pkcs8_der(&read("p8.der")).unwrap(),
            PrivateKey::from_pem(&read("p8enc.pem"), Some(b"pw")).unwrap(),
            PrivateKey::from_pkcs8_encrypted_der(&read("p8enc.der"), b"pw").unwrap(),
        ];
        for key in &loaded {
            assert_eq!(key.algorithm(), kind);
            assert!(key.matches(&id.cert), "{curve} {key:?}");
        }
        assert!(matches!(
            PrivateKey::from_pkcs8_encrypted_der(&read("p8enc.der"), b"wrong"),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            PrivateKey::from_pem(&read("p8enc.pem"), None),
            Err(Error::InvalidKey(_))
        ));
        // Not an RSA key: PKCS#1 refuses it.
        assert!(matches!(
            PrivateKey::from_pkcs1_der(&read("sec1.der")),
            Err(Error::InvalidKey(_))
        ));
    }
    // A key on a curve we do not implement (secp256k1): refused, and its certificate
    // reads but has no usable key.
    let id_k1 = {
        let d = pki.path();
        openssl(
            d,
            &["ecparam", "-genkey", "-name", "secp256k1", "-out", "k1.key"],
        );
        openssl(
            d,
            &[
                "req", "-x509", "-key", "k1.key", "-out", "k1.crt", "-subj", "/CN=k1", "-days", "1",
            ],
        );
        (pki.read("k1.key"), pki.read("k1.crt"))
    };
    assert!(matches!(
        PrivateKey::from_pem(&id_k1.0, None),
        Err(Error::InvalidKey(_))
    ));
    let k1 = Certificate::from_pem(&id_k1.1).unwrap();
    assert_eq!(k1.key_algorithm(), None);
    // A P-256 key does not match a P-384 certificate, nor the reverse, nor RSA.
    let p256 = ec_party(&pki, "a256", "prime256v1", EC_BOTH);
    let p384 = ec_party(&pki, "a384", "secp384r1", EC_BOTH);
    let rsa = pki.party("rsa", 2048);
    assert!(!p256.key.matches(&p384.cert));
    assert!(!p384.key.matches(&p256.cert));
    assert!(!p256.key.matches(&rsa.cert));
    assert!(!rsa.key.matches(&p256.cert));
    assert_eq!(rsa.cert.key_algorithm(), Some(KeyAlgorithm::Rsa));
}

/// An EC key and certificate exported by `openssl pkcs12 -export` (the default PBES2
/// with AES-256-CBC, and `-legacy`) come out of [`Pkcs12::parse`] as they went in.
#[test]
fn ec_keys_in_pkcs12() {
    let pki = Pki::new();
    for (curve, kind) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        for extra in [&[][..], &["-legacy"][..]] {
            let mut args = vec![
                "pkcs12",
                "-export",
                "-inkey",
                &*format!("{curve}.key"),
                "-in",
                &*format!("{curve}.crt"),
                "-certfile",
                "ca.crt",
                "-passout",
                "pass:secret",
                "-out",
                "ec.p12",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, _, stderr) = openssl_try(pki.path(), &args);
            if !ok && extra == ["-legacy"] {
                // An OpenSSL without the legacy provider cannot write it.
                eprintln!("skipping -legacy: {stderr}");
                continue;
            }
            assert!(ok, "{stderr}");
            let p12 = Pkcs12::parse(&pki.read("ec.p12"), b"secret", &Limits::default()).unwrap();
            assert_eq!(p12.key.algorithm(), kind);
            assert_eq!(p12.certificate, id.cert);
            assert!(p12.key.matches(&p12.certificate));
            assert_eq!(p12.chain.len(), 1);
        }
    }
}

/// keyUsage for EC certificates: signing needs digitalSignature or nonRepudiation, being
/// encrypted to needs keyAgreement (keyEncipherment, the RSA bit, is not enough).
#[test]
fn ec_key_usage() {
    let pki = Pki::new();
    let ext = |usage: &str| format!("subjectKeyIdentifier=hash\nkeyUsage={usage}\n");
    let cases: [(&str, Result<(), UsageExtension>, Result<(), UsageExtension>); 5] = [
        ("digitalSignature", Ok(()), Err(UsageExtension::KeyUsage)),
        ("nonRepudiation", Ok(()), Err(UsageExtension::KeyUsage)),
        ("keyAgreement", Err(UsageExtension::KeyUsage), Ok(())),
        (
            "digitalSignature,keyEncipherment",
            Ok(()),
            Err(UsageExtension::KeyUsage),
        ),
        ("digitalSignature,keyAgreement", Ok(()), Ok(())),
    ];
    for (i, (usage, sign, encrypt)) in cases.into_iter().enumerate() {
        let id = ec_party(&pki, &format!("u{i}"), "prime256v1", &ext(usage));
        let check = |key_use| match id.cert.check_usage(key_use) {
            Ok(()) => Ok(()),
            Err(Error::CertificateUsage(u)) => Err(u.extension),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(check(KeyUse::Signing), sign, "{usage}");
        assert_eq!(check(KeyUse::Encryption), encrypt, "{usage}");
    }
}
