//! A value that must never be printed: keys and passwords from the configuration. `Debug`
//! shows `Secret(..)` and `Display` `(secret)`, so a `{:?}` of the whole configuration (a log
//! line, a panic message) or a `{}` of the value cannot leak it; the value is read only
//! through [`Secret::expose`]. Uses nothing else.

use serde::Deserialize;

/// A secret value (see the module documentation).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself, for the one place that uses it (signing, comparing).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl<T> std::fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(secret)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("0123456789abcdef".to_string());
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(..))");
        assert_eq!(format!("{s}"), "(secret)");
        assert_eq!(s.expose(), "0123456789abcdef");
    }
}
