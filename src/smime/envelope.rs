//! `application/pkcs7-mime` entities (RFC 5751 §3.2, RFC 5402): the headers written around
//! EnvelopedData and CompressedData, and the test that recognises such an entity on the
//! way in (the CMS content type inside says which it is).

use crate::mime;

/// The `smime-type` of an `application/pkcs7-mime` entity this crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// The names of the CMS content types they carry.
#[allow(clippy::enum_variant_names)]
pub(crate) enum SmimeType {
    /// `enveloped-data`, file `smime.p7m` (RFC 5751 §3.3).
    EnvelopedData,
    /// `compressed-data`, file `smime.p7z` (RFC 5402 §3).
    CompressedData,
    /// `authEnveloped-data`, file `smime.p7m` (RFC 8551 §3.2.2, AuthEnvelopedData).
    AuthEnvelopedData,
}

impl SmimeType {
    /// The entity's header lines: Content-Type with `smime-type` and `name`, binary
    /// Content-Transfer-Encoding (HTTP is 8-bit clean, RFC 4130 §5.2), and an attachment
    /// Content-Disposition.
    pub(crate) fn entity_headers(self) -> Vec<(String, String)> {
        let (smime_type, file) = match self {
            SmimeType::EnvelopedData => ("enveloped-data", "smime.p7m"),
            SmimeType::CompressedData => ("compressed-data", "smime.p7z"),
            SmimeType::AuthEnvelopedData => ("authEnveloped-data", "smime.p7m"),
        };
        vec![
            (
                "Content-Type".into(),
                format!("application/pkcs7-mime; smime-type={smime_type}; name=\"{file}\""),
            ),
            ("Content-Transfer-Encoding".into(), "binary".into()),
            (
                "Content-Disposition".into(),
                format!("attachment; filename=\"{file}\""),
            ),
        ]
    }
}

/// Whether `ct` is an `application/pkcs7-mime` entity, in the registered spelling or the
/// older `x-` one some products still send (RFC 5751 §3.2.1).
pub(crate) fn is_pkcs7_mime(ct: &mime::ContentType) -> bool {
    ct.is("application/pkcs7-mime") || ct.is("application/x-pkcs7-mime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_headers_name_the_type_and_file() {
        let headers = SmimeType::CompressedData.entity_headers();
        assert_eq!(
            headers[0].1,
            "application/pkcs7-mime; smime-type=compressed-data; name=\"smime.p7z\""
        );
        let ct = mime::ContentType::parse(headers[0].1.as_bytes()).unwrap();
        assert!(is_pkcs7_mime(&ct));
        assert_eq!(ct.smime_type(), Some("compressed-data"));
        let ct = mime::ContentType::parse(b"application/x-pkcs7-mime").unwrap();
        assert!(is_pkcs7_mime(&ct));
        let headers = SmimeType::AuthEnvelopedData.entity_headers();
        assert_eq!(
            headers[0].1,
            "application/pkcs7-mime; smime-type=authEnveloped-data; name=\"smime.p7m\""
        );
    }
}
