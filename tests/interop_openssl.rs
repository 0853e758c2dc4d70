//! Interoperability with the OpenSSL 3 CLI (`openssl cms`), in both directions: our
//! signatures and envelopes read by OpenSSL, and OpenSSL's read by us.

mod common;

use as2_proto::cms::algorithm::{
    ContentEncryption, DigestAlgorithm, KeyTransport, SignatureAlgorithm, SignatureScheme,
};
use as2_proto::cms::auth_enveloped;
use as2_proto::cms::enveloped::{self, EncryptOptions, EnvelopedData};
use as2_proto::cms::signed::{self, SignOptions, SignedData, Signer, SignerSource, Verified};
use as2_proto::{AlgorithmKind, Error, ErrorCode, Limits, VerificationError};
use common::{Identity, Pki, openssl, openssl_try};
use const_oid::ObjectIdentifier;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A payload no text canonicalisation survives: CRLF, bare LF, bare CR, NUL, 0xFF and every
/// byte value.
fn binary_payload() -> Vec<u8> {
    let mut p = b"UNB+UNOA:3+SENDER+RECEIVER'\r\nline two\nbare LF\rbare CR\0NUL\xff\xfe".to_vec();
    p.extend(0u8..=255);
    p.extend_from_slice(b"\n\n\r\r\0\0\xff\xff\r\n");
    p
}

/// `len` bytes of deterministic, non-repeating-looking data.
fn bulk_payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ (i as u8))
        .collect()
}

/// The digest computed independently of the crate under test.
fn sha(d: DigestAlgorithm, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match d {
        DigestAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        DigestAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        DigestAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
        DigestAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        _ => unreachable!("a digest this suite does not know"),
    }
}

/// OpenSSL's name for a digest (`-md`, `rsa_oaep_md`, ASN.1 printing).
fn ossl_md(d: DigestAlgorithm) -> &'static str {
    match d {
        DigestAlgorithm::Sha1 => "sha1",
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha384 => "sha384",
        DigestAlgorithm::Sha512 => "sha512",
        _ => unreachable!("a digest this suite does not know"),
    }
}

/// OpenSSL's cipher switch for `openssl cms -encrypt`.
fn ossl_cipher(c: ContentEncryption) -> &'static str {
    match c {
        ContentEncryption::Aes128Cbc => "-aes128",
        ContentEncryption::Aes192Cbc => "-aes192",
        ContentEncryption::Aes256Cbc => "-aes256",
        ContentEncryption::TripleDesCbc => "-des3",
        _ => unreachable!("a cipher this suite does not know"),
    }
}

/// The name `openssl cms -cmsout -print` shows for a cipher.
fn ossl_cipher_print(c: ContentEncryption) -> &'static str {
    match c {
        ContentEncryption::Aes128Cbc => "aes-128-cbc",
        ContentEncryption::Aes192Cbc => "aes-192-cbc",
        ContentEncryption::Aes256Cbc => "aes-256-cbc",
        ContentEncryption::TripleDesCbc => "des-ede3-cbc",
        _ => unreachable!("a cipher this suite does not know"),
    }
}

fn limits() -> Limits {
    Limits::default()
}

fn sign_options(
    digest: DigestAlgorithm,
    scheme: SignatureScheme,
    algorithm_protection: bool,
    use_subject_key_id: bool,
) -> SignOptions {
    let mut o = SignOptions::default();
    o.digest = digest;
    o.scheme = scheme;
    o.algorithm_protection = algorithm_protection;
    o.use_subject_key_id = use_subject_key_id;
    o
}

fn encrypt_options(
    cipher: ContentEncryption,
    key_transport: KeyTransport,
    use_subject_key_id: bool,
) -> EncryptOptions {
    let mut o = EncryptOptions::default();
    o.cipher = cipher;
    o.key_transport = key_transport;
    o.use_subject_key_id = use_subject_key_id;
    o
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `openssl cms -cmsout -print` of a DER CMS structure.
fn cms_print(pki: &Pki, der: &[u8]) -> String {
    pki.write("print.der", der);
    let out = openssl(
        pki.path(),
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "print.der",
        ],
    );
    String::from_utf8(out).expect("openssl prints text")
}

/// The part of a printed SignedData from `signerInfos:` on.
fn signer_infos(print: &str) -> &str {
    let at = print.find("signerInfos:").expect("printed signerInfos");
    &print[at..]
}

/// The `recipientInfos` part of a printed EnvelopedData.
fn recipient_infos(print: &str) -> &str {
    let at = print
        .find("recipientInfos:")
        .expect("printed recipientInfos");
    let end = print
        .find("encryptedContentInfo:")
        .expect("printed encryptedContentInfo");
    &print[at..end]
}

/// Whether the printed SignerInfo has no signed attributes (`signedAttrs:` then
/// `<ABSENT>`; `unsignedAttrs:` does not count).
fn signed_attrs_absent(infos: &str) -> bool {
    let lines: Vec<&str> = infos.lines().map(str::trim).collect();
    lines
        .windows(2)
        .any(|w| w[0] == "signedAttrs:" && w[1] == "<ABSENT>")
}

/// Whether a printed SignedData carries the RFC 6211 CMSAlgorithmProtection attribute.
fn has_algorithm_protection(print: &str) -> bool {
    let lower = print.to_ascii_lowercase();
    lower.contains("1.2.840.113549.1.9.52") || lower.contains("algorithmprotection")
}

/// The printed CMSAlgorithmProtection attribute of a SignerInfo (up to the
/// signatureAlgorithm field), if present. OpenSSL 3.0 has no name for the OID and prints
/// `undefined (1.2.840.113549.1.9.52)`.
fn protection_attribute(infos: &str) -> Option<&str> {
    let at = infos.find("(1.2.840.113549.1.9.52)")?;
    let end = infos[at..].find("signatureAlgorithm:")? + at;
    Some(&infos[at..end])
}

/// Verifies a detached signature with OpenSSL against the CA and returns what OpenSSL
/// outputs as the verified content.
fn openssl_verify_detached(pki: &Pki, signature: &[u8], content: &[u8]) -> Vec<u8> {
    pki.write("sig.der", signature);
    pki.write("content.bin", content);
    openssl(
        pki.path(),
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "sig.der",
            "-content",
            "content.bin",
            "-CAfile",
            "ca.crt",
        ],
    )
}

/// Verifies an encapsulated signature with OpenSSL and returns the content it outputs.
fn openssl_verify_encapsulated(pki: &Pki, signature: &[u8]) -> Vec<u8> {
    pki.write("sig.der", signature);
    openssl(
        pki.path(),
        &[
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der", "-CAfile", "ca.crt",
        ],
    )
}

/// Signs `content` with OpenSSL as `signer` (files `NAME.crt`/`NAME.key`), with `extra`
/// options, and returns the DER output.
fn openssl_sign(pki: &Pki, signer: &str, content: &[u8], extra: &[&str]) -> Vec<u8> {
    pki.write("to-sign.bin", content);
    let crt = format!("{signer}.crt");
    let key = format!("{signer}.key");
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        "to-sign.bin",
        "-signer",
        &crt,
        "-inkey",
        &key,
        "-outform",
        "DER",
    ];
    args.extend_from_slice(extra);
    openssl(pki.path(), &args)
}

