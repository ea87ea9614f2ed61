//! Admission: which files may cross at all, decided before any rebuilder runs. A file is
//! admitted only when its content-detected kind has a rebuilder **and** its name's extension
//! is one that kind is known to use ([`EXTENSIONS`], plus what the operator adds in
//! `[policy.extensions]`). A name is judged as Windows will save it ([`windows_name`]): bidi
//! and other invisible format characters, NTFS stream suffixes (`a.pdf:x.exe`), trailing dots
//! and spaces (`run.js.` is saved as `run.js`), and case do not change what the extension is.
//!
//! This module owns the table and the name rules; it knows nothing of content (that is
//! `cdr::detect` and `cdr::sniff`) and uses only [`FileKind`].

use std::collections::BTreeMap;

use crate::kind::FileKind;

/// The extensions each kind is known to use: the one table of what may cross. An extension
/// names the kinds a file so named may hold; a kind is admitted under the extensions that name
/// it. Families are whole (a `.docx` holding a docm is the same family, and the rebuilder
/// renames it). Kinds that never cross (executables, shell formats, disk images, …) are listed
/// too, so that a file named like one but holding something else is an `extension_mismatch`
/// rather than a guess.
pub const EXTENSIONS: &[(&str, &[FileKind])] = {
    use FileKind::*;
    const WORD: &[FileKind] = &[Docx, Docm, Dotx, Dotm, OoxmlEncrypted];
    const EXCEL: &[FileKind] = &[Xlsx, Xlsm, Xltx, Xltm, Xlsb, OoxmlEncrypted];
    const POWERPOINT: &[FileKind] = &[Pptx, Pptm, Ppsx, Ppsm, Potx, Potm, OoxmlEncrypted];
    &[
        ("pdf", &[Pdf]),
        ("docx", WORD),
        ("docm", WORD),
        ("dotx", WORD),
        ("dotm", WORD),
        ("xlsx", EXCEL),
        ("xlsm", EXCEL),
        ("xltx", EXCEL),
        ("xltm", EXCEL),
        ("xlsb", EXCEL),
        ("pptx", POWERPOINT),
        ("pptm", POWERPOINT),
        ("ppsx", POWERPOINT),
        ("ppsm", POWERPOINT),
        ("potx", POWERPOINT),
        ("potm", POWERPOINT),
        // Word saves RTF under `.doc` when asked to; both are rebuilt.
        ("doc", &[Doc, Rtf]),
        ("dot", &[Doc, Rtf]),
        ("xls", &[Xls]),
        ("xlt", &[Xls]),
        ("ppt", &[Ppt]),
        ("pps", &[Ppt]),
        ("pot", &[Ppt]),
        ("jtd", &[Jtd, OleOther]),
        ("jtt", &[Jtd, OleOther]),
        ("msg", &[Msg]),
        ("rtf", &[Rtf]),
        ("zip", &[Zip]),
        ("jpg", &[Jpeg]),
        ("jpeg", &[Jpeg]),
        ("jpe", &[Jpeg]),
        ("jfif", &[Jpeg]),
        ("png", &[Png]),
        ("gif", &[Gif]),
        ("bmp", &[Bmp]),
        ("dib", &[Bmp]),
        ("tif", &[Tiff]),
        ("tiff", &[Tiff]),
        ("webp", &[Webp]),
        ("txt", &[Text]),
        ("text", &[Text]),
        ("csv", &[Text]),
        ("tsv", &[Text]),
        ("log", &[Text]),
        ("md", &[Text]),
        ("htm", &[Html]),
        ("html", &[Html]),
        ("svg", &[Svg]),
        ("xml", &[Xml]),
        ("eml", &[Mime]),
        ("mht", &[Mime, Html]),
        ("mhtml", &[Mime, Html]),
        ("exe", &[Pe]),
        ("dll", &[Pe]),
        ("scr", &[Pe]),
        ("sys", &[Pe]),
        ("cpl", &[Pe]),
        ("ocx", &[Pe]),
        ("com", &[Pe]),
        ("pif", &[Pe]),
        ("lnk", &[Lnk]),
        ("msi", &[Msi]),
        ("msp", &[Msi]),
        ("mst", &[Msi]),
        ("jar", &[Jar]),
        ("iso", &[DiskImage]),
        ("img", &[DiskImage]),
        ("vhd", &[DiskImage]),
        ("vhdx", &[DiskImage]),
        ("dmg", &[DiskImage]),
        ("chm", &[Chm]),
        ("one", &[OneNote]),
        ("url", &[ShellText]),
        ("scf", &[ShellText]),
        ("inf", &[ShellText]),
        ("ini", &[ShellText]),
        ("slk", &[ShellText]),
        ("iqy", &[ShellText]),
        ("reg", &[ShellText]),
        ("7z", &[SevenZip]),
        ("rar", &[Rar]),
        ("lzh", &[Lzh]),
        ("lha", &[Lzh]),
        ("gz", &[Gzip]),
        ("tgz", &[Gzip]),
        ("bz2", &[Bzip2]),
        ("xz", &[Xz]),
        ("tar", &[Tar]),
        ("cab", &[Cab]),
    ]
};

