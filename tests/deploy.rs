//! The deploy files (issue 19), judged offline by tools nobody here wrote: the systemd unit by
//! `systemd-analyze verify` and its `security` exposure score, the container files by
//! hadolint, the Kubernetes manifests by kubernetes-validate (strict, the bundled schemas),
//! the compose file by the compose specification's schema (check-jsonschema) and
//! compose-lint. And every configuration shipped in them is one `mugai check-config`
//! accepts, with its secrets where the file says they are.
//!
//! The tools come from the test command (PyPI into the judges' virtualenv, systemd from
//! Debian); as with every judge, a missing one fails the test rather than skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `mugai check-config` on `config`.
fn check_config(config: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["--config", config.to_str().expect("path"), "check-config"])
        .output()
        .expect("mugai");
    assert!(out.status.success(), "{}: {}", config.display(), text(&out));
}

#[test]
fn the_systemd_unit_verifies_and_exposes_little() {
    let dir = tempfile::tempdir().expect("tempdir");
    // verify checks that ExecStart's program exists: the one just built stands in.
    let unit = std::fs::read_to_string(root().join("deploy/mugai.service"))
        .expect("unit")
        .replace("/usr/local/bin/mugai", env!("CARGO_BIN_EXE_mugai"));
    let path = common::write_temp(dir.path(), "mugai.service", unit.as_bytes());
    let path = path.to_str().expect("path");
    let verified = common::judge("systemd-analyze", &["verify", path]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        !text(&verified).contains("mugai.service"),
        "warnings about the unit:\n{}",
        text(&verified)
    );
    let security = common::judge("systemd-analyze", &["security", "--offline=true", "--no-pager", path]);
    let report = text(&security);
    // "→ Overall exposure level for mugai.service: 1.1 OK"
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("mugai.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score:\n{report}"));
    assert!(score <= 2.0, "exposure {score} (0 best, 10 worst):\n{report}");
    // The hardening that matters most for a parser of hostile files, by name.
    for line in [
        "CapabilityBoundingSet=\n",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "MemoryMax=",
        "ReadWritePaths=/var/lib/mugai",
        "SystemCallFilter=~@privileged",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
}

#[test]
fn the_container_files_pass_hadolint() {
    for file in ["deploy/Containerfile", "deploy/compose/postfix/Containerfile"] {
        let out = common::judge("hadolint", &[file]);
        assert!(out.status.success(), "{file}:\n{}", text(&out));
    }
    // The image runs as a non-root user, from a read-only-able root, with a data volume.
    let image = std::fs::read_to_string(root().join("deploy/Containerfile")).expect("Containerfile");
    assert!(image.contains("USER 65532:65532") && image.contains("VOLUME [\"/var/lib/mugai\"]"));
    // What the build stage copies is all the build reads: each path exists in the checkout.
    for line in image
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(root().join(source).exists(), "{line}: {source} is not in the checkout");
        }
    }
}

#[test]
fn the_kubernetes_manifests_validate_strictly() {
    let manifests: Vec<String> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let kinds = [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
        "NetworkPolicy",
    ];
    let all: String = manifests
        .iter()
        .map(|m| std::fs::read_to_string(m).expect("manifest"))
        .collect();
    for kind in kinds {
        assert!(
            all.contains(&format!("kind: {kind}\n")),
            "no {kind} in deploy/kubernetes"
        );
    }
    let mut args = vec!["--strict"];
    args.extend(manifests.iter().map(String::as_str));
    let out = common::judge("kubernetes-validate", &args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches(" passed for resource ").count(),
        manifests.len(),
        "{}",
        text(&out)
    );
}

#[test]
fn the_compose_file_follows_the_specification_and_its_lint() {
    let file = "deploy/compose/compose.yaml";
    let schema = common::judge("check-jsonschema", &["--builtin-schema", "vendor.compose-spec", file]);
    assert!(schema.status.success(), "{}", text(&schema));
    let lint = common::judge("compose-lint", &[file]);
    assert!(lint.status.success(), "high-severity findings:\n{}", text(&lint));
}

/// The TOML block under `mugai.toml: |` in the ConfigMap, unindented.
fn configmap_toml(manifest: &str) -> String {
    let lines = manifest
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("mugai.toml: |"))
        .skip(1);
    let first = lines.clone().next().expect("the block's first line");
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

