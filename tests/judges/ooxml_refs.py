#!/usr/bin/env python3
"""Dangling references in OOXML packages (Python's zipfile and ElementTree, not our parser).

    python3 tests/judges/ooxml_refs.py FILE...

For each package, prints one line per dangling reference and exits 1 when there is any:
- a `[Content_Types].xml` Override whose PartName is not in the package;
- an internal relationship (no TargetMode="External") whose target part is missing;
- an attribute in the relationships namespace (`r:id`, `r:embed`, `r:link`, `r:pict`, `r:dm`,
  ...) or VML's `o:relid` whose value is no relationship Id of its part;
- a part (other than the package's own plumbing) that nothing refers to is *not* an error
  (Office tolerates orphans); only references that lead nowhere are.
"""
import posixpath
import sys
import zipfile
import xml.etree.ElementTree as ET

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
VML_O_NS = "urn:schemas-microsoft-com:office:office"


def rels_path(part):
    d, base = posixpath.split(part)
    return posixpath.join(d, "_rels", base + ".rels")


def check(path):
    problems = []
    z = zipfile.ZipFile(path)
    names = set(z.namelist())
    lower = {n.lower() for n in names}
    if "[Content_Types].xml" in names:
        ct = ET.fromstring(z.read("[Content_Types].xml"))
        for o in ct.findall(f"{{{CT_NS}}}Override"):
            part = o.get("PartName", "").lstrip("/")
            if part.lower() not in lower:
                problems.append(f"content type override for missing part /{part}")
    rel_ids = {}
    for name in sorted(names):
        if not name.endswith(".rels"):
            continue
        d = posixpath.dirname(posixpath.dirname(name))
        source = posixpath.join(d, posixpath.basename(name)[: -len(".rels")])
        try:
            root = ET.fromstring(z.read(name))
        except ET.ParseError as e:
            problems.append(f"{name}: not XML ({e})")
            continue
        ids = set()
        for r in root.findall(f"{{{PKG_REL_NS}}}Relationship"):
            ids.add(r.get("Id"))
            if r.get("TargetMode") == "External":
                continue
            target = r.get("Target", "")
            if target.startswith("/"):
                resolved = target.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(d, target))
            if resolved.lower() not in lower:
                problems.append(f"{name}: relationship {r.get('Id')} to missing part {resolved}")
        rel_ids[source] = ids
    for name in sorted(names):
        if not (name.endswith(".xml") or name.endswith(".vml")) or name == "[Content_Types].xml":
            continue
        data = z.read(name)
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            # VML drawings are often not well-formed XML; Office reads them anyway.
            continue
        ids = rel_ids.get(name, set())
        for el in root.iter():
            for attr, value in el.attrib.items():
                if attr.startswith(f"{{{REL_NS}}}") or attr == f"{{{VML_O_NS}}}relid":
                    if value and value not in ids:
                        local = attr.split("}", 1)[1]
                        problems.append(f"{name}: {local}={value} is no relationship of the part")
    return problems


def main():
    bad = 0
    for path in sys.argv[1:]:
        try:
            problems = check(path)
        except (zipfile.BadZipFile, KeyError) as e:
            problems = [f"not a package: {e}"]
        for p in problems:
            print(f"{path}: {p}")
        bad += bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
