//! Choosing an instance: the four policies, the signed sticky cookie, and
//! what happens when a client's instance is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest as _, Sha256};

use crate::config::{AffinityLoss, Policy};
use crate::upstream::Upstream;

/// The gateway's cookie naming a sticky client's instance.
pub const STICKY_COOKIE: &str = "statecraft_upstream";
/// The gateway's cookie holding a hashed client's key.
pub const CLIENT_COOKIE: &str = "statecraft_client";
/// The app's session cookie, the first hash key.
const SESSION_COOKIE: &str = "session_id";

/// What in a request ties it to an instance.
#[derive(Debug, Default)]
pub(crate) struct Affinity {
    /// The instance a valid sticky cookie names.
    pub(crate) pinned: Option<String>,
    /// The key the hash policy ranks instances by.
    pub(crate) hash_key: Option<Vec<u8>>,
    /// A new client key the answer must set as [`CLIENT_COOKIE`].
    pub(crate) new_client: Option<String>,
    /// The instance a sticky client was re-pinned away from, while it still
    /// presents the session it had there: its requests keep saying
    /// `X-Affinity-Lost`, so that the session error comes as `SESSION_LOST`
    /// even when the first request after the re-pin needed no session.
    pub(crate) lost_from: Option<String>,
    /// A fingerprint of the request's session cookie, when its pin carried a
    /// mark (a re-pin computes it from the request only when it needs one).
    pub(crate) session: Option<String>,
}

/// Where a request goes.
#[derive(Debug)]
pub(crate) enum Pick {
    /// To this instance; `lost` names the client's dead instance when the
    /// request was re-routed away from it; `pin` asks for a new sticky cookie.
    To {
        upstream: Arc<Upstream>,
        lost: Option<String>,
        pin: bool,
    },
    /// Strict affinity: the client's instance is down.
    Lost(String),
    /// No instance can take it.
    NoneHealthy,
}

/// The balancer of one gateway.
#[derive(Debug)]
pub(crate) struct Balancer {
    policy: Policy,
    on_loss: AffinityLoss,
    next: AtomicUsize,
    sticky: StickySigner,
}

impl Balancer {
    pub(crate) fn new(policy: Policy, on_loss: AffinityLoss, key: &[u8; 32]) -> Self {
        Self {
            policy,
            on_loss,
            next: AtomicUsize::new(0),
            sticky: StickySigner { key: *key },
        }
    }

    pub(crate) fn policy(&self) -> Policy {
        self.policy
    }

    pub(crate) fn signer(&self) -> &StickySigner {
        &self.sticky
    }

    /// What ties `headers` (and the client at `client`) to an instance under
    /// this policy.
    pub(crate) fn affinity(&self, headers: &HeaderMap, client: std::net::IpAddr) -> Affinity {
        match self.policy {
            Policy::Sticky => {
                let pin = cookie(headers, STICKY_COOKIE).and_then(|v| self.sticky.verify(v));
                let (pinned, lost_from, session) = match pin {
                    // Only a marked pin pays for hashing the session cookie:
                    // the mark holds only for the session it was made for.
                    Some(Pin {
                        instance,
                        lost: Some((dead, fp)),
                    }) => {
                        let session = session_fingerprint(headers);
                        let lost = (session.as_deref() == Some(fp.as_str())).then_some(dead);
                        (Some(instance), lost, session)
                    }
                    Some(Pin {
                        instance,
                        lost: None,
                    }) => (Some(instance), None, None),
                    None => (None, None, None),
                };
                Affinity {
                    pinned,
                    lost_from,
                    session,
                    ..Affinity::default()
                }
            }
            Policy::Hash => hash_affinity(headers, client),
            Policy::RoundRobin | Policy::LeastRequest => Affinity::default(),
        }
    }

