//! The carry-in box (ファイル持ち込み), `GET /carry-in` on the internet-side listener: a staff
//! member signs in (the portal's accounts, at the carry-in door — `people::Door::CarryIn`),
//! chooses files and the LGWAN mailbox to receive them, and sends; the files are received as
//! API uploads are (the body streamed to the spool past the memory budget), then go through
//! the pipeline as one mail (`pipeline::carry_in`) whose notice with links reaches the mailbox.
//! Script-free and accessible like the other pages; the form is `multipart/form-data`, its
//! CSRF token a field of it.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::people::{carrier, sign_in_form, sign_out, Door};
use super::{check_csrf, check_csrf_field, csrf_field, csrf_token, error_page, esc, page_with_footer, size, Lang};
use crate::ingress::http::error::ApiError;
use crate::ingress::http::{spool, upload};
use crate::ingress::http::{AppState, Client};
use crate::pipeline::{CarryIn, CarryInError};

/// Longest note to the recipient, in characters.
const MAX_NOTE_CHARS: usize = 2000;

/// `GET /carry-in`: the sign-in form, or the upload form.
pub async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let (csrf, set_cookie) = csrf_token(&headers);
    let mut response = match carrier(&state, &headers).await {
        None => sign_in_page(lang, &csrf, None),
        Some(person) => upload_page(&state, lang, &csrf, &person, None),
    };
    if let Some(v) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn sign_in_page(lang: Lang, csrf: &str, problem: Option<&str>) -> Response {
    let mut body = String::new();
    if let Some(p) = problem {
        body.push_str(&format!("<p class=\"note alert\" role=\"alert\">{}</p>\n", esc(p)));
    }
    body.push_str(&format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"/carry-in/login\">\n{csrf}\n\
         <label for=\"user\">{user}</label>\n<input id=\"user\" name=\"user\" type=\"text\" autocomplete=\"username\" required>\n\
         <label for=\"password\">{password}</label>\n<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n\
         <p><button type=\"submit\">{go}</button></p>\n</form>\n",
        intro = lang.t(
            "インターネット側のファイルを LGWAN 側のメールボックスへ持ち込むには、職員の利用者名とパスワードでサインインしてください。",
            "Sign in with your staff user name and password to carry files from the internet side to an LGWAN mailbox.",
        ),
        csrf = csrf_field(csrf),
        user = lang.t("利用者名", "User name"),
        password = lang.t("パスワード", "Password"),
        go = lang.t("サインイン", "Sign in"),
    ));
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    carry_in_page(
        lang,
        status,
        lang.t("ファイル持ち込み: サインイン", "Carry-in: sign in"),
        &body,
    )
}

