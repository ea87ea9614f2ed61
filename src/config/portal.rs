//! `[portal]`: the people who sign in to the LGWAN-side pages — local accounts for sites
//! without a directory (argon2id hashes made by `mugai user add`; `passwords` checks them),
//! an LDAP / Active Directory (`[portal.ldap]`: simple bind over TLS or StartTLS, group
//! membership deciding the role), and the approver groups (`[[portal.approver_groups]]`:
//! which recipients' requests each group decides — 部署ごとの承認者).

use serde::Deserialize;

use super::{ConfigProblem, Role};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPortal {
    users: Vec<RawUser>,
    ldap: RawLdap,
    approver_groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLdap {
    url: String,
    starttls: bool,
    ca_file: std::path::PathBuf,
    user_dn: String,
    user_base: String,
    group_base: String,
    admin_group: String,
    timeout_secs: u64,
}

impl Default for RawLdap {
    fn default() -> Self {
        Self {
            url: String::new(),
            starttls: false,
            ca_file: std::path::PathBuf::new(),
            user_dn: String::new(),
            user_base: String::new(),
            group_base: String::new(),
            admin_group: String::new(),
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    recipients: Vec<String>,
    #[serde(default)]
    ldap_group: String,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    notify: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    /// The password's argon2id hash (a PHC string), never the password.
    argon2: Secret<String>,
    /// `approve`, `admin`, `carry_in` (may use the carry-in box).
    roles: Vec<String>,
}

/// A local account: who, the hash of the password, what the person may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub name: String,
    /// Not secret in the strict sense, but never printed either (`Secret`).
    pub argon2: Secret<String>,
    pub roles: Vec<Role>,
}

/// The directory people sign in with (`[portal.ldap]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldaps://host[:port]` (TLS from the start) or `ldap://host[:port]` with `starttls`.
    pub url: String,
    pub starttls: bool,
    /// PEM authorities for the directory's certificate; `None`: the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// The DN (or, for Active Directory, the UPN `{user}@city.example.lg.jp`) a person binds
    /// as: `{user}` is the sign-in name, escaped for a DN.
    pub user_dn: String,
    /// Where the person's own entry is looked up after the bind (`uid`, `sAMAccountName` or
    /// `userPrincipalName`): its DN is then the one groups name, and its `memberOf` counts
    /// too — what Active Directory needs, where the bind name is not the DN.
    pub user_base: Option<String>,
    /// Where groups are looked for: entries with `member` or `uniqueMember` = the user's DN.
    pub group_base: String,
    /// Members of this group (a DN) are administrators.
    pub admin_group: Option<String>,
    pub timeout: std::time::Duration,
}

/// An approver group (部署): the recipients whose requests it decides, and who is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverGroup {
    /// Shown on the pages and in the audit.
    pub name: String,
    /// Address patterns: `*@soumu.city.example.lg.jp`, `kikaku@city.example.lg.jp`, `*`.
    pub recipients: Vec<String>,
    /// Members of this directory group (a DN) are in it.
    pub ldap_group: Option<String>,
    /// Local accounts in it.
    pub members: Vec<String>,
    /// Addresses told of each request the group decides (`[notify]`).
    pub notify: Vec<String>,
}

impl ApproverGroup {
    /// Whether this group decides requests for mail to `address` (case-insensitive; `*`
    /// matches any run of characters).
    pub fn decides_for(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        self.recipients
            .iter()
            .any(|p| wildcard(&p.to_ascii_lowercase(), &address))
    }
}

/// `*` matches any run of characters; everything else itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The portal's people (`ingress/http/pages`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalConfig {
    pub users: Vec<LocalUser>,
    pub ldap: Option<LdapConfig>,
    /// Empty: every approver decides every request (one section).
    pub approver_groups: Vec<ApproverGroup>,
}

impl PortalConfig {
    /// The local account `name`, if there is one.
    pub fn user(&self, name: &str) -> Option<&LocalUser> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Whether people sign in (accounts or a directory) rather than with API keys.
    pub fn has_people(&self) -> bool {
        !self.users.is_empty() || self.ldap.is_some()
    }

    /// The approver groups a local account is a member of.
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        self.approver_groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.name.clone())
            .collect()
    }

    /// The approver group named `name`.
    pub fn group(&self, name: &str) -> Option<&ApproverGroup> {
        self.approver_groups.iter().find(|g| g.name == name)
    }
}

