//! The admin console (`/admin`, for 情シス; administrators only — an account or directory
//! person with the admin role, or an admin key where no people are configured): search the
//! messages kept (sender, recipient, subject, Message-ID, dates, outcome); one message's
//! parts and its trace (every audit line for it, in order); its original `.eml` or a part's
//! original, taken out with a reason that goes into the audit first; statistics by day as a
//! server-drawn SVG chart with the same numbers as a table and as CSV; the running
//! configuration with its secrets redacted. Same page conventions as the others: no script,
//! CSRF on every form, Japanese first.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::people::{signed_in, Approver};
use super::{check_csrf, csrf_field, csrf_token, error_page, esc, jst, page, see_other, size, Lang};
use crate::ingress::http::error::ApiError;
use crate::ingress::http::held::form_field;
use crate::ingress::http::originals::{blocking, file_response};
use crate::ingress::http::{AppState, Client};
use crate::report::Outcome;
use crate::store::{DayCount, MessageQuery, PeriodStats, ReleaseState};

/// Rows one search shows.
const SHOWN: usize = 200;
/// Days the statistics cover.
const STAT_DAYS: u64 = 30;

/// The signed-in administrator, or the answer to give instead (the sign-in page, or 403).
async fn administrator(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Approver, Response> {
    let lang = Lang::from_headers(headers);
    match signed_in(state, headers).await {
        None => Err(see_other("/approvals")),
        Some(a) if a.admin => Ok(a),
        Some(_) => Err(error_page(
            lang,
            &ApiError::new(StatusCode::FORBIDDEN, "not_admin", "this console is for administrators"),
        )),
    }
}

/// The console's own navigation, on every page of it.
fn nav(lang: Lang) -> String {
    format!(
        "<nav aria-label=\"{}\"><p><a href=\"/admin\">{}</a> ・ <a href=\"/admin/stats\">{}</a> ・ \
         <a href=\"/admin/config\">{}</a> ・ <a href=\"/approvals\">{}</a></p></nav>\n",
        lang.t("管理メニュー", "Console"),
        lang.t("メッセージ検索", "Search messages"),
        lang.t("統計", "Statistics"),
        lang.t("設定", "Configuration"),
        lang.t("承認待ちの申請", "Pending requests"),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    sender: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    outcome: String,
}

impl SearchForm {
    fn query(&self) -> MessageQuery {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        MessageQuery {
            sender: text(&self.sender),
            recipient: text(&self.recipient),
            subject: text(&self.subject),
            message_id: text(&self.message_id),
            since: crate::audit_trace::parse_day(&self.since),
            until: crate::audit_trace::parse_day(&self.until).map(|d| d + 86_400),
            outcome: Outcome::parse(self.outcome.trim()),
            limit: SHOWN,
        }
    }
}

/// `GET /admin`: the search form and, with any field filled, what it finds.
pub async fn search(
    State(state): State<Arc<AppState>>,
    Query(form): Query<SearchForm>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = administrator(&state, &headers).await {
        return r;
    }
    let query = form.query();
    let store = state.pipeline.store().clone();
    let rows = match blocking(move || store.search_messages(&query)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return error_page(lang, &ApiError::internal(e)),
        Err(e) => return error_page(lang, &e),
    };
    let field = |id: &str, label: &str, value: &str, kind: &str| {
        format!(
            "<p><label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{}\"></p>\n",
            esc(value)
        )
    };
    let outcomes = ["clean", "disarmed", "blocked", "held", "error"];
    let options: String = std::iter::once(("", lang.t("（すべて）", "(any)")))
        .chain(outcomes.iter().map(|o| (*o, *o)))
        .map(|(value, label)| {
            let selected = if value == form.outcome.trim() { " selected" } else { "" };
            format!("<option value=\"{value}\"{selected}>{}</option>", esc(label))
        })
        .collect();
    let mut body = nav(lang);
    body.push_str(&format!(
        "<form method=\"get\" action=\"/admin\" role=\"search\">\n{}{}{}{}{}{}\
         <p><label for=\"outcome\">{}</label><select id=\"outcome\" name=\"outcome\">{options}</select></p>\n\
         <p><button type=\"submit\">{}</button></p>\n</form>\n",
        field("sender", lang.t("送信者", "Sender"), &form.sender, "text"),
        field("recipient", lang.t("宛先", "Recipient"), &form.recipient, "text"),
        field("subject", lang.t("件名", "Subject"), &form.subject, "text"),
        field("message_id", "Message-ID", &form.message_id, "text"),
        field("since", lang.t("受信日（から）", "Received from"), &form.since, "date"),
        field("until", lang.t("受信日（まで）", "Received until"), &form.until, "date"),
        lang.t("処理結果", "Outcome"),
        lang.t("検索", "Search"),
    ));
    body.push_str(&format!(
        "<table>\n<caption>{} {}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        lang.t("検索結果（新しい順）", "Messages (newest first)"),
        rows.len(),
        lang.t("受信日時（日本時間）", "Received (JST)"),
        lang.t("送信者", "Sender"),
        lang.t("宛先", "Recipients"),
        lang.t("件名", "Subject"),
        lang.t("処理結果", "Outcome"),
        lang.t("大きさ", "Size"),
    ));
    for m in &rows {
        body.push_str(&format!(
            "<tr><td><a href=\"/admin/messages/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            jst(m.created),
            esc(&m.mail_from),
            esc(&m.rcpt_to.join(", ")),
            esc(m.subject.as_deref().unwrap_or("")),
            esc(m.outcome.map_or("processing", Outcome::as_str)),
            size(m.size),
            id = esc(&m.id),
        ));
    }
    body.push_str("</tbody>\n</table>\n");
    page(
        lang,
        StatusCode::OK,
        lang.t("管理：メッセージ検索", "Console: messages"),
        &body,
    )
}

/// `GET /admin/messages/{id}`: the message, its parts, its trace, and the form to take its
/// original out.
pub async fn message(State(state): State<Arc<AppState>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = administrator(&state, &headers).await {
        return r;
    }
    let store = state.pipeline.store().clone();
    let lookup = id.clone();
    let found = blocking(move || {
        let message = store.message(&lookup)?;
        let parts = store.parts_of(&lookup)?;
        Ok::<_, crate::store::StoreError>((message, parts))
    })
    .await;
    let (message, parts) = match found {
        Ok(Ok((Some(m), parts))) => (m, parts),
        Ok(Ok((None, _))) => {
            return error_page(
                lang,
                &ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown",
                    "no such message (expired or never kept)",
                ),
            )
        }
        Ok(Err(e)) => return error_page(lang, &ApiError::internal(e)),
        Err(e) => return error_page(lang, &e),
    };
    let current = state.pipeline.current();
    let config = &current.config;
    let trace = match config.audit.log.file(&config.serve.data_dir) {
        Some(path) => {
            let filter = crate::audit_trace::TraceFilter {
                message: Some(id.clone()),
                ..Default::default()
            };
            blocking(move || crate::audit_trace::read(&path, &filter, 1000))
                .await
                .ok()
                .and_then(Result::ok)
        }
        None => None,
    };
    let (csrf, set_cookie) = csrf_token(&headers);
    let row = |term: &str, value: &str| format!("<dt>{term}</dt><dd>{}</dd>\n", esc(value));
    let mut body = nav(lang);
    body.push_str(&format!(
        "<dl>\n{}{}{}{}{}{}{}</dl>\n",
        row(lang.t("受信日時（日本時間）", "Received (JST)"), &jst(message.created)),
        row(lang.t("送信者", "Sender"), &message.mail_from),
        row(lang.t("宛先", "Recipients"), &message.rcpt_to.join(", ")),
        row(lang.t("件名", "Subject"), message.subject.as_deref().unwrap_or("")),
        row("Message-ID", message.message_id.as_deref().unwrap_or("")),
        row(
            lang.t("処理結果", "Outcome"),
            message.outcome.map_or("processing", Outcome::as_str)
        ),
        row(lang.t("大きさ", "Size"), &size(message.size)),
    ));
    body.push_str(&format!("<h2>{}</h2>\n", lang.t("添付ファイル", "Parts")));
    let approval = config.http.originals.needs_approval();
    for p in &parts {
        let name = esc(p.name.as_deref().unwrap_or(lang.t("（名前なし）", "(no name)")));
        let pid = esc(&p.id);
        // Each part: release its original to the recipient (where approval is the policy),
        // or revoke its link — with a reason, for the audit trail.
        let action = |verb: &str, label: &str, button: &str, class: &str| {
            format!(
                "<form method=\"post\" action=\"/admin/parts/{pid}/{verb}\">\n{}\n\
                 <label for=\"{verb}-{pid}\">{label}</label>\n\
                 <input id=\"{verb}-{pid}\" name=\"reason\" type=\"text\" maxlength=\"1000\" required>\n\
                 <p><button type=\"submit\" class=\"{class}\" aria-label=\"{button}: {name}\">{button}</button></p>\n</form>\n",
                csrf_field(&csrf)
            )
        };
        body.push_str(&format!(
            "<section aria-labelledby=\"part-{pid}\">\n<h3 id=\"part-{pid}\">{name}</h3>\n<p>{} / {} / {} <span class=\"hint\">({pid})</span></p>\n{}{}{}</section>\n",
            esc(p.kind.as_str()),
            esc(p.outcome.as_str()),
            size(p.original_size),
            action(
                "original",
                lang.t("原本を取り出す理由（監査ログに記録されます）", "Reason to take the original out (audited)"),
                lang.t("この添付の原本をダウンロード", "Download this part's original"),
                "secondary",
            ),
            if approval {
                action(
                    "release",
                    lang.t("開示の理由", "Reason to release"),
                    lang.t("原本を開示する", "Release the original"),
                    "",
                )
            } else {
                String::new()
            },
            action(
                "revoke",
                lang.t("無効にする理由", "Reason to revoke"),
                lang.t("リンクを無効にする", "Revoke the link"),
                "secondary",
            ),
        ));
    }
    body.push_str(&format!(
        "<h2>{}</h2>\n<form method=\"post\" action=\"/admin/messages/{id}/original\">\n{}\n\
         <label for=\"reason\">{}</label>\n<textarea id=\"reason\" name=\"reason\" rows=\"2\" maxlength=\"1000\" required></textarea>\n\
         <p><button type=\"submit\">{}</button></p>\n</form>\n",
        lang.t("原本（.eml）の取り出し", "Take out the original (.eml)"),
        csrf_field(&csrf),
        lang.t("理由（監査ログに記録されます）", "Reason (recorded in the audit trail)"),
        lang.t("原本をダウンロード", "Download the original"),
        id = esc(&message.id),
    ));
    body.push_str(&format!(
        "<h2>{}</h2>\n",
        lang.t("処理の記録（監査ログ）", "Trace (audit trail)")
    ));
    match trace {
        Some(lines) if !lines.is_empty() => {
            body.push_str("<ol>\n");
            for line in lines.iter().take(1000) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                body.push_str(&format!(
                    "<li><strong>{}</strong> {} <code>{}</code></li>\n",
                    esc(v["event"].as_str().unwrap_or("")),
                    jst(v["ts"].as_u64().unwrap_or(0)),
                    esc(line),
                ));
            }
            body.push_str("</ol>\n");
        }
        _ => body.push_str(&format!(
            "<p class=\"note\">{}</p>\n",
            lang.t(
                "この受信の記録は、このインスタンスの監査ログ（ファイル）にはありません。",
                "No lines for this message in this instance's audit file."
            )
        )),
    }
    let mut response = page(
        lang,
        StatusCode::OK,
        lang.t("管理：メッセージ", "Console: message"),
        &body,
    );
    if let Some(v) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /admin/messages/{id}/original`, `POST /admin/parts/{id}/original`: a message's
/// `.eml` or a part's original, with a reason, audited first.
pub async fn original(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(e) = check_csrf(&headers, &form) {
        return error_page(lang, &e);
    }
    let admin = match administrator(&state, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let reason = form_field(&form, "reason").unwrap_or_default();
    let (store, audit) = (state.pipeline.store().clone(), state.pipeline.audit().clone());
    let origin = client.origin(format!("admin:{}", admin.name));
    let fetched = blocking(move || crate::pipeline::fetch_original(&store, &audit, &origin, &id, &reason)).await;
    match fetched {
        Ok(Ok(f)) => {
            let name = match f.of {
                "message" => "original.eml".to_string(),
                _ => f.name.unwrap_or_else(|| "original".into()),
            };
            file_response(f.bytes, &name, None)
        }
        Ok(Err(crate::pipeline::FetchRefused::NoReason)) => error_page(
            lang,
            &ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_reason",
                lang.t("理由を入力してください。", "Give a reason."),
            ),
        ),
        Ok(Err(crate::pipeline::FetchRefused::Unknown(_))) => error_page(
            lang,
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown",
                "no such message (expired or never kept)",
            ),
        ),
        Ok(Err(e)) => error_page(lang, &ApiError::internal(e)),
        Err(e) => error_page(lang, &e),
    }
}

/// The last [`STAT_DAYS`] days (Japan-time days): the first day, the messages a day, and the
/// period's files, findings and requests.
async fn period(state: &Arc<AppState>) -> Result<(u64, Vec<DayCount>, PeriodStats), ApiError> {
    let now = crate::clock::now();
    let today = (now + 9 * 3600) / 86_400;
    let first = today + 1 - STAT_DAYS;
    let since = (first * 86_400).saturating_sub(9 * 3600);
    let store = state.pipeline.store().clone();
    let (counts, stats) = blocking(move || {
        Ok::<_, crate::store::StoreError>((store.message_days(since, now + 1)?, store.period_stats(since, now + 1)?))
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok((first, counts, stats))
}

/// A request state's words.
fn state_text(lang: Lang, state: ReleaseState) -> &'static str {
    match state {
        ReleaseState::Requested => lang.t("判断待ち", "waiting"),
        ReleaseState::Approved => lang.t("承認", "approved"),
        ReleaseState::Denied => lang.t("却下", "declined"),
    }
}

/// Seconds as hours and minutes (`2時間5分`, `2 h 5 min`).
fn wait_text(lang: Lang, secs: Option<u64>) -> String {
    let Some(s) = secs else {
        return "—".into();
    };
    let (h, m) = (s / 3600, s % 3600 / 60);
    match lang {
        Lang::Ja => format!("{h}時間{m}分"),
        Lang::En => format!("{h} h {m} min"),
    }
}

/// The period's files by kind, findings by kind and requests by state, as three tables.
fn period_tables(lang: Lang, stats: &PeriodStats) -> String {
    let table = |caption: &str, heads: &[&str], rows: Vec<Vec<String>>| {
        let head: String = heads.iter().map(|h| format!("<th scope=\"col\">{h}</th>")).collect();
        let body: String = rows
            .iter()
            .map(|r| {
                let (first, rest) = r.split_first().map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
                let cells: String = rest.iter().map(|c| format!("<td>{c}</td>")).collect();
                format!("<tr><th scope=\"row\">{first}</th>{cells}</tr>\n")
            })
            .collect();
        format!("<table>\n<caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n")
    };
    let kinds = stats
        .kinds
        .iter()
        .map(|(k, n)| vec![esc(k.as_str()), n.to_string()])
        .collect();
    let findings = stats
        .findings
        .iter()
        .take(20)
        .map(|(w, n)| {
            let words = crate::texts::what(*w);
            vec![esc(lang.t(words.ja, words.en)), n.to_string()]
        })
        .collect();
    let approvals = stats
        .approvals
        .iter()
        .map(|(s, n, wait)| vec![state_text(lang, *s).to_string(), n.to_string(), wait_text(lang, *wait)])
        .collect();
    [
        table(
            lang.t("種類別のファイル数", "Files by kind"),
            &[lang.t("種類", "Kind"), lang.t("件数", "Files")],
            kinds,
        ),
        table(
            lang.t(
                "多かった検出（上位 20、期間内の新しい添付 2,000 件から）",
                "Top findings (20, from the period's newest 2,000 parts)",
            ),
            &[lang.t("検出", "Finding"), lang.t("件数", "Count")],
            findings,
        ),
        table(
            lang.t("原本の開示申請", "Requests for originals"),
            &[
                lang.t("状態", "State"),
                lang.t("件数", "Requests"),
                lang.t("判断までの平均時間", "Average wait for the decision"),
            ],
            approvals,
        ),
    ]
    .concat()
}

/// `YYYY-MM-DD` of a Japan-time day number.
fn day_text(day: u64) -> String {
    let (y, m, d, _) = crate::clock::civil(day * 86_400, 0);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The outcomes the statistics show, with their bar colours (all 4.5:1 or more on white).
const SERIES: [(Option<Outcome>, &str); 5] = [
    (Some(Outcome::Clean), "#1d6b2f"),
    (Some(Outcome::Disarmed), "#0b3d91"),
    (Some(Outcome::Blocked), "#a4001d"),
    (Some(Outcome::Held), "#7a4b00"),
    (Some(Outcome::Error), "#4a4a4a"),
];

/// `GET /admin/stats`: messages by day and outcome, as a chart and a table.
pub async fn stats(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = administrator(&state, &headers).await {
        return r;
    }
    let (first, counts, period_stats) = match period(&state).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, &e),
    };
    let count = |day: u64, outcome: Option<Outcome>| {
        counts
            .iter()
            .filter(|c| c.day == day && c.outcome == outcome)
            .map(|c| c.messages)
            .sum::<u64>()
    };
    let days: Vec<u64> = (first..first + STAT_DAYS).collect();
    let totals: Vec<u64> = days
        .iter()
        .map(|d| counts.iter().filter(|c| c.day == *d).map(|c| c.messages).sum())
        .collect();
    let top = totals.iter().copied().max().unwrap_or(0).max(1);
    // The chart: one stacked bar a day, 20 px wide, 200 px for the busiest day.
    let (bar, height) = (20u64, 200u64);
    let mut svg = format!(
        "<svg role=\"img\" aria-labelledby=\"chart-title\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <title id=\"chart-title\">{}</title>",
        lang.t("日ごとの受信メッセージ数（処理結果別）", "Messages a day by outcome"),
        w = bar * STAT_DAYS + 40,
        h = height + 20,
    );
    for (i, day) in days.iter().enumerate() {
        let mut y = height;
        for (outcome, colour) in SERIES {
            let n = count(*day, outcome);
            let h = n * height / top;
            if h > 0 {
                y -= h;
                svg.push_str(&format!(
                    "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"{colour}\"/>",
                    i as u64 * bar + 30,
                    bar - 4
                ));
            }
        }
    }
    svg.push_str(&format!(
        "<line x1=\"28\" y1=\"{height}\" x2=\"{}\" y2=\"{height}\" stroke=\"#1a1a1a\"/><text x=\"0\" y=\"12\" font-size=\"12\" fill=\"#1a1a1a\">{top}</text></svg>",
        bar * STAT_DAYS + 30
    ));
    let legend: String = SERIES
        .iter()
        .map(|(o, colour)| {
            format!(
                "<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{colour}\"/></svg> {}</li>",
                o.map_or("processing", Outcome::as_str)
            )
        })
        .collect();
    let mut table = format!(
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th>{}<th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        lang.t("日ごとの受信メッセージ数", "Messages a day"),
        lang.t("日付", "Day"),
        SERIES
            .iter()
            .map(|(o, _)| format!("<th scope=\"col\">{}</th>", o.map_or("processing", Outcome::as_str)))
            .collect::<String>(),
        lang.t("合計", "Total"),
    );
    for (day, total) in days.iter().zip(&totals) {
        table.push_str(&format!(
            "<tr><th scope=\"row\">{}</th>{}<td>{total}</td></tr>\n",
            day_text(*day),
            SERIES
                .iter()
                .map(|(o, _)| format!("<td>{}</td>", count(*day, *o)))
                .collect::<String>()
        ));
    }
    table.push_str("</tbody>\n</table>\n");
    let csv_links: String = [
        (
            "messages",
            lang.t("日ごとのメッセージ数（CSV）", "Messages a day (CSV)"),
        ),
        ("kinds", lang.t("種類別のファイル数（CSV）", "Files by kind (CSV)")),
        ("findings", lang.t("検出の件数（CSV）", "Findings (CSV)")),
        ("approvals", lang.t("開示申請（CSV）", "Requests (CSV)")),
    ]
    .iter()
    .map(|(t, label)| format!("<li><a href=\"/admin/stats.csv?table={t}\" download>{label}</a></li>"))
    .collect();
    let body = format!(
        "{}<h2>{}</h2>\n{svg}\n<ul class=\"legend\">{legend}</ul>\n<ul>{csv_links}</ul>\n{table}{}",
        nav(lang),
        lang.t("直近 30 日", "The last 30 days"),
        period_tables(lang, &period_stats),
    );
    page(lang, StatusCode::OK, lang.t("管理：統計", "Console: statistics"), &body)
}

#[derive(Debug, Default, Deserialize)]
pub struct CsvTable {
    #[serde(default)]
    table: String,
}

/// `GET /admin/stats.csv?table=messages|kinds|findings|approvals`: the same numbers as CSV.
pub async fn stats_csv(
    State(state): State<Arc<AppState>>,
    Query(which): Query<CsvTable>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = administrator(&state, &headers).await {
        return r;
    }
    let (_, counts, stats) = match period(&state).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, &e),
    };
    let mut csv = String::new();
    match which.table.as_str() {
        "kinds" => {
            csv.push_str("kind,files\r\n");
            for (k, n) in &stats.kinds {
                csv.push_str(&format!("{},{n}\r\n", k.as_str()));
            }
        }
        "findings" => {
            csv.push_str("finding,count\r\n");
            for (w, n) in &stats.findings {
                csv.push_str(&format!(
                    "{},{n}\r\n",
                    serde_json::to_value(w)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ));
            }
        }
        "approvals" => {
            csv.push_str("state,requests,average_wait_seconds\r\n");
            for (s, n, wait) in &stats.approvals {
                csv.push_str(&format!(
                    "{},{n},{}\r\n",
                    s.as_str(),
                    wait.map(|w| w.to_string()).unwrap_or_default()
                ));
            }
        }
        _ => {
            csv.push_str("day,outcome,messages\r\n");
            for c in &counts {
                csv.push_str(&format!(
                    "{},{},{}\r\n",
                    day_text(c.day),
                    c.outcome.map_or("processing", Outcome::as_str),
                    c.messages
                ));
            }
        }
    }
    let mut response = (StatusCode::OK, csv).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = match which.table.as_str() {
        "kinds" | "findings" | "approvals" => which.table.as_str(),
        _ => "messages",
    };
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"mugai-{name}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /admin/config`: the configuration in force, secrets redacted (`Secret` prints none).
pub async fn config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = administrator(&state, &headers).await {
        return r;
    }
    let config = &state.pipeline.current().config;
    let body = format!(
        "{}<p>{}</p>\n<pre lang=\"en\">{}</pre>\n",
        nav(lang),
        lang.t(
            "現在有効な設定です。鍵やパスワードは表示されません。",
            "The configuration in force; keys and passwords are not shown."
        ),
        esc(&format!("{config:#?}"))
    );
    page(
        lang,
        StatusCode::OK,
        lang.t("管理：設定", "Console: configuration"),
        &body,
    )
}

