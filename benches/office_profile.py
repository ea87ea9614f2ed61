#!/usr/bin/env python3
"""The attachments of an ordinary office mail, made as offices make them (benches/smtp_load.py's
`office` profile): a Word memo from python-docx's default template (Word's own `Normal`
template: `styles.xml` and `stylesWithEffects.xml` are 440 KB of XML each, with the
template's thumbnail) with a picture, a ~170 KB spreadsheet from openpyxl, and a ~380 KB PDF
report from reportlab (text pages and a photo-like picture).

    target/bench-venv/bin/python benches/office_profile.py OUTDIR   # writes the three files

Needs python-docx, openpyxl, reportlab and Pillow (`python3 -m venv target/bench-venv &&
target/bench-venv/bin/pip install python-docx openpyxl reportlab pillow`). Deterministic: the
same versions write the same bytes. `distinct(name, data, i)` makes the i-th variant of a file
(a different document title; for a PDF, different bytes in its binary comment line), so that
every message of a load run carries new files, as real traffic does.
"""

import io
import os
import random
import sys
import zipfile


def picture(width, height, seed, fmt):
    """A photo-like picture: smooth gradients and noise, as a camera or a chart export gives."""
    from PIL import Image, ImageDraw, ImageFilter
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(40 + y * 150 // height, 90, 200 - y * 120 // height))
    for _ in range(120):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(8, 60)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img = img.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    img = Image.blend(img, noise, 0.15)
    out = io.BytesIO()
    img.save(out, fmt, quality=85) if fmt == "JPEG" else img.save(out, fmt)
    return out.getvalue()


def memo_docx():
    import docx
    from docx.shared import Cm
    d = docx.Document()
    d.core_properties.title = "会議資料"
    d.core_properties.author = "総務課"
    d.add_heading("令和8年度 予算編成に関する打合せ", level=1)
    for i in range(40):
        d.add_paragraph("第%d項　各課の要求額を取りまとめ、12月15日までに財政課へ提出してください。" % (i + 1)
                        + "詳細は添付の資料を参照のこと。" * 3)
    d.add_picture(io.BytesIO(picture(640, 400, 1, "PNG")), width=Cm(12))
    table = d.add_table(rows=12, cols=4)
    for r in range(12):
        for c in range(4):
            table.cell(r, c).text = "%d-%d" % (r, c)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def budget_xlsx():
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "予算"
    ws.append(["課", "事業名", "前年度", "要求額", "増減", "備考"])
    rng = random.Random(7)
    depts = ["総務課", "財政課", "市民課", "福祉課", "建設課", "教育委員会"]
    for i in range(2, 3800):
        prev, req = rng.randrange(10**5, 10**8), rng.randrange(10**5, 10**8)
        ws.append([rng.choice(depts), "事業%04d" % i, prev, req, "=D%d-C%d" % (i, i), "継続" if i % 3 else "新規"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report_pdf():
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, invariant=1)
    c.setTitle("report")
    photos = [ImageReader(io.BytesIO(picture(1150, 820, seed, "JPEG"))) for seed in (3, 4)]
    rng = random.Random(11)
    for page in range(12):
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 800, "Annual report, section %d" % (page + 1))
        c.setFont("Helvetica", 10)
        y = 770
        while y > 90:
            words = " ".join(rng.choice(["budget", "office", "citizen", "plan", "review", "2026", "service",
                                          "network", "policy", "report"]) for _ in range(14))
            c.drawString(72, y, words)
            y -= 13
        if page in (0, 6):
            c.drawImage(photos[page // 6], 72, 300, width=420, height=300)
        c.showPage()
    c.save()
    return out.getvalue()


def distinct(name, data, i):
    """The i-th variant of `data`: an Office package with its title numbered, a PDF with `i`
    in the four bytes of its binary comment line (same length, so no offset moves)."""
    if name.endswith(".pdf"):
        at = data.index(b"\n%", 0, 64) + 2
        tag = bytes(0x80 + ((i >> (7 * k)) & 0x7F) for k in range(4))
        return data[:at] + tag + data[at + 4:]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            # python-docx and openpyxl date entries now: fixed here, so runs are comparable.
            info = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 23, 9, 0, 0))
            if info.filename == "docProps/core.xml":
                body = body.replace(b"</dc:title>", b" %06d</dc:title>" % i, 1) if b"</dc:title>" in body else \
                    body.replace(b"</cp:coreProperties>", b"<dc:title>%06d</dc:title></cp:coreProperties>" % i, 1)
            dst.writestr(info, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


ATTACHMENTS = [
    ("memo.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", memo_docx),
    ("budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", budget_xlsx),
    ("report.pdf", "application/pdf", report_pdf),
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, _, make in ATTACHMENTS:
        data = make()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%-12s %8d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
