//! The `mugai` command line: a thin layer over the library (argument parsing, files, exit codes).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mugai::audit::AuditLog;
use mugai::store::Store;
use mugai::{Config, Engine, Outcome, Processed};

#[global_allocator]
static ALLOCATOR: mugai::alloc::LargeBuffers = mugai::alloc::LargeBuffers;

/// Exit codes, also documented in `--help` and the README.
const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_REFUSED: u8 = 3;
const EXIT_ERROR: u8 = 4;

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
    /// Stored originals: `originals purge` removes what is past retention now.
    Originals {
        #[command(subcommand)]
        action: OriginalsCommand,
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
    /// Validate a configuration file and report every problem with its key path.
    CheckConfig {
        /// The file to check (default: the --config file, or the embedded defaults).
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OriginalsCommand {
    /// Remove originals and ledger rows past `store.retention_days`.
    Purge,
}

#[derive(clap::Args)]
struct MailArgs {
    /// The message (RFC 5322, as an .eml file; `-` for stdin).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Where the rebuilt message goes (`-` for stdout).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Write the JSON mail report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Envelope sender to record (as the SMTP gateway would).
    #[arg(long, value_name = "ADDR", default_value = "")]
    from: String,
    /// Envelope recipients to record.
    #[arg(long = "to", value_name = "ADDR")]
    to: Vec<String>,
}

#[derive(clap::Args)]
struct SanitizeArgs {
    /// Input files (`-` for stdin).
    #[arg(required = true, value_name = "IN")]
    inputs: Vec<PathBuf>,
    /// Output file for a single input (`-` for stdout).
    #[arg(short, long, value_name = "OUT", conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Output directory for one or more inputs (outputs keep their names, extension fixed).
    #[arg(short = 'd', long = "out-dir", value_name = "OUTDIR")]
    out_dir: Option<PathBuf>,
    /// Write the JSON report here instead of stdout (single input only).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// The original file name, for stdin input (used for the extension check and the report).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
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
        Command::Serve => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            serve(config, cli.config)
        }
        Command::Sanitize(args) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            sanitize(Engine::new(config), args)
        }
        Command::Mail(args) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            mail(Engine::new(config), args)
        }
        Command::Originals {
            action: OriginalsCommand::Purge,
        } => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let store = Store::open(&config.serve.data_dir, &config.store)?;
            let purged = store.purge(mugai::store::now())?;
            println!(
                "purged {} messages, {} parts, {} blobs",
                purged.messages,
                purged.parts,
                purged.orphans.len()
            );
            Ok(EXIT_OK)
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, u8> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        EXIT_USAGE
    })
}

fn exit_for(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Clean | Outcome::Disarmed => EXIT_OK,
        Outcome::Blocked | Outcome::Held => EXIT_REFUSED,
        Outcome::Error => EXIT_ERROR,
    }
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Input bytes: read into memory, or mapped for large regular files.
enum Input {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl AsRef<[u8]> for Input {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Owned(v) => v,
            Input::Mapped(m) => m,
        }
    }
}

/// Files at least this large are mapped instead of copied into memory.
const MMAP_MIN_BYTES: u64 = 4 << 20;

fn read_input(path: &Path) -> anyhow::Result<Input> {
    if is_dash(path) {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
        return Ok(Input::Owned(buf));
    }
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() && meta.len() >= MMAP_MIN_BYTES {
        // SAFETY: the map is read-only and lives only for this command. As with any mapped
        // file (ripgrep does the same), truncating the file while mugai reads it ends the
        // process with SIGBUS; that is a failed run with no output, never a wrong output.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(Input::Mapped(map));
        }
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let mut file = file;
    file.read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Input::Owned(buf))
}

/// The temporary file an output is written to before it is renamed into place: in the same
/// directory (so the rename is atomic), hidden, named for this process.
fn temp_beside(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{file_name}.mugai-tmp-{}", std::process::id()))
}

/// Write through a temporary file and rename, so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

/// The daemon: the SMTP content filter until SIGTERM/SIGINT; SIGHUP reloads the
/// configuration file (policy, limits, timeouts) for messages that start afterwards.
fn serve(config: Config, path: Option<PathBuf>) -> anyhow::Result<u8> {
    use mugai::ingress::smtp::server::{self, Gateway};
    use std::sync::Arc;
    use tokio::signal::unix::{signal, SignalKind};

    raise_open_file_limit(config.smtp.max_sessions);
    mugai::alloc::tune_for_daemon();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let data_dir = config.serve.data_dir.clone();
        let store = Arc::new(
            Store::open(&data_dir, &config.store)
                .with_context(|| format!("opening the store in {}", data_dir.display()))?,
        );
        let audit = Arc::new(AuditLog::open(&config.audit, &data_dir).context("opening the audit log")?);
        mugai::store::spawn_purge(store.clone(), std::time::Duration::from_secs(3600));
        let listen = config.serve.smtp_listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(smtp = %listen, next_hop = %config.serve.next_hop, data_dir = %data_dir.display(), "mugai serving");
        let http_listen = config.serve.http_listen;
        let http_listener = tokio::net::TcpListener::bind(http_listen)
            .await
            .with_context(|| format!("listening on {http_listen} (serve.http_listen)"))?;
        // Not eprintln!: a daemon whose stderr is gone goes on.
        let _ = writeln!(
            std::io::stderr(),
            "mugai {}: SMTP content filter on {listen}, next hop {}, HTTP on {http_listen}, data in {}",
            env!("CARGO_PKG_VERSION"),
            config.serve.next_hop,
            data_dir.display(),
        );
        if config.http.api_keys.is_empty() {
            tracing::warn!("no http.api_keys configured: the /v1 API refuses every call (make one with `mugai apikey`)");
        }
        let tls = match &config.smtp.tls {
            Some((cert, key)) => Some(server::tls_acceptor(cert, key).map_err(|e| anyhow::anyhow!("STARTTLS: {e}"))?),
            None => None,
        };
        let mut gateway = Gateway::new(Engine::new(config), store, audit);
        if let Some(acceptor) = tls {
            gateway = gateway.with_tls(acceptor);
        }
        let gateway = Arc::new(gateway);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let reloading = gateway.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = hup.recv() => match Config::load(path.as_deref()) {
                        Ok(config) => {
                            reloading.reload(Engine::new(config));
                            tracing::info!("configuration reloaded");
                        }
                        Err(e) => tracing::error!(error = %e, "reload refused; the running configuration stays"),
                    },
                }
            }
            tracing::info!("stopping: no new sessions, busy ones may finish");
            let _ = stop.send(true);
        });
        let http_state = mugai::ingress::http::AppState::new(gateway.clone());
        http_state.resume();
        let http = tokio::spawn(mugai::ingress::http::serve(http_listener, http_state, stopped.clone()));
        server::serve(listener, gateway, stopped).await;
        let _ = http.await;
        Ok::<_, anyhow::Error>(EXIT_OK)
    })
}

