//! The disarm engine: the [`Sanitizer`] contract, the per-file budget [`Cx`], typed
//! [`Refusal`]s, dispatch by detected kind, and the last line of defence (`catch_unwind`).
//!
//! Everything here is synchronous and pure (bytes in, bytes and a report out); async code
//! lives in ingress, egress and store and calls [`Engine::run`] on a blocking pool.
//!
//! Fail closed: a kind without a sanitizer is `blocked` (`unsupported`), a limit or a parse
//! failure is `blocked`, a panic is `error`. No path here ever hands back the original bytes.
//!
//! May use: `config` (the engine's limits and policy), `policy`, `report`, leaves; never `mail`,
//! `store`, `pipeline`, `audit` or a way in (`tests/layout.rs`).

pub mod archive;
pub mod detect;
pub mod fields;
pub mod flate;
pub mod html;
pub mod image;
mod le;
pub mod ole;
pub mod ooxml;
mod opc_parts;
pub mod parallel;
pub mod pdf;
pub mod pdf_budget;
pub mod pdf_write;
mod png_rows;
#[doc(hidden)]
pub use png_rows::check_rows_agree;
#[cfg(test)]
mod raw_copy_tests;
pub mod rtf;
mod sheet_data;
pub mod sniff;
pub mod text;
pub mod xml_filter;
pub mod zipread;
pub mod zipwrite;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::EngineConfig;
use crate::policy::admission::{is_script_extension, saved_extension};
use crate::policy::{KindAction, MissingExtension, NameVerdict};
use crate::report::{Action, Digest256, Finding, Outcome, OutputInfo, Report, What, SCHEMA};
pub use detect::FileKind;

/// A rebuilt file.
#[derive(Debug, Clone)]
pub struct Clean {
    pub bytes: Vec<u8>,
    /// The output kind (may differ from the input's: docm → docx).
    pub kind: FileKind,
    pub findings: Vec<Finding>,
}

/// Why a file was not rebuilt. Each maps to an outcome and a stable reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Encrypted and we have no password: blocked (PDF, Office) or held (archives).
    #[error("encrypted: a password is needed to read it")]
    Encrypted { hold: bool },
    /// A password was given ([`Input::with_password`]) and it does not open the file.
    #[error("the password does not open this file")]
    WrongPassword,
    /// A password was given for a file that is not a password archive (only ZIP archives
    /// are unlocked).
    #[error("only ZIP archives can be unlocked")]
    NotAnArchive,
    /// The input does not parse as the kind it claims to be.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A named budget from `[limits]` (or a format's own limit) was exceeded.
    #[error("limit exceeded: {limit} ({detail})")]
    LimitExceeded { limit: &'static str, detail: String },
    /// The per-file deadline passed.
    #[error("timeout: the file took longer than its budget of {0:?}")]
    Timeout(Duration),
    /// No sanitizer exists for the kind (fail closed).
    #[error("unsupported kind: {0}")]
    Unsupported(FileKind),
    /// The kind is refused by policy whatever its content (executables, scripts).
    #[error("{kind} files are not allowed: {why}")]
    Forbidden { kind: FileKind, why: &'static str },
    /// The name's extension contradicts the content.
    #[error("the name says .{ext} but the content is {kind}")]
    ExtensionMismatch { ext: String, kind: FileKind },
    /// Our own failure (a bug, a panic caught at the boundary).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Refusal {
    pub fn outcome(&self) -> Outcome {
        match self {
            Refusal::Encrypted { hold: true } | Refusal::WrongPassword => Outcome::Held,
            Refusal::Internal(_) => Outcome::Error,
            _ => Outcome::Blocked,
        }
    }

    /// Stable snake_case reason code for reports, headers and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Encrypted { .. } => "encrypted",
            Refusal::WrongPassword => "wrong_password",
            Refusal::NotAnArchive => "not_an_archive",
            Refusal::Malformed(_) => "malformed",
            Refusal::LimitExceeded { .. } => "limit_exceeded",
            Refusal::Timeout(_) => "timeout",
            Refusal::Unsupported(_) => "unsupported",
            Refusal::Forbidden { why, .. } => why,
            Refusal::ExtensionMismatch { .. } => "extension_mismatch",
            Refusal::Internal(_) => "internal",
        }
    }

    /// Whether a container must refuse itself when one of its members is refused this way,
    /// instead of leaving the member out: a bomb inside is a bomb (budgets are shared, and
    /// nesting past the limit is how bombs are built), and the deadline is the file's.
    pub fn ends_container(&self) -> bool {
        matches!(self, Refusal::LimitExceeded { .. } | Refusal::Timeout(_))
    }
}

