//! Tenant ids.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{excerpt, ModelError};

/// A tenant id, valid by Loki's rules (`dskit/tenant`): 1 to 150 bytes of `[A-Za-z0-9]` and
/// `! - _ . * ' ( )`, and neither `.` nor `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// The longest id Loki accepts, in bytes.
    pub const MAX_LEN: usize = 150;

    /// Validates `id`.
    pub fn parse(id: &str) -> Result<Self, ModelError> {
        let err = |reason| ModelError::InvalidTenant {
            id: excerpt(id.as_bytes()),
            reason,
        };
        if id.is_empty() {
            return Err(err("empty"));
        }
        if id.len() > Self::MAX_LEN {
            return Err(err("longer than 150 bytes"));
        }
        if id == "." || id == ".." {
            return Err(err("'.' and '..' are not allowed"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b);
        if !id.bytes().all(allowed) {
            return Err(err("only [A-Za-z0-9] and ! - _ . * ' ( ) are allowed"));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for ok in ["fake", "team-a", "a.b_c!*'()", &"x".repeat(150)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "a|b", "é", &"x".repeat(151)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }
}
