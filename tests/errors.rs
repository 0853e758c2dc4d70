//! Negative tests: every way a CMS input can be wrong gives its own, specific error (and
//! reference error code), truncated or mutated input never panics, and the decryption
//! failures are indistinguishable from each other.
//!
//! The identities are the committed test keys (`tests/data/keys`, `tests/data/pyas2lib/pki`)
//! and every RNG is seeded, so each input, and therefore each outcome, is the same on
//! every run (PKCS#1 v1.5 implicit rejection and CBC padding included).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::SystemTime;

use as2_proto::cms::ber::{self, Reader, Tag, Tlv};
use as2_proto::cms::compressed::{self, CompressOptions, CompressedData};
use as2_proto::cms::enveloped::{self, EncryptOptions, EnvelopedData};
use as2_proto::cms::signed::{self, SignOptions, SignedData, Signer};
use as2_proto::cms::{self, ContentType, oid};
use as2_proto::{
    AlgorithmKind, Certificate, Error, ErrorCode, Limit, Limits, PrivateKey, VerificationError,
};
use const_oid::ObjectIdentifier;

// ---------------------------------------------------------------------------------------
// Identities and sample messages
// ---------------------------------------------------------------------------------------

struct Party {
    cert: Certificate,
    key: PrivateKey,
}

impl Party {
    fn load(cert: &[u8], key: &[u8]) -> Party {
        Party {
            cert: Certificate::from_pem(cert).expect("test certificate"),
            key: PrivateKey::from_pem(key, None).expect("test key"),
        }
    }
}

/// Self-signed documentation identity.
fn alice() -> Party {
    Party::load(
        include_bytes!("data/keys/doc.crt"),
        include_bytes!("data/keys/doc.key"),
    )
}

/// CA-issued identity (pyas2lib fixture PKI).
fn bob() -> Party {
    Party::load(
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.crt"),
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.key"),
    )
}

/// Another CA-issued identity (same issuer as Bob, other serial and key).
fn carol() -> Party {
    Party::load(
        include_bytes!("data/pyas2lib/pki/pyas2lib_A/enc.crt"),
        include_bytes!("data/pyas2lib/pki/pyas2lib_A/enc.key"),
    )
}

/// A fixed signing time, so that signatures are byte-for-byte reproducible.
fn signing_time() -> SystemTime {
    as2_proto::unix_time(1_800_000_000)
}

/// EDI-like text: every byte is printable ASCII (>= 0x20), which some tests rely on.
fn payload() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..40 {
        out.extend_from_slice(
            format!("ISA*00*          *00*          *ZZ*SENDER{i:04}*ZZ*RECEIVER~GS*PO*1*2~\r\n")
                .as_bytes(),
        );
    }
    out
}

fn sign_detached_with(party: &Party, content: &[u8], options: &SignOptions) -> Vec<u8> {
    signed::sign_detached(
        content,
        &Signer::new(&party.cert, &party.key),
        options,
        signing_time(),
        &mut common::rng(1),
    )
    .expect("sign")
}

fn detached(party: &Party, content: &[u8]) -> Vec<u8> {
    sign_detached_with(party, content, &SignOptions::default())
}

fn encapsulated(party: &Party, content: &[u8]) -> Vec<u8> {
    signed::sign_encapsulated(
        content,
        &Signer::new(&party.cert, &party.key),
        &SignOptions::default(),
        signing_time(),
        &mut common::rng(2),
    )
    .expect("sign")
}

fn envelope_for(recipients: &[&Certificate], content: &[u8]) -> Vec<u8> {
    enveloped::encrypt(
        content,
        recipients,
        &EncryptOptions::default(),
        &mut common::rng(3),
    )
    .expect("encrypt")
}

fn verify(signature: &[u8], detached: Option<&[u8]>, certs: &[Certificate]) -> Result<(), Error> {
    SignedData::parse(signature, &Limits::default())?
        .verify(detached, certs)
        .map(drop)
}

fn decrypt(envelope: &[u8], party: &Party) -> Result<Vec<u8>, Error> {
    decrypt_with(envelope, &party.cert, &party.key)
}

fn decrypt_with(envelope: &[u8], cert: &Certificate, key: &PrivateKey) -> Result<Vec<u8>, Error> {
    EnvelopedData::parse(envelope, &Limits::default())?.decrypt(cert, key, &mut common::rng(4))
}

fn decompress(info: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    CompressedData::parse(info, limits)?.decompress(limits)
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// The error and its code, checked together.
#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: Result<T, Error>, expected: Error, code: ErrorCode) {
    let err = result.expect_err("expected an error");
    assert_eq!(err, expected);
    assert_eq!(err.code(), code, "code of {err}");
}

#[track_caller]
fn assert_verification<T: std::fmt::Debug>(result: Result<T, Error>, why: VerificationError) {
    assert_error(
        result,
        Error::Verification(why),
        ErrorCode::VerificationFailed,
    );
}

// ---------------------------------------------------------------------------------------
// A small DER tree, to patch messages structurally and to re-encode them as BER
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Node {
    Prim(Tag, Vec<u8>),
    Cons(Tag, Vec<Node>),
    /// Bytes inserted verbatim (for hand-made, possibly invalid, encodings).
    Raw(Vec<u8>),
}

fn tree(der: &[u8]) -> Node {
    let limits = Limits::default();
    let mut r = Reader::new(der, &limits);
    let node = node(&r.read("test input").expect("valid input"));
    assert!(r.is_empty());
    assert_eq!(
        node.der(),
        der,
        "the tree must re-encode its DER input exactly"
    );
    node
}

fn node(t: &Tlv<'_>) -> Node {
    if t.tag.constructed {
        let mut r = t.children("test").expect("children");
        let mut children = Vec::new();
        while !r.is_empty() {
            children.push(node(&r.read("test").expect("child")));
        }
        Node::Cons(t.tag, children)
    } else {
        Node::Prim(t.tag, t.contents.to_vec())
    }
}

