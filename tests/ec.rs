//! Elliptic-curve certificates (AS2 1.3, draft-ietf-ediint-rfc4130bis: P-256 and
//! stronger): EC keys in every file format OpenSSL writes, ECDSA signatures (RFC 5753 §2,
//! RFC 5758) and ECDH key agreement (RFC 5753 §3) with the OpenSSL CLI in both
//! directions, and whole AS2 messages and MDNs. Every key and certificate is made by the
//! OpenSSL CLI at test time.

mod common;

use as2_proto::cms::algorithm::{
    ContentEncryption, DigestAlgorithm, SignatureAlgorithm, SignatureScheme,
};
use as2_proto::cms::enveloped::{self, EncryptOptions, EnvelopedData};
use as2_proto::cms::signed::{self, SignOptions, SignedData, Signer};
use as2_proto::mdn::{self, Authenticity, MdnSettings, Report, SentMessage};
use as2_proto::message::headers::As2Id;
use as2_proto::message::inbound::SignerTrust;
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::partner::{ChainError, ChainTrust, DateEnforcement, PartnerError, verify_chain};
use as2_proto::{
    Certificate, Error, KeyAlgorithm, KeyUse, Limits, Pkcs12, PrivateKey, UsageExtension,
    VerificationError,
};
use common::{Pki, now, openssl, openssl_try, rng};

/// The curves, as OpenSSL names them, with the kind of key they give.
const CURVES: [(&str, KeyAlgorithm); 2] = [
    ("prime256v1", KeyAlgorithm::EcP256),
    ("secp384r1", KeyAlgorithm::EcP384),
];

const DIGESTS: [DigestAlgorithm; 3] = [
    DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha384,
    DigestAlgorithm::Sha512,
];

/// OpenSSL's name for a digest.
fn ossl_md(d: DigestAlgorithm) -> &'static str {
    match d {
        DigestAlgorithm::Sha1 => "sha1",
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha384 => "sha384",
        DigestAlgorithm::Sha512 => "sha512",
        _ => unreachable!("a digest this suite does not know"),
    }
}

