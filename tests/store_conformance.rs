//! One conformance suite for every ledger backend: what the pipeline and the HTTP side rely
//! on, through the `Ledger` trait only — rows read back as written, retention, the approval
//! state machine, jobs surviving a restart, password tries counted atomically. It runs
//! against the embedded SQLite ledger and against PostgreSQL (a private server the test
//! starts: its own data directory, a loopback port); `blob_conformance` likewise for the blob
//! stores (files here, an S3-compatible store in scale-out).

use mugai::store::{
    Asked, FileBlobs, FileKind, JobResult, JobRow, Ledger, MessageQuery, MessageRow, Messages, OriginalStore, Outcome,
    PartRow, PgLedger, ReleaseState, S3Blobs, S3Config, SqliteLedger,
};
use sha2::{Digest, Sha256};

mod common;
use common::servers::{Moto, Postgres};

fn message(id: &str, created: u64, expires: u64) -> MessageRow {
    MessageRow {
        id: id.into(),
        message_id: Some(format!("<{id}@example.jp>")),
        mail_from: "a@example.jp".into(),
        rcpt_to: vec!["b@example.lg.jp".into(), "c@example.lg.jp".into()],
        blob: format!("blob-{id}"),
        size: 1234,
        created,
        expires,
        outcome: None,
        report: None,
        subject: None,
    }
}

fn part(id: &str, message: &str, created: u64, expires: u64) -> PartRow {
    PartRow {
        id: id.into(),
        message: message.into(),
        path: "2".into(),
        name: Some("見積書.zip".into()),
        kind: FileKind::Zip,
        outcome: Outcome::Held,
        reason: Some("encrypted".into()),
        original_blob: format!("orig-{id}"),
        original_size: 99,
        clean_blob: None,
        clean_name: None,
        report: "{}".into(),
        created,
        expires,
    }
}

/// An unfinished API job accepted at `created`, kept a day.
fn job(id: &str, name: Option<&str>, created: u64) -> JobRow {
    JobRow {
        id: id.into(),
        name: name.map(str::to_owned),
        input_blob: format!("in-{id}"),
        outcome: None,
        report: None,
        clean_blob: None,
        clean_name: None,
        media_type: None,
        created,
        expires: created + 86_400,
        callback: None,
    }
}

