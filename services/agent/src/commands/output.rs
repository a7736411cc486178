//! What commands print: script and command lines cleaned like Go's `CleanString` and kept per stream up
//! to a cap, past which the rest is counted and announced by a marker line instead of silently vanishing;
//! and the complete output of short helper programs (systemctl, dpkg-query).

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::mpsc;

use super::exec::Pipe;

/// The line that ends a stream whose output was cut at `limit` bytes, `dropped` bytes later.
pub fn truncation_marker(limit: usize, dropped: usize) -> String {
    format!("[trmm-agent: output truncated at {limit} bytes; {dropped} more bytes were dropped]\n")
}

/// One stream's kept text and how much was dropped past the cap.
#[derive(Default)]
struct Capped {
    text: String,
    dropped: usize,
}

impl Capped {
    fn push_line(&mut self, line: &str, max: usize) {
        let need = line.len() + 1;
        if self.dropped == 0 && self.text.len() + need <= max {
            self.text.push_str(line);
            self.text.push('\n');
            return;
        }
        if self.dropped == 0 {
            // The first line that does not fit is kept up to the limit, cut on a character boundary.
            let mut cut = max.saturating_sub(self.text.len()).min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&line[..cut]);
            self.dropped = need - cut;
        } else {
            self.dropped += need;
        }
    }

    fn finish(&mut self, max: usize) {
        if self.dropped > 0 {
            if !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push('\n');
            }
            self.text.push_str(&truncation_marker(max, self.dropped));
        }
    }
}

pub(super) struct Collected {
    pub(super) stdout: String,
    pub(super) stderr: String,
    out: Capped,
    err: Capped,
    max: usize,
    lines: Option<mpsc::Sender<(Pipe, String)>>,
}

impl Collected {
    pub(super) fn new(lines: Option<mpsc::Sender<(Pipe, String)>>, max: usize) -> Collected {
        Collected {
            stdout: String::new(),
            stderr: String::new(),
            out: Capped::default(),
            err: Capped::default(),
            max,
            lines,
        }
    }

    pub(super) async fn push(&mut self, pipe: Pipe, bytes: &[u8]) {
        let line = clean(bytes);
        match pipe {
            Pipe::Stdout => self.out.push_line(&line, self.max),
            Pipe::Stderr => self.err.push_line(&line, self.max),
        }
        if let Some(tx) = &self.lines {
            if tx.send((pipe, line)).await.is_err() {
                self.lines = None;
            }
        }
    }

    /// Moves the capped text (with any truncation marker) into `stdout`/`stderr`; later pushes are lost,
    /// and notices appended afterwards (timeout, stopping) always survive the cap.
    pub(super) fn finish(&mut self) {
        self.out.finish(self.max);
        self.err.finish(self.max);
        self.stdout = std::mem::take(&mut self.out.text);
        self.stderr = std::mem::take(&mut self.err.text);
    }
}

/// Go's `CleanString`: drop NULs and bytes that are not valid UTF-8 (valid U+FFFD characters stay).
pub fn clean(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().chars().filter(|&c| c != '\0'));
    }
    out
}

/// What a helper program printed, cleaned like command output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// Exit code (-1 when killed by a signal).
    pub exit_code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs a short-lived helper (systemctl, dpkg-query) to completion with all of its output, which may be
/// larger than the script cap. Err when it cannot start or outlives `timeout`; it is killed then.
pub async fn capture(program: &std::path::Path, args: &[&str], timeout: Duration) -> Result<Captured, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(out)) => Ok(Captured {
            exit_code: out.status.code().unwrap_or(-1),
            stdout: clean(&out.stdout),
            stderr: clean(&out.stderr),
        }),
        Ok(Err(e)) => Err(format!("{}: {e}", program.display())),
        Err(_) => Err(format!(
            "{} did not finish within {} seconds",
            program.display(),
            timeout.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_nul_and_invalid_utf8() {
        assert_eq!(clean(b"a\0b\xffc"), "abc");
        assert_eq!(clean("é\u{fffd}".as_bytes()), "é\u{fffd}");
        assert_eq!(clean(b"\xc3"), "");
    }

    #[test]
    fn the_cap_cuts_on_a_character_boundary() {
        let mut capped = Capped::default();
        capped.push_line("ab", 5);
        capped.push_line("éé", 5);
        capped.push_line("more", 5);
        capped.finish(5);
        // "ab\n" (3) + "é" (2) kept; the second "é" and "\n" (3) and "more\n" (5) dropped.
        assert_eq!(capped.text, format!("ab\né\n{}", truncation_marker(5, 8)));
    }
}