/// An EC party certified by `pki`'s (RSA) CA: `openssl ecparam -genkey -name CURVE` (a
/// SEC1 `EC PRIVATE KEY` after `EC PARAMETERS`), a CSR, and `openssl x509 -req` with
/// `extensions`. Files `name.key`, `name.crt`.
fn ec_party(pki: &Pki, name: &str, curve: &str, extensions: &str) -> common::Identity {
    let d = pki.path();
    let (key, csr, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(d.join(&ext), extensions).unwrap();
    openssl(d, &["ecparam", "-genkey", "-name", curve, "-out", &key]);
    let subject = format!("/CN={name}/O=as2-proto EC tests");
    openssl(
        d,
        &["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject],
    );
    pki.certify(name, &ext)
}

/// The extensions of an EC certificate that signs and is encrypted to (as S/MIME
/// products issue them: RFC 8550 §4.4.2).
const EC_BOTH: &str = "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
    keyUsage=digitalSignature,nonRepudiation,keyAgreement\nextendedKeyUsage=emailProtection\n";

fn sign_options(digest: DigestAlgorithm, protection: bool) -> SignOptions {
    let mut o = SignOptions::default();
    o.digest = digest;
    o.algorithm_protection = protection;
    o
}

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
            // tests/pkcs12.rs requires `-legacy` too: a missing legacy provider fails here.
            let (ok, _, stderr) = openssl_try(pki.path(), &args);
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
    type Allowed = Result<(), UsageExtension>;
    let cases: [(&str, Allowed, Allowed); 5] = [
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

// ---------------------------------------------------------------------------------------
// ECDSA
// ---------------------------------------------------------------------------------------

/// Our ECDSA signatures, detached and encapsulated, with and without RFC 6211
/// protection, for each curve and digest: they verify here and with `openssl cms
/// -verify`, which prints the algorithms we wrote (ecdsa-with-SHAn, parameters absent,
/// and the same in the CMSAlgorithmProtection attribute).
#[test]
fn ecdsa_signatures_verify_here_and_in_openssl() {
    let pki = Pki::new();
    let content = b"ISA*00*ECDSA~\r\nline two\r\n";
    pki.write("content.txt", content);
    for (curve, _) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        let signer = Signer::new(&id.cert, &id.key);
        for digest in DIGESTS {
            for protection in [true, false] {
                let options = sign_options(digest, protection);
                let detached =
                    signed::sign_detached(content, &signer, &options, now(), &mut rng(7)).unwrap();
                let verified = SignedData::parse(&detached, &Limits::default())
                    .unwrap()
                    .verify(Some(content), std::slice::from_ref(&id.cert))
                    .unwrap();
                assert_eq!(verified.signature, SignatureAlgorithm::Ecdsa);
                assert_eq!(verified.digest, digest);
                assert_eq!(verified.algorithm_protection, protection);
                pki.write("detached.der", &detached);
                openssl(
                    pki.path(),
                    &[
                        "cms",
                        "-verify",
                        "-binary",
                        "-inform",
                        "DER",
                        "-in",
                        "detached.der",
                        "-content",
                        "content.txt",
                        "-CAfile",
                        "ca.crt",
                        "-purpose",
                        "any",
                        "-out",
                        "/dev/null",
                    ],
                );
                let printed = String::from_utf8(openssl(
                    pki.path(),
                    &[
                        "cms",
                        "-cmsout",
                        "-print",
                        "-inform",
                        "DER",
                        "-in",
                        "detached.der",
                    ],
                ))
                .unwrap();
                let name = format!("ecdsa-with-{}", ossl_md(digest).to_uppercase());
                assert!(printed.contains(&name), "{name} in {printed}");
                // OpenSSL 3.0 prints the RFC 6211 attribute by its OID.
                let attribute = printed.contains("1.2.840.113549.1.9.52")
                    || printed.contains("CMS Algorithm Protection");
                assert_eq!(attribute, protection, "{printed}");

                let opaque =
                    signed::sign_encapsulated(content, &signer, &options, now(), &mut rng(8))
                        .unwrap();
                let parsed = SignedData::parse(&opaque, &Limits::default()).unwrap();
                parsed.verify(None, std::slice::from_ref(&id.cert)).unwrap();
                assert_eq!(parsed.content(), Some(&content[..]));
                pki.write("opaque.der", &opaque);
                let out = openssl(
                    pki.path(),
                    &[
                        "cms",
                        "-verify",
                        "-binary",
                        "-inform",
                        "DER",
                        "-in",
                        "opaque.der",
                        "-CAfile",
                        "ca.crt",
                        "-purpose",
                        "any",
                    ],
                );
                assert_eq!(out, content);
            }
        }
    }
}

/// `openssl cms -sign` with EC keys (each curve, SHA-256/384/512, detached and opaque,
/// with and without signed attributes) verifies here.
#[test]
fn openssl_ecdsa_signatures_verify() {
    let pki = Pki::new();
    let content = b"UNB+UNOA:3+EC'\r\nbinary \x00\xff\r\n";
    pki.write("content.txt", content);
    for (curve, _) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        let crt = format!("{curve}.crt");
        let key = format!("{curve}.key");
        for digest in DIGESTS {
            for (detached, noattr) in [(true, false), (false, false), (true, true)] {
                let mut args = vec![
                    "cms",
                    "-sign",
                    "-binary",
                    "-in",
                    "content.txt",
                    "-signer",
                    &crt,
                    "-inkey",
                    &key,
                    "-md",
                    ossl_md(digest),
                    "-outform",
                    "DER",
                    "-out",
                    "sig.der",
                ];
                if !detached {
                    args.push("-nodetach");
                }
                if noattr {
                    args.push("-noattr");
                }
                openssl(pki.path(), &args);
                let der = pki.read("sig.der");
                let parsed = SignedData::parse(&der, &Limits::default()).unwrap();
                let verified = parsed
                    .verify(
                        detached.then_some(&content[..]),
                        std::slice::from_ref(&id.cert),
                    )
                    .unwrap_or_else(|e| panic!("{curve} {digest} {detached} {noattr}: {e}"));
                assert_eq!(verified.signature, SignatureAlgorithm::Ecdsa);
                assert_eq!(verified.digest, digest);
                assert_eq!(verified.signed_attributes, !noattr);
                // Another content does not verify.
                if detached {
                    assert_eq!(
                        parsed
                            .verify(Some(b"other"), std::slice::from_ref(&id.cert))
                            .unwrap_err(),
                        if noattr {
                            Error::Verification(VerificationError::BadSignature)
                        } else {
                            Error::Verification(VerificationError::DigestMismatch)
                        }
                    );
                }
            }
        }
    }
}

/// Signing is deterministic given the random source (the same seed gives the same bytes,
/// another seed other bytes), and every signature has the announced length.
#[test]
fn ecdsa_signing_is_deterministic_given_the_rng() {
    let pki = Pki::new();
    for (curve, _) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        let signer = Signer::new(&id.cert, &id.key);
        let options = sign_options(DigestAlgorithm::Sha256, true);
        let t = as2_proto::unix_time(1_800_000_000);
        let sign = |seed| signed::sign_detached(b"x", &signer, &options, t, &mut rng(seed));
        assert_eq!(sign(1).unwrap(), sign(1).unwrap());
        assert_ne!(sign(1).unwrap(), sign(2).unwrap());
        let lengths: std::collections::BTreeSet<usize> =
            (0..40).map(|seed| sign(seed).unwrap().len()).collect();
        assert_eq!(lengths.len(), 1, "{curve}: {lengths:?}");
    }
}