/// Everything a backend must do, at time `t0`.
fn conformance(ledger: &dyn Ledger) {
    let t0 = 1_800_000_000;
    let day = 86_400;

    // Messages: written, finished, read back whole; unknown ids are None, not errors.
    let m = message("m1", t0, t0 + 30 * day);
    ledger.insert_message(&m).expect("insert message");
    assert_eq!(ledger.message("m1").expect("read"), Some(m.clone()));
    ledger
        .finish_message("m1", Outcome::Disarmed, "{\"r\":1}")
        .expect("finish");
    let done = ledger.message("m1").expect("read").expect("row");
    assert_eq!(
        (done.outcome, done.report.as_deref()),
        (Some(Outcome::Disarmed), Some("{\"r\":1}"))
    );
    assert_eq!(ledger.message("nope").expect("read"), None);
    assert!(ledger.insert_message(&m).is_err(), "an id is written once");

    // Parts: by id and by message, in path order of insertion.
    let p = part("p1", "m1", t0, t0 + 30 * day);
    ledger.insert_part(&p).expect("insert part");
    let mut p2 = part("p2", "m1", t0, t0 + 30 * day);
    p2.path = "3".into();
    ledger.insert_part(&p2).expect("insert part");
    assert_eq!(ledger.part("p1").expect("read"), Some(p.clone()));
    let of = ledger.parts_of("m1").expect("parts");
    assert_eq!(of.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["p1", "p2"]);

    // Unlocking replaces the outcome and names the clean blob.
    ledger
        .unlock_part("p1", Outcome::Disarmed, "clean-p1", Some("見積書.zip"), "{\"u\":1}")
        .expect("unlock");
    let u = ledger.part("p1").expect("read").expect("row");
    assert_eq!(
        (u.outcome, u.clean_blob.as_deref(), u.report.as_str()),
        (Outcome::Disarmed, Some("clean-p1"), "{\"u\":1}")
    );

    // A revoked part is gone for its link at once, and revoked once.
    let mut doomed = part("p-revoked", "m1", t0, t0 + 30 * day);
    doomed.path = "9".into();
    ledger.insert_part(&doomed).expect("insert part");
    assert!(ledger.revoke_part("p-revoked", t0 + 5).expect("revoke"));
    assert!(
        !ledger.revoke_part("p-revoked", t0 + 6).expect("revoke"),
        "revoked once"
    );
    assert_eq!(ledger.part("p-revoked").expect("read").map(|p| p.expires), Some(t0 + 5));
    assert!(!ledger.revoke_part("nope", t0).expect("revoke"));

    // Releases: requested once (a second request keeps the first), decided once, pending
    // lists only what waits.
    let r = ledger
        .request_release(
            "p2",
            &Asked {
                requester: Some("kakari@city.example.lg.jp"),
                reason: Some("監査のため"),
                scan: Some("clean"),
            },
            t0 + 10,
        )
        .expect("request");
    assert_eq!((r.state, r.requested), (ReleaseState::Requested, t0 + 10));
    assert_eq!(
        (r.requester.as_deref(), r.reason.as_deref()),
        (Some("kakari@city.example.lg.jp"), Some("監査のため"))
    );
    let again = ledger
        .request_release(
            "p2",
            &Asked {
                requester: Some("other@city.example.lg.jp"),
                reason: Some("別件"),
                scan: None,
            },
            t0 + 20,
        )
        .expect("request again");
    assert_eq!(
        again, r,
        "an existing request stays as it is, the first asker's words too"
    );
    let pending = ledger.pending_releases(t0 + 30).expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0.id, "p2");
    assert!(ledger
        .decide_release("p2", true, "boss", Some("確認しました"), t0 + 40)
        .expect("decide"));
    assert!(
        !ledger
            .decide_release("p2", false, "boss", None, t0 + 50)
            .expect("decide again"),
        "decided once"
    );
    let decided = ledger.release("p2").expect("release").expect("row");
    assert_eq!(
        (
            decided.state,
            decided.decided,
            decided.decided_by.as_deref(),
            decided.comment.as_deref()
        ),
        (
            ReleaseState::Approved,
            Some(t0 + 40),
            Some("boss"),
            Some("確認しました")
        )
    );
    assert!(ledger.pending_releases(t0 + 60).expect("pending").is_empty());
    // The console's statistics: the period's parts by kind, their reports, requests by state
    // with the average wait (p2: asked at t0 + 10, approved at t0 + 40).
    let rows = ledger.period_rows(t0, t0 + day).expect("period");
    assert_eq!(rows.kinds, [(FileKind::Zip, 3)]);
    assert_eq!(rows.reports.len(), 3);
    assert_eq!(rows.approvals, [(ReleaseState::Approved, 1, Some(30))]);
    assert_eq!(
        ledger.period_rows(t0 + day, t0 + 2 * day).expect("period"),
        Default::default()
    );
    assert!(
        !ledger.decide_release("p1", true, "boss", None, t0).expect("decide"),
        "nothing pending for p1"
    );
    assert_eq!(ledger.release("p1").expect("release"), None);

    // Password tries: counted before each attempt, locked after `max`, forgotten on success.
    for left in (0..3).rev() {
        assert_eq!(ledger.take_unlock_try("p2", t0, 3, 900).expect("try"), Ok(left));
    }
    let locked = ledger.take_unlock_try("p2", t0 + 100, 3, 900).expect("try");
    assert_eq!(locked, Err(800), "locked until the window ends");
    ledger.clear_unlock_tries("p2").expect("clear");
    assert_eq!(ledger.take_unlock_try("p2", t0 + 100, 3, 900).expect("try"), Ok(2));

    // Reports of API files: kept until they expire.
    ledger.insert_report("r1", t0, t0 + day, "{\"x\":1}").expect("report");
    assert_eq!(ledger.report("r1", t0 + 1).expect("read").as_deref(), Some("{\"x\":1}"));
    assert_eq!(ledger.report("r1", t0 + day).expect("read"), None, "expired");

    // Portal sessions: live until they expire or end; an ended one is gone for every reader.
    let session = mugai::store::SessionRow {
        id: "s1".into(),
        person: "山田 太郎".into(),
        source: "ldap".into(),
        grants: vec!["admin".into(), "group:総務課".into()],
        created: t0,
        expires: t0 + 3600,
    };
    ledger.insert_session(&session).expect("session");
    assert!(ledger.insert_session(&session).is_err(), "one row per session id");
    assert_eq!(ledger.session("s1", t0 + 1).expect("read"), Some(session.clone()));
    assert_eq!(ledger.session("s1", t0 + 3600).expect("read"), None, "expired");
    assert_eq!(ledger.session("s2", t0).expect("read"), None);
    assert!(ledger.end_session("s1").expect("end"));
    assert!(!ledger.end_session("s1").expect("end"), "ended once");
    assert_eq!(ledger.session("s1", t0 + 1).expect("read"), None, "ended");

    // Sign-in attempts: counted per account like password tries, locked after `max`.
    for left in (0..3).rev() {
        assert_eq!(ledger.take_signin_try("yamada", t0, 3, 900).expect("try"), Ok(left));
    }
    assert_eq!(
        ledger.take_signin_try("yamada", t0 + 100, 3, 900).expect("try"),
        Err(800)
    );
    assert_eq!(ledger.take_signin_try("tanaka", t0 + 100, 3, 900).expect("try"), Ok(2));
    ledger.clear_signin_tries("yamada").expect("clear");
    assert_eq!(ledger.take_signin_try("yamada", t0 + 100, 3, 900).expect("try"), Ok(2));

    // Carry-in quotas: per person and day, in files and bytes; a refusal counts nothing.
    let today = t0 / 86_400;
    let max = (3, 1000);
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (2, 600), max).expect("quota"),
        Ok(())
    );
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (1, 401), max).expect("quota"),
        Err((2, 600))
    );
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (2, 1), max).expect("quota"),
        Err((2, 600))
    );
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (1, 400), max).expect("quota"),
        Ok(())
    );
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (1, 0), max).expect("quota"),
        Err((3, 1000))
    );
    assert_eq!(
        ledger
            .take_carry_quota("yamada", today + 1, (3, 1000), max)
            .expect("quota"),
        Ok(())
    );
    assert_eq!(
        ledger.take_carry_quota("tanaka", today, (1, 1), max).expect("quota"),
        Ok(())
    );
    // A carry-in that did not arrive is given back, never below zero.
    ledger
        .give_back_carry_quota("yamada", today, (2, 600))
        .expect("give back");
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (3, 600), max).expect("quota"),
        Err((1, 400))
    );
    assert_eq!(
        ledger.take_carry_quota("yamada", today, (2, 600), max).expect("quota"),
        Ok(())
    );
    ledger
        .give_back_carry_quota("tanaka", today, (5, 5000))
        .expect("give back");
    assert_eq!(
        ledger.take_carry_quota("tanaka", today, (3, 1000), max).expect("quota"),
        Ok(())
    );

    // Jobs: held by the instance that accepted them until its lease ends; another instance
    // takes them only then, and only one does; an embedded store starting takes them all.
    let job = job("j1", Some("大きい.pdf"), t0);
    ledger.insert_job(&job, "a", t0 + 600).expect("job");
    assert!(
        ledger
            .claim_jobs("b", t0 + 1, t0 + 601, false)
            .expect("claim")
            .is_empty(),
        "a's lease is live"
    );
    assert_eq!(
        ledger.claim_jobs("b", t0 + 600, t0 + 1200, false).expect("claim"),
        std::slice::from_ref(&job),
        "a's lease ran out: b takes the job"
    );
    assert!(
        ledger
            .claim_jobs("c", t0 + 601, t0 + 1201, false)
            .expect("claim")
            .is_empty(),
        "b holds it now"
    );
    // A live holder's heartbeat keeps its lease going past the first one; others' renewals
    // touch nothing of it.
    let ids = ["j1".to_string(), "unknown".to_string()];
    assert_eq!(ledger.renew_jobs("b", &ids, t0 + 1800).expect("renew"), 1);
    assert_eq!(
        ledger.renew_jobs("c", &ids, t0 + 9999).expect("renew"),
        0,
        "c holds nothing"
    );
    assert!(
        ledger
            .claim_jobs("c", t0 + 1200, t0 + 1800, false)
            .expect("claim")
            .is_empty(),
        "b renewed its lease: its jobs stay with it"
    );
    assert_eq!(
        ledger.claim_jobs("a2", t0 + 2, t0 + 602, true).expect("claim all"),
        std::slice::from_ref(&job),
        "a restarted embedded store takes every unfinished job"
    );
    ledger
        .finish_job(
            "j1",
            &JobResult {
                outcome: Outcome::Clean,
                report: "{}",
                clean_blob: Some("out-j1"),
                clean_name: Some("大きい.pdf"),
                media_type: Some("application/pdf"),
            },
        )
        .expect("finish job");
    assert!(
        ledger
            .claim_jobs("a3", t0 + 9999, t0 + 99_999, true)
            .expect("claim")
            .is_empty(),
        "a finished job is never taken"
    );
    assert_eq!(
        ledger.renew_jobs("a2", &ids, t0 + 99_999).expect("renew"),
        0,
        "a finished job's lease is not renewed"
    );
    let j = ledger.job("j1", t0 + 1).expect("job").expect("row");
    assert_eq!(
        (j.outcome, j.clean_blob.as_deref()),
        (Some(Outcome::Clean), Some("out-j1"))
    );

    // Retention: what expired goes with its parts; the blobs nobody names any more are
    // reported for removal; what has not expired stays.
    ledger.insert_message(&message("m2", t0, t0 + 60 * day)).expect("m2");
    ledger.insert_part(&part("p3", "m2", t0, t0 + 60 * day)).expect("p3");
    // The release of p2 (approved by boss at t0 + 40) is on record while p2 lives...
    let live = ledger.release_record("p2").expect("record").expect("a record");
    assert_eq!((live.release.state, live.keep_until), (ReleaseState::Approved, None));
    let year = 365 * day;
    let purged = ledger.purge(t0 + 30 * day, year).expect("purge");
    // m1 and its three parts (p1, p2 and the revoked one).
    assert_eq!((purged.messages, purged.parts, purged.records), (1, 3, 0));
    assert!(purged.orphans.contains(&"blob-m1".to_string()), "{:?}", purged.orphans);
    assert!(purged.orphans.contains(&"orig-p1".to_string()), "{:?}", purged.orphans);
    assert!(!purged.orphans.contains(&"blob-m2".to_string()));
    assert_eq!(ledger.message("m1").expect("read"), None);
    assert!(ledger.message("m2").expect("read").is_some());
    assert_eq!(ledger.parts_of("m2").expect("parts").len(), 1);
    assert_eq!(
        ledger.purge(t0 + 30 * day, year).expect("purge again"),
        Default::default()
    );
    // The purge forgets sign-in attempts a day old: tanaka's one try is gone.
    assert_eq!(
        ledger.take_signin_try("tanaka", t0 + 100, 3, 900).expect("try"),
        Ok(2),
        "the purge forgot the earlier try"
    );
    // Removal looks again: a blob a row names meanwhile stays (blob-m2 is m2's), the rest go
    // through the caller's removal, in order; a failing removal is an error, not a success.
    let count_before = ledger
        .insert_message(&message("m-count-0", t0, t0 + 60 * day))
        .expect("a write before");
    let mut removed_by_caller = Vec::new();
    let removed = ledger
        .remove_unnamed(&["blob-m1".into(), "blob-m2".into(), "orig-p1".into()], &mut |b| {
            removed_by_caller.push(b.to_string());
            Ok(())
        })
        .expect("remove");
    assert_eq!(removed, ["blob-m1", "orig-p1"]);
    assert_eq!(removed_by_caller, removed);
    // A write after a round that removed blobs is told a higher count (when the backend
    // counts): its writer then looks for its blobs.
    let count_after = ledger
        .insert_message(&message("m-count-1", t0, t0 + 60 * day))
        .expect("a write after");
    match (count_before, count_after) {
        (Some(before), Some(after)) => assert!(after > before, "{before} then {after}"),
        (None, None) => {}
        other => panic!("a backend counts always or never: {other:?}"),
    }
    let failing = ledger.remove_unnamed(&["blob-m1".into()], &mut |_| Err(std::io::Error::other("disk gone")));
    assert!(failing.expect_err("a failed removal").to_string().contains("disk gone"));
    // ...and after p2 is gone, for the audit retention counted from its decision: which
    // file, who decided what, when.
    let kept = ledger
        .release_record("p2")
        .expect("record")
        .expect("kept past the part");
    assert_eq!(
        (
            kept.message.as_str(),
            kept.name.as_deref(),
            kept.original_sha256.as_str(),
            kept.release.decided_by.as_deref(),
            kept.keep_until
        ),
        ("m1", Some("見積書.zip"), "orig-p2", Some("boss"), Some(t0 + 40 + year))
    );
    assert_eq!(
        (
            kept.release.requester.as_deref(),
            kept.release.reason.as_deref(),
            kept.release.comment.as_deref(),
            kept.release.scan.as_deref()
        ),
        (
            Some("kakari@city.example.lg.jp"),
            Some("監査のため"),
            Some("確認しました"),
            Some("clean")
        ),
        "who asked, why, and what the approver said outlive the original"
    );
    assert_eq!(
        ledger.release_record("p1").expect("record"),
        None,
        "p1 was never requested"
    );
    let later = ledger.purge(t0 + 40 + year, year).expect("purge a year on");
    assert_eq!(later.records, 1);
    assert_eq!(ledger.release_record("p2").expect("record"), None);
}

