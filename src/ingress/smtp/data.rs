//! DATA: the message itself, until `<CR><LF>.<CR><LF>` — only that: a dot line ended by a
//! bare LF, or after a line ended by one, is data (else a message could be smuggled behind
//! another by a client that ends data differently from the server before us). Dot-unstuffing;
//! a line ends at LF (a CR before it is dropped, a bare CR elsewhere is data) and is kept with
//! CRLF. A bare LF refuses the message with 550 unless `smtp.bare_newline = "normalize"`.
//! Over the size limit the rest is read and dropped, and the message is refused with 552 (the
//! session stays usable).

use super::session::Session;
use super::Reply;

/// Longest run without a line end kept waiting for its LF; past it the bytes are taken as
/// data (a line that long is no dot line), so memory stays bounded by the message limit.
const PARTIAL_LINE: usize = 64 * 1024;

impl Session {
    pub(super) fn data(&mut self, args: &str) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            self.reply(503, "5.5.1 Error: need RCPT command");
            return false;
        };
        if tx.rcpt_to.is_empty() {
            self.reply(554, "5.5.1 Error: no valid recipients");
            return false;
        }
        if !args.is_empty() {
            self.reply(501, "5.5.4 Syntax: DATA");
            return false;
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>");
        self.start_data();
        true
    }
}

/// Reads message bytes up to the end-of-data line.
#[derive(Debug)]
pub struct DataReader {
    message: Vec<u8>,
    max: u64,
    size: u64,
    oversize: bool,
    /// The next byte continues a line (a long line taken in pieces): no dot check.
    mid_line: bool,
    /// The last line ended with CRLF (the DATA command's did): a dot line may end the data.
    after_crlf: bool,
    /// A line ended by a bare LF was seen; with `reject`, the message is refused.
    bare_lf: bool,
    reject_bare_lf: bool,
    done: bool,
}

impl DataReader {
    pub fn new(max: u64, reject_bare_lf: bool) -> Self {
        DataReader {
            // Most mail is tens to hundreds of KiB: start there instead of growing from
            // nothing (each growth copies what came so far).
            message: Vec::with_capacity(usize::try_from(max).unwrap_or(usize::MAX).min(64 << 10)),
            max,
            size: 0,
            oversize: false,
            mid_line: false,
            after_crlf: true,
            bare_lf: false,
            reject_bare_lf,
            done: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Message bytes held now.
    pub fn held(&self) -> usize {
        self.message.len()
    }

    /// Take the message bytes held so far (the driver moves them to disk); what follows is
    /// appended to an empty buffer, and the size limit still counts the whole message.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    /// Take what can be taken from `input`; returns how many bytes were used.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut used = 0;
        while !self.done && used < input.len() {
            let rest = &input[used..];
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    let mut line = &rest[..end];
                    let crlf = line.last() == Some(&b'\r');
                    if crlf {
                        line = &line[..line.len() - 1];
                    } else {
                        self.bare_lf = true;
                    }
                    used += end + 1;
                    if !self.mid_line && line == b"." && crlf && self.after_crlf {
                        self.done = true;
                        break;
                    }
                    // A lone dot that did not end the data is kept as it is (it is data).
                    if !self.mid_line && line.first() == Some(&b'.') && line.len() > 1 {
                        line = &line[1..];
                    }
                    self.append(line);
                    self.append(b"\r\n");
                    self.mid_line = false;
                    self.after_crlf = crlf;
                }
                None if rest.len() > PARTIAL_LINE => {
                    // Keep a trailing CR back: it may be the first half of CRLF.
                    let take = if rest.last() == Some(&b'\r') {
                        rest.len() - 1
                    } else {
                        rest.len()
                    };
                    let mut piece = &rest[..take];
                    if !self.mid_line && piece.first() == Some(&b'.') {
                        piece = &piece[1..];
                    }
                    self.append(piece);
                    self.mid_line = true;
                    used += take;
                    break;
                }
                None => break,
            }
        }
        used
    }

    fn append(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.max {
            if !self.oversize {
                self.oversize = true;
                self.message = Vec::new();
            }
            return;
        }
        self.message.extend_from_slice(bytes);
    }

    /// The message, or the reply refusing it.
    pub fn finish(self) -> Result<Vec<u8>, Reply> {
        if self.bare_lf && self.reject_bare_lf {
            Err(Reply::new(550, "5.5.2 Error: bare <LF> received"))
        } else if self.oversize {
            Err(Reply::new(552, "5.3.4 Error: message size exceeds fixed limit"))
        } else {
            Ok(self.message)
        }
    }
}
