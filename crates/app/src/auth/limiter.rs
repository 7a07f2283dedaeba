//! The login rate limit: more than [`MAX_FAILURES`] failed logins for one user
//! name from one client network within [`WINDOW`] → `429` until the window
//! ends. Successes do not count. Registrations refused for a taken name are
//! limited the same way per client network ([`REGISTRATIONS`]).
//!
//! An attempt is counted *before* its password is verified: it reserves a
//! place, which a failure keeps and a success gives back. Checking and
//! counting as two steps let 20 parallel guesses all be verified; now N
//! parallel attempts never verify more than the limit. The count lives in
//! the users database (`UsersDb::reserve_attempt`), so the instances of a
//! cluster, which share it, share the limit: each counting its own let 15
//! of 20 parallel guesses through three instances.
//!
//! Written here rather than taken from a rate-limiting crate: those count every
//! request that is checked, while this must count only failures, still
//! refuse the next attempt before its password is verified (so a blocked
//! attacker also stops costing Argon2 time), and be shared by processes.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use statecraft_services::UsersDb;

use crate::error::ApiError;

/// Failures allowed per window.
pub(crate) const MAX_FAILURES: u32 = 5;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// The name registrations are counted under, per client network: no user
/// name can be it (they are `[a-z0-9_.-]`). Not a NUL byte: PostgreSQL's
/// text cannot hold one.
pub(crate) const REGISTRATIONS: &str = "+registrations";

/// An attempt that holds a place in the limit until it is settled: a
/// failure keeps the place for the window, a success (or an attempt given
/// up, when dropped) gives it back.
#[derive(Debug)]
pub(crate) struct Attempt {
    users: UsersDb,
    key: Option<String>,
}

/// Reserves a place for an attempt by `name` from `client`: `429` when
/// failures and attempts under way already fill the limit, `503` when the
/// users database cannot say.
pub(crate) async fn reserve(
    users: &UsersDb,
    name: &str,
    client: IpAddr,
) -> Result<Attempt, ApiError> {
    let key = key(name, client);
    match users.reserve_attempt(&key, MAX_FAILURES, WINDOW).await {
        Ok(Ok(())) => Ok(Attempt {
            users: users.clone(),
            key: Some(key),
        }),
        Ok(Err(wait)) => Err(ApiError::RateLimited(wait)),
        Err(err) => Err(ApiError::service_down(
            "users",
            format_args!("the login limit cannot be read: {err}"),
        )),
    }
}

/// `429` when `name` from `client` has used up its failures for now,
/// holding no place (attempts alongside it are not held back).
pub(crate) async fn exhausted(users: &UsersDb, name: &str, client: IpAddr) -> Result<(), ApiError> {
    match users
        .attempts_exhausted(&key(name, client), MAX_FAILURES, WINDOW)
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(wait)) => Err(ApiError::RateLimited(wait)),
        Err(err) => Err(ApiError::service_down(
            "users",
            format_args!("the login limit cannot be read: {err}"),
        )),
    }
}

/// The row a limit is counted in: a digest of the name as typed (any
/// bytes a client sends, of any length, make a short key of hex digits, and
/// the table holds no user name) and the client's network.
fn key(name: &str, client: IpAddr) -> String {
    let digest = Sha256::digest(name.to_lowercase().as_bytes());
    let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}|{}", network_of(client))
}

impl Attempt {
    /// The attempt failed: it counts for the window.
    pub(crate) async fn failed(mut self) {
        if let Some(key) = self.key.take() {
            settle(&self.users, &key, true).await;
        }
    }

    /// The attempt succeeded: its place is given back.
    pub(crate) async fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            settle(&self.users, &key, false).await;
        }
    }
}

impl Drop for Attempt {
    /// An attempt given up (an error, or a client gone mid-verify) gives its
    /// place back, in a task of its own: a drop cannot wait. A place left
    /// held by a failed write lapses with its window anyway.
    fn drop(&mut self) {
        if let (Some(key), Ok(runtime)) = (self.key.take(), tokio::runtime::Handle::try_current()) {
            let users = self.users.clone();
            runtime.spawn(async move { settle(&users, &key, false).await });
        }
    }
}

async fn settle(users: &UsersDb, key: &str, failed: bool) {
    if let Err(err) = users.settle_attempt(key, failed).await {
        tracing::warn!(%err, "a login attempt could not be settled; its place lapses with the window");
    }
}

/// The address a client is counted under: an IPv6 client by its /64 (one
/// host commonly holds a whole /64 and could take a fresh address per
/// attempt), an IPv4-mapped one as the IPv4 address it is.
fn network_of(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain_whatever_the_name() {
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(key("Alice", client), key("alice", client));
        assert_ne!(key("alice", client), key("bob", client));
        for hostile in ["\0", &"x".repeat(70_000), "é\u{202e}"] {
            let k = key(hostile, client);
            assert!(
                k.len() < 64 && k.bytes().all(|b| b.is_ascii_graphic()),
                "{k}"
            );
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_one_as_ipv4() {
        let at = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(at("2001:db8:1:2::1"), at("2001:db8:1:2:ffff::9"));
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
        assert_eq!(at("::ffff:10.0.0.9"), at("10.0.0.9"));
        assert_ne!(at("10.0.0.9"), at("10.0.0.10"));
    }
}
