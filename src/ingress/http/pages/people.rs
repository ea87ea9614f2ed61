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

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use super::cookie;
use crate::config::{ApiKey, PortalConfig, Role};
use crate::ingress::http::held::form_field;
use crate::ingress::http::originals::blocking;
use crate::ingress::http::AppState;
use crate::store::{ObjectId, SessionRow};

const SESSION_COOKIE: &str = "mugai_approver";
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
        let secure = base.starts_with("https://");
        SessionCookie {
            name: format!("{}{SESSION_COOKIE}", if secure { "__Host-" } else { "" }),
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

/// Session sources.
const LOCAL_SOURCE: &str = "local";
const LDAP_SOURCE: &str = "ldap";
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

/// The signed-in approver, if the session cookie is genuine, its session live in the ledger,
/// and its account, key or directory grants still let it approve.
pub async fn signed_in(state: &Arc<AppState>, headers: &HeaderMap) -> Option<Approver> {
    let token = cookie(headers, &SessionCookie::of(&state.pipeline.current().config).name)?;
    let store = state.pipeline.store().clone();
    let session = match blocking(move || store.session(&token)).await {
        Ok(Ok(session)) => session?,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not read a portal session");
            return None;
        }
        Err(_) => return None,
    };
    approver_of(&state.pipeline.current().config, &session)
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
pub async fn sign_in(state: &Arc<AppState>, form: &[u8]) -> SignIn {
    let current = state.pipeline.current();
    let config = &current.config;
    if !config.portal.has_people() {
        return key_sign_in(config, form);
    }
    let name = form_field(form, "user").unwrap_or_default().trim().to_string();
    let password = form_field(form, "password").unwrap_or_default();
    // Every attempt is counted for the name first, whatever it is checked against.
    let (store, who) = (state.pipeline.store().clone(), name.clone());
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
        (Some(_), _) | (None, None) => local_sign_in(&config.portal, &name, password).await,
        (None, Some(ldap)) => match crate::directory::sign_in(ldap, &name, &password).await {
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
        if let Ok(Err(e)) = blocking(move || store.clear_signin_tries(&name)).await {
            tracing::error!(error = %e, "could not clear sign-in attempts");
        }
    }
    signed
}

/// A local account's password, verified off the async threads (argon2id takes tens of
/// milliseconds on purpose); an unknown name costs the same as a known one.
async fn local_sign_in(portal: &PortalConfig, name: &str, password: String) -> SignIn {
    let user = portal.user(name).cloned();
    let verified = blocking(move || match &user {
        Some(user) => {
            crate::passwords::verify(&password, user.argon2.expose())
                && (user.roles.contains(&Role::Approve) || user.roles.contains(&Role::Admin))
        }
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
            source: LOCAL_SOURCE.to_string(),
            grants: Vec::new(),
        }
    } else {
        SignIn::Refused
    }
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