/// Instances sweeping for jobs at once take each job once between them.
fn claims_are_exclusive(ledger: &dyn Ledger) {
    let t0 = 1_900_000_000;
    let ids: Vec<String> = (0..40).map(|i| format!("sweep-{i:02}")).collect();
    for id in &ids {
        let row = job(id, None, t0);
        ledger.insert_job(&row, "dead", t0).expect("job");
    }
    let taken: Vec<Vec<JobRow>> = std::thread::scope(|s| {
        let sweeps: Vec<_> = (0..4)
            .map(|i| s.spawn(move || ledger.claim_jobs(&format!("sweeper-{i}"), t0 + 1, t0 + 601, false)))
            .collect();
        sweeps
            .into_iter()
            .map(|h| h.join().expect("sweep").expect("claim"))
            .collect()
    });
    let mut all: Vec<String> = taken.iter().flatten().map(|j| j.id.clone()).collect();
    all.sort();
    assert_eq!(all, ids, "every job taken, none twice");
}

/// 情シス's search and statistics, on a ledger of their own: every filter narrows, text matches
/// anywhere without regard to case, newest first, bounded; days counted in Japan time.
fn search_conformance(ledger: &dyn Ledger) {
    let t0 = 1_800_000_000; // 2027-01-15 08:00 UTC = 17:00 JST
    let kept = |id: &str, from: &str, to: &str, subject: &str, created: u64, outcome: Option<Outcome>| {
        let mut m = message(id, created, created + 86_400 * 30);
        m.mail_from = from.into();
        m.rcpt_to = vec![to.into()];
        m.subject = Some(subject.into());
        m.message_id = Some(format!("{id}@example.jp"));
        ledger.insert_message(&m).expect("insert");
        if let Some(o) = outcome {
            ledger.finish_message(id, o, "{}").expect("finish");
        }
    };
    kept(
        "s1",
        "Taro@Example.jp",
        "kaikei@soumu.city.example.lg.jp",
        "見積書の送付",
        t0,
        Some(Outcome::Disarmed),
    );
    kept(
        "s2",
        "hanako@example.com",
        "plan@kikaku.city.example.lg.jp",
        "会議資料",
        t0 + 3600,
        Some(Outcome::Clean),
    );
    // 2027-01-16 00:30 JST: the next day in Japan, still the 15th in UTC.
    kept(
        "s3",
        "taro@example.jp",
        "plan@kikaku.city.example.lg.jp",
        "Re: 見積書",
        t0 + 7 * 3600 + 1800,
        None,
    );
    let ids = |q: MessageQuery| -> Vec<String> {
        ledger
            .search_messages(&MessageQuery { limit: 100, ..q })
            .expect("search")
            .into_iter()
            .map(|m| m.id)
            .collect()
    };
    let text = |s: &str| Some(s.to_string());
    assert_eq!(ids(MessageQuery::default()), ["s3", "s2", "s1"], "newest first");
    assert_eq!(
        ids(MessageQuery {
            sender: text("TARO@example"),
            ..Default::default()
        }),
        ["s3", "s1"]
    );
    assert_eq!(
        ids(MessageQuery {
            recipient: text("kikaku"),
            ..Default::default()
        }),
        ["s3", "s2"]
    );
    assert_eq!(
        ids(MessageQuery {
            subject: text("見積書"),
            ..Default::default()
        }),
        ["s3", "s1"]
    );
    assert_eq!(
        ids(MessageQuery {
            message_id: text("s2@"),
            ..Default::default()
        }),
        ["s2"]
    );
    assert_eq!(
        ids(MessageQuery {
            since: Some(t0 + 1),
            until: Some(t0 + 3601),
            ..Default::default()
        }),
        ["s2"],
        "since inclusive, until exclusive"
    );
    assert_eq!(
        ids(MessageQuery {
            outcome: Some(Outcome::Disarmed),
            ..Default::default()
        }),
        ["s1"]
    );
    assert_eq!(
        ids(MessageQuery {
            sender: text("taro"),
            subject: text("re:"),
            ..Default::default()
        }),
        ["s3"],
        "filters combine"
    );
    assert!(
        ids(MessageQuery {
            sender: text("%"),
            ..Default::default()
        })
        .is_empty(),
        "no wildcards"
    );
    let first = ledger
        .search_messages(&MessageQuery {
            limit: 1,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].subject.as_deref(), Some("Re: 見積書"), "the subject is kept");

    let days = ledger.message_days(t0 - 86_400, t0 + 86_400).expect("days");
    let day = (t0 + 9 * 3600) / 86_400;
    let count = |d: u64, o: Option<Outcome>| {
        days.iter()
            .find(|c| c.day == d && c.outcome == o)
            .map_or(0, |c| c.messages)
    };
    assert_eq!(count(day, Some(Outcome::Disarmed)), 1);
    assert_eq!(count(day, Some(Outcome::Clean)), 1);
    assert_eq!(count(day + 1, None), 1, "counted on the Japan-time day");
    assert_eq!(days.iter().map(|c| c.messages).sum::<u64>(), 3);
}

