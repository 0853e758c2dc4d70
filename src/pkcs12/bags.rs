//! SafeContents and their bags (RFC 7292 §4.2): keyBag, pkcs8ShroudedKeyBag, certBag,
//! nested safeContentsBag, and the friendlyName and localKeyId attributes; then the choice
//! of the key's certificate.

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Encode, Sequence, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{AttributeValue, Attributes};
use zeroize::Zeroizing;

use super::kdf::{Budget, Password};
use super::pbe::{decrypt, decrypt_failed};
use super::{Framed, Pkcs12, oid};
use crate::cert::{Certificate, PrivateKey};
use crate::cms::ber::{Reader, Tag};
use crate::error::Error;
use crate::limits::{Limit, Limits};

/// ```text
/// SafeBag ::= SEQUENCE {
///     bagId          BAG-TYPE.&id ({PKCS12BagSet}),
///     bagValue       [0] EXPLICIT BAG-TYPE.&Type({PKCS12BagSet}{@bagId}),
///     bagAttributes  SET OF PKCS12Attribute OPTIONAL }
/// ```
///
/// (RFC 7292 §4.2.) `PKCS12Attribute` has the shape of an X.501 `Attribute`. The value is
/// borrowed: a keyBag's is a plain private key, and copies would not be wiped.
#[derive(Sequence)]
struct SafeBag<'a> {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: AnyRef<'a>,
    #[asn1(optional = "true")]
    bag_attributes: Option<Attributes>,
}

/// `SafeContents ::= SEQUENCE OF SafeBag` (RFC 7292 §4.2).
type SafeContents<'a> = Vec<SafeBag<'a>>;

/// ```text
/// CertBag ::= SEQUENCE {
///     certId    BAG-TYPE.&id   ({CertTypes}),
///     certValue [0] EXPLICIT BAG-TYPE.&Type ({CertTypes}{@certId}) }
/// ```
///
/// (RFC 7292 §4.2.3.)
#[derive(Sequence)]
struct CertBag<'a> {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: AnyRef<'a>,
}

/// ```text
/// EncryptedPrivateKeyInfo ::= SEQUENCE {
///     encryptionAlgorithm  EncryptionAlgorithmIdentifier,
///     encryptedData        EncryptedData }
/// ```
///
/// (RFC 5958 §3.) Not `pkcs8::EncryptedPrivateKeyInfo`: its algorithm is a
/// `pkcs5::EncryptionScheme`, which has no room for the PKCS#12 PBEs of `-legacy` files.
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_data: &'a OctetStringRef,
}

/// The attributes of a SafeBag this reader uses.
#[derive(Default)]
struct BagAttributes {
    local_key_id: Option<Vec<u8>>,
    friendly_name: Option<String>,
}

impl BagAttributes {
    /// Keeps the first value of friendlyName and localKeyId; `at` is the offset of the
    /// SafeContents, for errors.
    fn parse(attributes: Option<&Attributes>, at: usize) -> Result<Self, Error> {
        let mut found = BagAttributes::default();
        for attribute in attributes.into_iter().flat_map(|set| set.iter()) {
            let Some(value) = attribute.values.iter().next() else {
                continue;
            };
            if attribute.oid == oid::LOCAL_KEY_ID {
                let id = value
                    .decode_as::<&OctetStringRef>()
                    .map_err(|_| Error::malformed("localKeyId", at))?;
                found.local_key_id = Some(id.as_bytes().to_vec());
            } else if attribute.oid == oid::FRIENDLY_NAME {
                found.friendly_name = Some(bmp_to_string(value, at)?);
            }
        }
        Ok(found)
    }
}

/// Decodes a BMPString (UTF-16 big-endian; unpaired surrogates become U+FFFD).
fn bmp_to_string(value: &AttributeValue, at: usize) -> Result<String, Error> {
    let octets = value.value();
    if value.tag() != der::Tag::BmpString || !octets.len().is_multiple_of(2) {
        return Err(Error::malformed("friendlyName", at));
    }
    let units = octets.chunks_exact(2).map(|pair| match pair {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => 0xfffd,
    });
    Ok(char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect())
}

/// What the SafeContents yielded so far.
#[derive(Default)]
pub(super) struct Bags {
    key: Option<(PrivateKey, BagAttributes)>,
    certificates: Vec<(Certificate, BagAttributes)>,
}

impl Bags {
    /// Reads a buffer holding one SafeContents.
    pub(super) fn read_buffer(
        &mut self,
        buffer: &[u8],
        password: &Password<'_>,
        budget: &mut Budget,
        limits: &Limits,
    ) -> Result<(), Error> {
        let framed = Framed::whole(
            buffer,
            limits,
            "SafeContents",
            "SafeContents (trailing data)",
        )?;
        let contents: SafeContents<'_> = framed.decode("SafeContents")?;
        self.read_safe_contents(&contents, password, budget, limits, framed.offset)
    }

