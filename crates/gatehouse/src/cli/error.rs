//! Why a client command failed: the one report an operator reads on stderr, and the exit code
//! that tells a script which kind of failure it was.

use std::fmt::Write as _;

use serde_json::Value;

/// EX_USAGE: the command line asks for something that cannot be done.
pub(super) const EX_USAGE: u8 = 64;
/// EX_DATAERR: the server refused the request.
pub(super) const EX_DATAERR: u8 = 65;
/// EX_UNAVAILABLE: the server could not be reached, or failed.
pub(super) const EX_UNAVAILABLE: u8 = 69;
/// EX_IOERR: the answer could not be written to stdout.
pub(super) const EX_IOERR: u8 = 74;

/// A failed client command.
#[derive(Debug)]
pub(super) enum Failure {
    /// Bad input on our side: an unreadable file, a missing token, a bad URL (64).
    Usage(String),
    /// The server answered 4xx (65).
    Refused(ServerError),
    /// The server answered 5xx (69).
    Failed(ServerError),
    /// No usable answer: refused connection, timeout, garbage (69).
    Unavailable(String),
}

/// An error answer of the management API: `{"error":{"code","message","details"}}`.
#[derive(Debug)]
pub(super) struct ServerError {
    /// Stable code, e.g. `CertificateInUse`.
    pub(super) code: String,
    /// What happened, for a person.
    pub(super) message: String,
    /// `(target, message)` of each problem.
    pub(super) details: Vec<(String, String)>,
    /// Something we know that the server does not (where the token came from).
    pub(super) hint: Option<String>,
}

impl ServerError {
    /// Reads an error answer; a body that is not one (a proxy's page, say) still gives a
    /// readable message.
    pub(super) fn from_body(status: u16, reason: &str, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().map(|v| &v["error"]);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let code = text(error.map(|e| &e["code"])).unwrap_or_else(|| format!("HTTP {status}"));
        let message = text(error.map(|e| &e["message"])).unwrap_or_else(|| {
            let body = String::from_utf8_lossy(body);
            let first = body.lines().map(str::trim).find(|l| !l.is_empty());
            first.map_or_else(|| reason.to_string(), |l| truncate(l, 200))
        });
        let details = error
            .and_then(|e| e["details"].as_array())
            .map(|list| {
                list.iter()
                    .map(|d| {
                        let target = text(Some(&d["target"])).unwrap_or_default();
                        let message = text(Some(&d["message"])).unwrap_or_default();
                        (target, message)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            code,
            message,
            details,
            hint: None,
        }
    }

    fn write(&self, out: &mut String) {
        let lines: Vec<String> = self
            .details
            .iter()
            .map(|(target, message)| {
                if target.is_empty() {
                    message.clone()
                } else {
                    format!("{target}: {message}")
                }
            })
            .collect();
        // Validation messages end with their details joined (`the backend is not valid: a:
        // x; b: y`): say the summary once, then each detail on its own line.
        let joined = lines.join("; ");
        let headline = match self.message.strip_suffix(&joined) {
            Some(head) if !lines.is_empty() => head.trim_end().trim_end_matches(':').trim_end(),
            _ => self.message.as_str(),
        };
        let headline = if headline.is_empty() {
            self.message.as_str()
        } else {
            headline
        };
        let _ = writeln!(out, "gatehouse: {}: {}", clean(&self.code), clean(headline));
        for line in lines {
            if !headline.contains(&line) {
                let _ = writeln!(out, "  {}", clean(&line));
            }
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  {}", clean(hint));
        }
    }
}

impl Failure {
    /// The process exit code.
    pub(super) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EX_USAGE,
            Self::Refused(_) => EX_DATAERR,
            Self::Failed(_) | Self::Unavailable(_) => EX_UNAVAILABLE,
        }
    }

    /// The text for stderr: one `gatehouse: ...` line, then one indented line per detail.
    pub(super) fn report(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Usage(message) | Self::Unavailable(message) => {
                let _ = writeln!(out, "gatehouse: {}", clean(message));
            }
            Self::Refused(e) | Self::Failed(e) => e.write(&mut out),
        }
        out
    }
}

/// `s` with control characters escaped: text from a server or a file must not drive the
/// terminal.
pub(super) fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// At most `max` characters of `s`, marked when cut: a proxy's page can be long.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_detail_once() {
        let body = br#"{"error":{"code":"PasswordIncorrect","message":"properties.data: the password is incorrect","details":[{"code":"PasswordIncorrect","target":"properties.data","message":"the password is incorrect"}]}}"#;
        let e = ServerError::from_body(400, "Bad Request", body);
        assert_eq!(
            Failure::Refused(e).report(),
            "gatehouse: PasswordIncorrect: properties.data: the password is incorrect\n"
        );

        let body = br#"{"error":{"code":"CertificateInUse","message":"in use by API 'echo'","details":[{"code":"CertificateInUse","target":"/apis/echo/policies/policy","message":"the API policy"}]}}"#;
        let e = ServerError::from_body(409, "Conflict", body);
        assert_eq!(
            Failure::Refused(e).report(),
            "gatehouse: CertificateInUse: in use by API 'echo'\n  /apis/echo/policies/policy: the API policy\n"
        );
    }

    #[test]
    fn a_summary_ending_with_its_details_is_split() {
        let body = br#"{"error":{"code":"InvalidProperty","message":"the backend is not valid: properties.url: is required; properties.tls: bad","details":[{"code":"a","target":"properties.url","message":"is required"},{"code":"b","target":"properties.tls","message":"bad"}]}}"#;
        let e = ServerError::from_body(400, "Bad Request", body);
        assert_eq!(
            Failure::Refused(e).report(),
            "gatehouse: InvalidProperty: the backend is not valid\n  properties.url: is required\n  properties.tls: bad\n"
        );
    }

    #[test]
    fn a_body_that_is_not_an_error_document_still_reads() {
        let e = ServerError::from_body(
            502,
            "Bad Gateway",
            b"<html>\n<h1>upstream down\x1b[31m</h1>",
        );
        let report = Failure::Failed(e).report();
        assert_eq!(report, "gatehouse: HTTP 502: <html>\n");
        let e = ServerError::from_body(503, "Service Unavailable", b"");
        assert_eq!(
            Failure::Failed(e).report(),
            "gatehouse: HTTP 503: Service Unavailable\n"
        );
        assert_eq!(clean("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