/// A job's stop signal: the side that waits for the work sets it when it gives up (a deadline
/// passed, the client went away); every [`Cx::check_deadline`] of work started under it
/// ([`with_stop`]) then refuses with `Timeout`, so the work ends at its next check instead of
/// running on after its answer was given.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The stop signal of the job this thread is running (set by [`with_stop`]).
    static CURRENT_STOP: RefCell<Option<StopSignal>> = const { RefCell::new(None) };
}

/// Run `f` (on this thread) as work that `signal` can stop: every file the engine starts
/// inside it checks the signal at each deadline check.
pub fn with_stop<R>(signal: &StopSignal, f: impl FnOnce() -> R) -> R {
    struct Unset(Option<StopSignal>);
    impl Drop for Unset {
        fn drop(&mut self) {
            CURRENT_STOP.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let outer = CURRENT_STOP.with(|c| c.borrow_mut().replace(signal.clone()));
    let _unset = Unset(outer);
    f()
}

/// Whether the job running on this thread was told to stop.
pub fn stop_requested() -> bool {
    CURRENT_STOP.with(|c| c.borrow().as_ref().is_some_and(StopSignal::is_stopped))
}

fn current_stop() -> Option<StopSignal> {
    CURRENT_STOP.with(|c| c.borrow().clone())
}

/// A format's rebuilder. Pure, synchronous, bounded by `cx`; must never panic on any input
/// (the engine catches panics anyway, and reports them as `error`).
pub trait Sanitizer: Send + Sync {
    /// The kinds this sanitizer accepts, as decided by [`detect::detect`].
    fn kinds(&self) -> &'static [FileKind];
    /// Rebuild `input` without active content.
    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal>;
}

/// The budget of one file: limits, remaining depth and decompression bytes, the deadline, and
/// the engine (so containers can re-dispatch nested files through the same rules).
pub struct Cx<'a> {
    pub config: &'a EngineConfig,
    pub engine: &'a Engine,
    depth: u32,
    deadline: Instant,
    /// Shared by the file and everything inside it, also by nested files rebuilt side by side
    /// on other threads ([`Cx::fork`]).
    decompressed_left: Arc<AtomicU64>,
    /// The top-level file's password ([`Input::with_password`]).
    password: Option<Vec<u8>>,
    /// The name of the file being sanitized (a nested one's inside its container), when
    /// known: some rules are about a kind of file that content alone does not tell (CSV).
    name: Option<String>,
    /// The stop signal of the job this file is part of, if any.
    stop: Option<StopSignal>,
}

impl<'a> Cx<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        let config = &engine.config;
        Cx {
            config,
            engine,
            depth: 0,
            deadline: Instant::now() + config.limits.timeout,
            decompressed_left: Arc::new(AtomicU64::new(config.limits.max_decompressed_bytes)),
            password: None,
            name: None,
            stop: current_stop(),
        }
    }

    /// The name of the file being sanitized, when known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The password given for the top-level file ([`Input::with_password`]), taken once: a
    /// container uses it for itself, never for what it holds.
    pub fn take_password(&mut self) -> Option<Vec<u8>> {
        self.password.take()
    }

    /// Current nesting depth (0 for the top-level file).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Decompression bytes still available to this file and everything inside it.
    pub fn decompressed_left(&self) -> u64 {
        self.decompressed_left.load(Ordering::Relaxed)
    }

    /// Charge `n` decompressed bytes; refuses once the file's total budget is spent.
    pub fn charge_decompressed(&mut self, n: u64) -> Result<(), Refusal> {
        let charged = self
            .decompressed_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(n));
        match charged {
            Ok(_) => Ok(()),
            Err(_) => {
                self.decompressed_left.store(0, Ordering::Relaxed);
                Err(Refusal::LimitExceeded {
                    limit: "limits.max_decompressed_bytes",
                    detail: format!(
                        "more than {} bytes once decompressed",
                        self.config.limits.max_decompressed_bytes
                    ),
                })
            }
        }
    }

    /// Call in every loop whose length depends on the input. Also ends the work when its
    /// job was told to stop ([`StopSignal`]).
    pub fn check_deadline(&self) -> Result<(), Refusal> {
        if Instant::now() > self.deadline || self.stop.as_ref().is_some_and(StopSignal::is_stopped) {
            Err(Refusal::Timeout(self.config.limits.timeout))
        } else {
            Ok(())
        }
    }

    /// Run `f` one level deeper (a file inside a container), sharing this file's budgets.
    /// A context for a nested file rebuilt on another thread beside its siblings
    /// ([`parallel::side_by_side`]): the same depth, deadline and stop signal, and the same
    /// decompression budget, shared; no password and no name (the caller gives the name).
    pub fn fork(&self) -> Cx<'a> {
        Cx {
            config: self.config,
            engine: self.engine,
            depth: self.depth,
            deadline: self.deadline,
            decompressed_left: self.decompressed_left.clone(),
            password: None,
            name: None,
            stop: self.stop.clone(),
        }
    }

    pub fn nested<R>(&mut self, f: impl FnOnce(&mut Cx<'a>) -> Result<R, Refusal>) -> Result<R, Refusal> {
        if self.depth + 1 > self.config.limits.max_depth {
            return Err(Refusal::LimitExceeded {
                limit: "limits.max_depth",
                detail: format!("containers nested deeper than {}", self.config.limits.max_depth),
            });
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }
}

/// The registry of sanitizers and the configuration they run under.
pub struct Engine {
    /// What the engine reads of the configuration (see [`EngineConfig`]).
    pub config: EngineConfig,
    sanitizers: Vec<Box<dyn Sanitizer>>,
}

/// The result of running one file through the engine.
#[derive(Debug, Clone)]
pub struct Processed {
    pub report: Report,
    /// The rebuilt bytes; present exactly when the outcome is `clean` or `disarmed`.
    pub output: Option<Vec<u8>>,
    /// Why there is no output, typed (the report carries its reason code).
    pub refusal: Option<Refusal>,
}

impl Engine {
    /// An engine over `config`: an [`EngineConfig`], or a whole `Config` (it keeps only what
    /// it reads).
    pub fn new(config: impl Into<EngineConfig>) -> Self {
        Engine {
            config: config.into(),
            sanitizers: vec![
                Box::new(pdf::PdfSanitizer),
                Box::new(ooxml::OoxmlSanitizer),
                Box::new(rtf::RtfSanitizer),
                Box::new(ole::OleSanitizer),
                Box::new(archive::ZipSanitizer),
                Box::new(text::TextSanitizer),
                Box::new(image::ImageSanitizer),
                Box::new(html::HtmlSanitizer),
            ],
        }
    }

    /// Every registered sanitizer (the conformance suite runs against each).
    pub fn sanitizers(&self) -> impl Iterator<Item = &dyn Sanitizer> {
        self.sanitizers.iter().map(|s| s.as_ref())
    }

    fn sanitizer_for(&self, kind: FileKind) -> Option<&dyn Sanitizer> {
        self.sanitizers().find(|s| s.kinds().contains(&kind))
    }

    /// Detect and sanitize one nested file inside `cx`'s budget (for containers). Returns the
    /// detected kind with the result, so the container can name the output.
    pub fn sanitize_nested(
        &self,
        input: &[u8],
        name: Option<&str>,
        cx: &mut Cx<'_>,
    ) -> Result<(FileKind, Clean), Refusal> {
        cx.nested(|cx| {
            let kind = classify_kind(input, name);
            admit(self, kind, name)?;
            let outer = std::mem::replace(&mut cx.name, name.map(str::to_string));
            let result = dispatch(self, kind, input, cx);
            cx.name = outer;
            Ok((kind, result?))
        })
    }

    /// The engine's one entry point: run one top-level file — size check, detection,
    /// admission, dispatch, report. A clean output is handed to `sink` (with its output name,
    /// when the input had a name) before the report is built — written to a file, say —
    /// while a large output is hashed on a second thread; it is kept in
    /// [`Processed::output`] either way. `sink` is not called when there is no output; its
    /// error is returned as is. Never panics, and never returns input it did not judge: the
    /// input comes back as the output only when its rebuilder found nothing to remove.
    pub fn process<E>(&self, input: Input<'_>, sink: Option<Sink<'_, E>>) -> Result<Processed, E> {
        let done = self.run_hashed(input);
        // Nothing was removed and the input came back: its digest is the output's.
        let as_it_was = |clean: &Clean| (clean.bytes == input.bytes).then(|| done.input_digest.clone());
        let output_digest = match (&done.result, sink) {
            (Ok(clean), Some(deliver)) => {
                let out_name = input.name.map(|n| output_name(n, done.kind, clean.kind));
                let bytes = clean.bytes.as_slice();
                let digest = if let Some(digest) = as_it_was(clean) {
                    deliver(out_name.as_deref(), bytes)?;
                    digest
                } else if bytes.len() >= PARALLEL_HASH_BYTES {
                    std::thread::scope(|scope| {
                        let digest = scope.spawn(|| Digest256::of(bytes));
                        let delivered = deliver(out_name.as_deref(), bytes);
                        let digest = digest.join().unwrap_or_else(|_| Digest256::of(bytes));
                        delivered.map(|()| digest)
                    })?
                } else {
                    deliver(out_name.as_deref(), bytes)?;
                    Digest256::of(bytes)
                };
                Some(digest)
            }
            (Ok(clean), None) => as_it_was(clean),
            _ => None,
        };
        Ok(build_report(done, input.name, output_digest))
    }

    /// [`Engine::process`] without a sink (the output stays in [`Processed::output`]).
    pub fn run_input(&self, input: Input<'_>) -> Processed {
        match self.process::<std::convert::Infallible>(input, None) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// [`Engine::run_input`] of `input` named `name`, nothing else known.
    pub fn run(&self, input: &[u8], name: Option<&str>) -> Processed {
        self.run_input(Input::new(input, name))
    }

    /// The run with the input's digest: given (and of the right size), or computed beside
    /// the rebuild — hashing a large input costs as much as rebuilding it.
    fn run_hashed(&self, input: Input<'_>) -> Done {
        let password = input.password.map(|p| p.as_bytes().to_vec());
        if let Some(d) = input.digest.filter(|d| d.size == input.bytes.len() as u64) {
            return Done::new(d.clone(), self.run_inner(input.bytes, input.name, password));
        }
        let bytes = input.bytes;
        let (input_digest, inner) = if bytes.len() >= PARALLEL_HASH_BYTES {
            std::thread::scope(|scope| {
                let digest = scope.spawn(|| Digest256::of(bytes));
                let inner = self.run_inner(bytes, input.name, password);
                (digest.join().unwrap_or_else(|_| Digest256::of(bytes)), inner)
            })
        } else {
            (Digest256::of(bytes), self.run_inner(bytes, input.name, password))
        };
        Done::new(input_digest, inner)
    }

    fn run_inner(
        &self,
        input: &[u8],
        name: Option<&str>,
        password: Option<Vec<u8>>,
    ) -> (FileKind, bool, Result<Clean, Refusal>, Duration) {
        let started = Instant::now();
        // Refused before parsing: a password for what is not an archive, the job was told to
        // stop, or the input is over the limit (the kind is told from its first bytes only).
        let early = if password.is_some() && detect::detect(input) != FileKind::Zip {
            Some(Refusal::NotAnArchive)
        } else if stop_requested() {
            Some(Refusal::Timeout(self.config.limits.timeout))
        } else if input.len() as u64 > self.config.limits.max_input_bytes {
            Some(Refusal::LimitExceeded {
                limit: "limits.max_input_bytes",
                detail: format!(
                    "{} bytes, the limit is {}",
                    input.len(),
                    self.config.limits.max_input_bytes
                ),
            })
        } else {
            None
        };
        if let Some(refusal) = early {
            let kind = detect::detect(&input[..input.len().min(64 * 1024)]);
            return (kind, false, Err(refusal), started.elapsed());
        }
        let mut kind = FileKind::Unknown;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            kind = classify_kind(input, name);
            admit(self, kind, name)?;
            let mut cx = Cx::new(self);
            cx.password = password;
            cx.name = name.map(str::to_string);
            let out = dispatch(self, kind, input, &mut cx)?;
            cx.check_deadline()?;
            Ok(out)
        }));
        let result = caught.unwrap_or_else(|panic| {
            Err(Refusal::Internal(format!(
                "sanitizer panicked: {}",
                panic_message(&panic)
            )))
        });
        let mismatch = matches!(result, Err(Refusal::ExtensionMismatch { .. }));
        (kind, mismatch, result, started.elapsed())
    }
}

