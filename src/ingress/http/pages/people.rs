//! Who is signed in to the portal, and what they may decide. Three ways in, one session:
//! a local account of `[portal] users` (argon2id), a person of the directory (`[portal.ldap]`,
//! `directory`), or — only where neither is configured — an `approve`-role API key. The
//! session is a row of the ledger behind a signed cookie (`store::tokens`). Grants are read
//! again on every request: a local account's or key's from the configuration (removing one
//! ends its sessions at the next reload), a directory person's as the directory gave them at
//! sign-in (for the session's eight hours at most).
//!
//! What an approver decides: every request when no approver groups are configured or the
//! person is an administrator; otherwise the requests for mail to the recipients of the
//! groups they are in (部署ごとの承認者).
//!
//! The carry-in box on the internet side signs in the same people at its own door
//! ([`Door::CarryIn`]): local accounts with the `carry_in` role, directory people (members of
//! `carry_in.ldap_group` where one is set), never a key. Its sessions have their own cookie
//! and sources, and count at no other door.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::cookie;
use super::Lang;
use crate::config::{all_tls, ApiKey, PortalConfig, Role};
use crate::ingress::http::error::ApiError;
use crate::ingress::http::held::form_field;
use crate::ingress::http::originals::blocking;
use crate::ingress::http::{AppState, Client};
pub use crate::pipeline::Door;
use crate::store::now;
use crate::store::{ObjectId, SessionRow};

const SESSION_COOKIE: &str = "mugai_approver";
const CARRY_IN_COOKIE: &str = "mugai_carry_in";
pub const SESSION_SECS: u64 = 8 * 3600;

/// The session cookie as this site sets it: where the pages are served over TLS (the link
/// base, or `notify.portal_url`, is `https://`), `Secure` and with the `__Host-` prefix — a
/// browser then sends it only over TLS, to this host, for the whole site, and no sibling
/// domain or plain-HTTP page can set one in its place.
pub struct SessionCookie {
    pub name: String,
    secure: bool,
}

impl SessionCookie {
    pub fn of(config: &crate::config::Config) -> SessionCookie {
        let base = config
            .notify
            .portal_url
            .as_deref()
            .unwrap_or(&config.mail.link_base_url);
        let secure = base.starts_with("https://") || all_tls(&config.http.listeners, |g| g.portal);
        SessionCookie::named(SESSION_COOKIE, secure)
    }

    /// The carry-in box's session cookie: its own name (a cookie is the host's, whatever the
    /// port, and an internet-side session must never count on the LGWAN side), `Secure`
    /// where every listener serving the box speaks TLS.
    pub fn carry_in(config: &crate::config::Config) -> SessionCookie {
        SessionCookie::named(CARRY_IN_COOKIE, all_tls(&config.http.listeners, |g| g.carry_in))
    }

    fn named(name: &str, secure: bool) -> SessionCookie {
        SessionCookie {
            name: format!("{}{name}", if secure { "__Host-" } else { "" }),
            secure,
        }
    }

