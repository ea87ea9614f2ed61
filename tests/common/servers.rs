//! Servers the scale-out tests run against, each private to the test: PostgreSQL (its own
//! data directory and loopback port) and moto's S3 server. Each is `None` when not installed,
//! unless `MUGAI_REQUIRE_POSTGRES` / `MUGAI_REQUIRE_S3` is set (the test command sets both, so
//! CI never skips).

use mugai::store::S3Config;

/// A private PostgreSQL for these tests: its own data directory and port on loopback, trust
/// authentication, stopped when dropped. `None` when PostgreSQL is not installed, unless
/// `MUGAI_REQUIRE_POSTGRES` is set (the test command sets it, so CI never skips).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Option<Postgres> {
        Postgres::start_with(None)
    }

    /// TLS only, with `certificate` (see [`super::certificates`]): a client in the clear is
    /// refused (`hostssl` lines alone in `pg_hba.conf`).
    pub fn start_tls(certificate: &super::Certificates) -> Option<Postgres> {
        Postgres::start_with(Some(certificate))
    }

    fn start_with(tls: Option<&super::Certificates>) -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists())
                .max()
        });
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("MUGAI_REQUIRE_POSTGRES").is_none(),
                "MUGAI_REQUIRE_POSTGRES is set but PostgreSQL is not installed"
            );
            eprintln!("skipped: PostgreSQL is not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let pg = Postgres { dir, bin, port };
        // PostgreSQL refuses to run as root: as root (CI) the server runs as `postgres`.
        if super::running_as_root() {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown the data directory to postgres");
        }
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "mugai",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            pg.port,
            pg.dir.path().display()
        );
        if let Some(tls) = tls {
            std::fs::copy(&tls.cert, data.join("server.crt")).expect("certificate");
            std::fs::copy(&tls.key, data.join("server.key")).expect("key");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .expect("pg_hba.conf");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if super::running_as_root() {
                let ok = std::process::Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&data)
                    .status()
                    .expect("chown")
                    .success();
                assert!(ok, "chown the data directory to postgres");
            }
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let log = pg.dir.path().join("log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        Some(pg)
    }

    pub fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if super::running_as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let out = command.args(args).current_dir(self.dir.path()).output().expect(program);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run one SQL statement in database `db` (psql, as the server's user).
    pub fn sql(&self, db: &str, statement: &str) {
        let port = self.port.to_string();
        self.run(
            "psql",
            &["-h", "127.0.0.1", "-p", &port, "-U", "mugai", "-d", db, "-c", statement],
        );
    }

    /// A new, empty database; its connection string.
    pub fn database(&self, name: &str) -> String {
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "mugai", name],
        );
        format!("host=127.0.0.1 port={} user=mugai dbname={name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ =
            std::panic::catch_unwind(|| self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]));
    }
}