    /// Chooses an instance among `pool` for a request with `affinity`, never
    /// one in `tried` (instances that already failed this request).
    pub(crate) fn pick(
        &self,
        pool: &[Arc<Upstream>],
        affinity: &Affinity,
        tried: &[usize],
    ) -> Pick {
        let open = |i: usize| !tried.contains(&i);
        match self.policy {
            Policy::Sticky => {
                let home = affinity
                    .pinned
                    .as_deref()
                    .and_then(|id| pool.iter().position(|u| u.id == id));
                // A client of an instance whose sessions were handed over
                // follows them, and is pinned there.
                let heir = home
                    .and_then(|i| pool[i].moved_to())
                    .and_then(|id| pool.iter().position(|u| u.id == id))
                    .filter(|&j| open(j) && pool[j].is_healthy());
                if let Some(j) = heir {
                    return Pick::To {
                        upstream: Arc::clone(&pool[j]),
                        lost: None,
                        pin: true,
                    };
                }
                match home {
                    // A pinned client stays, even on a draining instance.
                    Some(i) if open(i) && pool[i].is_healthy() => Pick::To {
                        upstream: Arc::clone(&pool[i]),
                        lost: affinity.lost_from.clone(),
                        pin: false,
                    },
                    Some(i) => self.rehome(pool, &pool[i].id, |j| open(j) && j != i),
                    None => self
                        .spread(pool, &open)
                        .map_or(Pick::NoneHealthy, |upstream| Pick::To {
                            upstream,
                            lost: None,
                            pin: true,
                        }),
                }
            }
            Policy::Hash => {
                let key = affinity.hash_key.as_deref().unwrap_or_default();
                // The key's instance among all not draining, alive or not:
                // while it is down its keys are lost, and they come back to
                // it when it returns.
                let home = rendezvous(pool, key, |u| !u.is_draining(), |_| true);
                match home {
                    Some(i) if open(i) && pool[i].is_healthy() => Pick::To {
                        upstream: Arc::clone(&pool[i]),
                        lost: None,
                        pin: false,
                    },
                    Some(i) => {
                        let dead = pool[i].id.clone();
                        if self.on_loss == AffinityLoss::Strict {
                            return Pick::Lost(dead);
                        }
                        match rendezvous(pool, key, |u| u.takes_new_clients(), open) {
                            Some(j) => Pick::To {
                                upstream: Arc::clone(&pool[j]),
                                lost: Some(dead),
                                pin: false,
                            },
                            None => Pick::NoneHealthy,
                        }
                    }
                    None => Pick::NoneHealthy,
                }
            }
            Policy::RoundRobin | Policy::LeastRequest => {
                self.spread(pool, &open)
                    .map_or(Pick::NoneHealthy, |upstream| Pick::To {
                        upstream,
                        lost: None,
                        pin: false,
                    })
            }
        }
    }

    /// A pinned client whose instance `dead` cannot take it: strict answers
    /// `SESSION_LOST`; redispatch pins it to another instance.
    fn rehome(&self, pool: &[Arc<Upstream>], dead: &str, open: impl Fn(usize) -> bool) -> Pick {
        if self.on_loss == AffinityLoss::Strict {
            return Pick::Lost(dead.to_owned());
        }
        match self.spread(pool, &open) {
            Some(upstream) => Pick::To {
                upstream,
                lost: Some(dead.to_owned()),
                pin: true,
            },
            None => Pick::NoneHealthy,
        }
    }