/// Detection plus the name rules that can only make things stricter: text, markup or an
/// unknown binary in a file named like a script is a script, and text named `.html` is HTML.
fn classify_kind(input: &[u8], name: Option<&str>) -> FileKind {
    use FileKind::*;
    let kind = detect::detect(input);
    match name.and_then(saved_extension).as_deref() {
        Some(ext) if is_script_extension(ext) && matches!(kind, Text | Html | Xml | Unknown) => Script,
        Some("htm" | "html") if kind == Text => Html,
        _ => kind,
    }
}

/// Admission: whether a file of `kind` named `name` may cross at all, before any rebuilder
/// sees it (`policy::admission` owns the table of (kind, extension) pairs). In order: a name
/// that claims another kind (`invoice.pdf` holding a program) is an `extension_mismatch`;
/// kinds that never cross are refused with their reason; then the name must be one the
/// kind uses.
fn admit(engine: &Engine, kind: FileKind, name: Option<&str>) -> Result<(), Refusal> {
    use FileKind::*;
    let admission = &engine.config.policy.admission;
    let verdict = admission.judge_name(kind, name);
    if kind == ShellText {
        return Err(Refusal::Forbidden {
            kind,
            why: "active_text",
        });
    }
    if let NameVerdict::Mismatch(ext) = &verdict {
        if !admission.kinds_for(ext).is_empty() {
            return Err(Refusal::ExtensionMismatch { ext: ext.clone(), kind });
        }
    }
    if let Some(why) = forbidden_reason(kind) {
        return Err(Refusal::Forbidden { kind, why });
    }
    match verdict {
        NameVerdict::Admitted => Ok(()),
        NameVerdict::NoExtension => match admission.missing_extension {
            MissingExtension::Admit => Ok(()),
            MissingExtension::Block => Err(Refusal::Forbidden {
                kind,
                why: "missing_extension",
            }),
        },
        NameVerdict::Active(_) if matches!(kind, Text | Html | Xml | Svg | Mime) => Err(Refusal::Forbidden {
            kind,
            why: "active_text",
        }),
        NameVerdict::Active(ext) | NameVerdict::Mismatch(ext) => Err(Refusal::ExtensionMismatch { ext, kind }),
    }
}

