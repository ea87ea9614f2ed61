//! The approver's page (上長承認), `GET /approvals`: the pending requests for originals the
//! signed-in approver decides, each with approve and deny buttons; the sign-in form (a
//! person's name and password, or an approver's key where no people are configured), the
//! session cookie (`HttpOnly`, `SameSite=Strict`, eight hours, a row of the ledger behind it)
//! and sign-out, which ends the session in the ledger on every instance. Who is signed in and
//! what they decide is `people`'s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::people::{sign_in_form, sign_out, signed_in, Approver, Door};
use super::{check_csrf, csrf_field, csrf_token, error_page, esc, jst, page, see_other, size, Lang};
use crate::ingress::http::error::ApiError;
use crate::ingress::http::held::form_field;
use crate::ingress::http::originals::{blocking, decide};
use crate::ingress::http::{AppState, Client};

/// `GET /approvals`: the sign-in form, or the pending requests.
pub async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let (csrf, set_cookie) = csrf_token(&headers);
    let people = state.pipeline.current().config.portal.has_people();
    let mut response = match signed_in(&state, &headers).await {
        None => sign_in_page(lang, &csrf, people, None),
        Some(approver) => match pending_page(&state, lang, &csrf, &approver).await {
            Ok(r) => r,
            Err(e) => error_page(lang, &e),
        },
    };
    if let Some(v) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in form: name and password where local accounts are configured (`people`),
/// otherwise an approver's key.
fn sign_in_page(lang: Lang, csrf: &str, people: bool, problem: Option<&str>) -> Response {
    let mut body = String::new();
    if let Some(p) = problem {
        body.push_str(&format!("<p class=\"note alert\" role=\"alert\">{}</p>\n", esc(p)));
    }
    // One field a person types: (id and name, label, type, autocomplete).
    let input = |id: &str, label: &str, kind: &str, complete: &str| {
        format!(
            "<label for=\"{id}\">{label}</label>\n<input id=\"{id}\" name=\"{id}\" type=\"{kind}\" autocomplete=\"{complete}\" required>\n"
        )
    };
    let (intro, fields) = if people {
        (
            lang.t(
                "原本の開示申請を承認・却下するには、利用者名とパスワードでサインインしてください。",
                "Sign in with your user name and password to approve or decline requests for originals.",
            ),
            input("user", lang.t("利用者名", "User name"), "text", "username")
                + &input(
                    "password",
                    lang.t("パスワード", "Password"),
                    "password",
                    "current-password",
                ),
        )
    } else {
        (
            lang.t(
                "原本の開示申請を承認・却下するには、承認者用のキーでサインインしてください。",
                "Sign in with an approver's key to approve or decline requests for originals.",
            ),
            input("key", lang.t("承認者キー", "Approver key"), "password", "off"),
        )
    };
    body.push_str(&format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"/approvals/login\">\n{}\n{fields}<p><button type=\"submit\">{}</button></p>\n</form>\n",
        csrf_field(csrf),
        lang.t("サインイン", "Sign in"),
    ));
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(lang, status, lang.t("承認者のサインイン", "Approver sign-in"), &body)
}

