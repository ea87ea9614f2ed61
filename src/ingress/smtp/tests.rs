//! Session tests without sockets: bytes in, steps out. The "next hop" here is a closure that
//! accepts everything except recipients starting with `bad`.

use super::*;

fn limits() -> SessionLimits {
    SessionLimits {
        hostname: "mugai.test".into(),
        max_line_bytes: 512,
        max_message_bytes: 10_000,
        max_recipients: 3,
        max_commands: 100,
        starttls: false,
        reject_bare_lf: false,
    }
}

/// What a driver saw: the replies in order, the transactions handed over, resets, close.
#[derive(Default, Debug)]
struct Seen {
    replies: Vec<String>,
    messages: Vec<Transaction>,
    resets: usize,
    closed: bool,
    starttls: bool,
}

impl Seen {
    fn codes(&self) -> Vec<u16> {
        self.replies.iter().map(|r| r[..3].parse().unwrap()).collect()
    }
}

/// Feed `input` in one piece and run the session until it needs more input or closes.
fn drive(session: &mut Session, input: &[u8], seen: &mut Seen) {
    session.push(input);
    loop {
        match session.step() {
            Step::Reply(r) => seen.replies.push(String::from_utf8(r.to_bytes()).unwrap()),
            Step::NeedInput => return,
            Step::Mail(_, _) => session.answer(Reply::new(250, "2.1.0 Ok")),
            Step::Rcpt(to) => {
                if to.address.starts_with("bad") {
                    session.answer(Reply::new(550, "5.1.1 User unknown"))
                } else {
                    session.answer(Reply::new(250, "2.1.5 Ok"))
                }
            }
            Step::Data(tx) => {
                seen.messages.push(*tx);
                session.answer(Reply::new(250, "2.0.0 Ok: queued as NEXT1"));
            }
            Step::Reset => seen.resets += 1,
            Step::StartTls => {
                seen.starttls = true;
                return;
            }
            Step::Close => {
                seen.closed = true;
                return;
            }
        }
    }
}

fn run(input: &[u8]) -> Seen {
    let mut s = Session::new(limits());
    let mut seen = Seen::default();
    drive(&mut s, input, &mut seen);
    seen
}

#[test]
fn every_verb_in_one_session() {
    let seen = run(b"EHLO client.example\r\nHELP\r\nNOOP\r\nVRFY postmaster\r\n\
        MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.lg.jp>\r\nDATA\r\n\
        Subject: hi\r\n\r\nbody\r\n.\r\nRSET\r\nHELO again\r\nQUIT\r\n");
    assert_eq!(seen.codes(), [250, 214, 250, 252, 250, 250, 354, 250, 250, 250, 221]);
    assert!(seen.replies[0].starts_with("250-mugai.test\r\n"));
    for ext in [
        "PIPELINING",
        "SIZE 10000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "XFORWARD NAME ADDR",
    ] {
        assert!(seen.replies[0].contains(ext), "{ext} not offered");
    }
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.messages[0].message, b"Subject: hi\r\n\r\nbody\r\n");
    assert!(seen.closed);
}

#[test]
fn pipelined_commands_get_replies_in_order() {
    let mut s = Session::new(limits());
    let mut seen = Seen::default();
    drive(&mut s, b"EHLO c\r\n", &mut seen);
    drive(
        &mut s,
        b"MAIL FROM:<a@x> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nRCPT TO:<bad@y>\r\nRCPT TO:<c@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@y\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
        &mut seen,
    );
    assert_eq!(seen.codes(), [250, 250, 250, 550, 250, 354, 250, 221]);
    let tx = &seen.messages[0];
    assert!(tx.mail_from.eight_bit);
    let rcpts: Vec<&str> = tx.rcpt_to.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, ["b@y", "c@y"], "the refused recipient is not in the transaction");
    assert_eq!(tx.rcpt_to[1].notify.as_deref(), Some("SUCCESS,FAILURE"));
    assert_eq!(tx.rcpt_to[1].orcpt.as_deref(), Some("rfc822;c@y"));
}

