//! Legacy compound-file documents (Word/Excel/PowerPoint 97-2003 and 一太郎 `.jtd`): a new
//! compound file is written with the document's own streams, and without the storages that
//! carry code or embedded programs.
//!
//! Removed wherever they are: VBA (`Macros`, `_VBA_PROJECT_CUR`, `_VBA_PROJECT`, `VBA`),
//! embedded objects (`ObjectPool`, Excel's `MBD…` storages, any storage holding an
//! `\x01Ole10Native` or `\x01Ole` stream, loose `\x01Ole10Native` streams), custom XML data
//! stores (`MsoDataStore`) and XML signatures. Excel's `OBPROJ` record ("this workbook has a
//! VBA project") is overwritten in place by a record Excel ignores, so no stream offsets move.
//!
//! Refused rather than half-cleaned (outcome `blocked`): encrypted documents (Word
//! `fEncrypted`, Excel `FILEPASS`, PowerPoint `EncryptedSummary`), Excel 4 macro sheets inside
//! a `.xls` (they live in the Workbook stream itself; removing them means rewriting every
//! sheet offset), and PowerPoint files with embedded OLE objects (also inside the main stream).
//!
//! 一太郎: JustSystems does not document the format. The rebuild keeps every stream whose
//! storage is not an embedded object or macro storage by the rules above — the document text
//! (`DocumentText`), layout (`JSRV_*`) and picture streams — and drops the rest; the list of
//! dropped names is in the report.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::report::{Finding, What};

/// The OLE sanitizer.
pub struct OleSanitizer;

/// Storage (or stream) names whose whole subtree is removed, with what they are.
fn dropped_name(name: &str) -> Option<What> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "macros" | "_vba_project_cur" | "_vba_project" | "vba" | "projectwm" => What::Macro,
        "objectpool" | "\u{1}ole10native" | "\u{1}ole" => What::OleObject,
        "msodatastore" => What::PrivateData,
        "_xmlsignatures" | "_signatures" => What::PrivateData,
        _ if lower.starts_with("mbd") && lower.len() == 11 && lower[3..].chars().all(|c| c.is_ascii_hexdigit()) => {
            What::OleObject
        }
        _ => return None,
    })
}

/// A fixed timestamp for every storage, so the same input gives the same bytes.
fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

/// Excel BIFF record types we look at.
const BIFF_BOF: u16 = 0x0809;
const BIFF_FILEPASS: u16 = 0x002F;
const BIFF_OBPROJ: u16 = 0x00D3;
const BIFF_BOUNDSHEET: u16 = 0x0085;
const BIFF_SUPBOOK: u16 = 0x01AE;
const BIFF_EXTERNNAME: u16 = 0x0023;
/// `OBPROJ` is overwritten with this: `Excel9File`, an empty record that only says a later
/// Excel saved the file and that every reader skips when it does not know it.
const BIFF_HARMLESS_EMPTY: u16 = 0x01C0;