#[test]
fn the_sqlite_ledger_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite")).expect("open");
    search_conformance(&SqliteLedger::open(&dir.path().join("search.sqlite")).expect("open"));
    conformance(&ledger);
    claims_are_exclusive(&ledger);
    // And reopened: what was written is still there (the embedded default survives restarts).
    ledger.insert_message(&message("m9", 1, u64::MAX / 2)).expect("m9");
    drop(ledger);
    let again = SqliteLedger::open(&dir.path().join("ledger.sqlite")).expect("reopen");
    assert!(again.message("m9").expect("read").is_some());
}

/// Everything a blob store must do: content addresses, byte-for-byte reads, idempotent
/// writes and removals, a missing blob an error (never empty bytes).
fn blob_conformance(blobs: &dyn OriginalStore) {
    let bytes = b"%PDF-1.7 original\n".to_vec();
    let address = blobs.put(&bytes).expect("put");
    assert_eq!(
        address,
        mugai::report::hex(&Sha256::digest(&bytes)),
        "the address is the SHA-256"
    );
    assert_eq!(blobs.get(&address).expect("get"), bytes);
    assert_eq!(
        blobs.put(&bytes).expect("put again"),
        address,
        "the same bytes are one blob"
    );
    let big = vec![0x5a; 3 << 20];
    let big_address = mugai::report::hex(&Sha256::digest(&big));
    blobs.put_addressed(&big, &big_address).expect("put addressed");
    assert_eq!(blobs.get(&big_address).expect("get big").len(), big.len());
    blobs.remove(&address).expect("remove");
    assert!(blobs.get(&address).is_err(), "a removed blob is gone");
    blobs.remove(&address).expect("removing twice is no error");
    assert!(blobs.get(&"0".repeat(64)).is_err(), "a blob never stored is an error");
}