#[test]
fn bad_sequences_are_503_and_the_session_goes_on() {
    let seen = run(
        b"MAIL FROM:<a@b>\r\nEHLO c\r\nRCPT TO:<b@c>\r\nDATA\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n\
        XFORWARD ADDR=192.0.2.1\r\nDATA\r\nRCPT TO:<bad@c>\r\nDATA\r\nNOOP\r\n",
    );
    assert_eq!(seen.codes(), [503, 250, 503, 503, 250, 503, 503, 554, 550, 554, 250]);
    assert!(seen.messages.is_empty());
}

#[test]
fn syntax_errors_and_unknown_commands() {
    let seen = run(b"EHLO\r\nHELO c\r\nMAIL TO:<a@b>\r\nMAIL FROM:<a@b> FOO=1\r\nMAIL FROM:<a@b> SIZE=x\r\nBDAT 10\r\nSTARTTLS\r\n");
    assert_eq!(seen.codes(), [501, 250, 501, 555, 501, 502, 502]);
}

#[test]
fn oversize_line_and_message_are_refused_and_the_session_stays_sane() {
    let mut input = b"EHLO c\r\n".to_vec();
    input.extend(vec![b'A'; 600]);
    input.extend_from_slice(b"\r\nNOOP\r\nMAIL FROM:<a@b> SIZE=20000\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    for _ in 0..200 {
        input.extend_from_slice(&[b'x'; 98]);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nsmall\r\n.\r\n");
    let seen = run(&input);
    assert_eq!(
        seen.codes(),
        [250, 500, 250, 552, 250, 250, 354, 552, 250, 250, 354, 250]
    );
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.messages[0].message, b"small\r\n");
    assert_eq!(seen.resets, 1, "the oversize transaction is abandoned at the next hop");
}

#[test]
fn a_line_without_end_cannot_grow_the_buffer() {
    let mut s = Session::new(limits());
    let mut seen = Seen::default();
    drive(&mut s, b"EHLO c\r\n", &mut seen);
    for _ in 0..100 {
        drive(&mut s, &[b'z'; 1000], &mut seen);
    }
    assert!(s.input_len() <= 1024);
    drive(&mut s, b"\r\nNOOP\r\n", &mut seen);
    assert_eq!(seen.codes(), [250, 500, 250]);
}

#[test]
fn eight_bit_and_smtputf8_addresses() {
    let seen = run("EHLO c\r\nMAIL FROM:<田中@例え.jp>\r\nMAIL FROM:<田中@例え.jp> SMTPUTF8\r\nRCPT TO:<佐藤@例え.jp>\r\nDATA\r\n本文\r\n.\r\n"
        .as_bytes());
    assert_eq!(seen.codes(), [250, 553, 250, 250, 354, 250]);
    assert!(seen.messages[0].mail_from.smtputf8);
    assert_eq!(seen.messages[0].rcpt_to[0].address, "佐藤@例え.jp");
    assert_eq!(seen.messages[0].message, "本文\r\n".as_bytes());
}

#[test]
fn xforward_is_kept_for_one_message_and_reset_after_it() {
    let seen = run(
        b"EHLO c\r\nXFORWARD NAME=mx.example.net ADDR=192.0.2.10\r\nXFORWARD PROTO=ESMTP HELO=mx\r\n\
        XFORWARD BOGUS=1\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n1\r\n.\r\n\
        MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n2\r\n.\r\n\
        XFORWARD ADDR=192.0.2.99\r\nRSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n3\r\n.\r\n",
    );
    assert_eq!(seen.codes()[..4], [250, 250, 250, 501]);
    let names: Vec<&str> = seen.messages[0].xforward.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["NAME", "ADDR", "PROTO", "HELO"]);
    assert!(seen.messages[1].xforward.is_empty(), "reset after each message");
    assert!(seen.messages[2].xforward.is_empty(), "reset by RSET");
}

