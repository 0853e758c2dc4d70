//! `Content-Type` and `Content-Disposition` values and their parameters (RFC 2045 §5.1,
//! RFC 2183, RFC 2231): parsing, file names, and writing them.

use super::encoding::hex_value;
use super::{MimeError, ascii_lower_string, is_lws, is_token_byte, trim_lws};

/// Parameters of a `Content-Type` or `Content-Disposition` value. Names are
/// lowercased ASCII; values are the unquoted, unescaped bytes (not
/// necessarily UTF-8). [`Params::get`] returns a parameter as written (so
/// `filename*` is an ordinary parameter there); [`Params::decoded`] applies
/// RFC 2231 (charset, percent-encoding, continuations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    list: Vec<(String, Vec<u8>)>,
}

impl Params {
    /// Value of the first parameter with this name (case-insensitive).
    /// Duplicates: the first one wins.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.list
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Like [`Params::get`], but `None` also when the value is not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All parameters in order, as `(lowercased name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.list.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The value of parameter `name` as text, RFC 2231 applied: `name*`
    /// (`charset'language'percent-encoded`), else the continuations `name*0`,
    /// `name*1`, ... (each with a trailing `*` if percent-encoded, the charset
    /// on the first), else plain `name`. `None` when absent or empty.
    ///
    /// Charsets: UTF-8 (also when none is named), US-ASCII and ISO-8859-1;
    /// another charset is read only if the bytes are ASCII, else the encoded
    /// form is skipped. The language is ignored; an invalid `%` escape is kept
    /// as written; invalid UTF-8 (in a plain value too) becomes U+FFFD.
    /// Continuations are read from `*0` up to the first missing number; a
    /// number of [`MAX_PARAM_SEGMENTS`] or more, or a value longer than
    /// [`MAX_PARAM_VALUE_LEN`] bytes, makes the encoded form unreadable (then
    /// plain `name` is used, if it is not longer than that either). Work is
    /// linear in the size of the parameters.
    ///
    /// The result is whatever the sender wrote, separators and control
    /// characters included: make a path of it only through
    /// [`crate::record::inbound_paths`], which neutralises it.
    pub fn decoded(&self, name: &str) -> Option<String> {
        let extended = self.single_extended(name).filter(|v| !v.is_empty());
        extended
            .or_else(|| self.continuations(name).filter(|v| !v.is_empty()))
            .or_else(|| {
                self.get(name)
                    .filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_VALUE_LEN)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
    }

    /// `name*=charset'language'value`.
    fn single_extended(&self, name: &str) -> Option<String> {
        let value = self.list.iter().find_map(|(n, v)| {
            (extended_suffix(n, name) == Some(ExtendedName::Single)).then_some(v.as_slice())
        })?;
        decode_rfc2231(&[(true, value)])
    }

    /// `name*0[*]=...; name*1[*]=...`, in number order.
    fn continuations(&self, name: &str) -> Option<String> {
        let mut segments: Vec<Option<(bool, &[u8])>> = vec![None; MAX_PARAM_SEGMENTS];
        let mut any = false;
        for (n, v) in &self.list {
            let Some(ExtendedName::Segment { index, encoded }) = extended_suffix(n, name) else {
                continue;
            };
            // Too many segments: the whole value is refused, not cut.
            let slot = segments.get_mut(index?)?;
            if slot.is_none() {
                *slot = Some((encoded, v.as_slice()));
            }
            any = true;
        }
        if !any {
            return None;
        }
        let run: Vec<(bool, &[u8])> = segments.iter().map_while(|s| *s).collect();
        decode_rfc2231(&run)
    }
}

/// Most continuation segments (`name*0` ... `name*63`) of one RFC 2231
/// parameter; a higher number makes the value unreadable.
pub const MAX_PARAM_SEGMENTS: usize = 64;

/// Longest parameter value [`Params::decoded`] reads, in bytes (after
/// percent-decoding); a longer one is unreadable. File names are cut far
/// shorter when stored anyway, and the encoded form of a name this long fits
/// a header line of the default [`MimeLimits::max_header_line`](super::MimeLimits::max_header_line).
pub const MAX_PARAM_VALUE_LEN: usize = 1024;

/// What a parameter name is relative to an RFC 2231 base name.
#[derive(Debug, PartialEq, Eq)]
enum ExtendedName {
    /// `base*`.
    Single,
    /// `base*N` or `base*N*`; `index` is `None` when N does not fit a `usize`.
    Segment { index: Option<usize>, encoded: bool },
}

/// Classifies `param` (lowercased) as an extended form of `base`.
fn extended_suffix(param: &str, base: &str) -> Option<ExtendedName> {
    let head = param.as_bytes().get(..base.len())?;
    if !head.eq_ignore_ascii_case(base.as_bytes()) {
        return None;
    }
    let rest = param.get(base.len()..)?.strip_prefix('*')?;
    if rest.is_empty() {
        return Some(ExtendedName::Single);
    }
    let (digits, encoded) = match rest.strip_suffix('*') {
        Some(digits) => (digits, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ExtendedName::Segment {
        index: digits.parse().ok(),
        encoded,
    })
}

/// Joins RFC 2231 segments `(percent-encoded, value)`, the first of which
/// (if encoded) names the charset, and converts the result to text.
fn decode_rfc2231(segments: &[(bool, &[u8])]) -> Option<String> {
    let mut charset: &[u8] = b"";
    let mut out = Vec::new();
    for (i, &(encoded, value)) in segments.iter().enumerate() {
        let mut value = value;
        if encoded && i == 0 {
            // charset'language'value; without both quotes the whole is the value.
            let mut pieces = value.splitn(3, |&b| b == b'\'');
            if let (Some(named), Some(_language), Some(rest)) =
                (pieces.next(), pieces.next(), pieces.next())
            {
                charset = named;
                value = rest;
            }
        }
        if encoded {
            percent_decode_into(value, &mut out);
        } else {
            out.extend_from_slice(value);
        }
        // Decoding never grows a segment, so `out` stays within the cap plus one
        // segment of the (already bounded) input.
        if out.len() > MAX_PARAM_VALUE_LEN {
            return None;
        }
    }
    charset_to_string(charset, out)
}

/// `%XX` to the byte; anything else, a malformed escape included, as is.
fn percent_decode_into(value: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        let escaped = (b == b'%')
            .then(|| {
                let hi = hex_value(*value.get(i.saturating_add(1))?)?;
                let lo = hex_value(*value.get(i.saturating_add(2))?)?;
                Some((hi << 4) | lo)
            })
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                i = i.saturating_add(3);
            }
            None => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
}

/// The bytes as text in `charset` (see [`Params::decoded`]).
fn charset_to_string(charset: &[u8], bytes: Vec<u8>) -> Option<String> {
    let charset = ascii_lower_string(trim_lws(charset));
    match charset.as_str() {
        "" | "utf-8" | "utf8" => Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        "us-ascii" | "ascii" => Some(
            bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        char::REPLACEMENT_CHARACTER
                    }
                })
                .collect(),
        ),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819" => {
            // ISO-8859-1 is the first 256 code points.
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        _ if bytes.is_ascii() => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

struct Cursor<'i> {
    s: &'i [u8],
    i: usize,
}

impl<'i> Cursor<'i> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn bump(&mut self) {
        self.i = self.i.saturating_add(1);
    }
    fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.bump();
        }
    }
    fn token(&mut self) -> &'i [u8] {
        let start = self.i;
        while self.peek().is_some_and(is_token_byte) {
            self.bump();
        }
        self.s.get(start..self.i).unwrap_or(&[])
    }
    fn quoted(&mut self) -> Result<Vec<u8>, MimeError> {
        // Caller has checked the opening quote.
        self.bump();
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(MimeError::InvalidParameter {
                    reason: "unterminated quoted string",
                });
            };
            self.bump();
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(MimeError::InvalidParameter {
                            reason: "unterminated quoted string",
                        });
                    };
                    self.bump();
                    out.push(e);
                }
                // Folding inside a quoted string: drop the line break.
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
    }
    /// Lenient unquoted value: everything up to `;` or the end, trimmed.
    fn unquoted(&mut self) -> Vec<u8> {
        let start = self.i;
        while self.peek().is_some_and(|b| b != b';') {
            self.bump();
        }
        trim_lws(self.s.get(start..self.i).unwrap_or(&[])).to_vec()
    }
}

fn parse_params(c: &mut Cursor<'_>) -> Result<Params, MimeError> {
    let mut list = Vec::new();
    loop {
        c.skip_lws();
        match c.peek() {
            None => return Ok(Params { list }),
            Some(b';') => c.bump(),
            Some(_) => {
                return Err(MimeError::InvalidParameter {
                    reason: "expected ';' before parameter",
                });
            }
        }
        c.skip_lws();
        match c.peek() {
            None => return Ok(Params { list }),
            Some(b';') => continue,
            Some(_) => {}
        }
        let name = c.token();
        if name.is_empty() {
            return Err(MimeError::InvalidParameter {
                reason: "invalid parameter name",
            });
        }
        let name = ascii_lower_string(name);
        c.skip_lws();
        if c.peek() != Some(b'=') {
            return Err(MimeError::InvalidParameter {
                reason: "missing '=' after parameter name",
            });
        }
        c.bump();
        c.skip_lws();
        let value = if c.peek() == Some(b'"') {
            c.quoted()?
        } else {
            c.unquoted()
        };
        list.push((name, value));
    }
}

/// A parsed `Content-Type` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    type_: String,
    subtype: String,
    params: Params,
}

impl ContentType {
    /// Parses `type/subtype *(; name=value)`. Type, subtype and parameter
    /// names are lowercased. Tolerates whitespace and folding around `/`, `;`
    /// and `=`, empty parameters (`;;`) and a trailing `;`. Values are tokens
    /// (leniently: anything up to the next `;`, trimmed) or quoted strings with
    /// backslash escapes.
    pub fn parse(value: &[u8]) -> Result<ContentType, MimeError> {
        let mut c = Cursor { s: value, i: 0 };
        c.skip_lws();
        let t = c.token();
        if t.is_empty() {
            return Err(MimeError::InvalidContentType {
                reason: "missing media type",
            });
        }
        c.skip_lws();
        if c.peek() != Some(b'/') {
            return Err(MimeError::InvalidContentType {
                reason: "missing '/' between type and subtype",
            });
        }
        c.bump();
        c.skip_lws();
        let st = c.token();
        if st.is_empty() {
            return Err(MimeError::InvalidContentType {
                reason: "missing subtype",
            });
        }
        let params = parse_params(&mut c)?;
        Ok(ContentType {
            type_: ascii_lower_string(t),
            subtype: ascii_lower_string(st),
            params,
        })
    }

    /// `text/plain; charset=us-ascii`, the RFC 2045 default.
    pub fn text_plain_default() -> ContentType {
        ContentType {
            type_: "text".into(),
            subtype: "plain".into(),
            params: Params {
                list: vec![("charset".into(), b"us-ascii".to_vec())],
            },
        }
    }

    pub(super) fn message_rfc822() -> ContentType {
        ContentType {
            type_: "message".into(),
            subtype: "rfc822".into(),
            params: Params::default(),
        }
    }

    /// The lowercased top-level type, e.g. `multipart`.
    pub fn type_(&self) -> &str {
        &self.type_
    }

    /// The lowercased subtype, e.g. `signed`.
    pub fn subtype(&self) -> &str {
        &self.subtype
    }

    /// `type/subtype`, lowercased.
    pub fn mime_type(&self) -> String {
        format!("{}/{}", self.type_, self.subtype)
    }

    /// Whether the media type equals `mime_type` (`"type/subtype"`,
    /// ASCII case-insensitive).
    pub fn is(&self, mime_type: &str) -> bool {
        match mime_type.split_once('/') {
            Some((t, s)) => {
                t.eq_ignore_ascii_case(&self.type_) && s.eq_ignore_ascii_case(&self.subtype)
            }
            None => false,
        }
    }

    /// Whether the top-level type is `multipart`.
    pub fn is_multipart(&self) -> bool {
        self.type_ == "multipart"
    }

    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// A parameter value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params.get(name)
    }

    /// The `boundary` parameter, as bytes (matched byte-exactly).
    pub fn boundary(&self) -> Option<&[u8]> {
        self.params.get("boundary")
    }

    /// The `protocol` parameter (multipart/signed), as received.
    pub fn protocol(&self) -> Option<&str> {
        self.params.get_str("protocol")
    }

    /// The `micalg` parameter (multipart/signed), as received; compare
    /// case-insensitively.
    pub fn micalg(&self) -> Option<&str> {
        self.params.get_str("micalg")
    }

    /// The `smime-type` parameter.
    pub fn smime_type(&self) -> Option<&str> {
        self.params.get_str("smime-type")
    }

    /// The `report-type` parameter (multipart/report).
    pub fn report_type(&self) -> Option<&str> {
        self.params.get_str("report-type")
    }

    /// The `charset` parameter.
    pub fn charset(&self) -> Option<&str> {
        self.params.get_str("charset")
    }

    /// The `name` parameter, as bytes (may not be UTF-8).
    pub fn name(&self) -> Option<&[u8]> {
        self.params.get("name")
    }
}

/// The file name a MIME entity carries, as text: Content-Disposition's
/// `filename` (RFC 2231 decoded, see `Params::decoded`), else Content-Type's
/// `name` (the same way). `disposition` is the raw Content-Disposition value;
/// one that does not parse counts as absent. The name is the sender's, not yet
/// safe as a path: see [`crate::record::inbound_paths`].
pub fn file_name(disposition: Option<&[u8]>, content_type: &ContentType) -> Option<String> {
    disposition
        .and_then(|value| ContentDisposition::parse(value).ok())
        .and_then(|d| d.params().decoded("filename"))
        .or_else(|| content_type.params().decoded("name"))
}

/// A parsed `Content-Disposition` value (`attachment; filename="x.edi"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition {
    disposition: String,
    params: Params,
}

impl ContentDisposition {
    /// Parses `disposition-type *(; name=value)` with the same parameter
    /// rules as [`ContentType::parse`]. The disposition type is lowercased.
    pub fn parse(value: &[u8]) -> Result<ContentDisposition, MimeError> {
        let mut c = Cursor { s: value, i: 0 };
        c.skip_lws();
        let d = c.token();
        if d.is_empty() {
            return Err(MimeError::InvalidContentDisposition {
                reason: "missing disposition type",
            });
        }
        let params = parse_params(&mut c)?;
        Ok(ContentDisposition {
            disposition: ascii_lower_string(d),
            params,
        })
    }

