//! Trading partners: certificate rotation (the reference's two-certificate table replayed
//! day by day and with real messages), chain verification against the OpenSSL CLI,
//! configuration in JSON and TOML, agreements, connectors, and the caller traits.

#![cfg(feature = "toml")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::Signer;
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{self, Layer, SignerTrust};
use as2_proto::message::outbound::{self, Compression, MdnRequest};
use as2_proto::partner::*;
use as2_proto::{Certificate, Disposition, Error, ErrorCode, Limits, Modifier, PrivateKey};

// ---------------------------------------------------------------------------------------
// Helpers

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/partners")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn cert(name: &str) -> Certificate {
    Certificate::from_pem(&fixture(name)).unwrap()
}

fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pem(&fixture(name), None).unwrap()
}

/// Reads configuration files relative to the fixtures directory.
fn read_fixture(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(fixtures().join(path))
}

/// Midnight UTC of a calendar date, plus `hours`.
fn at(date: &str, hours: u64) -> SystemTime {
    let mut parts = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    // Days from civil (Howard Hinnant), kept independent of the library's own parser.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    SystemTime::UNIX_EPOCH + Duration::from_secs(days as u64 * 86_400 + hours * 3600)
}

fn day(date: &str) -> SystemTime {
    at(date, 12)
}

fn id(text: &str) -> As2Id {
    As2Id::new(text).unwrap()
}

fn partner_error(e: &Error) -> &PartnerError {
    match e {
        Error::Partner(p) => p,
        other => panic!("expected a partner error, got {other:?}"),
    }
}