/// The pending requests this approver decides (by the recipients of each request's mail).
async fn pending_page(
    state: &Arc<AppState>,
    lang: Lang,
    csrf: &str,
    approver: &Approver,
) -> Result<Response, ApiError> {
    let store = state.pipeline.store().clone();
    // The configuration in force, shared (not copied) into the blocking work.
    let (current, who) = (state.pipeline.current(), approver.clone());
    let rows = blocking(move || {
        let mut mine = Vec::new();
        for (part, request) in store.pending_releases()? {
            let message = store.message(&part.message)?;
            let recipients = message.as_ref().map(|m| m.rcpt_to.clone()).unwrap_or_default();
            if who.decides(&current.config.portal, &recipients) {
                mine.push((part, request, message));
            }
        }
        Ok::<_, crate::store::StoreError>(mine)
    })
    .await?
    .map_err(ApiError::internal)?;
    let name = &approver.name;
    let console = if approver.admin {
        format!(
            "<p><a href=\"/admin\">{}</a></p>\n",
            lang.t("管理コンソール", "Admin console")
        )
    } else {
        String::new()
    };
    let mut body = console
        + &format!(
        "<p>{} <strong>{}</strong></p>\n<form method=\"post\" action=\"/approvals/logout\" class=\"inline\">\n{}\n<button type=\"submit\" class=\"secondary\">{}</button>\n</form>\n",
        lang.t("サインイン中：", "Signed in as"),
        esc(name),
        csrf_field(csrf),
        lang.t("サインアウト", "Sign out"),
    );
    if rows.is_empty() {
        body.push_str(&format!(
            "<p class=\"note\" role=\"status\">{}</p>\n",
            lang.t("承認待ちの申請はありません。", "No requests are waiting.")
        ));
    } else {
        body.push_str(&format!(
            "<h2>{}</h2>\n",
            lang.t(
                "承認待ちの開示申請（古い順）",
                "Requests awaiting a decision (oldest first)"
            )
        ));
        for (part, request, message) in rows.iter().take(500) {
            body.push_str(&request_section(lang, csrf, part, request, message.as_ref()));
        }
    }
    Ok(page(
        lang,
        StatusCode::OK,
        lang.t("原本の開示申請", "Requests for originals"),
        &body,
    ))
}

/// One pending request: what the file is and what was removed, whose mail it came in, who
/// asked and why; a comment for the requester and the two decisions (one form, the decline
/// button posting to its own action).
fn request_section(
    lang: Lang,
    csrf: &str,
    part: &crate::store::PartRow,
    request: &crate::store::ReleaseRow,
    message: Option<&crate::store::MessageRow>,
) -> String {
    let name = esc(part.name.as_deref().unwrap_or(lang.t("（名前なし）", "(no name)")));
    let id = esc(&part.id);
    let unknown = lang.t("（不明）", "(unknown)");
    let sender = message.map(|m| m.mail_from.as_str()).filter(|s| !s.is_empty());
    let recipients = message.map(|m| m.rcpt_to.join(", ")).filter(|s| !s.is_empty());
    let row = |term: &str, value: &str| format!("<dt>{term}</dt><dd>{value}</dd>\n");
    let details = [
        row(lang.t("送信者", "Sender"), &esc(sender.unwrap_or(unknown))),
        row(
            lang.t("件名", "Subject"),
            &esc(message.and_then(|m| m.subject.as_deref()).unwrap_or(unknown)),
        ),
        row(
            lang.t("宛先", "Recipients"),
            &esc(recipients.as_deref().unwrap_or(unknown)),
        ),
        row(lang.t("受信日時（日本時間）", "Received (JST)"), &jst(part.created)),
        row(
            lang.t("種類・大きさ", "Kind, size"),
            &format!("{} / {}", esc(part.kind.as_str()), size(part.original_size)),
        ),
        row(lang.t("処理結果", "Result"), &esc(&result_text(lang, part))),
        row(
            lang.t("申請者", "Requester"),
            &esc(request.requester.as_deref().unwrap_or(unknown)),
        ),
        row(
            lang.t("申請理由", "Reason"),
            &esc(request.reason.as_deref().unwrap_or(unknown)),
        ),
        row(
            lang.t("申請日時（日本時間）", "Requested (JST)"),
            &jst(request.requested),
        ),
        request.scan.as_deref().map_or(String::new(), |verdict| {
            let text = match verdict {
                "clean" => lang.t("検出なし（clamd）", "nothing found (clamd)").to_string(),
                other => esc(other),
            };
            row(lang.t("ウイルス検査", "Virus scan"), &text)
        }),
    ]
    .concat();
    format!(
        "<section class=\"request\" aria-labelledby=\"r-{id}\">\n<h3 id=\"r-{id}\">{name}</h3>\n<dl>\n{details}</dl>\n\
         <form method=\"post\" action=\"/approvals/{id}/approve\">\n{field}\n\
         <label for=\"c-{id}\">{comment}</label>\n<textarea id=\"c-{id}\" name=\"comment\" rows=\"2\" maxlength=\"1000\"></textarea>\n\
         <p><button type=\"submit\" aria-label=\"{approve}: {name}\">{approve}</button> \
         <button type=\"submit\" formaction=\"/approvals/{id}/deny\" class=\"secondary\" aria-label=\"{deny}: {name}\">{deny}</button></p>\n\
         </form>\n</section>\n",
        field = csrf_field(csrf),
        comment = lang.t("申請者へのコメント（任意）", "Comment for the requester (optional)"),
        approve = lang.t("承認", "Approve"),
        deny = lang.t("却下", "Decline"),
    )
}

