//! The message bytes of DATA, until `<CR><LF>.<CR><LF>`, and the dot-stuffing of the way
//! out. Reading: the message itself, until `<CR><LF>.<CR><LF>` — only that: a dot line ended by a
//! bare LF, or after a line ended by one, is data (else a message could be smuggled behind
//! another by a client that ends data differently from the server before us). Dot-unstuffing;
//! a line ends at LF (a CR before it is dropped, a bare CR elsewhere is data) and is kept with
//! CRLF. A bare LF refuses the message with 550 unless `smtp.bare_newline = "normalize"`.
//! Over the size limit the rest is read and dropped, and the message is refused with 552 (the
//! session stays usable).

use super::Reply;

/// Longest run without a line end kept waiting for its LF; past it the bytes are taken as
/// data (a line that long is no dot line), so memory stays bounded by the message limit.
const PARTIAL_LINE: usize = 64 * 1024;

/// The message is gathered in pieces of this size and put together once, at the end: a
/// buffer grown by doubling copies what came so far at each step (about twice a large
/// message in all) and ends up to twice the message's size, which a received message then
/// holds while it waits for a worker (20 sessions of 1.3 MB office mail: 13 MB of slack).
const PIECE: usize = 256 * 1024;

/// Reads message bytes up to the end-of-data line.
#[derive(Debug)]
pub struct DataReader {
    /// The piece being filled; `pieces` are the full ones before it.
    message: Vec<u8>,
    pieces: Vec<Vec<u8>>,
    /// Bytes in `pieces` and `message` together.
    held: usize,
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
            pieces: Vec::new(),
            held: 0,
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
        self.held
    }

    /// Take the message bytes held so far (the driver moves them to disk); what follows is
    /// appended to an empty buffer, and the size limit still counts the whole message.
    pub fn take(&mut self) -> Vec<u8> {
        self.held = 0;
        if self.pieces.is_empty() {
            return std::mem::take(&mut self.message);
        }
        let last = std::mem::take(&mut self.message);
        let mut whole = Vec::with_capacity(self.pieces.iter().map(Vec::len).sum::<usize>() + last.len());
        for piece in self.pieces.drain(..).chain(std::iter::once(last)) {
            whole.extend_from_slice(&piece);
        }
        whole
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
                self.pieces = Vec::new();
                self.held = 0;
            }
            return;
        }
        if self.message.len() + bytes.len() > self.message.capacity() && !self.message.is_empty() {
            let next = Vec::with_capacity(PIECE.max(bytes.len()));
            self.pieces.push(std::mem::replace(&mut self.message, next));
        }
        self.message.extend_from_slice(bytes);
        self.held += bytes.len();
    }

    /// The message, or the reply refusing it.
    pub fn finish(mut self) -> Result<Vec<u8>, Reply> {
        if self.bare_lf && self.reject_bare_lf {
            Err(Reply::new(550, "5.5.2 Error: bare <LF> received"))
        } else if self.oversize {
            Err(Reply::new(552, "5.3.4 Error: message size exceeds fixed limit"))
        } else {
            Ok(self.take())
        }
    }
}

/// The message with every line starting with `.` given another, ending in CRLF, then the
/// end-of-data line — as the pieces to send: whole runs of the message between line starts
/// with a dot (there are few), and the few bytes added. Nothing is copied.
pub fn stuffed_pieces(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    let lead: &[u8] = if message.first() == Some(&b'.') { b"." } else { b"" };
    // One scan for the line starts with a dot; the last one also says where the rest begins.
    let dots: Vec<usize> = memchr::memmem::find_iter(message, b"\n.").collect();
    let rest = dots.last().map_or(0, |at| at + 1);
    let mut from = 0;
    let runs = dots.into_iter().flat_map(move |at| {
        let run = &message[from..=at];
        from = at + 1;
        [run, b"."]
    });
    let crlf: &[u8] = if !message.is_empty() && !message.ends_with(b"\r\n") {
        b"\r\n"
    } else {
        b""
    };
    std::iter::once(lead)
        .chain(runs)
        .chain([&message[rest..], crlf, b".\r\n"])
        .filter(|piece| !piece.is_empty())
}

/// [`stuffed_pieces`] in one buffer.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for piece in stuffed_pieces(message) {
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_round_trips_through_the_session_reader() {
        let message = b".first\r\nmiddle\r\n..two\r\n.\r\nlast".to_vec();
        let stuffed = dot_stuff(&message);
        assert!(stuffed.ends_with(b"last\r\n.\r\n"));
        let mut reader = DataReader::new(1 << 20, true);
        let used = reader.feed(&stuffed);
        assert_eq!(used, stuffed.len());
        assert_eq!(reader.finish().unwrap(), b".first\r\nmiddle\r\n..two\r\n.\r\nlast\r\n");
    }

    #[test]
    fn a_message_of_many_pieces_comes_back_whole_and_to_its_size() {
        // 1.3 MB of 76-character lines, fed in network-sized reads, half of it taken on the
        // way (as a session spilling to disk does).
        let line = [b'Q'; 76];
        let mut message = Vec::new();
        while message.len() < 1_300_000 {
            message.extend_from_slice(&line);
            message.extend_from_slice(b"\r\n");
        }
        let mut wire = message.clone();
        wire.extend_from_slice(b".\r\n");
        let mut reader = DataReader::new(1 << 30, true);
        let mut taken = Vec::new();
        let mut input = Vec::new();
        for read in wire.chunks(65_536) {
            // What a read leaves of a line waits for the next one, as in the session.
            input.extend_from_slice(read);
            let used = reader.feed(&input);
            input.drain(..used);
            if taken.is_empty() && reader.held() > 600_000 {
                taken = reader.take();
                assert_eq!(reader.held(), 0);
            }
        }
        assert!(reader.is_done() && input.is_empty() && !taken.is_empty());
        assert_eq!(reader.held(), message.len() - taken.len());
        let rest = reader.finish().unwrap();
        assert_eq!(rest.len(), rest.capacity());
        assert_eq!([taken, rest].concat(), message);
        // Over the limit: refused, and nothing of it held.
        let mut small = DataReader::new(500_000, true);
        small.feed(&wire);
        assert_eq!(small.held(), 0);
        assert_eq!(small.finish().unwrap_err().code, 552);
    }

    #[test]
    fn dot_stuffing_matches_a_line_by_line_reference() {
        fn reference(message: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut at_line_start = true;
            for &b in message {
                if at_line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                at_line_start = b == b'\n';
            }
            if !message.is_empty() && !message.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        let cases: [&[u8]; 8] = [
            b"",
            b".",
            b"\n.",
            b"a\r\n",
            b"..\r\n.\r\n..",
            b"x\n.\n.\n.y",
            b"no dots",
            b".a\r\nb\r\n.c",
        ];
        for case in cases {
            assert_eq!(dot_stuff(case), reference(case), "{:?}", String::from_utf8_lossy(case));
        }
    }
}
