//! PKCS#12 (RFC 7292) key stores, the `.p12` / `.pfx` files in which OpenSSL, Windows,
//! Java and partner portals hand over a private key with its certificate and chain.
//!
//! [`Pkcs12::parse`] reads password-integrity, password-privacy files (RFC 7292 §4):
//!
//! - integrity: the MacData HMAC (SHA-1, SHA-256, SHA-384 or SHA-512) keyed with the
//!   PKCS#12 KDF (RFC 7292 appendix B.2, ID = 3), or PBMAC1 (RFC 9579) with PBKDF2. The MAC
//!   is always checked, over the authSafe content octets, before anything is decrypted; a
//!   file without MacData is refused.
//! - privacy: SafeContents in `data` or `encryptedData`, `keyBag`, `pkcs8ShroudedKeyBag`,
//!   `certBag` (X.509) and nested `safeContentsBag`, encrypted with the PKCS#12 PBEs
//!   (RFC 7292 appendix C: SHA-1 with 3-key or 2-key triple DES, 128-bit or 40-bit RC2,
//!   all CBC) or PBES2 (RFC 8018 §6.2) with PBKDF2 (HMAC-SHA-1/256/384/512) and
//!   AES-128/192/256-CBC or DES-EDE3-CBC. These cover `openssl pkcs12 -export` with its
//!   OpenSSL 3 defaults (AES-256-CBC, PBKDF2, SHA-256 MAC) and with `-legacy` (RC2-40
//!   certificates, 3DES key, SHA-1 MAC).
//!
//! Not supported, each with its own error: public-key integrity mode (a `signedData`
//! authSafe), public-key privacy mode (`envelopedData`), RC4, and PBKDF2 salts from an
//! `otherSource`. Unknown bag types (CRLs, secrets) and attributes are skipped.
//!
//! Passwords are handled as OpenSSL 3 does: the PKCS#12 KDF takes the password as a
//! BMPString (UTF-16 big-endian with a trailing NUL, RFC 7292 appendix B.1), converted
//! from UTF-8, and PBKDF2 takes the password octets unchanged. Like OpenSSL's
//! `PKCS12_parse`, an empty password is tried both as absent (no octets, what OpenSSL's
//! C API writes for a NULL password) and as the empty string (the terminator alone; the
//! `openssl` CLI and Python `cryptography`). A non-ASCII password that fails as UTF-8 is
//! tried once more with each octet taken as one character, as OpenSSL before 1.1.0
//! encoded it, and so is a password that is not UTF-8 at all.
//!
//! All key-derivation work is charged against [`Limits::max_kdf_iterations`], because the
//! iteration counts come from the file.
//!
//! The parts: `kdf` (the password as a BMPString, the PKCS#12 KDF, PBKDF2 and the work
//! budget), `mac` (the integrity check), `pbe` (the bag and SafeContents ciphers) and
//! `bags` (SafeContents, bags and attributes). Each nested buffer (the file, the authSafe
//! content, each SafeContents, a decrypted key) is framed by the crate's BER reader and
//! brought to DER, then decoded with `der`-derived structures that quote the ASN.1, with
//! `spki`'s `AlgorithmIdentifierOwned` for every algorithm identifier.

mod bags;
mod kdf;
mod mac;
mod pbe;

use std::borrow::Cow;

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Decode, Sequence};

use crate::cert::{Certificate, PrivateKey};
use crate::cms::ber::{Reader, Tag};
use crate::cms::oid as cms_oid;
use crate::error::{AlgorithmKind, Error};
use crate::limits::{Limit, Limits};

use bags::Bags;
use kdf::{Budget, Password};
use mac::MacData;

/// Object identifiers of RFC 7292, RFC 8018 and RFC 9579.
mod oid {
    use const_oid::ObjectIdentifier as Oid;