/// PSS needs an RSA key: asking for it with an EC key is refused, not silently replaced.
#[test]
fn pss_with_an_ec_key_is_refused() {
    let pki = Pki::new();
    let id = ec_party(&pki, "ec", "prime256v1", EC_BOTH);
    let mut options = SignOptions::default();
    options.scheme = SignatureScheme::Pss;
    assert_eq!(
        signed::sign_detached(
            b"x",
            &Signer::new(&id.cert, &id.key),
            &options,
            now(),
            &mut rng(1)
        )
        .unwrap_err(),
        Error::SigningFailed("RSASSA-PSS needs an RSA key")
    );
}

/// Decodes a ContentInfo holding SignedData with the `cms` crate, lets `change` rewrite
/// its first SignerInfo, and encodes it again.
fn rewrite_signer(der: &[u8], change: impl FnOnce(&mut cms::signed_data::SignerInfo)) -> Vec<u8> {
    use der::{Decode, Encode};
    let mut info = cms::content_info::ContentInfo::from_der(der).unwrap();
    let mut signed_data: cms::signed_data::SignedData = info.content.decode_as().unwrap();
    let mut signers = signed_data.signer_infos.0.into_vec();
    change(&mut signers[0]);
    signed_data.signer_infos = cms::signed_data::SignerInfos::try_from(signers).unwrap();
    info.content = der::Any::encode_from(&signed_data).unwrap();
    info.to_der().unwrap()
}

fn algorithm(oid: &str, null_params: bool) -> spki::AlgorithmIdentifierOwned {
    spki::AlgorithmIdentifierOwned {
        oid: oid.parse().unwrap(),
        parameters: null_params.then(|| der::Any::from(der::asn1::Null)),
    }
}

fn verify_detached(der: &[u8], content: &[u8], cert: &Certificate) -> Result<(), Error> {
    SignedData::parse(der, &Limits::default())?
        .verify(Some(content), std::slice::from_ref(cert))
        .map(|_| ())
}

/// Algorithm substitution: a SignerInfo whose signatureAlgorithm names an RSA scheme
/// while the signer's certificate holds an EC key (or ECDSA with an RSA key) is refused
/// with a typed error before any verification is attempted, with or without the RFC 6211
/// attribute (which, when present, also names the original algorithm).
#[test]
fn algorithm_substitution_is_refused() {
    let pki = Pki::new();
    let ec = ec_party(&pki, "ec", "prime256v1", EC_BOTH);
    let rsa = pki.party("rsa", 2048);
    let content = b"substitution";
    let rsa_ids = [
        algorithm("1.2.840.113549.1.1.1", true),  // rsaEncryption
        algorithm("1.2.840.113549.1.1.11", true), // sha256WithRSAEncryption
    ];
    let ec_ids = [
        algorithm("1.2.840.10045.4.3.2", false), // ecdsa-with-SHA256
        algorithm("1.2.840.10045.2.1", false),   // id-ecPublicKey
    ];
    for protection in [false, true] {
        let options = sign_options(DigestAlgorithm::Sha256, protection);
        for (id, substitutes) in [(&ec, &rsa_ids), (&rsa, &ec_ids)] {
            let signer = Signer::new(&id.cert, &id.key);
            let der =
                signed::sign_detached(content, &signer, &options, now(), &mut rng(3)).unwrap();
            // The rewriting itself changes nothing that matters: unchanged, it verifies.
            let same = rewrite_signer(&der, |_| {});
            verify_detached(&same, content, &id.cert).unwrap();
            for substitute in substitutes {
                let forged = rewrite_signer(&der, |si| si.signature_algorithm = substitute.clone());
                assert_eq!(
                    verify_detached(&forged, content, &id.cert).unwrap_err(),
                    Error::Verification(VerificationError::KeyAlgorithmMismatch),
                    "{} with {:?} key, protection {protection}",
                    substitute.oid,
                    id.key.algorithm()
                );
            }
        }
    }
    // The verdict's code and disposition are those of any failed signature.
    let e = Error::Verification(VerificationError::KeyAlgorithmMismatch);
    assert_eq!(e.code(), as2_proto::ErrorCode::VerificationFailed);
    assert_eq!(
        e.disposition().to_string(),
        "processed/Error: authentication-failed"
    );
}

