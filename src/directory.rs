//! The portal's directory: a person signs in against LDAP or Active Directory with a simple
//! bind over TLS (`ldaps://`) or StartTLS — never in clear, the certificate always verified
//! (`tls_client`) — and the groups the person is a member of decide what they may do.
//!
//! Uses: `config` (`LdapConfig`), `tls_client`; ldap3 is known only here.
//!
//! Bounded: one connection per sign-in, `timeout` on every operation, the group search capped
//! at [`MAX_GROUPS`] entries. Names are checked before they reach a DN or a filter, and an
//! empty password is refused here: an LDAP bind with a name and no password is an
//! "unauthenticated bind" that many servers answer with success.

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};

use crate::config::LdapConfig;

/// Most groups one person's search returns (more: the rest are not looked at).
pub const MAX_GROUPS: i32 = 1000;

/// `invalidCredentials` (RFC 4511): wrong password or unknown name.
const INVALID_CREDENTIALS: u32 = 49;

/// A person the directory accepted: their DN and the DNs of their groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub dn: String,
    pub groups: Vec<String>,
}

/// The directory could not answer (down, refused TLS, timed out): sign-in fails closed.
#[derive(Debug, thiserror::Error)]
#[error("the directory did not answer: {0}")]
pub struct DirectoryError(String);

/// Whether `name` may stand in a DN or a filter as it is: 1 to 128 characters, none of a DN's
/// or a filter's special characters, no control characters.
pub fn plausible_name(name: &str) -> bool {
    let specials = [',', '+', '"', '\\', '<', '>', ';', '=', '*', '(', ')', '#', '/'];
    (1..=128).contains(&name.chars().count())
        && name.trim() == name
        && !name.chars().any(|c| c.is_control() || specials.contains(&c))
}

/// Sign `user` in with `password`: `Ok(Some(person))` when the directory accepts the bind,
/// `Ok(None)` when it refuses the credentials (or the name or password cannot be right),
/// `Err` when it cannot be asked.
pub async fn sign_in(config: &LdapConfig, user: &str, password: &str) -> Result<Option<Person>, DirectoryError> {
    if password.is_empty() || !plausible_name(user) {
        return Ok(None);
    }
    let err = |e: &dyn std::fmt::Display| DirectoryError(e.to_string());
    let tls = crate::tls_client::verifying(config.ca_file.as_deref(), "portal.ldap.ca_file").map_err(|e| err(&e))?;
    let settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_config(tls)
        .set_starttls(config.starttls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| err(&e))?;
    ldap3::drive!(conn);
    let dn = config.user_dn.replace("{user}", &ldap3::dn_escape(user));
    let bound = ldap
        .with_timeout(config.timeout)
        .simple_bind(&dn, password)
        .await
        .map_err(|e| err(&e))?;
    if bound.rc == INVALID_CREDENTIALS {
        let _ = ldap.unbind().await;
        return Ok(None);
    }
    bound.success().map_err(|e| err(&e))?;
    // Where the bind name is not the DN (Active Directory's UPN), the person's own entry
    // says who they are and which groups they are in (`memberOf`).
    let (dn, mut groups) = match &config.user_base {
        None => (dn, Vec::new()),
        Some(base) => {
            let filter = format!(
                "(|(uid={u})(sAMAccountName={u})(userPrincipalName={b}))",
                u = ldap3::ldap_escape(user),
                b = ldap3::ldap_escape(dn.as_str())
            );
            let mut entries = search(&mut ldap, config, base, &filter, "memberOf", 2)
                .await?
                .into_iter();
            let (Some(entry), None) = (entries.next(), entries.next()) else {
                // None, or two people answering to one name: not a sign-in.
                let _ = ldap.unbind().await;
                return Ok(None);
            };
            let member_of = entry.attrs.get("memberOf").cloned().unwrap_or_default();
            (entry.dn, member_of)
        }
    };
    let filter = format!(
        "(|(member={dn})(uniqueMember={dn}))",
        dn = ldap3::ldap_escape(dn.as_str())
    );
    let entries = search(&mut ldap, config, &config.group_base, &filter, "1.1", MAX_GROUPS).await?;
    let _ = ldap.unbind().await;
    groups.extend(entries.into_iter().map(|e| e.dn));
    groups.truncate(MAX_GROUPS as usize);
    Ok(Some(Person { dn, groups }))
}

/// The entries under `base` matching `filter`, with the one attribute asked for, at most
/// `limit`, within the configured timeout.
async fn search(
    ldap: &mut ldap3::Ldap,
    config: &LdapConfig,
    base: &str,
    filter: &str,
    attribute: &str,
    limit: i32,
) -> Result<Vec<SearchEntry>, DirectoryError> {
    let err = |e: &dyn std::fmt::Display| DirectoryError(e.to_string());
    let (entries, _) = ldap
        .with_timeout(config.timeout)
        .with_search_options(SearchOptions::new().sizelimit(limit))
        .search(base, Scope::Subtree, filter, vec![attribute])
        .await
        .map_err(|e| err(&e))?
        .success()
        .map_err(|e| err(&e))?;
    Ok(entries.into_iter().map(SearchEntry::construct).collect())
}

#[cfg(test)]
mod tests {
    use super::plausible_name;

    #[test]
    fn names_that_would_change_a_dn_or_a_filter_are_refused() {
        assert!(plausible_name("yamada") && plausible_name("t.sato-2") && plausible_name("山田"));
        for bad in [
            "",
            " yamada",
            "a,ou=admins",
            "a)(uid=*",
            "*",
            "a\\2c",
            "a\u{0}",
            "#x",
            "a=b",
        ] {
            assert!(!plausible_name(bad), "{bad:?}");
        }
    }
}