/// Encrypts `content` with OpenSSL; `args` holds the cipher, recipients and key options.
fn openssl_encrypt(pki: &Pki, content: &[u8], args: &[&str]) -> Vec<u8> {
    pki.write("to-encrypt.bin", content);
    let mut all = vec![
        "cms",
        "-encrypt",
        "-binary",
        "-in",
        "to-encrypt.bin",
        "-outform",
        "DER",
    ];
    all.extend_from_slice(args);
    openssl(pki.path(), &all)
}

/// Decrypts a DER envelope with OpenSSL as the party `name` and returns the content.
fn openssl_decrypt(pki: &Pki, envelope: &[u8], name: &str) -> Vec<u8> {
    pki.write("env.der", envelope);
    let crt = format!("{name}.crt");
    let key = format!("{name}.key");
    openssl(
        pki.path(),
        &[
            "cms", "-decrypt", "-binary", "-inform", "DER", "-in", "env.der", "-recip", &crt,
            "-inkey", &key,
        ],
    )
}

/// Checks what every verification of an OpenSSL signature by `alice` must report.
fn assert_verified(
    v: &Verified,
    alice: &Identity,
    content: &[u8],
    digest: DigestAlgorithm,
    signature: SignatureAlgorithm,
    case: &str,
) {
    assert_eq!(v.digest, digest, "{case}: digest");
    assert_eq!(v.signature, signature, "{case}: signature algorithm");
    assert_eq!(
        v.content_digest,
        sha(digest, content),
        "{case}: content digest"
    );
    assert_eq!(v.signer, alice.cert, "{case}: signer certificate");
    // OpenSSL 3.0 does not write RFC 6211 protection.
    assert!(!v.algorithm_protection, "{case}: algorithm protection");
}

fn rsa_pss(hash: DigestAlgorithm, salt_len: usize) -> SignatureAlgorithm {
    SignatureAlgorithm::RsaPss { hash, salt_len }
}

/// The DER encoding of an OBJECT IDENTIFIER.
fn oid_der(oid: ObjectIdentifier) -> Vec<u8> {
    let mut v = vec![0x06, oid.as_bytes().len() as u8];
    v.extend_from_slice(oid.as_bytes());
    v
}

// ---------------------------------------------------------------------------------------
// 1. Our signatures, verified by OpenSSL
// ---------------------------------------------------------------------------------------

#[test]
fn our_detached_signatures_verify_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(1);
    let payload = binary_payload();
    let signer = Signer::new(&alice.cert, &alice.key);
    for digest in DigestAlgorithm::ALL {
        for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
            for protection in [true, false] {
                let case = format!("{digest} {scheme:?} protection={protection}");
                let options = sign_options(digest, scheme, protection, false);
                let sig =
                    signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng)
                        .unwrap_or_else(|e| panic!("{case}: sign: {e}"));
                assert_eq!(
                    openssl_verify_detached(&pki, &sig, &payload),
                    payload,
                    "{case}: content output by openssl"
                );
                // OpenSSL really checks: other content fails.
                let mut tampered = payload.clone();
                tampered[0] ^= 1;
                pki.write("content.bin", &tampered);
                let (ok, _, stderr) = openssl_try(
                    pki.path(),
                    &[
                        "cms",
                        "-verify",
                        "-binary",
                        "-inform",
                        "DER",
                        "-in",
                        "sig.der",
                        "-content",
                        "content.bin",
                        "-CAfile",
                        "ca.crt",
                    ],
                );
                assert!(!ok, "{case}: openssl verified tampered content");
                assert!(
                    stderr.contains("CMS Verification failure"),
                    "{case}: unexpected openssl error: {stderr}"
                );
            }
        }
    }
}

#[test]
fn our_signature_without_certificates_verifies_in_openssl_given_the_certificate() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(11);
    let payload = binary_payload();
    let signer = Signer::new(&alice.cert, &alice.key);
    let mut options = SignOptions::default();
    options.include_certificates = false;
    let sig =
        signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng).expect("sign");
    assert!(!cms_print(&pki, &sig).contains("d.certificate:"));
    pki.write("sig.der", &sig);
    pki.write("content.bin", &payload);
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "sig.der",
            "-content",
            "content.bin",
            "-CAfile",
            "ca.crt",
        ];
        args.extend_from_slice(extra);
        openssl_try(pki.path(), &args)
    };
    let (ok, _, stderr) = verify(&[]);
    assert!(!ok, "openssl found a signer certificate that is not there");
    assert!(stderr.contains("signer certificate not found"), "{stderr}");
    let (ok, out, stderr) = verify(&["-certfile", "alice.crt"]);
    assert!(ok, "{stderr}");
    assert_eq!(out, payload);
}

#[test]
fn our_encapsulated_signatures_verify_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(2);
    let signer = Signer::new(&alice.cert, &alice.key);
    for payload in [binary_payload(), Vec::new()] {
        for digest in DigestAlgorithm::ALL {
            for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
                let case = format!("{digest} {scheme:?} len={}", payload.len());
                let options = sign_options(digest, scheme, true, false);
                let sig =
                    signed::sign_encapsulated(&payload, &signer, &options, common::now(), &mut rng)
                        .unwrap_or_else(|e| panic!("{case}: sign: {e}"));
                assert_eq!(
                    openssl_verify_encapsulated(&pki, &sig),
                    payload,
                    "{case}: content output by openssl"
                );
            }
        }
    }
}

#[test]
fn our_subject_key_id_signatures_verify_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(3);
    let payload = binary_payload();
    let signer = Signer::new(&alice.cert, &alice.key);
    let ski = alice
        .cert
        .subject_key_id()
        .expect("alice has a SKI")
        .to_vec();
    let ski_hex: String = ski.iter().map(|b| format!("{b:02x}")).collect();
    for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
        let case = format!("{scheme:?}");
        let options = sign_options(DigestAlgorithm::Sha256, scheme, true, true);
        let detached = signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng)
            .unwrap_or_else(|e| panic!("{case}: sign: {e}"));
        let print = cms_print(&pki, &detached);
        let infos = signer_infos(&print);
        assert!(infos.contains("version: 3"), "{case}: {infos}");
        assert!(infos.contains("d.subjectKeyIdentifier"), "{case}: {infos}");
        // The printed identifier is a hex dump ("0000 - 77 63 ...-df 67   wcb..."): compare
        // its bytes.
        let dumped: String = infos
            .lines()
            .skip_while(|l| !l.contains("d.subjectKeyIdentifier"))
            .skip(1)
            .map_while(|l| l.split_once(" - "))
            .flat_map(|(_, rest)| {
                let hex = rest.split_once("   ").map_or(rest, |(h, _)| h);
                hex.split([' ', '-'])
                    .filter(|t| t.len() == 2)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(dumped, ski_hex, "{case}: printed subject key identifier");
        assert_eq!(
            openssl_verify_detached(&pki, &detached, &payload),
            payload,
            "{case}: detached"
        );
        let opaque =
            signed::sign_encapsulated(&payload, &signer, &options, common::now(), &mut rng)
                .unwrap_or_else(|e| panic!("{case}: sign: {e}"));
        assert_eq!(
            openssl_verify_encapsulated(&pki, &opaque),
            payload,
            "{case}: encapsulated"
        );
    }
}

