//! The recipient page, `GET /o/{token}`: the link in a mail's notice leads here. It says what
//! arrived, what the gateway removed and why, offers the sanitized file, and — as
//! `http.originals` allows — the original (directly, after a virus scan, or by a request to
//! an approver). A held password archive gets a password form (PPAP).
//!
//! Forms post back to `/o/{token}/...` and answer with a 303 to the page, which then shows
//! what happened (`?m=`), so a reload never posts twice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{check_csrf, csrf_field, csrf_token, error_page, esc, jst, page, see_other, size, Lang};
use crate::config::Release;
use crate::ingress::http::error::ApiError;
use crate::ingress::http::held::{form_field, unlock};
use crate::ingress::http::originals::{blocking, file_response, release, resolve};
use crate::ingress::http::{AppState, Client};
use crate::kind::FileKind;
use crate::report::{Action, Outcome, Report, What};
use crate::store::{PartRow, ReleaseState};

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    /// What the last form did: `requested`, `unlocked`.
    m: Option<String>,
}

/// `GET /o/{token}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let part = match resolve(&state, token.clone()).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, &e),
    };
    let release_state = match release_state(&state, &part).await {
        Ok(r) => r,
        Err(e) => return error_page(lang, &e),
    };
    let (csrf, set_cookie) = csrf_token(&headers);
    let body = render(
        &state,
        lang,
        &token,
        &part,
        &release_state,
        &csrf,
        shown.m.as_deref(),
        None,
    );
    let mut response = page(lang, StatusCode::OK, lang.t("受信したファイル", "Received file"), &body);
    if let Some(v) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Where a request for the original stands (only under `after_approval`), and the addresses
/// the mail went to (the requester confirms one of them).
#[derive(Debug, Default)]
struct Standing {
    state: Option<ReleaseState>,
    /// What the approver (or clamd) said with the decision.
    comment: Option<String>,
    recipients: Vec<String>,
}

async fn release_state(state: &Arc<AppState>, part: &PartRow) -> Result<Standing, ApiError> {
    if !state.pipeline.current().config.http.originals.needs_approval() {
        return Ok(Standing::default());
    }
    let store = state.pipeline.store().clone();
    let (id, message) = (part.id.clone(), part.message.clone());
    let (row, recipients) = blocking(move || {
        let row = store.release(&id)?;
        let recipients = store.message(&message)?.map(|m| m.rcpt_to).unwrap_or_default();
        Ok::<_, crate::store::StoreError>((row, recipients))
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(Standing {
        state: row.as_ref().map(|r| r.state),
        comment: row.and_then(|r| r.comment),
        recipients,
    })
}

/// The longest reason a request may give, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// The requester and reason from the request form, checked: the requester one of the mail's
/// recipients (any plausible address when the file came by the API, without recipients), the
/// reason present and bounded. `Err` says what to correct.
fn request_fields(form: &[u8], recipients: &[String], lang: Lang) -> Result<(String, String), &'static str> {
    let requester = form_field(form, "requester").unwrap_or_default().trim().to_string();
    let known = if recipients.is_empty() {
        requester.len() <= 254
            && requester.contains('@')
            && !requester.chars().any(|c| c.is_whitespace() || c.is_control())
    } else {
        recipients.iter().any(|r| r.eq_ignore_ascii_case(&requester))
    };
    if !known {
        return Err(lang.t(
            "申請者には、このファイルを受け取ったメールアドレスを選んでください。",
            "Choose the address this file was sent to as the requester.",
        ));
    }
    let reason: String = form_field(form, "reason")
        .unwrap_or_default()
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(lang.t(
            "申請理由を入力してください（1000 文字まで）。",
            "Enter a reason for the request (up to 1,000 characters).",
        ));
    }
    Ok((requester, reason.to_string()))
}