/// `POST /admin/parts/{id}/release`: release a part's original to whoever holds its link —
/// as a request made and approved by this administrator, for the reason given (under
/// `after_scan_and_approval` clamd judges it first, as for any request).
pub async fn release(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    part_action(&state, &client, &id, &headers, &form, true).await
}

/// `POST /admin/parts/{id}/revoke`: the part's link resolves no more; its original goes at
/// the next purge.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    part_action(&state, &client, &id, &headers, &form, false).await
}

async fn part_action(
    state: &Arc<AppState>,
    client: &Client,
    id: &str,
    headers: &HeaderMap,
    form: &[u8],
    release: bool,
) -> Response {
    let lang = Lang::from_headers(headers);
    if let Err(e) = check_csrf(headers, form) {
        return error_page(lang, &e);
    }
    let admin = match administrator(state, headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let reason = form_field(form, "reason").unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        return error_page(
            lang,
            &ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_reason",
                lang.t("理由を入力してください。", "Give a reason."),
            ),
        );
    }
    let store = state.pipeline.store().clone();
    let part_id = id.to_string();
    let part = match blocking(move || store.part(&part_id)).await {
        Ok(Ok(Some(p))) if p.expires > crate::clock::now() => p,
        Ok(Ok(_)) => {
            return error_page(
                lang,
                &ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown",
                    "no such part (expired, revoked or never kept)",
                ),
            )
        }
        Ok(Err(e)) => return error_page(lang, &ApiError::internal(e)),
        Err(e) => return error_page(lang, &e),
    };
    let origin = client.origin(format!("admin:{}", admin.name));
    let back = format!("/admin/messages/{}", part.message);
    if release {
        if !state.pipeline.current().config.http.originals.needs_approval() {
            return error_page(
                lang,
                &ApiError::new(StatusCode::CONFLICT, "no_approval", "originals here need no approval"),
            );
        }
        if let Err(e) = state.pipeline.request(&part, None, Some(&reason), &origin).await {
            return error_page(lang, &crate::ingress::http::originals::refused(e));
        }
        match state
            .pipeline
            .decide(&part.id, true, &admin.name, Some(&reason), &origin)
            .await
        {
            Ok(true) => see_other(&back),
            Ok(false) => error_page(
                lang,
                &ApiError::new(
                    StatusCode::CONFLICT,
                    "decided",
                    lang.t(
                        "この原本の申請は既に判断されています。",
                        "This original's request was already decided.",
                    ),
                ),
            ),
            Err(e) => error_page(lang, &ApiError::internal(e)),
        }
    } else {
        let store = state.pipeline.store().clone();
        let part_id = part.id.clone();
        match blocking(move || store.revoke_part(&part_id)).await {
            Ok(Ok(_)) => {
                state.pipeline.audit().note(
                    &origin,
                    crate::audit::Event::LinkRevoked {
                        part: part.id.clone(),
                        reason,
                    },
                );
                see_other(&back)
            }
            Ok(Err(e)) => error_page(lang, &ApiError::internal(e)),
            Err(e) => error_page(lang, &e),
        }
    }
}
