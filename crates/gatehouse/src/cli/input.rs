//! What commands read besides their flags: files named on the command line and stdin (a
//! password's first line, or a whole policy). Failing to read them is a usage error (64).

use std::io::{BufRead as _, IsTerminal as _, Read as _};
use std::path::Path;

use zeroize::Zeroizing;

use super::error::Failure;

/// The bytes of `path`, wiped when dropped (a .pfx holds a private key).
pub(super) fn read_bytes(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Failure::Usage(format!("cannot read {what} {}: {e}", path.display())))
}

/// The text of `path`, wiped when dropped.
pub(super) fn read_text(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let bytes = read_bytes(path, what)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(_) => Err(Failure::Usage(format!(
            "{what} {} is not UTF-8 text",
            path.display()
        ))),
    }
}

/// The first line of stdin without its line ending: `--password-stdin`.
///
/// An empty line is an empty password; no line at all is a mistake worth saying.
pub(super) fn password_from_stdin() -> Result<Zeroizing<String>, Failure> {
    if std::io::stdin().is_terminal() {
        // Typed at a terminal, the password would echo and stay in the scrollback.
        return Err(Failure::Usage(
            "--password-stdin reads a pipe, not the terminal; e.g. \
             printf '%s\\n' \"$PASSWORD\" | gatehouse ..."
                .to_string(),
        ));
    }
    // Room for any sane password up front, so growing the buffer leaves no copies behind.
    let mut line = Zeroizing::new(String::with_capacity(1024));
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Usage(format!("--password-stdin: cannot read stdin: {e}")))?;
    if read == 0 {
        return Err(Failure::Usage(
            "--password-stdin: stdin is empty; pipe the password in, e.g. \
             printf '%s\\n' \"$PASSWORD\" | gatehouse ..."
                .to_string(),
        ));
    }
    let end = line.trim_end_matches('\n').trim_end_matches('\r').len();
    line.truncate(end);
    Ok(line)
}

/// A whole document from `file`, or from stdin when there is no file (or it is `-`).
pub(super) fn document(file: Option<&Path>, what: &str) -> Result<String, Failure> {
    match file {
        Some(path) if path != Path::new("-") => {
            read_text(path, what).map(|text| text.as_str().to_string())
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                // Waiting for typed XML is never what was meant.
                return Err(Failure::Usage(format!(
                    "give the {what} with --file FILE, or pipe it on stdin"
                )));
            }
            let mut text = String::new();
            stdin
                .lock()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read the {what} from stdin: {e}")))?;
            Ok(text)
        }
    }
}