    /// id-encryptedData (PKCS#7).
    pub const ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");
    /// keyBag.
    pub const KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.1");
    /// pkcs8ShroudedKeyBag.
    pub const PKCS8_SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
    /// certBag.
    pub const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
    /// safeContentsBag.
    pub const SAFE_CONTENTS_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.6");
    /// x509Certificate (certificate type of a certBag).
    pub const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
    /// friendlyName attribute (PKCS#9).
    pub const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
    /// localKeyId attribute (PKCS#9).
    pub const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");
    /// pbeWithSHAAnd3-KeyTripleDES-CBC.
    pub const PBE_SHA1_3DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.3");
    /// pbeWithSHAAnd2-KeyTripleDES-CBC.
    pub const PBE_SHA1_2DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.4");
    /// pbeWithSHAAnd128BitRC2-CBC.
    pub const PBE_SHA1_RC2_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.5");
    /// pbewithSHAAnd40BitRC2-CBC.
    pub const PBE_SHA1_RC2_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.6");
    /// id-PBKDF2 (RFC 8018).
    pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
    /// id-PBES2 (RFC 8018).
    pub const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
    /// id-PBMAC1 (RFC 8018, used by RFC 9579).
    pub const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
    /// hmacWithSHA1.
    pub const HMAC_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
    /// hmacWithSHA256.
    pub const HMAC_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
    /// hmacWithSHA384.
    pub const HMAC_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
    /// hmacWithSHA512.
    pub const HMAC_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");
}

/// The key, certificate and chain read from a PKCS#12 file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Pkcs12 {
    /// The private key (the first key bag of the file, as OpenSSL takes it).
    pub key: PrivateKey,
    /// The certificate holding [`key`](Self::key)'s public half. Among several, the one
    /// whose localKeyId attribute equals the key's is preferred (a renewed certificate
    /// for the same key), then the first in file order.
    pub certificate: Certificate,
    /// Every other certificate of the file, in file order (usually the issuing CAs).
    pub chain: Vec<Certificate>,
    /// The friendlyName attribute of the key bag (or else of the certificate's bag).
    pub friendly_name: Option<String>,
}

impl Pkcs12 {
    /// Reads a DER or BER PKCS#12 PFX (RFC 7292 §4), verifying its MAC with `password`
    /// and decrypting the key and certificates.
    ///
    /// `password` is UTF-8 text as the user typed it; pass `b""` for files exported
    /// without a password.
    ///
    /// Errors: a wrong password or any change to the protected content gives
    /// [`Error::InvalidKey`] saying that the MAC verification failed; a file without a
    /// MAC, or in public-key mode, [`Error::UnsupportedFormat`]; an unknown cipher, KDF
    /// or MAC digest, [`Error::UnsupportedAlgorithm`]; a file with no private key or no
    /// certificate for it, [`Error::InvalidKey`]; broken structure,
    /// [`Error::Malformed`] (offsets count from the start of the buffer being read,
    /// which for inner structures is the decrypted or unwrapped content, and point at the
    /// structure that holds the fault);
    /// and [`Error::LimitExceeded`] for [`Limits::max_body_size`],
    /// [`Limits::max_ber_depth`], [`Limits::max_certificates`] (certificate bags) and
    /// [`Limits::max_kdf_iterations`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), as2_proto::Error> {
    /// # let bytes: Vec<u8> = Vec::new();
    /// let p12 = as2_proto::Pkcs12::parse(&bytes, b"secret", &as2_proto::Limits::default())?;
    /// assert!(p12.key.matches(&p12.certificate));
    /// # Ok(()) }
    /// ```
    pub fn parse(input: &[u8], password: &[u8], limits: &Limits) -> Result<Self, Error> {
        if input.len() > limits.max_body_size {
            return Err(Limit::BodySize.exceeded(limits));
        }
        let file = Framed::whole(input, limits, "PFX", "PFX (trailing data)")?;
        let pfx: Pfx<'_> = file.decode("PFX")?;
        if pfx.version != 3 {
            return Err(Error::UnsupportedFormat("PKCS#12 PFX version other than 3"));
        }
        let content = auth_safe_content(&pfx.auth_safe, file.offset)?;
        let mac_data = pfx.mac_data.ok_or(Error::UnsupportedFormat(
            "PKCS#12 file without an integrity MAC (macData)",
        ))?;
        let mut budget = Budget::new(limits);
        let bmp = mac::verify(&mac_data, content, password, &mut budget, file.offset)?;
        let secret = Password { raw: password, bmp };

        let mut bags = Bags::default();
        let safe = Framed::whole(
            content,
            limits,
            "AuthenticatedSafe",
            "AuthenticatedSafe (trailing data)",
        )?;
        let infos: AuthenticatedSafe<'_> = safe.decode("AuthenticatedSafe")?;
        for info in infos {
            if info.content_type == cms_oid::DATA {
                let octets = info
                    .content
                    .decode_as::<&OctetStringRef>()
                    .map_err(|_| Error::malformed("data content", safe.offset))?;
                bags.read_buffer(octets.as_bytes(), &secret, &mut budget, limits)?;
            } else if info.content_type == oid::ENCRYPTED_DATA {
                let plain = pbe::decrypt_encrypted_data(
                    info.content,
                    &secret,
                    &mut budget,
                    limits,
                    safe.offset,
                )?;
                bags.read_buffer(&plain, &secret, &mut budget, limits)?;
            } else if info.content_type == cms_oid::ENVELOPED_DATA {
                return Err(Error::UnsupportedFormat(
                    "PKCS#12 public-key privacy mode (envelopedData) is not supported",
                ));
            } else {
                return Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::ContentType,
                    oid: info.content_type,
                });
            }
        }
        bags.into_pkcs12()
    }
}