fn config_problem(e: &Error) -> (&ConfigItem, &ConfigProblem) {
    match partner_error(e) {
        PartnerError::Config(c) => (&c.item, &c.problem),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn ours() -> MemoryDirectory {
    let text = std::fs::read_to_string(fixtures().join("ours.toml")).unwrap();
    PartnerConfig::from_toml(&text)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap()
}

fn theirs() -> MemoryDirectory {
    let text = std::fs::read_to_string(fixtures().join("theirs.json")).unwrap();
    PartnerConfig::from_json(&text)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap()
}

/// The partner profile of the reference's table, built programmatically.
fn rotation_profile() -> Profile {
    let cert1 = ProfileCertificate::new(
        "Cert1",
        CertificateUsage::EncryptionAndSigning,
        cert("partner-cert1.crt"),
    )
    .with_dates(
        Some(at("2020-01-01", 0)),
        Some(at("2020-12-31", 0)),
        ImportMode::Strict,
    )
    .unwrap();
    let cert2 = ProfileCertificate::new(
        "Cert2",
        CertificateUsage::EncryptionAndSigning,
        cert("partner-cert2.crt"),
    )
    .with_dates(
        Some(at("2020-06-01", 0)),
        Some(at("2021-06-01", 0)),
        ImportMode::Lenient,
    )
    .unwrap();
    let mut profile = Profile::new("p-partnera", ProfileType::Partner, id("PartnerA_OID"))
        .with_trust_anchors(vec![cert("partner-ca.crt")]);
    profile.add_certificate(cert1).unwrap();
    profile.add_certificate(cert2).unwrap();
    profile
}

fn message_headers(built: &outbound::BuiltMessage) -> HttpHeaders {
    built.headers.clone()
}

// ---------------------------------------------------------------------------------------
// Certificates and rotation

#[test]
fn strict_import_refuses_the_tables_cert2_and_lenient_import_takes_it() {
    let err = ProfileCertificate::new(
        "Cert2",
        CertificateUsage::Signing,
        cert("partner-cert2.crt"),
    )
    .with_dates(
        Some(at("2020-06-01", 0)),
        Some(at("2021-06-01", 0)),
        ImportMode::Strict,
    )
    .unwrap_err();
    let (item, problem) = config_problem(&err);
    assert_eq!(*item, ConfigItem::Certificate("Cert2".into()));
    assert_eq!(
        *problem,
        ConfigProblem::ActiveRangeOutsideValidity {
            not_before: at("2020-11-01", 0),
            not_after: at("2025-01-01", 0),
            active_date: Some(at("2020-06-01", 0)),
            inactive_date: Some(at("2021-06-01", 0)),
        }
    );
    assert_eq!(
        err.to_string(),
        "certificate \"Cert2\": Active Date 2020-06-01T00:00:00Z to Inactive Date \
         2021-06-01T00:00:00Z is not inside NotBefore 2020-11-01T00:00:00Z to NotAfter \
         2025-01-01T00:00:00Z (import leniently to accept it)"
    );

    let lenient = ProfileCertificate::new(
        "Cert2",
        CertificateUsage::Signing,
        cert("partner-cert2.crt"),
    )
    .with_dates(
        Some(at("2020-06-01", 0)),
        Some(at("2021-06-01", 0)),
        ImportMode::Lenient,
    )
    .unwrap();
    // The usable window is the intersection.
    assert_eq!(lenient.usable_from(), at("2020-11-01", 0));
    assert_eq!(lenient.usable_until(), at("2021-06-01", 0));

    // Inactive before active is refused even leniently.
    let err = ProfileCertificate::new("X", CertificateUsage::Signing, cert("partner-cert2.crt"))
        .with_dates(
            Some(at("2021-01-01", 0)),
            Some(at("2021-01-01", 0)),
            ImportMode::Lenient,
        )
        .unwrap_err();
    assert_eq!(*config_problem(&err).1, ConfigProblem::DatesOutOfOrder);
}

/// Expected rotation for a day, straight from the reference's table (Cert1 active
/// 2020-01-01..2020-12-31 within 2019-11-01..2024-01-01; Cert2 active 2020-06-01..2021-06-01
/// within 2020-11-01..2025-01-01).
fn expected_rotation(t: SystemTime) -> (Option<&'static str>, &'static [&'static str]) {
    if t < at("2020-01-01", 0) {
        (None, &[])
    } else if t < at("2020-11-01", 0) {
        // Cert2 is "active" from 2020-06-01 but not valid before its NotBefore.
        (Some("Cert1"), &["Cert1"])
    } else if t < at("2020-12-31", 0) {
        // The grace period: both accepted, the newer one (latest Inactive Date) used.
        (Some("Cert2"), &["Cert1", "Cert2"])
    } else if t < at("2021-06-01", 0) {
        (Some("Cert2"), &["Cert2"])
    } else {
        (None, &[])
    }
}

#[test]
fn rotation_table_replayed_day_by_day() {
    let profile = rotation_profile();
    let mut t = day("2019-10-01");
    let end = day("2025-02-01");
    let mut days = 0;
    let mut seen_outbound = std::collections::BTreeSet::new();
    while t <= end {
        let (outbound, inbound) = expected_rotation(t);
        let chosen = profile
            .outbound_certificate(CertificateUsage::Encryption, t)
            .map(|c| c.id().to_owned());
        match outbound {
            Some(expected) => assert_eq!(chosen.as_deref().ok(), Some(expected), "{t:?}"),
            None => {
                let err = chosen.unwrap_err();
                assert_eq!(
                    *partner_error(&err),
                    PartnerError::NoUsableCertificate {
                        profile: "p-partnera".into(),
                        usage: CertificateUsage::Encryption,
                        at: t,
                    }
                );
                assert_eq!(err.code(), ErrorCode::EncryptionFailed);
            }
        }
        let accepted: Vec<&str> = profile
            .inbound_certificates(CertificateUsage::Signing, t, DateEnforcement::Enforce)
            .map(|c| c.id())
            .collect();
        assert_eq!(accepted, inbound, "{t:?}");
        // The signer hook agrees with the inbound set, chain to the CA included.
        let trust = profile.trust(t, DateEnforcement::Enforce);
        for (name, file) in [
            ("Cert1", "partner-cert1.crt"),
            ("Cert2", "partner-cert2.crt"),
        ] {
            let verdict = trust.check(&cert(file));
            assert_eq!(verdict.is_ok(), inbound.contains(&name), "{name} at {t:?}");
            // Replaying archived messages accepts both, whatever the date.
            assert!(
                profile
                    .trust(t, DateEnforcement::Ignore)
                    .check(&cert(file))
                    .is_ok()
            );
        }
        if let Some(o) = outbound {
            seen_outbound.insert(o);
        }
        t += Duration::from_secs(86_400);
        days += 1;
    }
    assert_eq!(days, 1951);
    assert_eq!(seen_outbound.len(), 2);
}

#[test]
fn rotation_boundaries_to_the_second() {
    let profile = rotation_profile();
    let ids = |t| -> Vec<String> {
        profile
            .inbound_certificates(CertificateUsage::Signing, t, DateEnforcement::Enforce)
            .map(|c| c.id().to_owned())
            .collect()
    };
    let second = Duration::from_secs(1);
    // Active Date inclusive.
    assert!(ids(at("2020-01-01", 0) - second).is_empty());
    assert_eq!(ids(at("2020-01-01", 0)), ["Cert1"]);
    // NotBefore inclusive (Cert2's window opens at its NotBefore, not its Active Date).
    assert_eq!(ids(at("2020-11-01", 0) - second), ["Cert1"]);
    assert_eq!(ids(at("2020-11-01", 0)), ["Cert1", "Cert2"]);
    // Inactive Date exclusive.
    assert_eq!(ids(at("2020-12-31", 0) - second), ["Cert1", "Cert2"]);
    assert_eq!(ids(at("2020-12-31", 0)), ["Cert2"]);
    assert_eq!(ids(at("2021-06-01", 0) - second), ["Cert2"]);
    assert!(ids(at("2021-06-01", 0)).is_empty());
}

#[test]
fn expired_signer_is_named_with_its_dates() {
    let profile = rotation_profile();
    let err = profile
        .trust(day("2021-02-01"), DateEnforcement::Enforce)
        .check(&cert("partner-cert1.crt"))
        .unwrap_err();
    let PartnerError::CertificateNotUsable(details) = partner_error(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(details.id, "Cert1");
    assert_eq!(details.subject, "O=as2-proto tests,CN=partner Cert1");
    assert_eq!(details.violation, WindowViolation::Inactive);
    assert_eq!(
        err.to_string(),
        "certificate \"Cert1\" (O=as2-proto tests,CN=partner Cert1) is inactive at \
         2021-02-01T12:00:00Z: NotBefore 2019-11-01T00:00:00Z, NotAfter 2024-01-01T00:00:00Z, \
         Active Date 2020-01-01T00:00:00Z, Inactive Date 2020-12-31T00:00:00Z"
    );
    assert_eq!(err.code(), ErrorCode::VerificationFailed);
    assert_eq!(
        err.disposition(),
        Disposition::Error(Modifier::AuthenticationFailed)
    );

    // Before Cert2's NotBefore it is "not yet valid"; past NotAfter "expired".
    let err = profile
        .trust(day("2020-07-01"), DateEnforcement::Enforce)
        .check(&cert("partner-cert2.crt"))
        .unwrap_err();
    let PartnerError::CertificateNotUsable(details) = partner_error(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(details.violation, WindowViolation::NotYetValid);
    let err = profile
        .trust(day("2025-06-01"), DateEnforcement::Enforce)
        .check(&cert("partner-cert2.crt"))
        .unwrap_err();
    let PartnerError::CertificateNotUsable(details) = partner_error(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(details.violation, WindowViolation::Expired);

    // A certificate that is not in the profile is an unknown signer, as before.
    let err = profile
        .trust(day("2020-12-01"), DateEnforcement::Enforce)
        .check(&cert("local-cert1.crt"))
        .unwrap_err();
    assert_eq!(
        err,
        Error::Verification(as2_proto::VerificationError::SignerNotFound)
    );
}

#[test]
fn at_most_ten_certificates_per_profile() {
    let mut profile = Profile::new("p", ProfileType::Partner, id("P"));
    for n in 0..10 {
        profile
            .add_certificate(ProfileCertificate::new(
                format!("c{n}"),
                CertificateUsage::Signing,
                cert("partner-cert1.crt"),
            ))
            .unwrap();
    }
    let err = profile
        .add_certificate(ProfileCertificate::new(
            "c10",
            CertificateUsage::Signing,
            cert("partner-cert1.crt"),
        ))
        .unwrap_err();
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::TooManyCertificates { count: 11, max: 10 }
    );
    assert_eq!(profile.certificates().len(), 10);

    // A local profile's certificate needs its key, and the key must match.
    let mut local = Profile::new("l", ProfileType::Local, id("L"));
    let err = local
        .add_certificate(ProfileCertificate::new(
            "k",
            CertificateUsage::Signing,
            cert("local-cert1.crt"),
        ))
        .unwrap_err();
    assert_eq!(*config_problem(&err).1, ConfigProblem::MissingPrivateKey);
    let err = ProfileCertificate::new("k", CertificateUsage::Signing, cert("local-cert1.crt"))
        .with_private_key(key("local-cert2.key"))
        .unwrap_err();
    assert_eq!(*config_problem(&err).1, ConfigProblem::KeyMismatch);
}

#[test]
fn usage_separates_signing_from_encryption() {
    let mut profile = Profile::new("p", ProfileType::Partner, id("P"));
    profile
        .add_certificate(ProfileCertificate::new(
            "sign",
            CertificateUsage::Signing,
            cert("partner-cert1.crt"),
        ))
        .unwrap();
    profile
        .add_certificate(ProfileCertificate::new(
            "encrypt",
            CertificateUsage::Encryption,
            cert("partner-cert2.crt"),
        ))
        .unwrap();
    let t = day("2021-01-15");
    assert_eq!(
        profile
            .outbound_certificate(CertificateUsage::Encryption, t)
            .unwrap()
            .id(),
        "encrypt"
    );
    assert_eq!(
        profile
            .outbound_certificate(CertificateUsage::Signing, t)
            .unwrap()
            .id(),
        "sign"
    );
    // The encryption certificate is not accepted as a signer.
    assert!(
        profile
            .trust(t, DateEnforcement::Enforce)
            .check(&cert("partner-cert2.crt"))
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Real messages through the rotation

struct Parties {
    ours: MemoryDirectory,
    theirs: MemoryDirectory,
}

impl Parties {
    fn new() -> Self {
        Parties {
            ours: ours(),
            theirs: theirs(),
        }
    }

    /// The partner sends `payload` to us at `now` with its connector (rotation applied on
    /// its side), optionally re-signed with another certificate.
    fn partner_sends(
        &self,
        payload: &[u8],
        now: SystemTime,
        sign_with: Option<(&Certificate, &PrivateKey)>,
        seed: u64,
    ) -> Result<outbound::BuiltMessage, Error> {
        let connector = self.theirs.connector("c-to-mycompany")?;
        let mut message = connector.outbound(payload, now)?;
        if let Some((cert, key)) = sign_with {
            let options = message.signing.as_ref().unwrap().1.clone();
            message.signing = Some((Signer::new(cert, key), options));
        }
        outbound::build(&message, now, &mut common::rng(seed))
    }

    #[allow(clippy::result_large_err)]
    fn we_receive(
        &self,
        built: &outbound::BuiltMessage,
        now: SystemTime,
        dates: DateEnforcement,
    ) -> Result<inbound::Received, inbound::Rejected> {
        let limits = Limits::default();
        let headers = message_headers(built);
        let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
        let agreement = self.ours.agreement(&incoming.from, &incoming.to).unwrap();
        let setup = agreement.inbound(now, dates);
        let mut duplicates = MemoryDuplicateStore::new(100);
        setup.accept(&incoming, &limits, &mut duplicates, &mut common::rng(99))
    }
}

#[test]
fn rotation_with_real_messages_before_during_and_after_the_grace_period() {
    let parties = Parties::new();
    let payload = b"ISA*00*          *00*          *ZZ*PARTNERA~";
    let signer_of =
        |received: &inbound::Received| received.signature.as_ref().unwrap().signer.clone();

    // Before the grace period: Cert1 on both sides.
    let t = day("2020-03-01");
    let built = parties.partner_sends(payload, t, None, 1).unwrap();
    let received = parties
        .we_receive(&built, t, DateEnforcement::Enforce)
        .unwrap();
    assert_eq!(received.payload, payload);
    assert_eq!(signer_of(&received), cert("partner-cert1.crt"));
    assert_eq!(received.encryption(), Some(ContentEncryption::Aes256Cbc));

    // During the grace period the partner already uses Cert2 and encrypts to our Cert2...
    let t = day("2020-12-01");
    let built = parties.partner_sends(payload, t, None, 2).unwrap();
    let received = parties
        .we_receive(&built, t, DateEnforcement::Enforce)
        .unwrap();
    assert_eq!(signer_of(&received), cert("partner-cert2.crt"));
    // ...and a message signed with its old Cert1, encrypted to our old Cert1 (built by a
    // partner still on the old configuration), is accepted too.
    let old = parties
        .partner_sends(payload, day("2020-10-01"), None, 3)
        .unwrap();
    let received = parties
        .we_receive(&old, t, DateEnforcement::Enforce)
        .unwrap();
    assert_eq!(signer_of(&received), cert("partner-cert1.crt"));
    assert_eq!(received.payload, payload);

    // After the grace period: Cert2 works; a signature by Cert1 is refused by name.
    let t = day("2021-02-01");
    let built = parties.partner_sends(payload, t, None, 4).unwrap();
    let received = parties
        .we_receive(&built, t, DateEnforcement::Enforce)
        .unwrap();
    assert_eq!(signer_of(&received), cert("partner-cert2.crt"));
    let (old_cert, old_key) = (cert("partner-cert1.crt"), key("partner-cert1.key"));
    let late = parties
        .partner_sends(payload, t, Some((&old_cert, &old_key)), 5)
        .unwrap();
    let rejected = parties
        .we_receive(&late, t, DateEnforcement::Enforce)
        .unwrap_err();
    let PartnerError::CertificateNotUsable(details) = partner_error(&rejected.error) else {
        panic!("{:?}", rejected.error)
    };
    assert_eq!(details.id, "Cert1");
    assert_eq!(details.inactive_date, Some(at("2020-12-31", 0)));
    assert_eq!(rejected.error.code(), ErrorCode::VerificationFailed);
    assert_eq!(
        rejected.error.disposition(),
        Disposition::Error(Modifier::AuthenticationFailed)
    );
    // The envelope was opened before the signature was refused.
    assert!(matches!(rejected.layers.first(), Some(Layer::Encrypted(_))));

    // Replaying the archived message with dates not enforced accepts it.
    let replayed = parties
        .we_receive(&late, t, DateEnforcement::Ignore)
        .unwrap();
    assert_eq!(replayed.payload, payload);

    // A message encrypted to our retired Cert1 no longer finds a decryption key.
    let rejected = parties
        .we_receive(&old, t, DateEnforcement::Enforce)
        .unwrap_err();
    assert_eq!(rejected.error, Error::NoMatchingRecipient);
    assert_eq!(rejected.error.code(), ErrorCode::NoDecryptionKeyFound);

    // After both certificates: the partner cannot send at all.
    let err = parties
        .partner_sends(payload, day("2021-07-01"), None, 6)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::SigningFailed);
    assert_eq!(
        err.to_string(),
        "profile \"p-partnera\" has no signing certificate usable at 2021-07-01T12:00:00Z"
    );
}

#[test]
fn our_outbound_rotation_and_the_partner_accepts_it() {
    let parties = Parties::new();
    let connector = parties.ours.connector("c-c21c63ceaaf34d99b").unwrap();
    for (date, ours, theirs) in [
        ("2020-03-01", "local-cert1.crt", "partner-cert1.crt"),
        ("2020-12-01", "local-cert2.crt", "partner-cert2.crt"),
        ("2021-03-01", "local-cert2.crt", "partner-cert2.crt"),
    ] {
        let t = day(date);
        let message = connector.outbound(b"payload", t).unwrap();
        assert_eq!(*message.signing.as_ref().unwrap().0.certificate, cert(ours));
        assert_eq!(message.encryption.0, vec![&cert(theirs)]);
        let built = outbound::build(&message, t, &mut common::rng(7)).unwrap();

        // The partner's side receives it under its agreement.
        let limits = Limits::default();
        let headers = message_headers(&built);
        let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
        let agreement = parties
            .theirs
            .agreement(&incoming.from, &incoming.to)
            .unwrap();
        let received = agreement
            .inbound(t, DateEnforcement::Enforce)
            .accept(
                &incoming,
                &limits,
                &mut MemoryDuplicateStore::new(4),
                &mut common::rng(8),
            )
            .unwrap();
        assert_eq!(received.payload, b"payload");
        assert!(received.compressed());
        assert_eq!(received.signature.unwrap().signer, cert(ours));
    }
}

// ---------------------------------------------------------------------------------------
// Chain verification, checked against `openssl verify`

/// `openssl verify` at `when` (its own verdict), with the chain as untrusted certificates.
fn openssl_verifies(
    dir: &Path,
    anchor: &str,
    chain: Option<&str>,
    leaf: &str,
    when: SystemTime,
) -> bool {
    let secs = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut args = vec!["verify", "-attime", &secs, "-CAfile", anchor];
    if let Some(c) = chain {
        args.extend(["-untrusted", c]);
    }
    args.push(leaf);
    common::openssl_try(dir, &args).0
}

fn write_ext(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Issues `name.crt` for a new key, signed by `issuer` with `extfile`, plus extra
/// arguments (digest or PSS options).
fn issue(dir: &Path, name: &str, issuer: &str, days: &str, ext: &str, extra: &[&str]) {
    common::openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        &format!("{name}.csr"),
        "-CA",
        &format!("{issuer}.crt"),
        "-CAkey",
        &format!("{issuer}.key"),
        "-CAcreateserial",
        "-out",
        &format!("{name}.crt"),
        "-days",
        days,
        "-extfile",
        ext,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    common::openssl(dir, &refs);
}

fn self_signed(dir: &Path, name: &str, days: &str, ca: bool) {
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.crt"),
        "-days",
        days,
        "-subj",
        &format!("/CN={name}"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    if ca {
        args.extend(["-addext".into(), "basicConstraints=critical,CA:TRUE".into()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    common::openssl(dir, &refs);
}

fn load(dir: &Path, name: &str) -> Certificate {
    Certificate::from_pem(&std::fs::read(dir.join(format!("{name}.crt"))).unwrap()).unwrap()
}

fn chain_reason(e: &Error) -> (&str, &ChainError) {
    match partner_error(e) {
        PartnerError::UntrustedCertificate(u) => (&u.at_subject, &u.reason),
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
}

#[test]
fn chains_verified_like_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_ext(
        d,
        "ca.ext",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n",
    );
    write_ext(d, "notca.ext", "basicConstraints=critical,CA:FALSE\n");
    write_ext(d, "leaf.ext", "keyUsage=digitalSignature,keyEncipherment\n");
    self_signed(d, "root", "3650", true);
    self_signed(d, "other-root", "3650", true);
    issue(d, "inter", "root", "3650", "ca.ext", &[]);
    issue(d, "leaf", "inter", "365", "leaf.ext", &[]);
    issue(d, "direct", "root", "365", "leaf.ext", &["-sha512"]);
    issue(d, "direct-sha1", "root", "365", "leaf.ext", &["-sha1"]);
    issue(
        d,
        "direct-pss",
        "root",
        "365",
        "leaf.ext",
        &[
            "-sha384",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-1",
        ],
    );
    issue(d, "fake-inter", "root", "3650", "notca.ext", &[]);
    issue(d, "under-fake", "fake-inter", "365", "leaf.ext", &[]);
    self_signed(d, "pinned", "365", false);

    let root = load(d, "root");
    let inter = load(d, "inter");
    let now = load(d, "leaf").not_before() + Duration::from_secs(86_400);
    let enforce = DateEnforcement::Enforce;
    let check = |leaf: &str, chain: &[Certificate], anchors: &[Certificate]| {
        verify_chain(leaf, &load(d, leaf), chain, anchors, now, enforce)
    };

    // Good chains, and OpenSSL agrees.
    check(
        "leaf",
        std::slice::from_ref(&inter),
        std::slice::from_ref(&root),
    )
    .unwrap();
    assert!(openssl_verifies(
        d,
        "root.crt",
        Some("inter.crt"),
        "leaf.crt",
        now
    ));
    for direct in ["direct", "direct-sha1", "direct-pss"] {
        check(direct, &[], std::slice::from_ref(&root)).unwrap();
    }
    assert!(openssl_verifies(d, "root.crt", None, "direct-pss.crt", now));
    // The intermediate itself as anchor, and the leaf as its own anchor.
    check("leaf", &[], std::slice::from_ref(&inter)).unwrap();
    check("leaf", &[], &[load(d, "leaf")]).unwrap();
    // A self-signed certificate is pinned, whatever the anchors.
    check("pinned", &[], std::slice::from_ref(&root)).unwrap();

    // Missing intermediate.
    let err = check("leaf", &[], std::slice::from_ref(&root)).unwrap_err();
    assert_eq!(chain_reason(&err), ("CN=leaf", &ChainError::IssuerNotFound));
    assert!(!openssl_verifies(d, "root.crt", None, "leaf.crt", now));
    // Wrong CA.
    let err = check("direct", &[], &[load(d, "other-root")]).unwrap_err();
    assert_eq!(
        chain_reason(&err),
        ("CN=direct", &ChainError::IssuerNotFound)
    );
    assert!(!openssl_verifies(
        d,
        "other-root.crt",
        None,
        "direct.crt",
        now
    ));
    // An impostor CA with the right name but another key.
    self_signed(d, "root", "3650", true);
    let impostor = load(d, "root");
    let err = check("direct", &[], &[impostor]).unwrap_err();
    assert_eq!(chain_reason(&err), ("CN=direct", &ChainError::BadSignature));
    assert!(!openssl_verifies(d, "root.crt", None, "direct.crt", now));
    // An intermediate that is not a CA.
    let err = check(
        "under-fake",
        &[load(d, "fake-inter")],
        std::slice::from_ref(&root),
    )
    .unwrap_err();
    assert_eq!(chain_reason(&err), ("CN=fake-inter", &ChainError::NotACa));
    assert_eq!(err.code(), ErrorCode::VerificationFailed);

    // Dates: a year and two days on, the leaf has expired (and OpenSSL says so too).
    let later = now + Duration::from_secs(366 * 86_400);
    let err = verify_chain(
        "leaf",
        &load(d, "leaf"),
        std::slice::from_ref(&inter),
        std::slice::from_ref(&root),
        later,
        enforce,
    )
    .unwrap_err();
    let leaf = load(d, "leaf");
    assert_eq!(
        chain_reason(&err),
        (
            "CN=leaf",
            &ChainError::NotValidAt {
                not_before: leaf.not_before(),
                not_after: leaf.not_after(),
                at: later
            }
        )
    );
    assert!(!openssl_verifies(
        d,
        "root.crt",
        Some("inter.crt"),
        "leaf.crt",
        later
    ));
    // ...unless dates are not enforced (replay).
    verify_chain(
        "leaf",
        &leaf,
        &[inter],
        &[root],
        later,
        DateEnforcement::Ignore,
    )
    .unwrap();
}

#[test]
fn an_expired_intermediate_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_ext(d, "ca.ext", "basicConstraints=critical,CA:TRUE\n");
    write_ext(d, "leaf.ext", "keyUsage=digitalSignature\n");
    self_signed(d, "root", "3650", true);
    issue(d, "short-inter", "root", "2", "ca.ext", &[]);
    issue(d, "leaf", "short-inter", "365", "leaf.ext", &[]);
    let inter = load(d, "short-inter");
    let when = inter.not_after() + Duration::from_secs(86_400);
    let err = verify_chain(
        "partner-signing",
        &load(d, "leaf"),
        std::slice::from_ref(&inter),
        &[load(d, "root")],
        when,
        DateEnforcement::Enforce,
    )
    .unwrap_err();
    let PartnerError::UntrustedCertificate(u) = partner_error(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(u.id, "partner-signing");
    assert_eq!(u.at_subject, "CN=short-inter");
    assert!(matches!(u.reason, ChainError::NotValidAt { .. }));
    assert!(!openssl_verifies(
        d,
        "root.crt",
        Some("short-inter.crt"),
        "leaf.crt",
        when
    ));
    let before = inter.not_after() - Duration::from_secs(3600);
    assert!(openssl_verifies(
        d,
        "root.crt",
        Some("short-inter.crt"),
        "leaf.crt",
        before
    ));
    verify_chain(
        "partner-signing",
        &load(d, "leaf"),
        &[inter],
        &[load(d, "root")],
        before,
        DateEnforcement::Enforce,
    )
    .unwrap();
}

#[test]
fn profile_trust_applies_the_chain_to_signers() {
    // The partner certificates chain to partner-ca, not to local-ca.
    let mut profile = rotation_profile().with_trust_anchors(vec![cert("local-ca.crt")]);
    let t = day("2020-03-01");
    let err = profile
        .trust(t, DateEnforcement::Enforce)
        .check(&cert("partner-cert1.crt"))
        .unwrap_err();
    assert_eq!(
        chain_reason(&err),
        (
            "O=as2-proto tests,CN=partner Cert1",
            &ChainError::IssuerNotFound
        )
    );
    // Outbound selection refuses to encrypt to it as well.
    let err = profile
        .outbound_certificate(CertificateUsage::Encryption, t)
        .unwrap_err();
    assert!(matches!(
        partner_error(&err),
        PartnerError::UntrustedCertificate(_)
    ));
    // Without anchors the profile's certificates are pinned.
    profile = profile.with_trust_anchors(Vec::new());
    profile
        .trust(t, DateEnforcement::Enforce)
        .check(&cert("partner-cert1.crt"))
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn json_and_toml_describe_the_same_configuration() {
    let toml_text = std::fs::read_to_string(fixtures().join("ours.toml")).unwrap();
    let from_toml = PartnerConfig::from_toml(&toml_text).unwrap();
    // Back out as JSON and in again: nothing lost.
    let json = from_toml.to_json();
    let from_json = PartnerConfig::from_json(&json).unwrap();
    assert_eq!(from_json, from_toml);
    // TOML native dates and quoted dates read the same.
    let cert2 = from_toml
        .certificates
        .iter()
        .find(|c| c.id == "LocalCert2")
        .unwrap();
    assert_eq!(cert2.active_date, Some(at("2020-06-01", 0)));
    let cert1 = from_toml
        .certificates
        .iter()
        .find(|c| c.id == "Cert1")
        .unwrap();
    assert_eq!(cert1.inactive_date, Some(at("2020-12-31", 0)));
    assert!(
        json.contains("\"inactive_date\": \"2020-12-31T00:00:00Z\""),
        "{json}"
    );
    assert!(json.contains("\"usage\": \"ENCRYPTION_AND_SIGNING\""));

    // Defaults of agreements and connectors.
    let agreement = &from_toml.agreements[0];
    assert!(agreement.require_encryption);
    assert_eq!(agreement.require_signature, Some(true));
    assert_eq!(agreement.duplicate_handling, DuplicateHandling::Warn);
    assert!(agreement.mdn_algorithm_protection);
    let connector = &from_toml.connectors[0];
    assert_eq!(
        connector.mdn_signing_algorithm,
        MdnSigningAlgorithm::Default
    );
    assert!(connector.algorithm_protection);

    let directory = from_toml.load(&mut read_fixture).unwrap();
    let local = directory.profile("p-mycompany").unwrap();
    assert_eq!(local.as2_id().as_str(), "MyCompany_OID");
    assert_eq!(local.certificates().len(), 2);
    assert!(
        local
            .certificates()
            .iter()
            .all(|c| c.private_key().is_some())
    );
    let partner = directory.profile("p-partnera").unwrap();
    assert_eq!(partner.trust_anchors(), [cert("partner-ca.crt")]);

    // The partner's JSON: chain read from a second file.
    let theirs = theirs();
    let their_local = theirs.profile("p-partnera").unwrap();
    assert_eq!(
        their_local.certificates()[0].chain(),
        [cert("partner-ca.crt")]
    );
}

#[test]
fn the_examples_configurations_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    for (file, local, partner) in [
        ("partner-a.toml", "PartnerA", "PartnerB"),
        ("partner-b.toml", "PartnerB", "PartnerA"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let directory = PartnerConfig::from_toml(&text)
            .unwrap()
            .load(&mut |p: &Path| std::fs::read(dir.join(p)))
            .unwrap();
        let agreement = directory.agreement(&id(partner), &id(local)).unwrap();
        assert_eq!(agreement.local().as2_id().as_str(), local);
        let connector = directory.connectors().next().unwrap().id.clone();
        let now = agreement.local().certificates()[0]
            .certificate()
            .not_before()
            + Duration::from_secs(86_400);
        let active = directory.connector(&connector).unwrap();
        let message = active.outbound(b"x", now).unwrap();
        assert_eq!(message.to.as_str(), partner);
        assert!(message.signing.is_some() && !message.encryption.0.is_empty());
    }
}

const MINIMAL: &str = r#"
[[certificates]]
id = "c1"
usage = "SIGNING"
certificate = { file = "partner-cert1.crt" }

[[certificates]]
id = "k1"
usage = "ENCRYPTION_AND_SIGNING"
certificate = { file = "local-cert1.crt" }
private_key = { file = "local-cert1.key" }

[[local_profiles]]
id = "local"
as2_id = "MyCompany_OID"
certificates = ["k1"]

[[partner_profiles]]
id = "partner"
as2_id = "PartnerA_OID"
certificates = ["c1"]

[[agreements]]
id = "a1"
local_profile = "local"
partner_profile = "partner"
base_directory = "in"

[[connectors]]
id = "c-1"
url = "https://partnera.example/as2"
local_profile = "local"
partner_profile = "partner"
"#;

fn toml_error(text: &str) -> Error {
    PartnerConfig::from_toml(text).unwrap_err()
}

#[test]
fn configuration_errors_are_clear() {
    PartnerConfig::from_toml(MINIMAL).unwrap();

    // Unknown certificate.
    let err = toml_error(&MINIMAL.replace("certificates = [\"c1\"]", "certificates = [\"c9\"]"));
    assert_eq!(
        err.to_string(),
        "profile \"partner\": refers to unknown certificate \"c9\""
    );
    // Unknown profile, and a profile of the wrong type.
    let err = toml_error(&MINIMAL.replace(
        "partner_profile = \"partner\"\nbase",
        "partner_profile = \"nobody\"\nbase",
    ));
    assert_eq!(
        err.to_string(),
        "agreement \"a1\": refers to unknown profile \"nobody\""
    );
    assert_eq!(err.code(), ErrorCode::AgreementNotFound);
    let err = toml_error(&MINIMAL.replace(
        "local_profile = \"local\"\npartner_profile = \"partner\"\nbase",
        "local_profile = \"partner\"\npartner_profile = \"partner\"\nbase",
    ));
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::WrongProfileType {
            profile: "partner".into(),
            expected: ProfileType::Local
        }
    );
    // Eleven certificates in one profile.
    let mut many = MINIMAL.to_owned();
    for n in 0..11 {
        many.push_str(&format!(
            "\n[[certificates]]\nid = \"x{n}\"\nusage = \"SIGNING\"\ncertificate = {{ file = \"partner-cert2.crt\" }}\n"
        ));
    }
    let list: Vec<String> = (0..11).map(|n| format!("\"x{n}\"")).collect();
    let many = many.replace(
        "certificates = [\"c1\"]",
        &format!("certificates = [{}]", list.join(", ")),
    );
    let err = toml_error(&many);
    assert_eq!(
        err.to_string(),
        "profile \"partner\": 11 certificates, at most 10 allowed per profile"
    );
    // NONE encryption over http is refused; over https it is fine.
    // (MINIMAL ends inside the connector's table.)
    let https_none = format!("{MINIMAL}encryption_algorithm = \"NONE\"\n");
    PartnerConfig::from_toml(&https_none).unwrap();
    let err = toml_error(&https_none.replace("https://", "http://"));
    assert_eq!(
        err.to_string(),
        "connector \"c-1\": encryption algorithm NONE is allowed only with an https URL"
    );
    assert_eq!(err.code(), ErrorCode::ConnectorNotFound);
    // Neither HTTP nor HTTPS.
    let err = toml_error(&MINIMAL.replace("https://", "ftp://"));
    assert_eq!(err.code(), ErrorCode::InvalidEndpointProtocol);
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::UnsupportedUrlScheme("ftp".into())
    );
    // ASYNC without its URL, and a URL without ASYNC.
    let err = toml_error(&format!("{MINIMAL}mdn_response = \"ASYNC\"\n"));
    assert_eq!(*config_problem(&err).1, ConfigProblem::AsyncMdnUrl);
    let err = toml_error(&format!(
        "{MINIMAL}async_mdn_url = \"https://me.example/mdn\"\n"
    ));
    assert_eq!(*config_problem(&err).1, ConfigProblem::AsyncMdnUrl);
    PartnerConfig::from_toml(&format!(
        "{MINIMAL}mdn_response = \"ASYNC\"\nasync_mdn_url = \"https://me.example/mdn\"\n"
    ))
    .unwrap();
    // A local profile certificate without its key.
    let err = toml_error(&MINIMAL.replace("private_key = { file = \"local-cert1.key\" }\n", ""));
    assert_eq!(
        err.to_string(),
        "certificate \"k1\": a local profile's certificate needs its private key"
    );
    // Duplicate ids, a bad AS2 ID, an unknown field, a bad date, a bad enum value.
    let err = toml_error(&MINIMAL.replace("id = \"k1\"", "id = \"c1\""));
    assert_eq!(*config_problem(&err).1, ConfigProblem::DuplicateId);
    let err = toml_error(&MINIMAL.replace("\"PartnerA_OID\"", "\"\""));
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::InvalidAs2Id(String::new())
    );
    for broken in [
        MINIMAL.replace("base_directory", "base_dir"),
        MINIMAL.replace(
            "usage = \"SIGNING\"",
            "usage = \"SIGNING\"\nactive_date = \"2020-02-30\"",
        ),
        MINIMAL.replace("usage = \"SIGNING\"", "usage = \"VERIFYING\""),
        MINIMAL.replace(
            "usage = \"SIGNING\"",
            "usage = \"SIGNING\"\nactive_date = { when = \"2020-01-01\" }",
        ),
    ] {
        let err = toml_error(&broken);
        let (item, problem) = config_problem(&err);
        assert_eq!(*item, ConfigItem::Document);
        assert!(matches!(problem, ConfigProblem::Syntax(_)), "{problem:?}");
    }
    let err = PartnerConfig::from_json("{\"certificates\": 3}").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("partner configuration: invalid type"),
        "{err}"
    );
    // Active Date not before Inactive Date.
    let err = toml_error(&MINIMAL.replace(
        "usage = \"SIGNING\"",
        "usage = \"SIGNING\"\nactive_date = 2021-01-01\ninactive_date = 2020-01-01",
    ));
    assert_eq!(*config_problem(&err).1, ConfigProblem::DatesOutOfOrder);
}

#[test]
fn loading_reads_files_through_the_caller() {
    let config = PartnerConfig::from_toml(MINIMAL).unwrap();
    let mut asked = Vec::new();
    config
        .load(&mut |path: &Path| {
            asked.push(path.to_owned());
            read_fixture(path)
        })
        .unwrap();
    assert_eq!(
        asked,
        ["partner-cert1.crt", "local-cert1.crt", "local-cert1.key"].map(PathBuf::from)
    );

    // A missing file names the certificate and path.
    let err = config
        .load(&mut |_: &Path| Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate \"c1\": cannot read partner-cert1.crt: gone"
    );
    // The wrong key for a certificate.
    let swapped = MINIMAL.replace("local-cert1.key", "local-cert2.key");
    let err = PartnerConfig::from_toml(&swapped)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap_err();
    assert_eq!(*config_problem(&err).1, ConfigProblem::KeyMismatch);
    // Strict dates: the reference's Cert2 without lenient_dates.
    let strict = std::fs::read_to_string(fixtures().join("ours.toml"))
        .unwrap()
        .replace("lenient_dates = true", "");
    let err = PartnerConfig::from_toml(&strict)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap_err();
    let (item, problem) = config_problem(&err);
    assert_eq!(*item, ConfigItem::Certificate("LocalCert2".into()));
    assert!(matches!(
        problem,
        ConfigProblem::ActiveRangeOutsideValidity { .. }
    ));
}

#[test]
fn key_material_inline_der_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixtures().join("local-cert1.key"), d.join("k.pem")).unwrap();
    std::fs::copy(fixtures().join("local-cert1.crt"), d.join("c.pem")).unwrap();
    common::openssl(
        d,
        &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"],
    );
    common::openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "k.pem",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
            "-outform",
            "DER",
            "-out",
            "k.p8.der",
        ],
    );
    common::openssl(
        d,
        &[
            "rsa",
            "-in",
            "k.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "k.pkcs1.der",
        ],
    );
    let pem = String::from_utf8(fixture("local-cert1.crt")).unwrap();
    for (certificate, private_key, password) in [
        (
            KeyMaterial::Pem(pem.clone()),
            KeyMaterial::File("k.pem".into()),
            None,
        ),
        (
            KeyMaterial::File("c.der".into()),
            KeyMaterial::File("k.p8.der".into()),
            Some("s3cret"),
        ),
        (
            KeyMaterial::File("c.der".into()),
            KeyMaterial::File("k.pkcs1.der".into()),
            None,
        ),
    ] {
        let mut config = certificate_config(certificate, private_key, password);
        // Neither the inline PEM nor the password shows in debug output.
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("BEGIN") && !debug.contains("s3cret"),
            "{debug}"
        );
        let loaded = config
            .load(&mut |p: &Path| std::fs::read(d.join(p)))
            .unwrap();
        assert_eq!(*loaded.certificate(), cert("local-cert1.crt"));
        assert!(loaded.private_key().unwrap().matches(loaded.certificate()));
        config.private_key_password = Some("wrong".into());
        if password.is_some() {
            let err = config
                .load(&mut |p: &Path| std::fs::read(d.join(p)))
                .unwrap_err();
            assert!(matches!(
                config_problem(&err).1,
                ConfigProblem::InvalidKey(_)
            ));
        }
    }
}

#[test]
fn pkcs12_supplies_certificate_key_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["local-cert1.crt", "local-cert1.key", "local-ca.crt"] {
        std::fs::copy(fixtures().join(name), d.join(name)).unwrap();
    }
    common::openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "local-cert1.crt",
            "-inkey",
            "local-cert1.key",
            "-certfile",
            "local-ca.crt",
            "-passout",
            "pass:p12pass",
            "-out",
            "id.p12",
        ],
    );
    let json = |extra: &str| {
        format!(
            r#"{{
              "certificates": [{{ "id": "mine", "usage": "ENCRYPTION_AND_SIGNING" {extra} }}],
              "local_profiles": [{{ "id": "l", "as2_id": "MyCompany_OID", "certificates": ["mine"] }}]
            }}"#
        )
    };
    let mut read = |p: &Path| std::fs::read(d.join(p));
    let config = PartnerConfig::from_json(&json(
        r#", "pkcs12": { "file": "id.p12" }, "private_key_password": "p12pass""#,
    ))
    .unwrap();
    let directory = config.load(&mut read).unwrap();
    let mine = &directory.profile("l").unwrap().certificates()[0];
    assert_eq!(*mine.certificate(), cert("local-cert1.crt"));
    assert_eq!(mine.chain(), [cert("local-ca.crt")]);
    assert!(mine.private_key().unwrap().matches(mine.certificate()));

    // The wrong password is a key error naming the certificate entry.
    let err = PartnerConfig::from_json(&json(
        r#", "pkcs12": { "file": "id.p12" }, "private_key_password": "nope""#,
    ))
    .unwrap()
    .load(&mut read)
    .unwrap_err();
    let (item, problem) = config_problem(&err);
    assert_eq!(*item, ConfigItem::Certificate("mine".into()));
    assert!(
        matches!(problem, ConfigProblem::InvalidKey(_)),
        "{problem:?}"
    );

    // Exactly one source of the certificate, and no separate key beside a PKCS#12 file.
    for extra in [
        "",
        r#", "pkcs12": { "file": "id.p12" }, "certificate": { "file": "local-cert1.crt" }"#,
        r#", "pkcs12": { "file": "id.p12" }, "private_key": { "file": "local-cert1.key" }"#,
    ] {
        let err = PartnerConfig::from_json(&json(extra)).unwrap_err();
        assert_eq!(
            *config_problem(&err).1,
            ConfigProblem::CertificateSource,
            "{extra}"
        );
    }
}

