//! Writing entities and multipart bodies (RFC 2045, RFC 2046 §5.1.1).

use super::{MAX_BOUNDARY_LEN, MimeError};

fn check_header_for_write(name: &str, value: &str) -> Result<(), MimeError> {
    if name.is_empty() {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "empty header name",
        });
    }
    if !name
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
    {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "invalid byte in header name",
        });
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "CR, LF or NUL in header value",
        });
    }
    Ok(())
}

/// Writes an entity: each header as `Name: value` CRLF, an empty line, then
/// the body verbatim. Header names must be printable ASCII without `:`;
/// values must not contain CR, LF or NUL (no header injection, no folding).
pub fn write_entity(headers: &[(&str, &str)], body: &[u8]) -> Result<Vec<u8>, MimeError> {
    let mut len = body.len().saturating_add(2);
    for (n, v) in headers {
        check_header_for_write(n, v)?;
        len = len
            .saturating_add(n.len())
            .saturating_add(v.len())
            .saturating_add(4);
    }
    let mut out = Vec::with_capacity(len);
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'\''
                | b'('
                | b')'
                | b'+'
                | b'_'
                | b','
                | b'-'
                | b'.'
                | b'/'
                | b':'
                | b'='
                | b'?'
                | b' '
        )
}

fn contains_delimiter_line(part: &[u8], boundary: &[u8]) -> bool {
    let starts = std::iter::once(0).chain(
        part.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i.saturating_add(1)),
    );
    for s in starts {
        let rest = part.get(s..).unwrap_or(&[]);
        if rest
            .strip_prefix(b"--")
            .is_some_and(|r| r.starts_with(boundary))
        {
            return true;
        }
    }
    false
}

/// Writes a multipart body: `--b CRLF part CRLF --b CRLF part CRLF --b-- CRLF`.
/// The boundary must be 1–70 RFC 2046 `bchars` not ending in a space; a part
/// that contains a line starting with `--boundary` is rejected
/// ([`MimeError::BoundaryInPart`]).
pub fn write_multipart(boundary: &str, parts: &[&[u8]]) -> Result<Vec<u8>, MimeError> {
    let b = boundary.as_bytes();
    if b.is_empty() || b.len() > MAX_BOUNDARY_LEN {
        return Err(MimeError::InvalidBoundary {
            reason: "length must be 1 to 70",
        });
    }
    if !b.iter().copied().all(is_bchar) || b.last() == Some(&b' ') {
        return Err(MimeError::InvalidBoundary {
            reason: "invalid character",
        });
    }
    let mut len = b.len().saturating_add(6);
    for (index, p) in parts.iter().enumerate() {
        if contains_delimiter_line(p, b) {
            return Err(MimeError::BoundaryInPart { index });
        }
        len = len
            .saturating_add(p.len())
            .saturating_add(b.len())
            .saturating_add(6);
    }
    let mut out = Vec::with_capacity(len);
    for p in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(b);
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}

/// Builds a boundary from caller-supplied randomness: `as2-` followed by 32
/// lowercase hex digits (a token, so it needs no quoting).
pub fn generate_boundary(random: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    s.push_str("as2-");
    for &b in random {
        for nibble in [b >> 4, b & 0x0f] {
            s.push(
                HEX.get(usize::from(nibble))
                    .copied()
                    .map_or('0', char::from),
            );
        }
    }
    s
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::mime::test_support::*;
    use crate::mime::{ContentType, Part, base64_encode_mime, content_type_value};

    // ----- writing -------------------------------------------------------

    #[test]
    fn writer_roundtrip() {
        let boundary = generate_boundary(&[0xab; 16]);
        assert_eq!(boundary, format!("as2-{}", "ab".repeat(16)));
        assert_eq!(generate_boundary(&[0; 16]).len(), 36);
        let content = write_entity(
            &[
                ("Content-Type", "application/edi-x12"),
                ("Content-Disposition", "attachment; filename=\"a.edi\""),
            ],
            b"ISA*X~\r\n",
        )
        .unwrap();
        assert_eq!(
            content,
            b"Content-Type: application/edi-x12\r\nContent-Disposition: attachment; filename=\"a.edi\"\r\n\r\nISA*X~\r\n"
        );
        let sig = write_entity(
            &[
                (
                    "Content-Type",
                    "application/pkcs7-signature; name=smime.p7s",
                ),
                ("Content-Transfer-Encoding", "base64"),
            ],
            base64_encode_mime(DER).as_bytes(),
        )
        .unwrap();
        let body = write_multipart(&boundary, &[&content, &sig]).unwrap();
        assert!(body.starts_with(format!("--{boundary}\r\n").as_bytes()));
        assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
        let ct = content_type_value(
            "multipart/signed",
            &[
                ("protocol", "application/pkcs7-signature"),
                ("micalg", "sha-256"),
                ("boundary", &boundary),
            ],
        )
        .unwrap();
        assert_eq!(
            ct,
            format!(
                "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary={boundary}"
            )
        );
        let p = Part::from_body(&body, ct.as_bytes(), &lim()).unwrap();
        check_part(&p);
        assert_eq!(p.children()[0].raw(), &content[..]);
        assert_eq!(&*p.children()[1].decoded_body().unwrap(), DER);
        assert!(p.multipart().unwrap().closed);
    }

    #[test]
    fn writer_rejects_unsafe_input() {
        assert!(write_entity(&[("X", "a\r\nInjected: 1")], b"").is_err());
        assert!(write_entity(&[("Bad:Name", "v")], b"").is_err());
        assert!(write_entity(&[("", "v")], b"").is_err());
        assert!(write_multipart("", &[b"x"]).is_err());
        assert!(write_multipart(&"a".repeat(71), &[b"x"]).is_err());
        assert!(write_multipart("bad\"char", &[b"x"]).is_err());
        assert!(write_multipart("ends ", &[b"x"]).is_err());
        assert_eq!(
            write_multipart("b", &[b"ok", b"x\r\n--b\r\ny"]),
            Err(MimeError::BoundaryInPart { index: 1 })
        );
        assert_eq!(
            write_multipart("b", &[b"--bX"]),
            Err(MimeError::BoundaryInPart { index: 0 })
        );
        assert!(write_multipart("b", &[b"x --b y"]).is_ok());
        assert_eq!(
            content_type_value("text/plain", &[("name", "a \"q\" \\ b"), ("e", "")]).unwrap(),
            "text/plain; name=\"a \\\"q\\\" \\\\ b\"; e=\"\""
        );
        let parsed = ContentType::parse(
            content_type_value("text/plain", &[("name", "a \"q\" \\ b")])
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(parsed.name(), Some(&b"a \"q\" \\ b"[..]));
        assert!(content_type_value("text/plain", &[("n", "a\nb")]).is_err());
        assert!(content_type_value("text plain", &[]).is_err());
        assert!(content_type_value("text/plain", &[("n m", "x")]).is_err());
    }
}
