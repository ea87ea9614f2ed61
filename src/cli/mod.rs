//! The offline commands behind `main.rs`: `mugai sanitize` (files in, files out, the same
//! engine as the daemon), `mugai mail` (one message through the daemon's mail pipeline),
//! `mugai originals purge`, `mugai audit` (the audit trail, filtered). Their arguments (clap)
//! and what they print; `main.rs` keeps the command tree and the exit codes' mapping.

mod audit;
mod files;
mod messages;
mod verify;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use audit::{audit, AuditArgs};
use files::{display_name, is_dash, read_input, unique_path, write_atomically, write_streaming};
pub use messages::{messages, MessagesCommand};
pub use verify::{verify, VerifyArgs};

use crate::audit::{AuditLog, Origin};
use crate::cdr::{Engine, Input, Processed};
use crate::config::Config;
use crate::pipeline::Loaded;
use crate::report::Outcome;
use crate::store::Store;

/// Exit codes, also documented in `--help` and the README.
pub const EXIT_OK: u8 = 0;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_REFUSED: u8 = 3;
pub const EXIT_ERROR: u8 = 4;

fn exit_for(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Clean | Outcome::Disarmed => EXIT_OK,
        Outcome::Blocked | Outcome::Held => EXIT_REFUSED,
        Outcome::Error => EXIT_ERROR,
    }
}

#[derive(clap::Args)]
pub struct MailArgs {
    /// The message (RFC 5322, as an .eml file; `-` for stdin).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Where the rebuilt message goes (`-` for stdout).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Write the JSON mail report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Envelope sender to record (as the SMTP gateway would).
    #[arg(long, value_name = "ADDR", default_value = "")]
    pub from: String,
    /// Envelope recipients to record.
    #[arg(long = "to", value_name = "ADDR")]
    pub to: Vec<String>,
}

#[derive(clap::Args)]
pub struct SanitizeArgs {
    /// Input files (`-` for stdin).
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<PathBuf>,
    /// Output file for a single input (`-` for stdout).
    #[arg(short, long, value_name = "OUT", conflicts_with = "out_dir")]
    pub output: Option<PathBuf>,
    /// Output directory for one or more inputs (outputs keep their names, extension fixed).
    #[arg(short = 'd', long = "out-dir", value_name = "OUTDIR")]
    pub out_dir: Option<PathBuf>,
    /// Write the JSON report here instead of stdout (single input only).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The original file name, for stdin input (used for the extension check and the report).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// The configured store and audit log, as the daemon opens them.
fn open_store(config: &Config) -> anyhow::Result<(Store, AuditLog)> {
    let store = Store::open(&config.serve.data_dir, &config.store)
        .with_context(|| format!("opening the store in {}", config.serve.data_dir.display()))?;
    let audit = AuditLog::open(&config.audit, &config.serve.data_dir).context("opening the audit log")?;
    Ok((store, audit))
}

#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Bring the ledger's schema up to date now (the daemon does it at start too) and say
    /// which version it is at; refuses a database newer than this binary.
    Migrate,
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Make a local portal account: reads the password from standard input (its first line)
    /// and prints the line for `[portal] users` — only the argon2id hash goes there.
    Add {
        /// The name the person signs in with (and the audit shows).
        name: String,
        /// Roles: approve, admin, carry_in.
        #[arg(required = true)]
        roles: Vec<String>,
    },
}

/// `mugai user add NAME ROLE…`.
pub fn user(action: UserCommand) -> anyhow::Result<u8> {
    let UserCommand::Add { name, roles } = action;
    if let Some(bad) = roles
        .iter()
        .find(|r| !["approve", "admin", "carry_in"].contains(&r.as_str()))
    {
        eprintln!("mugai: unknown role {bad:?} (approve, admin, carry_in)");
        return Ok(EXIT_USAGE);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        eprintln!("mugai: the password needs 8 characters or more");
        return Ok(EXIT_USAGE);
    }
    let hash = crate::passwords::hash(password).map_err(anyhow::Error::msg)?;
    let roles: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
    let out = format!(
        "users = [{{ name = {name:?}, argon2 = \"{hash}\", roles = [{}] }}]",
        roles.join(", ")
    );
    print_report(&out)?;
    Ok(EXIT_OK)
}

