//! Fuzz the SMTP session state machine: arbitrary client bytes, fed in pieces whose sizes
//! come from the input, with a next hop that accepts or refuses by the input too. Never a
//! panic; the unconsumed input stays bounded; every reply is one well-formed SMTP reply; a
//! message handed over never exceeds the size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::ingress::smtp::{Reply, Session, SessionLimits, Step};

const MAX_LINE: usize = 512;
const MAX_MESSAGE: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let mut session = Session::new(SessionLimits {
        hostname: "fuzz".into(),
        max_line_bytes: MAX_LINE,
        max_message_bytes: MAX_MESSAGE,
        max_recipients: 5,
        max_commands: 200,
        starttls: control & 1 == 1,
        reject_bare_lf: control & 2 == 2,
    });
    let piece = 1 + (control as usize >> 1) % 64;
    let mut answers = 0u32;
    for chunk in input.chunks(piece) {
        session.push(chunk);
        loop {
            match session.step() {
                Step::Reply(r) => {
                    let bytes = r.to_bytes();
                    assert!(bytes.ends_with(b"\r\n") && (200..600).contains(&r.code));
                    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), r.lines.len().max(1));
                }
                Step::Reset => {}
                Step::NeedInput => break,
                Step::Mail(..) | Step::Rcpt(_) => {
                    answers += 1;
                    let ok = (control >> (answers % 8)) & 1 == 0;
                    session.answer(Reply::new(if ok { 250 } else { 550 }, "x"));
                }
                Step::Data(tx) => {
                    assert!(tx.message.len() as u64 <= MAX_MESSAGE);
                    session.answer(Reply::new(250, "2.0.0 Ok"));
                }
                Step::StartTls | Step::Close => return,
            }
        }
        // Command mode keeps at most one line's worth; data mode at most a partial line.
        assert!(session.input_len() <= MAX_LINE.max(64 * 1024) + piece);
    }
});