    /// The `Set-Cookie` value for `token` (empty and expired: sign-out).
    pub fn set(&self, token: &str, max_age: u64) -> String {
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            self.name,
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// Wrong passwords an account may take within [`SIGN_IN_WINDOW_SECS`] before sign-in is
/// refused for the rest of the window (the right password too), on every instance.
const MAX_SIGN_IN_FAILURES: u32 = 5;
const SIGN_IN_WINDOW_SECS: u64 = 15 * 60;

/// Session sources: the approvals' and the carry-in box's.
const LOCAL_SOURCE: &str = "local";
const LDAP_SOURCE: &str = "ldap";
const CARRY_LOCAL_SOURCE: &str = "carry:local";
const CARRY_LDAP_SOURCE: &str = "carry:ldap";
/// `key:` and the first bytes of the key's SHA-256, hex.
const KEY_SOURCE: &str = "key:";

/// Grants of a directory session.
const ADMIN_GRANT: &str = "admin";
const GROUP_GRANT: &str = "group:";

/// A signed-in approver: who, and what they decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub name: String,
    /// Decides every request.
    pub admin: bool,
    /// The approver groups they are in.
    pub groups: Vec<String>,
}

impl Approver {
    /// Whether this approver decides a request for mail to `recipients`.
    pub fn decides(&self, portal: &PortalConfig, recipients: &[String]) -> bool {
        if self.admin || portal.approver_groups.is_empty() {
            return true;
        }
        self.groups
            .iter()
            .filter_map(|g| portal.group(g))
            .any(|g| recipients.iter().any(|r| g.decides_for(r)))
    }
}

/// What a sign-in came to.
pub enum SignIn {
    /// Signed in: the session's person, source and grants.
    Granted {
        name: String,
        source: String,
        grants: Vec<String>,
    },
    Refused,
    /// Too many wrong passwords: seconds until the account may try again.
    Locked(u64),
    /// The directory could not be asked (down, TLS refused): not the person's fault.
    Unavailable,
}

/// Why a sign-in form did not sign its person in.
enum Refusal {
    /// Wrong name or password, or no right to this door.
    Wrong,
    /// Too many wrong passwords: seconds until the next try.
    Locked(u64),
    /// The directory could not be asked.
    Unavailable,
    /// The session could not be kept.
    Failed(ApiError),
}

impl Refusal {
    /// What the sign-in page says, at `door`, with accounts (`people`) or keys.
    fn text(&self, lang: Lang, people: bool, door: Door) -> String {
        match self {
            Refusal::Wrong => match (door, people) {
                (Door::CarryIn, _) => lang.t(
                    "利用者名かパスワードが正しくないか、ファイル持ち込みの権限がありません。",
                    "The user name or password is wrong, or the account may not carry files in.",
                ),
                (Door::Approvals, true) => lang.t(
                    "利用者名かパスワードが正しくないか、承認の権限がありません。",
                    "The user name or password is wrong, or the account cannot approve.",
                ),
                (Door::Approvals, false) => lang.t(
                    "キーが正しくないか、承認の権限がありません。",
                    "The key is not valid or cannot approve.",
                ),
            }
            .to_string(),
            Refusal::Locked(seconds) => {
                let minutes = seconds.div_ceil(60);
                match lang {
                    Lang::Ja => {
                        format!("パスワードの誤りが続いたため、このアカウントは {minutes} 分間サインインできません。")
                    }
                    Lang::En => format!("Too many wrong passwords: this account cannot sign in for {minutes} minutes."),
                }
            }
            Refusal::Unavailable | Refusal::Failed(_) => lang
                .t(
                    "認証サーバーに接続できません。しばらくしてからもう一度お試しください。",
                    "The sign-in directory cannot be reached. Please try again later.",
                )
                .to_string(),
        }
    }

    /// The sign-in page `response` with this refusal's status (and `Retry-After`).
    fn apply(&self, mut response: Response) -> Response {
        *response.status_mut() = match self {
            Refusal::Wrong => StatusCode::UNAUTHORIZED,
            Refusal::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Failed(e) => e.status,
        };
        if let Refusal::Locked(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }
}

/// The audit trail's actor of a door, and the page it sends people back to.
fn door_actor(door: Door) -> &'static str {
    match door {
        Door::Approvals => "approver",
        Door::CarryIn => "carry_in",
    }
}

fn door_page(door: Door) -> &'static str {
    match door {
        Door::Approvals => "/approvals",
        Door::CarryIn => "/carry-in",
    }
}

fn door_cookie(door: Door, config: &crate::config::Config) -> SessionCookie {
    match door {
        Door::Approvals => SessionCookie::of(config),
        Door::CarryIn => SessionCookie::carry_in(config),
    }
}

/// A door's sign-in form posted (`POST /approvals/login`, `/carry-in/login`): the session
/// and back to the door's page, or the sign-in page `again(lang, csrf, problem)` with the
/// refusal's status.
pub async fn sign_in_form(
    state: &Arc<AppState>,
    client: &Client,
    headers: &HeaderMap,
    form: &[u8],
    door: Door,
    again: impl FnOnce(Lang, &str, &str) -> Response,
) -> Response {
    let lang = Lang::from_headers(headers);
    if let Err(e) = super::check_csrf(headers, form) {
        return super::error_page(lang, &e);
    }
    let people = state.pipeline.current().config.portal.has_people();
    match enter(state, client, form, door).await {
        Ok((_, set_cookie)) => {
            let mut response = super::see_other(door_page(door));
            response.headers_mut().insert(header::SET_COOKIE, set_cookie);
            response
        }
        Err(Refusal::Failed(e)) => super::error_page(lang, &e),
        Err(refusal) => {
            let (csrf, _) = super::csrf_token(headers);
            refusal.apply(again(lang, &csrf, &refusal.text(lang, people, door)))
        }
    }
}