#[test]
fn every_shipped_configuration_is_accepted_with_its_secrets_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_config(&root().join("config/mugai.toml"));
    check_config(&root().join("deploy/container/mugai.toml"));
    // The three deployment models of docs/deployment.md.
    for model in ["alpha", "beta", "beta-prime"] {
        check_config(&root().join(format!("deploy/models/{model}.toml")));
    }

    // Compose: the secrets as its init script makes them (openssl, as in the container).
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets");
    let made = Command::new("sh")
        .arg(root().join("deploy/compose/init/make-secrets.sh"))
        .env("SECRETS_DIR", &secrets)
        .output()
        .expect("sh");
    if common::running_as_root() {
        assert!(made.status.success(), "make-secrets.sh: {}", text(&made));
    } else {
        // Only the final chown needs root; what it made is there.
        assert!(secrets.join("link_key").exists(), "make-secrets.sh: {}", text(&made));
    }
    for file in [
        "ca.crt",
        "postgres.crt",
        "postgres.key",
        "s3.crt",
        "s3.key",
        "postgres_url",
        "link_key",
    ] {
        assert!(secrets.join(file).exists(), "make-secrets.sh made no {file}");
    }
    let compose = std::fs::read_to_string(root().join("deploy/compose/mugai.toml"))
        .expect("compose config")
        .replace("/secrets/", &format!("{}/", secrets.display()));
    check_config(&common::write_temp(dir.path(), "compose.toml", compose.as_bytes()));

    // Kubernetes: the ConfigMap's file, its secrets as the Deployment's environment.
    let manifest = std::fs::read_to_string(root().join("deploy/kubernetes/configmap.yaml")).expect("configmap");
    let ca = secrets.join("ca.crt");
    let toml = configmap_toml(&manifest).replace("/etc/mugai/ca/ca.crt", ca.to_str().expect("path"));
    let config = common::write_temp(dir.path(), "k8s.toml", toml.as_bytes());
    let deployment = std::fs::read_to_string(root().join("deploy/kubernetes/deployment.yaml")).expect("deployment");
    let mut mugai = Command::new(env!("CARGO_BIN_EXE_mugai"));
    mugai.args(["--config", config.to_str().expect("path"), "check-config"]);
    for name in ["MUGAI_LINK_KEY", "MUGAI_POSTGRES_URL", "MUGAI_S3_SECRET"] {
        assert!(
            deployment.contains(&format!("- name: {name}")),
            "the Deployment does not set {name}"
        );
        assert!(
            toml.contains(&format!("env:{name}")),
            "the ConfigMap does not name {name}"
        );
    }
    mugai
        .env("MUGAI_LINK_KEY", "ab".repeat(32))
        .env("MUGAI_POSTGRES_URL", "host=db user=mugai password=x")
        .env("MUGAI_S3_SECRET", "s3");
    let out = mugai.output().expect("mugai");
    assert!(out.status.success(), "the ConfigMap's mugai.toml: {}", text(&out));
    // Without the Secret, the same file is refused, naming what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["--config", config.to_str().expect("path"), "check-config"])
        .env_remove("MUGAI_LINK_KEY")
        .output()
        .expect("mugai");
    assert!(
        !out.status.success() && text(&out).contains("MUGAI_LINK_KEY"),
        "{}",
        text(&out)
    );
}

/// The three deployment models keep the sides apart: the carry-in box and the LGWAN-side
/// pages never share an interface (address), every listener speaks TLS, and the box may send
/// only to configured LGWAN domains; the guide shows each model's file.
#[test]
fn the_deployment_models_keep_the_internet_and_lgwan_listeners_apart() {
    let guide = std::fs::read_to_string(root().join("docs/deployment.md")).expect("docs/deployment.md");
    for model in ["alpha", "beta", "beta-prime"] {
        let path = root().join(format!("deploy/models/{model}.toml"));
        assert!(
            guide.contains(&format!("deploy/models/{model}.toml")),
            "the guide names {model}"
        );
        let config = mugai::Config::load(Some(&path)).expect("config");
        let listeners = &config.http.listeners;
        let internet: Vec<_> = listeners
            .iter()
            .filter(|l| l.groups.carry_in)
            .map(|l| l.listen.ip())
            .collect();
        let lgwan: Vec<_> = listeners
            .iter()
            .filter(|l| l.groups.portal || l.groups.api)
            .map(|l| l.listen.ip())
            .collect();
        assert!(!internet.is_empty() && !lgwan.is_empty(), "{model}");
        assert!(
            internet.iter().all(|ip| !lgwan.contains(ip)),
            "{model}: one interface for both sides"
        );
        assert!(
            listeners.iter().all(|l| l.tls.is_some()),
            "{model}: a listener without TLS"
        );
        assert!(!config.carry_in.mailbox_domains.is_empty(), "{model}");
        assert!(config.mail.link_base_url.starts_with("https://"), "{model}");
    }
}