#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    lang: Lang,
    token: &str,
    part: &PartRow,
    standing: &Standing,
    csrf: &str,
    message: Option<&str>,
    problem: Option<&str>,
) -> String {
    let report: Option<Report> = serde_json::from_str(&part.report).ok();
    let base = format!("/o/{}", esc(token));
    let mut html = String::new();
    match message {
        Some("requested") => html.push_str(&format!(
            "<p class=\"note\" role=\"status\">{}</p>\n",
            lang.t(
                "原本の開示を申請しました。承認されるとこのページからダウンロードできます。",
                "Your request for the original was sent. Once approved, you can download it from this page."
            )
        )),
        Some("unlocked") => html.push_str(&format!(
            "<p class=\"note\" role=\"status\">{}</p>\n",
            lang.t(
                "パスワードで開き、無害化しました。下のリンクからダウンロードできます。",
                "The archive was opened with the password and sanitized. Download it below."
            )
        )),
        _ => {}
    }
    if let Some(p) = problem {
        html.push_str(&format!("<p class=\"note alert\" role=\"alert\">{}</p>\n", esc(p)));
    }

    // What arrived.
    let name = part.name.as_deref().unwrap_or(lang.t("（名前なし）", "(no name)"));
    html.push_str(&format!(
        "<dl>\n<dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd>{} {}</dd>\n<dt>{}</dt><dd>{}</dd>\n</dl>\n",
        lang.t("ファイル名", "File name"),
        esc(name),
        lang.t("種類", "Kind"),
        esc(part.kind.as_str()),
        lang.t("大きさ", "Size"),
        size(part.original_size),
        lang.t("受信日時", "Received"),
        jst(part.created),
        lang.t("（日本時間）", "(JST)"),
        lang.t("処理結果", "Result"),
        esc(&outcome_text(lang, part.outcome.as_str(), part.reason.as_deref())),
    ));

    // What was removed.
    html.push_str(&format!("<h2>{}</h2>\n", lang.t("取り除いたもの", "What was removed")));
    let findings: Vec<_> = report
        .as_ref()
        .map(|r| r.findings.iter().filter(|f| f.action != Action::Kept).collect())
        .unwrap_or_default();
    if findings.is_empty() {
        html.push_str(&format!(
            "<p>{}</p>\n",
            lang.t("取り除いたものはありません。", "Nothing was removed.")
        ));
    } else {
        html.push_str(&format!(
            "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
            lang.t("無害化で取り除いた、または無効にした内容", "Content removed or made inactive"),
            lang.t("内容", "What"),
            lang.t("場所", "Where"),
            lang.t("詳細（技術情報・英語）", "Detail"),
        ));
        for f in findings.iter().take(200) {
            html.push_str(&format!(
                // The detail is the engine's technical English: marked so for screen readers
                // on the Japanese page.
                "<tr><td>{}</td><td>{}</td><td lang=\"en\">{}</td></tr>\n",
                esc(what_text(lang, f.what)),
                esc(&f.location),
                esc(&f.detail)
            ));
        }
        html.push_str("</tbody>\n</table>\n");
    }

    // The sanitized file.
    html.push_str(&format!(
        "<h2>{}</h2>\n",
        lang.t("無害化したファイル", "Sanitized file")
    ));
    if part.clean_blob.is_some() {
        let clean_name = part.clean_name.as_deref().unwrap_or(name);
        html.push_str(&format!(
            "<p><a class=\"button\" href=\"{base}/clean\" download>{} <span class=\"hint\">({})</span></a></p>\n",
            lang.t("ダウンロード", "Download"),
            esc(clean_name),
        ));
    } else {
        html.push_str(&format!(
            "<p>{}</p>\n",
            lang.t(
                "このファイルは無害化できなかったため、無害化したファイルはありません。",
                "This file could not be sanitized, so there is no sanitized copy."
            )
        ));
    }

    // A held password archive.
    if part.outcome == Outcome::Held && part.kind == FileKind::Zip {
        html.push_str(&format!(
            "<h2>{}</h2>\n<p>{}</p>\n<form method=\"post\" action=\"{base}/unlock\">\n{}\n<label for=\"password\">{}</label>\n<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"off\" required>\n<p><button type=\"submit\">{}</button></p>\n</form>\n",
            lang.t("パスワード付きファイルを開く", "Open the password-protected archive"),
            lang.t(
                "別のメールで届いたパスワードを入力すると、中身を無害化してダウンロードできるようにします。",
                "Enter the password you received in another mail; the contents will be sanitized and offered for download."
            ),
            csrf_field(csrf),
            lang.t("パスワード", "Password"),
            lang.t("開いて無害化する", "Open and sanitize"),
        ));
    }

    // The original.
    html.push_str(&format!(
        "<h2>{}</h2>\n",
        lang.t("原本（無害化前のファイル）", "The original (before sanitizing)")
    ));
    let download = format!(
        "<p><a href=\"{base}/original\" download>{}</a></p>\n",
        lang.t("原本をダウンロード", "Download the original")
    );
    match state.pipeline.current().config.http.originals {
        Release::Direct => html.push_str(&download),
        Release::AfterScan => {
            html.push_str(&format!(
                "<p>{}</p>\n",
                lang.t(
                    "原本はダウンロードの前にウイルス検査を受けます。問題が見つかった場合はダウンロードできません。",
                    "The original is scanned for viruses before download; if anything is found it is not released."
                )
            ));
            html.push_str(&download);
        }
        Release::AfterApproval | Release::AfterScanAndApproval => match standing.state {
            Some(ReleaseState::Approved) => {
                html.push_str(&format!(
                    "<p class=\"note\">{}</p>\n",
                    lang.t(
                        "承認者が原本の開示を承認しました。",
                        "An approver released the original."
                    )
                ));
                html.push_str(&decision_comment(lang, standing.comment.as_deref()));
                html.push_str(&download);
            }
            Some(ReleaseState::Requested) => html.push_str(&format!(
                "<p class=\"note\">{}</p>\n",
                lang.t(
                    "申請済み：承認者の判断を待っています。",
                    "Requested: awaiting an approver's decision."
                )
            )),
            Some(ReleaseState::Denied) => html.push_str(&format!(
                "<p class=\"note alert\">{}</p>\n{}",
                lang.t(
                    "却下：原本の開示は認められませんでした。",
                    "Declined: the original is not released."
                ),
                decision_comment(lang, standing.comment.as_deref()),
            )),
            None => html.push_str(&request_form(lang, &base, csrf, &standing.recipients)),
        },
    }
    html
}