/// A certificate entry as a caller would write it (the type is non-exhaustive).
fn certificate_config(
    certificate: KeyMaterial,
    private_key: KeyMaterial,
    password: Option<&str>,
) -> CertificateConfig {
    let value = serde_json::json!({
        "id": "k",
        "usage": "ENCRYPTION_AND_SIGNING",
        "certificate": certificate,
        "private_key": private_key,
        "private_key_password": password,
    });
    serde_json::from_value(value).unwrap()
}

// ---------------------------------------------------------------------------------------
// Agreements, connectors and the directory

#[test]
fn inactive_agreements_and_profiles_are_not_found() {
    let text = std::fs::read_to_string(fixtures().join("ours.toml")).unwrap();
    let (partner, us) = (id("PartnerA_OID"), id("MyCompany_OID"));

    let inactive_agreement = text.replace(
        "require_signature = true",
        "require_signature = true\nstatus = \"INACTIVE\"",
    );
    let directory = PartnerConfig::from_toml(&inactive_agreement)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap();
    let err = directory.agreement(&partner, &us).unwrap_err();
    assert_eq!(
        *partner_error(&err),
        PartnerError::AgreementNotFound(NotFound::Inactive("a-f5c5cbea5f7741988".into()))
    );
    assert_eq!(err.code(), ErrorCode::AgreementNotFound);
    assert_eq!(
        err.disposition(),
        Disposition::Error(Modifier::UnknownTradingRelationship)
    );
    // The connector does not depend on the agreement.
    directory.connector("c-c21c63ceaaf34d99b").unwrap();

    let inactive_profile = text.replace(
        "as2_id = \"PartnerA_OID\"",
        "as2_id = \"PartnerA_OID\"\nstatus = \"INACTIVE\"",
    );
    let directory = PartnerConfig::from_toml(&inactive_profile)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap();
    let err = directory.agreement(&partner, &us).unwrap_err();
    assert_eq!(
        err.to_string(),
        "agreement not found: profile \"p-partnera\" of \"a-f5c5cbea5f7741988\" is inactive"
    );
    let err = directory.connector("c-c21c63ceaaf34d99b").unwrap_err();
    assert_eq!(err.code(), ErrorCode::ConnectorNotFound);
    assert_eq!(
        *partner_error(&err),
        PartnerError::ConnectorNotFound(NotFound::Profile {
            item: "c-c21c63ceaaf34d99b".into(),
            profile: "p-partnera".into(),
            reason: ProfileUnavailable::Inactive,
        })
    );

    let directory = ours();
    let err = directory.connector("c-nope").unwrap_err();
    assert_eq!(err.code(), ErrorCode::ConnectorNotFound);
    // From and to swapped: no agreement.
    let err = directory.agreement(&us, &partner).unwrap_err();
    assert_eq!(
        err.to_string(),
        "agreement not found: none for AS2-From \"MyCompany_OID\" to AS2-To \"PartnerA_OID\""
    );
}