    /// An instance for a client not tied to one: round-robin, or for
    /// least-request the less busy of two picked at random.
    fn spread(
        &self,
        pool: &[Arc<Upstream>],
        open: &impl Fn(usize) -> bool,
    ) -> Option<Arc<Upstream>> {
        // The k-th eligible instance, without collecting them (this runs on
        // every request).
        let eligible = |k: usize| {
            (0..pool.len())
                .filter(|&i| open(i) && pool[i].takes_new_clients())
                .nth(k)
        };
        let count = (0..pool.len())
            .filter(|&i| open(i) && pool[i].takes_new_clients())
            .count();
        let chosen = match (self.policy, count) {
            (_, 0) => return None,
            (Policy::LeastRequest, n) if n > 1 => {
                let a = rand::random_range(0..n);
                let b = (a + rand::random_range(1..n)) % n;
                let (a, b) = (eligible(a)?, eligible(b)?);
                if pool[b].in_flight() < pool[a].in_flight() {
                    b
                } else {
                    a
                }
            }
            (_, n) => eligible(self.next.fetch_add(1, Ordering::Relaxed) % n)?,
        };
        Some(Arc::clone(&pool[chosen]))
    }
}

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The hash policy's key. Hashing the session cookie alone would send a new
/// session's second request elsewhere than its first (which had no cookie
/// yet), so a client gets a random key of the gateway's at its first answer
/// and is hashed by it from then on. Without one: the session cookie (a
/// session begun elsewhere), else the bearer token's `sub` (read, not
/// verified: it only chooses an instance, which verifies it), else, for a
/// client with neither, a new key (its first request).
fn hash_affinity(headers: &HeaderMap, client: std::net::IpAddr) -> Affinity {
    let keyed = |key: Vec<u8>| Affinity {
        hash_key: Some(key),
        ..Affinity::default()
    };
    if let Some(id) = cookie(headers, CLIENT_COOKIE) {
        return keyed([b"c:", id.as_bytes()].concat());
    }
    if let Some(session) = cookie(headers, SESSION_COOKIE) {
        return keyed([b"s:", session.as_bytes()].concat());
    }
    if let Some(sub) = bearer_sub(headers) {
        return keyed([b"u:", sub.as_bytes()].concat());
    }
    // A client that keeps no cookies is hashed by its address.
    if headers.contains_key(COOKIE) || headers.contains_key(AUTHORIZATION) {
        return keyed(format!("a:{client}").into_bytes());
    }
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    Affinity {
        hash_key: Some([b"c:", id.as_bytes()].concat()),
        new_client: Some(id),
        ..Affinity::default()
    }
}

/// The `sub` of a bearer token in `headers`.
fn bearer_sub(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims.get("sub")?.as_str().map(str::to_owned))
}

/// Rendezvous hashing: among instances that pass `candidate` and `open`, the
/// one whose score for `key` is highest. Removing an instance moves only the
/// keys it held.
fn rendezvous(
    pool: &[Arc<Upstream>],
    key: &[u8],
    candidate: impl Fn(&Upstream) -> bool,
    open: impl Fn(usize) -> bool,
) -> Option<usize> {
    let digest = Sha256::digest(key);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let key = u64::from_le_bytes(bytes);
    (0..pool.len())
        .filter(|&i| open(i) && candidate(&pool[i]))
        .max_by_key(|&i| (mix(key ^ pool[i].seed), i))
}

/// SplitMix64's finaliser: spreads a 64-bit value over all bits, so that
/// scores of one key on different instances are independent.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A short fingerprint of the request's session cookie (never the value
/// itself, which the sticky cookie must not copy).
pub(crate) fn session_fingerprint(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .map(|session| URL_SAFE_NO_PAD.encode(&Sha256::digest(session.as_bytes())[..9]))
}

/// What a valid sticky cookie says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The client's instance.
    pub(crate) instance: String,
    /// The instance it was re-pinned away from, and the fingerprint of the
    /// session it held there.
    pub(crate) lost: Option<(String, String)>,
}

/// Signs and checks the sticky cookie: `<instance>[~<lost>~<session fp>]
/// .<HMAC-SHA256>`, so a client cannot aim at an instance of its choosing,
/// and gateways sharing the key agree. Instance names never hold `~`.
#[derive(Debug)]
pub(crate) struct StickySigner {
    key: [u8; 32],
}