/// Each SMTP session holds two sockets (client and next hop) and each message a few files:
/// with `smtp.max_sessions` at 1,000 a soft limit of 1,024 open files would refuse
/// connections long before the permit does. Raise the soft limit to the hard one.
fn raise_open_file_limit(sessions: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
        }
        let needed = (2 * sessions + 64) as u64;
        if limit.rlim_cur < needed {
            tracing::warn!(
                open_files = limit.rlim_cur,
                needed,
                "the open-file limit is below what smtp.max_sessions needs; raise LimitNOFILE"
            );
        }
    }
    let _ = sessions;
}

/// Like [`write_atomically`], for output written piece by piece (`-` is stdout).
fn write_streaming(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    if is_dash(path) {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write(&mut out).context("writing stdout")?;
        return out.flush().context("writing stdout");
    }
    let tmp = temp_beside(path);
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let written = write(&mut out).and_then(|()| out.flush());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

fn mail(engine: Engine, args: MailArgs) -> anyhow::Result<u8> {
    let config = &engine.config;
    let store = Store::open(&config.serve.data_dir, &config.store)
        .with_context(|| format!("opening the store in {}", config.serve.data_dir.display()))?;
    let audit = AuditLog::open(&config.audit, &config.serve.data_dir).context("opening the audit log")?;
    let raw = read_input(&args.input)?;
    let envelope = mugai::mail::Envelope {
        mail_from: args.from,
        rcpt_to: args.to,
    };
    // The message is handed over: the pipeline frees it once stored and parsed.
    let processed = match mugai::mail::process(&engine, &store, &audit, raw, &envelope) {
        Ok(p) => p,
        Err(e @ mugai::mail::MailError::TooLarge { .. }) => {
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
        None => println!("{json}"),
    }
    Ok(EXIT_OK)
}

fn display_name(path: &Path, explicit: Option<&str>) -> Option<String> {
    explicit.map(str::to_string).or_else(|| {
        (!is_dash(path))
            .then(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .flatten()
    })
}

fn sanitize(engine: Engine, args: SanitizeArgs) -> anyhow::Result<u8> {
    match (&args.output, &args.out_dir) {
        (Some(out), None) => {
            if args.inputs.len() != 1 {
                eprintln!("mugai: -o takes exactly one input; use -d OUTDIR for several");
                return Ok(EXIT_USAGE);
            }
            let input = &args.inputs[0];
            let bytes = read_input(input)?;
            let name = display_name(input, args.name.as_deref());
            let p = engine.run_delivering(&bytes, name.as_deref(), |_, clean| {
                if is_dash(out) {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(clean)?;
                    stdout.flush().map_err(anyhow::Error::from)
                } else {
                    write_atomically(out, clean)
                }
            })?;
            let json = p.report.to_json_pretty();
            match (&args.report, is_dash(out)) {
                (Some(r), _) => write_atomically(r, format!("{json}\n").as_bytes())?,
                (None, true) => eprintln!("{json}"),
                (None, false) => println!("{json}"),
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
    let mut used_names = std::collections::HashSet::new();
    let mut stdout = std::io::stdout().lock();
    for (i, input) in inputs.iter().enumerate() {
        if let Some(b) = &bar {
            b.set_message(input.display().to_string());
        }
        let bytes = read_input(input)?;
        let name = display_name(input, None).unwrap_or_else(|| format!("stdin-{i}"));
        let Processed { report, .. } = engine.run_delivering(&bytes, Some(&name), |out_name, clean| {
            let target = unique_path(dir, out_name.unwrap_or(&name), &mut used_names);
            write_atomically(&target, clean)
        })?;
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

/// `dir/name`, or `dir/name (2).ext`, ... when two inputs share a name.
fn unique_path(dir: &Path, name: &str, used: &mut std::collections::HashSet<String>) -> PathBuf {
    // Never let a name escape the output directory.
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = match base.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
            _ => format!("{base} ({n})"),
        };
        n += 1;
    }
    dir.join(candidate)
}