impl Node {
    fn der(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out, false);
        out
    }

    /// BER with an indefinite length on every constructed value.
    fn ber(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out, true);
        out
    }

    fn write(&self, out: &mut Vec<u8>, indefinite: bool) {
        match self {
            Node::Prim(tag, contents) => {
                ber::write_header(out, *tag, contents.len());
                out.extend_from_slice(contents);
            }
            Node::Cons(tag, children) if indefinite => {
                ber::write_header(out, *tag, 0);
                *out.last_mut().expect("header") = 0x80;
                for c in children {
                    c.write(out, true);
                }
                out.extend_from_slice(&[0, 0]);
            }
            Node::Cons(tag, children) => {
                let mut inner = Vec::new();
                for c in children {
                    c.write(&mut inner, false);
                }
                ber::write_header(out, *tag, inner.len());
                out.extend_from_slice(&inner);
            }
            Node::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }

    fn at(&mut self, path: &[usize]) -> &mut Node {
        match path.split_first() {
            None => self,
            Some((i, rest)) => match self {
                Node::Cons(_, children) => children
                    .get_mut(*i)
                    .unwrap_or_else(|| panic!("no child {i}"))
                    .at(rest),
                _ => panic!("not constructed"),
            },
        }
    }

    fn children(&mut self) -> &mut Vec<Node> {
        match self {
            Node::Cons(_, children) => children,
            _ => panic!("not constructed"),
        }
    }

    fn contents(&mut self) -> &mut Vec<u8> {
        match self {
            Node::Prim(_, contents) => contents,
            _ => panic!("not primitive"),
        }
    }

    fn tag(&self) -> Tag {
        match self {
            Node::Prim(tag, _) | Node::Cons(tag, _) => *tag,
            Node::Raw(_) => panic!("raw node"),
        }
    }
}

// Paths in the trees of our own DER output.
/// ContentInfo -> [0] -> the content SEQUENCE.
const CONTENT: [usize; 2] = [1, 0];
/// EnvelopedData: recipientInfos[0].keyEncryptionAlgorithm.algorithm.
const KEY_TRANSPORT_OID: [usize; 6] = [1, 0, 1, 0, 2, 0];
/// EnvelopedData: recipientInfos[0].rid.
const RECIPIENT_ID: [usize; 5] = [1, 0, 1, 0, 1];
/// EnvelopedData: recipientInfos[0].encryptedKey.
const ENCRYPTED_KEY: [usize; 5] = [1, 0, 1, 0, 3];
/// EnvelopedData: encryptedContentInfo.contentEncryptionAlgorithm.algorithm.
const CIPHER_OID: [usize; 5] = [1, 0, 2, 1, 0];
/// EnvelopedData: encryptedContentInfo.encryptedContent.
const CIPHERTEXT: [usize; 4] = [1, 0, 2, 2];
/// CompressedData: compressionAlgorithm.algorithm.
const COMPRESSION_OID: [usize; 4] = [1, 0, 1, 0];
/// CompressedData: the eContent OCTET STRING.
const ZLIB: [usize; 5] = [1, 0, 2, 1, 0];

/// The (single) SignerInfo of a SignedData tree: the last child of the last SET.
fn signer_info(signature: &mut Node) -> &mut Node {
    let signed_data = signature.at(&CONTENT);
    let infos = signed_data.children().last_mut().expect("signerInfos");
    assert_eq!(infos.tag(), Tag::SET);
    let info = infos.at(&[0]);
    assert_eq!(info.tag(), Tag::SEQUENCE);
    info
}

/// The value of the signed attribute `kind` in a SignedData tree.
fn attribute(signature: &mut Node, kind: ObjectIdentifier) -> &mut Node {
    let attrs = signer_info(signature).at(&[3]);
    assert_eq!(attrs.tag(), Tag::context(0, true));
    attrs
        .children()
        .iter_mut()
        .find(|attr| is_attribute(attr, kind))
        .unwrap_or_else(|| panic!("no {kind} attribute"))
        .at(&[1, 0])
}

/// Whether `node` is an Attribute of type `kind`.
fn is_attribute(node: &Node, kind: ObjectIdentifier) -> bool {
    matches!(node, Node::Cons(_, children)
        if matches!(children.first(), Some(Node::Prim(_, oid)) if oid.as_slice() == kind.as_bytes()))
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

// ---------------------------------------------------------------------------------------
// SignedData
// ---------------------------------------------------------------------------------------

#[test]
fn error_code_spellings() {
    // The codes the tests below assert, as status records spell them.
    for (code, name) in [
        (ErrorCode::VerificationFailed, "VERIFICATION_FAILED"),
        (ErrorCode::DecryptFailed, "DECRYPT_FAILED"),
        (
            ErrorCode::NoDecryptionKeyFound,
            "DECRYPT_FAILED_NO_DECRYPTION_KEY_FOUND",
        ),
        (
            ErrorCode::UnsupportedEncryptionAlg,
            "ERROR_DECRYPT_UNSUPPORTED_ENCRYPTION_ALG",
        ),
        (ErrorCode::DecompressionFailed, "DECOMPRESSION_FAILED"),
        (
            ErrorCode::InvalidSmimeFormat,
            "DECRYPT_FAILED_INVALID_SMIME_FORMAT",
        ),
    ] {
        assert_eq!(code.as_str(), name);
    }
}

#[test]
fn tampered_detached_content_is_digest_mismatch() {
    let alice = alice();
    let content = payload();
    let signature = detached(&alice, &content);
    verify(&signature, Some(&content), &[]).expect("the untampered signature verifies");

    let mut tampered = content.clone();
    tampered[100] ^= 0x01;
    assert_verification(
        verify(&signature, Some(&tampered), &[]),
        VerificationError::DigestMismatch,
    );
    // One byte more or less is also a different content.
    assert_verification(
        verify(&signature, Some(&content[..content.len() - 1]), &[]),
        VerificationError::DigestMismatch,
    );
}

#[test]
fn tampered_signing_time_is_bad_signature() {
    let alice = alice();
    let content = payload();
    let mut signature = detached(&alice, &content);
    // signing-time attribute type, then SET { UTCTime (13 octets) }.
    let oid_bytes = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05,
    ];
    let at = find_all(&signature, &oid_bytes);
    assert_eq!(at.len(), 1, "exactly one signing-time attribute");
    let value = at[0] + oid_bytes.len();
    assert_eq!(signature[value..value + 4], [0x31, 0x0f, 0x17, 0x0d]);
    // The last digit of the seconds: still a valid time, only the signature can tell.
    let digit = value + 4 + 11;
    assert!(signature[digit].is_ascii_digit());
    signature[digit] ^= 0x01;
    assert!(signature[digit].is_ascii_digit());
    assert_verification(
        verify(&signature, Some(&content), &[]),
        VerificationError::BadSignature,
    );
}