/// `POST /approvals/login`: a person's name and password where accounts or a directory are
/// configured, otherwise an approver's key (`people`); then the session.
pub async fn login(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    let people = state.pipeline.current().config.portal.has_people();
    sign_in_form(
        &state,
        &client,
        &headers,
        &form,
        Door::Approvals,
        |lang, csrf, problem| sign_in_page(lang, csrf, people, Some(problem)),
    )
    .await
}

/// `POST /approvals/logout`.
pub async fn logout(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let who = signed_in(&state, &headers).await.map(|a| a.name);
    sign_out(&state, &client, &headers, Door::Approvals, who).await
}

/// `POST /approvals/{id}/approve`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    decide_form(&state, &id, true, &headers, &form, &client).await
}

/// `POST /approvals/{id}/deny`.
pub async fn deny(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    decide_form(&state, &id, false, &headers, &form, &client).await
}

async fn decide_form(
    state: &Arc<AppState>,
    id: &str,
    approve: bool,
    headers: &HeaderMap,
    form: &[u8],
    client: &Client,
) -> Response {
    let lang = Lang::from_headers(headers);
    if let Err(e) = check_csrf(headers, form) {
        return error_page(lang, &e);
    }
    let Some(approver) = signed_in(state, headers).await else {
        return see_other("/approvals");
    };
    // Only a request this approver decides (their groups' recipients): another section's is
    // refused as if it did not exist.
    let (store, current, part_id, who) = (
        state.pipeline.store().clone(),
        state.pipeline.current(),
        id.to_string(),
        approver.clone(),
    );
    let theirs = blocking(move || {
        let Some(part) = store.part(&part_id)? else {
            return Ok(true);
        };
        let recipients = store.message(&part.message)?.map(|m| m.rcpt_to).unwrap_or_default();
        Ok::<_, crate::store::StoreError>(who.decides(&current.config.portal, &recipients))
    })
    .await;
    match theirs {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            tracing::warn!(approver = %approver.name, part = %id, "a decision outside the approver's groups refused");
            return error_page(
                lang,
                &ApiError::new(StatusCode::NOT_FOUND, "unknown", "no such request waiting for you"),
            );
        }
        Ok(Err(e)) => return error_page(lang, &ApiError::internal(e)),
        Err(e) => return error_page(lang, &e),
    }
    let name = approver.name;
    let origin = client.origin(format!("approver:{name}"));
    let comment: String = form_field(form, "comment")
        .unwrap_or_default()
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .take(1000)
        .collect();
    let comment = Some(comment.trim()).filter(|c| !c.is_empty());
    match decide(state, id, approve, &name, comment, &origin).await {
        Ok(()) => see_other("/approvals"),
        Err(e) => error_page(lang, &e),
    }
}

/// A part's outcome in the page's language, with what was removed: 「無害化しました（マクロ・
/// 外部リンクを削除）」.
fn result_text(lang: Lang, part: &crate::store::PartRow) -> String {
    let outcome = super::recipient::outcome_text(lang, part.outcome.as_str(), part.reason.as_deref());
    let removed = super::recipient::removed_summary(lang, &part.report);
    match (removed.is_empty(), lang) {
        (true, _) => outcome,
        (false, Lang::Ja) => format!("{outcome}（{removed}を削除）"),
        (false, Lang::En) => format!("{outcome} (removed: {removed})"),
    }
}