#[test]
fn connector_becomes_outbound_options() {
    let directory = ours();
    let t = day("2021-03-01");
    let connector = directory.connector("c-c21c63ceaaf34d99b").unwrap();
    assert_eq!(connector.url(), "http://partnera.example:5080/as2");
    let message = connector.outbound(b"data", t).unwrap();
    assert_eq!(message.from.as_str(), "MyCompany_OID");
    assert_eq!(message.to.as_str(), "PartnerA_OID");
    assert_eq!(
        message.subject.as_deref(),
        Some("File xyzTest from MyCompany_OID to partner YourCompany")
    );
    assert_eq!(message.compression, Compression::BeforeSigning);
    let (signer, options) = message.signing.as_ref().unwrap();
    assert_eq!(*signer.certificate, cert("local-cert2.crt"));
    assert_eq!(options.digest, DigestAlgorithm::Sha256);
    assert!(options.algorithm_protection);
    assert_eq!(message.encryption.1.cipher, ContentEncryption::Aes256Cbc);
    assert_eq!(
        message.mdn,
        MdnRequest::sync().signed(&[DigestAlgorithm::Sha256])
    );

    // Every other setting, through a connector built in code.
    let local = directory.profile("p-mycompany").unwrap().clone();
    let partner = directory.profile("p-partnera").unwrap().clone();
    let mut c = Connector::new(
        "c-2",
        "HTTPS://partnera.example/as2",
        "p-mycompany",
        "p-partnera",
    );
    c.encryption_algorithm = EncryptionAlgorithm::None;
    c.signing_algorithm = SigningAlgorithm::Sha512;
    c.mdn_response = MdnResponse::Async;
    c.async_mdn_url = Some("https://mycompany.example/mdn".into());
    c.mdn_signing_algorithm = MdnSigningAlgorithm::Sha1;
    c.algorithm_protection = false;
    let active = ActiveConnector::new(c.clone(), local.clone(), partner.clone()).unwrap();
    let message = active.outbound(b"data", t).unwrap();
    assert!(message.encryption.0.is_empty());
    assert_eq!(message.compression, Compression::None);
    assert_eq!(message.subject, None);
    let (_, options) = message.signing.as_ref().unwrap();
    assert_eq!(options.digest, DigestAlgorithm::Sha512);
    assert!(!options.algorithm_protection);
    assert_eq!(
        message.mdn,
        MdnRequest::asynchronous("https://mycompany.example/mdn").signed(&[DigestAlgorithm::Sha1])
    );
    let built = outbound::build(&message, t, &mut common::rng(3)).unwrap();
    let header = |name: &str| built.headers.get_str(name);
    assert_eq!(
        header("Receipt-Delivery-Option"),
        Some("https://mycompany.example/mdn")
    );
    assert!(
        header("Content-Type")
            .unwrap()
            .starts_with("multipart/signed")
    );
    assert!(header("Content-Type").unwrap().contains("micalg=sha-512"));

    // Unsigned, unsigned MDN, and 3DES by its reference alias.
    c.signing_algorithm = SigningAlgorithm::None;
    c.mdn_signing_algorithm = MdnSigningAlgorithm::None;
    c.encryption_algorithm = serde_json::from_str::<EncryptionAlgorithm>("\"3DES\"").unwrap();
    let active = ActiveConnector::new(c.clone(), local.clone(), partner.clone()).unwrap();
    let message = active.outbound(b"data", t).unwrap();
    assert!(message.signing.is_none());
    assert_eq!(message.mdn.signed_receipt(), None);
    assert_eq!(message.encryption.1.cipher, ContentEncryption::TripleDesCbc);
    // MDN DEFAULT with an unsigned message asks for SHA-256.
    c.mdn_signing_algorithm = MdnSigningAlgorithm::Default;
    assert_eq!(c.mdn_digest(), Some(DigestAlgorithm::Sha256));

    // Validation also applies to connectors built in code.
    c.encryption_algorithm = EncryptionAlgorithm::None;
    c.url = "http://partnera.example/as2".into();
    let err = ActiveConnector::new(c, local.clone(), partner.clone()).unwrap_err();
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::EncryptionRequiredOverHttp
    );
    // Profiles swapped: the partner profile cannot sign for us.
    let c = Connector::new("c-3", "https://x.example/", "p-partnera", "p-mycompany");
    let err = ActiveConnector::new(c, partner, local).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ConnectorNotFound);
}

