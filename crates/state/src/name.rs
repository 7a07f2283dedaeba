//! Validated names that travel inward from requests: product IDs and counter names.
//!
//! Held as `CompactString`: names of up to 24 bytes (nearly all) live inline, so
//! decoding a cart or parsing a request allocates nothing per product.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Longest accepted product ID or counter name, in characters.
const MAX_NAME_LEN: usize = 64;

/// A name failed validation: 1-64 characters of `[A-Za-z0-9_-]` are required.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")]
pub struct InvalidName;

fn check(s: &str) -> Result<(), InvalidName> {
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(InvalidName) }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(CompactString);

        impl $name {
            /// Parses `s`, accepting 1-64 characters of `[A-Za-z0-9_-]`.
            ///
            /// # Errors
            /// [`InvalidName`] when `s` is empty, too long or has another character.
            pub fn parse(s: &str) -> Result<Self, InvalidName> {
                check(s)?;
                Ok(Self(CompactString::from(s)))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A product ID in a cart: 1-64 characters of `[A-Za-z0-9_-]`.
    ProductId
);
name_type!(
    /// The name of a shared counter: 1-64 characters of `[A-Za-z0-9_-]`.
    CounterName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet_up_to_64_chars() {
        assert!(ProductId::parse("book-1").is_ok());
        assert!(ProductId::parse("A_z-09").is_ok());
        assert!(ProductId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        for bad in ["", "a b", "book/1", "é", "a.b", "<script>"] {
            assert_eq!(ProductId::parse(bad), Err(InvalidName), "{bad:?}");
        }
        assert_eq!(CounterName::parse(&"x".repeat(65)), Err(InvalidName));
    }
}