/// Kinds refused whatever their name and the operator's policy, with the reason reported.
fn forbidden_reason(kind: FileKind) -> Option<&'static str> {
    use FileKind::*;
    Some(match kind {
        Pe | Elf | MachO | Lnk | Msi | Jar => "executable",
        Script => "script",
        ShellText => "active_text",
        SevenZip | Rar | Lzh | Gzip | Bzip2 | Xz | Tar | Cab => "unsupported_archive",
        _ => return None,
    })
}

/// Policy, then the kind's rebuilder. Only ever called after [`admit`].
fn dispatch(engine: &Engine, kind: FileKind, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
    match engine.config.policy.action(kind) {
        KindAction::Block => return Err(Refusal::Forbidden { kind, why: "policy" }),
        // The config refuses `pass` for kinds that run or script; checked again here so no
        // path can pass one.
        KindAction::Pass if !crate::policy::NEVER_PASSED.contains(&kind) => {
            let mut note = Finding::removed(What::Structure, "file", "passed unchanged by policy");
            note.action = Action::Kept;
            return Ok(Clean {
                bytes: input.to_vec(),
                kind,
                findings: vec![note],
            });
        }
        _ => {}
    }
    match engine.sanitizer_for(kind) {
        Some(s) => s.sanitize(input, cx),
        None => Err(Refusal::Unsupported(kind)),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}

/// Name for the output: the input's name with the extension of the output kind when the kind
/// changed (report.docm → report.docx), otherwise the input's name.
pub fn output_name(name: &str, in_kind: FileKind, out_kind: FileKind) -> String {
    if in_kind == out_kind {
        return name.to_string();
    }
    let Some(ext) = out_kind.extension() else {
        return name.to_string();
    };
    // Windows drops trailing dots and spaces; the new extension replaces the last one.
    let trimmed = name.trim_end_matches(['.', ' ']);
    let base_at = trimmed.rfind(['/', '\\']).map_or(0, |i| i + 1);
    match trimmed[base_at..].rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{ext}", &trimmed[..base_at + dot]),
        _ => format!("{trimmed}.{ext}"),
    }
}