#[test]
fn agreement_becomes_the_inbound_policy() {
    let directory = ours();
    let agreement = directory
        .agreement(&id("PartnerA_OID"), &id("MyCompany_OID"))
        .unwrap();
    let limits = Limits::default();

    // In the grace period both our decryption identities are offered, and every partner
    // signing certificate is offered to verification (the hook applies the dates).
    let setup = agreement.inbound(day("2020-12-01"), DateEnforcement::Enforce);
    let decryption: Vec<&Certificate> = setup.decryption().iter().map(|(c, _)| c).collect();
    assert_eq!(
        decryption,
        [&cert("local-cert1.crt"), &cert("local-cert2.crt")]
    );
    let policy = setup.policy(&limits);
    assert_eq!(
        policy.partner_certificates,
        [cert("partner-cert1.crt"), cert("partner-cert2.crt")]
    );
    assert!(policy.require_encryption);
    assert!(policy.require_signature);
    assert!(policy.signer_trust.is_some());
    // The MDN is signed with our current certificate, RFC 6211 as the agreement says.
    let signer = setup.mdn_signer().unwrap();
    assert_eq!(*signer.certificate, cert("local-cert2.crt"));
    let options = setup.mdn_sign_options(DigestAlgorithm::Sha384);
    assert_eq!(options.digest, DigestAlgorithm::Sha384);
    assert!(options.algorithm_protection);

    // After the grace period only Cert2 decrypts; outside every window nothing does.
    let setup = agreement.inbound(day("2021-03-01"), DateEnforcement::Enforce);
    assert_eq!(setup.decryption().len(), 1);
    let setup = agreement.inbound(day("2022-01-01"), DateEnforcement::Enforce);
    assert!(setup.decryption().is_empty());
    assert_eq!(
        setup.mdn_signer().unwrap_err().code(),
        ErrorCode::SigningFailed
    );
    let setup = agreement.inbound(day("2022-01-01"), DateEnforcement::Ignore);
    assert_eq!(setup.decryption().len(), 2);
}