#[test]
fn our_pss_parameters_and_algorithm_protection_as_openssl_prints_them() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(4);
    let payload = b"PSS parameters".to_vec();
    let signer = Signer::new(&alice.cert, &alice.key);
    for digest in DigestAlgorithm::ALL {
        let case = format!("{digest}");
        let options = sign_options(digest, SignatureScheme::Pss, true, false);
        let sig = signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng)
            .unwrap_or_else(|e| panic!("{case}: sign: {e}"));
        let print = cms_print(&pki, &sig);
        let infos = signer_infos(&print);
        let at = infos
            .find("signatureAlgorithm:")
            .expect("printed signatureAlgorithm");
        let end = infos[at..].find("signature:").expect("printed signature") + at;
        let params = &infos[at..end];
        assert!(params.contains("rsassaPss"), "{case}: {params}");
        // hashAlgorithm [0], maskGenAlgorithm [1] (MGF1 with the same hash), saltLength [2].
        assert!(
            params.contains("cont [ 0 ]"),
            "{case}: hashAlgorithm: {params}"
        );
        assert!(
            params.contains("cont [ 1 ]"),
            "{case}: maskGenAlgorithm: {params}"
        );
        assert!(
            params.contains("cont [ 2 ]"),
            "{case}: saltLength: {params}"
        );
        assert!(params.contains(":mgf1"), "{case}: {params}");
        let hash = format!(":{}", ossl_md(digest));
        assert_eq!(
            params
                .lines()
                .filter(|l| l.trim_end().ends_with(&hash))
                .count(),
            2,
            "{case}: hash named for the message and for MGF1: {params}"
        );
        let salt: Vec<&str> = params
            .lines()
            .filter(|l| l.contains("INTEGER"))
            .map(|l| l.rsplit(':').next().unwrap_or_default().trim())
            .collect();
        assert_eq!(
            salt,
            [format!("{:02X}", digest.output_len())],
            "{case}: salt length: {params}"
        );
        assert!(
            !params.contains("cont [ 3 ]"),
            "{case}: trailerField is the default"
        );
        // CMSAlgorithmProtection names the same digest and, as [1], the same PSS algorithm.
        let attr = protection_attribute(infos)
            .unwrap_or_else(|| panic!("{case}: protection attribute missing: {infos}"));
        assert!(attr.contains(&hash), "{case}: protected digest: {attr}");
        assert!(
            attr.contains("cont [ 1 ]"),
            "{case}: protected signature: {attr}"
        );
        assert!(
            attr.contains(":rsassaPss"),
            "{case}: protected signature: {attr}"
        );
    }
    // Protection is on by default and absent when switched off, for both schemes.
    for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
        let mut options = SignOptions::default();
        options.scheme = scheme;
        let with = signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng)
            .expect("sign");
        let print = cms_print(&pki, &with);
        let attr = protection_attribute(signer_infos(&print))
            .unwrap_or_else(|| panic!("{scheme:?}: protection by default: {print}"));
        let protected = match scheme {
            SignatureScheme::Pkcs1v15 => ":rsaEncryption",
            _ => ":rsassaPss",
        };
        assert!(attr.contains(":sha256"), "{scheme:?}: {attr}");
        assert!(attr.contains(protected), "{scheme:?}: {attr}");
        assert_eq!(openssl_verify_detached(&pki, &with, &payload), payload);
        assert!(print.contains("messageDigest"), "{scheme:?}: {print}");
        options.algorithm_protection = false;
        let without = signed::sign_detached(&payload, &signer, &options, common::now(), &mut rng)
            .expect("sign");
        let print = cms_print(&pki, &without);
        assert!(
            !has_algorithm_protection(&print),
            "{scheme:?}: protection switched off: {print}"
        );
        assert!(print.contains("messageDigest"), "{scheme:?}: {print}");
        assert_eq!(openssl_verify_detached(&pki, &without, &payload), payload);
    }
}

// ---------------------------------------------------------------------------------------
// 2. OpenSSL's signatures, verified by us
// ---------------------------------------------------------------------------------------

#[test]
fn openssl_detached_signatures_verify_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let payload = binary_payload();
    let sha256 = DigestAlgorithm::Sha256;
    let pkcs1 = SignatureAlgorithm::RsaPkcs1v15;
    // (options, digest, signed attributes, identified by SKI, smimeCapabilities present)
    let cases: [(&[&str], DigestAlgorithm, bool, bool, bool); 8] = [
        (&[], sha256, true, false, true),
        (&["-noattr"], sha256, false, false, false),
        (&["-nosmimecap"], sha256, true, false, false),
        (&["-keyid"], sha256, true, true, true),
        (&["-md", "sha1"], DigestAlgorithm::Sha1, true, false, true),
        (&["-md", "sha256"], sha256, true, false, true),
        (
            &["-md", "sha384"],
            DigestAlgorithm::Sha384,
            true,
            false,
            true,
        ),
        (
            &["-md", "sha512"],
            DigestAlgorithm::Sha512,
            true,
            false,
            true,
        ),
    ];
    for (extra, digest, attrs, by_ski, smimecap) in cases {
        let case = extra.join(" ");
        let sig = openssl_sign(&pki, "alice", &payload, extra);
        let print = cms_print(&pki, &sig);
        let infos = signer_infos(&print);
        assert_eq!(infos.contains("d.subjectKeyIdentifier"), by_ski, "{case}");
        assert_eq!(infos.contains("S/MIME Capabilities"), smimecap, "{case}");
        assert_eq!(signed_attrs_absent(infos), !attrs, "{case}");

        let sd = SignedData::parse(&sig, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(sd.content(), None, "{case}: detached");
        assert_eq!(
            sd.certificates(),
            std::slice::from_ref(&alice.cert),
            "{case}: embedded"
        );
        let v = sd
            .verify(Some(&payload), &[])
            .unwrap_or_else(|e| panic!("{case}: verify: {e}"));
        assert_verified(&v, &alice, &payload, digest, pkcs1, &case);
        assert_eq!(v.source, SignerSource::Embedded, "{case}");
        assert_eq!(v.signed_attributes, attrs, "{case}");
        assert_eq!(v.signing_time.is_some(), attrs, "{case}: signing time");

        let mut tampered = payload.clone();
        tampered[5] ^= 0x20;
        let expected = if attrs {
            VerificationError::DigestMismatch
        } else {
            VerificationError::BadSignature
        };
        assert_eq!(
            sd.verify(Some(&tampered), &[]).unwrap_err(),
            Error::Verification(expected),
            "{case}: tampered content"
        );
    }
}

