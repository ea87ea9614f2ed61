//! `[portal]`: the people who sign in to the LGWAN-side pages — local accounts for sites
//! without a directory (argon2id hashes made by `mugai user add`; `passwords` checks them).

use serde::Deserialize;

use super::{choice, ConfigProblem, Role};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPortal {
    users: Vec<RawUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    /// The password's argon2id hash (a PHC string), never the password.
    argon2: Secret<String>,
    /// `approve` and/or `admin`.
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

/// The portal's people (`ingress/http/pages`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalConfig {
    pub users: Vec<LocalUser>,
}

impl PortalConfig {
    /// The local account `name`, if there is one.
    pub fn user(&self, name: &str) -> Option<&LocalUser> {
        self.users.iter().find(|u| u.name == name)
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
            let roles: Vec<Role> = u
                .roles
                .iter()
                .map(|r| {
                    choice(
                        problems,
                        &format!("{key}.roles"),
                        r,
                        &[("approve", Role::Approve), ("admin", Role::Admin)],
                    )
                })
                .collect();
            if roles.is_empty() {
                problems.push(ConfigProblem {
                    key: format!("{key}.roles"),
                    message: "needs \"approve\", \"admin\" or both".into(),
                });
            }
            users.push(LocalUser {
                name,
                argon2: u.argon2,
                roles,
            });
        }
        PortalConfig { users }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

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