    /// Reads the bags of one SafeContents; `at` is its offset, for errors. Nesting
    /// through safeContentsBag is bounded by the BER depth limit, which the framing
    /// applied to every value of the buffer.
    fn read_safe_contents(
        &mut self,
        contents: &[SafeBag<'_>],
        password: &Password<'_>,
        budget: &mut Budget,
        limits: &Limits,
        at: usize,
    ) -> Result<(), Error> {
        for bag in contents {
            let value = bag.bag_value;
            match bag.bag_id {
                oid::KEY_BAG | oid::PKCS8_SHROUDED_KEY_BAG => {
                    // The first key wins, as in OpenSSL's PKCS12_parse; others are not
                    // even decrypted.
                    if self.key.is_some() {
                        continue;
                    }
                    if value.tag() != der::Tag::Sequence {
                        return Err(Error::malformed("key bag", at));
                    }
                    let attributes = BagAttributes::parse(bag.bag_attributes.as_ref(), at)?;
                    let der = if bag.bag_id == oid::KEY_BAG {
                        Zeroizing::new(
                            value
                                .to_der()
                                .map_err(|_| Error::malformed("key bag", at))?,
                        )
                    } else {
                        shrouded_key(value, password, budget, limits, at)?
                    };
                    self.key = Some((PrivateKey::from_pkcs8_der(&der)?, attributes));
                }
                oid::CERT_BAG => {
                    if let Some(certificate) = cert_bag(value, at)? {
                        if self.certificates.len() >= limits.max_certificates {
                            return Err(Limit::Certificates.exceeded(limits));
                        }
                        let attributes = BagAttributes::parse(bag.bag_attributes.as_ref(), at)?;
                        self.certificates.push((certificate, attributes));
                    }
                }
                oid::SAFE_CONTENTS_BAG => {
                    let nested: SafeContents<'_> = value
                        .decode_as()
                        .map_err(|_| Error::malformed("safeContentsBag", at))?;
                    self.read_safe_contents(&nested, password, budget, limits, at)?;
                }
                // CRLs, secrets and unknown bags are not needed here.
                _ => {}
            }
        }
        Ok(())
    }

    /// Picks the key's certificate and returns the result.
    pub(super) fn into_pkcs12(self) -> Result<Pkcs12, Error> {
        let (key, key_attributes) = self
            .key
            .ok_or(Error::InvalidKey("the PKCS#12 file holds no private key"))?;
        let matching: Vec<usize> = self
            .certificates
            .iter()
            .enumerate()
            .filter(|(_, (cert, _))| key.matches(cert))
            .map(|(index, _)| index)
            .collect();
        let by_local_key_id = matching.iter().copied().find(|index| {
            key_attributes.local_key_id.is_some()
                && self
                    .certificates
                    .get(*index)
                    .is_some_and(|(_, a)| a.local_key_id == key_attributes.local_key_id)
        });
        let chosen = by_local_key_id
            .or(matching.first().copied())
            .ok_or(Error::InvalidKey(
                "no certificate in the PKCS#12 file matches its private key",
            ))?;
        let mut certificate = None;
        let mut chain = Vec::with_capacity(self.certificates.len().saturating_sub(1));
        let mut friendly_name = key_attributes.friendly_name;
        for (index, (cert, attributes)) in self.certificates.into_iter().enumerate() {
            if index == chosen {
                certificate = Some(cert);
                friendly_name = friendly_name.or(attributes.friendly_name);
            } else {
                chain.push(cert);
            }
        }
        let certificate = certificate.ok_or(Error::InvalidKey(
            "no certificate in the PKCS#12 file matches its private key",
        ))?;
        Ok(Pkcs12 {
            key,
            certificate,
            chain,
            friendly_name,
        })
    }
}

/// Decrypts a pkcs8ShroudedKeyBag's EncryptedPrivateKeyInfo to the DER of its
/// PrivateKeyInfo.
fn shrouded_key(
    value: AnyRef<'_>,
    password: &Password<'_>,
    budget: &mut Budget,
    limits: &Limits,
    at: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let info: EncryptedPrivateKeyInfo<'_> = value
        .decode_as()
        .map_err(|_| Error::malformed("EncryptedPrivateKeyInfo", at))?;
    let plain = decrypt(
        &info.encryption_algorithm,
        info.encrypted_data.as_bytes(),
        password,
        budget,
        at,
    )?;
    // The PKCS#8 decoder wants DER; BER writers may have used indefinite lengths inside.
    let info = Reader::new(&plain, limits)
        .expect(Tag::SEQUENCE, "PrivateKeyInfo")
        .map_err(|_| decrypt_failed())?;
    if info.raw.len() != plain.len() {
        return Err(decrypt_failed());
    }
    Ok(Zeroizing::new(info.to_der()?.into_owned()))
}

/// Reads a CertBag; `None` for a certificate type other than X.509.
fn cert_bag(value: AnyRef<'_>, at: usize) -> Result<Option<Certificate>, Error> {
    let bag: CertBag<'_> = value
        .decode_as()
        .map_err(|_| Error::malformed("CertBag", at))?;
    if bag.cert_id != oid::X509_CERTIFICATE {
        return Ok(None);
    }
    let der = bag
        .cert_value
        .decode_as::<&OctetStringRef>()
        .map_err(|_| Error::malformed("certValue", at))?;
    Certificate::from_der(der.as_bytes()).map(Some)
}