/// ```text
/// PFX ::= SEQUENCE {
///     version    INTEGER {v3(3)}(v3,...),
///     authSafe   ContentInfo,
///     macData    MacData OPTIONAL }
/// ```
///
/// (RFC 7292 §4.)
#[derive(Sequence)]
struct Pfx<'a> {
    version: u32,
    auth_safe: ContentInfo<'a>,
    #[asn1(optional = "true")]
    mac_data: Option<MacData<'a>>,
}

/// ```text
/// ContentInfo ::= SEQUENCE {
///     contentType ContentType,
///     content [0] EXPLICIT ANY DEFINED BY contentType }
/// ```
///
/// (RFC 5652 §3.) Not `cms::content_info::ContentInfo`, which copies the content: a
/// `data` content may hold plain keys, and copies would not be wiped.
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// `AuthenticatedSafe ::= SEQUENCE OF ContentInfo` (RFC 7292 §5.1).
type AuthenticatedSafe<'a> = Vec<ContentInfo<'a>>;

/// The octets of the authSafe ContentInfo's `data` content: what the MAC covers and what
/// holds the AuthenticatedSafe (RFC 7292 §4); `at` is the offset of the PFX, for errors.
fn auth_safe_content<'a>(auth_safe: &ContentInfo<'a>, at: usize) -> Result<&'a [u8], Error> {
    if auth_safe.content_type == cms_oid::SIGNED_DATA {
        return Err(Error::UnsupportedFormat(
            "PKCS#12 public-key integrity mode (signedData authSafe) is not supported",
        ));
    }
    if auth_safe.content_type != cms_oid::DATA {
        return Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::ContentType,
            oid: auth_safe.content_type,
        });
    }
    let octets = auth_safe
        .content
        .decode_as::<&OctetStringRef>()
        .map_err(|_| Error::malformed("authSafe content", at))?;
    Ok(octets.as_bytes())
}

/// One value framed by the crate's BER reader and brought to DER for the `der` decoders.
///
/// PKCS#12 files from Windows and Java are BER (indefinite lengths, segmented strings),
/// which `der` does not read: the BER reader frames the value (applying the depth limit to
/// every value inside) and [`Tlv::to_der`](crate::cms::ber::Tlv::to_der) rewrites it. A
/// rewritten copy is wiped on drop, as decrypted SafeContents may hold keys.
struct Framed<'a> {
    der: Cow<'a, [u8]>,
    /// Where the value starts in the buffer it was read from, for errors.
    offset: usize,
}