/// Sign `who` out at `door`: the session ends in the ledger (its cookie is worthless from
/// now on, on every instance), the audit says so, the cookie is cleared, back to the page.
pub async fn sign_out(
    state: &Arc<AppState>,
    client: &Client,
    headers: &HeaderMap,
    door: Door,
    who: Option<String>,
) -> Response {
    let session = door_cookie(door, &state.pipeline.current().config);
    if let Some(token) = cookie(headers, &session.name) {
        let store = state.pipeline.store().clone();
        if let Ok(Err(e)) = blocking(move || store.end_session(&token)).await {
            tracing::error!(error = %e, "could not end a session");
        }
    }
    let actor = door_actor(door);
    let actor = who
        .as_ref()
        .map_or_else(|| actor.to_string(), |n| format!("{actor}:{n}"));
    state.pipeline.signed_out(&client.origin(actor), door, who.as_deref());
    let mut response = super::see_other(door_page(door));
    if let Ok(v) = HeaderValue::from_str(&session.set("", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Check a sign-in form at `door` and open the session: the person and the `Set-Cookie` of
/// the session, or why not. Every outcome is in the audit trail, under the door's actor.
async fn enter(
    state: &Arc<AppState>,
    client: &Client,
    form: &[u8],
    door: Door,
) -> Result<(String, HeaderValue), Refusal> {
    let actor = door_actor(door);
    let (name, source, grants) = match sign_in(state, form, door).await {
        SignIn::Granted { name, source, grants } => (name, source, grants),
        refused => {
            tracing::warn!(door = actor, "sign-in refused");
            state.pipeline.signed_in(&client.origin(actor), door, None);
            return Err(match refused {
                SignIn::Locked(seconds) => Refusal::Locked(seconds),
                SignIn::Unavailable => Refusal::Unavailable,
                _ => Refusal::Wrong,
            });
        }
    };
    let (store, person) = (state.pipeline.store().clone(), name.clone());
    let token = match blocking(move || store.open_session(&person, &source, &grants, now() + SESSION_SECS)).await {
        Ok(Ok(token)) => token,
        Ok(Err(e)) => return Err(Refusal::Failed(ApiError::internal(e))),
        Err(e) => return Err(Refusal::Failed(e)),
    };
    tracing::info!(person = %name, door = actor, "signed in");
    state
        .pipeline
        .signed_in(&client.origin(format!("{actor}:{name}")), door, Some(&name));
    let config = &state.pipeline.current().config;
    let cookie = match door {
        Door::Approvals => SessionCookie::of(config),
        Door::CarryIn => SessionCookie::carry_in(config),
    };
    let set =
        HeaderValue::from_str(&cookie.set(&token, SESSION_SECS)).map_err(|e| Refusal::Failed(ApiError::internal(e)))?;
    Ok((name, set))
}

/// The signed-in approver, if the session cookie is genuine, its session live in the ledger,
/// and its account, key or directory grants still let it approve.
pub async fn signed_in(state: &Arc<AppState>, headers: &HeaderMap) -> Option<Approver> {
    let session = session_at(state, headers, Door::Approvals).await?;
    approver_of(&state.pipeline.current().config, &session)
}

/// The live session behind `door`'s cookie, if the cookie is genuine and the ledger has it.
async fn session_at(state: &Arc<AppState>, headers: &HeaderMap, door: Door) -> Option<SessionRow> {
    let token = cookie(headers, &door_cookie(door, &state.pipeline.current().config).name)?;
    let store = state.pipeline.store().clone();
    match blocking(move || store.session(&token)).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            tracing::error!(error = %e, door = door_actor(door), "could not read a session");
            None
        }
        Err(_) => None,
    }
}

fn approver_of(config: &crate::config::Config, session: &SessionRow) -> Option<Approver> {
    let portal = &config.portal;
    let may_approve = |roles: &[Role]| roles.contains(&Role::Approve) || roles.contains(&Role::Admin);
    let approver = match session.source.as_str() {
        LOCAL_SOURCE => {
            let user = portal.user(&session.person).filter(|u| may_approve(&u.roles))?;
            Approver {
                name: user.name.clone(),
                admin: user.roles.contains(&Role::Admin),
                groups: portal.groups_of(&user.name),
            }
        }
        LDAP_SOURCE => {
            // A directory was configured when the session began; without one now, it ends.
            portal.ldap.as_ref()?;
            Approver {
                name: session.person.clone(),
                admin: session.grants.iter().any(|g| g == ADMIN_GRANT),
                groups: session
                    .grants
                    .iter()
                    .filter_map(|g| g.strip_prefix(GROUP_GRANT))
                    .filter(|g| portal.group(g).is_some())
                    .map(str::to_string)
                    .collect(),
            }
        }
        source => {
            let hash = source.strip_prefix(KEY_SOURCE)?;
            let key = config
                .http
                .api_keys
                .iter()
                .find(|k| crate::ids::hex(&k.sha256[..ObjectId::LEN]) == hash)
                .filter(|k| may_approve(&k.roles))?;
            Approver {
                name: key.name.clone(),
                admin: key.roles.contains(&Role::Admin),
                groups: Vec::new(),
            }
        }
    };
    (approver.admin || !approver.groups.is_empty() || portal.approver_groups.is_empty()).then_some(approver)
}

/// Check the sign-in form: a person's name and password where people are configured
/// (a local account by that name, else the directory), otherwise an approver's key.
pub async fn sign_in(state: &Arc<AppState>, form: &[u8], door: Door) -> SignIn {
    let current = state.pipeline.current();
    let config = &current.config;
    if !config.portal.has_people() {
        return match door {
            Door::Approvals => key_sign_in(config, form),
            Door::CarryIn => SignIn::Refused,
        };
    }
    let name = form_field(form, "user").unwrap_or_default().trim().to_string();
    let password = form_field(form, "password").unwrap_or_default();
    // Every attempt is counted for the name first, whatever it is checked against — at each
    // door apart: wrong passwords tried at the internet-side box lock the box, never the
    // person's approvals on the LGWAN side.
    let counted = match door {
        Door::Approvals => name.clone(),
        Door::CarryIn => format!("carry_in:{name}"),
    };
    let (store, who) = (state.pipeline.store().clone(), counted.clone());
    match blocking(move || store.take_signin_try(&who, MAX_SIGN_IN_FAILURES, SIGN_IN_WINDOW_SECS)).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(seconds))) => return SignIn::Locked(seconds),
        Ok(Err(e)) => {
            // Attempts that cannot be counted are not made.
            tracing::error!(error = %e, "could not count a sign-in attempt");
            return SignIn::Unavailable;
        }
        Err(_) => return SignIn::Unavailable,
    }
    let signed = match (config.portal.user(&name), &config.portal.ldap) {
        (Some(_), _) | (None, None) => local_sign_in(&config.portal, &name, password, door).await,
        (None, Some(ldap)) => match crate::directory::sign_in(ldap, &name, &password).await {
            Ok(Some(person)) if door == Door::CarryIn => carry_in_grants(config, &name, &person),
            Ok(Some(person)) => directory_grants(&config.portal, &name, &person),
            Ok(None) => SignIn::Refused,
            Err(e) => {
                tracing::error!(error = %e, "portal sign-in: the directory did not answer");
                SignIn::Unavailable
            }
        },
    };
    if let SignIn::Granted { .. } = signed {
        let store = state.pipeline.store().clone();
        if let Ok(Err(e)) = blocking(move || store.clear_signin_tries(&counted)).await {
            tracing::error!(error = %e, "could not clear sign-in attempts");
        }
    }
    signed
}

