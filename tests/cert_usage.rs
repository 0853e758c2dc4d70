//! Certificate usage (issue 13, item 7): keyUsage and extendedKeyUsage decide whether a
//! certificate may verify a signature or be encrypted to, with a per-partner switch for
//! legacy certificates. Every certificate is made by the OpenSSL CLI at test time.

mod common;

use std::sync::Arc;

use as2_proto::cms::enveloped::{self, EncryptOptions};
use as2_proto::cms::signed::{self, SignOptions, SignedData, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, NoDuplicateCheck};
use as2_proto::message::outbound::{self, OutboundMessage};
use as2_proto::partner::{
    ActiveAgreement, ActiveConnector, Agreement, CertificateUsage, Connector, DateEnforcement,
    Profile, ProfileCertificate, ProfileType,
};
use as2_proto::{
    Certificate, Error, ErrorCode, KeyUse, Limits, PrivateKey, UsageCheck, UsageExtension,
};
use common::{Pki, now, openssl, openssl_try, rng};

/// A party certified by `pki`'s CA with exactly the extensions in `ext` (an OpenSSL
/// extension file's lines), as `openssl x509 -req -extfile` writes them.
fn party(pki: &Pki, name: &str, ext: &str) -> (Certificate, PrivateKey) {
    let id = pki.party_with_extensions(name, 2048, &format!("subjectKeyIdentifier=hash\n{ext}\n"));
    (id.cert, id.key)
}

fn usage_error(e: &Error) -> (KeyUse, UsageExtension) {
    match e {
        Error::CertificateUsage(u) => (u.key_use, u.extension),
        other => panic!("expected a certificate usage error, got {other:?}"),
    }
}

/// Signs with `cert` and verifies with `cert` as the trusted signer.
fn verify_own_signature(cert: &Certificate, key: &PrivateKey) -> Result<(), Error> {
    let content = b"ISA*00*usage~";
    let signature = signed::sign_detached(
        content,
        &Signer::new(cert, key),
        &SignOptions::default(),
        now(),
        &mut rng(1),
    )?;
    SignedData::parse(&signature, &Limits::default())?
        .verify(Some(content), std::slice::from_ref(cert))
        .map(|_| ())
}

fn encrypt_to(cert: &Certificate) -> Result<Vec<u8>, Error> {
    enveloped::encrypt(b"payload", &[cert], &EncryptOptions::default(), &mut rng(2))
}

/// (name, extensions, may sign, may be encrypted to: or the refusing extension)
type Case = (
    &'static str,
    &'static str,
    Result<(), UsageExtension>,
    Result<(), UsageExtension>,
);

#[test]
fn key_usage_and_extended_key_usage_decide_each_use() {
    let pki = Pki::new();
    // (name, extensions, may sign, may be encrypted to, refusing extension)
    let cases: &[Case] = &[
        ("none", "", Ok(()), Ok(())),
        (
            "as2-signing",
            "keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=emailProtection",
            Ok(()),
            Err(UsageExtension::KeyUsage),
        ),
        (
            "as2-encryption",
            "keyUsage=critical,keyEncipherment,dataEncipherment\nextendedKeyUsage=emailProtection",
            Err(UsageExtension::KeyUsage),
            Ok(()),
        ),
        (
            "non-repudiation-only",
            "keyUsage=nonRepudiation",
            Ok(()),
            Err(UsageExtension::KeyUsage),
        ),
        (
            "both",
            "keyUsage=digitalSignature,keyEncipherment",
            Ok(()),
            Ok(()),
        ),
        (
            "tls-server",
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth",
            Err(UsageExtension::ExtendedKeyUsage),
            Err(UsageExtension::ExtendedKeyUsage),
        ),
        (
            "any-purpose",
            "extendedKeyUsage=anyExtendedKeyUsage",
            Ok(()),
            Ok(()),
        ),
        (
            "key-agreement",
            "keyUsage=keyAgreement",
            Err(UsageExtension::KeyUsage),
            Err(UsageExtension::KeyUsage),
        ),
    ];
    for (name, ext, signing, encryption) in cases {
        let (cert, key) = party(&pki, name, ext);
        let got_signing = verify_own_signature(&cert, &key).map_err(|e| {
            let (use_, ext) = usage_error(&e);
            assert_eq!(use_, KeyUse::Signing, "{name}");
            assert_eq!(e.code(), ErrorCode::VerificationFailed, "{name}");
            assert_eq!(
                e.disposition().to_string(),
                "processed/Error: authentication-failed"
            );
            assert!(
                e.to_string().contains(&format!("its {ext} extension")),
                "{e}"
            );
            ext
        });
        assert_eq!(got_signing, *signing, "{name}: signing");
        let got_encryption = encrypt_to(&cert).map(|_| ()).map_err(|e| {
            let (use_, ext) = usage_error(&e);
            assert_eq!(use_, KeyUse::Encryption, "{name}");
            assert_eq!(e.code(), ErrorCode::EncryptionFailed, "{name}");
            ext
        });
        assert_eq!(got_encryption, *encryption, "{name}: encryption");
        // The legacy switch admits every use.
        let legacy = cert.clone().with_usage_check(UsageCheck::Legacy);
        verify_own_signature(&legacy, &key).unwrap();
        encrypt_to(&legacy).unwrap();
    }
}