#[test]
fn the_file_blob_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    blob_conformance(&FileBlobs::open(&dir.path().join("blobs")).expect("open"));
}

#[test]
fn the_postgres_ledger_conforms_and_migrates_once() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("conformance");
    // Two instances starting at once: both come up, the schema is applied once.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PgLedger::connect(&url, 2));
        let b = s.spawn(|| PgLedger::connect(&url, 2));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let (a, b) = (a.expect("instance a"), b.expect("instance b"));
    assert_eq!(a.schema_version().expect("version"), 5);
    search_conformance(&PgLedger::connect(&pg.database("search"), 1).expect("search database"));
    conformance(&a);
    claims_are_exclusive(&a);
    // What one instance wrote, the other reads; and after a reconnect.
    a.insert_message(&message("m9", 1, u64::MAX / 2)).expect("m9");
    assert!(b.message("m9").expect("read on b").is_some());
    drop((a, b));
    let again = PgLedger::connect(&url, 1).expect("reconnect");
    assert!(again.message("m9").expect("read").is_some());
    // Called from inside an async runtime (the HTTP side's threads): no nested-runtime panic.
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let found = rt.block_on(async { again.message("m9") }).expect("read in a runtime");
    assert!(found.is_some());
}

#[test]
fn a_database_newer_than_the_binary_is_refused_and_a_dead_server_is_an_error() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("newer");
    let ledger = PgLedger::connect(&url, 1).expect("connect");
    ledger.insert_message(&message("m1", 1, 2)).expect("m1");
    drop(ledger);
    pg.sql("newer", "INSERT INTO schema_version VALUES (99)");
    let err = PgLedger::connect(&url, 1).err().expect("refused");
    assert!(err.to_string().contains("newer than this binary"), "{err}");
    // A server that went away: calls fail (the caller fails closed), they do not hang.
    let bad = format!(
        "host=127.0.0.1 port={} user=mugai dbname=newer connect_timeout=5",
        pg.port
    );
    drop(pg);
    assert!(PgLedger::connect(&bad, 1).is_err());
}

