//! The session cookie's attributes: issuing and clearing it.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use statecraft_state::SessionSecret;

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "session_id";

/// Attributes of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    secure: bool,
    max_age: Duration,
}

impl CookiePolicy {
    pub(crate) fn new(secure: bool, max_age: Duration) -> Self {
        Self { secure, max_age }
    }

    fn build(&self, value: String, max_age: Duration) -> String {
        let max_age =
            cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        Cookie::build((COOKIE_NAME, value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .build()
            .to_string()
    }

    /// `Set-Cookie` issuing a new session's secret.
    pub(crate) fn issue(&self, secret: &SessionSecret) -> String {
        self.build(secret.expose(), self.max_age)
    }

    /// `Set-Cookie` telling the browser to forget the session cookie.
    pub(crate) fn clear(&self) -> String {
        self.build(String::new(), Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_cookie_has_the_required_attributes() {
        let policy = CookiePolicy::new(true, Duration::from_secs(86_400));
        let text = policy.issue(&SessionSecret::generate());
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=86400",
        ] {
            assert!(text.contains(attr), "{text} lacks {attr}");
        }
        let insecure = CookiePolicy::new(false, Duration::from_secs(60)).clear();
        assert!(
            insecure.contains("Max-Age=0") && !insecure.contains("Secure"),
            "{insecure}"
        );
    }
}