#[test]
fn tampered_signature_value_is_bad_signature() {
    let alice = alice();
    let content = payload();
    let mut tree = tree(&detached(&alice, &content));
    let value = signer_info(&mut tree).at(&[5]).contents();
    assert_eq!(value.len(), 256);
    value[128] ^= 0x40;
    assert_verification(
        verify(&tree.der(), Some(&content), &[]),
        VerificationError::BadSignature,
    );
}

#[test]
fn lying_algorithm_protection_is_rejected() {
    // The attributes are checked before the RSA signature, so a patched (and therefore
    // unsigned) CMSAlgorithmProtection must already fail as a mismatch.
    let alice = alice();
    let content = payload();
    let original = tree(&detached(&alice, &content));
    verify(&original.der(), Some(&content), &[]).expect("verifies");

    // Protected digest: sha256 -> sha512 (last OID octet 01 -> 03).
    let mut t = original.clone();
    let protection = attribute(&mut t, oid::CMS_ALGORITHM_PROTECTION);
    let digest_oid = protection.at(&[0, 0]).contents();
    assert_eq!(digest_oid.as_slice(), oid::SHA256.as_bytes());
    *digest_oid.last_mut().expect("oid") = 0x03;
    assert_eq!(digest_oid.as_slice(), oid::SHA512.as_bytes());
    assert_verification(
        verify(&t.der(), Some(&content), &[]),
        VerificationError::AlgorithmProtectionMismatch,
    );

    // Protected signature algorithm: rsaEncryption -> sha256WithRSAEncryption.
    let mut t = original.clone();
    let protection = attribute(&mut t, oid::CMS_ALGORITHM_PROTECTION);
    let signature_id = protection.at(&[1]);
    assert_eq!(signature_id.tag(), Tag::context(1, true));
    let signature_oid = signature_id.at(&[0]).contents();
    assert_eq!(signature_oid.as_slice(), oid::RSA_ENCRYPTION.as_bytes());
    *signature_oid.last_mut().expect("oid") = 0x0b;
    assert_eq!(signature_oid.as_slice(), oid::SHA256_WITH_RSA.as_bytes());
    assert_verification(
        verify(&t.der(), Some(&content), &[]),
        VerificationError::AlgorithmProtectionMismatch,
    );

    // The signature algorithm relabelled as a MAC algorithm ([1] -> [2]).
    let mut t = original.clone();
    let protection = attribute(&mut t, oid::CMS_ALGORITHM_PROTECTION);
    let Node::Cons(tag, _) = protection.at(&[1]) else {
        panic!("[1] signatureAlgorithm is constructed");
    };
    tag.number = 2;
    assert_verification(
        verify(&t.der(), Some(&content), &[]),
        VerificationError::AlgorithmProtectionMismatch,
    );

    // The signature algorithm dropped: RFC 6211 requires it for a signature.
    let mut t = original;
    let protection = attribute(&mut t, oid::CMS_ALGORITHM_PROTECTION);
    protection.children().truncate(1);
    assert_verification(
        verify(&t.der(), Some(&content), &[]),
        VerificationError::AlgorithmProtectionMismatch,
    );
}

#[test]
fn lying_content_type_attribute_is_content_type_mismatch() {
    let alice = alice();
    let content = payload();
    let mut t = tree(&detached(&alice, &content));
    let value = attribute(&mut t, oid::CONTENT_TYPE).contents();
    assert_eq!(value.as_slice(), oid::DATA.as_bytes());
    *value.last_mut().expect("oid") = 0x02; // id-data -> id-signedData
    assert_verification(
        verify(&t.der(), Some(&content), &[]),
        VerificationError::ContentTypeMismatch,
    );
}

#[test]
fn missing_required_attribute_is_missing_attribute() {
    let alice = alice();
    let content = payload();
    let original = tree(&detached(&alice, &content));
    // Relabel message-digest (9.4) as countersignature (9.6), and content-type (9.3) as
    // challengePassword (9.7): unknown attributes are ignored, so each required one is
    // simply missing.
    for (kind, relabel) in [(oid::MESSAGE_DIGEST, 0x06), (oid::CONTENT_TYPE, 0x07)] {
        let mut t = original.clone();
        let attrs = signer_info(&mut t).at(&[3]);
        let attr = attrs
            .children()
            .iter_mut()
            .find(|a| is_attribute(a, kind))
            .expect("attribute present");
        *attr.at(&[0]).contents().last_mut().expect("oid") = relabel;
        assert_verification(
            verify(&t.der(), Some(&content), &[]),
            VerificationError::MissingAttribute,
        );
    }
}

#[test]
fn signer_not_found_without_embedded_certificates() {
    let alice = alice();
    let bob = bob();
    let content = payload();
    let mut options = SignOptions::default();
    options.include_certificates = false;
    let signature = sign_detached_with(&alice, &content, &options);
    assert!(
        SignedData::parse(&signature, &Limits::default())
            .expect("parse")
            .certificates()
            .is_empty()
    );
    assert_verification(
        verify(&signature, Some(&content), std::slice::from_ref(&bob.cert)),
        VerificationError::SignerNotFound,
    );
    assert_verification(
        verify(&signature, Some(&content), &[]),
        VerificationError::SignerNotFound,
    );
    // The right certificate makes it verify: the failure above was the lookup.
    verify(&signature, Some(&content), &[alice.cert]).expect("verifies");
}

#[test]
fn detached_and_encapsulated_content_confusion_is_content_mismatch() {
    let alice = alice();
    let content = payload();
    assert_verification(
        verify(&detached(&alice, &content), None, &[]),
        VerificationError::ContentMismatch,
    );
    assert_verification(
        verify(&encapsulated(&alice, &content), Some(&content), &[]),
        VerificationError::ContentMismatch,
    );
}