impl Sanitizer for OleSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[
            FileKind::Doc,
            FileKind::Xls,
            FileKind::Ppt,
            FileKind::Jtd,
            FileKind::OoxmlEncrypted,
        ]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        let kind = super::detect::detect(input);
        if kind == FileKind::OoxmlEncrypted {
            return Err(Refusal::Encrypted { hold: false });
        }
        // The engine only sends compound files detected as one of our kinds (an unknown
        // compound file is `unsupported`); a direct caller gets the same answer.
        if !self.kinds().contains(&kind) {
            return Err(Refusal::Unsupported(kind));
        }
        let malformed = |e: std::io::Error| Refusal::Malformed(format!("compound file: {e}"));
        let mut src = cfb::CompoundFile::open(Cursor::new(input)).map_err(malformed)?;

        let mut entries: Vec<(PathBuf, bool, u64, cfb::Entry)> = Vec::new();
        for entry in src.walk() {
            if entries.len() as u64 >= cx.config.limits.max_entries {
                return Err(Refusal::LimitExceeded {
                    limit: "limits.max_entries",
                    detail: format!("more than {} streams and storages", cx.config.limits.max_entries),
                });
            }
            entries.push((entry.path().to_path_buf(), entry.is_stream(), entry.len(), entry));
        }

        let mut findings = Vec::new();
        let doc = if kind == FileKind::Doc {
            word_context(&mut src)
        } else {
            WordContext::default()
        };
        let mut dropped_roots: Vec<PathBuf> = Vec::new();
        // Storages that hold an embedded object's native data are embedded objects.
        for (path, is_stream, _, _) in &entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // The document's own `\x01Ole` stream (link and moniker flags for the file itself)
            // sits at the root; only inside a sub-storage does it mark an embedded object.
            if path.parent() == Some(Path::new("/")) && name == "\u{1}Ole" {
                continue;
            }
            if let Some(what) = dropped_name(name) {
                let root = if *is_stream && what == What::OleObject {
                    // `\x01Ole10Native` inside a storage: the storage is the object.
                    path.parent()
                        .filter(|p| *p != Path::new("/"))
                        .unwrap_or(path)
                        .to_path_buf()
                } else {
                    path.clone()
                };
                if !dropped_roots.iter().any(|d| root.starts_with(d)) {
                    dropped_roots.retain(|d| !d.starts_with(&root));
                    dropped_roots.push(root);
                    findings.push(Finding::removed(what, display(path), "storage removed"));
                }
            }
        }
        let kept = |p: &Path| !dropped_roots.iter().any(|d| p.starts_with(d));

        // Office writes version 3 (512-byte sectors) and LibreOffice reads nothing else well;
        // a version-4 input stays version 4.
        let mut out =
            cfb::CompoundFile::create_with_version(src.version(), Cursor::new(Vec::with_capacity(input.len())))
                .map_err(|e| Refusal::Internal(format!("compound file: {e}")))?;
        let internal = |e: std::io::Error| Refusal::Internal(format!("writing the compound file: {e}"));
        if let Some((_, _, _, root)) = entries.first() {
            out.set_storage_clsid("/", *root.clsid()).map_err(internal)?;
        }
        for (path, is_stream, len, entry) in &entries {
            cx.check_deadline()?;
            if path == Path::new("/") || !kept(path) {
                continue;
            }
            if *is_stream {
                cx.charge_decompressed(*len)?;
                let mut data = Vec::with_capacity(usize::try_from(*len).unwrap_or(0).min(1 << 26));
                src.open_stream(path)
                    .map_err(malformed)?
                    .take(*len)
                    .read_to_end(&mut data)
                    .map_err(malformed)?;
                self.check_stream(kind, path, &mut data, &doc, &mut findings)?;
                out.create_stream(path)
                    .map_err(internal)?
                    .write_all(&data)
                    .map_err(internal)?;
            } else {
                out.create_storage(path).map_err(internal)?;
                out.set_storage_clsid(path, *entry.clsid()).map_err(internal)?;
            }
            out.set_state_bits(path, entry.state_bits()).map_err(internal)?;
        }
        for (path, is_stream, _, _) in &entries {
            if !is_stream && kept(path) {
                out.set_created_time(path, fixed_time()).map_err(internal)?;
                out.set_modified_time(path, fixed_time()).map_err(internal)?;
            }
        }
        out.flush().map_err(internal)?;
        findings.sort();
        findings.dedup();
        // Nothing removed or neutralised: the input is the clean file, byte for byte (every
        // rewrite is a chance to break a document some reader depends on) — unless bytes
        // follow the file's last sector (a polyglot's payload), which the rebuild leaves out.
        if findings.is_empty() && !ends_at_its_last_sector(input) {
            findings.push(Finding::removed(
                What::Structure,
                "end of file",
                "data after the compound file's last sector",
            ));
        }
        let bytes = if findings.is_empty() {
            input.to_vec()
        } else {
            out.into_inner().into_inner()
        };
        Ok(Clean { bytes, kind, findings })
    }
}