#[test]
fn the_s3_blob_store_conforms() {
    let Some(moto) = Moto::start() else { return };
    let config = moto.bucket("mugai-conformance");
    assert!(
        !format!("{config:?}").contains("test-secret-not-for-logs"),
        "no secret in Debug"
    );
    let blobs = S3Blobs::open(&config).expect("open");
    assert!(blobs.reachable());
    blob_conformance(&blobs);
    // A blob past the multipart size goes up in parts and reads back whole.
    let large: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let address = blobs.put(&large).expect("multipart put");
    assert!(blobs.get(&address).expect("get large") == large);
    // A prefix keeps the store inside part of the bucket; server-side encryption is asked for.
    let prefixed = S3Blobs::open(&S3Config {
        prefix: Some("mugai".into()),
        server_side_encryption: Some("AES256".into()),
        ..config.clone()
    })
    .expect("open prefixed");
    blob_conformance(&prefixed);
    assert!(prefixed.get(&address).is_err(), "another prefix is another store");
    // A store that cannot be reached is an error, not empty bytes or a hang.
    let gone = S3Blobs::open(&S3Config {
        endpoint: Some("http://127.0.0.1:9".into()),
        ..config
    })
    .expect("open unreachable");
    assert!(!gone.reachable());
    assert!(gone.get(&address).is_err());
}