impl StickySigner {
    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// The cookie value pinning a client to `id`; `lost`: the dead instance
    /// it was re-pinned away from and the session it held there.
    pub(crate) fn sign(&self, id: &str, lost: Option<(&str, &str)>) -> String {
        let payload = match lost {
            Some((dead, session)) => format!("{id}~{dead}~{session}"),
            None => id.to_owned(),
        };
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// What a cookie value says, if its signature holds (checked in constant
    /// time).
    pub(crate) fn verify(&self, value: &str) -> Option<Pin> {
        let (payload, tag) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let mut parts = payload.split('~');
        let instance = parts.next()?.to_owned();
        let lost = match (parts.next(), parts.next(), parts.next()) {
            (Some(dead), Some(session), None) => Some((dead.to_owned(), session.to_owned())),
            (None, _, _) => None,
            _ => return None,
        };
        Some(Pin { instance, lost })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpstreamSpec;

    fn pool(n: usize) -> Vec<Arc<Upstream>> {
        (1..=n)
            .map(|i| {
                let spec =
                    UpstreamSpec::parse(&format!("http://127.0.0.1:{}", 9000 + i), i).unwrap();
                Arc::new(Upstream::new(&spec, std::time::Duration::from_millis(100)))
            })
            .collect()
    }

    fn target(pick: Pick) -> (String, Option<String>, bool) {
        match pick {
            Pick::To {
                upstream,
                lost,
                pin,
            } => (upstream.id.clone(), lost, pin),
            other => panic!("no instance: {other:?}"),
        }
    }

    #[test]
    fn losing_one_of_five_instances_moves_only_its_fifth_of_the_keys() {
        let pool = pool(5);
        let balancer = Balancer::new(Policy::Hash, AffinityLoss::Redispatch, &[7; 32]);
        let keys: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("s:key-{i}").into_bytes())
            .collect();
        let place = |key: &Vec<u8>| {
            let affinity = Affinity {
                hash_key: Some(key.clone()),
                ..Affinity::default()
            };
            target(balancer.pick(&pool, &affinity, &[])).0
        };
        let before: Vec<String> = keys.iter().map(place).collect();
        // Every instance holds about a fifth.
        for u in &pool {
            let share = before.iter().filter(|id| **id == u.id).count();
            assert!((1_700..2_300).contains(&share), "{}: {share}", u.id);
        }
        pool[2].set_healthy(false);
        let after: Vec<String> = keys.iter().map(place).collect();
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let held = before.iter().filter(|id| **id == pool[2].id).count();
        // Exactly the dead instance's keys moved, about 1/5 of all.
        assert_eq!(moved, held);
        assert!((1_700..2_300).contains(&moved), "{moved}");
        // They come back when it does.
        pool[2].set_healthy(true);
        assert_eq!(keys.iter().map(place).collect::<Vec<_>>(), before);
    }

    #[test]
    fn a_hashed_client_of_a_dead_instance_is_told_so() {
        let pool = pool(3);
        let redispatch = Balancer::new(Policy::Hash, AffinityLoss::Redispatch, &[1; 32]);
        let affinity = Affinity {
            hash_key: Some(b"s:abc".to_vec()),
            ..Affinity::default()
        };
        let (home, lost, _) = target(redispatch.pick(&pool, &affinity, &[]));
        assert_eq!(lost, None);
        let i = pool.iter().position(|u| u.id == home).unwrap();
        pool[i].set_healthy(false);
        let (elsewhere, lost, _) = target(redispatch.pick(&pool, &affinity, &[]));
        assert_ne!(elsewhere, home);
        assert_eq!(lost.as_deref(), Some(home.as_str()));
        let strict = Balancer::new(Policy::Hash, AffinityLoss::Strict, &[1; 32]);
        assert!(matches!(strict.pick(&pool, &affinity, &[]), Pick::Lost(id) if id == home));
    }

    #[test]
    fn sticky_cookies_are_signed_and_pin_until_the_instance_dies() {
        let pool = pool(3);
        let balancer = Balancer::new(Policy::Sticky, AffinityLoss::Redispatch, &[9; 32]);
        let (first, _, pin) = target(balancer.pick(&pool, &Affinity::default(), &[]));
        assert!(pin, "a new client gets a cookie");
        let cookie = balancer.signer().sign(&first, None);
        // Another gateway with the same key agrees; one with another key does not.
        let twin = Balancer::new(Policy::Sticky, AffinityLoss::Redispatch, &[9; 32]);
        assert_eq!(
            twin.signer().verify(&cookie).map(|p| p.instance).as_deref(),
            Some(first.as_str())
        );
        let other = Balancer::new(Policy::Sticky, AffinityLoss::Redispatch, &[8; 32]);
        assert_eq!(other.signer().verify(&cookie), None);
        // A forged cookie naming an instance is refused.
        assert_eq!(balancer.signer().verify("server-2.AAAA"), None);
        assert_eq!(balancer.signer().verify("server-2"), None);
        let pinned = Affinity {
            pinned: balancer.signer().verify(&cookie).map(|p| p.instance),
            ..Affinity::default()
        };
        for _ in 0..10 {
            assert_eq!(
                target(balancer.pick(&pool, &pinned, &[])),
                (first.clone(), None, false)
            );
        }
        // Draining keeps its pinned clients, takes no new ones.
        let i = pool.iter().position(|u| u.id == first).unwrap();
        pool[i].set_draining(true);
        assert_eq!(target(balancer.pick(&pool, &pinned, &[])).0, first);
        for _ in 0..10 {
            assert_ne!(
                target(balancer.pick(&pool, &Affinity::default(), &[])).0,
                first
            );
        }
        // Dead: re-pinned elsewhere, told which instance was lost.
        pool[i].set_healthy(false);
        let (new_home, lost, pin) = target(balancer.pick(&pool, &pinned, &[]));
        assert_ne!(new_home, first);
        assert_eq!(lost, Some(first.clone()));
        assert!(pin);
        let strict = Balancer::new(Policy::Sticky, AffinityLoss::Strict, &[9; 32]);
        assert!(matches!(strict.pick(&pool, &pinned, &[]), Pick::Lost(id) if id == first));
    }

    #[test]
    fn round_robin_skips_the_unhealthy_and_tried_and_least_request_prefers_the_idle() {
        let pool = pool(3);
        let rr = Balancer::new(Policy::RoundRobin, AffinityLoss::Redispatch, &[0; 32]);
        let ids: Vec<String> = (0..6)
            .map(|_| target(rr.pick(&pool, &Affinity::default(), &[])).0)
            .collect();
        assert_eq!(ids[..3], ids[3..]);
        assert_eq!(
            ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3
        );
        pool[0].set_healthy(false);
        for _ in 0..6 {
            let (id, _, _) = target(rr.pick(&pool, &Affinity::default(), &[1]));
            assert_eq!(id, pool[2].id);
        }
        pool[2].set_healthy(false);
        assert!(matches!(
            rr.pick(&pool, &Affinity::default(), &[1]),
            Pick::NoneHealthy
        ));
        pool[0].set_healthy(true);
        pool[2].set_healthy(true);
        let least = Balancer::new(Policy::LeastRequest, AffinityLoss::Redispatch, &[0; 32]);
        let _busy: Vec<_> = (0..5).map(|_| pool[0].start_request()).collect();
        for _ in 0..50 {
            assert_ne!(
                target(least.pick(&pool, &Affinity::default(), &[])).0,
                pool[0].id
            );
        }
    }

    fn headers(cookies: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, cookies.parse().unwrap());
        headers
    }