#[test]
fn unsupported_digest_and_signature_algorithms() {
    let alice = alice();
    let content = payload();
    let original = tree(&detached(&alice, &content));

    // SignerInfo.digestAlgorithm sha256 -> sha224 (2.16.840.1.101.3.4.2.4).
    let mut t = original.clone();
    *signer_info(&mut t)
        .at(&[2, 0])
        .contents()
        .last_mut()
        .expect("oid") = 0x04;
    assert_error(
        verify(&t.der(), Some(&content), &[]),
        Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Digest,
            oid: oid("2.16.840.1.101.3.4.2.4"),
        },
        ErrorCode::VerificationFailed,
    );

    // SignerInfo.signatureAlgorithm rsaEncryption -> md2WithRSAEncryption.
    let mut t = original;
    *signer_info(&mut t)
        .at(&[4, 0])
        .contents()
        .last_mut()
        .expect("oid") = 0x02;
    assert_error(
        verify(&t.der(), Some(&content), &[]),
        Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Signature,
            oid: oid("1.2.840.113549.1.1.2"),
        },
        ErrorCode::VerificationFailed,
    );
}

// ---------------------------------------------------------------------------------------
// EnvelopedData
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_certificate_is_no_matching_recipient() {
    let alice = alice();
    let bob = bob();
    let carol = carol();
    let envelope = envelope_for(&[&bob.cert], &payload());
    assert_eq!(decrypt(&envelope, &bob).expect("decrypts"), payload());
    // Another issuer, and the same issuer with another serial number.
    for wrong in [&alice, &carol] {
        assert_error(
            decrypt(&envelope, wrong),
            Error::NoMatchingRecipient,
            ErrorCode::NoDecryptionKeyFound,
        );
    }
    assert_eq!(
        ErrorCode::NoDecryptionKeyFound.as_str(),
        "DECRYPT_FAILED_NO_DECRYPTION_KEY_FOUND"
    );
}

#[test]
fn decryption_failures_are_indistinguishable() {
    let bob = bob();
    let carol = carol();
    let content = payload();
    let envelope = envelope_for(&[&bob.cert], &content);
    let original = tree(&envelope);
    assert_eq!(decrypt(&envelope, &bob).expect("decrypts"), content);

    let mut failures = Vec::new();

    // Right certificate, wrong private key.
    failures.push(("wrong key", decrypt_with(&envelope, &bob.cert, &carol.key)));

    // A flipped byte in the last ciphertext block.
    let mut t = original.clone();
    let ciphertext = t.at(&CIPHERTEXT).contents();
    let n = ciphertext.len();
    ciphertext[n - 6] ^= 0x01;
    failures.push(("last block", decrypt(&t.der(), &bob)));

    // The last padding octet made > 0x80 through CBC malleability: invalid for certain.
    let mut t = original.clone();
    let ciphertext = t.at(&CIPHERTEXT).contents();
    let n = ciphertext.len();
    ciphertext[n - 17] ^= 0x80;
    failures.push(("padding", decrypt(&t.der(), &bob)));

    // A flipped byte in the encrypted content key.
    let mut t = original.clone();
    t.at(&ENCRYPTED_KEY).contents()[100] ^= 0x01;
    failures.push(("encryptedKey", decrypt(&t.der(), &bob)));

    // The whole last block dropped (the content is ASCII, so the new last octet is never
    // valid padding).
    let mut t = original;
    let ciphertext = t.at(&CIPHERTEXT).contents();
    ciphertext.truncate(ciphertext.len() - 16);
    failures.push(("short ciphertext", decrypt(&t.der(), &bob)));

    let first = failures[0].1.clone().expect_err("wrong key fails");
    assert_eq!(first, Error::DecryptionFailed);
    assert_eq!(first.code(), ErrorCode::DecryptFailed);
    assert_eq!(first.code().as_str(), "DECRYPT_FAILED");
    for (what, result) in failures {
        let err = result.expect_err(what);
        assert_eq!(err, first, "{what}");
        assert_eq!(err.to_string(), first.to_string(), "{what}");
        assert_eq!(err.code(), first.code(), "{what}");
        assert_eq!(format!("{err:?}"), format!("{first:?}"), "{what}");
    }
}

#[test]
fn every_ciphertext_prefix_fails_to_decrypt() {
    let bob = bob();
    // ASCII, so that no block-aligned prefix ends in a valid padding octet.
    let content = &payload()[..100];
    let mut t = tree(&envelope_for(&[&bob.cert], content));
    let full = t.at(&CIPHERTEXT).contents().clone();
    for len in 0..full.len() {
        *t.at(&CIPHERTEXT).contents() = full[..len].to_vec();
        assert_eq!(
            decrypt(&t.der(), &bob).expect_err("prefix"),
            Error::DecryptionFailed,
            "ciphertext prefix of {len} octets"
        );
    }
}

#[test]
fn unsupported_content_cipher_is_reported_with_its_oid() {
    let bob = bob();
    let mut t = tree(&envelope_for(&[&bob.cert], &payload()));
    let cipher = t.at(&CIPHER_OID).contents();
    assert_eq!(cipher.as_slice(), oid::AES256_CBC.as_bytes());
    *cipher.last_mut().expect("oid") = 41; // aes256-CBC (.42) -> id-aes256-ECB (.41)
    let ecb = oid("2.16.840.1.101.3.4.1.41");
    let err = EnvelopedData::parse(&t.der(), &Limits::default()).expect_err("unsupported");
    assert_eq!(
        err,
        Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::ContentEncryption,
            oid: ecb,
        }
    );
    assert_eq!(err.code(), ErrorCode::UnsupportedEncryptionAlg);
    assert_eq!(
        err.code().as_str(),
        "ERROR_DECRYPT_UNSUPPORTED_ENCRYPTION_ALG"
    );
}

#[test]
fn unsupported_key_transport_is_reported_with_its_oid() {
    let bob = bob();
    let mut t = tree(&envelope_for(&[&bob.cert], &payload()));
    let transport = t.at(&KEY_TRANSPORT_OID).contents();
    assert_eq!(transport.as_slice(), oid::RSA_ENCRYPTION.as_bytes());
    *transport.last_mut().expect("oid") = 0x0a; // rsaEncryption -> RSASSA-PSS
    assert_error(
        decrypt(&t.der(), &bob),
        Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::KeyTransport,
            oid: oid::RSASSA_PSS,
        },
        ErrorCode::UnsupportedEncryptionAlg,
    );
}

