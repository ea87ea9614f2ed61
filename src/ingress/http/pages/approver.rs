//! The approver's page (上長承認), `GET /approvals`: pending requests for originals, each
//! with approve and deny buttons. An approver signs in as a person — a local account of
//! `[portal] users` (name and password, argon2id) — or, where no accounts are configured, with
//! an `approve`-role API key; the browser then holds a signed session cookie (`HttpOnly`,
//! `SameSite=Strict`, eight hours) naming a session row of the ledger (which names a key by
//! its hash, never the key). The account's or key's roles are checked again on every request,
//! so removing one from the configuration ends its sessions at the next reload; sign-out ends
//! the session in the ledger, so the cookie is worthless afterwards on every instance.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{check_csrf, cookie, csrf_field, csrf_token, error_page, esc, jst, page, see_other, size, Lang};
use crate::config::{ApiKey, Role};
use crate::ingress::http::error::ApiError;
use crate::ingress::http::held::form_field;
use crate::ingress::http::originals::{blocking, decide};
use crate::ingress::http::{AppState, Client};
use crate::store::{now, ObjectId};

const SESSION_COOKIE: &str = "mugai_approver";
const SESSION_SECS: u64 = 8 * 3600;

/// The signed-in approver's name, if the session cookie is genuine, its session live in the
/// ledger, and its account or key still has the approve (or admin) role.
async fn approver(state: &Arc<AppState>, headers: &HeaderMap) -> Option<String> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let store = state.pipeline.store().clone();
    let session = match blocking(move || store.session(&token)).await {
        Ok(Ok(session)) => session?,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not read a portal session");
            return None;
        }
        Err(_) => return None,
    };
    let config = &state.pipeline.current().config;
    let may_approve = |roles: &[Role]| roles.contains(&Role::Approve) || roles.contains(&Role::Admin);
    if session.source == LOCAL_SOURCE {
        let user = config.portal.user(&session.person)?;
        return may_approve(&user.roles).then(|| user.name.clone());
    }
    let hash = session.source.strip_prefix(KEY_SOURCE)?;
    config
        .http
        .api_keys
        .iter()
        .find(|k| crate::ids::hex(&k.sha256[..ObjectId::LEN]) == hash)
        .filter(|k| may_approve(&k.roles))
        .map(|k| k.name.clone())
}

/// A session opened by a local account's password.
const LOCAL_SOURCE: &str = "local";

/// A session opened with an API key: `key:` and the first bytes of the key's SHA-256, hex.
const KEY_SOURCE: &str = "key:";

/// `GET /approvals`: the sign-in form, or the pending requests.
pub async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let (csrf, set_cookie) = csrf_token(&headers);
    let people = !state.pipeline.current().config.portal.users.is_empty();
    let mut response = match approver(&state, &headers).await {
        None => sign_in_page(lang, &csrf, people, None),
        Some(name) => match pending_page(&state, lang, &csrf, &name).await {
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

async fn pending_page(state: &Arc<AppState>, lang: Lang, csrf: &str, name: &str) -> Result<Response, ApiError> {
    let store = state.pipeline.store().clone();
    let rows = blocking(move || store.pending_releases())
        .await?
        .map_err(ApiError::internal)?;
    let mut body = format!(
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
            "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
            lang.t("承認待ちの開示申請（古い順）", "Requests awaiting a decision (oldest first)"),
            lang.t("ファイル名", "File name"),
            lang.t("種類・大きさ", "Kind, size"),
            lang.t("処理結果", "Result"),
            lang.t("申請日時（日本時間）", "Requested (JST)"),
            lang.t("判断", "Decision"),
        ));
        for (part, request) in rows.iter().take(500) {
            let name = esc(part.name.as_deref().unwrap_or(lang.t("（名前なし）", "(no name)")));
            let id = esc(&part.id);
            body.push_str(&format!(
                "<tr><td>{name}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/approvals/{id}/approve\" class=\"inline\">{field}<button type=\"submit\" aria-label=\"{approve}: {name}\">{approve}</button></form> \
                 <form method=\"post\" action=\"/approvals/{id}/deny\" class=\"inline\">{field}<button type=\"submit\" class=\"secondary\" aria-label=\"{deny}: {name}\">{deny}</button></form>\
                 </td></tr>\n",
                esc(part.kind.as_str()),
                size(part.original_size),
                esc(&result_text(lang, part)),
                jst(request.requested),
                field = csrf_field(csrf),
                approve = lang.t("承認", "Approve"),
                deny = lang.t("却下", "Decline"),
            ));
        }
        body.push_str("</tbody>\n</table>\n");
    }
    Ok(page(
        lang,
        StatusCode::OK,
        lang.t("原本の開示申請", "Requests for originals"),
        &body,
    ))
}

/// An approver's key from the sign-in form (checked by hash, constant time): its holder's
/// name and the session's source.
fn key_sign_in(state: &AppState, form: &[u8]) -> Option<(String, String)> {
    let presented = form_field(form, "key").unwrap_or_default();
    let mut bearer = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", presented.trim())).ok()?;
    bearer.insert(header::AUTHORIZATION, value);
    let key: ApiKey =
        crate::ingress::http::auth::require(&state.pipeline.current().config, &bearer, Role::Approve).ok()?;
    let hash: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    Some((
        key.name,
        format!("{KEY_SOURCE}{}", crate::ids::hex(&hash[..ObjectId::LEN])),
    ))
}