    #[test]
    fn a_client_re_pinned_from_a_dead_instance_is_marked_lost_while_it_keeps_that_session() {
        let pool = pool(3);
        let balancer = Balancer::new(Policy::Sticky, AffinityLoss::Redispatch, &[9; 32]);
        let client = std::net::IpAddr::from([127, 0, 0, 1]);
        let old = format!(
            "{STICKY_COOKIE}={}; session_id=old",
            balancer.signer().sign("server-1", None)
        );
        let affinity = balancer.affinity(&headers(&old), client);
        assert_eq!(affinity.pinned.as_deref(), Some("server-1"));
        assert_eq!(affinity.lost_from, None);
        // Re-pinned to server-2 with the mark for the session it had on server-1.
        // An unmarked pin costs no hashing; a re-pin takes the fingerprint.
        assert_eq!(affinity.session, None);
        let session = session_fingerprint(&headers(&old)).unwrap();
        assert!(!session.contains("old"), "a fingerprint, not the cookie");
        let marked = balancer
            .signer()
            .sign("server-2", Some(("server-1", &session)));
        let same = balancer.affinity(
            &headers(&format!("{STICKY_COOKIE}={marked}; session_id=old")),
            client,
        );
        assert_eq!(same.pinned.as_deref(), Some("server-2"));
        assert_eq!(same.lost_from.as_deref(), Some("server-1"));
        assert_eq!(
            target(balancer.pick(&pool, &same, &[])),
            ("server-2".to_owned(), Some("server-1".to_owned()), false)
        );
        // After a new login (another session) the mark no longer applies.
        let fresh = balancer.affinity(
            &headers(&format!("{STICKY_COOKIE}={marked}; session_id=new")),
            client,
        );
        assert_eq!(fresh.lost_from, None);
        assert_eq!(
            target(balancer.pick(&pool, &fresh, &[])),
            ("server-2".to_owned(), None, false)
        );
        // The mark is signed like the pin.
        let forged = marked.replacen("server-1", "server-3", 1);
        assert_eq!(balancer.signer().verify(&forged), None);
    }
}