/// Inputs at least this large are hashed on a second thread while they are rebuilt.
const PARALLEL_HASH_BYTES: usize = 1 << 20;

/// Where [`Engine::process`] hands a clean output: called with the output's name (when the
/// input had one) and its bytes; its error ends the run.
pub type Sink<'s, E> = &'s mut dyn FnMut(Option<&str>, &[u8]) -> Result<(), E>;

/// One file for the engine: its bytes and name, and what the caller already knows.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    /// The name it came with (judged by admission, and the output's name).
    pub name: Option<&'a str>,
    /// Its digest, computed as the bytes arrived (the HTTP side hashes an upload frame by
    /// frame while it is hot in cache); a digest of another size is not trusted.
    pub digest: Option<&'a Digest256>,
    /// The password of a held archive being unlocked (PPAP: it came in a second mail).
    pub password: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8], name: Option<&'a str>) -> Self {
        Input {
            bytes,
            name,
            digest: None,
            password: None,
        }
    }

    pub fn with_digest(self, digest: Option<&'a Digest256>) -> Self {
        Input { digest, ..self }
    }

    pub fn with_password(self, password: &'a str) -> Self {
        Input {
            password: Some(password),
            ..self
        }
    }
}

/// A finished run before its report is built.
struct Done {
    input_digest: Digest256,
    kind: FileKind,
    mismatch: bool,
    result: Result<Clean, Refusal>,
    elapsed: Duration,
}