/// Extensions that run, mount or fetch something when opened: never admitted, whatever the
/// content, and never addable in `[policy.extensions]`. A text or HTML file named like a
/// script is a script. (HTML, SVG, XML and MHT are kinds of their own in [`EXTENSIONS`], with
/// the policy of their kind.)
pub const ACTIVE_EXTENSIONS: &[&str] = &[
    "js",
    "jse",
    "vbs",
    "vbe",
    "wsf",
    "wsh",
    "wsc",
    "sct",
    "ps1",
    "psm1",
    "psd1",
    "ps1xml",
    "bat",
    "cmd",
    "hta",
    "sh",
    "bash",
    "py",
    "pyw",
    "pl",
    "rb",
    "php",
    "scr",
    "exe",
    "dll",
    "com",
    "pif",
    "cpl",
    "msc",
    "msi",
    "msp",
    "mst",
    "jar",
    "jnlp",
    "lnk",
    "url",
    "scf",
    "reg",
    "inf",
    "ini",
    "iqy",
    "slk",
    "library-ms",
    "settingcontent-ms",
    "search-ms",
    "searchconnector-ms",
    "appref-ms",
    "application",
    "gadget",
    "xbap",
    "appx",
    "appxbundle",
    "msix",
    "msixbundle",
    "vsix",
    "xpi",
    "crx",
    "apk",
    "iso",
    "img",
    "vhd",
    "vhdx",
    "dmg",
    "chm",
    "hlp",
    "one",
    "onepkg",
    "xhtml",
    "shtml",
    "xsl",
    "xslt",
    "svgz",
    "desktop",
    "theme",
    "themepack",
    "deskthemepack",
    "diagcab",
    "rdp",
    "website",
    "ms-shortcut",
    "cer",
    "crt",
    "der",
    "ade",
    "adp",
    "mde",
    "mda",
    "accde",
    "mam",
    "maq",
    "mar",
    "mat",
    "mau",
    "mav",
    "maw",
    "ins",
    "isp",
    "job",
    "ws",
    "lib",
    "shb",
    "shs",
    "xll",
    "xlam",
    "ppam",
    "wll",
    "sldm",
    "acm",
    "ax",
    "drv",
    "efi",
];

/// Extensions whose meaning demands a script, whatever the content looks like: text, markup
/// or an unknown binary so named is treated as a script.
pub fn is_script_extension(ext: &str) -> bool {
    matches!(
        ext,
        "js" | "jse"
            | "vbs"
            | "vbe"
            | "wsf"
            | "wsh"
            | "wsc"
            | "sct"
            | "ps1"
            | "psm1"
            | "psd1"
            | "bat"
            | "cmd"
            | "hta"
            | "sh"
            | "bash"
            | "py"
            | "pyw"
            | "pl"
            | "rb"
            | "php"
            | "scr"
            | "lnk"
            | "reg"
            | "msi"
            | "jar"
            | "com"
    )
}

/// Whether `ext` (lowercase, no dot) names something that runs when opened.
pub fn is_active_extension(ext: &str) -> bool {
    ACTIVE_EXTENSIONS.contains(&ext)
}

/// What happens to a file whose name has no extension (`README`, `scan`): Windows asks which
/// program should open it, so its content alone can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingExtension {
    /// Admitted by its content-detected kind (the default).
    Admit,
    /// Blocked (reason `missing_extension`).
    Block,
}