/// What the approver (or clamd) said with the decision, for the requester.
fn decision_comment(lang: Lang, comment: Option<&str>) -> String {
    comment.map_or(String::new(), |c| {
        format!("<p>{}{}</p>\n", lang.t("コメント：", "Comment: "), esc(c))
    })
}

/// The request for the original: who asks (one of the mail's recipients, confirmed here) and
/// why (required), so the approver can judge and the answer can reach the requester.
fn request_form(lang: Lang, base: &str, csrf: &str, recipients: &[String]) -> String {
    let requester = if recipients.is_empty() {
        "<input id=\"requester\" name=\"requester\" type=\"email\" autocomplete=\"email\" required>\n".to_string()
    } else {
        let options: String = recipients
            .iter()
            .take(100)
            .map(|r| format!("<option>{}</option>", esc(r)))
            .collect();
        format!("<select id=\"requester\" name=\"requester\" required>{options}</select>\n")
    };
    format!(
        "<p>{}</p>\n<form method=\"post\" action=\"{base}/request\">\n{}\n<label for=\"requester\">{}</label>\n{requester}\
         <label for=\"reason\">{}</label>\n<textarea id=\"reason\" name=\"reason\" rows=\"3\" maxlength=\"{MAX_REASON_CHARS}\" required></textarea>\n\
         <p><button type=\"submit\" class=\"secondary\">{}</button></p>\n</form>\n",
        lang.t(
            "原本が必要な場合は開示を申請してください。承認者（上長）の承認後にダウンロードできます。",
            "If you need the original, request it. You can download it after an approver releases it."
        ),
        csrf_field(csrf),
        lang.t("申請者（このファイルを受け取ったメールアドレス）", "Requester (the address this file was sent to)"),
        lang.t("申請理由", "Reason"),
        lang.t("原本の開示を申請する", "Request the original"),
    )
}

pub(super) fn outcome_text(lang: Lang, outcome: &str, reason: Option<&str>) -> String {
    let base = match outcome {
        "clean" => lang.t("問題は見つかりませんでした", "Nothing active was found"),
        "disarmed" => lang.t("無害化しました", "Sanitized: active content removed"),
        "unlocked" => lang.t(
            "パスワードで開き、無害化しました",
            "Opened with its password and sanitized",
        ),
        "held" => lang.t("保留中", "Held"),
        "blocked" => lang.t("遮断しました", "Blocked"),
        _ => lang.t("処理できませんでした", "Could not be processed"),
    };
    match (reason, lang) {
        (Some(r), Lang::Ja) => format!("{base}（{}）", crate::texts::reason(r).ja),
        (Some(r), Lang::En) => format!("{base} ({})", crate::texts::reason(r).en),
        (None, _) => base.to_string(),
    }
}