    /// The lowercased disposition type (`attachment`, `inline`, ...).
    pub fn disposition(&self) -> &str {
        &self.disposition
    }

    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The plain `filename` parameter, as bytes (may not be UTF-8); for the
    /// RFC 2231 forms see [`file_name`] and [`Params::decoded`].
    pub fn filename(&self) -> Option<&[u8]> {
        self.params.get("filename")
    }
}

/// A file-name parameter (`filename` of Content-Disposition, `name` of
/// Content-Type) for `file_name`, CR, LF and NUL dropped: `param="..."` when
/// the name is printable ASCII, else `param*=UTF-8''...` (RFC 2231 §4, every
/// byte outside RFC 5987's `attr-char` percent-encoded). `param` must be a
/// token. A name longer than [`MAX_PARAM_VALUE_LEN`] bytes would not be read
/// back: callers refuse it (as `outbound::build` does).
///
/// No plain ASCII `param=` fallback is added beside the encoded form: Python's
/// `email` package (what pyas2lib and django-pyas2 parse with) prefers a plain
/// `filename` to `filename*` when both are present, so the fallback would
/// replace the real name at such a partner, while RFC 2231 itself is read by
/// the MIME libraries AS2 products are built on. The value is one unfolded
/// parameter: it may also travel as an HTTP header, where folding is obsolete.
pub fn file_name_param(param: &str, file_name: &str) -> String {
    let name: String = file_name
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect();
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out =
            String::with_capacity(name.len().saturating_add(param.len()).saturating_add(3));
        out.push_str(param);
        out.push_str("=\"");
        for c in name.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return out;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = format!("{param}*=UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                out.push(
                    HEX.get(usize::from(nibble))
                        .copied()
                        .map_or('0', char::from),
                );
            }
        }
    }
    out
}

