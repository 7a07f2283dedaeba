//! The revocation probe: a user logs in, uses the credential, logs out, and
//! a stolen copy of the credential is tried again. Only an answer that says
//! the credential is revoked counts as refused; the rest is reported apart,
//! so a store outage never passes for a revocation.

use std::collections::BTreeMap;

use crate::client::{Account, Call, Credential, Target, log_in};
use crate::strategy::Strategy;

/// The answers that say the credential is no longer honoured: its session is
/// gone, or its token was revoked. Anything else (a store outage, no answer)
/// shows nothing about revocation.
const REFUSALS: [&str; 2] = ["SESSION_MISSING", "TOKEN_REVOKED"];

/// What `GET /profile` with a copy of a credential got, `probes` times.
#[derive(Debug, Clone, Default)]
struct ProbeAnswers {
    served: usize,
    refused: usize,
    /// Other answers, by code: neither served nor a revocation.
    other: BTreeMap<String, usize>,
}

async fn probe(target: &Target, credential: &Credential, probes: usize) -> ProbeAnswers {
    let mut answers = ProbeAnswers::default();
    for _ in 0..probes {
        // A stolen copy: what the server answers never changes it.
        let mut copy = credential.clone();
        match target
            .send(&mut copy, Call::get("profile", "/profile"))
            .await
        {
            Ok(_) => answers.served += 1,
            Err(code) if REFUSALS.contains(&code.as_str()) => answers.refused += 1,
            Err(code) => *answers.other.entry(code).or_default() += 1,
        }
    }
    answers
}

/// The revocation probe: a user logs in, uses the credential, logs out, and
/// a copy of the credential is tried again.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// Requests tried before and after the logout, each.
    pub probes: usize,
    /// Of those before the logout, how many were served.
    pub accepted_before_logout: usize,
    /// Of those after, how many were still served: the revocation delay.
    pub accepted_after_logout: usize,
    /// Of those after, how many were refused as revoked (`SESSION_MISSING`,
    /// `TOKEN_REVOKED`): the revocation shown, not inferred.
    pub refused_after_logout: usize,
    /// Of those after, the other answers by code (a store outage, no
    /// answer): they show neither way.
    pub inconclusive_after_logout: BTreeMap<String, usize>,
    /// Whether the logout itself was answered with success.
    pub logout_succeeded: bool,
    /// The logout's error code when it failed.
    pub logout_error: Option<String>,
}

/// Runs the revocation probe as `account` through `target` (unrecorded).
pub(crate) async fn revocation_probe(
    target: &Target,
    strategy: Strategy,
    account: &Account,
    probes: usize,
) -> Result<Revocation, String> {
    let mut credential = Credential::default();
    log_in(target, strategy, account, &mut credential).await?;
    let before = probe(target, &credential, probes).await;
    let stolen = credential.clone();
    let logout = target
        .send(&mut credential, Call::post("logout", "/logout", None))
        .await;
    let after = probe(target, &stolen, probes).await;
    Ok(Revocation {
        probes,
        accepted_before_logout: before.served,
        accepted_after_logout: after.served,
        refused_after_logout: after.refused,
        inconclusive_after_logout: after.other,
        logout_succeeded: logout.is_ok(),
        logout_error: logout.err(),
    })
}
