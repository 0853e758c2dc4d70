//! The operator's side: `GET /metrics` (Prometheus) and a read-only HTML page of the
//! transfers, rendered on the server (no script, no front-end build).
//!
//! - `GET /[?partner=ID][&status=STATUS]`: the newest transfers (at most 200), inbound
//!   and outbound, with a plain GET form to filter them.
//! - `GET /transfers/{id}`: one transfer: its fields, the request (the headers received,
//!   or what the worker sends), its JSON status record and its MDN, read from the data
//!   directory.
//! - `GET /metrics`: see [`crate::metrics`].
//!
//! With `api_token` set, all three want it: as `Authorization: Bearer <token>` (a
//! Prometheus scrape config's `authorization`), or as the password of HTTP Basic with any
//! user name, so that a browser asks for it (a 401 carries `WWW-Authenticate: Basic`).
//! The token never goes in a URL, where logs would keep it.
//!
//! Everything shown is escaped ([`escape`]): file names, Message-IDs, headers and MDNs
//! are the partner's to choose. The page also sends a `Content-Security-Policy` that
//! allows no script at all.

use std::fmt::Write as _;
use std::sync::Arc;

use as2_proto::partner::is_safe_relative_path;
use as2_proto::record::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64ct::Encoding;

use crate::api::TransferFilter;
use crate::db::{TransferRow, from_millis, status};
use crate::gateway::{Gateway, same_secret};

/// The most transfers the page lists.
pub const PAGE_ROWS: i64 = 200;

/// The most of a stored file (record, MDN) the detail page shows.
pub const MAX_SHOWN: usize = 256 * 1024;

/// The statuses the filter offers.
const STATUSES: [&str; 7] = [
    status::COMPLETED,
    status::FAILED,
    status::DUPLICATE,
    status::QUEUED,
    status::SENDING,
    status::RETRYING,
    status::AWAITING_MDN,
];

/// Escapes text for HTML element content and quoted attribute values: `&`, `<`, `>`,
/// `"` and `'`. (Five characters: a crate for it would not be smaller than this.)
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `true` if `given` (an `Authorization` header) carries `token`: `Bearer <token>`, or
/// HTTP Basic with `token` as the password and any user name.
fn carries_token(given: &[u8], token: &str) -> bool {
    if same_secret(given, format!("Bearer {token}").as_bytes()) {
        return true;
    }
    let Some(encoded) = given
        .strip_prefix(b"Basic ")
        .and_then(|b| std::str::from_utf8(b).ok())
    else {
        return false;
    };
    let Ok(decoded) = base64ct::Base64::decode_vec(encoded.trim()) else {
        return false;
    };
    match decoded.iter().position(|&b| b == b':') {
        Some(colon) => same_secret(
            decoded.get(colon + 1..).unwrap_or_default(),
            token.as_bytes(),
        ),
        None => false,
    }
}

/// 401 (asking a browser for Basic credentials) unless the request carries the
/// configured `api_token`; `None` when there is no token or it is carried.
pub(crate) fn operator_unauthorized(gateway: &Gateway, headers: &HeaderMap) -> Option<Response> {
    let token = gateway.settings().api_token.as_deref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if carries_token(given, token) {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"as2-gateway\", charset=\"UTF-8\"",
            )],
            "the api_token is required: Bearer, or as the HTTP Basic password\n",
        )
            .into_response(),
    )
}

/// `GET /metrics`.
pub async fn metrics(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Some(refused) = operator_unauthorized(&gateway, &headers) {
        return refused;
    }
    match gateway.metrics().scrape(gateway.db()).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("metrics unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// An HTML response with the page's security headers.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}\
td.n{text-align:right}.FAILED{color:#a00}.COMPLETED{color:#070}\
pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap;word-break:break-all}";

/// The page around `body`, titled `title` (escaped here).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} - as2-gateway</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// A time in Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
fn time(millis: i64) -> String {
    let stamp = rfc3339(from_millis(millis));
    let seconds = stamp.get(..19).unwrap_or(&stamp);
    format!("{} UTC", seconds.replacen('T', " ", 1))
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), escape)
}

/// Resends made: the attempts after the first.
fn retries(row: &TransferRow) -> i64 {
    row.transfer.attempts.saturating_sub(1).max(0)
}