#[test]
fn duplicate_handling_and_unsigned_messages() {
    let parties = Parties::new();
    let t = day("2021-03-01");
    let built = parties.partner_sends(b"twice", t, None, 11).unwrap();
    let limits = Limits::default();
    let headers = message_headers(&built);
    let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
    let agreement = parties
        .ours
        .agreement(&incoming.from, &incoming.to)
        .unwrap();
    let setup = agreement.inbound(t, DateEnforcement::Enforce);
    let mut store = MemoryDuplicateStore::new(10);
    let first = setup
        .accept(&incoming, &limits, &mut store, &mut common::rng(1))
        .unwrap();
    assert!(!first.duplicate);
    let second = setup
        .accept(&incoming, &limits, &mut store, &mut common::rng(1))
        .unwrap();
    assert!(second.duplicate);
    assert!(second.payload.is_empty());
    assert_eq!(
        second.disposition(),
        "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document"
    );

    // With duplicate handling disabled, it is delivered again.
    let text = std::fs::read_to_string(fixtures().join("ours.toml"))
        .unwrap()
        .replace(
            "require_signature = true",
            "require_signature = true\nduplicate_handling = \"DISABLED\"",
        );
    let directory = PartnerConfig::from_toml(&text)
        .unwrap()
        .load(&mut read_fixture)
        .unwrap();
    let agreement = directory.agreement(&incoming.from, &incoming.to).unwrap();
    let setup = agreement.inbound(t, DateEnforcement::Enforce);
    let again = setup
        .accept(&incoming, &limits, &mut store, &mut common::rng(1))
        .unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.payload, b"twice");

    // The agreement requires a signature: an unsigned message is refused. It was
    // encrypted, so the sender is told only that decryption failed (a missing signature
    // after decryption is what stripping looks like), the operator the real cause.
    let connector = parties.theirs.connector("c-to-mycompany").unwrap();
    let mut message = connector.outbound(b"unsigned", t).unwrap();
    message.signing = None;
    let built = outbound::build(&message, t, &mut common::rng(12)).unwrap();
    let rejected = parties
        .we_receive(&built, t, DateEnforcement::Enforce)
        .unwrap_err();
    assert_eq!(rejected.error, Error::DecryptionFailed);
    assert_eq!(
        rejected.cause(),
        &Error::Policy(as2_proto::PolicyError::SignatureRequired)
    );

    // A message whose headers name another partner than the agreement's is refused.
    let other = headers_with_from(&built, "Someone_Else");
    let incoming = inbound::handle(&other, &built.body, &limits).unwrap();
    let rejected = setup
        .accept(&incoming, &limits, &mut store, &mut common::rng(1))
        .unwrap_err();
    assert_eq!(rejected.error.code(), ErrorCode::AgreementNotFound);
}

