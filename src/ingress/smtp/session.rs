//! One SMTP session as a state machine over bytes. The driver feeds what it read
//! ([`Session::push`]) and asks for the next step ([`Session::step`]) until it must read
//! again; steps that need the outside world (the next hop, the disarm pipeline) wait for
//! [`Session::answer`]. Nothing here touches a socket or a clock, so every behaviour is
//! tested by feeding bytes.

use std::collections::VecDeque;

use crate::smtp::dot::DataReader;
use crate::smtp::{MailFrom, RcptTo, Reply};

/// Bounds of one session (from `[smtp]` and `mail.max_message_bytes`).
#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub hostname: String,
    pub max_line_bytes: usize,
    pub max_message_bytes: u64,
    pub max_recipients: usize,
    pub max_commands: u64,
    /// STARTTLS is offered (a certificate is configured and the session is not yet TLS).
    pub starttls: bool,
    /// Lines ended by a bare LF are refused (`smtp.bare_newline = "reject"`).
    pub reject_bare_lf: bool,
}

/// A complete message, ready for the pipeline and the next hop.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    pub mail_from: MailFrom,
    /// The recipients the next hop accepted.
    pub rcpt_to: Vec<RcptTo>,
    /// XFORWARD attributes the client gave (upper-case names), passed on when the next hop
    /// offers XFORWARD.
    pub xforward: Vec<(String, String)>,
    /// The message, dot-unstuffed, CRLF line endings.
    pub message: Vec<u8>,
}

/// What the driver does next.
#[derive(Debug)]
pub enum Step {
    /// Send this reply (may be buffered until `NeedInput`: PIPELINING).
    Reply(Reply),
    /// Flush the replies and read more from the client.
    NeedInput,
    /// Open (or reuse) the next hop session, pass on the XFORWARD attributes given for this
    /// transaction, and start it with this sender; then [`Session::answer`].
    Mail(MailFrom, Vec<(String, String)>),
    /// Ask the next hop about this recipient; then [`Session::answer`].
    Rcpt(RcptTo),
    /// Disarm the message and send it to the next hop; then [`Session::answer`] with the reply
    /// to give the client (250 only when the next hop said 250).
    Data(Box<Transaction>),
    /// The transaction ended without a message (RSET, HELO, QUIT, an oversize message): abandon
    /// the next hop's side (RSET there).
    Reset,
    /// Send what is pending (the 220), then do the TLS handshake and continue with a new
    /// session over TLS (the client says EHLO again).
    StartTls,
    /// Send what is pending and close the connection.
    Close,
}

#[derive(Debug)]
enum State {
    Command,
    Data(DataReader),
    Closed,
}

#[derive(Debug)]
enum Waiting {
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
}

/// The open transaction: MAIL accepted by the next hop, recipients so far.
#[derive(Debug)]
pub(super) struct Tx {
    pub(super) mail_from: MailFrom,
    pub(super) rcpt_to: Vec<RcptTo>,
    /// RCPT commands answered (accepted or not), for the recipient limit.
    pub(super) rcpt_tried: usize,
}

/// Too many bad commands in a row closes the session (a client that is not speaking SMTP).
const MAX_ERRORS: u32 = 20;

pub struct Session {
    pub(super) limits: SessionLimits,
    input: Vec<u8>,
    /// Skipping the rest of an overlong command line.
    discarding: bool,
    state: State,
    pub(super) helo: Option<String>,
    pub(super) esmtp: bool,
    pub(super) tx: Option<Tx>,
    pub(super) xforward: Vec<(String, String)>,
    commands: u64,
    errors: u32,
    queue: VecDeque<Step>,
    waiting: Option<Waiting>,
}

impl Session {
    pub fn new(limits: SessionLimits) -> Self {
        Session {
            limits,
            input: Vec::new(),
            discarding: false,
            state: State::Command,
            helo: None,
            esmtp: false,
            tx: None,
            xforward: Vec::new(),
            commands: 0,
            errors: 0,
            queue: VecDeque::new(),
            waiting: None,
        }
    }