impl RawPortal {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> PortalConfig {
        let mut users: Vec<LocalUser> = Vec::new();
        for (i, u) in self.users.into_iter().enumerate() {
            let key = format!("portal.users[{i}]");
            let name = u.name.trim().to_string();
            if name.is_empty() || name.chars().any(char::is_control) || name.len() > 256 {
                problems.push(ConfigProblem {
                    key: format!("{key}.name"),
                    message: "must be a name of 1 to 256 bytes without control characters".into(),
                });
            }
            if users.iter().any(|other| other.name == name) {
                problems.push(ConfigProblem {
                    key: format!("{key}.name"),
                    message: format!("{name:?} is named twice"),
                });
            }
            if let Err(e) = crate::passwords::check(u.argon2.expose()) {
                problems.push(ConfigProblem {
                    key: format!("{key}.argon2"),
                    message: e,
                });
            }
            let roles = super::http::roles(
                problems,
                &format!("{key}.roles"),
                &u.roles,
                &[
                    ("approve", Role::Approve),
                    ("admin", Role::Admin),
                    ("carry_in", Role::CarryIn),
                ],
            );
            if roles.is_empty() {
                problems.push(ConfigProblem {
                    key: format!("{key}.roles"),
                    message: "needs \"approve\", \"admin\" or \"carry_in\"".into(),
                });
            }
            users.push(LocalUser {
                name,
                argon2: u.argon2,
                roles,
            });
        }
        let ldap = self.ldap.validate(problems);
        let mut approver_groups: Vec<ApproverGroup> = Vec::new();
        for (i, g) in self.approver_groups.into_iter().enumerate() {
            let key = format!("portal.approver_groups[{i}]");
            let name = g.name.trim().to_string();
            if name.is_empty() || name.contains(',') || approver_groups.iter().any(|o| o.name == name) {
                problems.push(ConfigProblem {
                    key: format!("{key}.name"),
                    message: "needs a name of its own, without commas".into(),
                });
            }
            if g.recipients.is_empty() || g.recipients.iter().any(|r| r.trim().is_empty()) {
                problems.push(ConfigProblem {
                    key: format!("{key}.recipients"),
                    message: "needs at least one address pattern (\"*@section.example.lg.jp\", \"*\")".into(),
                });
            }
            for m in &g.members {
                if !users.iter().any(|u| &u.name == m) {
                    problems.push(ConfigProblem {
                        key: format!("{key}.members"),
                        message: format!("{m:?} is not an account of portal.users"),
                    });
                }
            }
            let ldap_group = Some(g.ldap_group.trim().to_string()).filter(|s| !s.is_empty());
            if ldap_group.is_some() && ldap.is_none() {
                problems.push(ConfigProblem {
                    key: format!("{key}.ldap_group"),
                    message: "needs [portal.ldap]".into(),
                });
            }
            for a in &g.notify {
                if !super::plausible_address(a) {
                    problems.push(ConfigProblem {
                        key: format!("{key}.notify"),
                        message: format!("{a:?} is not an address"),
                    });
                }
            }
            approver_groups.push(ApproverGroup {
                name,
                recipients: g.recipients.iter().map(|r| r.trim().to_string()).collect(),
                ldap_group,
                members: g.members,
                notify: g.notify,
            });
        }
        if !approver_groups.is_empty() && users.is_empty() && ldap.is_none() {
            problems.push(ConfigProblem {
                key: "portal.approver_groups".into(),
                message: "needs people to be in them: portal.users or [portal.ldap]".into(),
            });
        }
        PortalConfig {
            users,
            ldap,
            approver_groups,
        }
    }
}