impl Done {
    /// A run's result, as [`Engine::run_inner`] returns it, with the input's digest.
    fn new(
        input_digest: Digest256,
        (kind, mismatch, result, elapsed): (FileKind, bool, Result<Clean, Refusal>, Duration),
    ) -> Self {
        Done {
            input_digest,
            kind,
            mismatch,
            result,
            elapsed,
        }
    }
}

/// The report for a run; `output_digest` is the clean output's when the caller already has
/// it (computed here otherwise).
fn build_report(done: Done, name: Option<&str>, output_digest: Option<Digest256>) -> Processed {
    let Done {
        input_digest: input,
        kind,
        mismatch,
        result,
        elapsed,
    } = done;
    let mut report = Report {
        schema: SCHEMA.into(),
        mugai_version: env!("CARGO_PKG_VERSION").into(),
        file_name: name.map(str::to_string),
        detected_kind: kind,
        extension_mismatch: mismatch,
        outcome: Outcome::Error,
        reason: None,
        reason_detail: None,
        input,
        output: None,
        findings: Vec::new(),
        duration_ms: elapsed.as_millis().try_into().unwrap_or(u64::MAX),
    };
    match result {
        Ok(mut clean) => {
            clean.findings.sort();
            clean.findings.dedup();
            let changed = clean.findings.iter().any(|f| f.action != Action::Kept);
            report.outcome = if changed { Outcome::Disarmed } else { Outcome::Clean };
            report.output = Some(OutputInfo {
                digest: output_digest.unwrap_or_else(|| Digest256::of(&clean.bytes)),
                kind: clean.kind,
                name: name.map(|n| output_name(n, kind, clean.kind)),
            });
            report.findings = clean.findings;
            Processed {
                report,
                output: Some(clean.bytes),
                refusal: None,
            }
        }
        Err(refusal) => {
            report.outcome = refusal.outcome();
            report.reason = Some(refusal.reason().into());
            report.reason_detail = Some(refusal.to_string());
            Processed {
                report,
                output: None,
                refusal: Some(refusal),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn engine() -> Engine {
        Engine::new(Config::default())
    }

    #[test]
    fn delivering_hands_over_the_output_and_reports_the_same_digest() {
        // Large enough for the output to be hashed on the second thread.
        let mut text = "本文 line\n".repeat(200_000).into_bytes();
        text.extend_from_slice(b"end\n");
        let plain = engine().run(&text, Some("a.txt"));
        let mut got = None;
        let mut deliver = |name: Option<&str>, bytes: &[u8]| {
            got = Some((name.map(str::to_string), bytes.to_vec()));
            Ok::<_, ()>(())
        };
        let delivered = engine()
            .process(Input::new(&text, Some("a.txt")), Some(&mut deliver))
            .unwrap();
        let (name, bytes) = got.expect("deliver was called");
        assert_eq!(name.as_deref(), Some("a.txt"));
        assert_eq!(Some(&bytes), plain.output.as_ref());
        let digest = |p: &Processed| p.report.output.as_ref().map(|o| o.digest.clone());
        assert!(digest(&plain).is_some());
        assert_eq!(digest(&delivered), digest(&plain));

        // A failed delivery is the caller's error; a refused file is never delivered.
        let failed = engine().process(Input::new(&text, None), Some(&mut |_, _| Err("disk full")));
        assert_eq!(failed.err(), Some("disk full"));
        let blocked = engine()
            .process(
                Input::new(b"MZ\x90\0\x03\0", None),
                Some(&mut |_, _| Err("must not be called")),
            )
            .unwrap();
        assert_eq!(blocked.report.outcome, Outcome::Blocked);
    }

    #[test]
    fn executables_are_blocked_whatever_the_name() {
        let p = engine().run(b"MZ\x90\0\x03\0\0\0\x04\0", Some("invoice.txt"));
        assert_eq!(p.report.outcome, Outcome::Blocked);
        assert!(p.output.is_none());
        let p = engine().run(b"MZ\x90\0\x03\0\0\0\x04\0", Some("setup.exe"));
        assert_eq!(p.report.outcome, Outcome::Blocked);
        assert_eq!(p.report.reason.as_deref(), Some("executable"));
    }

    #[test]
    fn a_pdf_named_exe_is_a_mismatch() {
        let p = engine().run(b"%PDF-1.4\n", Some("tool.exe"));
        assert_eq!(p.report.outcome, Outcome::Blocked);
        assert_eq!(p.report.reason.as_deref(), Some("extension_mismatch"));
        assert!(p.report.extension_mismatch);
    }

    #[test]
    fn kinds_without_a_sanitizer_fail_closed() {
        // SVG is a document that can script, not a picture: no sanitizer takes it.
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        let p = engine().run(svg, Some("a.svg"));
        assert_eq!(p.report.detected_kind, FileKind::Svg);
        assert_eq!(p.report.outcome, Outcome::Blocked);
        assert_eq!(p.report.reason.as_deref(), Some("unsupported"));
        assert!(p.output.is_none());
    }

    #[test]
    fn text_named_like_a_script_is_a_script() {
        let p = engine().run(b"var x = 1;\n", Some("run.js"));
        assert_eq!(p.report.detected_kind, FileKind::Script);
        assert_eq!(p.report.reason.as_deref(), Some("script"));
    }

    #[test]
    fn oversize_input_is_refused_before_parsing() {
        let mut config = Config::default();
        config.limits.max_input_bytes = 10;
        let p = Engine::new(config).run(b"%PDF-1.4 0123456789", None);
        assert_eq!(p.report.outcome, Outcome::Blocked);
        assert_eq!(p.report.reason.as_deref(), Some("limit_exceeded"));
        assert_eq!(p.report.detected_kind, FileKind::Pdf);
    }

    #[test]
    fn output_names_follow_the_output_kind() {
        assert_eq!(
            output_name("見積書.docm", FileKind::Docm, FileKind::Docx),
            "見積書.docx"
        );
        assert_eq!(output_name("a.pdf", FileKind::Pdf, FileKind::Pdf), "a.pdf");
        assert_eq!(output_name("noext", FileKind::Docm, FileKind::Docx), "noext.docx");
    }

    struct Panicky;
    impl Sanitizer for Panicky {
        fn kinds(&self) -> &'static [FileKind] {
            &[FileKind::Gif]
        }
        fn sanitize(&self, _: &[u8], _: &mut Cx<'_>) -> Result<Clean, Refusal> {
            panic!("boom")
        }
    }

    #[test]
    fn a_digest_computed_by_the_caller_is_used_only_when_its_size_fits() {
        let text = b"plain text\n";
        let plain = engine().run(text, Some("a.txt"));
        let given = Digest256 {
            size: text.len() as u64,
            sha256: "given".into(),
        };
        let digested = engine().run_input(Input::new(text, Some("a.txt")).with_digest(Some(&given)));
        assert_eq!(digested.report.input.sha256, "given");
        assert_eq!(digested.output, plain.output);
        // A digest of another length is not trusted: the input is hashed again.
        let wrong = Digest256 {
            size: 1,
            sha256: "wrong".into(),
        };
        let again = engine().run_input(Input::new(text, Some("a.txt")).with_digest(Some(&wrong)));
        assert_eq!(again.report.input, plain.report.input);
    }

    #[test]
    fn a_panic_becomes_outcome_error() {
        let mut e = engine();
        // First in line, so it is the one picked for GIFs.
        e.sanitizers.insert(0, Box::new(Panicky));
        let p = e.run(b"GIF89a\x01\0\x01\0", Some("a.gif"));
        assert_eq!(p.report.outcome, Outcome::Error);
        assert_eq!(p.report.reason.as_deref(), Some("internal"));
        assert!(p.report.reason_detail.unwrap_or_default().contains("boom"));
        assert!(p.output.is_none());
    }

    #[test]
    fn a_stopped_job_refuses_at_its_next_check() {
        let e = engine();
        let signal = StopSignal::default();
        with_stop(&signal, || {
            let cx = Cx::new(&e);
            assert_eq!(cx.check_deadline(), Ok(()));
            signal.stop();
            assert!(matches!(cx.check_deadline(), Err(Refusal::Timeout(_))));
            assert_eq!(
                e.run(b"text\n", Some("a.txt")).report.reason.as_deref(),
                Some("timeout")
            );
        });
        // Outside the job nothing is stopped.
        assert!(!stop_requested());
        assert_eq!(e.run(b"text\n", Some("a.txt")).report.outcome, Outcome::Clean);
    }

    #[test]
    fn nesting_is_bounded() {
        let e = engine();
        let mut cx = Cx::new(&e);
        fn dive(cx: &mut Cx<'_>, n: u32) -> Result<u32, Refusal> {
            if n == 0 {
                return Ok(cx.depth());
            }
            cx.nested(|cx| dive(cx, n - 1))
        }
        assert_eq!(dive(&mut cx, 8), Ok(8));
        assert!(matches!(
            dive(&mut cx, 9),
            Err(Refusal::LimitExceeded {
                limit: "limits.max_depth",
                ..
            })
        ));
        assert_eq!(cx.depth(), 0);
    }
}