/// The admission rules of one configuration: the built-in table, the operator's additions
/// and the rule for names without an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    extra: BTreeMap<String, Vec<FileKind>>,
    pub missing_extension: MissingExtension,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            extra: BTreeMap::new(),
            missing_extension: MissingExtension::Admit,
        }
    }
}

/// The name part of an admission decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameVerdict {
    /// The extension is one the kind uses (or there is no name at all).
    Admitted,
    /// The name has no extension.
    NoExtension,
    /// The extension is one that runs when opened (`js`, `url`, `hta`, …).
    Active(String),
    /// The extension is another kind's, or one no admitted kind uses.
    Mismatch(String),
}

impl NameVerdict {
    fn severity(&self) -> u8 {
        match self {
            NameVerdict::Admitted => 0,
            NameVerdict::NoExtension => 1,
            NameVerdict::Mismatch(_) => 2,
            NameVerdict::Active(_) => 3,
        }
    }
}

impl Admission {
    /// Build from `[policy.extensions]` (kind name → extensions added to that kind) and
    /// `[policy] missing_extension`; every problem is returned with its key path.
    pub fn from_config(
        extensions: &BTreeMap<String, Vec<String>>,
        missing_extension: MissingExtension,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut extra: BTreeMap<String, Vec<FileKind>> = BTreeMap::new();
        let mut problems = Vec::new();
        for (kind_name, exts) in extensions {
            let key = format!("policy.extensions.{kind_name}");
            let Some(kind) = FileKind::from_name(kind_name) else {
                problems.push((key, format!("`{kind_name}` is not a file kind mugai knows")));
                continue;
            };
            for ext in exts {
                let clean = ext.trim_start_matches('.').to_ascii_lowercase();
                if clean.is_empty() || !clean.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    problems.push((key.clone(), format!("`{ext}` is not an extension")));
                } else if is_active_extension(&clean) {
                    problems.push((
                        key.clone(),
                        format!("`.{clean}` files run when opened and cannot be admitted"),
                    ));
                } else if let Some((_, kinds)) = EXTENSIONS.iter().find(|(e, _)| *e == clean) {
                    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                    problems.push((
                        key.clone(),
                        format!("`.{clean}` is already the extension of {}", names.join(", ")),
                    ));
                } else {
                    extra.entry(clean).or_default().push(kind);
                }
            }
        }
        if problems.is_empty() {
            Ok(Admission {
                extra,
                missing_extension,
            })
        } else {
            Err(problems)
        }
    }

    /// The kinds a file with extension `ext` may hold (built-in and added), if any.
    pub fn kinds_for(&self, ext: &str) -> Vec<FileKind> {
        let mut kinds: Vec<FileKind> = EXTENSIONS
            .iter()
            .filter(|(e, _)| *e == ext)
            .flat_map(|(_, k)| k.iter().copied())
            .collect();
        if let Some(added) = self.extra.get(ext) {
            kinds.extend(added);
        }
        kinds
    }

    /// Judge `name` (as sent) for a file whose content is `kind`.
    pub fn judge_name(&self, kind: FileKind, name: Option<&str>) -> NameVerdict {
        let Some(name) = name else {
            return NameVerdict::Admitted;
        };
        // Every reading of the name must admit the file (a stream suffix is cut by Windows but
        // turned into `_` by other tools): the worst verdict of them all counts.
        windows_names(name)
            .iter()
            .map(|saved| match extension(saved) {
                None => NameVerdict::NoExtension,
                Some(ext) if is_active_extension(&ext) => NameVerdict::Active(ext),
                Some(ext) if !self.kinds_for(&ext).contains(&kind) => NameVerdict::Mismatch(ext),
                Some(_) => NameVerdict::Admitted,
            })
            .max_by_key(NameVerdict::severity)
            .unwrap_or(NameVerdict::Admitted)
    }
}

/// The extension `name` has once saved by Windows, lowercased (`None` without one).
pub fn saved_extension(name: &str) -> Option<String> {
    windows_names(name).first().and_then(|n| extension(n))
}

/// The readings of `name` as a file will be saved: by Windows (stream suffix cut at the first
/// `:`), and, when it has one, with `:` replaced as other tools do.
fn windows_names(name: &str) -> Vec<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let visible: String = base.chars().filter(|c| !is_invisible(*c)).collect();
    let mut names = vec![trim_windows(visible.split(':').next().unwrap_or(""))];
    if visible.contains(':') {
        names.push(trim_windows(&visible.replace(':', "_")));
    }
    names
}