#[test]
fn the_rule_agrees_with_openssl_smime_purposes() {
    // OpenSSL's own S/MIME purpose check (`cms -verify` with the default smimesign
    // purpose) refuses the signer certificates we refuse and accepts the ones we accept.
    let pki = Pki::new();
    let d = pki.path();
    std::fs::write(d.join("data.txt"), b"ISA*00*usage~").unwrap();
    for (name, ext, ours_ok) in [
        (
            "ok-sign",
            "keyUsage=digitalSignature\nextendedKeyUsage=emailProtection",
            true,
        ),
        ("no-ds", "keyUsage=keyEncipherment", false),
        ("tls-only", "extendedKeyUsage=serverAuth", false),
    ] {
        let (cert, _) = party(&pki, name, ext);
        let crt = format!("{name}.crt");
        let key = format!("{name}.key");
        let sig = format!("{name}.p7s");
        openssl(
            d,
            &[
                "cms", "-sign", "-binary", "-in", "data.txt", "-signer", &crt, "-inkey", &key,
                "-outform", "DER", "-out", &sig,
            ],
        );
        let (openssl_ok, _, _) = openssl_try(
            d,
            &[
                "cms",
                "-verify",
                "-binary",
                "-in",
                &sig,
                "-inform",
                "DER",
                "-content",
                "data.txt",
                "-CAfile",
                "ca.crt",
                "-out",
                "/dev/null",
            ],
        );
        let der = std::fs::read(d.join(&sig)).unwrap();
        let ours = SignedData::parse(&der, &Limits::default())
            .unwrap()
            .verify(Some(b"ISA*00*usage~"), std::slice::from_ref(&cert));
        assert_eq!(ours.is_ok(), ours_ok, "{name}: {ours:?}");
        assert_eq!(openssl_ok, ours_ok, "{name}: OpenSSL disagrees");
    }
}

/// A local profile (our keys) and a partner profile whose signing and encryption
/// certificate is `partner`; `legacy` is the partner profile's switch.
fn profiles(
    ours: &(Certificate, PrivateKey),
    partner: &(Certificate, PrivateKey),
    legacy: bool,
) -> (Arc<Profile>, Arc<Profile>) {
    let mut local = Profile::new("p-local", ProfileType::Local, As2Id::new("Us").unwrap());
    local
        .add_certificate(
            ProfileCertificate::new(
                "ours",
                CertificateUsage::EncryptionAndSigning,
                ours.0.clone(),
            )
            .with_private_key(ours.1.clone())
            .unwrap(),
        )
        .unwrap();
    let mut remote = Profile::new(
        "p-partner",
        ProfileType::Partner,
        As2Id::new("Them").unwrap(),
    );
    remote
        .add_certificate(ProfileCertificate::new(
            "theirs",
            CertificateUsage::EncryptionAndSigning,
            partner.0.clone(),
        ))
        .unwrap();
    // Set after the certificate was added: it still applies to it.
    let remote = remote.with_legacy_key_usage(legacy);
    (Arc::new(local), Arc::new(remote))
}