/// Two handles on one store, as two processes have it (the CLI's purge beside the daemon, or
/// two instances of a shared store): while one purges an expired row that names a blob, the
/// other keeps a new message with the same bytes. Whatever the interleaving, the new row's
/// blob must be there afterwards — a purge that decided "no row names it" and removed it
/// after the other's write would lose an original that a live row (and its link) names.
fn purge_never_takes_a_blob_a_new_row_names(
    rounds: usize,
    open: &dyn Fn() -> mugai::store::Store,
    expired: &dyn Fn(MessageRow),
) {
    let (purger, writer) = (open(), open());
    let now = mugai::store::now();
    for round in 0..rounds {
        let raw = format!("From: a@example.jp\r\n\r\nround {round}\r\n").into_bytes();
        let address = mugai::report::hex(&Sha256::digest(&raw));
        writer
            .write_beside(|disk| disk.put(&raw[..], address.clone()))
            .expect("blob");
        expired(MessageRow {
            blob: address.clone(),
            ..message(&format!("old{round}"), now - 100, now - 1)
        });
        let barrier = std::sync::Barrier::new(2);
        let kept = std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                purger.purge(mugai::store::now()).expect("purge")
            });
            barrier.wait();
            writer
                .keep_message(&raw, None, None, "a@example.jp", &[])
                .expect("keep")
        });
        assert_eq!(kept.blob, address);
        let stored = writer.blob(&address);
        assert!(
            stored.as_deref().ok() == Some(&raw[..]),
            "round {round}: a live row names blob {address}, and it is gone: {:?}",
            stored.err()
        );
    }
    // Once the new rows expire too, the blobs go: the purge still removes what nobody names.
    let later = purger.purge(now + 400 * 86_400).expect("purge all");
    assert_eq!(later.orphans.len(), rounds, "{later:?}");
    assert!(writer.blob(&later.orphans[0]).is_err());
}