// ---------------------------------------------------------------------------------------
// Wrong content types
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_content_type_is_unsupported_content_type() {
    let alice = alice();
    let limits = Limits::default();
    let signature = detached(&alice, b"x");
    let envelope = envelope_for(&[&alice.cert], b"x");
    let packed = compressed::compress(b"x", CompressOptions::default());
    let kind = |oid| Error::UnsupportedAlgorithm {
        kind: AlgorithmKind::ContentType,
        oid,
    };
    assert_error(
        SignedData::parse(&envelope, &limits),
        kind(oid::ENVELOPED_DATA),
        ErrorCode::InvalidSmimeFormat,
    );
    assert_error(
        EnvelopedData::parse(&packed, &limits),
        kind(oid::COMPRESSED_DATA),
        ErrorCode::InvalidSmimeFormat,
    );
    assert_error(
        CompressedData::parse(&signature, &limits),
        kind(oid::SIGNED_DATA),
        ErrorCode::InvalidSmimeFormat,
    );
    // id-digestedData: well-formed, not an AS2 content type.
    let mut t = tree(&packed);
    *t.at(&[0]).contents() = oid("1.2.840.113549.1.7.5").as_bytes().to_vec();
    assert_error(
        cms::content_type(&t.der(), &limits),
        kind(oid("1.2.840.113549.1.7.5")),
        ErrorCode::InvalidSmimeFormat,
    );
    assert_eq!(
        cms::content_type(&packed, &limits),
        Ok(ContentType::CompressedData)
    );
}

// ---------------------------------------------------------------------------------------
// Truncation and trailing data
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Kind {
    Detached,
    Encapsulated,
    Envelope,
    Compressed,
}

struct Sample {
    name: String,
    kind: Kind,
    bytes: Vec<u8>,
}

/// Our DER outputs, and each re-encoded as BER with indefinite lengths everywhere.
fn samples() -> Vec<Sample> {
    let alice = alice();
    let content = payload();
    let der = [
        (
            "detached signature",
            Kind::Detached,
            detached(&alice, &content),
        ),
        (
            "encapsulated signature",
            Kind::Encapsulated,
            encapsulated(&alice, b"short opaque content"),
        ),
        (
            "envelope",
            Kind::Envelope,
            envelope_for(&[&alice.cert], b"short content"),
        ),
        (
            "compressed",
            Kind::Compressed,
            compressed::compress(&content, CompressOptions::default()),
        ),
    ];
    let mut out = Vec::new();
    for (name, kind, bytes) in der {
        let ber = ber_sample(&bytes, kind);
        out.push(Sample {
            name: format!("{name} (BER)"),
            kind,
            bytes: ber,
        });
        out.push(Sample {
            name: format!("{name} (DER)"),
            kind,
            bytes,
        });
    }
    out
}

/// `der` with indefinite lengths everywhere, except where real senders keep DER: the
/// signed attributes (RFC 5652 §5.3 requires DER there) and the IssuerAndSerialNumber
/// naming the signer or recipient (copied from the certificate; see
/// `ber_encoded_identifiers_name_the_same_certificate` for the BER form).
fn ber_sample(der: &[u8], kind: Kind) -> Vec<u8> {
    let mut t = tree(der);
    let keep = |node: &mut Node| *node = Node::Raw(node.der());
    match kind {
        Kind::Detached | Kind::Encapsulated => {
            keep(signer_info(&mut t).at(&[1]));
            keep(signer_info(&mut t).at(&[3]));
        }
        Kind::Envelope => keep(t.at(&RECIPIENT_ID)),
        Kind::Compressed => {}
    }
    t.ber()
}

/// Parses and, when that succeeds, verifies / decrypts / decompresses `input` as `kind`.
fn process(kind: Kind, input: &[u8], alice: &Party) -> Result<(), Error> {
    let limits = Limits::default();
    match kind {
        Kind::Detached => {
            SignedData::parse(input, &limits)?.verify(Some(&payload()), &[])?;
        }
        Kind::Encapsulated => {
            SignedData::parse(input, &limits)?.verify(None, &[])?;
        }
        Kind::Envelope => {
            EnvelopedData::parse(input, &limits)?.decrypt(
                &alice.cert,
                &alice.key,
                &mut common::rng(5),
            )?;
        }
        Kind::Compressed => {
            CompressedData::parse(input, &limits)?.decompress(&limits)?;
        }
    }
    Ok(())
}

#[test]
fn every_strict_prefix_is_malformed() {
    let alice = alice();
    for sample in samples() {
        process(sample.kind, &sample.bytes, &alice)
            .unwrap_or_else(|e| panic!("{}: the whole input must succeed: {e}", sample.name));
        for len in 0..sample.bytes.len() {
            match process(sample.kind, &sample.bytes[..len], &alice) {
                Err(Error::Malformed { .. }) => {}
                other => panic!("{}: prefix of {len} octets gave {other:?}", sample.name),
            }
        }
    }
}

#[test]
fn trailing_data_is_malformed() {
    let alice = alice();
    for sample in samples() {
        let mut garbage = [vec![0x00], vec![0x00, 0x00], vec![0x05, 0x00], vec![0x30]];
        for extra in &mut garbage {
            let mut input = sample.bytes.clone();
            input.append(extra);
            assert_eq!(
                process(sample.kind, &input, &alice).expect_err("trailing data"),
                Error::Malformed {
                    what: "ContentInfo (trailing data)",
                    offset: sample.bytes.len(),
                },
                "{}",
                sample.name
            );
        }
    }
}