/// Wrong passwords an account may take within [`SIGN_IN_WINDOW_SECS`] before sign-in is
/// refused for the rest of the window (the right password too), on every instance.
const MAX_SIGN_IN_FAILURES: u32 = 5;
const SIGN_IN_WINDOW_SECS: u64 = 15 * 60;

/// A local account's name and password from the sign-in form, verified off the async
/// threads (argon2id takes tens of milliseconds on purpose); an unknown name costs the same.
/// Each attempt is counted for the name first; `Err(seconds)` while it is locked out.
async fn account_sign_in(state: &Arc<AppState>, form: &[u8]) -> Result<Option<(String, String)>, u64> {
    let name = form_field(form, "user").unwrap_or_default().trim().to_string();
    let password = form_field(form, "password").unwrap_or_default();
    let user = state.pipeline.current().config.portal.user(&name).cloned();
    let (store, who) = (state.pipeline.store().clone(), name.clone());
    let verified = blocking(move || {
        match store.take_signin_try(&who, MAX_SIGN_IN_FAILURES, SIGN_IN_WINDOW_SECS) {
            Ok(Ok(_)) => {}
            Ok(Err(seconds)) => return Err(seconds),
            Err(e) => {
                // Attempts that cannot be counted are not made.
                tracing::error!(error = %e, "could not count a sign-in attempt");
                return Ok(false);
            }
        }
        let verified = match &user {
            Some(user) => crate::passwords::verify(&password, user.argon2.expose()),
            None => {
                crate::passwords::verify_nobody(&password);
                false
            }
        };
        if verified {
            if let Err(e) = store.clear_signin_tries(&who) {
                tracing::error!(error = %e, "could not clear sign-in attempts");
            }
        }
        Ok(verified)
    })
    .await
    .unwrap_or(Ok(false))?;
    let config = &state.pipeline.current().config;
    let Some(user) = config.portal.user(&name) else {
        return Ok(None);
    };
    let may_approve = user.roles.contains(&Role::Approve) || user.roles.contains(&Role::Admin);
    Ok((verified && may_approve).then(|| (name, LOCAL_SOURCE.to_string())))
}

/// `POST /approvals/login`: a local account's name and password where accounts are
/// configured, otherwise an approver's key; then the session.
pub async fn login(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let people = !state.pipeline.current().config.portal.users.is_empty();
    let signed = if people {
        account_sign_in(&state, &form).await
    } else {
        Ok(key_sign_in(&state, &form))
    };
    let signed = match signed {
        Ok(signed) => signed,
        Err(seconds) => {
            tracing::warn!(seconds, "approver sign-in refused: too many wrong passwords");
            state.pipeline.signed_in(&client.origin("approver"), None);
            let (csrf, _) = csrf_token(&headers);
            let minutes = seconds.div_ceil(60);
            let text = match lang {
                Lang::Ja => {
                    format!("パスワードの誤りが続いたため、このアカウントは {minutes} 分間サインインできません。")
                }
                Lang::En => format!("Too many wrong passwords: this account cannot sign in for {minutes} minutes."),
            };
            let mut response = sign_in_page(lang, &csrf, people, Some(&text));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
    };
    let Some((name, source)) = signed else {
        tracing::warn!("approver sign-in refused");
        state.pipeline.signed_in(&client.origin("approver"), None);
        let (csrf, _) = csrf_token(&headers);
        let problem = if people {
            lang.t(
                "利用者名かパスワードが正しくないか、承認の権限がありません。",
                "The user name or password is wrong, or the account cannot approve.",
            )
        } else {
            lang.t(
                "キーが正しくないか、承認の権限がありません。",
                "The key is not valid or cannot approve.",
            )
        };
        return sign_in_page(lang, &csrf, people, Some(problem));
    };
    let (store, person) = (state.pipeline.store().clone(), name.clone());
    let token = match blocking(move || store.open_session(&person, &source, now() + SESSION_SECS)).await {
        Ok(Ok(token)) => token,
        Ok(Err(e)) => return error_page(lang, &ApiError::internal(e)),
        Err(e) => return error_page(lang, &e),
    };
    tracing::info!(approver = %name, "approver signed in");
    state
        .pipeline
        .signed_in(&client.origin(format!("approver:{name}")), Some(&name));
    let mut response = see_other("/approvals");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/approvals; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `POST /approvals/logout`.
pub async fn logout(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap, form: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let who = approver(&state, &headers).await;
    // The session ends in the ledger: its cookie is worthless from now on, on every instance.
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let store = state.pipeline.store().clone();
        if let Ok(Err(e)) = blocking(move || store.end_session(&token)).await {
            tracing::error!(error = %e, "could not end a portal session");
        }
    }
    let actor = who
        .as_ref()
        .map_or_else(|| "approver".to_string(), |n| format!("approver:{n}"));
    state.pipeline.signed_out(&client.origin(actor), who.as_deref());
    let mut response = see_other("/approvals");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("mugai_approver=; Path=/approvals; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
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
    let Some(name) = approver(state, headers).await else {
        return see_other("/approvals");
    };
    let origin = client.origin(format!("approver:{name}"));
    match decide(state, id, approve, &name, &origin).await {
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