#[test]
fn dot_stuffing_and_line_endings() {
    // Under `smtp.bare_newline = "normalize"` (these limits): a bare LF is a line end.
    let seen =
        run(b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<c@d>\r\nDATA\r\n..leading dot\r\n...\r\nbare lf\nbare\rcr\r\n.\r\n");
    assert_eq!(seen.messages[0].mail_from.address, "");
    assert_eq!(
        seen.messages[0].message,
        b".leading dot\r\n..\r\nbare lf\r\nbare\rcr\r\n"
    );
    // But only CRLF.CRLF ends the data: a dot line ended by a bare LF, or after a line
    // ended by one, is data, so nothing behind it is read as a command.
    let seen = run(b"EHLO c\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nx\n.\nNOOP\n.\r\nMAIL FROM:<e@f>\r\n.\r\n");
    assert_eq!(seen.codes(), [250, 250, 250, 354, 250]);
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.messages[0].message, b"x\r\n.\r\nNOOP\r\n.\r\nMAIL FROM:<e@f>\r\n");
    let seen = run(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\n.\r\nMAIL FROM:<e@f>\r\n.\r\n");
    assert_eq!(seen.codes(), [250, 250, 250, 354, 250]);
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.messages[0].message, b"x\r\n.\r\nMAIL FROM:<e@f>\r\n");
}

#[test]
fn bare_lf_is_refused_by_default() {
    let mut s = Session::new(SessionLimits {
        reject_bare_lf: true,
        ..limits()
    });
    let mut seen = Seen::default();
    drive(
        &mut s,
        b"EHLO c\r\nNOOP\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\n.\nMAIL FROM:<e@f>\r\n.\r\nNOOP\r\n",
        &mut seen,
    );
    // The command with a bare LF is refused; the message with one is refused as a whole,
    // and its smuggled "commands" were data.
    assert_eq!(seen.codes(), [250, 500, 250, 250, 354, 550, 250]);
    assert!(seen.messages.is_empty());
}

#[test]
fn data_split_anywhere_gives_the_same_message() {
    let body = b"line one\r\n.dot\r\n\r\nlast\r\n.\r\n";
    let head = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
    for cut in 0..body.len() {
        let mut s = Session::new(limits());
        let mut seen = Seen::default();
        drive(&mut s, head, &mut seen);
        drive(&mut s, &body[..cut], &mut seen);
        drive(&mut s, &body[cut..], &mut seen);
        assert_eq!(seen.messages.len(), 1, "cut at {cut}");
        assert_eq!(
            seen.messages[0].message, b"line one\r\ndot\r\n\r\nlast\r\n",
            "cut at {cut}"
        );
    }
}

#[test]
fn recipient_and_command_limits() {
    let seen =
        run(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@d>\r\nRCPT TO:<2@d>\r\nRCPT TO:<3@d>\r\nRCPT TO:<4@d>\r\n");
    assert_eq!(seen.codes(), [250, 250, 250, 250, 250, 452]);
    let many = b"NOOP\r\n".repeat(101);
    let seen = run(&many);
    assert_eq!(seen.codes().last(), Some(&421));
    assert!(seen.closed);
    assert_eq!(seen.replies.len(), 101);
}

#[test]
fn quit_abandons_an_open_transaction() {
    let seen = run(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(seen.codes(), [250, 250, 250, 221]);
    assert_eq!(seen.resets, 1);
    assert!(seen.closed);
}

#[test]
fn starttls_is_offered_only_with_a_certificate_and_drops_pipelined_input() {
    let seen = run(b"EHLO c\r\nSTARTTLS\r\n");
    assert!(!seen.replies[0].contains("STARTTLS"));
    assert_eq!(seen.codes(), [250, 502]);

    let mut s = Session::new(SessionLimits {
        starttls: true,
        ..limits()
    });
    let mut seen = Seen::default();
    drive(
        &mut s,
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\nRCPT TO:<injected@x>\r\n",
        &mut seen,
    );
    assert!(seen.replies[0].contains("250 STARTTLS") || seen.replies[0].contains("250-STARTTLS"));
    assert_eq!(seen.codes(), [250, 250, 220]);
    assert!(seen.starttls);
    assert_eq!(seen.resets, 1, "the open transaction is abandoned");
    assert_eq!(s.input_len(), 0, "what came after STARTTLS in the clear is gone");
}