#[test]
fn openssl_streamed_signatures_verify_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let payload = bulk_payload(100 * 1024);
    let digest = DigestAlgorithm::Sha256;
    let pkcs1 = SignatureAlgorithm::RsaPkcs1v15;
    // OpenSSL 3.0 streams the content into a DER `-stream` signature even without
    // `-nodetach`, so both forms are opaque: indefinite lengths at every level and eContent
    // as a constructed, indefinite, chunked OCTET STRING.
    for extra in [
        &["-stream"][..],
        &["-stream", "-nodetach"],
        &["-stream", "-md", "sha512"],
    ] {
        let case = extra.join(" ");
        let sig = openssl_sign(&pki, "alice", &payload, extra);
        assert!(
            sig.starts_with(&[0x30, 0x80, 0x06, 0x09]),
            "{case}: indefinite-length ContentInfo"
        );
        let econtent = find(&sig, &[0xa0, 0x80, 0x24, 0x80, 0x04, 0x82])
            .unwrap_or_else(|| panic!("{case}: chunked eContent"));
        let first_chunk = usize::from(sig[econtent + 6]) << 8 | usize::from(sig[econtent + 7]);
        assert!(
            first_chunk > 0 && first_chunk < payload.len(),
            "{case}: first chunk of {first_chunk} bytes"
        );
        let sd = SignedData::parse(&sig, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            sd.content() == Some(&payload[..]),
            "{case}: joined content differs"
        );
        let v = sd
            .verify(None, &[])
            .unwrap_or_else(|e| panic!("{case}: verify: {e}"));
        let d = if extra.contains(&"sha512") {
            DigestAlgorithm::Sha512
        } else {
            digest
        };
        assert_verified(&v, &alice, &payload, d, pkcs1, &case);
        assert!(v.signed_attributes, "{case}");
        assert_eq!(
            sd.verify(Some(&payload), &[]).unwrap_err(),
            Error::Verification(VerificationError::ContentMismatch),
            "{case}: content given twice"
        );
    }
}

#[test]
fn openssl_signature_without_certificates_needs_the_supplied_certificate() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let payload = binary_payload();
    let sig = openssl_sign(&pki, "alice", &payload, &["-nocerts"]);
    let sd = SignedData::parse(&sig, &limits()).expect("parse");
    assert!(sd.certificates().is_empty(), "-nocerts embeds nothing");
    assert_eq!(
        sd.verify(Some(&payload), &[]).unwrap_err(),
        Error::Verification(VerificationError::SignerNotFound)
    );
    assert_eq!(
        sd.verify(Some(&payload), std::slice::from_ref(&pki.ca.cert))
            .unwrap_err(),
        Error::Verification(VerificationError::SignerNotFound),
        "another certificate is not the signer"
    );
    let v = sd
        .verify(Some(&payload), &[pki.ca.cert.clone(), alice.cert.clone()])
        .expect("verify with the supplied certificate");
    assert_eq!(v.source, SignerSource::Supplied);
    assert_verified(
        &v,
        &alice,
        &payload,
        DigestAlgorithm::Sha256,
        SignatureAlgorithm::RsaPkcs1v15,
        "-nocerts",
    );

    // Identified by subject key identifier, still without certificates.
    let sig = openssl_sign(&pki, "alice", &payload, &["-nocerts", "-keyid"]);
    assert!(signer_infos(&cms_print(&pki, &sig)).contains("d.subjectKeyIdentifier"));
    let sd = SignedData::parse(&sig, &limits()).expect("parse");
    assert!(sd.certificates().is_empty());
    assert_eq!(
        sd.verify(Some(&payload), &[]).unwrap_err(),
        Error::Verification(VerificationError::SignerNotFound)
    );
    let v = sd
        .verify(Some(&payload), std::slice::from_ref(&alice.cert))
        .expect("verify by subject key identifier");
    assert_eq!(v.source, SignerSource::Supplied);
    assert_eq!(v.signer, alice.cert);

    // With certificates embedded, a supplied one still takes precedence.
    let with_certs = openssl_sign(&pki, "alice", &payload, &[]);
    let sd = SignedData::parse(&with_certs, &limits()).expect("parse");
    let v = sd
        .verify(Some(&payload), std::slice::from_ref(&alice.cert))
        .expect("verify");
    assert_eq!(v.source, SignerSource::Supplied);
    let v = sd.verify(Some(&payload), &[]).expect("verify");
    assert_eq!(v.source, SignerSource::Embedded);
}

#[test]
fn openssl_pss_signatures_verify_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let payload = binary_payload();
    let modulus_len = 256;
    for digest in DigestAlgorithm::ALL {
        let h = digest.output_len();
        let max = modulus_len - h - 2;
        // (salt option, expected salt length); OpenSSL 3.0 signs with the maximum by default.
        let salts: [(Option<&str>, usize); 4] = [
            (None, max),
            (Some("20"), 20),
            (Some("digest"), h),
            (Some("max"), max),
        ];
        for (salt, expected_salt) in salts {
            let salt_opt = salt.map(|s| format!("rsa_pss_saltlen:{s}"));
            let mut extra = vec!["-md", ossl_md(digest), "-keyopt", "rsa_padding_mode:pss"];
            if let Some(s) = &salt_opt {
                extra.extend(["-keyopt", s.as_str()]);
            }
            let case = extra.join(" ");
            let sig = openssl_sign(&pki, "alice", &payload, &extra);
            let sd = SignedData::parse(&sig, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
            let v = sd
                .verify(Some(&payload), &[])
                .unwrap_or_else(|e| panic!("{case}: verify: {e}"));
            assert_verified(
                &v,
                &alice,
                &payload,
                digest,
                rsa_pss(digest, expected_salt),
                &case,
            );
            assert!(v.signed_attributes, "{case}");
            let mut tampered = payload.clone();
            tampered.push(b'\n');
            assert_eq!(
                sd.verify(Some(&tampered), &[]).unwrap_err(),
                Error::Verification(VerificationError::DigestMismatch),
                "{case}: tampered"
            );
        }
    }
    // PSS without signed attributes: the signature covers the content digest directly.
    let sig = openssl_sign(
        &pki,
        "alice",
        &payload,
        &[
            "-noattr",
            "-md",
            "sha384",
            "-keyopt",
            "rsa_padding_mode:pss",
        ],
    );
    let sd = SignedData::parse(&sig, &limits()).expect("parse");
    let v = sd.verify(Some(&payload), &[]).expect("verify -noattr PSS");
    let d = DigestAlgorithm::Sha384;
    assert_verified(
        &v,
        &alice,
        &payload,
        d,
        rsa_pss(d, 256 - 48 - 2),
        "-noattr pss",
    );
    assert!(!v.signed_attributes);
    assert_eq!(
        sd.verify(Some(b"other"), &[]).unwrap_err(),
        Error::Verification(VerificationError::BadSignature)
    );
}