impl<'a> Framed<'a> {
    /// Frames the one SEQUENCE that fills `buffer`.
    fn whole(
        buffer: &'a [u8],
        limits: &Limits,
        what: &'static str,
        trailing: &'static str,
    ) -> Result<Self, Error> {
        let mut reader = Reader::new(buffer, limits);
        let value = reader.expect(Tag::SEQUENCE, what)?;
        reader.finish(trailing)?;
        Ok(Framed {
            der: value.to_der()?,
            offset: value.offset,
        })
    }

    /// Decodes the value as a `T`. Errors point at the start of the value: `der` does
    /// not report where inside it decoding failed, and a rewritten value's positions
    /// would not be the received ones anyway.
    fn decode<'b, T: Decode<'b, Error = der::Error>>(
        &'b self,
        what: &'static str,
    ) -> Result<T, Error> {
        T::from_der(&self.der).map_err(|_| Error::malformed(what, self.offset))
    }
}

impl Drop for Framed<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(copy) = &mut self.der {
            zeroize::Zeroize::zeroize(copy);
        }
    }
}

/// A positive INTEGER such as an iteration count, saturating at `u64::MAX` (the work
/// budget rejects such values anyway); `at` is the offset of the structure holding it.
fn positive_integer(n: UintRef<'_>, what: &'static str, at: usize) -> Result<u64, Error> {
    let significant: &[u8] = match n.as_bytes().iter().position(|b| *b != 0) {
        Some(start) => n.as_bytes().get(start..).unwrap_or_default(),
        None => return Err(Error::malformed(what, at)),
    };
    if significant.len() > 8 {
        return Ok(u64::MAX);
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    use super::kdf::{KdfId, bmp_string, pkcs12_kdf};
    use super::mac::mac_failed;
    use super::*;
    use crate::cms::algorithm::DigestAlgorithm;
    use crate::cms::ber::{encode, encode_constructed};

    const DOC_KEY: &[u8] = include_bytes!("../../tests/data/keys/doc.key");
    const DOC_CRT: &[u8] = include_bytes!("../../tests/data/keys/doc.crt");
    /// Another certificate for the key in `doc.key`.
    const RENEWED_CRT: &[u8] = include_bytes!("../../tests/data/pkcs12/doc-renewed.crt");
    /// A certificate for another key.
    const OTHER_CRT: &[u8] = include_bytes!("../../tests/data/pkcs12/ber-ca.crt");

    fn oid_tlv(id: ObjectIdentifier) -> Vec<u8> {
        encode(Tag::OID, id.as_bytes())
    }

    fn seq(children: &[&[u8]]) -> Vec<u8> {
        encode_constructed(Tag::SEQUENCE, children)
    }

    fn explicit0(child: &[u8]) -> Vec<u8> {
        encode_constructed(Tag::context(0, true), &[child])
    }

    fn octets(data: &[u8]) -> Vec<u8> {
        encode(Tag::OCTET_STRING, data)
    }

    fn attribute(id: ObjectIdentifier, value: &[u8]) -> Vec<u8> {
        seq(&[&oid_tlv(id), &encode_constructed(Tag::SET, &[value])])
    }

    fn bag(id: ObjectIdentifier, value: &[u8], attributes: &[Vec<u8>]) -> Vec<u8> {
        let id = oid_tlv(id);
        let value = explicit0(value);
        if attributes.is_empty() {
            return seq(&[&id, &value]);
        }
        let refs: Vec<&[u8]> = attributes.iter().map(Vec::as_slice).collect();
        seq(&[&id, &value, &encode_constructed(Tag::SET, &refs)])
    }

    fn key_bag(attributes: &[Vec<u8>]) -> Vec<u8> {
        let blocks = crate::cert::pem_blocks(DOC_KEY);
        bag(oid::KEY_BAG, &blocks[0].1, attributes)
    }

    fn cert_bag(pem: &[u8], attributes: &[Vec<u8>]) -> Vec<u8> {
        let der = Certificate::from_pem(pem).unwrap().der().to_vec();
        let value = seq(&[&oid_tlv(oid::X509_CERTIFICATE), &explicit0(&octets(&der))]);
        bag(oid::CERT_BAG, &value, attributes)
    }

    fn safe_contents(bags: &[Vec<u8>]) -> Vec<u8> {
        let refs: Vec<&[u8]> = bags.iter().map(Vec::as_slice).collect();
        seq(&refs)
    }

    /// A `data` ContentInfo holding SafeContents.
    fn data_info(bags: &[Vec<u8>]) -> Vec<u8> {
        seq(&[
            &oid_tlv(cms_oid::DATA),
            &explicit0(&octets(&safe_contents(bags))),
        ])
    }

    fn auth_safe(infos: &[Vec<u8>]) -> Vec<u8> {
        let refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();
        seq(&refs)
    }

    fn pfx_with_mac(infos: &[Vec<u8>], mac_data: &[u8]) -> Vec<u8> {
        let content = seq(&[
            &oid_tlv(cms_oid::DATA),
            &explicit0(&octets(&auth_safe(infos))),
        ]);
        seq(&[&encode(Tag::INTEGER, &[3]), &content, mac_data])
    }

    /// A PFX whose MacData is HMAC-SHA-256 (one iteration) keyed from `bmp_password`.
    fn pfx(infos: &[Vec<u8>], bmp_password: &[u8]) -> Vec<u8> {
        let salt = [7u8; 8];
        let mut key = [0u8; 32];
        let mut budget = Budget::new(&Limits::default());
        let digest = DigestAlgorithm::Sha256;
        pkcs12_kdf(
            digest,
            KdfId::Mac,
            bmp_password,
            &salt,
            1,
            &mut key,
            &mut budget,
        )
        .unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        Mac::update(&mut mac, &auth_safe(infos));
        let tag = mac.finalize().into_bytes();
        let digest_info = seq(&[&seq(&[&oid_tlv(cms_oid::SHA256)]), &octets(&tag)]);
        pfx_with_mac(infos, &seq(&[&digest_info, &octets(&salt)]))
    }

    fn bmp(text: &str) -> Vec<u8> {
        bmp_string(text.encode_utf16()).to_vec()
    }

    fn parse(file: &[u8], password: &[u8]) -> Result<Pkcs12, Error> {
        Pkcs12::parse(file, password, &Limits::default())
    }

    fn local_key_id(id: &[u8]) -> Vec<u8> {
        attribute(oid::LOCAL_KEY_ID, &octets(id))
    }

    fn friendly_name(name: &str) -> Vec<u8> {
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        attribute(
            oid::FRIENDLY_NAME,
            &encode(Tag::universal(30, false), &units),
        )
    }

    #[test]
    fn local_key_id_picks_among_certificates_for_the_key() {
        let certs = [
            cert_bag(RENEWED_CRT, &[]),
            cert_bag(OTHER_CRT, &[friendly_name("not this one")]),
            cert_bag(DOC_CRT, &[local_key_id(b"k1"), friendly_name("doc cert")]),
        ];
        let cert = |pem| Certificate::from_pem(pem).unwrap();
        let mut bags = certs.to_vec();
        bags.push(key_bag(&[local_key_id(b"k1")]));
        let p12 = parse(&pfx(&[data_info(&bags)], &bmp("pw")), b"pw").unwrap();
        assert_eq!(p12.certificate, cert(DOC_CRT));
        assert_eq!(p12.chain, vec![cert(RENEWED_CRT), cert(OTHER_CRT)]);
        assert_eq!(p12.friendly_name.as_deref(), Some("doc cert"));
        // Without a localKeyId on the key, the first certificate for the key wins.
        let mut bags = certs.to_vec();
        bags.push(key_bag(&[friendly_name("the key")]));
        let p12 = parse(&pfx(&[data_info(&bags)], &bmp("pw")), b"pw").unwrap();
        assert_eq!(p12.certificate, cert(RENEWED_CRT));
        assert_eq!(p12.chain, vec![cert(OTHER_CRT), cert(DOC_CRT)]);
        assert_eq!(p12.friendly_name.as_deref(), Some("the key"));
    }

    #[test]
    fn empty_password_as_absent_or_empty_string() {
        let infos = [data_info(&[key_bag(&[]), cert_bag(DOC_CRT, &[])])];
        for encoding in [&[][..], &[0, 0][..]] {
            let file = pfx(&infos, encoding);
            assert!(parse(&file, b"").is_ok());
            assert_eq!(parse(&file, b"x").unwrap_err(), mac_failed());
        }
    }

    #[test]
    fn password_octets_as_characters_as_old_openssl_wrote_them() {
        let infos = [data_info(&[key_bag(&[]), cert_bag(DOC_CRT, &[])])];
        // "é" in UTF-8 is C3 A9; OpenSSL before 1.1.0 made that two characters.
        let file = pfx(&infos, &[0x00, 0xc3, 0x00, 0xa9, 0, 0]);
        assert!(parse(&file, "é".as_bytes()).is_ok());
        // A password that is not UTF-8 is taken the same way.
        let file = pfx(&infos, &[0x00, 0xe9, 0, 0]);
        assert!(parse(&file, b"\xe9").is_ok());
        assert!(parse(&file, "é".as_bytes()).is_ok());
    }

    #[test]
    fn nested_unknown_and_extra_bags() {
        let secret_bag = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.5");
        let unknown_attribute = attribute(ObjectIdentifier::new_unwrap("1.2.3.4"), &[5, 0]);
        let nested = bag(
            oid::SAFE_CONTENTS_BAG,
            &safe_contents(&[key_bag(std::slice::from_ref(&unknown_attribute))]),
            &[],
        );
        // A second key bag that is not even a key: never decoded, as the first wins.
        let second_key = bag(oid::KEY_BAG, &seq(&[&[0x05, 0x00]]), &[]);
        let infos = [
            data_info(&[bag(secret_bag, &octets(b"whatever"), &[unknown_attribute])]),
            data_info(&[nested, second_key, cert_bag(DOC_CRT, &[])]),
        ];
        let p12 = parse(&pfx(&infos, &bmp("pw")), b"pw").unwrap();
        assert!(p12.key.matches(&p12.certificate));
        assert!(p12.chain.is_empty());
        assert_eq!(p12.friendly_name, None);
    }

    #[test]
    fn public_key_modes_and_versions_are_refused() {
        let enveloped = seq(&[&oid_tlv(cms_oid::ENVELOPED_DATA), &explicit0(&seq(&[]))]);
        assert_eq!(
            parse(&pfx(&[enveloped], &bmp("pw")), b"pw").unwrap_err(),
            Error::UnsupportedFormat(
                "PKCS#12 public-key privacy mode (envelopedData) is not supported"
            )
        );
        let signed = seq(&[&oid_tlv(cms_oid::SIGNED_DATA), &explicit0(&seq(&[]))]);
        let file = seq(&[&encode(Tag::INTEGER, &[3]), &signed]);
        assert_eq!(
            parse(&file, b"pw").unwrap_err(),
            Error::UnsupportedFormat(
                "PKCS#12 public-key integrity mode (signedData authSafe) is not supported"
            )
        );
        let mut file = pfx(&[data_info(&[key_bag(&[])])], &bmp("pw"));
        // INTEGER 3 is at offset 4 (SEQUENCE header of four octets, then 02 01).
        assert_eq!(&file[4..7], &[2, 1, 3]);
        file[6] = 2;
        assert_eq!(
            parse(&file, b"pw").unwrap_err(),
            Error::UnsupportedFormat("PKCS#12 PFX version other than 3")
        );
    }

    #[test]
    fn malformed_friendly_name() {
        let odd = attribute(
            oid::FRIENDLY_NAME,
            &encode(Tag::universal(30, false), &[0, 0x41, 0]),
        );
        let infos = [data_info(&[key_bag(&[odd]), cert_bag(DOC_CRT, &[])])];
        assert!(matches!(
            parse(&pfx(&infos, &bmp("pw")), b"pw").unwrap_err(),
            Error::Malformed {
                what: "friendlyName",
                ..
            }
        ));
    }

    /// A decoding error names the structure and points at its start, in DER and in BER.
    #[test]
    fn malformed_structure() {
        let digest_info = seq(&[&seq(&[&oid_tlv(cms_oid::SHA256)]), &octets(&[0; 32])]);
        // macSalt as an INTEGER instead of an OCTET STRING.
        let salt = encode(Tag::INTEGER, &[1]);
        let file = pfx_with_mac(&[data_info(&[key_bag(&[])])], &seq(&[&digest_info, &salt]));
        assert_eq!(parse(&file, b"pw").unwrap_err(), Error::malformed("PFX", 0));
        // The same file with an indefinite-length PFX.
        let header = 2 + usize::from(file[1] & 0x7f);
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(&file[header..]);
        ber.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&ber, b"pw").unwrap_err(), Error::malformed("PFX", 0));
        // With the salt fixed, both read.
        let file = pfx_with_mac(
            &[data_info(&[key_bag(&[]), cert_bag(DOC_CRT, &[])])],
            &seq(&[&digest_info, &octets(&[1])]),
        );
        assert_eq!(parse(&file, b"pw").unwrap_err(), mac_failed());
    }

    /// An iteration count from the file beyond the budget is refused before any work.
    #[test]
    fn huge_iteration_count() {
        for count in [&[0x01, 0, 0, 0, 0][..], &[0x00, 0x98, 0x96, 0x81][..]] {
            let digest_info = seq(&[&seq(&[&oid_tlv(cms_oid::SHA256)]), &octets(&[0; 32])]);
            let mac_data = seq(&[&digest_info, &octets(&[1; 8]), &encode(Tag::INTEGER, count)]);
            let file = pfx_with_mac(&[data_info(&[key_bag(&[])])], &mac_data);
            assert_eq!(
                parse(&file, b"pw").unwrap_err(),
                Error::LimitExceeded {
                    limit: Limit::KdfIterations,
                    value: 10_000_000
                }
            );
        }
    }

    /// RFC 9579 appendix A.6: PBMAC1 without the keyLength its PBKDF2 must carry.
    #[test]
    fn pbmac1_without_key_length() {
        let hmac_sha256 = seq(&[&oid_tlv(oid::HMAC_SHA256), &[0x05, 0x00]]);
        let pbkdf2_params = seq(&[
            &octets(&[1; 8]),
            &encode(Tag::INTEGER, &[8, 0]),
            &hmac_sha256,
        ]);
        let pbkdf2 = seq(&[&oid_tlv(oid::PBKDF2), &pbkdf2_params]);
        let pbmac1 = seq(&[&oid_tlv(oid::PBMAC1), &seq(&[&pbkdf2, &hmac_sha256])]);
        let mac_data = seq(&[
            &seq(&[&pbmac1, &octets(&[0; 32])]),
            &octets(b"NOT USED"),
            &encode(Tag::INTEGER, &[1]),
        ]);
        let file = pfx_with_mac(&[data_info(&[key_bag(&[])])], &mac_data);
        assert!(matches!(
            parse(&file, b"1234").unwrap_err(),
            Error::Malformed {
                what: "PBMAC1 keyLength (absent)",
                ..
            }
        ));
    }
    #[test]
    fn positive_integers() {
        let read = |bytes: &[u8]| {
            UintRef::from_der(bytes)
                .map_err(|_| Error::malformed("n", 0))
                .and_then(|n| positive_integer(n, "n", 0))
        };
        assert_eq!(read(&[2, 2, 0x08, 0x00]).unwrap(), 2048);
        assert_eq!(read(&[2, 2, 0x00, 0x80]).unwrap(), 128);
        assert_eq!(
            read(&[2, 9, 0x7f, 1, 1, 1, 1, 1, 1, 1, 1]).unwrap(),
            u64::MAX
        );
        assert!(read(&[2, 1, 0]).is_err());
        assert!(read(&[2, 1, 0xff]).is_err());
        assert!(read(&[2, 0]).is_err());
    }
}