/// A private S3 server for these tests: moto's `moto_server` (from PyPI) on a loopback port,
/// stopped when dropped. `None` when it is not installed, unless `MUGAI_REQUIRE_S3` is set.
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
    /// The authority its certificate is from, when it speaks TLS.
    ca: Option<std::path::PathBuf>,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        Moto::spawn(&[], None)
    }

    /// Over TLS with `certificate` (see [`super::certificates`]): endpoints are `https://`.
    pub fn start_tls(certificate: &super::Certificates) -> Option<Moto> {
        let (cert, key) = (
            certificate.cert.to_str().expect("path"),
            certificate.key.to_str().expect("path"),
        );
        Moto::spawn(&["-c", cert, "-k", key], Some(certificate.ca.clone()))
    }

    fn spawn(extra: &[&str], ca: Option<std::path::PathBuf>) -> Option<Moto> {
        let port = super::free_port();
        let child = match std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                assert!(
                    std::env::var_os("MUGAI_REQUIRE_S3").is_none(),
                    "MUGAI_REQUIRE_S3 is set but moto_server: {e}"
                );
                eprintln!("skipped: moto_server is not installed");
                return None;
            }
        };
        let moto = Moto { child, port, ca };
        super::wait_listening(port, "moto_server", std::time::Duration::from_secs(60));
        Some(moto)
    }

    /// A new bucket (`PUT /bucket`, as any S3 client makes one; moto checks no signature),
    /// made with curl, which checks the certificate over TLS.
    pub fn bucket(&self, name: &str) -> S3Config {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://127.0.0.1:{}", self.port);
        let mut curl = std::process::Command::new("curl");
        curl.args(["-sS", "-f", "-X", "PUT", "--max-time", "30"]);
        if let Some(ca) = &self.ca {
            curl.arg("--cacert").arg(ca);
        }
        let made = curl.arg(format!("{endpoint}/{name}")).output().expect("curl");
        assert!(
            made.status.success(),
            "PUT /{name}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        S3Config {
            bucket: name.into(),
            endpoint: Some(endpoint),
            region: Some("ap-northeast-1".into()),
            access_key_id: Some("test-key".into()),
            secret_access_key: Some(mugai::secret::Secret::new("test-secret-not-for-logs".into())),
            allow_http: self.ca.is_none(),
            ca_file: self.ca.clone(),
            ..S3Config::default()
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // A `Child` dropped is not stopped: without this every test left its server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private OpenLDAP for the portal's directory sign-in: Debian's `slapd` on two loopback
/// ports — `ldaps://` (TLS from the start) and `ldap://` (StartTLS) — with a certificate from
/// [`super::certificates`], an MDB database loaded from `ldif` by `slapadd` before the start,
/// under `dc=city,dc=example`; stopped when dropped. `None` when slapd is not installed, unless
/// `MUGAI_REQUIRE_SLAPD` is set (the test command sets it).
pub struct Slapd {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub ldaps_port: u16,
    pub ldap_port: u16,
    pub ca: std::path::PathBuf,
}

impl Slapd {
    pub const SUFFIX: &'static str = "dc=city,dc=example";

    pub fn start(ldif: &str) -> Option<Slapd> {
        let slapd = std::path::Path::new("/usr/sbin/slapd");
        if !slapd.exists() {
            assert!(
                std::env::var_os("MUGAI_REQUIRE_SLAPD").is_none(),
                "MUGAI_REQUIRE_SLAPD is set but slapd is not installed"
            );
            eprintln!("skipped: slapd is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = super::certificates(&dir.path().join("tls"));
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).expect("db");
        let conf = dir.path().join("slapd.conf");
        let schema = |name: &str| format!("include /etc/ldap/schema/{name}.schema\n");
        std::fs::write(
            &conf,
            format!(
                "{}{}{}{}modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {pid}\n\
                 TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
                 database mdb\nmaxsize 16777216\nsuffix \"{suffix}\"\nrootdn \"cn=admin,{suffix}\"\nrootpw admin-secret\n\
                 directory {db}\n\
                 access to attrs=userPassword by anonymous auth by self read by * none\n\
                 access to * by users read by * none\n",
                schema("core"),
                schema("cosine"),
                schema("nis"),
                schema("inetorgperson"),
                pid = dir.path().join("slapd.pid").display(),
                ca = tls.ca.display(),
                cert = tls.cert.display(),
                key = tls.key.display(),
                suffix = Self::SUFFIX,
                db = db.display(),
            ),
        )
        .expect("slapd.conf");
        let data = dir.path().join("data.ldif");
        std::fs::write(&data, ldif).expect("ldif");
        let out = std::process::Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&data)
            .output()
            .expect("slapadd");
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ldaps_port, ldap_port) = (super::free_port(), super::free_port());
        let log = std::fs::File::create(dir.path().join("slapd.log")).expect("log");
        // -d: in the foreground (a child the test can stop), logging connections to the file.
        let child = std::process::Command::new(slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldaps://127.0.0.1:{ldaps_port}/ ldap://127.0.0.1:{ldap_port}/"))
            .args(["-d", "256"])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("slapd");
        let slapd = Slapd {
            child,
            ca: tls.ca.clone(),
            _dir: dir,
            ldaps_port,
            ldap_port,
        };
        super::wait_listening(ldaps_port, "slapd", std::time::Duration::from_secs(30));
        super::wait_listening(ldap_port, "slapd", std::time::Duration::from_secs(30));
        Some(slapd)
    }

    /// The test directory: two sections with an approver each, an administrator, and a person
    /// in no group; passwords in clear (slapd compares them at bind).
    pub fn city_directory() -> String {
        let suffix = Self::SUFFIX;
        let person = |uid: &str, name: &str| {
            format!(
                "dn: uid={uid},ou=people,{suffix}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {name}\n\
                 userPassword: {uid}-password\n\n"
            )
        };
        let group = |cn: &str, member: &str| {
            format!(
                "dn: cn={cn},ou=groups,{suffix}\nobjectClass: groupOfNames\ncn: {cn}\nmember: uid={member},ou=people,{suffix}\n\n"
            )
        };
        format!(
            "dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: city\no: City\n\n\
             dn: ou=people,{suffix}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{suffix}\nobjectClass: organizationalUnit\nou: groups\n\n{}{}{}{}{}{}{}",
            person("yamada", "山田 太郎"),
            person("sato", "佐藤 花子"),
            person("admin1", "情シス 管理者"),
            person("tanaka", "田中 一郎"),
            group("soumu-approvers", "yamada"),
            group("kikaku-approvers", "sato"),
            group("mugai-admins", "admin1"),
        )
    }

    /// What slapd logged so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Postfix's `smtp-sink` on a loopback port, writing each message it receives to a file of
/// its own in a private directory; stopped when dropped. `None` when Postfix is not
/// installed, unless `MUGAI_REQUIRE_POSTFIX` is set.
pub struct SmtpSink {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(port: u16) -> Option<SmtpSink> {
        let program = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(program) = program else {
            assert!(
                std::env::var_os("MUGAI_REQUIRE_POSTFIX").is_none(),
                "MUGAI_REQUIRE_POSTFIX is set but smtp-sink is not installed"
            );
            eprintln!("skipped: smtp-sink (Postfix) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = std::process::Command::new(program);
        if super::running_as_root() {
            // smtp-sink run by root must drop to a user, who then writes the files.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg("-d")
            .arg(format!("{}/%H%M%S.", dir.path().display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("16")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("smtp-sink");
        super::wait_listening(port, "smtp-sink", std::time::Duration::from_secs(30));
        Some(SmtpSink { child, dir })
    }

    /// The messages received so far, oldest first: only files left alone for a moment (smtp-sink
    /// writes a message's file as its data arrives, so a younger one may still be growing).
    pub fn messages(&self) -> Vec<std::path::PathBuf> {
        let settled = std::time::SystemTime::now() - std::time::Duration::from_millis(300);
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                    .filter(|(modified, _)| *modified <= settled)
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