/// `GET /`: the newest transfers, filtered by `partner` and `status`.
pub async fn index(
    State(gateway): State<Arc<Gateway>>,
    Query(filter): Query<TransferFilter>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = operator_unauthorized(&gateway, &headers) {
        return refused;
    }
    let Some(db) = gateway.db() else {
        return html(
            StatusCode::NOT_FOUND,
            page("Transfers", "<p>No database: no transfers to show.</p>\n"),
        );
    };
    let rows = match db
        .list_transfers(filter.partner(), filter.status(), PAGE_ROWS)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            let body = format!("<p>The database failed: {}</p>\n", escape(&e.to_string()));
            return html(StatusCode::SERVICE_UNAVAILABLE, page("Transfers", &body));
        }
    };
    html(
        StatusCode::OK,
        page("Transfers", &index_body(&filter, &rows)),
    )
}

fn index_body(filter: &TransferFilter, rows: &[TransferRow]) -> String {
    let mut b = String::from("<h1>Transfers</h1>\n");
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/\"><label>Partner <input name=\"partner\" value=\"{}\">\
         </label> <label>Status <select name=\"status\"><option value=\"\">any</option>",
        escape(filter.partner().unwrap_or_default())
    );
    for s in STATUSES {
        let selected = if filter.status() == Some(s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option{selected}>{s}</option>");
    }
    b.push_str("</select></label> <button type=\"submit\">Filter</button></form>\n");
    let _ = writeln!(
        b,
        "<p id=\"count\">{} transfer{} (newest first, at most {PAGE_ROWS})</p>",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    b.push_str(
        "<table id=\"transfers\">\n<thead><tr><th>Time</th><th>Partner</th><th>Direction</th>\
         <th>Status</th><th>File</th><th>Size (bytes)</th><th>MDN</th><th>Retries</th>\
         <th>Failure</th><th>Message-ID</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let t = &row.transfer;
        let o = &row.outcome;
        let _ = writeln!(
            b,
            "<tr class=\"transfer\" data-id=\"{id}\"><td><a href=\"/transfers/{id}\">{time}</a></td>\
             <td>{partner}</td><td>{direction}</td><td class=\"{status}\">{status}</td>\
             <td>{file}</td><td class=\"n\">{size}</td><td>{mdn}</td><td class=\"n\">{retries}</td>\
             <td>{failure}</td><td>{message_id}</td></tr>",
            id = escape(&t.id),
            time = time(t.created_at),
            partner = escape(&t.partner),
            direction = escape(&t.direction),
            status = escape(&t.status),
            file = or_dash(t.file_name.as_deref()),
            size = o
                .size_bytes
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            mdn = or_dash(o.mdn_disposition.as_deref()),
            retries = retries(row),
            failure = or_dash(o.failure_code.as_deref()),
            message_id = escape(&t.message_id),
        );
    }
    b.push_str("</tbody></table>\n");
    b
}

/// Reads a file the transfer names (relative to the data directory), as text: at most
/// [`MAX_SHOWN`] bytes, invalid UTF-8 replaced.
async fn stored_text(gateway: &Gateway, relative: Option<&str>) -> Option<String> {
    let relative = relative?;
    if !is_safe_relative_path(relative) {
        return Some(format!(
            "(not shown: {relative:?} is not inside the data directory)"
        ));
    }
    match tokio::fs::read(gateway.data().root().join(relative)).await {
        Ok(bytes) => {
            let shown = bytes.get(..MAX_SHOWN).unwrap_or(&bytes);
            let mut text = String::from_utf8_lossy(shown).into_owned();
            if bytes.len() > MAX_SHOWN {
                let _ = write!(text, "\n... ({} bytes in all)", bytes.len());
            }
            Some(text)
        }
        Err(e) => Some(format!("(cannot read {relative}: {e})")),
    }
}

/// The request as shown: an inbound transfer's headers one per line, an outbound one's
/// send request as indented JSON.
fn request_text(row: &TransferRow) -> String {
    let request = &row.transfer.request;
    if row.transfer.direction == "inbound"
        && let Ok(headers) = serde_json::from_str::<Vec<(String, String)>>(request)
    {
        return headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
    }
    serde_json::from_str::<serde_json::Value>(request)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| request.clone())
}