/// The kinds of content a part's report says were removed, in `lang`'s words, each once
/// ("マクロ・外部リンク"); empty when nothing was.
pub(super) fn removed_summary(lang: Lang, report_json: &str) -> String {
    let Ok(report) = serde_json::from_str::<Report>(report_json) else {
        return String::new();
    };
    let mut words: Vec<&str> = Vec::new();
    for f in report.findings.iter().filter(|f| f.action != Action::Kept) {
        let word = what_text(lang, f.what);
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words.join(lang.t("・", ", "))
}

fn what_text(lang: Lang, what: What) -> &'static str {
    let words = crate::texts::what(what);
    lang.t(words.ja, words.en)
}

/// `GET /o/{token}/clean`: the sanitized file.
pub async fn clean(State(state): State<Arc<AppState>>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let result = async {
        let part = resolve(&state, token).await?;
        let blob = part.clean_blob.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_clean_file",
                "this file has no sanitized copy",
            )
        })?;
        let store = state.pipeline.store().clone();
        let bytes = blocking(move || store.blob(&blob)).await?.map_err(ApiError::internal)?;
        let name = part
            .clean_name
            .as_deref()
            .or(part.name.as_deref())
            .unwrap_or("sanitized.bin");
        Ok::<_, ApiError>(file_response(bytes, name, None))
    }
    .await;
    result.unwrap_or_else(|e| error_page(lang, &e))
}

/// `GET /o/{token}/original`: the original, as policy allows.
pub async fn original(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let result = async {
        let part = resolve(&state, token).await?;
        let bytes = release(&state, &part, &client.origin("recipient")).await?;
        Ok::<_, ApiError>(file_response(
            bytes,
            part.name.as_deref().unwrap_or("original.bin"),
            None,
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_page(lang, &e))
}

/// `POST /o/{token}/request`: ask an approver for the original.
pub async fn request(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let result = async {
        check_csrf(&headers, &form)?;
        if !state.pipeline.current().config.http.originals.needs_approval() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_approval",
                "originals here need no approval",
            ));
        }
        let part = resolve(&state, token.clone()).await?;
        let standing = release_state(&state, &part).await?;
        let (requester, reason) = match request_fields(&form, &standing.recipients, lang) {
            Ok(fields) => fields,
            Err(problem) => {
                let (csrf, _) = csrf_token(&headers);
                let body = render(&state, lang, &token, &part, &standing, &csrf, None, Some(problem));
                let title = lang.t("受信したファイル", "Received file");
                return Ok(page(lang, StatusCode::BAD_REQUEST, title, &body));
            }
        };
        state
            .pipeline
            .request(&part, Some(&requester), Some(&reason), &client.origin("recipient"))
            .await
            .map_err(crate::ingress::http::originals::refused)?;
        Ok(see_other(&format!("/o/{token}?m=requested")))
    }
    .await;
    result.unwrap_or_else(|e| error_page(lang, &e))
}

/// `POST /o/{token}/unlock`: the password form.
pub async fn unlock_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let part = match resolve(&state, token.clone()).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, &e),
    };
    let password = form_field(&form, "password").unwrap_or_default();
    let outcome = if password.is_empty() || password.len() > 1024 {
        Err(ApiError::new(StatusCode::BAD_REQUEST, "wrong_password", "no password"))
    } else {
        unlock(&state, &part, &password, &client.origin("recipient")).await
    };
    match outcome {
        Ok(_) => see_other(&format!("/o/{token}?m=unlocked")),
        Err(e) if e.code == "wrong_password" => {
            let (csrf, _) = csrf_token(&headers);
            let problem = lang.t(
                "パスワードが違います。もう一度入力してください。",
                "The password is not correct. Please enter it again.",
            );
            let standing = release_state(&state, &part).await.unwrap_or_default();
            let body = render(&state, lang, &token, &part, &standing, &csrf, None, Some(problem));
            page(
                lang,
                StatusCode::BAD_REQUEST,
                lang.t("受信したファイル", "Received file"),
                &body,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}