#[test]
fn openssl_opaque_signatures_return_the_content() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    for payload in [binary_payload(), Vec::new()] {
        for digest in DigestAlgorithm::ALL {
            for pss in [false, true] {
                let mut extra = vec!["-nodetach", "-md", ossl_md(digest)];
                let expected = if pss {
                    extra.extend(["-keyopt", "rsa_padding_mode:pss"]);
                    rsa_pss(digest, 256 - digest.output_len() - 2)
                } else {
                    SignatureAlgorithm::RsaPkcs1v15
                };
                let case = format!("{} len={}", extra.join(" "), payload.len());
                let sig = openssl_sign(&pki, "alice", &payload, &extra);
                let sd =
                    SignedData::parse(&sig, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
                assert!(
                    sd.content() == Some(&payload[..]),
                    "{case}: content differs"
                );
                let v = sd
                    .verify(None, &[])
                    .unwrap_or_else(|e| panic!("{case}: verify: {e}"));
                assert_verified(&v, &alice, &payload, digest, expected, &case);
                assert_eq!(
                    sd.verify(Some(&payload), &[]).unwrap_err(),
                    Error::Verification(VerificationError::ContentMismatch),
                    "{case}: detached content given for an opaque signature"
                );
                assert!(
                    sd.into_content().as_deref() == Some(&payload[..]),
                    "{case}: into_content differs"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Our envelopes, decrypted by OpenSSL
// ---------------------------------------------------------------------------------------

/// The CBC ciphers (EnvelopedData); the authenticated ones have their own tests below.
const CBC: [ContentEncryption; 4] = [
    ContentEncryption::Aes128Cbc,
    ContentEncryption::Aes192Cbc,
    ContentEncryption::Aes256Cbc,
    ContentEncryption::TripleDesCbc,
];

const TRANSPORTS: [KeyTransport; 3] = [
    KeyTransport::RsaPkcs1v15,
    KeyTransport::RsaOaep(DigestAlgorithm::Sha1),
    KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
];

#[test]
fn our_envelopes_decrypt_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(5);
    let payloads = [
        binary_payload(),
        Vec::new(),
        b"exactly16bytes!!".to_vec(),
        bulk_payload(1024 * 1024),
    ];
    assert_eq!(payloads[2].len(), 16);
    for cipher in CBC {
        for transport in TRANSPORTS {
            for (i, payload) in payloads.iter().enumerate() {
                let case = format!("{cipher} {transport:?} len={}", payload.len());
                let options = encrypt_options(cipher, transport, false);
                let env = enveloped::encrypt(payload, &[&alice.cert], &options, &mut rng)
                    .unwrap_or_else(|e| panic!("{case}: encrypt: {e}"));
                if i == 0 {
                    let print = cms_print(&pki, &env);
                    assert!(
                        print.contains(&format!("algorithm: {}", ossl_cipher_print(cipher))),
                        "{case}: cipher as printed: {print}"
                    );
                    let infos = recipient_infos(&print);
                    match transport {
                        KeyTransport::RsaPkcs1v15 => {
                            assert!(infos.contains("rsaEncryption"), "{case}: {infos}")
                        }
                        KeyTransport::RsaOaep(d) => {
                            assert!(infos.contains("rsaesOaep"), "{case}: {infos}");
                            // Explicit parameters: the hash and MGF1 with the same hash.
                            let hash = format!(":{}", ossl_md(d));
                            assert_eq!(
                                infos
                                    .lines()
                                    .filter(|l| l.trim_end().ends_with(&hash))
                                    .count(),
                                2,
                                "{case}: {infos}"
                            );
                            assert!(infos.contains(":mgf1"), "{case}: {infos}");
                        }
                        _ => unreachable!(),
                    }
                }
                assert!(
                    openssl_decrypt(&pki, &env, "alice") == *payload,
                    "{case}: content decrypted by openssl differs"
                );
            }
        }
    }
}

#[test]
fn our_envelopes_for_two_recipients_and_by_subject_key_id_decrypt_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let bob = pki.party("bob", 2048);
    let mut rng = common::rng(6);
    let payload = binary_payload();
    for use_ski in [false, true] {
        for transport in TRANSPORTS {
            let case = format!("ski={use_ski} {transport:?}");
            let options = encrypt_options(ContentEncryption::Aes256Cbc, transport, use_ski);
            let env = enveloped::encrypt(&payload, &[&alice.cert, &bob.cert], &options, &mut rng)
                .unwrap_or_else(|e| panic!("{case}: encrypt: {e}"));
            let print = cms_print(&pki, &env);
            let infos = recipient_infos(&print);
            assert_eq!(
                infos.matches("d.subjectKeyIdentifier").count(),
                if use_ski { 2 } else { 0 },
                "{case}: {infos}"
            );
            assert_eq!(
                infos.matches("d.issuerAndSerialNumber").count(),
                if use_ski { 0 } else { 2 },
                "{case}: {infos}"
            );
            assert_eq!(
                print.contains("version: 2"),
                use_ski,
                "{case}: EnvelopedData version"
            );
            assert_eq!(
                openssl_decrypt(&pki, &env, "alice"),
                payload,
                "{case}: alice"
            );
            assert_eq!(openssl_decrypt(&pki, &env, "bob"), payload, "{case}: bob");
            // OpenSSL finds no recipient for the CA.
            pki.write("env.der", &env);
            let (ok, out, _) = openssl_try(
                pki.path(),
                &[
                    "cms", "-decrypt", "-binary", "-inform", "DER", "-in", "env.der", "-recip",
                    "ca.crt", "-inkey", "ca.key",
                ],
            );
            assert!(
                !ok && out.is_empty(),
                "{case}: openssl decrypted for the CA"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. OpenSSL's envelopes, decrypted by us
// ---------------------------------------------------------------------------------------

/// OpenSSL `-keyopt` sets for the key transports, with the declared OAEP hash and MGF1
/// hash as printed.
fn openssl_transports() -> [(&'static [&'static str], &'static str); 4] {
    [
        (&[], "pkcs1"),
        (&["-keyopt", "rsa_padding_mode:oaep"], "oaep sha1"),
        (
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ],
            "oaep sha256",
        ),
        (
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha1",
            ],
            "oaep sha256 mgf1 sha1",
        ),
    ]
}

#[test]
fn openssl_envelopes_decrypt_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(7);
    let payloads = [binary_payload(), Vec::new(), b"exactly16bytes!!".to_vec()];
    for cipher in CBC {
        for (keyopts, name) in openssl_transports() {
            for payload in &payloads {
                let case = format!("{cipher} {name} len={}", payload.len());
                let mut args = vec![ossl_cipher(cipher), "-recip", "alice.crt"];
                args.extend_from_slice(keyopts);
                let env = openssl_encrypt(&pki, payload, &args);
                let infos_print = cms_print(&pki, &env);
                let infos = recipient_infos(&infos_print);
                let (oaep, sha256_count, mgf1) = match name {
                    "pkcs1" => (false, 0, false),
                    "oaep sha1" => (true, 0, false),
                    "oaep sha256" => (true, 2, true),
                    _ => (true, 1, false),
                };
                assert_eq!(infos.contains("rsaesOaep"), oaep, "{case}: {infos}");
                assert_eq!(
                    infos.matches(":sha256").count(),
                    sha256_count,
                    "{case}: {infos}"
                );
                assert_eq!(infos.contains(":mgf1"), mgf1, "{case}: {infos}");

                let ed =
                    EnvelopedData::parse(&env, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(ed.content_encryption(), cipher, "{case}");
                assert!(ed.is_recipient(&alice.cert), "{case}");
                assert!(!ed.is_recipient(&pki.ca.cert), "{case}");
                let content = ed
                    .decrypt(&alice.cert, &alice.key, &mut rng)
                    .unwrap_or_else(|e| panic!("{case}: decrypt: {e}"));
                assert!(content == *payload, "{case}: decrypted content differs");
            }
        }
    }
}

/// Checks that an OpenSSL `-stream` envelope is indefinite-length BER whose encryptedContent
/// is a constructed `[0]` of several OCTET STRING chunks.
fn assert_chunked_encrypted_content(env: &[u8], cipher: ContentEncryption, payload_len: usize) {
    assert!(
        env.starts_with(&[0x30, 0x80]),
        "{cipher}: indefinite ContentInfo"
    );
    let oid = oid_der(cipher.oid());
    let at = find(env, &oid).unwrap_or_else(|| panic!("{cipher}: cipher OID"));
    let iv_len = cipher.block_len();
    let iv_at = at + oid.len();
    assert_eq!(
        env[iv_at..iv_at + 2],
        [0x04, iv_len as u8],
        "{cipher}: IV OCTET STRING"
    );
    let ec = iv_at + 2 + iv_len;
    assert_eq!(
        env[ec..ec + 3],
        [0xa0, 0x80, 0x04],
        "{cipher}: encryptedContent is [0] constructed, indefinite, of OCTET STRINGs"
    );
    // The first chunk is a long-form OCTET STRING shorter than the whole ciphertext.
    assert_eq!(env[ec + 3], 0x82, "{cipher}: chunk length form");
    let chunk = usize::from(env[ec + 4]) << 8 | usize::from(env[ec + 5]);
    assert!(
        chunk > 0 && chunk < payload_len,
        "{cipher}: first chunk {chunk} of {payload_len}"
    );
}

#[test]
fn openssl_streamed_envelopes_decrypt_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(8);
    let payload = bulk_payload(100 * 1024);
    for cipher in [
        ContentEncryption::Aes128Cbc,
        ContentEncryption::TripleDesCbc,
    ] {
        for (keyopts, name) in openssl_transports().into_iter().take(2) {
            let case = format!("{cipher} {name}");
            let mut args = vec!["-stream", ossl_cipher(cipher), "-recip", "alice.crt"];
            args.extend_from_slice(keyopts);
            let env = openssl_encrypt(&pki, &payload, &args);
            assert_chunked_encrypted_content(&env, cipher, payload.len());
            let ed =
                EnvelopedData::parse(&env, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(ed.content_encryption(), cipher, "{case}");
            let content = ed
                .decrypt(&alice.cert, &alice.key, &mut rng)
                .unwrap_or_else(|e| panic!("{case}: decrypt: {e}"));
            assert!(content == payload, "{case}: decrypted content differs");
        }
    }
}

#[test]
fn openssl_envelopes_for_two_recipients_and_by_key_id_decrypt_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let bob = pki.party("bob", 2048);
    let mut rng = common::rng(9);
    let payload = binary_payload();
    for keyid in [false, true] {
        for (keyopts, name) in openssl_transports().into_iter().take(3) {
            let case = format!("keyid={keyid} {name}");
            let mut args = vec!["-aes256"];
            if keyid {
                args.push("-keyid");
            }
            args.extend(["-recip", "alice.crt"]);
            args.extend_from_slice(keyopts);
            args.extend(["-recip", "bob.crt"]);
            args.extend_from_slice(keyopts);
            let env = openssl_encrypt(&pki, &payload, &args);
            let print = cms_print(&pki, &env);
            let infos = recipient_infos(&print);
            assert_eq!(
                infos.matches("d.subjectKeyIdentifier").count(),
                if keyid { 2 } else { 0 },
                "{case}: {infos}"
            );
            let ed =
                EnvelopedData::parse(&env, &limits()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert!(ed.is_recipient(&alice.cert) && ed.is_recipient(&bob.cert));
            let content = ed
                .decrypt(&bob.cert, &bob.key, &mut rng)
                .unwrap_or_else(|e| panic!("{case}: decrypt as bob: {e}"));
            assert!(content == payload, "{case}: bob's content differs");
            let content = ed
                .decrypt(&alice.cert, &alice.key, &mut rng)
                .unwrap_or_else(|e| panic!("{case}: decrypt as alice: {e}"));
            assert!(content == payload, "{case}: alice's content differs");
        }
    }
}

#[test]
fn openssl_envelope_with_a_cipher_we_lack_is_unsupported() {
    let pki = Pki::new();
    pki.party("alice", 2048);
    let payload = binary_payload();
    let cases = [
        ("-camellia128", "1.2.392.200011.61.1.1.1.2"),
        ("-aria128", "1.2.410.200046.1.1.2"),
    ];
    for (switch, oid) in cases {
        let env = openssl_encrypt(&pki, &payload, &[switch, "-recip", "alice.crt"]);
        let oid = ObjectIdentifier::new_unwrap(oid);
        assert!(
            find(&env, &oid_der(oid)).is_some(),
            "{switch}: OID in the envelope"
        );
        let err = EnvelopedData::parse(&env, &limits()).unwrap_err();
        assert_eq!(
            err,
            Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid
            },
            "{switch}"
        );
        assert_eq!(err.code(), ErrorCode::UnsupportedEncryptionAlg, "{switch}");
        assert_eq!(
            err.code().as_str(),
            "ERROR_DECRYPT_UNSUPPORTED_ENCRYPTION_ALG"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. Wrong certificate, wrong key
// ---------------------------------------------------------------------------------------

#[test]
fn openssl_envelope_with_wrong_certificate_or_key_fails() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let bob = pki.party("bob", 2048);
    let mut rng = common::rng(10);
    let payload = binary_payload();
    for (keyopts, name) in openssl_transports().into_iter().take(3) {
        let mut args = vec!["-aes256", "-recip", "alice.crt"];
        args.extend_from_slice(keyopts);
        let env = openssl_encrypt(&pki, &payload, &args);
        let ed = EnvelopedData::parse(&env, &limits()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ed.is_recipient(&bob.cert), "{name}");

        let err = ed.decrypt(&bob.cert, &bob.key, &mut rng).unwrap_err();
        assert_eq!(err, Error::NoMatchingRecipient, "{name}: bob's certificate");
        assert_eq!(err.code(), ErrorCode::NoDecryptionKeyFound, "{name}");

        // Alice's certificate with Bob's key. With PKCS#1 v1.5 implicit rejection yields
        // a synthetic key, so this relies on the CBC padding check too; OAEP fails in RSA.
        let err = ed.decrypt(&alice.cert, &bob.key, &mut rng).unwrap_err();
        assert_eq!(err, Error::DecryptionFailed, "{name}: bob's key");
        assert_eq!(err.code(), ErrorCode::DecryptFailed, "{name}");
        assert_eq!(err.to_string(), "decryption failed", "{name}: no detail");

        let content = ed
            .decrypt(&alice.cert, &alice.key, &mut rng)
            .unwrap_or_else(|e| panic!("{name}: the right key: {e}"));
        assert!(content == payload, "{name}: content differs");
    }
}

// ---------------------------------------------------------------------------------------
// Streamed messages: BER indefinite lengths and segmented content
// ---------------------------------------------------------------------------------------

/// An entity's body (after the blank line) and whether its Content-Type has `needle`.
fn entity_body<'a>(entity: &'a [u8], needle: &str) -> &'a [u8] {
    let end = find(entity, b"\r\n\r\n").expect("header block") + 4;
    let head = String::from_utf8_lossy(&entity[..end]).to_ascii_lowercase();
    assert!(head.contains(needle), "{needle} in {head}");
    &entity[end..]
}

/// A BER CompressedData read by OpenSSL (`cms -cmsout` re-encodes what it parsed, as
/// DER) and decompressed from that re-encoding. (This OpenSSL has no zlib, so
/// `cms -uncompress` is not available; parsing is what matters here.)
fn openssl_reads_compressed(pki: &Pki, ber: &[u8]) -> Vec<u8> {
    use as2_proto::cms::compressed::CompressedData;
    assert_eq!(&ber[..2], [0x30, 0x80], "indefinite length");
    let print = cms_print(pki, ber);
    assert!(print.contains("compressedData"), "{print}");
    pki.write("compressed.ber", ber);
    let der = openssl(
        pki.path(),
        &[
            "cms",
            "-cmsout",
            "-inform",
            "DER",
            "-in",
            "compressed.ber",
            "-outform",
            "DER",
        ],
    );
    assert_ne!(der, ber, "OpenSSL re-encodes BER as DER");
    CompressedData::parse(&der, &limits())
        .expect("OpenSSL's DER")
        .decompress(&limits())
        .expect("decompresses")
}

/// A `multipart/signed` entity verified by OpenSSL; returns the signed entity.
fn openssl_verifies_multipart(pki: &Pki, entity: &[u8]) -> Vec<u8> {
    use as2_proto::__internal::mime::{self, MimeLimits};
    let part = mime::parse_part(entity, &MimeLimits::default()).expect("multipart/signed");
    assert!(part.content_type().is("multipart/signed"));
    let [content, signature] = part.children() else {
        panic!("two parts");
    };
    let signature = signature.decoded_body().expect("base64");
    let verified = openssl_verify_detached(pki, &signature, content.raw());
    assert!(verified == content.raw());
    content.raw().to_vec()
}

/// Messages streamed with an unknown length (BER indefinite envelopes, compressed data
/// with segmented content) are read by OpenSSL: it decrypts the envelopes, parses the
/// compressed data and verifies the signatures, layer by layer down to the payload.
#[test]
fn our_streamed_ber_messages_read_in_openssl() {
    use as2_proto::message::headers::As2Id;
    use as2_proto::message::outbound::{self, Compression, OutboundMessage};
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let bob = pki.party("bob", 2048);
    let mut rng = common::rng(31);
    let payload = [binary_payload(), bulk_payload(200 * 1024)].concat();
    for compression in [
        Compression::None,
        Compression::BeforeSigning,
        Compression::AfterSigning,
    ] {
        for signed in [false, true] {
            for cipher in [
                None,
                Some(ContentEncryption::Aes128Cbc),
                Some(ContentEncryption::TripleDesCbc),
            ] {
                if compression == Compression::None && cipher.is_none() {
                    continue; // no CMS structure of unknown length
                }
                let case = format!("{compression:?} signed={signed} {cipher:?}");
                let mut message = OutboundMessage::new(
                    As2Id::new("alice").unwrap(),
                    As2Id::new("bob").unwrap(),
                    b"",
                );
                message.compression = compression;
                if signed {
                    message.signing =
                        Some((Signer::new(&alice.cert, &alice.key), SignOptions::default()));
                }
                if let Some(cipher) = cipher {
                    message.encryption = (
                        vec![&bob.cert],
                        encrypt_options(cipher, KeyTransport::RsaPkcs1v15, false),
                    );
                }
                let mut stream = outbound::start(&message, None, common::now(), &mut rng).unwrap();
                assert_eq!(stream.content_length(), None);
                let mut body = Vec::new();
                for chunk in payload.chunks(7919) {
                    stream.push(chunk, &mut body).unwrap();
                }
                let finished = stream.finish(&mut body, &mut rng).unwrap();

                // The outermost entity: its Content-Type travelled as an HTTP header.
                let content_type = finished.headers.get_str("Content-Type").unwrap();
                let mut entity = [
                    format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
                    &body,
                ]
                .concat();
                if cipher.is_some() {
                    let envelope = entity_body(&entity, "enveloped-data");
                    assert_eq!(&envelope[..2], [0x30, 0x80], "{case}: indefinite envelope");
                    entity = openssl_decrypt(&pki, envelope, "bob");
                }
                if compression == Compression::AfterSigning {
                    entity =
                        openssl_reads_compressed(&pki, entity_body(&entity, "compressed-data"));
                }
                if signed {
                    entity = openssl_verifies_multipart(&pki, &entity);
                }
                if compression == Compression::BeforeSigning {
                    entity =
                        openssl_reads_compressed(&pki, entity_body(&entity, "compressed-data"));
                }
                assert!(
                    entity_body(&entity, "application/octet-stream") == payload.as_slice(),
                    "{case}: payload"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// AuthEnvelopedData (RFC 5083) with AES-GCM (RFC 5084). This OpenSSL has no AES-CCM in
// CMS (`cms -encrypt -aes-128-ccm` fails with "unsupported cipher"); CCM is covered by
// round trips and known answers (tests/auth_enveloped.rs, `cms::aead`).
// ---------------------------------------------------------------------------------------

const GCM: [(ContentEncryption, &str, &str); 2] = [
    (ContentEncryption::Aes128Gcm, "-aes-128-gcm", "aes-128-gcm"),
    (ContentEncryption::Aes256Gcm, "-aes-256-gcm", "aes-256-gcm"),
];

#[test]
fn our_auth_enveloped_data_decrypts_in_openssl() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let mut rng = common::rng(15);
    let payloads = [
        binary_payload(),
        Vec::new(),
        b"exactly16bytes!!".to_vec(),
        bulk_payload(1024 * 1024 + 7),
    ];
    for (cipher, _, printed) in GCM {
        for transport in TRANSPORTS {
            for (i, payload) in payloads.iter().enumerate() {
                let case = format!("{cipher} {transport:?} len={}", payload.len());
                let options = encrypt_options(cipher, transport, false);
                let env = enveloped::encrypt(payload, &[&alice.cert], &options, &mut rng)
                    .unwrap_or_else(|e| panic!("{case}: encrypt: {e}"));
                if i == 0 {
                    let print = cms_print(&pki, &env);
                    assert!(print.contains("authEnvelopedData"), "{case}: {print}");
                    assert!(
                        print.contains(&format!("algorithm: {printed}")),
                        "{case}: cipher as printed: {print}"
                    );
                }
                assert!(
                    openssl_decrypt(&pki, &env, "alice") == *payload,
                    "{case}: content decrypted by openssl differs"
                );
                // OpenSSL checks the tag: one flipped bit in it and it refuses.
                let mut bad = env.clone();
                *bad.last_mut().unwrap() ^= 1;
                pki.write("bad.der", &bad);
                let (ok, _, _) = openssl_try(
                    pki.path(),
                    &[
                        "cms",
                        "-decrypt",
                        "-binary",
                        "-inform",
                        "DER",
                        "-in",
                        "bad.der",
                        "-recip",
                        "alice.crt",
                        "-inkey",
                        "alice.key",
                    ],
                );
                assert!(!ok, "{case}: OpenSSL accepted a bad tag");
            }
        }
    }
}

/// Our streaming builder without the length: BER indefinite lengths, the ciphertext in
/// segments, the tag after them.
#[test]
fn our_streamed_auth_enveloped_messages_decrypt_in_openssl() {
    use as2_proto::message::headers::As2Id;
    use as2_proto::message::outbound::{self, Compression, OutboundMessage};
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let payload = bulk_payload(200_000);
    for (cipher, _, _) in GCM {
        let mut m =
            OutboundMessage::new(As2Id::new("A").unwrap(), As2Id::new("B").unwrap(), &payload);
        m.compression = Compression::BeforeSigning;
        m.encryption = (
            vec![&alice.cert],
            encrypt_options(cipher, KeyTransport::RsaPkcs1v15, false),
        );
        let mut rng = common::rng(3);
        let mut stream = outbound::start(&m, None, common::now(), &mut rng).unwrap();
        assert_eq!(stream.content_length(), None);
        let mut body = Vec::new();
        for chunk in payload.chunks(4096) {
            stream.push(chunk, &mut body).unwrap();
        }
        let finished = stream.finish(&mut body, &mut rng).unwrap();
        assert!(
            finished
                .headers
                .get_str("Content-Type")
                .unwrap()
                .contains("smime-type=authEnveloped-data")
        );
        assert_eq!(&body[..2], [0x30, 0x80], "{cipher}: indefinite length");
        let entity = openssl_decrypt(&pki, &body, "alice");
        assert!(
            entity.starts_with(b"Content-Type: application/pkcs7-mime; smime-type=compressed-data"),
            "{cipher}: {}",
            String::from_utf8_lossy(&entity[..80.min(entity.len())])
        );
    }
}

#[test]
fn openssl_auth_enveloped_data_decrypts_with_us() {
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let keys = [(alice.cert.clone(), alice.key.clone())];
    let mut rng = common::rng(17);
    let payloads = [binary_payload(), Vec::new(), bulk_payload(300_000)];
    for (cipher, switch, _) in GCM {
        for (keyopts, name) in openssl_transports() {
            for stream in [false, true] {
                for payload in &payloads {
                    if stream && payload.is_empty() {
                        // OpenSSL 3.0 fails to stream empty GCM content ("Error writing CMS
                        // output"); the DER form covers the empty content.
                        continue;
                    }
                    let case = format!("{cipher} {name} stream={stream} len={}", payload.len());
                    let mut args = vec![switch, "-recip", "alice.crt"];
                    if stream {
                        args.push("-stream");
                    }
                    args.extend_from_slice(keyopts);
                    let env = openssl_encrypt(&pki, payload, &args);
                    let plain = auth_enveloped::decrypt(&env, &keys, &limits(), &mut rng)
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert!(plain == *payload, "{case}: content differs");
                    // A flipped bit in the tag (the last octets: the DER `mac`, or before
                    // the three end-of-contents of the streamed form) or in the ciphertext.
                    let tag_end = if stream { env.len() - 6 } else { env.len() };
                    // The last ciphertext octet: before the `mac` (and, streamed, the
                    // end-of-contents of the content and of authEncryptedContentInfo).
                    let ciphertext_end = if stream {
                        tag_end - 18 - 4
                    } else {
                        tag_end - 18
                    };
                    let mut flips = vec![tag_end - 1];
                    if !payload.is_empty() {
                        flips.push(ciphertext_end - 1);
                    }
                    for at in flips {
                        let mut bad = env.clone();
                        bad[at] ^= 0x20;
                        assert_eq!(
                            auth_enveloped::decrypt(&bad, &keys, &limits(), &mut rng),
                            Err(Error::DecryptionFailed),
                            "{case} at {at}"
                        );
                    }
                }
            }
        }
    }
}

/// An AS2 message whose envelope OpenSSL wrote (`smime-type=authEnveloped-data`, the MIME
/// entity inside), received by the inbound pipeline.
#[test]
fn openssl_auth_enveloped_as2_message_is_received() {
    use as2_proto::message::headers::HttpHeaders;
    use as2_proto::message::inbound::{self, InboundPolicy, Layer, NoDuplicateCheck};
    let pki = Pki::new();
    let alice = pki.party("alice", 2048);
    let keys = [(alice.cert.clone(), alice.key.clone())];
    let payload = b"ISA*00*~GS*PO~ST*850*0001~SE*2*0001~GE*1*1~IEA*1*1~".repeat(100);
    let entity = [
        b"Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            .as_slice(),
        &payload,
    ]
    .concat();
    for (cipher, switch, _) in GCM {
        for stream in [false, true] {
            let mut args = vec![switch, "-recip", "alice.crt"];
            if stream {
                args.push("-stream");
            }
            let body = openssl_encrypt(&pki, &entity, &args);
            let mut headers = HttpHeaders::new();
            headers.push("AS2-Version", b"1.2");
            headers.push("AS2-From", b"OpenSSL");
            headers.push("AS2-To", b"as2proto");
            headers.push("Message-ID", b"<gcm@openssl>");
            headers.push(
                "Content-Type",
                b"application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m",
            );
            let limits = limits();
            let incoming = inbound::handle(&headers, &body, &limits).unwrap();
            let mut policy = InboundPolicy::new(&keys, &[], &limits);
            policy.require_signature = false;
            let received = incoming
                .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
                .unwrap_or_else(|r| panic!("{cipher} stream={stream}: {}", r.error));
            assert_eq!(received.payload, payload);
            assert_eq!(received.layers, [Layer::Encrypted(cipher)]);
        }
    }
}
