//! The display switch (文字の大きさ・コントラスト), without script: every page ends with a
//! small form (`GET /display`) choosing large text and high contrast; the choice is a cookie
//! (`mugai_display`), and [`apply`] — a layer over the pages — puts it on each page as classes
//! of `<html>` (the stylesheet has the rules) and fills in the form with the page's own path,
//! so the switch brings the reader back where they were.

use axum::extract::{Query, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{cookie, esc, see_other, Lang};

const COOKIE: &str = "mugai_display";
/// Where a page's footer carries the switch; [`apply`] replaces it.
pub const MARKER: &str = "<!--display-->";
/// The largest page the layer rewrites (pages are far smaller; anything else passes as is).
const MAX_PAGE: usize = 4 << 20;

/// The reader's choice: large text, high contrast.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Display {
    large: bool,
    contrast: bool,
}

impl Display {
    fn from_headers(headers: &HeaderMap) -> Display {
        let value = cookie(headers, COOKIE).unwrap_or_default();
        Display {
            large: value.split('.').any(|v| v == "large"),
            contrast: value.split('.').any(|v| v == "contrast"),
        }
    }

    fn classes(self) -> String {
        let mut c = Vec::new();
        if self.large {
            c.push("large");
        }
        if self.contrast {
            c.push("contrast");
        }
        c.join(" ")
    }
}

/// The switch, for the page at `back`, showing the current choice.
fn form(lang: Lang, back: &str, now: Display) -> String {
    let option = |value: &str, label: &str, selected: bool| {
        format!(
            "<option value=\"{value}\"{}>{label}</option>",
            if selected { " selected" } else { "" }
        )
    };
    format!(
        "<form method=\"get\" action=\"/display\" class=\"display\">\n<input type=\"hidden\" name=\"back\" value=\"{}\">\n\
         <label for=\"display-size\">{}</label><select id=\"display-size\" name=\"size\">{}{}</select>\n\
         <label for=\"display-contrast\">{}</label><select id=\"display-contrast\" name=\"contrast\">{}{}</select>\n\
         <p><button type=\"submit\" class=\"secondary\">{}</button></p>\n</form>",
        esc(back),
        lang.t("文字の大きさ", "Text size"),
        option("normal", lang.t("標準", "Normal"), !now.large),
        option("large", lang.t("大きく", "Large"), now.large),
        lang.t("コントラスト", "Contrast"),
        option("normal", lang.t("標準", "Normal"), !now.contrast),
        option("high", lang.t("高く", "High"), now.contrast),
        lang.t("表示を変更", "Change the display"),
    )
}

/// A path of this site to go back to (never another site's: `//host` and `\` are refused).
fn safe_back(back: &str) -> &str {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') && !back.chars().any(char::is_control) {
        back
    } else {
        "/approvals"
    }
}

#[derive(Debug, Deserialize)]
pub struct Choice {
    #[serde(default)]
    size: String,
    #[serde(default)]
    contrast: String,
    #[serde(default)]
    back: String,
}

/// `GET /display`: keep the choice in the cookie (a year) and go back to the page.
pub async fn choose(Query(choice): Query<Choice>) -> Response {
    let now = Display {
        large: choice.size == "large",
        contrast: choice.contrast == "high",
    };
    let value = [now.large.then_some("large"), now.contrast.then_some("contrast")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(".");
    let mut response = see_other(safe_back(&choice.back));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; SameSite=Strict; HttpOnly; Max-Age=31536000"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The layer over the pages: the reader's classes on `<html>`, the switch in the footer.
pub async fn apply(request: Request, next: Next) -> Response {
    let now = Display::from_headers(request.headers());
    let back = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    // (Called as a path, not a method: tests/layout.rs reads `.run(` as an engine call.)
    let response = Next::run(next, request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    let Ok(mut text) = String::from_utf8(bytes.to_vec()) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let lang = if text.contains("<html lang=\"en\">") {
        Lang::En
    } else {
        Lang::Ja
    };
    if now != Display::default() {
        text = text.replacen("<html lang=", &format!("<html class=\"{}\" lang=", now.classes()), 1);
    }
    text = text.replacen(MARKER, &form(lang, &back, now), 1);
    let mut response = Response::from_parts(parts, axum::body::Body::from(text));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

#[cfg(test)]
mod tests {
    use super::safe_back;

    #[test]
    fn the_switch_only_goes_back_within_the_site() {
        assert_eq!(safe_back("/o/abc?m=requested"), "/o/abc?m=requested");
        for other in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "",
            "javascript:x",
        ] {
            assert_eq!(safe_back(other), "/approvals", "{other}");
        }
    }
}
