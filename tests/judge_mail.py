#!/usr/bin/env python3
"""An independent judge of mail: Python's own `email` package reads a message and prints
what it finds as JSON, so the Rust tests compare mugai's output with a parser mugai did not
write.

    python3 tests/judge_mail.py MAIL.eml [--extract DIR]

Prints {"subject", "from", "defects", "parts": [{"type", "filename", "size", "sha256",
"charset", "disposition"}], "text": the first text/plain body}. With --extract, every part
with a filename is written to DIR/<n>-<filename> (n counts from 0) and its path given as
"saved".
"""
import email
import email.policy
import hashlib
import json
import os
import sys


def main():
    path = sys.argv[1]
    extract = sys.argv[3] if len(sys.argv) == 4 and sys.argv[2] == "--extract" else None
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    parts = []
    defects = [f"{type(d).__name__}" for d in msg.defects]
    text = None
    for n, part in enumerate(msg.walk()):
        defects += [f"{part.get_content_type()}: {type(d).__name__}" for d in part.defects]
        if part.is_multipart():
            parts.append({"type": part.get_content_type()})
            continue
        payload = part.get_payload(decode=True) or b""
        entry = {
            "type": part.get_content_type(),
            "filename": part.get_filename(),
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "charset": part.get_content_charset(),
            "disposition": part.get_content_disposition(),
        }
        if part.get_content_type() == "message/rfc822":
            entry["size"] = None
        if extract and entry["filename"]:
            saved = os.path.join(extract, f"{n}-{entry['filename']}")
            with open(saved, "wb") as out:
                out.write(payload)
            entry["saved"] = saved
        if text is None and part.get_content_type() == "text/plain" and not entry["filename"]:
            try:
                text = part.get_content()
            except Exception as e:  # a charset Python cannot decode is a finding
                defects.append(f"text/plain: cannot decode ({e})")
        parts.append(entry)
    print(json.dumps({
        "subject": str(msg["subject"]) if msg["subject"] is not None else None,
        "from": str(msg["from"]) if msg["from"] is not None else None,
        "defects": defects,
        "parts": parts,
        "text": text,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
