//! The `mugai` command line: the command tree (clap) and the exit codes; the daemon is
//! `mugai::daemon`, the offline commands `mugai::cli`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mugai::cli::{
    AuditArgs, DbCommand, MailArgs, MessagesCommand, OriginalsCommand, SanitizeArgs, UserCommand, VerifyArgs,
    EXIT_ERROR, EXIT_OK, EXIT_USAGE,
};
use mugai::{Config, Engine};

#[global_allocator]
static ALLOCATOR: mugai::alloc::LargeBuffers = mugai::alloc::LargeBuffers;

#[derive(Parser)]
#[command(
    name = "mugai",
    version,
    about = "mugai (無害): content disarm and reconstruction gateway",
    after_help = "Exit codes: 0 clean or disarmed, 3 blocked or held (no output written), \
                  4 error, 2 usage or configuration error."
)]
struct Cli {
    /// Configuration file (TOML). Without it the embedded defaults apply.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway daemon (SMTP content filter and HTTP API).
    Serve,
    /// Disarm files: `sanitize IN -o OUT` or `sanitize IN... -d OUTDIR`. `-` is stdin/stdout.
    #[command(
        after_help = "Exit codes: 0 clean or disarmed, 3 blocked or held (no output written), \
                            4 error, 2 usage. With several files the worst outcome decides.\n\
                            The JSON report goes to stdout (one line per file with -d), or to \
                            --report FILE; with `-o -` the report goes to stderr."
    )]
    Sanitize(SanitizeArgs),
    /// Run one mail through the whole mail pipeline offline (the daemon's code path): the
    /// original and its attachments are stored in the data directory, the rebuilt mail is
    /// written to OUT.
    #[command(
        after_help = "Exit codes: 0 rebuilt mail written (its outcome is in the report and in \
                            X-Mugai-Outcome), 3 message refused (over mail.max_message_bytes; \
                            nothing written), 4 error (the store failed; nothing written), 2 usage.\n\
                            The JSON mail report goes to stdout, or to --report FILE."
    )]
    Mail(MailArgs),
    /// Stored originals: `originals purge` removes what is past retention now, `originals
    /// get` writes one out (audited).
    Originals {
        #[command(subcommand)]
        action: OriginalsCommand,
    },
    /// The ledger's database: `db migrate` applies the schema migrations now.
    Db {
        #[command(subcommand)]
        action: DbCommand,
    },
    /// Local accounts of the portal pages (`[portal] users`).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Make an API key: prints the key (give it to the client, once) and the line for
    /// `http.api_keys` (only its SHA-256 goes into the configuration).
    Apikey {
        /// Who will hold it (shown in logs).
        name: String,
        /// Roles: submit, approve, admin.
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// Print the audit trail, filtered (by message, sender, recipient, date, event kind).
    Audit(AuditArgs),
    /// Check a sanitized file against its signed report (exit 0 verified, 3 not).
    Verify(VerifyArgs),
    /// Messages kept: `messages search …` (JSON lines), `messages trace ID` (its audit lines).
    Messages {
        #[command(subcommand)]
        action: MessagesCommand,
    },
    /// Validate a configuration file and report every problem with its key path.
    CheckConfig {
        /// The file to check (default: the --config file, or the embedded defaults).
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // A log line that cannot be written is lost, never fatal: by default the subscriber
        // reports the failure with eprintln!, which panics when stderr is a closed pipe —
        // and took the daemon down with it.
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MUGAI_LOG").unwrap_or_else(|_| "warn,lopdf=error".into()),
        )
        .init();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mugai: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::CheckConfig { file } => {
            let path = file.or(cli.config);
            match Config::load(path.as_deref()) {
                Ok(_) => {
                    let what = path
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "embedded defaults".into());
                    println!("ok: {what}");
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(EXIT_USAGE)
                }
            }
        }
        Command::Apikey { name, roles } => {
            if let Some(bad) = roles
                .iter()
                .find(|r| !["submit", "approve", "admin"].contains(&r.as_str()))
            {
                eprintln!("mugai: unknown role {bad:?} (submit, approve, admin)");
                return Ok(EXIT_USAGE);
            }
            let (key, hash) = mugai::ingress::http::new_key().context("making a key")?;
            println!("key: {key}");
            let roles: Vec<String> = roles.iter().map(|r| format!("{r:?}")).collect();
            println!(
                "config: api_keys = [{{ name = {name:?}, sha256 = \"{hash}\", roles = [{}] }}]",
                roles.join(", ")
            );
            Ok(EXIT_OK)
        }
        Command::Serve => configured(&cli.config, |c| {
            mugai::daemon::run(c, cli.config.clone()).map(|()| EXIT_OK)
        }),
        Command::Sanitize(args) => configured(&cli.config, |c| mugai::cli::sanitize(Engine::new(c), args)),
        Command::Mail(args) => configured(&cli.config, |c| mugai::cli::mail(c, args)),
        Command::Originals { action } => configured(&cli.config, |c| mugai::cli::originals(&c, action)),
        Command::Audit(args) => configured(&cli.config, |c| mugai::cli::audit(&c, args)),
        Command::Messages { action } => configured(&cli.config, |c| mugai::cli::messages(&c, action)),
        Command::Verify(args) => configured(&cli.config, |c| mugai::cli::verify(&c, args)),
        Command::Db { action } => configured(&cli.config, |c| mugai::cli::db(&c, action)),
        Command::User { action } => mugai::cli::user(action),
    }
}

/// Run `f` with the configuration, or exit with the usage code when it does not load.
fn configured(path: &Option<PathBuf>, f: impl FnOnce(Config) -> anyhow::Result<u8>) -> anyhow::Result<u8> {
    match load_config(path.as_deref()) {
        Ok(config) => f(config),
        Err(code) => Ok(code),
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, u8> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        EXIT_USAGE
    })
}