/// The upload form, with what came of the last upload (`outcome`: a status or an alert).
fn upload_page(state: &AppState, lang: Lang, csrf: &str, person: &str, outcome: Option<(bool, &str)>) -> Response {
    let current = state.pipeline.current();
    let box_ = &current.config.carry_in;
    let mut body = String::new();
    match outcome {
        Some((true, text)) => body.push_str(&format!("<p class=\"note\" role=\"status\">{}</p>\n", esc(text))),
        Some((false, text)) => body.push_str(&format!("<p class=\"note alert\" role=\"alert\">{}</p>\n", esc(text))),
        None => {}
    }
    let domains = box_
        .mailbox_domains
        .iter()
        .map(|d| format!("@{d}"))
        .collect::<Vec<_>>()
        .join(", ");
    let limits = match lang {
        Lang::Ja => format!(
            "一度に {} 件まで。1 日に {} 件、{} まで持ち込めます。ファイルは無害化してから届けられ、原本は承認などの手続きのあとで受け取れます。",
            box_.max_files,
            box_.daily_files,
            size(box_.daily_bytes)
        ),
        Lang::En => format!(
            "Up to {} files at once; {} files and {} a day. The files are sanitized before they are delivered; originals follow the release procedure.",
            box_.max_files,
            box_.daily_files,
            size(box_.daily_bytes)
        ),
    };
    body.push_str(&format!(
        "<p>{signed}</p>\n\
         <form method=\"post\" action=\"/carry-in/upload\" enctype=\"multipart/form-data\">\n{csrf}\n\
         <p><label for=\"files\">{files}</label>\n\
         <input id=\"files\" name=\"files\" type=\"file\" multiple required aria-describedby=\"files-hint\">\n\
         <span id=\"files-hint\" class=\"hint\">{limits}</span></p>\n\
         <p><label for=\"mailbox\">{mailbox}</label>\n\
         <input id=\"mailbox\" name=\"mailbox\" type=\"email\" autocomplete=\"email\" required aria-describedby=\"mailbox-hint\">\n\
         <span id=\"mailbox-hint\" class=\"hint\">{mailbox_hint} {domains}</span></p>\n\
         <p><label for=\"note\">{note}</label>\n<textarea id=\"note\" name=\"note\" rows=\"4\" maxlength=\"{MAX_NOTE_CHARS}\"></textarea></p>\n\
         <p><button type=\"submit\">{send}</button></p>\n</form>\n\
         <form method=\"post\" action=\"/carry-in/logout\">\n{csrf}\n<p><button type=\"submit\" class=\"secondary\">{out}</button></p>\n</form>\n",
        signed = match lang {
            Lang::Ja => format!("{} さんとしてサインインしています。", esc(person)),
            Lang::En => format!("Signed in as {}.", esc(person)),
        },
        csrf = csrf_field(csrf),
        files = lang.t("持ち込むファイル", "Files to carry in"),
        mailbox = lang.t("届け先（LGWAN 側のメールアドレス）", "Deliver to (an LGWAN-side mail address)"),
        mailbox_hint = lang.t("使えるドメイン:", "Allowed domains:"),
        note = lang.t("受信者へのメッセージ（任意）", "Message to the recipient (optional)"),
        send = lang.t("無害化して送る", "Sanitize and send"),
        out = lang.t("サインアウト", "Sign out"),
    ));
    let status = match outcome {
        Some((false, _)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    carry_in_page(lang, status, lang.t("ファイル持ち込み", "Carry files in"), &body)
}

/// A page of the box, with its own footer.
fn carry_in_page(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response {
    let footer = lang.t(
        "ファイル持ち込み窓口: 送ったファイルは無害化してから LGWAN 側へ届けられます。操作はすべて記録されます。",
        "The carry-in box: files are sanitized before they reach the LGWAN side. Every action is recorded.",
    );
    page_with_footer(lang, status, title, body, footer)
}

/// `POST /carry-in/login`.
pub async fn login(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    sign_in_form(
        &state,
        &client,
        &headers,
        &form,
        Door::CarryIn,
        |lang, csrf, problem| sign_in_page(lang, csrf, Some(problem)),
    )
    .await
}

/// `POST /carry-in/logout`: the session ends in the ledger.
pub async fn logout(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let who = carrier(&state, &headers).await;
    sign_out(&state, &client, &headers, Door::CarryIn, who).await
}

/// `POST /carry-in/upload`: the files, the mailbox and the note; the files go through the
/// pipeline and the notice to the mailbox, and the page says what came of it.
pub async fn upload(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, body: Body) -> Response {
    let lang = Lang::from_headers(&headers);
    let (csrf, _) = csrf_token(&headers);
    // Who, before a byte of the body is read: nobody's upload is spooled.
    let Some(person) = carrier(&state, &headers).await else {
        return sign_in_page(lang, &csrf, Some(lang.t("サインインしてください。", "Please sign in.")));
    };
    // The upload's place and its body's memory are held until the files are through.
    let _slot = match state.upload_slot() {
        Ok(slot) => slot,
        Err(e) => return error_page(lang, &e),
    };
    let (form, _body) = match receive_form(&state, &headers, body).await {
        Ok(received) => received,
        Err(e) => return error_page(lang, &e),
    };
    if let Err(e) = check_csrf_field(&headers, form.field("csrf")) {
        return error_page(lang, &e);
    }
    let mailbox = form.field("mailbox").unwrap_or_default().trim().to_string();
    let note: String = form
        .field("note")
        .unwrap_or_default()
        .chars()
        .take(MAX_NOTE_CHARS)
        .collect();
    let max_files = state.pipeline.current().config.carry_in.max_files;
    let carry = CarryIn {
        person: person.clone(),
        mailbox: mailbox.clone(),
        note,
        files: form.files.into_iter().map(|f| (f.name, f.bytes)).collect(),
    };
    let names = carry.names();
    let origin = client.origin(format!("carry_in:{person}"));
    match state.pipeline.carry_in(carry, &origin).await {
        Ok(done) => {
            tracing::info!(person = %person, message = %done.message, files = names.len(), "carried in");
            let text = match lang {
                Lang::Ja => format!(
                    "{} 件のファイル（{}）を無害化し、{} にお知らせを送りました。受付番号: {}",
                    names.len(),
                    names.join("、"),
                    mailbox,
                    done.message
                ),
                Lang::En => format!(
                    "{} files ({}) were sanitized and a notice was sent to {}. Reference: {}",
                    names.len(),
                    names.join(", "),
                    mailbox,
                    done.message
                ),
            };
            upload_page(&state, lang, &csrf, &person, Some((true, &text)))
        }
        Err(e) => {
            tracing::warn!(person = %person, error = %e, "carry-in refused");
            let text = match (&e, lang) {
                (CarryInError::Files, Lang::Ja) => {
                    format!("ファイルを 1 件から {max_files} 件まで選んでください。")
                }
                (CarryInError::Files, Lang::En) => format!("Choose from 1 to {max_files} files."),
                (CarryInError::Mailbox, _) => lang
                    .t(
                        "この届け先には送れません。LGWAN 側のメールアドレス（使えるドメイン）を入力してください。",
                        "Files cannot be sent to this address. Enter an LGWAN-side address in an allowed domain.",
                    )
                    .to_string(),
                (CarryInError::Quota(files, bytes), Lang::Ja) => format!(
                    "本日の持ち込みの上限を超えます（本日これまで {files} 件、{}）。明日以降に送ってください。",
                    size(*bytes)
                ),
                (CarryInError::Quota(files, bytes), Lang::En) => format!(
                    "This would exceed today's limit ({files} files, {} so far today). Send them tomorrow.",
                    size(*bytes)
                ),
                (CarryInError::Message(crate::pipeline::MessageError::TooLarge { .. }), _) => lang
                    .t(
                        "ファイルが大きすぎます。数回に分けて送ってください。",
                        "The files are too large together. Send them in several parts.",
                    )
                    .to_string(),
                _ => lang
                    .t(
                        "送信できませんでした。しばらくしてからもう一度お試しください。",
                        "The files could not be sent. Please try again later.",
                    )
                    .to_string(),
            };
            let mut response = upload_page(&state, lang, &csrf, &person, Some((false, &text)));
            // Not the person's doing: try again later.
            if matches!(e.code(), "next_hop" | "failed") {
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            response
        }
    }
}

/// The upload's body received as the API receives one (the spool past the memory budget,
/// `http.body_timeout_secs`), and taken apart as a form (its files are slices of the body).
async fn receive_form(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(upload::Form, spool::InMemory), ApiError> {
    let received = state.receive_upload(body).await?;
    let body = received.load(&state.bodies).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let max_files = state.pipeline.current().config.carry_in.max_files;
    // The files, and a few fields (the token, the mailbox, the note).
    Ok((upload::form(content_type, &body.bytes, max_files + 8)?, body))
}