/// `GET /transfers/{id}`: one transfer with its request, status record and MDN.
pub async fn detail(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = operator_unauthorized(&gateway, &headers) {
        return refused;
    }
    let not_found = || {
        let body = format!(
            "<p><a href=\"/\">All transfers</a></p><p>No transfer {}.</p>\n",
            escape(&id)
        );
        html(StatusCode::NOT_FOUND, page("Transfer", &body))
    };
    let Some(db) = gateway.db() else {
        return not_found();
    };
    let row = match db.transfer_row(&id).await {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(),
        Err(e) => {
            let body = format!("<p>The database failed: {}</p>\n", escape(&e.to_string()));
            return html(StatusCode::SERVICE_UNAVAILABLE, page("Transfer", &body));
        }
    };
    let record = stored_text(&gateway, row.transfer.record_path.as_deref()).await;
    let mdn = stored_text(&gateway, row.transfer.mdn_path.as_deref()).await;
    let body = detail_body(&row, &request_text(&row), record.as_deref(), mdn.as_deref());
    html(StatusCode::OK, page(&format!("Transfer {id}"), &body))
}

fn detail_body(
    row: &TransferRow,
    request: &str,
    record: Option<&str>,
    mdn: Option<&str>,
) -> String {
    let t = &row.transfer;
    let o = &row.outcome;
    let mut b = String::from("<p><a href=\"/\">All transfers</a></p>\n");
    let _ = writeln!(b, "<h1>Transfer {}</h1>", escape(&t.id));
    let size = o.size_bytes.map(|n| n.to_string());
    let fields: [(&str, Option<String>); 16] = [
        ("Direction", Some(t.direction.clone())),
        ("Partner", Some(t.partner.clone())),
        ("Status", Some(t.status.clone())),
        ("Message-ID", Some(t.message_id.clone())),
        ("File name", t.file_name.clone()),
        ("Connector", t.connector_id.clone()),
        ("Size (bytes)", size),
        ("MDN disposition", o.mdn_disposition.clone()),
        ("Failure code", o.failure_code.clone()),
        ("Failure", t.failure.clone()),
        ("Attempts", Some(t.attempts.to_string())),
        ("Retries", Some(retries(row).to_string())),
        ("Created", Some(time(t.created_at))),
        ("Updated", Some(time(t.updated_at))),
        ("Status record", t.record_path.clone()),
        ("MDN file", t.mdn_path.clone()),
    ];
    b.push_str("<table id=\"fields\">\n");
    for (name, value) in fields {
        let _ = writeln!(
            b,
            "<tr><th>{name}</th><td>{}</td></tr>",
            or_dash(value.as_deref())
        );
    }
    b.push_str("</table>\n");
    let sections = [
        ("request", "Request", Some(request)),
        ("record", "Status record", record),
        ("mdn", "MDN", mdn),
    ];
    for (id, title, text) in sections {
        let _ = writeln!(b, "<h2>{title}</h2>");
        match text {
            Some(text) => {
                let _ = writeln!(b, "<pre id=\"{id}\">{}</pre>", escape(text));
            }
            None => {
                let _ = writeln!(b, "<p id=\"{id}\">none</p>");
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_the_five_characters() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn the_token_is_taken_as_bearer_or_basic_password() {
        let basic = |s: &str| format!("Basic {}", base64ct::Base64::encode_string(s.as_bytes()));
        assert!(carries_token(b"Bearer t0k", "t0k"));
        assert!(carries_token(basic("ops:t0k").as_bytes(), "t0k"));
        assert!(carries_token(basic(":t0k").as_bytes(), "t0k"));
        assert!(!carries_token(basic("ops:t0kx").as_bytes(), "t0k"));
        assert!(!carries_token(basic("t0k").as_bytes(), "t0k"));
        assert!(!carries_token(b"Bearer t0", "t0k"));
        assert!(!carries_token(b"Basic !!!", "t0k"));
        assert!(!carries_token(b"", "t0k"));
    }

    #[test]
    fn time_is_shown_to_the_second_in_utc() {
        assert_eq!(time(1_657_520_410_791), "2022-07-11 06:20:10 UTC");
    }
}