#[test]
fn extra_element_inside_compressed_data_is_malformed() {
    let mut t = tree(&compressed::compress(b"abc", CompressOptions::default()));
    t.at(&CONTENT)
        .children()
        .push(Node::Prim(Tag::NULL, vec![]));
    match CompressedData::parse(&t.der(), &Limits::default()) {
        Err(Error::Malformed {
            what: "CompressedData",
            ..
        }) => {}
        other => panic!("got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------

/// A DER ContentInfo holding CompressedData around the zlib stream `zlib`.
fn compressed_info(zlib: &[u8]) -> Vec<u8> {
    let mut t = tree(&compressed::compress(b"", CompressOptions::default()));
    *t.at(&ZLIB).contents() = zlib.to_vec();
    t.der()
}

/// A zlib stream made by Python's zlib (C zlib) at level 9 from `expr`, a Python
/// expression for the bytes to compress.
fn python_zlib(expr: &str) -> Vec<u8> {
    let script =
        format!("import random, sys, zlib\nsys.stdout.buffer.write(zlib.compress({expr}, 9))\n");
    common::python3(std::path::Path::new("."), &["-c", &script])
}

#[test]
fn decompression_bomb_hits_the_expansion_ratio() {
    // 80 MiB of zeros in about 80 KiB: 1000:1, over the default ratio of 500.
    let bomb = compressed_info(&python_zlib("bytes(80 << 20)"));
    let limits = Limits::default();
    let parsed = CompressedData::parse(&bomb, &limits).expect("parse");
    assert!(parsed.compressed().len() < 100_000);
    assert_eq!(
        parsed.decompress(&limits).expect_err("bomb"),
        Error::LimitExceeded {
            limit: Limit::ExpansionRatio,
            value: 500,
        }
    );
    // A smaller size cap is the smaller limit and wins.
    let mut small = Limits::default();
    small.max_decompressed_size = 1 << 20;
    assert_eq!(
        parsed.decompress(&small).expect_err("bomb"),
        Error::LimitExceeded {
            limit: Limit::DecompressedSize,
            value: 1 << 20,
        }
    );
}

#[test]
fn large_output_hits_the_size_limit() {
    // 150 000 random octets (stored) and then 70 MiB of zeros: the ratio cap is above
    // 64 MiB, so the default size cap is the one that trips.
    let zlib = python_zlib("random.Random(1).randbytes(150000) + bytes(70 << 20)");
    let limits = Limits::default();
    assert!(zlib.len() * limits.max_expansion_ratio > limits.max_decompressed_size);
    assert_eq!(
        decompress(&compressed_info(&zlib), &limits).expect_err("too large"),
        Error::LimitExceeded {
            limit: Limit::DecompressedSize,
            value: 64 * 1024 * 1024,
        }
    );
}

#[test]
fn limits_are_inclusive_bounds() {
    let content = payload().repeat(50);
    let info = compressed::compress(&content, CompressOptions::default());
    let parsed = CompressedData::parse(&info, &Limits::default()).expect("parse");
    let compressed_len = parsed.compressed().len();

    // Output exactly at the size cap is allowed; one octet less is not.
    let mut limits = Limits::default();
    limits.max_expansion_ratio = usize::MAX;
    limits.max_decompressed_size = content.len();
    assert_eq!(parsed.decompress(&limits).expect("at the cap"), content);
    limits.max_decompressed_size = content.len() - 1;
    assert_eq!(
        parsed.decompress(&limits).expect_err("over the cap"),
        Error::LimitExceeded {
            limit: Limit::DecompressedSize,
            value: content.len() - 1,
        }
    );

    // The smallest ratio that admits the output passes, the next smaller one fails.
    let ratio = content.len().div_ceil(compressed_len);
    let mut limits = Limits::default();
    limits.max_expansion_ratio = ratio;
    assert_eq!(parsed.decompress(&limits).expect("at the ratio"), content);
    limits.max_expansion_ratio = ratio - 1;
    assert_eq!(
        parsed.decompress(&limits).expect_err("over the ratio"),
        Error::LimitExceeded {
            limit: Limit::ExpansionRatio,
            value: ratio - 1,
        }
    );
}

#[test]
fn corrupt_zlib_streams_fail_to_decompress() {
    let content = payload();
    let limits = Limits::default();
    let mut t = tree(&compressed::compress(&content, CompressOptions::default()));
    let zlib = t.at(&ZLIB).contents().clone();
    assert_eq!(zlib[0], 0x78, "zlib header");

    let mut corruptions: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut bad_adler = zlib.clone();
    *bad_adler.last_mut().expect("adler") ^= 0x01;
    corruptions.push(("adler32", bad_adler));
    let mut bad_header = zlib.clone();
    bad_header[1] ^= 0x01; // FCHECK no longer makes the header a multiple of 31
    corruptions.push(("header check", bad_header));
    let mut bad_method = zlib.clone();
    bad_method[0] = 0x77; // CM 7 is not deflate
    corruptions.push(("method", bad_method));
    let mut bad_body = zlib.clone();
    bad_body[zlib.len() / 2] ^= 0x10;
    corruptions.push(("deflate data", bad_body));
    corruptions.push(("empty", Vec::new()));
    corruptions.push(("not zlib", b"this is not a zlib stream".to_vec()));

    for (what, stream) in corruptions {
        *t.at(&ZLIB).contents() = stream;
        let err = decompress(&t.der(), &limits).expect_err(what);
        assert_eq!(err, Error::DecompressionFailed, "{what}");
        assert_eq!(err.code(), ErrorCode::DecompressionFailed, "{what}");
    }
    assert_eq!(
        ErrorCode::DecompressionFailed.as_str(),
        "DECOMPRESSION_FAILED"
    );

    // Every strict prefix of the stream (the Adler-32 trailer is always incomplete).
    for len in 0..zlib.len() {
        *t.at(&ZLIB).contents() = zlib[..len].to_vec();
        assert_eq!(
            decompress(&t.der(), &limits).expect_err("prefix"),
            Error::DecompressionFailed,
            "zlib prefix of {len} octets"
        );
    }
    *t.at(&ZLIB).contents() = zlib;
    assert_eq!(decompress(&t.der(), &limits).expect("intact"), content);
}

#[test]
fn unsupported_compression_algorithm() {
    let mut t = tree(&compressed::compress(b"abc", CompressOptions::default()));
    let alg = t.at(&COMPRESSION_OID).contents();
    assert_eq!(alg.as_slice(), oid::ZLIB_COMPRESS.as_bytes());
    *alg.last_mut().expect("oid") = 0x09;
    assert_error(
        CompressedData::parse(&t.der(), &Limits::default()),
        Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Compression,
            oid: oid("1.2.840.113549.1.9.16.3.9"),
        },
        ErrorCode::DecompressionFailed,
    );
}

// ---------------------------------------------------------------------------------------
// BER structure and the other limits
// ---------------------------------------------------------------------------------------

fn depth_error() -> Error {
    Error::LimitExceeded {
        limit: Limit::BerDepth,
        value: 32,
    }
}

#[test]
fn indefinite_depth_bomb_hits_the_depth_limit() {
    let limits = Limits::default();
    let open = [0x30, 0x80].repeat(10_000);
    let closed = [open.clone(), [0, 0].repeat(10_000)].concat();
    for input in [&open, &closed] {
        assert_eq!(
            Reader::new(input, &limits).read("bomb").expect_err("deep"),
            depth_error()
        );
        assert_error(
            SignedData::parse(input, &limits),
            depth_error(),
            ErrorCode::InvalidSmimeFormat,
        );
        assert_eq!(
            EnvelopedData::parse(input, &limits).expect_err("deep"),
            depth_error()
        );
        assert_eq!(
            CompressedData::parse(input, &limits).expect_err("deep"),
            depth_error()
        );
        assert_eq!(
            cms::content_type(input, &limits).expect_err("deep"),
            depth_error()
        );
    }
}

#[test]
fn definite_depth_bomb_in_chunked_content_hits_the_depth_limit() {
    // 10 000 nested definite-length constructed OCTET STRINGs as the eContent.
    let mut nested = vec![0x04, 0x00];
    for _ in 0..10_000 {
        let mut outer = Vec::with_capacity(nested.len() + 6);
        ber::write_header(&mut outer, Tag::universal(4, true), nested.len());
        outer.extend_from_slice(&nested);
        nested = outer;
    }
    let mut t = tree(&compressed::compress(b"", CompressOptions::default()));
    *t.at(&ZLIB) = Node::Raw(nested);
    assert_eq!(
        CompressedData::parse(&t.der(), &Limits::default()).expect_err("deep"),
        depth_error()
    );
}

#[test]
fn declared_lengths_beyond_the_input_are_malformed() {
    let limits = Limits::default();
    // A 2 GiB OCTET STRING announced in 7 octets of input.
    let input = [0x04, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00];
    assert_eq!(
        Reader::new(&input, &limits).read("x").expect_err("short"),
        Error::Malformed {
            what: "x",
            offset: 0
        }
    );
    // A length of 2^64 - 1 (overflows every addition).
    let input = [
        0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
    ];
    assert!(matches!(
        Reader::new(&input, &limits).read("x"),
        Err(Error::Malformed { .. })
    ));
    // A length of length larger than usize.
    let input = [0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    assert!(matches!(
        Reader::new(&input, &limits).read("x"),
        Err(Error::Malformed { .. })
    ));
    // An indefinite length on a primitive value.
    assert!(matches!(
        Reader::new(&[0x04, 0x80, 0x00, 0x00], &limits).read("x"),
        Err(Error::Malformed { .. })
    ));

    // The ContentInfo announcing one octet more than there is.
    let info = compressed::compress(b"abc", CompressOptions::default());
    assert!(info[1] < 0x80, "short form length");
    let mut longer = info.clone();
    longer[1] += 1;
    assert_error(
        CompressedData::parse(&longer, &limits),
        Error::Malformed {
            what: "ContentInfo",
            offset: 0,
        },
        ErrorCode::InvalidSmimeFormat,
    );
    // The inner OCTET STRING announcing one octet more than its parent holds.
    let parsed = CompressedData::parse(&info, &limits).expect("parse");
    let header = info.len() - parsed.compressed().len() - 2;
    assert_eq!(info[header], 0x04);
    let mut inner = info.clone();
    inner[header + 1] += 1;
    assert_eq!(
        CompressedData::parse(&inner, &limits).expect_err("inner length"),
        Error::Malformed {
            what: "eContent",
            offset: header,
        }
    );
}

#[test]
fn count_limits_are_enforced() {
    let alice = alice();
    let bob = bob();
    let carol = carol();
    let content = payload();

    // Body size.
    let packed = compressed::compress(&content, CompressOptions::default());
    let mut limits = Limits::default();
    limits.max_body_size = packed.len() - 1;
    assert_error(
        CompressedData::parse(&packed, &limits),
        Error::LimitExceeded {
            limit: Limit::BodySize,
            value: packed.len() - 1,
        },
        ErrorCode::InvalidSmimeFormat,
    );
    limits.max_body_size = packed.len();
    CompressedData::parse(&packed, &limits).expect("at the limit");

    // Recipients.
    let envelope = envelope_for(&[&alice.cert, &bob.cert, &carol.cert], &content);
    let mut limits = Limits::default();
    limits.max_recipients = 2;
    assert_eq!(
        EnvelopedData::parse(&envelope, &limits).expect_err("3 recipients"),
        Error::LimitExceeded {
            limit: Limit::Recipients,
            value: 2,
        }
    );
    limits.max_recipients = 3;
    let parsed = EnvelopedData::parse(&envelope, &limits).expect("3 recipients");
    assert_eq!(
        parsed
            .decrypt(&carol.cert, &carol.key, &mut common::rng(6))
            .expect("third recipient"),
        content
    );

    // Certificates.
    let chain = [bob.cert.clone(), carol.cert.clone()];
    let signer = Signer {
        certificate: &alice.cert,
        key: &alice.key,
        chain: &chain,
    };
    let signature = signed::sign_detached(
        &content,
        &signer,
        &SignOptions::default(),
        signing_time(),
        &mut common::rng(7),
    )
    .expect("sign");
    let mut limits = Limits::default();
    limits.max_certificates = 2;
    assert_eq!(
        SignedData::parse(&signature, &limits).expect_err("3 certificates"),
        Error::LimitExceeded {
            limit: Limit::Certificates,
            value: 2,
        }
    );
    limits.max_certificates = 3;
    SignedData::parse(&signature, &limits).expect("3 certificates");

    // Signers: the SignerInfo twice.
    let mut t = tree(&detached(&alice, &content));
    let info = signer_info(&mut t).clone();
    t.at(&CONTENT)
        .children()
        .last_mut()
        .expect("signerInfos")
        .children()
        .push(info);
    let two = t.der();
    let mut limits = Limits::default();
    limits.max_signers = 1;
    assert_eq!(
        SignedData::parse(&two, &limits).expect_err("2 signers"),
        Error::LimitExceeded {
            limit: Limit::Signers,
            value: 1,
        }
    );
    SignedData::parse(&two, &Limits::default())
        .expect("2 signers")
        .verify(Some(&content), &[])
        .expect("verifies");

    // Chunks: the eContent split into 10 segments.
    let mut t = tree(&packed);
    let zlib = t.at(&ZLIB).contents().clone();
    let chunks = zlib
        .chunks(zlib.len().div_ceil(10))
        .map(|c| Node::Prim(Tag::OCTET_STRING, c.to_vec()))
        .collect::<Vec<_>>();
    assert_eq!(chunks.len(), 10);
    *t.at(&ZLIB) = Node::Cons(Tag::universal(4, true), chunks);
    let chunked = t.ber();
    let mut limits = Limits::default();
    limits.max_ber_chunks = 9;
    assert_eq!(
        CompressedData::parse(&chunked, &limits).expect_err("10 chunks"),
        Error::LimitExceeded {
            limit: Limit::BerChunks,
            value: 9,
        }
    );
    limits.max_ber_chunks = 10;
    assert_eq!(decompress(&chunked, &limits).expect("10 chunks"), content);
}

#[test]
fn ber_encoded_identifiers_name_the_same_certificate() {
    // RFC 5652 requires DER only for the signed attributes: an IssuerAndSerialNumber sent
    // with indefinite lengths names the same certificate (OpenSSL and BouncyCastle compare
    // the decoded Name, not its encoding).
    let alice = alice();
    let bob = bob();
    let content = payload();

    let mut t = tree(&detached(&alice, &content));
    let sid = signer_info(&mut t).at(&[1]);
    assert_eq!(sid.tag(), Tag::SEQUENCE);
    *sid = Node::Raw(sid.ber());
    let signature = t.der();
    assert_eq!(
        verify(&signature, Some(&content), &[]),
        Ok(()),
        "embedded certificate, BER signer identifier"
    );
    assert_eq!(
        verify(
            &signature,
            Some(&content),
            std::slice::from_ref(&alice.cert)
        ),
        Ok(()),
        "supplied certificate, BER signer identifier"
    );

    let mut t = tree(&envelope_for(&[&bob.cert], &content));
    let rid = t.at(&RECIPIENT_ID);
    assert_eq!(rid.tag(), Tag::SEQUENCE);
    *rid = Node::Raw(rid.ber());
    assert_eq!(
        decrypt(&t.der(), &bob),
        Ok(content),
        "BER recipient identifier"
    );
}

#[test]
fn non_minimal_lengths_in_a_certificate_are_normalised() {
    // `Certificate::from_der` promises to tolerate and normalise BER lengths; definite
    // lengths in more octets than needed are BER too.
    let limits = Limits::default();
    let short = [0x04, 0x81, 0x03, b'a', b'b', b'c'];
    let tlv = Reader::new(&short, &limits).read("x").expect("BER");
    assert_eq!(&*tlv.octets("x").expect("octets"), b"abc");
    assert_eq!(
        &*tlv.to_der().expect("to_der"),
        &[0x04, 0x03, b'a', b'b', b'c'],
        "Tlv::to_der keeps a non-minimal length"
    );

    let alice = alice();
    let ber = long_lengths(alice.cert.der());
    assert_ne!(ber, alice.cert.der());
    let reparsed = Certificate::from_der(&ber).expect("BER certificate");
    assert_eq!(
        reparsed.der(),
        alice.cert.der(),
        "certificate not normalised"
    );
    assert!(reparsed.rsa_public_key().is_ok());
}

/// Re-encodes DER with every length in the 4-octet long form.
fn long_lengths(der: &[u8]) -> Vec<u8> {
    fn write(node: &Node, out: &mut Vec<u8>) {
        let (tag, contents) = match node {
            Node::Prim(tag, contents) => (*tag, contents.clone()),
            Node::Cons(tag, children) => {
                let mut inner = Vec::new();
                for c in children {
                    write(c, &mut inner);
                }
                (*tag, inner)
            }
            Node::Raw(bytes) => {
                out.extend_from_slice(bytes);
                return;
            }
        };
        ber::write_header(out, tag, 0);
        out.pop();
        out.push(0x84);
        out.extend_from_slice(&u32::try_from(contents.len()).expect("len").to_be_bytes());
        out.extend_from_slice(&contents);
    }
    let mut out = Vec::new();
    write(&tree(der), &mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Random mutations
// ---------------------------------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(input: &mut Vec<u8>, rng: &mut XorShift) {
    for _ in 0..1 + rng.below(3) {
        let len = input.len();
        // Mostly in-place changes, which keep the lengths and so reach the inner layers.
        match rng.below(12) {
            0..=3 => input[rng.below(len)] ^= 1 << rng.below(8),
            4..=5 => input[rng.below(len)] = rng.next() as u8,
            6..=7 => input[rng.below(len)] = [0x00, 0x80, 0xff, 0x7f, 0x81][rng.below(5)],
            8 => {
                let at = rng.below(len);
                let n = 1 + rng.below(16).min(len - at - 1);
                input.drain(at..at + n);
            }
            9 => input.insert(rng.below(len), rng.next() as u8),
            10 => input.truncate(rng.below(len).max(1)),
            _ => {
                // Duplicate a slice in place (repeats a TLV or part of one).
                let at = rng.below(len);
                let n = 1 + rng.below(64).min(len - at - 1);
                let copy = input[at..at + n].to_vec();
                input.splice(at..at, copy);
            }
        }
        if input.is_empty() {
            input.push(0x30);
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let alice = alice();
    let samples = samples();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut seen: Vec<String> = Vec::new();
    for i in 0..2000 {
        let sample = &samples[i % samples.len()];
        let mut input = sample.bytes.clone();
        mutate(&mut input, &mut rng);
        let result = catch_unwind(AssertUnwindSafe(|| process(sample.kind, &input, &alice)));
        let outcome = match result {
            Ok(r) => r,
            Err(_) => panic!(
                "iteration {i} ({}) panicked on input {}",
                sample.name,
                input.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        };
        if let Err(e) = outcome {
            let debug = format!("{e:?}");
            let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
            if !seen.iter().any(|s| s == variant) {
                seen.push(variant.to_owned());
            }
        }
    }
    // The mutations reach every layer, not only the outer BER.
    for expected in [
        "Malformed",
        "Verification",
        "DecryptionFailed",
        "DecompressionFailed",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "no {expected} among {seen:?}"
        );
    }
}