/// Headers of a built message with AS2-From replaced.
fn headers_with_from(built: &outbound::BuiltMessage, from: &str) -> HttpHeaders {
    let mut headers = built.headers.clone();
    headers.set("AS2-From", from);
    headers
}

#[test]
fn memory_directory_checks_what_is_added() {
    let mut directory = MemoryDirectory::new();
    let local = Profile::new("l", ProfileType::Local, id("L"));
    directory.add_profile(local.clone()).unwrap();
    let err = directory.add_profile(local).unwrap_err();
    assert_eq!(*config_problem(&err).1, ConfigProblem::DuplicateId);
    let err = directory
        .add_agreement(Agreement::new("a", "l", "p", "in"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "agreement \"a\": refers to unknown profile \"p\""
    );
    directory
        .add_profile(Profile::new("p", ProfileType::Partner, id("P")))
        .unwrap();
    directory
        .add_agreement(Agreement::new("a", "l", "p", "in"))
        .unwrap();
    let found = directory.agreement(&id("P"), &id("L")).unwrap();
    assert_eq!(found.agreement().base_directory, "in");
    assert_eq!(directory.agreements().len(), 1);
    let err = directory
        .add_connector(Connector::new("c", "mailto:x", "l", "p"))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidEndpointProtocol);
    let err = directory
        .add_connector(Connector::new("c", "https://", "l", "p"))
        .unwrap_err();
    assert_eq!(
        *config_problem(&err).1,
        ConfigProblem::InvalidUrl("no host")
    );

    // A directory implementation that loads records one at a time uses the constructors.
    let local = directory.profile("l").unwrap().clone();
    let partner = directory.profile("p").unwrap().clone();
    let mut inactive = Agreement::new("a2", "l", "p", "in");
    inactive.status = Status::Inactive;
    let err = ActiveAgreement::new(inactive, local.clone(), partner.clone()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::AgreementNotFound);
    let err =
        ActiveAgreement::new(Agreement::new("a3", "l", "p", "in"), partner, local).unwrap_err();
    assert!(matches!(
        partner_error(&err),
        PartnerError::AgreementNotFound(NotFound::Profile { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Storage and transport

#[test]
fn memory_storage_stores_safe_paths_only() {
    let storage = MemoryStorage::new();
    storage
        .put("DOC-EXAMPLE-BUCKET/AS2-folder/processed/a.dat", b"one")
        .unwrap();
    storage
        .put("DOC-EXAMPLE-BUCKET/AS2-folder/processed/a.dat", b"two")
        .unwrap();
    assert_eq!(
        storage.get("DOC-EXAMPLE-BUCKET/AS2-folder/processed/a.dat"),
        Some(b"two".to_vec())
    );
    let err = storage.put("../../etc/passwd", b"x").unwrap_err();
    assert_eq!(err.path, "../../etc/passwd");
    assert!(storage.put("/abs", b"x").is_err());
    assert_eq!(
        storage.paths(),
        ["DOC-EXAMPLE-BUCKET/AS2-folder/processed/a.dat"]
    );
}

#[test]
fn transport_loopback_from_connector_to_agreement() {
    let parties = Arc::new(Parties::new());
    let t = day("2020-12-01");
    let receiver = parties.clone();
    let storage = Arc::new(MemoryStorage::new());
    let stored = storage.clone();
    // The partner's endpoint, in memory: handle, look up the agreement, accept, store.
    let transport = MemoryTransport::routing(move |request| {
        let limits = Limits::default();
        let incoming = inbound::handle(&request.headers, &request.body, &limits).map_err(|e| {
            TransportError::new(TransportErrorKind::ConnectionFailed, e.to_string())
        })?;
        let agreement = receiver
            .theirs
            .agreement(&incoming.from, &incoming.to)
            .map_err(|e| {
                TransportError::new(TransportErrorKind::ConnectionFailed, e.to_string())
            })?;
        let received = agreement
            .inbound(t, DateEnforcement::Enforce)
            .accept(
                &incoming,
                &limits,
                &mut MemoryDuplicateStore::new(4),
                &mut common::rng(5),
            )
            .map_err(|r| {
                TransportError::new(TransportErrorKind::ConnectionFailed, r.error.to_string())
            })?;
        let name = format!(
            "{}/processed/{}",
            agreement.agreement().base_directory,
            received.file_name.clone().unwrap_or_default()
        );
        stored.put(&name, &received.payload).unwrap();
        Ok(HttpResponse::new(200, HttpHeaders::new(), Vec::new()))
    });

    let connector = parties.ours.connector("c-c21c63ceaaf34d99b").unwrap();
    let mut message = connector.outbound(b"loopback payload", t).unwrap();
    message.file_name = Some("invoice.edi".into());
    message.message_id = Some(MessageId::parse(b"<loop-1@mycompany>").unwrap());
    let built = outbound::build(&message, t, &mut common::rng(4)).unwrap();
    let response = transport
        .post(connector.url(), &built.headers, &built.body)
        .unwrap();
    response.check_status(connector.url()).unwrap();

    let requests = transport.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url, "http://partnera.example:5080/as2");
    assert_eq!(requests[0].header("message-id"), Some("<loop-1@mycompany>"));
    assert_eq!(requests[0].body, built.body);
    assert_eq!(
        storage.get("inbox/processed/invoice.edi"),
        Some(b"loopback payload".to_vec())
    );
}

#[test]
fn scripted_transport_and_reference_codes() {
    let transport = MemoryTransport::scripted([
        Ok(HttpResponse::new(500, HttpHeaders::new(), b"boom".to_vec())),
        Err(TransportError::new(
            TransportErrorKind::UnresolvableHostname,
            "partnera.example",
        )),
    ]);
    let url = "http://partnera.example:5080/as2";
    let headers = HttpHeaders::from_iter([("AS2-To", "PartnerA_OID")]);
    let response = transport.post(url, &headers, b"x").unwrap();
    let err = response.check_status(url).unwrap_err();
    assert_eq!(err.code(), ErrorCode::HttpErrorResponseFromPartner);
    assert_eq!(
        err.to_string(),
        "http://partnera.example:5080/as2 returned status 500"
    );
    let err: Error = transport.post(url, &headers, b"y").unwrap_err().into();
    assert_eq!(err.code(), ErrorCode::UnableToResolveHostname);
    // Out of script.
    let err = transport.post(url, &headers, b"z").unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::ConnectionFailed);
    assert_eq!(
        Error::from(err).code(),
        ErrorCode::UnableToConnectToRemoteHostOrIp
    );
    assert_eq!(
        TransportErrorKind::NoIpAddress.code(),
        ErrorCode::UnableResolveHostToIpAddress
    );
    assert_eq!(
        TransportErrorKind::InvalidProtocol.code(),
        ErrorCode::InvalidEndpointProtocol
    );
    let bodies: Vec<Vec<u8>> = transport.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
}

#[test]
fn signer_trust_hook_in_a_hand_built_policy() {
    // A caller building InboundPolicy itself can plug the profile's trust in too.
    let parties = Parties::new();
    let t = day("2021-02-01");
    let (old_cert, old_key) = (cert("partner-cert1.crt"), key("partner-cert1.key"));
    let built = parties
        .partner_sends(b"p", t, Some((&old_cert, &old_key)), 21)
        .unwrap();
    let limits = Limits::default();
    let headers = message_headers(&built);
    let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
    let decryption = [(cert("local-cert2.crt"), key("local-cert2.key"))];
    let partner_certs = [cert("partner-cert1.crt"), cert("partner-cert2.crt")];
    let mut policy = inbound::InboundPolicy::new(&decryption, &partner_certs, &limits);
    // Without the hook, the old signer is accepted (it is one of the certificates).
    incoming
        .accept(&policy, &mut inbound::NoDuplicateCheck, &mut common::rng(1))
        .unwrap();
    let profile = rotation_profile();
    let trust = profile.trust(t, DateEnforcement::Enforce);
    policy.signer_trust = Some(&trust);
    let rejected = incoming
        .accept(&policy, &mut inbound::NoDuplicateCheck, &mut common::rng(1))
        .unwrap_err();
    assert!(matches!(
        partner_error(&rejected.error),
        PartnerError::CertificateNotUsable(_)
    ));
}

/// A partner profile with a signing certificate expects signed messages unless its
/// agreement says otherwise (issue 12: only a required signature stops signature
/// stripping); bare payloads are never accepted by default.
#[test]
fn partners_that_can_sign_must_sign_unless_the_agreement_says_otherwise() {
    let text = std::fs::read_to_string(fixtures().join("ours.toml")).unwrap();
    let (partner, us) = (id("PartnerA_OID"), id("MyCompany_OID"));
    let limits = Limits::default();
    for (setting, expected) in [
        ("", true),
        ("require_signature = true", true),
        ("require_signature = false", false),
    ] {
        let config = text.replace("require_signature = true", setting);
        let directory = PartnerConfig::from_toml(&config)
            .unwrap()
            .load(&mut read_fixture)
            .unwrap();
        let agreement = directory.agreement(&partner, &us).unwrap();
        assert_eq!(
            agreement.agreement().require_signature,
            match setting {
                "" => None,
                _ => Some(expected),
            }
        );
        let setup = agreement.inbound(day("2020-12-01"), DateEnforcement::Enforce);
        assert!(!setup.partner_certificates().is_empty());
        let policy = setup.policy(&limits);
        assert_eq!(policy.require_signature, expected, "{setting:?}");
        assert!(!policy.accept_bare_payload);
    }
    // The policy a caller builds by hand follows the same rule.
    let certs = [cert("partner-cert1.crt")];
    assert!(inbound::InboundPolicy::new(&[], &certs, &limits).require_signature);
    assert!(!inbound::InboundPolicy::new(&[], &[], &limits).require_signature);
}

/// AS2 1.3 in the configuration: the version on connectors and agreements, the GCM and
/// CCM ciphers, the originator copy and the retry policy, the same in TOML and JSON; an
/// EC key as SEC1 DER; the connector's message declares 1.3 and carries a copy of the
/// content key that our own key opens; SHA-1 for a 1.3 connector is refused.
#[test]
fn as2_1_3_configuration() {
    let pki = common::Pki::new();
    let d = pki.path();
    std::fs::write(
        d.join("ec.ext"),
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         keyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\n",
    )
    .unwrap();
    common::openssl(
        d,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-out",
            "ec.key",
        ],
    );
    common::openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "ec.key",
            "-out",
            "ec.csr",
            "-subj",
            "/CN=ours-ec",
        ],
    );
    let ours = pki.certify("ec", "ec.ext");
    common::openssl(
        d,
        &[
            "ec",
            "-in",
            "ec.key",
            "-outform",
            "DER",
            "-out",
            "ec-sec1.der",
        ],
    );
    let theirs = pki.party("theirs", 2048);
    let text = format!(
        r#"
        [[certificates]]
        id = "ours"
        usage = "ENCRYPTION_AND_SIGNING"
        certificate = {{ file = "ec.crt" }}
        private_key = {{ file = "ec-sec1.der" }}

        [[certificates]]
        id = "theirs"
        usage = "ENCRYPTION_AND_SIGNING"
        certificate = {{ file = "{theirs}" }}

        [[local_profiles]]
        id = "p-ours"
        as2_id = "Ours"
        certificates = ["ours"]

        [[partner_profiles]]
        id = "p-theirs"
        as2_id = "Theirs"
        certificates = ["theirs"]

        [[agreements]]
        id = "a-1"
        local_profile = "p-ours"
        partner_profile = "p-theirs"
        base_directory = "in"
        as2_version = "1.3"

        [[connectors]]
        id = "c-gcm"
        url = "https://theirs.example/as2"
        local_profile = "p-ours"
        partner_profile = "p-theirs"
        encryption_algorithm = "AES256_GCM"
        as2_version = "1.3"
        retry = {{ first_interval_seconds = 60, max_attempts = 3 }}

        [[connectors]]
        id = "c-ccm-no-copy"
        url = "https://theirs.example/as2"
        local_profile = "p-ours"
        partner_profile = "p-theirs"
        encryption_algorithm = "AES128_CCM"
        as2_version = 1.3
        originator_copy = false

        [[connectors]]
        id = "c-legacy"
        url = "https://theirs.example/as2"
        local_profile = "p-ours"
        partner_profile = "p-theirs"
        signing_algorithm = "SHA1"
        "#,
        theirs = theirs.cert_path.file_name().unwrap().to_str().unwrap(),
    );
    let config = PartnerConfig::from_toml(&text).unwrap();
    assert_eq!(
        config.agreements[0].as2_version,
        as2_proto::As2Version::V1_3
    );
    let gcm = &config.connectors[0];
    assert_eq!(gcm.as2_version, as2_proto::As2Version::V1_3);
    assert_eq!(gcm.encryption_algorithm, EncryptionAlgorithm::Aes256Gcm);
    assert_eq!(gcm.originator_copy, None);
    assert_eq!(gcm.retry.max_attempts, 3);
    assert_eq!(gcm.retry.first_interval, Duration::from_secs(60));
    assert_eq!(config.connectors[1].originator_copy, Some(false));
    assert_eq!(
        config.connectors[1].encryption_algorithm.cipher(),
        Some(ContentEncryption::Aes128Ccm)
    );
    let legacy = &config.connectors[2];
    assert_eq!(legacy.as2_version, as2_proto::As2Version::V1_2);
    assert_eq!(legacy.retry, as2_proto::RetryPolicy::default());
    // JSON and TOML, out and in again: nothing lost; defaults are not written.
    let json = config.to_json();
    assert_eq!(PartnerConfig::from_json(&json).unwrap(), config);
    assert!(json.contains("\"as2_version\": \"1.3\""), "{json}");
    assert!(json.contains("\"AES256_GCM\"") && json.contains("\"AES128_CCM\""));
    assert_eq!(json.matches("\"retry\"").count(), 1, "{json}");
    let toml_out = toml::to_string(&config).unwrap();
    assert_eq!(PartnerConfig::from_toml(&toml_out).unwrap(), config);
    assert!(
        PartnerConfig::from_toml(&text.replace("as2_version = \"1.3\"", "as2_version = \"2.0\""))
            .is_err()
    );

    let mut read = |p: &Path| std::fs::read(d.join(p));
    let directory = config.load(&mut read).unwrap();
    let now = SystemTime::now();
    let limits = Limits::default();
    let open = |built: &outbound::BuiltMessage, keys: &common::Identity| {
        let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
        let decryption = [(keys.cert.clone(), keys.key.clone())];
        let partner = [ours.cert.clone()];
        let policy = inbound::InboundPolicy::new(&decryption, &partner, &limits);
        incoming
            .accept(&policy, &mut inbound::NoDuplicateCheck, &mut common::rng(4))
            .map(|received| received.payload)
            .map_err(|rejected| rejected.error)
    };
    let payload = b"UNB+UNOA:1+OURS+THEIRS'\r\n";
    for (id, copy) in [("c-gcm", true), ("c-ccm-no-copy", false)] {
        let active = directory.connector(id).unwrap();
        let message = active.outbound(payload, now).unwrap();
        assert_eq!(message.originator_copy.is_some(), copy, "{id}");
        let built = outbound::build(&message, now, &mut common::rng(5)).unwrap();
        assert_eq!(built.headers.get_str("AS2-Version"), Some("1.3"));
        assert!(
            built
                .headers
                .get_str("Content-Type")
                .unwrap()
                .contains("authEnveloped-data"),
            "{id}"
        );
        assert_eq!(open(&built, &theirs).unwrap(), payload, "{id}");
        assert_eq!(open(&built, &ours).is_ok(), copy, "{id}");
    }
    // The legacy connector: 1.2, no copy, SHA-1 still allowed; at 1.3 it is refused.
    let active = directory.connector("c-legacy").unwrap();
    let message = active.outbound(payload, now).unwrap();
    assert!(message.originator_copy.is_none());
    assert!(outbound::build(&message, now, &mut common::rng(6)).is_ok());
    let mut modern = config.clone();
    modern.connectors[2].as2_version = as2_proto::As2Version::V1_3;
    let directory = modern.load(&mut read).unwrap();
    let active = directory.connector("c-legacy").unwrap();
    let message = active.outbound(payload, now).unwrap();
    let err = outbound::build(&message, now, &mut common::rng(6)).unwrap_err();
    assert!(matches!(err, Error::WeakAlgorithm(_)), "{err:?}");

    // The agreement's MDN settings declare its version.
    let agreement = directory.agreement(&id("Theirs"), &id("Ours")).unwrap();
    let setup = agreement.inbound(now, DateEnforcement::Enforce);
    let settings = setup.mdn_settings();
    assert_eq!(settings.as2_version, as2_proto::As2Version::V1_3);
    assert!(settings.signer.is_some());
}
