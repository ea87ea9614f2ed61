//! Server-rendered pages for people: the recipient page (`recipient.rs`, reached by the
//! signed link in a mail's notice) and the approver's page (`approver.rs`). What they share
//! lives here: the language (Japanese unless the browser prefers English), the one layout,
//! HTML escaping, the CSRF check on every form, and error pages.
//!
//! No script and no external asset: the one stylesheet is inline and allowed by its hash in
//! the page's Content-Security-Policy, forms post only to this origin. Accessibility is
//! built in rather than added: `lang` set, landmarks (`header`/`main`/`footer`), every input
//! labelled, status messages in `role="status"`/`role="alert"`, visible focus, sizes in
//! `rem` so the browser's text size applies, colours with at least 7:1 contrast, and state
//! never told by colour alone.

pub mod admin;
pub mod approver;
pub mod carry_in;
pub mod display;
pub mod people;
pub mod recipient;

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// Japanese unless `Accept-Language` ranks English above Japanese.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best = (Lang::Ja, -1.0f32);
        for item in accept.split(',').take(32) {
            let mut pieces = item.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                .unwrap_or(1.0);
            let lang = if tag == "ja" || tag.starts_with("ja-") {
                Lang::Ja
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// One of two texts.
    pub fn t(self, ja: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// Escape text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
html{font-size:100%}\
body{font-family:system-ui,-apple-system,'Hiragino Sans','Noto Sans CJK JP',sans-serif;line-height:1.7;color:#1a1a1a;background:#fff;margin:0 auto;max-width:50rem;padding:1rem 1.25rem}\
header,footer{border-color:#1a1a1a;padding:.5rem 0}header{border-bottom:2px solid}footer{border-top:1px solid;margin-top:2rem;font-size:.9rem}\
h1{font-size:1.6rem;line-height:1.3}h2{font-size:1.25rem;margin-top:2rem}\
a{color:#0b3d91;text-decoration:underline}\
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid #1a1a1a;outline-offset:3px}\
button,.button{display:inline-block;font:inherit;font-weight:600;padding:.5rem 1.1rem;border:2px solid #0b3d91;background:#0b3d91;color:#fff;border-radius:.3rem;cursor:pointer;text-decoration:none}\
button.secondary{background:#fff;color:#0b3d91}\
input,select,textarea{font:inherit;padding:.4rem .5rem;border:2px solid #4a4a4a;border-radius:.3rem;min-width:16rem;max-width:100%;box-sizing:border-box}textarea{width:100%}section.request{border-top:1px solid #6b6b6b;padding-top:.5rem}\
label{display:block;font-weight:600;margin-bottom:.25rem}\
table{border-collapse:collapse;width:100%}caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #6b6b6b;vertical-align:top}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}\
.note{padding:.75rem 1rem;border-left:.4rem solid #1a1a1a;background:#f3f3f3}\
.alert{border-left-color:#a4001d}\
form.inline{display:inline}\
.hint{font-size:.9rem;color:#3d3d3d}.button .hint{color:inherit}\
form.display{margin-top:1rem}form.display select{min-width:8rem}\
html.large{font-size:125%}\
html.contrast body{color:#000;background:#fff}html.contrast a{color:#00007a}\
html.contrast .note{background:#fff;border:2px solid #000;border-left-width:.4rem}\
html.contrast button,html.contrast .button{background:#000;border-color:#000;color:#fff}\
html.contrast button.secondary{background:#fff;color:#000}\
html.contrast input,html.contrast select,html.contrast textarea{border-color:#000}\
html.contrast .hint{color:#000}html.contrast th,html.contrast td{border-bottom-color:#000}\
html.contrast a:focus-visible,html.contrast button:focus-visible,html.contrast input:focus-visible,\
html.contrast select:focus-visible,html.contrast textarea:focus-visible{outline:4px solid #000}";

/// The Content-Security-Policy of pages: nothing from elsewhere, no script, the inline
/// stylesheet by hash, forms only to this origin.
static PAGE_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// A whole page: `title` is the `<title>` and the `<h1>`, `body` is HTML already escaped.
pub fn page(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response {
    let footer = lang.t(
        "このページは受信したファイルの無害化の結果をお知らせするものです。リンクは他の人に渡さないでください。",
        "This page tells you what the gateway did with a file sent to you. Do not share its link.",
    );
    page_with_footer(lang, status, title, body, footer)
}

/// [`page`] with its own footer text (plain text, escaped here).
pub fn page_with_footer(lang: Lang, status: StatusCode, title: &str, body: &str, footer: &str) -> Response {
    let mut html = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title} - mugai</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><p>{brand}</p></header>\n<main>\n<h1>{title}</h1>\n{body}\n</main>\n\
         <footer><p>{footer}</p>\n{marker}</footer>\n</body>\n</html>\n",
        code = lang.code(),
        marker = display::MARKER,
        title = esc(title),
        brand = lang.t("mugai 無害化ゲートウェイ", "mugai sanitizing gateway"),
        footer = esc(footer),
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&PAGE_CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// An error as a page, in the reader's language, with the same status as the API would give.
pub fn error_page(lang: Lang, e: &ApiError) -> Response {
    let (title, text) = match e.code {
        "expired" => (
            lang.t("リンクの有効期限が切れています", "This link has expired"),
            lang.t(
                "保存期間が過ぎたため、このリンクは使えません。送信者に再送を依頼してください。",
                "The link's time has run out. Ask the sender to send the file again.",
            ),
        ),
        "unknown" | "invalid_link" => (
            lang.t("リンクが見つかりません", "Link not found"),
            lang.t(
                "リンクが正しくないか、ファイルの保存期間が終わっています。メールのリンクをもう一度開いてください。",
                "The link is not valid, or the file is no longer kept. Open the link from the mail again.",
            ),
        ),
        "pending" => (
            lang.t("承認待ちです", "Awaiting approval"),
            lang.t(
                "原本の開示申請は承認者の判断を待っています。",
                "Your request for the original awaits an approver.",
            ),
        ),
        "denied" => (
            lang.t("原本の開示は却下されました", "The original was not released"),
            lang.t(
                "承認者が原本の開示を認めませんでした。必要な場合は情報システム担当に相談してください。",
                "An approver declined to release the original. Ask your IT department if you need it.",
            ),
        ),
        "not_released" => (
            lang.t("原本はまだ開示されていません", "The original is not released"),
            lang.t(
                "原本は承認者の承認後にダウンロードできます。受信ページから申請してください。",
                "The original can be downloaded after an approver releases it. Request it on the page for this file.",
            ),
        ),
        "infected" => (
            lang.t("ウイルスが検出されました", "A virus was found"),
            lang.t(
                "ウイルス検査で問題が見つかったため、原本は開示できません。無害化したファイルをお使いください。",
                "The virus scan found something, so the original is not released. Use the sanitized file.",
            ),
        ),
        "scan_unavailable" => (
            lang.t("ウイルス検査ができませんでした", "The virus scan could not run"),
            lang.t(
                "しばらくしてからもう一度お試しください。",
                "Please try again later.",
            ),
        ),
        "too_many_attempts" => (
            lang.t("しばらくお待ちください", "Please wait"),
            lang.t(
                "パスワードの入力に何度も失敗したため、一時的に入力を受け付けていません。15分ほど後にもう一度お試しください。",
                "Too many wrong passwords. Try again in about 15 minutes.",
            ),
        ),
        "csrf" => (
            lang.t("もう一度操作してください", "Please try again"),
            lang.t(
                "フォームの有効期限が切れました。ページを開き直してからもう一度送信してください。",
                "The form has expired. Open the page again and send it once more.",
            ),
        ),
        _ => (
            lang.t("処理できませんでした", "Something went wrong"),
            lang.t(
                "時間をおいてもう一度お試しください。解決しない場合は情報システム担当に連絡してください。",
                "Please try again later. If it goes on, contact your IT department.",
            ),
        ),
    };
    let body = format!("<p class=\"note alert\" role=\"alert\">{}</p>", esc(text));
    let mut response = page(lang, e.status, title, &body);
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

const CSRF_COOKIE: &str = "mugai_csrf";

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// The CSRF token for this browser (double-submit: a random `SameSite=Strict` cookie that
/// every form repeats in a hidden field), and the `Set-Cookie` to send when it is new.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(t) = cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return (t, None);
    }
    let token = crate::ids::random_hex(16).unwrap_or_default();
    let set = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400"
    ))
    .ok();
    (token, set)
}

/// The hidden field every form carries.
pub fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(token))
}

/// Refuse a form post that did not come from our own page: the field must equal the cookie
/// (compared in constant time), and a browser's `Origin`/`Sec-Fetch-Site` must say
/// same-origin when it sends them.
pub fn check_csrf(headers: &HeaderMap, form: &[u8]) -> Result<(), ApiError> {
    check_csrf_field(headers, super::held::form_field(form, "csrf").as_deref())
}

/// [`check_csrf`] with the form's `csrf` field already taken out (of a multipart form).
pub fn check_csrf_field(headers: &HeaderMap, field: Option<&str>) -> Result<(), ApiError> {
    let refused = || ApiError::new(StatusCode::FORBIDDEN, "csrf", "the form did not come from this site");
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(refused());
        }
    }
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` on form posts; that
    // says nothing either way, and the cookie pair still decides.
    if let (Some(origin), Some(host)) = (
        headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| *o != "null"),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o == host);
        if !same {
            return Err(refused());
        }
    }
    let cookie = cookie(headers, CSRF_COOKIE).ok_or_else(refused)?;
    let field = field.ok_or_else(refused)?;
    let same =
        cookie.len() == field.len() && cookie.bytes().zip(field.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(())
    } else {
        Err(refused())
    }
}

/// A 303 to `location` (after a form post, so a reload does not post again).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Unix seconds as Japan time, `2026-11-23 14:05`.
pub fn jst(unix: u64) -> String {
    let (year, month, day, secs) = crate::clock::civil(unix, 9 * 3600);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// A size in bytes for people.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_browser_and_defaults_to_japanese() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
            Lang::from_headers(&h)
        };
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Ja);
        assert_eq!(with("en-US,en;q=0.9"), Lang::En);
        assert_eq!(with("ja,en-US;q=0.8"), Lang::Ja);
        assert_eq!(with("fr-FR,en;q=0.5,ja;q=0.4"), Lang::En);
        assert_eq!(with("fr"), Lang::Ja);
    }

    #[test]
    fn escaping_and_dates() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(jst(0), "1970-01-01 09:00");
        // 2026-11-23 00:00 UTC.
        assert_eq!(jst(1_795_392_000), "2026-11-23 09:00");
        assert_eq!(jst(951_782_400), "2000-02-29 09:00");
    }

    #[test]
    fn a_form_without_the_matching_token_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; mugai_csrf=00112233445566778899aabbccddeeff"),
        );
        assert!(check_csrf(&h, b"csrf=00112233445566778899aabbccddeeff&x=1").is_ok());
        assert!(check_csrf(&h, b"csrf=00112233445566778899aabbccddeefe").is_err());
        assert!(check_csrf(&h, b"x=1").is_err());
        assert!(check_csrf(&HeaderMap::new(), b"csrf=00112233445566778899aabbccddeeff").is_err());
        h.insert(header::HOST, HeaderValue::from_static("gw.example:8080"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(check_csrf(&h, b"csrf=00112233445566778899aabbccddeeff").is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://gw.example:8080"));
        assert!(check_csrf(&h, b"csrf=00112233445566778899aabbccddeeff").is_ok());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_csrf(&h, b"csrf=00112233445566778899aabbccddeeff").is_err());
    }
}