    /// The greeting to send when the connection opens.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, format!("{} ESMTP mugai", self.limits.hostname))
    }

    /// What to tell a client whose session ends because the daemon stops.
    pub fn shutting_down(&mut self) -> Reply {
        self.state = State::Closed;
        Reply::new(421, "4.3.2 Service shutting down, try again later")
    }

    /// Bytes the client sent.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes received and not yet used (bounded by the line limit in command mode).
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Whether a message is being received or waited on (shutdown lets these finish).
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Data(_)) || self.waiting.is_some()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    pub(super) fn queue(&mut self, step: Step) {
        self.queue.push_back(step);
    }

    pub(super) fn reply(&mut self, code: u16, text: impl Into<String>) {
        self.queue.push_back(Step::Reply(Reply::new(code, text)));
    }

    /// End the open transaction, telling the driver to abandon the next hop's side.
    pub(super) fn end_transaction(&mut self) {
        if self.tx.take().is_some() {
            self.queue.push_back(Step::Reset);
        }
    }

    /// The next thing to do.
    /// Bytes of the message being received that this session holds now (0 outside DATA).
    pub fn data_held(&self) -> usize {
        match &self.state {
            State::Data(reader) => reader.held(),
            _ => 0,
        }
    }

    /// Take the message bytes received so far, for the driver to keep elsewhere (on disk,
    /// when the daemon's message memory is spent); the transaction handed over at the end
    /// of DATA then holds only what came after.
    pub fn take_data(&mut self) -> Vec<u8> {
        match &mut self.state {
            State::Data(reader) => reader.take(),
            _ => Vec::new(),
        }
    }

    pub fn step(&mut self) -> Step {
        loop {
            if let Some(step) = self.queue.pop_front() {
                return step;
            }
            if self.waiting.is_some() {
                // The driver answers before asking again; until then there is nothing to do.
                return Step::NeedInput;
            }
            match &mut self.state {
                State::Closed => return Step::Close,
                State::Data(reader) => {
                    let consumed = reader.feed(&self.input);
                    self.input.drain(..consumed);
                    if !reader.is_done() {
                        return Step::NeedInput;
                    }
                    let reader = match std::mem::replace(&mut self.state, State::Command) {
                        State::Data(r) => r,
                        _ => unreachable!("state was Data"),
                    };
                    self.data_done(reader);
                }
                State::Command => {
                    let Some(line) = self.take_line() else {
                        return Step::NeedInput;
                    };
                    self.command(&line);
                }
            }
        }
    }

    /// A complete command line, if there is one (an overlong one is answered and skipped).
    fn take_line(&mut self) -> Option<Vec<u8>> {
        loop {
            match memchr::memchr(b'\n', &self.input) {
                Some(end) => {
                    let mut line: Vec<u8> = self.input.drain(..=end).collect();
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    } else if self.limits.reject_bare_lf {
                        self.reply(500, "5.5.2 Error: bare <LF> received");
                        continue;
                    }
                    if line.len() > self.limits.max_line_bytes {
                        self.reply(500, "5.5.2 Error: line too long");
                        continue;
                    }
                    return Some(line);
                }
                None => {
                    if self.input.len() > self.limits.max_line_bytes {
                        if !self.discarding {
                            self.reply(500, "5.5.2 Error: line too long");
                        }
                        self.discarding = true;
                        self.input.clear();
                    }
                    return None;
                }
            }
        }
    }

    fn command(&mut self, line: &[u8]) {
        self.commands += 1;
        if self.commands > self.limits.max_commands {
            self.reply(421, "4.7.0 Error: too many commands");
            self.close();
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (verb, args) = match text.find(' ') {
            Some(i) => (&text[..i], text[i + 1..].trim()),
            None => (text.as_ref(), ""),
        };
        let verb = verb.to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" => self.ehlo(args, true),
            "HELO" => self.ehlo(args, false),
            "MAIL" => self.mail(args, line),
            "RCPT" => self.rcpt(args, line),
            "DATA" => self.data(args),
            "RSET" => self.rset(),
            "NOOP" => self.noop(),
            "QUIT" => self.quit(),
            "VRFY" => self.vrfy(),
            "HELP" => self.help(),
            "XFORWARD" => self.xforward(args),
            "STARTTLS" => self.starttls(args),
            _ => {
                self.reply(502, "5.5.2 Error: command not recognized");
                false
            }
        };
        if ok {
            self.errors = 0;
        } else {
            self.errors += 1;
            if self.errors > MAX_ERRORS {
                self.reply(421, "4.7.0 Error: too many errors");
                self.close();
            }
        }
    }

    /// After STARTTLS nothing more is read in the clear: what the client pipelined behind
    /// the command is thrown away (RFC 3207 5; the CVE-2011-0411 class of injection).
    pub(super) fn begin_tls(&mut self) {
        self.input.clear();
        self.end_transaction();
        self.xforward.clear();
        self.queue.push_back(Step::StartTls);
        self.state = State::Closed;
    }

    pub(super) fn close(&mut self) {
        self.end_transaction();
        self.state = State::Closed;
    }

    pub(super) fn start_data(&mut self) {
        self.state = State::Data(DataReader::new(
            self.limits.max_message_bytes,
            self.limits.reject_bare_lf,
        ));
    }

    pub(super) fn wait_mail(&mut self, from: MailFrom) {
        self.waiting = Some(Waiting::Mail(from.clone()));
        self.queue.push_back(Step::Mail(from, self.xforward.clone()));
    }

    pub(super) fn wait_rcpt(&mut self, to: RcptTo) {
        self.waiting = Some(Waiting::Rcpt(to.clone()));
        self.queue.push_back(Step::Rcpt(to));
    }

    fn data_done(&mut self, reader: DataReader) {
        match reader.finish() {
            Err(reply) => {
                self.queue.push_back(Step::Reply(reply));
                self.end_transaction();
                self.xforward.clear();
            }
            Ok(message) => {
                let Some(tx) = self.tx.as_ref() else {
                    self.reply(503, "5.5.1 Error: no transaction");
                    return;
                };
                let transaction = Transaction {
                    mail_from: tx.mail_from.clone(),
                    rcpt_to: tx.rcpt_to.clone(),
                    xforward: self.xforward.clone(),
                    message,
                };
                self.waiting = Some(Waiting::Data);
                self.queue.push_back(Step::Data(Box::new(transaction)));
            }
        }
    }

    /// The outside world's answer to the last `Mail`, `Rcpt` or `Data` step: the reply the
    /// client gets.
    pub fn answer(&mut self, reply: Reply) {
        match self.waiting.take() {
            Some(Waiting::Mail(from)) if reply.is_positive() => {
                self.tx = Some(Tx {
                    mail_from: from,
                    rcpt_to: Vec::new(),
                    rcpt_tried: 0,
                });
            }
            Some(Waiting::Mail(_)) => {}
            Some(Waiting::Rcpt(to)) => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.rcpt_tried += 1;
                    if reply.is_positive() {
                        tx.rcpt_to.push(to);
                    }
                }
            }
            Some(Waiting::Data) => {
                // Whatever the outcome, the transaction is over on both sides (the driver
                // has finished or abandoned the next hop's).
                self.tx = None;
                self.xforward.clear();
            }
            None => {}
        }
        self.queue.push_back(Step::Reply(reply));
    }
}