fn store_config(text: &str) -> mugai::config::StoreConfig {
    mugai::config::Config::from_toml(text).expect("config").store
}

#[test]
fn an_embedded_purge_in_another_process_never_takes_a_named_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = store_config("");
    let open = || mugai::store::Store::open(dir.path(), &config).expect("open");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).expect("ledger");
    purge_never_takes_a_blob_a_new_row_names(200, &open, &|row| {
        ledger.insert_message(&row).expect("row");
    });
}

#[test]
fn a_shared_purge_on_another_instance_never_takes_a_named_blob() {
    let (Some(pg), Some(moto)) = (Postgres::start(), Moto::start()) else {
        return;
    };
    let url = pg.database("purge_race");
    let s3 = moto.bucket("purge-race");
    let config = store_config(&format!(
        "[store]\nbackend = \"shared\"\nlink_key = \"{}\"\n[store.postgres]\nurl = \"{url}\"\n\
         [store.s3]\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"ap-northeast-1\"\n\
         access_key_id = \"test-key\"\nsecret_access_key = \"test-secret\"\nallow_http = true\n",
        "ab".repeat(32),
        s3.bucket,
        s3.endpoint.as_deref().unwrap_or_default(),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || mugai::store::Store::open(dir.path(), &config).expect("open");
    let ledger = PgLedger::connect(&url, 1).expect("ledger");
    purge_never_takes_a_blob_a_new_row_names(60, &open, &|row| {
        ledger.insert_message(&row).expect("row");
    });
}

#[test]
fn the_s3_blob_store_over_tls_trusts_its_configured_authority_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certificates = common::certificates(dir.path());
    let Some(moto) = Moto::start_tls(&certificates) else {
        return;
    };
    let config = moto.bucket("mugai-tls");
    assert!(config.endpoint.as_deref().is_some_and(|e| e.starts_with("https://")));
    blob_conformance(&S3Blobs::open(&config).expect("open"));
    // Without the authority, the server's certificate is not trusted: no byte goes there.
    let untrusting = S3Blobs::open(&S3Config {
        ca_file: None,
        ..config.clone()
    })
    .expect("open");
    assert!(!untrusting.reachable());
    assert!(untrusting.put(b"original").is_err());
    // A CA file that holds no certificate is an error at open, not a silent fallback.
    let empty = common::write_temp(dir.path(), "empty.pem", b"");
    assert!(S3Blobs::open(&S3Config {
        ca_file: Some(empty),
        ..config
    })
    .is_err());
}

#[test]
fn the_postgres_ledger_over_tls_verifies_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certificates = common::certificates(&dir.path().join("ca"));
    let Some(pg) = Postgres::start_tls(&certificates) else {
        return;
    };
    let url = pg.database("tls");
    let ledger = PgLedger::connect_tls(&url, 1, Some(&certificates.ca)).expect("TLS with the CA");
    ledger.insert_message(&message("m1", 1, u64::MAX / 2)).expect("write");
    assert!(ledger.message("m1").expect("read").is_some());
    // The server takes no client in the clear...
    let clear = PgLedger::connect(&url, 1).err().expect("refused in the clear");
    assert!(
        clear.to_string().contains("no encryption") || clear.to_string().contains("pg_hba"),
        "{clear}"
    );
    // ...and the client trusts no certificate it cannot verify: not another CA's, and with
    // sslmode=require not one the system's authorities never issued.
    let other = common::certificates(&dir.path().join("other"));
    assert!(PgLedger::connect_tls(&url, 1, Some(&other.ca)).is_err());
    assert!(PgLedger::connect(&format!("{url} sslmode=require"), 1).is_err());
}