#[test]
fn partner_profile_switch_admits_legacy_certificates_in_both_directions() {
    let pki = Pki::new();
    let ours = party(&pki, "ours", "keyUsage=digitalSignature,keyEncipherment");
    // A legacy partner certificate: marked for TLS only.
    let theirs = party(
        &pki,
        "theirs",
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth",
    );
    let limits = Limits::default();
    for legacy in [false, true] {
        let (local, remote) = profiles(&ours, &theirs, legacy);

        // Outbound: encrypting to the partner.
        let connector = ActiveConnector::new(
            Connector::new("c-1", "https://them.example/as2", "p-local", "p-partner"),
            Arc::clone(&local),
            Arc::clone(&remote),
        )
        .unwrap();
        let message = connector.outbound(b"ISA*00*out~", now()).unwrap();
        let built = outbound::build(&message, now(), &mut rng(3));
        match (&built, legacy) {
            (Ok(_), true) => {}
            (Err(e), false) => {
                assert_eq!(
                    usage_error(e),
                    (KeyUse::Encryption, UsageExtension::ExtendedKeyUsage)
                );
                assert_eq!(e.code(), ErrorCode::EncryptionFailed);
            }
            other => panic!("legacy {legacy}: {other:?}"),
        }

        // Inbound: the partner signs a message to us.
        let mut message = OutboundMessage::new(
            As2Id::new("Them").unwrap(),
            As2Id::new("Us").unwrap(),
            b"ISA*00*in~",
        );
        message.signing = Some((Signer::new(&theirs.0, &theirs.1), SignOptions::default()));
        message.encryption.0 = vec![&ours.0];
        let sent = outbound::build(&message, now(), &mut rng(4)).unwrap();
        let headers: HttpHeaders = sent.headers.clone();
        let incoming = inbound::handle(&headers, &sent.body, &limits).unwrap();
        let agreement = ActiveAgreement::new(
            Agreement::new("a-1", "p-local", "p-partner", "inbox"),
            Arc::clone(&local),
            Arc::clone(&remote),
        )
        .unwrap();
        let setup = agreement.inbound(now(), DateEnforcement::Enforce);
        let outcome = setup.accept(&incoming, &limits, &mut NoDuplicateCheck, &mut rng(5));
        match (outcome, legacy) {
            (Ok(received), true) => assert_eq!(received.payload, b"ISA*00*in~"),
            (Err(rejected), false) => {
                assert_eq!(
                    usage_error(&rejected.error),
                    (KeyUse::Signing, UsageExtension::ExtendedKeyUsage)
                );
                assert_eq!(rejected.error.code(), ErrorCode::VerificationFailed);
                assert!(
                    rejected.error.to_string().contains("extendedKeyUsage"),
                    "{}",
                    rejected.error
                );
            }
            (other, _) => panic!("legacy {legacy}: {:?}", other.map(|r| r.payload)),
        }
    }
}

#[test]
fn the_repository_certificates_pass_the_check() {
    // Real AS2 certificates the tests and examples use must keep working.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, key_use) in [
        ("examples/pki/PartnerA/sign.crt", KeyUse::Signing),
        ("examples/pki/PartnerA/enc.crt", KeyUse::Encryption),
        ("examples/pki/PartnerB/sign.crt", KeyUse::Signing),
        ("examples/pki/PartnerB/enc.crt", KeyUse::Encryption),
        (
            "tests/data/pyas2lib/pki/pyas2lib_A/sign.crt",
            KeyUse::Signing,
        ),
        (
            "tests/data/pyas2lib/pki/pyas2lib_A/enc.crt",
            KeyUse::Encryption,
        ),
        (
            "tests/data/pyas2lib/pki/as2proto_B/sign.crt",
            KeyUse::Signing,
        ),
        (
            "tests/data/pyas2lib/pki/as2proto_B/enc.crt",
            KeyUse::Encryption,
        ),
        ("tests/data/partners/partner-cert1.crt", KeyUse::Signing),
        ("tests/data/partners/partner-cert1.crt", KeyUse::Encryption),
        ("tests/data/keys/doc.crt", KeyUse::Signing),
        ("tests/data/keys/doc.crt", KeyUse::Encryption),
    ] {
        let cert = Certificate::from_pem(&std::fs::read(root.join(path)).unwrap()).unwrap();
        cert.check_usage(key_use)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    // The signing certificates are not for encryption, and the reverse.
    let sign = root.join("examples/pki/PartnerA/sign.crt");
    let cert = Certificate::from_pem(&std::fs::read(sign).unwrap()).unwrap();
    assert_eq!(cert.key_usage_bit(0), Some(true));
    assert!(cert.check_usage(KeyUse::Encryption).is_err());
}