impl OleSanitizer {
    /// Format-specific checks and in-place fixes of a kept stream.
    fn check_stream(
        &self,
        kind: FileKind,
        path: &Path,
        data: &mut [u8],
        doc: &WordContext,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Refusal> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let at_root = path.parent() == Some(Path::new("/"));
        match (kind, name) {
            (FileKind::Doc, "WordDocument") => {
                // FibBase: wIdent 0xA5EC, flags at offset 0x0A, bit 0x0100 is fEncrypted.
                let flags = data
                    .get(0x0A..0x0C)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .unwrap_or(0);
                if flags & 0x0100 != 0 {
                    return Err(Refusal::Encrypted { hold: false });
                }
                if at_root {
                    disarm_doc_fields(data, findings);
                }
            }
            (FileKind::Doc, table) if at_root && table == doc.table => {
                if let Some(range) = doc.assoc.clone() {
                    disarm_remote_assoc(data, range, findings);
                }
            }
            (FileKind::Xls, "Workbook" | "Book") => check_biff(data, findings)?,
            (FileKind::Ppt, "EncryptedSummary") => return Err(Refusal::Encrypted { hold: false }),
            // ExOleObjStg (0x1011) records hold embedded objects and the VBA project.
            (FileKind::Ppt, "PowerPoint Document") if has_ppt_record(data, |t, _| t == 0x1011) => {
                return Err(Refusal::Forbidden {
                    kind,
                    why: "cannot_rebuild",
                });
            }
            // InteractiveInfoAtom (0x0FF3): a click or mouse-over action; byte 8 is the action
            // (1 macro, 2 run a program, 5 an OLE verb). Such a file is refused.
            (FileKind::Ppt, "PowerPoint Document")
                if has_ppt_record(data, |t, body| t == 0x0FF3 && matches!(body.get(8), Some(1 | 2 | 5))) =>
            {
                return Err(Refusal::Forbidden {
                    kind,
                    why: "active_action",
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Walk the BIFF8 records of a Workbook stream: refuse encryption and Excel 4 macro sheets,
/// neutralise `OBPROJ` in place.
fn check_biff(data: &mut [u8], findings: &mut Vec<Finding>) -> Result<(), Refusal> {
    let mut pos = 0usize;
    let mut first = true;
    // The last SUPBOOK was another workbook, a DDE server or an OLE link (not this workbook's
    // own, `cch` 0x0401, nor the add-in one, 0x3A01).
    let mut external_book = false;
    while pos + 4 <= data.len() {
        let kind = u16::from_le_bytes([data[pos], data[pos + 1]]);
        let len = usize::from(u16::from_le_bytes([data[pos + 2], data[pos + 3]]));
        let body = pos + 4..(pos + 4 + len).min(data.len());
        if first && kind != BIFF_BOF {
            return Err(Refusal::Malformed("the Workbook stream does not start with BOF".into()));
        }
        first = false;
        match kind {
            BIFF_FILEPASS => return Err(Refusal::Encrypted { hold: false }),
            BIFF_OBPROJ => {
                data[pos..pos + 2].copy_from_slice(&BIFF_HARMLESS_EMPTY.to_le_bytes());
                findings.push(Finding::removed(
                    What::Macro,
                    format!("Workbook record at {pos}"),
                    "OBPROJ neutralized",
                ));
            }
            BIFF_SUPBOOK => {
                let cch = data
                    .get(body.start + 2..body.start + 4)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]));
                external_book = !matches!(cch, Some(0x0401 | 0x3A01));
            }
            // A name from another workbook, a DDE topic (`cmd|' /c calc'!A0`) or an OLE link:
            // Excel asks to update it when the file opens. Refused, not half-cleaned.
            BIFF_EXTERNNAME if external_book => {
                return Err(Refusal::Forbidden {
                    kind: FileKind::Xls,
                    why: "external_link",
                });
            }
            BIFF_BOUNDSHEET => {
                // BoundSheet8: lbPlyPos u32, hsState u8, dt u8 (1 = Excel 4 macro sheet).
                if let Some(&dt) = data.get(body.start + 5) {
                    if dt == 0x01 {
                        return Err(Refusal::Forbidden {
                            kind: FileKind::Xls,
                            why: "excel4_macro",
                        });
                    }
                }
            }
            _ => {}
        }
        pos = body.end.max(pos + 4);
    }
    Ok(())
}

/// Whether a PowerPoint binary stream holds, at any depth, a record for which `wanted(type,
/// body)` holds. Records are `recVer/instance u16, type u16, len u32`; containers have
/// recVer 0xF.
fn has_ppt_record(data: &[u8], wanted: impl Fn(u16, &[u8]) -> bool) -> bool {
    let mut stack = vec![(0usize, data.len())];
    let mut steps = 0usize;
    while let Some((mut pos, end)) = stack.pop() {
        while pos + 8 <= end {
            steps += 1;
            if steps > 10_000_000 {
                return true; // pathological: treat as if it had one (fail closed)
            }
            let ver = data[pos] & 0x0F;
            let t = u16::from_le_bytes([data[pos + 2], data[pos + 3]]);
            let len = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]) as usize;
            let body_end = (pos + 8).saturating_add(len).min(end);
            if wanted(t, &data[pos + 8..body_end]) {
                return true;
            }
            if ver == 0x0F && stack.len() < 64 {
                stack.push((pos + 8, body_end));
            }
            pos = body_end;
        }
    }
    false
}

/// Whether the compound file ends where its allocation table says: no byte after the sector
/// after the last one the FAT marks as used (the header is sector -1). Bytes past that are no
/// part of the document — data appended to make a polyglot. `false` when it cannot be told
/// from the header's 109 FAT sector numbers (a file over ~7 MB): such a file is rebuilt.
fn ends_at_its_last_sector(input: &[u8]) -> bool {
    let u16_at = |o: usize| super::le::u16_at(input, o);
    let u32_at = |o: usize| super::le::u32_at(input, o);
    let (Some(shift @ (9 | 12)), Some(fat_sectors)) = (u16_at(0x1E), u32_at(0x2C)) else {
        return false;
    };
    if fat_sectors > 109 {
        return false;
    }
    let sector = 1usize << shift;
    let mut last_used = None;
    for k in 0..fat_sectors as usize {
        let Some(at) = u32_at(0x4C + 4 * k) else {
            return false;
        };
        let start = (at as usize).saturating_add(1).saturating_mul(sector);
        let Some(fat) = input.get(start..start.saturating_add(sector)) else {
            return false;
        };
        for (j, entry) in fat.chunks_exact(4).enumerate() {
            if entry != [0xFF; 4] {
                last_used = Some(k * (sector / 4) + j);
            }
        }
    }
    last_used.is_some_and(|last| input.len() <= (last + 2) * sector)
}

/// What the rebuild needs to know of a Word document before its streams: which table stream
/// it uses, and where in it the associated strings (`SttbfAssoc`: the attached template, the
/// mail-merge data source) are.
#[derive(Debug, Default)]
struct WordContext {
    table: &'static str,
    assoc: Option<std::ops::Range<usize>>,
}

/// Read the FIB at the start of `WordDocument`: `fWhichTblStm` (flag 0x0200) names the table
/// stream; `fcSttbfAssoc`/`lcbSttbfAssoc` are the 33rd pair of `FibRgFcLcb97`, at byte 410.
fn word_context(src: &mut cfb::CompoundFile<Cursor<&[u8]>>) -> WordContext {
    let mut fib = Vec::new();
    if let Ok(s) = src.open_stream("/WordDocument") {
        let _ = s.take(1024).read_to_end(&mut fib);
    }
    let u16_at = |o: usize| super::le::u16_at(&fib, o);
    let u32_at = |o: usize| super::le::u32_at(&fib, o).map(|n| n as usize);
    let table = if u16_at(0x0A).unwrap_or(0) & 0x0200 != 0 {
        "1Table"
    } else {
        "0Table"
    };
    // cbRgFcLcb (at 152) must reach the pair.
    let assoc = match (u16_at(152), u32_at(410), u32_at(414)) {
        (Some(n), Some(fc), Some(lcb)) if n > 32 && lcb > 0 => Some(fc..fc.saturating_add(lcb)),
        _ => None,
    };
    WordContext { table, assoc }
}

/// Field instructions in the document text (`0x13` instruction `0x14` result `0x15`, in
/// UTF-16 or 8-bit pieces) that fetch or run something are overwritten with spaces in place:
/// the field keeps its shown result and no stream offset moves.
fn disarm_doc_fields(data: &mut [u8], findings: &mut Vec<Finding>) {
    const MAX_INSTRUCTION: usize = 2048;
    let mut at = 0;
    while let Some(found) = memchr::memchr(0x13, &data[at..]) {
        let start = at + found + 1;
        at = start;
        let wide = data.get(start) == Some(&0);
        // UTF-16: the marker is `13 00`; the instruction follows as 16-bit units.
        let (from, unit) = if wide { (start + 1, 2) } else { (start, 1) };
        let mut end = from;
        let mut text = String::new();
        while end + unit <= data.len() && (end - from) / unit < MAX_INSTRUCTION {
            let c = if wide {
                u16::from_le_bytes([data[end], data[end + 1]])
            } else {
                u16::from(data[end])
            };
            if matches!(c, 0x13..=0x15) || c == 0 {
                break;
            }
            text.push(char::from_u32(u32::from(c)).unwrap_or(' '));
            end += unit;
        }
        if let Some(what) = super::fields::dangerous_instruction(&text) {
            for chunk in data[from..end].chunks_mut(unit) {
                chunk[0] = b' ';
                if unit == 2 {
                    chunk[1] = 0;
                }
            }
            let word = text.split_whitespace().next().unwrap_or_default().to_string();
            findings.push(Finding::removed(
                what,
                format!("WordDocument byte {from}"),
                format!("field {word}"),
            ));
        }
    }
}

/// The attached template (`ibstAssocDot`, 1) and mail-merge sources (8, 9) of `SttbfAssoc`,
/// when they name another machine (`http:`, `\\server`, `file:`): overwritten with spaces
/// in place, so Word neither fetches nor authenticates to them.
fn disarm_remote_assoc(data: &mut [u8], range: std::ops::Range<usize>, findings: &mut Vec<Finding>) {
    let Some(sttb) = data.get(range.clone()) else {
        return;
    };
    // fExtend 0xFFFF, cData, cbExtra, then cData strings of (cch u16, cch UTF-16 units).
    if sttb.len() < 6 || sttb[..2] != [0xFF, 0xFF] {
        return;
    }
    let count = usize::from(u16::from_le_bytes([sttb[2], sttb[3]]));
    let mut pos = range.start + 6;
    for index in 0..count.min(32) {
        let Some(cch) = data
            .get(pos..pos + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        else {
            return;
        };
        let chars = pos + 2..(pos + 2 + cch * 2).min(range.end).min(data.len());
        let text: String = char::decode_utf16(
            data[chars.clone()]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or(' '))
        .collect();
        let lower = text.to_ascii_lowercase();
        let remote =
            lower.starts_with("\\\\") || lower.starts_with("//") || lower.contains("://") || lower.starts_with("file:");
        if matches!(index, 1 | 8 | 9) && remote {
            for unit in data[chars.clone()].chunks_exact_mut(2) {
                unit.copy_from_slice(&[b' ', 0]);
            }
            let what = if index == 1 {
                "attached template"
            } else {
                "mail-merge source"
            };
            findings.push(Finding::removed(
                What::ExternalLink,
                format!("SttbfAssoc {index}"),
                what,
            ));
        }
        pos = chars.end;
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\u{1}', "\\x01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_and_object_storages_are_recognised() {
        assert_eq!(dropped_name("Macros"), Some(What::Macro));
        assert_eq!(dropped_name("_VBA_PROJECT_CUR"), Some(What::Macro));
        assert_eq!(dropped_name("ObjectPool"), Some(What::OleObject));
        assert_eq!(dropped_name("MBD0012ABCD"), Some(What::OleObject));
        assert_eq!(dropped_name("\u{1}Ole10Native"), Some(What::OleObject));
        assert_eq!(dropped_name("WordDocument"), None);
        assert_eq!(dropped_name("MBDx"), None);
    }

    #[test]
    fn biff_obproj_is_neutralised_in_place_and_filepass_refused() {
        let mut wb = vec![
            0x09, 0x08, 0x02, 0x00, 0x00, 0x06, 0xD3, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00,
        ];
        let before = wb.len();
        let mut findings = Vec::new();
        check_biff(&mut wb, &mut findings).expect("ok");
        assert_eq!(wb.len(), before);
        assert_eq!(&wb[6..8], &BIFF_HARMLESS_EMPTY.to_le_bytes());
        assert_eq!(findings.len(), 1);
        let mut enc = vec![0x09, 0x08, 0x00, 0x00, 0x2F, 0x00, 0x00, 0x00];
        assert_eq!(
            check_biff(&mut enc, &mut Vec::new()),
            Err(Refusal::Encrypted { hold: false })
        );
    }

    #[test]
    fn bytes_after_the_last_sector_are_told_apart() {
        // A minimal version-3 file: header, one FAT sector (sector 0) whose entries mark
        // sectors 0 and 1 used, and sector 1.
        let mut cf = vec![0u8; 512 * 3];
        cf[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
        cf[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes());
        cf[0x4C..0x50].copy_from_slice(&0u32.to_le_bytes());
        cf[512..1024].fill(0xFF);
        cf[512..516].copy_from_slice(&0xFFFF_FFFDu32.to_le_bytes());
        cf[516..520].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        assert!(ends_at_its_last_sector(&cf));
        let mut appended = cf.clone();
        appended.extend_from_slice(b"MZ\x90\0 a payload");
        assert!(!ends_at_its_last_sector(&appended));
        assert!(!ends_at_its_last_sector(&cf[..100]));
    }

    #[test]
    fn doc_fields_that_fetch_or_run_are_blanked_in_place() {
        let mut text: Vec<u8> = b"x\x13 DDEAUTO c:\\cmd.exe \x14shown\x15 \x13 PAGE \x141\x15".to_vec();
        let wide: Vec<u8> = "a\u{13}INCLUDEPICTURE \"http://198.51.100.7/a.png\" \\d\u{14}pic\u{15}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        text.extend_from_slice(&wide);
        let before = text.len();
        let mut findings = Vec::new();
        disarm_doc_fields(&mut text, &mut findings);
        assert_eq!(text.len(), before);
        let narrow = String::from_utf8_lossy(&text[..40]).to_string();
        assert!(
            !narrow.contains("DDEAUTO") && narrow.contains("shown") && narrow.contains("PAGE"),
            "{narrow}"
        );
        let utf16: String = char::decode_utf16(
            text[text.len() - wide.len()..]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or('?'))
        .collect();
        assert!(!utf16.contains("INCLUDEPICTURE") && utf16.contains("pic"), "{utf16}");
        assert_eq!(findings.len(), 2);
    }

    #[test]
    fn ppt_record_search_descends_into_containers() {
        // Container (ver 0xF) of type 0x03E8 holding an atom of type 0x1011.
        let mut d = vec![0x0F, 0x00, 0xE8, 0x03, 8, 0, 0, 0];
        d.extend_from_slice(&[0x00, 0x00, 0x11, 0x10, 0, 0, 0, 0]);
        assert!(has_ppt_record(&d, |t, _| t == 0x1011));
        assert!(!has_ppt_record(&d, |t, _| t == 0x2000));
    }
}