/// A local account's password, verified off the async threads (argon2id takes tens of
/// milliseconds on purpose); an unknown name costs the same as a known one.
async fn local_sign_in(portal: &PortalConfig, name: &str, password: String, door: Door) -> SignIn {
    let user = portal.user(name).cloned();
    let verified = blocking(move || match &user {
        Some(user) => crate::passwords::verify(&password, user.argon2.expose()) && may_enter(&user.roles, door),
        None => {
            crate::passwords::verify_nobody(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    if verified {
        SignIn::Granted {
            name: name.to_string(),
            source: match door {
                Door::Approvals => LOCAL_SOURCE,
                Door::CarryIn => CARRY_LOCAL_SOURCE,
            }
            .to_string(),
            grants: Vec::new(),
        }
    } else {
        SignIn::Refused
    }
}

/// Whether a local account's roles open `door`: approving needs `approve` or `admin`, the
/// carry-in box `carry_in` (an administrator of the LGWAN side is not thereby a user of the
/// internet side).
fn may_enter(roles: &[Role], door: Door) -> bool {
    match door {
        Door::Approvals => roles.contains(&Role::Approve) || roles.contains(&Role::Admin),
        Door::CarryIn => roles.contains(&Role::CarryIn),
    }
}

/// Whether a directory person may use the carry-in box: a member of `carry_in.ldap_group`
/// where one is set, anyone the directory signs in otherwise.
fn carry_in_grants(config: &crate::config::Config, name: &str, person: &crate::directory::Person) -> SignIn {
    let member = |group: &str| person.groups.iter().any(|g| g.eq_ignore_ascii_case(group));
    if config.carry_in.ldap_group.as_deref().is_some_and(|g| !member(g)) {
        tracing::warn!(person = %person.dn, "carry-in sign-in: not a member of carry_in.ldap_group");
        return SignIn::Refused;
    }
    SignIn::Granted {
        name: name.to_string(),
        source: CARRY_LDAP_SOURCE.to_string(),
        grants: Vec::new(),
    }
}

/// The person signed in to the carry-in box, if the cookie is genuine, its session live, and
/// they may still use the box (a local account keeps the `carry_in` role; a directory is
/// still configured).
pub async fn carrier(state: &Arc<AppState>, headers: &HeaderMap) -> Option<String> {
    let session = session_at(state, headers, Door::CarryIn).await?;
    let config = &state.pipeline.current().config;
    let still = match session.source.as_str() {
        CARRY_LOCAL_SOURCE => config
            .portal
            .user(&session.person)
            .is_some_and(|u| may_enter(&u.roles, Door::CarryIn)),
        CARRY_LDAP_SOURCE => config.portal.ldap.is_some(),
        _ => false,
    };
    still.then_some(session.person)
}

/// What a directory person may do: administrator as a member of `admin_group`, approver in
/// each approver group whose `ldap_group` they are a member of; nothing else signs them in.
fn directory_grants(portal: &PortalConfig, name: &str, person: &crate::directory::Person) -> SignIn {
    let member = |group: &str| person.groups.iter().any(|g| g.eq_ignore_ascii_case(group));
    let mut grants = Vec::new();
    let ldap = portal.ldap.as_ref();
    if ldap.and_then(|l| l.admin_group.as_deref()).is_some_and(member) {
        grants.push(ADMIN_GRANT.to_string());
    }
    for group in &portal.approver_groups {
        if group.ldap_group.as_deref().is_some_and(member) {
            grants.push(format!("{GROUP_GRANT}{}", group.name));
        }
    }
    if grants.is_empty() {
        tracing::warn!(person = %person.dn, "portal sign-in: a member of no approver or admin group");
        return SignIn::Refused;
    }
    SignIn::Granted {
        name: name.to_string(),
        source: LDAP_SOURCE.to_string(),
        grants,
    }
}

/// An approver's key from the sign-in form (checked by hash, constant time).
fn key_sign_in(config: &crate::config::Config, form: &[u8]) -> SignIn {
    let presented = form_field(form, "key").unwrap_or_default();
    let mut bearer = HeaderMap::new();
    let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", presented.trim())) else {
        return SignIn::Refused;
    };
    bearer.insert(header::AUTHORIZATION, value);
    let Ok(key): Result<ApiKey, _> = crate::ingress::http::auth::require(config, &bearer, Role::Approve) else {
        return SignIn::Refused;
    };
    let hash: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    SignIn::Granted {
        name: key.name,
        source: format!("{KEY_SOURCE}{}", crate::ids::hex(&hash[..ObjectId::LEN])),
        grants: Vec::new(),
    }
}