#[derive(clap::Subcommand)]
pub enum OriginalsCommand {
    /// Remove originals and ledger rows past `store.retention_days`.
    Purge,
    /// Write an original out (a part by its id, or a whole message as `.eml`), whatever the
    /// release policy: for 情シス fetching one for a staff member. Audited with the reason,
    /// before a byte is written; refused when the audit line cannot be written.
    Get {
        /// The part's id (from the notice's link page, the audit trail) or the message's.
        id: String,
        /// Why it is needed (required; goes into the audit trail).
        #[arg(long)]
        reason: String,
        /// Where to write it (`-`: standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// `mugai originals …`.
pub fn originals(config: &Config, action: OriginalsCommand) -> anyhow::Result<u8> {
    match action {
        OriginalsCommand::Purge => purge(config),
        OriginalsCommand::Get { id, reason, output } => get_original(config, &id, &reason, &output),
    }
}

/// `mugai db …`.
pub fn db(config: &Config, action: DbCommand) -> anyhow::Result<u8> {
    match action {
        DbCommand::Migrate => migrate(config),
    }
}

/// `mugai db migrate`: the schema brought up to date (as every start does), and said.
pub fn migrate(config: &Config) -> anyhow::Result<u8> {
    match &config.store.backend {
        crate::config::StoreBackend::Shared(shared) => {
            let ledger = crate::store::PgLedger::connect_tls(
                shared.postgres_url.expose(),
                1,
                shared.postgres_ca_file.as_deref(),
            )
            .context("the shared ledger (store.postgres)")?;
            println!("PostgreSQL ledger at schema version {}", ledger.schema_version()?);
        }
        crate::config::StoreBackend::Embedded => {
            open_store(config)?;
            println!(
                "embedded ledger {} is current (SQLite: made and upgraded when opened)",
                config.serve.data_dir.join("ledger.sqlite3").display()
            );
        }
    }
    Ok(EXIT_OK)
}

/// `mugai originals get ID --reason … -o FILE`: an original out, audited first.
pub fn get_original(config: &Config, id: &str, reason: &str, output: &Path) -> anyhow::Result<u8> {
    if reason.trim().is_empty() {
        anyhow::bail!("--reason must say why the original is needed (it goes into the audit trail)");
    }
    let (store, audit) = open_store(config)?;
    let fetched = crate::pipeline::fetch_original(&store, &audit, &Origin::cli(), id, reason)?;
    write_streaming(output, |w| w.write_all(&fetched.bytes))?;
    Ok(EXIT_OK)
}

/// `mugai originals purge`: remove what is past retention now.
pub fn purge(config: &Config) -> anyhow::Result<u8> {
    let (store, audit) = open_store(config)?;
    let purged = store.purge(crate::clock::now())?;
    crate::pipeline::purged_event(&audit, &Origin::cli(), &purged);
    println!(
        "purged {} messages, {} parts, {} blobs",
        purged.messages,
        purged.parts,
        purged.orphans.len()
    );
    Ok(EXIT_OK)
}

/// A report (or another result) on standard output. A reader that went away (`mugai sanitize … | head`) is an
/// error said in one line, not the panic `println!` makes of it.
fn print_report(json: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .context("writing the report to standard output")
}

/// Run a command's work with the machine's other cores lent to its pieces (a message's
/// attachments, an archive's entries; [`crate::cdr::parallel`]).
fn on_every_core<R>(f: impl FnOnce() -> R) -> R {
    crate::cdr::parallel::with_spare(std::sync::Arc::new(crate::cdr::parallel::Counted::other_cores()), f)
}

pub fn mail(config: Config, args: MailArgs) -> anyhow::Result<u8> {
    on_every_core(|| mail_on(config, args))
}

fn mail_on(config: Config, args: MailArgs) -> anyhow::Result<u8> {
    let loaded = Loaded::new(config);
    let (store, audit) = open_store(&loaded.config)?;
    let raw = read_input(&args.input)?;
    let envelope = crate::mail::Envelope {
        mail_from: args.from,
        rcpt_to: args.to,
    };
    // The message is handed over: the pipeline frees it once stored and parsed.
    let processed = match crate::pipeline::message::process(&loaded, &store, &audit, &Origin::cli(), raw, &envelope) {
        Ok(p) => p,
        Err(e @ crate::pipeline::MessageError::TooLarge { .. }) => {
            eprintln!("mugai: {e}");
            return Ok(EXIT_REFUSED);
        }
        Err(e) => return Err(e.into()),
    };
    write_streaming(&args.output, |w| processed.rebuilt.write_to(w))?;
    let json = serde_json::to_string_pretty(&processed.report)?;
    match &args.report {
        Some(path) => write_atomically(path, json.as_bytes())?,
        None if is_dash(&args.output) => eprintln!("{json}"),
        None => print_report(&json)?,
    }
    Ok(EXIT_OK)
}

pub fn sanitize(engine: Engine, args: SanitizeArgs) -> anyhow::Result<u8> {
    on_every_core(|| sanitize_on(engine, args))
}

fn sanitize_on(engine: Engine, args: SanitizeArgs) -> anyhow::Result<u8> {
    match (&args.output, &args.out_dir) {
        (Some(out), None) => {
            if args.inputs.len() != 1 {
                eprintln!("mugai: -o takes exactly one input; use -d OUTDIR for several");
                return Ok(EXIT_USAGE);
            }
            let input = &args.inputs[0];
            let bytes = read_input(input)?;
            let name = display_name(input, args.name.as_deref());
            let mut write = |_: Option<&str>, clean: &[u8]| {
                if is_dash(out) {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(clean)?;
                    stdout.flush().map_err(anyhow::Error::from)
                } else {
                    write_atomically(out, clean)
                }
            };
            let p = engine.process(Input::new(&bytes, name.as_deref()), Some(&mut write))?;
            let json = p.report.to_json_pretty();
            match (&args.report, is_dash(out)) {
                (Some(r), _) => write_atomically(r, format!("{json}\n").as_bytes())?,
                (None, true) => eprintln!("{json}"),
                (None, false) => print_report(&json)?,
            }
            Ok(exit_for(p.report.outcome))
        }
        (None, Some(dir)) => {
            if args.report.is_some() {
                eprintln!("mugai: --report is for a single input; with -d the reports are printed one JSON line each");
                return Ok(EXIT_USAGE);
            }
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            sanitize_many(&engine, &args.inputs, dir)
        }
        _ => {
            eprintln!("mugai: give either -o OUT (one input) or -d OUTDIR");
            Ok(EXIT_USAGE)
        }
    }
}

fn sanitize_many(engine: &Engine, inputs: &[PathBuf], dir: &Path) -> anyhow::Result<u8> {
    let bar = if std::io::stderr().is_terminal() && inputs.len() > 1 {
        let b = indicatif::ProgressBar::new(inputs.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut worst = EXIT_OK;
    let mut counts = [0usize; 5];
    let mut used_names = HashSet::new();
    let mut stdout = std::io::stdout().lock();
    for (i, input) in inputs.iter().enumerate() {
        if let Some(b) = &bar {
            b.set_message(input.display().to_string());
        }
        let bytes = read_input(input)?;
        let name = display_name(input, None).unwrap_or_else(|| format!("stdin-{i}"));
        let mut write = |out_name: Option<&str>, clean: &[u8]| {
            let target = unique_path(dir, out_name.unwrap_or(&name), &mut used_names);
            write_atomically(&target, clean)
        };
        let Processed { report, .. } = engine.process(Input::new(&bytes, Some(&name)), Some(&mut write))?;
        writeln!(stdout, "{}", report.to_json())?;
        counts[report.outcome as usize] += 1;
        worst = worst.max(exit_for(report.outcome));
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!(
        "{} files: {} clean, {} disarmed, {} blocked, {} held, {} error",
        inputs.len(),
        counts[Outcome::Clean as usize],
        counts[Outcome::Disarmed as usize],
        counts[Outcome::Blocked as usize],
        counts[Outcome::Held as usize],
        counts[Outcome::Error as usize]
    );
    Ok(worst)
}