/// `name` as Windows saves it: the last path component, without bidi controls and other
/// invisible format characters, NTFS stream suffix, and trailing dots and spaces.
pub fn windows_name(name: &str) -> String {
    windows_names(name).swap_remove(0)
}

/// Windows removes trailing dots and spaces when it creates a file.
fn trim_windows(name: &str) -> String {
    name.trim_end_matches(['.', ' ']).trim_start().to_string()
}

/// Characters that change how a name is shown but not what it is: bidi controls (U+202E
/// turns `fdp.exe` into `exe.pdf` on screen), zero-width characters, the BOM, and C0/C1
/// controls.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
        | '\u{061C}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}')
        || c.is_control()
}

/// The lowercased extension of an already saved name (after its last dot; a dotfile has none).
fn extension(saved: &str) -> Option<String> {
    let (stem, ext) = saved.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    Some(ext.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileKind::*;

    #[test]
    fn names_are_judged_as_windows_saves_them() {
        assert_eq!(windows_name("run.js."), "run.js");
        assert_eq!(windows_name("run.js . . "), "run.js");
        assert_eq!(windows_name("C:\\tmp\\a.pdf::$DATA"), "a.pdf");
        assert_eq!(windows_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(windows_name("a\u{200B}.pdf"), "a.pdf");
        assert_eq!(saved_extension("Report.PDF"), Some("pdf".into()));
        assert_eq!(saved_extension("archive.tar.gz"), Some("gz".into()));
        assert_eq!(saved_extension(".profile"), None);
        assert_eq!(saved_extension("README"), None);
    }

    #[test]
    fn the_allowlist_decides() {
        let a = Admission::default();
        assert_eq!(a.judge_name(Pdf, Some("見積書.pdf")), NameVerdict::Admitted);
        assert_eq!(a.judge_name(Pdf, None), NameVerdict::Admitted);
        assert_eq!(a.judge_name(Docm, Some("report.docx")), NameVerdict::Admitted);
        assert_eq!(a.judge_name(Text, Some("notes.csv")), NameVerdict::Admitted);
        assert_eq!(
            a.judge_name(Pdf, Some("data.unknownext")),
            NameVerdict::Mismatch("unknownext".into())
        );
        assert_eq!(a.judge_name(Zip, Some("tool.jar")), NameVerdict::Active("jar".into()));
        assert_eq!(a.judge_name(Text, Some("run.js.")), NameVerdict::Active("js".into()));
        assert_eq!(a.judge_name(Text, Some("x.url")), NameVerdict::Active("url".into()));
        assert_eq!(
            a.judge_name(Text, Some("a.pdf:evil.js")),
            NameVerdict::Active("js".into())
        );
        assert_eq!(
            a.judge_name(Pdf, Some("a.pdf:evil.js")),
            NameVerdict::Active("js".into())
        );
        assert_eq!(
            a.judge_name(Pdf, Some("invoice\u{202E}fdp.exe")),
            NameVerdict::Active("exe".into())
        );
        assert_eq!(a.judge_name(Text, Some("README")), NameVerdict::NoExtension);
        assert_eq!(
            a.judge_name(Pe, Some("invoice.pdf")),
            NameVerdict::Mismatch("pdf".into())
        );
    }

    #[test]
    fn operators_add_extensions_but_never_active_ones() {
        let mut table = BTreeMap::new();
        table.insert("pdf".to_string(), vec!["ai".to_string(), ".PDFA".to_string()]);
        let a = Admission::from_config(&table, MissingExtension::Block).unwrap();
        assert_eq!(a.judge_name(Pdf, Some("logo.ai")), NameVerdict::Admitted);
        assert_eq!(a.judge_name(Pdf, Some("x.pdfa")), NameVerdict::Admitted);
        table.insert("text".to_string(), vec!["js".to_string(), "html".to_string()]);
        table.insert("txet".to_string(), vec!["log2".to_string()]);
        let problems = Admission::from_config(&table, MissingExtension::Admit).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "policy.extensions.text",
                "policy.extensions.text",
                "policy.extensions.txet"
            ]
        );
    }
}