impl RawLdap {
    fn validate(self, problems: &mut Vec<ConfigProblem>) -> Option<LdapConfig> {
        let url = self.url.trim().to_string();
        if url.is_empty() {
            return None;
        }
        let plain = url.starts_with("ldap://");
        if !plain && !url.starts_with("ldaps://") {
            problems.push(ConfigProblem {
                key: "portal.ldap.url".into(),
                message: "must start with ldaps:// (TLS) or ldap:// (with starttls = true)".into(),
            });
        }
        if plain && !self.starttls {
            // Passwords cross to the directory: never in clear.
            problems.push(ConfigProblem {
                key: "portal.ldap.starttls".into(),
                message: "an ldap:// directory needs starttls = true (passwords never cross in clear)".into(),
            });
        }
        if !self.user_dn.contains("{user}") {
            problems.push(ConfigProblem {
                key: "portal.ldap.user_dn".into(),
                message:
                    "must contain {user} (\"uid={user},ou=people,dc=city,dc=example\" or \"{user}@city.example.lg.jp\")"
                        .into(),
            });
        }
        if self.group_base.trim().is_empty() {
            problems.push(ConfigProblem {
                key: "portal.ldap.group_base".into(),
                message: "must name where the groups are (\"ou=groups,dc=city,dc=example\")".into(),
            });
        }
        super::range(problems, "portal.ldap.timeout_secs", self.timeout_secs, 1, 120);
        Some(LdapConfig {
            url,
            starttls: self.starttls,
            ca_file: Some(self.ca_file).filter(|p| !p.as_os_str().is_empty()),
            user_dn: self.user_dn,
            user_base: Some(self.user_base.trim().to_string()).filter(|s| !s.is_empty()),
            group_base: self.group_base.trim().to_string(),
            admin_group: Some(self.admin_group.trim().to_string()).filter(|s| !s.is_empty()),
            timeout: std::time::Duration::from_secs(self.timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;
    use crate::config::Config;

    #[test]
    fn recipient_patterns() {
        assert!(wildcard("*@soumu.city.example.lg.jp", "a.b@soumu.city.example.lg.jp"));
        assert!(!wildcard("*@soumu.city.example.lg.jp", "a@kikaku.city.example.lg.jp"));
        assert!(!wildcard(
            "*@soumu.city.example.lg.jp",
            "a@soumu.city.example.lg.jp.evil"
        ));
        assert!(wildcard("kikaku@city.example.lg.jp", "kikaku@city.example.lg.jp"));
        assert!(!wildcard("kikaku@city.example.lg.jp", "xkikaku@city.example.lg.jp"));
        assert!(wildcard("*", "anyone@anywhere"));
        assert!(wildcard("a*b*c", "aXbYc") && !wildcard("a*b*c", "aXcYb"));
        assert!(!wildcard("ab*ba", "aba"), "the two ends may not overlap");
    }

    #[test]
    fn a_directory_needs_tls_a_user_template_and_a_group_base() {
        assert_eq!(
            problems("[portal.ldap]\nurl = \"ldap://dir.example\"\nuser_dn = \"uid=x\"\n"),
            ["portal.ldap.starttls", "portal.ldap.user_dn", "portal.ldap.group_base"]
        );
        assert!(problems(
            "[portal.ldap]\nurl = \"ldaps://dir.example\"\nuser_dn = \"uid={user},ou=people,dc=x\"\n\
             group_base = \"ou=groups,dc=x\"\n[[portal.approver_groups]]\nname = \"総務課\"\n\
             recipients = [\"*@soumu.example.lg.jp\"]\nldap_group = \"cn=soumu,ou=groups,dc=x\"\n"
        )
        .is_empty());
        assert_eq!(
            problems("[[portal.approver_groups]]\nname = \"a\"\nrecipients = []\nmembers = [\"ghost\"]\nldap_group = \"cn=x\"\n"),
            [
                "portal.approver_groups[0].recipients",
                "portal.approver_groups[0].members",
                "portal.approver_groups[0].ldap_group",
                "portal.approver_groups"
            ]
        );
    }

    fn problems(toml: &str) -> Vec<String> {
        match Config::from_toml(toml) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|p| p.key.clone()).collect(),
        }
    }

    #[test]
    fn accounts_need_a_name_a_bounded_argon2id_hash_and_a_role() {
        let phc = crate::passwords::hash("pw").unwrap();
        let good = format!("[portal]\nusers = [{{ name = \"yamada\", argon2 = \"{phc}\", roles = [\"approve\"] }}]\n");
        let config = Config::from_toml(&good).unwrap();
        assert!(config.portal.user("yamada").is_some());
        assert!(!format!("{config:?}").contains(&phc), "the hash is never printed");
        assert_eq!(
            problems(&format!(
                "[portal]\nusers = [{{ name = \"\", argon2 = \"x\", roles = [] }}, \
                 {{ name = \"a\", argon2 = \"{phc}\", roles = [\"submit\"] }}]\n"
            )),
            [
                "portal.users[0].name",
                "portal.users[0].argon2",
                "portal.users[0].roles",
                "portal.users[1].roles"
            ]
        );
    }
}
