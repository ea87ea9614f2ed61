//! [`FileKind`]: every kind of file mugai tells apart, its names, extensions and media type.
//! Shared vocabulary of the engine, the policy, the reports and the ledger; a leaf (no imports
//! from the rest of the crate). Telling a file's kind from its bytes is `cdr::detect`'s work.

use serde::{Deserialize, Serialize};

/// Every kind mugai can tell apart. Serialized in snake_case in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Pdf,
    // OOXML, told apart by the main part's content type.
    Docx,
    Docm,
    Dotx,
    Dotm,
    Xlsx,
    Xlsm,
    Xltx,
    Xltm,
    Xlsb,
    Pptx,
    Pptm,
    Ppsx,
    Ppsm,
    Potx,
    Potm,
    /// A ZIP with `[Content_Types].xml` whose main part we do not recognise.
    OoxmlOther,
    Zip,
    // OLE compound files.
    Doc,
    Xls,
    Ppt,
    Jtd,
    Msg,
    /// An OOXML document encrypted into a compound file (`EncryptedPackage`).
    OoxmlEncrypted,
    OleOther,
    Rtf,
    Jpeg,
    Png,
    Gif,
    Bmp,
    Tiff,
    Webp,
    Svg,
    Text,
    Html,
    /// XML that is not a kind with a rebuilder (Excel 2003 XML, `.library-ms`, …).
    Xml,
    /// Text that Windows or Office acts on: `.url`, `.scf`, `.inf`, `desktop.ini`, SYLK,
    /// `.iqy`, `.reg`.
    ShellText,
    /// A MIME document: an MHT page or a saved mail (rendered with its HTML and parts).
    Mime,
    /// A disk image Windows mounts on a double-click (ISO 9660/UDF, VHD/VHDX, DMG, FAT).
    DiskImage,
    /// Compiled HTML Help (`.chm`).
    Chm,
    /// A OneNote section (`.one`).
    OneNote,
    /// A Windows Installer package (`.msi`, `.msp`, `.mst`).
    Msi,
    /// A Java archive (`.jar`): a ZIP with a manifest and class files.
    Jar,
    /// Windows PE (exe, dll, scr, ...).
    Pe,
    Elf,
    MachO,
    /// Windows shell link (.lnk).
    Lnk,
    /// Script text (shell, JScript, VBScript, PowerShell, batch, ...).
    Script,
    SevenZip,
    Rar,
    Lzh,
    Gzip,
    Bzip2,
    Xz,
    Tar,
    Cab,
    Unknown,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        // KIND_NAMES equals serde's snake_case names (a test checks every entry).
        KIND_NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// The kind whose report name (snake_case) is `name`.
    pub fn from_name(name: &str) -> Option<FileKind> {
        KIND_NAMES.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The MIME media type of files of this kind (used when a rebuilt file is attached to a
    /// mail); `application/octet-stream` for kinds without one of their own.
    pub fn media_type(self) -> &'static str {
        use FileKind::*;
        match self {
            Pdf => "application/pdf",
            Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Dotx => "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
            Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Xltx => "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
            Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            Ppsx => "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
            Potx => "application/vnd.openxmlformats-officedocument.presentationml.template",
            Docm => "application/vnd.ms-word.document.macroEnabled.12",
            Xlsm => "application/vnd.ms-excel.sheet.macroEnabled.12",
            Pptm => "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
            Doc => "application/msword",
            Xls => "application/vnd.ms-excel",
            Ppt => "application/vnd.ms-powerpoint",
            Jtd => "application/x-js-taro",
            Rtf => "application/rtf",
            Zip => "application/zip",
            Jpeg => "image/jpeg",
            Png => "image/png",
            Gif => "image/gif",
            Bmp => "image/bmp",
            Tiff => "image/tiff",
            Webp => "image/webp",
            Text => "text/plain",
            Html => "text/html",
            Xml => "application/xml",
            _ => "application/octet-stream",
        }
    }

    /// The usual extension of files of this kind (used to name outputs).
    pub fn extension(self) -> Option<&'static str> {
        use FileKind::*;
        Some(match self {
            Pdf => "pdf",
            Docx => "docx",
            Docm => "docm",
            Dotx => "dotx",
            Dotm => "dotm",
            Xlsx => "xlsx",
            Xlsm => "xlsm",
            Xltx => "xltx",
            Xltm => "xltm",
            Xlsb => "xlsb",
            Pptx => "pptx",
            Pptm => "pptm",
            Ppsx => "ppsx",
            Ppsm => "ppsm",
            Potx => "potx",
            Potm => "potm",
            Zip => "zip",
            Doc => "doc",
            Xls => "xls",
            Ppt => "ppt",
            Jtd => "jtd",
            Msg => "msg",
            Rtf => "rtf",
            Jpeg => "jpg",
            Png => "png",
            Gif => "gif",
            Bmp => "bmp",
            Tiff => "tif",
            Webp => "webp",
            Svg => "svg",
            Text => "txt",
            Html => "html",
            _ => return None,
        })
    }
}

const KIND_NAMES: &[(FileKind, &str)] = {
    use FileKind::*;
    &[
        (Pdf, "pdf"),
        (Docx, "docx"),
        (Docm, "docm"),
        (Dotx, "dotx"),
        (Dotm, "dotm"),
        (Xlsx, "xlsx"),
        (Xlsm, "xlsm"),
        (Xltx, "xltx"),
        (Xltm, "xltm"),
        (Xlsb, "xlsb"),
        (Pptx, "pptx"),
        (Pptm, "pptm"),
        (Ppsx, "ppsx"),
        (Ppsm, "ppsm"),
        (Potx, "potx"),
        (Potm, "potm"),
        (OoxmlOther, "ooxml_other"),
        (Zip, "zip"),
        (Doc, "doc"),
        (Xls, "xls"),
        (Ppt, "ppt"),
        (Jtd, "jtd"),
        (Msg, "msg"),
        (OoxmlEncrypted, "ooxml_encrypted"),
        (OleOther, "ole_other"),
        (Rtf, "rtf"),
        (Jpeg, "jpeg"),
        (Png, "png"),
        (Gif, "gif"),
        (Bmp, "bmp"),
        (Tiff, "tiff"),
        (Webp, "webp"),
        (Svg, "svg"),
        (Text, "text"),
        (Html, "html"),
        (Xml, "xml"),
        (ShellText, "shell_text"),
        (Mime, "mime"),
        (DiskImage, "disk_image"),
        (Chm, "chm"),
        (OneNote, "one_note"),
        (Msi, "msi"),
        (Jar, "jar"),
        (Pe, "pe"),
        (Elf, "elf"),
        (MachO, "mach_o"),
        (Lnk, "lnk"),
        (Script, "script"),
        (SevenZip, "seven_zip"),
        (Rar, "rar"),
        (Lzh, "lzh"),
        (Gzip, "gzip"),
        (Bzip2, "bzip2"),
        (Xz, "xz"),
        (Tar, "tar"),
        (Cab, "cab"),
        (Unknown, "unknown"),
    ]
};

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_serde_names() {
        for (kind, name) in KIND_NAMES {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String((*name).into())
            );
        }
    }
}
