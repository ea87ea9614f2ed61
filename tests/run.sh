#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs what the tests
# need (idempotently: nothing is reinstalled when present), then runs formatting, lint and
# every test. Run as root, or as a user with sudo, from anywhere in the checkout:
#
#     bash tests/run.sh
#
# Judges the tests call (never mocked): qpdf, pdfinfo/pdftotext (poppler-utils, poppler-data
# for Japanese CMaps), python3 (fixture generators).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
[ -d /usr/share/poppler/cMap ] || need_apt+=(poppler-data)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${need_apt[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

export CARGO_TERM_COLOR=never
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