/// Formats a `Content-Type` (or `Content-Disposition`) value:
/// `mime_type; name=value; ...`, quoting values that are not tokens (or are
/// empty) and escaping `"` and `\`. `mime_type` must be printable ASCII;
/// names must be tokens; values must not contain control characters.
pub fn content_type_value(mime_type: &str, params: &[(&str, &str)]) -> Result<String, MimeError> {
    if mime_type.is_empty() || !mime_type.bytes().all(|b| is_token_byte(b) || b == b'/') {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "invalid media type",
        });
    }
    let mut out = String::from(mime_type);
    for (name, value) in params {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(MimeError::InvalidHeaderForWrite {
                reason: "invalid parameter name",
            });
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(MimeError::InvalidHeaderForWrite {
                reason: "control character in parameter value",
            });
        }
        out.push_str("; ");
        out.push_str(name);
        out.push('=');
        if !value.is_empty() && value.bytes().all(is_token_byte) {
            out.push_str(value);
        } else {
            out.push('"');
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    Ok(out)
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

    // ----- content type / disposition --------------------------------------

    #[test]
    fn content_type_params() {
        let ct = ContentType::parse(
            b"Multipart/Signed ; Protocol = \"application/pkcs7-signature\" ;micalg=SHA-256;\r\n\tboundary=\"----=_Part 1\\\"x\\\\\";;",
        )
        .unwrap();
        assert_eq!(ct.type_(), "multipart");
        assert_eq!(ct.subtype(), "signed");
        assert_eq!(ct.mime_type(), "multipart/signed");
        assert!(ct.is("MULTIPART/signed"));
        assert!(ct.is_multipart());
        assert_eq!(ct.protocol(), Some("application/pkcs7-signature"));
        assert_eq!(ct.micalg(), Some("SHA-256"));
        assert_eq!(ct.boundary(), Some(&b"----=_Part 1\"x\\"[..]));
        assert_eq!(ct.params().len(), 3);

        let ct = ContentType::parse(
            b"application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"",
        )
        .unwrap();
        assert_eq!(ct.smime_type(), Some("enveloped-data"));
        assert_eq!(ct.name(), Some(&b"smime.p7m"[..]));
        let ct = ContentType::parse(
            b"multipart/report; Report-Type=disposition-notification; boundary=x",
        )
        .unwrap();
        assert_eq!(ct.report_type(), Some("disposition-notification"));
        assert_eq!(
            ct.param("REPORT-TYPE"),
            Some(&b"disposition-notification"[..])
        );
        let ct = ContentType::parse(b" text / plain ; charset = \"utf-8\" ; ").unwrap();
        assert_eq!(ct.mime_type(), "text/plain");
        assert_eq!(ct.charset(), Some("utf-8"));
        // Non-UTF-8 values are kept as bytes.
        let ct = ContentType::parse(b"application/edi; name=caf\xe9.edi").unwrap();
        assert_eq!(ct.name(), Some(&b"caf\xe9.edi"[..]));
        assert_eq!(ct.params().get_str("name"), None);

        for bad in [
            &b""[..],
            b"text",
            b"text/",
            b"/plain",
            b"text/plain; =x",
            b"text/plain; charset",
            b"text/plain; name=\"unterminated",
            b"text/plain; name=\"x\" junk",
            b"text/plain junk",
        ] {
            assert!(
                ContentType::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn content_disposition() {
        let d = ContentDisposition::parse(b"attachment; filename=\"x.edi\"").unwrap();
        assert_eq!(d.disposition(), "attachment");
        assert_eq!(d.filename(), Some(&b"x.edi"[..]));
        let d = ContentDisposition::parse(b"Attachment ; FileName = order 1.edi ;").unwrap();
        assert_eq!(d.disposition(), "attachment");
        assert_eq!(d.filename(), Some(&b"order 1.edi"[..]));
        assert_eq!(
            d.params().iter().next(),
            Some(("filename", &b"order 1.edi"[..]))
        );
        assert!(ContentDisposition::parse(b"; filename=x").is_err());
    }

    /// The file name of an entity with this Content-Disposition (and a bare
    /// Content-Type).
    fn cd_name(disposition: &str) -> Option<String> {
        file_name(
            Some(disposition.as_bytes()),
            &ContentType::parse(b"application/edi-x12").unwrap(),
        )
    }

    #[test]
    fn rfc2231_file_names() {
        // RFC 2231 §4: charset and language.
        assert_eq!(
            cd_name("attachment; filename*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A")
                .as_deref(),
            Some("This is ***fun***")
        );
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''Bestellung-Gr%C3%B6%C3%9Fe-%C3%A9.edi")
                .as_deref(),
            Some("Bestellung-Größe-é.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=iso-8859-1'de'Gr%F6%DFe.edi").as_deref(),
            Some("Größe.edi")
        );
        // Lenient: a quoted extended value, lower-case escapes, any case in the name.
        assert_eq!(
            cd_name("attachment; FILENAME*=\"utf-8''%e6%b3%a8%e6%96%87.edi\"").as_deref(),
            Some("注文.edi")
        );
        // RFC 2231 §3 and §4.1: continuations, plain and encoded mixed, out of order.
        assert_eq!(
            cd_name(
                "attachment; filename*1=\"ongest name \"; filename*0=\"A l\"; filename*2=x.edi"
            )
            .as_deref(),
            Some("A longest name x.edi")
        );
        assert_eq!(
            cd_name(
                "attachment; filename*0*=us-ascii'en'This%20is%20even%20more%20; \
                 filename*1*=%2A%2A%2Afun%2A%2A%2A%20; filename*2=\"isn't it!\""
            )
            .as_deref(),
            Some("This is even more ***fun*** isn't it!")
        );
        assert_eq!(
            cd_name("attachment; filename*0*=UTF-8''%E6%B3%A8; filename*1*=%E6%96%87.edi")
                .as_deref(),
            Some("注文.edi")
        );
        // A gap ends the value.
        assert_eq!(
            cd_name("attachment; filename*0=a; filename*2=c").as_deref(),
            Some("a")
        );
        // The extended form wins over the plain one, whatever the order.
        assert_eq!(
            cd_name("attachment; filename=\"fallback.edi\"; filename*=UTF-8''r%C3%A9el.edi")
                .as_deref(),
            Some("réel.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*0*=UTF-8''r%C3%A9el.edi; filename=fallback.edi")
                .as_deref(),
            Some("réel.edi")
        );
        // Malformed escapes stay as written; invalid UTF-8 becomes U+FFFD.
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''100%25%zz%4.edi").as_deref(),
            Some("100%%zz%4.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''a%FFb").as_deref(),
            Some("a\u{FFFD}b")
        );
        assert_eq!(
            cd_name("attachment; filename*=us-ascii''a%E9b").as_deref(),
            Some("a\u{FFFD}b")
        );
        // No charset'language' part: the whole value, UTF-8.
        assert_eq!(
            cd_name("attachment; filename*=caf%C3%A9.edi").as_deref(),
            Some("café.edi")
        );
        // An unknown charset: readable only as ASCII, else the plain name is used.
        assert_eq!(
            cd_name("attachment; filename*=koi8-r''plain.edi").as_deref(),
            Some("plain.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=koi8-r''%C1.edi; filename=\"fallback.edi\"").as_deref(),
            Some("fallback.edi")
        );
        assert_eq!(cd_name("attachment; filename*=koi8-r''%C1.edi"), None);
        // Empty means absent.
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''; filename=x"),
            Some("x".into())
        );
        assert_eq!(cd_name("attachment; filename=\"\""), None);
        assert_eq!(cd_name("attachment"), None);
        // Raw UTF-8 in a plain value (as some products send it).
        assert_eq!(
            cd_name("attachment; filename=\"Größe.edi\"").as_deref(),
            Some("Größe.edi")
        );
        // Names that only start like the parameter are other parameters.
        assert_eq!(
            cd_name("attachment; filenamex*=UTF-8''a; filename*x=b"),
            None
        );
    }

    #[test]
    fn file_name_falls_back_to_content_type_name() {
        let ct = |v: &str| ContentType::parse(v.as_bytes()).unwrap();
        let named = ct("application/edi-x12; name*=UTF-8''%E6%B3%A8%E6%96%87.edi");
        assert_eq!(file_name(None, &named).as_deref(), Some("注文.edi"));
        assert_eq!(
            file_name(Some(b"attachment"), &named).as_deref(),
            Some("注文.edi")
        );
        // An unparsable disposition counts as absent.
        assert_eq!(
            file_name(Some(b"; filename=x"), &named).as_deref(),
            Some("注文.edi")
        );
        assert_eq!(
            file_name(Some(b"attachment; filename=po.edi"), &named).as_deref(),
            Some("po.edi")
        );
        let plain = ct("application/edi-x12; name=\"po 1.x12\"");
        assert_eq!(file_name(None, &plain).as_deref(), Some("po 1.x12"));
        assert_eq!(file_name(None, &ct("application/edi-x12")), None);
    }

    #[test]
    fn hostile_file_names_decode_and_are_neutralised_when_stored() {
        // The decoder returns what the sender wrote; a path is made only through
        // record::inbound_paths, which neutralises it.
        let name = cd_name("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd").unwrap();
        assert_eq!(name, "../../etc/passwd");
        let nul = cd_name("attachment; filename*=UTF-8''a%00b%0D%0A%1B.edi%2F..").unwrap();
        assert_eq!(nul, "a\0b\r\n\u{1b}.edi/..");
        for hostile in [name.as_str(), nul.as_str(), "..", "%2E%2E"] {
            let paths = crate::record::inbound_paths(
                Some(hostile),
                "<m@x>",
                crate::record::StatusCode::Completed,
            );
            let stored = paths.payload.file_name();
            assert!(
                !stored.contains(['/', '\\', '\0', '\r', '\n', '\u{1b}'])
                    && !stored.starts_with('.'),
                "{hostile:?} -> {stored:?}"
            );
        }
    }

    #[test]
    fn rfc2231_limits() {
        // The highest segment number allowed, then one too many: refused, not cut.
        let last = MAX_PARAM_SEGMENTS - 1;
        let mut value = String::from("attachment");
        for i in 0..=last {
            value.push_str(&format!("; filename*{i}=a"));
        }
        assert_eq!(cd_name(&value), Some("a".repeat(MAX_PARAM_SEGMENTS)));
        let over = format!("{value}; filename*{MAX_PARAM_SEGMENTS}=b");
        assert_eq!(cd_name(&over), None);
        let over_plain = format!("{over}; filename=plain.edi");
        assert_eq!(cd_name(&over_plain).as_deref(), Some("plain.edi"));
        // Huge numbers (beyond usize) are refused without arithmetic trouble.
        assert_eq!(
            cd_name("attachment; filename*0=a; filename*99999999999999999999999999=b"),
            None
        );
        // The decoded length: at the cap it is read, one byte more is refused.
        let at_cap = "%41".repeat(MAX_PARAM_VALUE_LEN);
        assert_eq!(
            cd_name(&format!("attachment; filename*=UTF-8''{at_cap}")),
            Some("A".repeat(MAX_PARAM_VALUE_LEN))
        );
        assert_eq!(
            cd_name(&format!("attachment; filename*=UTF-8''{at_cap}B")),
            None
        );
        // The same cap for a plain value.
        let plain = "a".repeat(MAX_PARAM_VALUE_LEN);
        assert_eq!(
            cd_name(&format!("attachment; filename={plain}")),
            Some(plain.clone())
        );
        assert_eq!(cd_name(&format!("attachment; filename={plain}b")), None);
        let halves = "a".repeat(MAX_PARAM_VALUE_LEN / 2);
        assert_eq!(
            cd_name(&format!(
                "attachment; filename*0={halves}; filename*1={halves}; filename*2=x"
            )),
            None
        );
        // Many parameters that are not segments cost a pass each, no allocation.
        let mut noise = String::from("attachment");
        for i in 0..2000 {
            noise.push_str(&format!("; p{i}=v"));
        }
        noise.push_str("; filename*0*=UTF-8''ok; filename*1=.edi");
        assert_eq!(cd_name(&noise).as_deref(), Some("ok.edi"));
    }

    #[test]
    fn file_name_params_written() {
        assert_eq!(file_name_param("filename", "po.x12"), "filename=\"po.x12\"");
        assert_eq!(
            file_name_param("filename", r#"a "b"\c.edi"#),
            r#"filename="a \"b\"\\c.edi""#
        );
        assert_eq!(
            file_name_param("filename", "Bestellung-Größe-é.edi"),
            "filename*=UTF-8''Bestellung-Gr%C3%B6%C3%9Fe-%C3%A9.edi"
        );
        assert_eq!(
            file_name_param("name", "注文 1;x.edi"),
            "name*=UTF-8''%E6%B3%A8%E6%96%87%201%3Bx.edi"
        );
        // A control character other than CR, LF, NUL is encoded, not written raw.
        assert_eq!(
            file_name_param("filename", "a\tb"),
            "filename*=UTF-8''a%09b"
        );
        assert_eq!(
            file_name_param("filename", "é\r\n\0"),
            "filename*=UTF-8''%C3%A9"
        );
        // What we write, we read back.
        for name in [
            "Bestellung-Größe-é.edi",
            "注文.edi",
            "a'b%41\"c\\d e.edi",
            "plain.edi",
        ] {
            let written = format!("attachment; {}", file_name_param("filename", name));
            assert_eq!(cd_name(&written).as_deref(), Some(name), "{written}");
            let ct = format!("application/edi-x12; {}", file_name_param("name", name));
            assert_eq!(
                file_name(None, &ContentType::parse(ct.as_bytes()).unwrap()).as_deref(),
                Some(name)
            );
        }
    }
}