/// Signature values: both `s` and `n - s` verify (no low-S rule in CMS), and anything
/// that is not strict DER with `0 < r, s < n` is refused as a bad signature.
#[test]
fn ecdsa_signature_values() {
    let pki = Pki::new();
    let content = b"values";
    for (curve, kind) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        let options = sign_options(DigestAlgorithm::Sha384, false);
        let der = signed::sign_detached(
            content,
            &Signer::new(&id.cert, &id.key),
            &options,
            now(),
            &mut rng(4),
        )
        .unwrap();
        let mut original = Vec::new();
        rewrite_signer(&der, |si| original = si.signature.as_bytes().to_vec());
        let with_value = |value: Vec<u8>| {
            let forged = rewrite_signer(&der, |si| {
                si.signature = der::asn1::OctetString::new(value).unwrap()
            });
            verify_detached(&forged, content, &id.cert)
        };
        // What we sign: low s, r with its top bit set, fixed length.
        let field = if kind == KeyAlgorithm::EcP256 { 32 } else { 48 };
        assert_eq!(original.len(), 2 + (2 + field + 1) + (2 + field));
        let r = original[5..5 + field].to_vec();
        let s = original[5 + field + 2..].to_vec();
        assert_eq!(s.len(), field);
        let encode = |r: &[u8], s: &[u8]| {
            let int = |v: &[u8]| {
                let mut out = vec![0x02, v.len() as u8];
                out.extend_from_slice(v);
                out
            };
            let body = [int(r), int(s)].concat();
            [vec![0x30, body.len() as u8], body].concat()
        };
        let r_der = [&[0u8][..], &r].concat();
        assert_eq!(encode(&r_der, &s), original, "the layout read back");
        with_value(original.clone()).unwrap();

        // High s: n - s, computed with the curve's scalar arithmetic.
        let high = match kind {
            KeyAlgorithm::EcP256 => {
                let sig = p256::ecdsa::Signature::from_der(&original).unwrap();
                let (r, s) = sig.split_scalars();
                p256::ecdsa::Signature::from_scalars(r, -s)
                    .unwrap()
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
            _ => {
                let sig = p384::ecdsa::Signature::from_der(&original).unwrap();
                let (r, s) = sig.split_scalars();
                p384::ecdsa::Signature::from_scalars(r, -s)
                    .unwrap()
                    .to_der()
                    .as_bytes()
                    .to_vec()
            }
        };
        assert_ne!(high, original);
        with_value(high).unwrap();

        let bad = Err(Error::Verification(VerificationError::BadSignature));
        let n_minus_nothing = vec![0xff; field]; // above the group order
        let mut trailing = original.clone();
        trailing.push(0);
        let mut long_form = vec![0x30, 0x81, original[1]];
        long_form.extend_from_slice(&original[2..]);
        let padded_s = encode(&r_der, &[&[0u8][..], &s].concat()); // non-minimal INTEGER
        let negative_r = encode(&r, &s); // top bit set without the leading zero
        let mut flipped = original.clone();
        flipped[10] ^= 1;
        for (what, value) in [
            ("trailing octet", trailing),
            ("long-form length", long_form),
            ("non-minimal s", padded_s),
            ("negative r", negative_r),
            ("r = 0", encode(&[0], &s)),
            ("s = 0", encode(&r_der, &[0])),
            (
                "s >= n",
                encode(&r_der, &[&[0u8][..], &n_minus_nothing].concat()),
            ),
            ("r || s (P1363)", [r.clone(), s.clone()].concat()),
            ("empty", Vec::new()),
            ("a bit flipped in r", flipped),
        ] {
            assert_eq!(with_value(value), bad, "{curve}: {what}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECDH key agreement
// ---------------------------------------------------------------------------------------

fn encrypt_options(cipher: ContentEncryption, use_subject_key_id: bool) -> EncryptOptions {
    let mut o = EncryptOptions::default();
    o.cipher = cipher;
    o.use_subject_key_id = use_subject_key_id;
    o
}

/// `openssl cms -encrypt` to an EC recipient decrypts here: each curve, OpenSSL's default
/// KDF (SHA-1) and `-keyopt ecdh_kdf_md:sha256/sha384/sha512`, cofactor mode, AES-128 and
/// AES-192 and AES-256-CBC (whose key wrap OpenSSL matches: aes128-wrap, aes192-wrap,
/// aes256-wrap); the envelope also lists an RSA recipient. For a 3DES content key OpenSSL
/// wraps with CMS3DESwrap (RFC 3217), which we do not read: a typed unsupported-algorithm
/// error, while the RSA recipient still decrypts.
#[test]
fn openssl_ecdh_envelopes_decrypt() {
    let pki = Pki::new();
    let content = b"UNB+UNOA:3+ECDH'\r\n\x00\xff".repeat(9);
    pki.write("content.bin", &content);
    let rsa = pki.party("rsa", 2048);
    for (curve, _) in CURVES {
        let id = ec_party(&pki, curve, curve, EC_BOTH);
        let crt = format!("{curve}.crt");
        for (keyopts, scheme) in [
            (&[][..], "dhSinglePass-stdDH-sha1kdf-scheme"),
            (
                &["ecdh_kdf_md:sha256"][..],
                "dhSinglePass-stdDH-sha256kdf-scheme",
            ),
            (
                &["ecdh_kdf_md:sha384"][..],
                "dhSinglePass-stdDH-sha384kdf-scheme",
            ),
            (
                &["ecdh_kdf_md:sha512"][..],
                "dhSinglePass-stdDH-sha512kdf-scheme",
            ),
            (
                &["ecdh_kdf_md:sha256", "ecdh_cofactor_mode:1"][..],
                "dhSinglePass-cofactorDH-sha256kdf-scheme",
            ),
        ] {
            for (cipher, switch, wrap) in [
                (ContentEncryption::Aes128Cbc, "-aes128", "id-aes128-wrap"),
                (
                    ContentEncryption::Aes256Cbc,
                    "-aes-256-cbc",
                    "id-aes256-wrap",
                ),
                (ContentEncryption::Aes192Cbc, "-aes192", "id-aes192-wrap"),
                (
                    ContentEncryption::TripleDesCbc,
                    "-des3",
                    "id-smime-alg-CMS3DESwrap",
                ),
            ] {
                let mut args = vec![
                    "cms",
                    "-encrypt",
                    "-binary",
                    "-in",
                    "content.bin",
                    switch,
                    "-outform",
                    "DER",
                    "-out",
                    "env.der",
                    "-recip",
                    &crt,
                ];
                for opt in keyopts {
                    args.extend(["-keyopt", opt]);
                }
                args.extend(["-recip", "rsa.crt"]);
                openssl(pki.path(), &args);
                let der = pki.read("env.der");
                let printed = String::from_utf8(openssl(
                    pki.path(),
                    &[
                        "cms", "-cmsout", "-print", "-inform", "DER", "-in", "env.der",
                    ],
                ))
                .unwrap();
                assert!(printed.contains(scheme), "{scheme}: {printed}");
                assert!(printed.contains(wrap), "{wrap}: {printed}");
                let envelope = EnvelopedData::parse(&der, &Limits::default()).unwrap();
                assert_eq!(envelope.content_encryption(), cipher);
                assert!(envelope.is_recipient(&id.cert));
                assert!(envelope.is_recipient(&rsa.cert));
                let what = format!("{curve} {keyopts:?} {switch}");
                if cipher == ContentEncryption::TripleDesCbc {
                    assert_eq!(
                        envelope.decrypt(&id.cert, &id.key, &mut rng(1)),
                        Err(Error::UnsupportedAlgorithm {
                            kind: as2_proto::AlgorithmKind::KeyTransport,
                            oid: "1.2.840.113549.1.9.16.3.6".parse().unwrap(),
                        }),
                        "{what}"
                    );
                    let plain = envelope.decrypt(&rsa.cert, &rsa.key, &mut rng(1)).unwrap();
                    assert_eq!(plain, content, "{what}");
                    continue;
                }
                let plain = envelope
                    .decrypt(&id.cert, &id.key, &mut rng(1))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(plain, content, "{what}");
                let plain = envelope.decrypt(&rsa.cert, &rsa.key, &mut rng(1)).unwrap();
                assert_eq!(plain, content, "{what}");
            }
        }
    }
}

/// Our envelopes to EC recipients decrypt with `openssl cms -decrypt`: each curve, AES-128
/// and AES-256, recipients named by issuer and serial or by subject key identifier, and an
/// envelope to an RSA and two EC recipients that OpenSSL opens with each key. OpenSSL
/// prints the algorithms we wrote.
#[test]
fn ecdh_envelopes_decrypt_in_openssl() {
    let pki = Pki::new();
    let content = b"ISA*00*ECDH~\r\n".repeat(20);
    let rsa = pki.party("rsa", 2048);
    let ids: Vec<_> = CURVES
        .iter()
        .map(|(curve, _)| ec_party(&pki, curve, curve, EC_BOTH))
        .collect();
    let decrypt = |env: &[u8], name: &str| {
        pki.write("ours.der", env);
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        openssl(
            pki.path(),
            &[
                "cms", "-decrypt", "-binary", "-inform", "DER", "-in", "ours.der", "-recip", &crt,
                "-inkey", &key,
            ],
        )
    };
    for ((curve, _), id) in CURVES.iter().zip(&ids) {
        for (cipher, wrap) in [
            (ContentEncryption::Aes128Cbc, "id-aes128-wrap"),
            (ContentEncryption::Aes256Cbc, "id-aes256-wrap"),
        ] {
            for ski in [false, true] {
                let options = encrypt_options(cipher, ski);
                let env = enveloped::encrypt(&content, &[&id.cert], &options, &mut rng(5)).unwrap();
                assert_eq!(decrypt(&env, curve), content, "{curve} {cipher} {ski}");
                let printed = String::from_utf8(openssl(
                    pki.path(),
                    &[
                        "cms", "-cmsout", "-print", "-inform", "DER", "-in", "ours.der",
                    ],
                ))
                .unwrap();
                let scheme = if *curve == "prime256v1" {
                    "dhSinglePass-stdDH-sha256kdf-scheme"
                } else {
                    "dhSinglePass-stdDH-sha384kdf-scheme"
                };
                assert!(printed.contains(scheme), "{printed}");
                assert!(printed.contains(wrap), "{printed}");
                // Ours reads back too.
                let parsed = EnvelopedData::parse(&env, &Limits::default()).unwrap();
                let plain = parsed.decrypt(&id.cert, &id.key, &mut rng(6)).unwrap();
                assert_eq!(plain, content);
            }
        }
    }
    let mixed = enveloped::encrypt(
        &content,
        &[&rsa.cert, &ids[0].cert, &ids[1].cert],
        &EncryptOptions::default(),
        &mut rng(7),
    )
    .unwrap();
    let parsed = EnvelopedData::parse(&mixed, &Limits::default()).unwrap();
    for (name, identity) in [
        ("rsa", &rsa),
        ("prime256v1", &ids[0]),
        ("secp384r1", &ids[1]),
    ] {
        assert_eq!(decrypt(&mixed, name), content, "OpenSSL with {name}");
        let plain = parsed
            .decrypt(&identity.cert, &identity.key, &mut rng(8))
            .unwrap();
        assert_eq!(plain, content, "us with {name}");
    }
    // An EC certificate without keyAgreement is not encrypted to.
    let no_agreement = ec_party(
        &pki,
        "noka",
        "prime256v1",
        "keyUsage=digitalSignature,keyEncipherment\n",
    );
    match enveloped::encrypt(
        &content,
        &[&no_agreement.cert],
        &EncryptOptions::default(),
        &mut rng(9),
    ) {
        Err(Error::CertificateUsage(u)) => {
            assert_eq!(
                (u.key_use, u.extension),
                (KeyUse::Encryption, UsageExtension::KeyUsage)
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// AS2 messages and MDNs
// ---------------------------------------------------------------------------------------

/// An AS2 message signed with P-256 and encrypted to a P-384 recipient goes through
/// `outbound::build` and `Incoming::accept` (the streaming receiver), and the signed MDN
/// the recipient answers with (signed with its P-384 key) verifies at the sender, MIC
/// included. Also unsigned-MDN-free variants: compressed first, with each digest.
#[test]
fn as2_message_and_mdn_with_ec_keys() {
    let pki = Pki::new();
    let a_sign = ec_party(&pki, "a-sign", "prime256v1", EC_BOTH);
    let b_enc = ec_party(&pki, "b-enc", "secp384r1", EC_BOTH);
    let b_sign = ec_party(&pki, "b-sign", "secp384r1", EC_BOTH);
    let payload = b"ISA*00*          *00*          *ZZ*A *ZZ*B *~GS*PO*A*B~".repeat(50);
    let limits = Limits::default();
    for (digest, compression) in [
        (DigestAlgorithm::Sha256, Compression::None),
        (DigestAlgorithm::Sha384, Compression::BeforeSigning),
        (DigestAlgorithm::Sha512, Compression::AfterSigning),
    ] {
        let mut message = OutboundMessage::new(
            As2Id::new("PartnerA").unwrap(),
            As2Id::new("PartnerB").unwrap(),
            &payload,
        );
        message.compression = compression;
        message.signing = Some((
            Signer::new(&a_sign.cert, &a_sign.key),
            sign_options(digest, true),
        ));
        message.encryption.0 = vec![&b_enc.cert];
        message.mdn = MdnRequest::sync().signed(&[digest]);
        let built = outbound::build(&message, now(), &mut rng(10)).unwrap();

        let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
        let keys = [(b_enc.cert.clone(), b_enc.key.clone())];
        let partner = [a_sign.cert.clone()];
        let policy = InboundPolicy::new(&keys, &partner, &limits);
        let outcome = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng(11));
        let received = outcome
            .as_ref()
            .unwrap_or_else(|r| panic!("{:?}", r.cause()));
        assert_eq!(received.payload, payload);
        let verified = received.signature.as_ref().unwrap();
        assert_eq!(verified.signature, SignatureAlgorithm::Ecdsa);
        assert_eq!(verified.digest, digest);
        assert_eq!(verified.signer, a_sign.cert);
        assert_eq!(received.mic, built.mic);

        let report = Report::from_outcome(&outcome);
        let settings = MdnSettings::signed(Signer::new(&b_sign.cert, &b_sign.key));
        let reply = mdn::reply(&incoming, &report, &settings, now(), &mut rng(12)).unwrap();
        let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
        let sent = SentMessage::from_built(&built, vec![b_sign.cert.clone()]);
        let verdict = parsed.verify(&sent, &limits).unwrap();
        assert!(verdict.is_success(), "{verdict:?}");
        match &verdict.authenticity {
            Authenticity::Signed(v) => {
                assert_eq!(v.signature, SignatureAlgorithm::Ecdsa);
                assert_eq!(v.signer, b_sign.cert);
            }
            other => panic!("{other:?}"),
        }
        // The MDN does not verify with another partner's EC certificate.
        let wrong = SentMessage::from_built(&built, vec![b_enc.cert.clone()]);
        assert!(parsed.verify(&wrong, &limits).is_err());
        // A message signed by someone else's EC key is refused.
        let stranger = [b_sign.cert.clone()];
        let policy = InboundPolicy::new(&keys, &stranger, &limits);
        let refused = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng(13));
        assert!(refused.is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Certificate chains signed with ECDSA
// ---------------------------------------------------------------------------------------

/// A leaf certified by `pki`'s CA with the digest `digest` (`openssl x509 -req -sha384`):
/// an EC key on P-256 if `ec`, else RSA 2048. Files `name.key`, `name.crt`.
fn chain_leaf(pki: &Pki, name: &str, ec: bool, digest: DigestAlgorithm) -> common::Identity {
    let d = pki.path();
    let (key, csr, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(d.join(&ext), EC_BOTH).unwrap();
    let subject = format!("/CN={name}/O=as2-proto EC tests");
    if ec {
        openssl(
            d,
            &["ecparam", "-genkey", "-name", "prime256v1", "-out", &key],
        );
        openssl(
            d,
            &["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject],
        );
    } else {
        openssl(
            d,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                &subject,
            ],
        );
    }
    let md = format!("-{}", ossl_md(digest));
    pki.certify_with(name, &ext, &[&md])
}

/// The reason `verify_chain` gave up.
fn chain_error(result: Result<(), Error>) -> ChainError {
    match result {
        Err(Error::Partner(PartnerError::UntrustedCertificate(u))) => u.reason,
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
}

/// Whether `openssl verify` accepts `leaf` (a file in `dir`) under the anchor `ca`.
fn openssl_verifies(dir: &std::path::Path, ca: &str, leaf: &str) -> bool {
    openssl_try(dir, &["verify", "-CAfile", ca, leaf]).0
}

/// `cert` with its outer signatureAlgorithm replaced by `id` (the signature value and the
/// tbsCertificate unchanged).
fn with_signature_algorithm(cert: &Certificate, id: spki::AlgorithmIdentifierOwned) -> Certificate {
    use der::{Decode, Encode};
    let decoded = x509_cert::Certificate::from_der(cert.der()).unwrap();
    let fields = [
        decoded.tbs_certificate().to_der().unwrap(),
        id.to_der().unwrap(),
        decoded.signature().to_der().unwrap(),
    ]
    .concat();
    let der = der::Any::new(der::Tag::Sequence, fields)
        .unwrap()
        .to_der()
        .unwrap();
    Certificate::from_der(&der).unwrap()
}

/// An EC CA (P-256 and P-384) issues EC and RSA leaves signed with ecdsa-with-SHA256,
/// SHA-384 and SHA-512: each chain verifies here (by `verify_chain` and `ChainTrust`) and
/// in `openssl verify`.
#[test]
fn ecdsa_signed_chains_verify() {
    for (curve, kind) in CURVES {
        let pki = Pki::new_ec(curve);
        assert_eq!(pki.ca.cert.key_algorithm(), Some(kind));
        let anchors = [pki.ca.cert.clone()];
        for digest in DIGESTS {
            for ec in [true, false] {
                let name = format!("{}-{}", if ec { "ec" } else { "rsa" }, ossl_md(digest));
                let leaf = chain_leaf(&pki, &name, ec, digest);
                // OpenSSL signed it with the CA's EC key and the digest asked for.
                let decoded = {
                    use der::Decode;
                    x509_cert::Certificate::from_der(leaf.cert.der()).unwrap()
                };
                assert_eq!(
                    decoded.signature_algorithm().oid,
                    digest.ecdsa_signature_oid(),
                    "{curve} {name}"
                );
                let at = now();
                verify_chain(
                    &name,
                    &leaf.cert,
                    &[],
                    &anchors,
                    at,
                    DateEnforcement::Enforce,
                )
                .unwrap_or_else(|e| panic!("{curve} {name}: {e}"));
                ChainTrust::new(&anchors, at).check(&leaf.cert).unwrap();
                assert!(openssl_verifies(
                    pki.path(),
                    "ca.crt",
                    &format!("{name}.crt")
                ));
            }
        }
    }
}

/// A chain whose ECDSA signature does not verify is refused: a changed signature value,
/// and impostor CAs with the CA's name but another key (EC, and RSA as after a CA's move
/// from one algorithm to the other).
#[test]
fn ecdsa_signed_chains_with_wrong_signatures_are_refused() {
    let pki = Pki::new_ec("prime256v1");
    let leaf = chain_leaf(&pki, "leaf", true, DigestAlgorithm::Sha256);
    let anchors = [pki.ca.cert.clone()];
    let check = |leaf: &Certificate, anchors: &[Certificate]| {
        verify_chain("leaf", leaf, &[], anchors, now(), DateEnforcement::Enforce)
    };
    check(&leaf.cert, &anchors).unwrap();

    // The last octet of the signature value (inside `s`) changed.
    let mut der = leaf.cert.der().to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    let tampered = Certificate::from_der(&der).unwrap();
    assert_eq!(
        chain_error(check(&tampered, &anchors)),
        ChainError::BadSignature
    );
    pki.write("tampered.der", &der);
    let d = pki.path();
    openssl(
        d,
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "tampered.der",
            "-out",
            "tampered.crt",
        ],
    );
    assert!(openssl_verifies(d, "ca.crt", "leaf.crt"));
    assert!(!openssl_verifies(d, "ca.crt", "tampered.crt"));

    // Impostor CAs named "CN=Test CA" like the real one.
    for impostor in [
        Pki::new_ec("prime256v1"),
        Pki::new_ec("secp384r1"),
        Pki::new(),
    ] {
        assert_eq!(impostor.ca.cert.subject_der(), pki.ca.cert.subject_der());
        let other = [impostor.ca.cert.clone()];
        assert_eq!(
            chain_error(check(&leaf.cert, &other)),
            ChainError::BadSignature
        );
        assert_eq!(
            chain_error(ChainTrust::new(&other, now()).check(&leaf.cert)),
            ChainError::BadSignature
        );
    }
}

/// Algorithm substitution: a certificate's ECDSA signature declared as RSA, and an RSA
/// signature declared as ECDSA, are refused (never checked as the other algorithm), as is
/// `id-ecPublicKey`, which names a key and no digest.
#[test]
fn chain_signature_algorithm_substitution_is_refused() {
    let ec_pki = Pki::new_ec("secp384r1");
    let rsa_pki = Pki::new();
    let ec_signed = chain_leaf(&ec_pki, "ec-signed", false, DigestAlgorithm::Sha384);
    let rsa_signed = chain_leaf(&rsa_pki, "rsa-signed", true, DigestAlgorithm::Sha256);
    let check = |leaf: &Certificate, pki: &Pki| {
        let anchors = [pki.ca.cert.clone()];
        verify_chain("leaf", leaf, &[], &anchors, now(), DateEnforcement::Enforce)
    };
    check(&ec_signed.cert, &ec_pki).unwrap();
    check(&rsa_signed.cert, &rsa_pki).unwrap();

    // sha384WithRSAEncryption on an ECDSA signature by an EC CA.
    let as_rsa =
        with_signature_algorithm(&ec_signed.cert, algorithm("1.2.840.113549.1.1.12", true));
    assert_eq!(
        chain_error(check(&as_rsa, &ec_pki)),
        ChainError::BadSignature
    );
    // ecdsa-with-SHA256 on an RSA signature by an RSA CA.
    let as_ecdsa =
        with_signature_algorithm(&rsa_signed.cert, algorithm("1.2.840.10045.4.3.2", false));
    assert_eq!(
        chain_error(check(&as_ecdsa, &rsa_pki)),
        ChainError::BadSignature
    );
    // ecdsa-with-SHA512 where SHA-384 was signed: the digest is part of the identifier.
    let other_digest =
        with_signature_algorithm(&ec_signed.cert, algorithm("1.2.840.10045.4.3.4", false));
    assert_eq!(
        chain_error(check(&other_digest, &ec_pki)),
        ChainError::BadSignature
    );
    // id-ecPublicKey names no digest: not a certificate signature algorithm.
    let key_oid = with_signature_algorithm(&ec_signed.cert, algorithm("1.2.840.10045.2.1", false));
    assert_eq!(
        chain_error(check(&key_oid, &ec_pki)),
        ChainError::BadSignature
    );
    // The untouched certificates still verify with the right CA, and not with the other.
    assert_eq!(
        chain_error(check(&ec_signed.cert, &rsa_pki)),
        ChainError::BadSignature
    );
}
