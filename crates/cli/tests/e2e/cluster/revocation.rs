//! Logouts in a cluster whose instances keep sessions and the token
//! denylist in their own memory: each takes effect on every instance before
//! it is answered, and on an instance that was down, before it serves again.

use std::collections::BTreeSet;

use crate::cluster::Cluster;
use crate::common::Client;

const ALICE: &str = r#"{"user":"alice","password":"correct-password"}"#;

/// A client holding alice's access token (its refresh token beside it).
fn token_client(cluster: &Cluster) -> Client {
    let (status, pair) = Client::new().post(&cluster.base, "/token", Some(ALICE));
    assert_eq!(status, 200, "{pair}");
    Client {
        bearer: Some(pair["token"].as_str().unwrap().to_owned()),
        ..Client::default()
    }
}

/// `GET /profile` six times (twice on each instance, round-robin): the
/// statuses and error codes, and the instances that answered.
fn profile_everywhere(cluster: &Cluster, client: &mut Client) -> (Vec<String>, BTreeSet<String>) {
    let mut answers = Vec::new();
    let mut served = BTreeSet::new();
    for _ in 0..6 {
        let (status, body) = client.get(&cluster.base, "/profile");
        answers.push(format!("{status} {}", body["code"].as_str().unwrap_or("")));
        served.extend(client.served_by.clone());
    }
    (answers, served)
}

/// A bearer logout handled by one instance left the token working on the
/// other two.
#[test]
fn a_bearer_logout_holds_on_every_instance_and_on_one_that_was_down() {
    let cluster = Cluster::start("revoke-token", &["--balance", "round-robin"]);
    let mut client = token_client(&cluster);
    let (answers, served) = profile_everywhere(&cluster, &mut client);
    assert!(answers.iter().all(|a| a.starts_with("200")), "{answers:?}");
    assert_eq!(served.len(), 3, "{served:?}");
    let (status, body) = client.post(&cluster.base, "/logout", None);
    assert_eq!(status, 200, "{body}");
    let (answers, served) = profile_everywhere(&cluster, &mut client);
    assert_eq!(served.len(), 3, "{served:?}");
    assert!(
        answers.iter().all(|a| a == "401 TOKEN_REVOKED"),
        "a logged-out token still works somewhere: {answers:?}"
    );

    // An instance down during a logout gets it before it serves again (a
    // restarted one has an empty denylist, and the token still verifies).
    let mut other = token_client(&cluster);
    cluster.control("server-3", "stop");
    let (status, body) = other.post(&cluster.base, "/logout", None);
    assert_eq!(status, 200, "{body}");
    cluster.control("server-3", "start");
    cluster.wait_until(|c| c.healthy().len() == 3, "server-3 back in rotation");
    let (answers, served) = profile_everywhere(&cluster, &mut other);
    assert!(served.contains("server-3"), "{served:?}");
    assert!(
        answers.iter().all(|a| a == "401 TOKEN_REVOKED"),
        "the restarted instance took a logged-out token: {answers:?}"
    );
}

/// "Log out everywhere" on one instance left the user's sessions on the
/// others alive.
#[test]
fn logging_out_everywhere_ends_the_sessions_held_by_other_instances() {
    let cluster = Cluster::start("revoke-sessions", &["--balance", "sticky"]);
    // Logins until two are held by different instances (new clients are
    // spread over the instances).
    let mut held: Vec<(Client, String)> = Vec::new();
    for _ in 0..12 {
        let mut client = Client::new();
        let (status, body) = client.post(&cluster.base, "/login", Some(ALICE));
        assert_eq!(status, 200, "{body}");
        let home = client.served_by.clone().unwrap();
        if !held.iter().any(|(_, h)| *h == home) {
            held.push((client, home));
        }
        if held.len() == 2 {
            break;
        }
    }
    assert_eq!(held.len(), 2, "every login landed on one instance");
    let (mut first, mut second) = (held.remove(0).0, held.remove(0).0);
    let (status, body) = second.get(&cluster.base, "/profile");
    assert_eq!(status, 200, "{body}");
    let (status, body) = first.send("DELETE", &cluster.base, "/sessions", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = second.get(&cluster.base, "/profile");
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("SESSION_MISSING")),
        "the other instance's session survived: {body}"
    );
}

/// An instance restarted between two health checks was never seen down, so
/// the gateway did not catch it up: it pulls the record itself at start, and
/// refuses bearer tokens until it has it.
#[test]
fn a_restarted_instance_takes_the_logouts_it_missed_before_serving_tokens() {
    // Checks far apart: the gateway learns nothing of the restart in time.
    let cluster = Cluster::start(
        "revoke-restart",
        &["--balance", "round-robin", "--health-interval", "10s"],
    );
    let mut client = token_client(&cluster);
    let view = cluster.cluster_view();
    let server_3 = view["instances"][2]["url"].as_str().unwrap().to_owned();
    cluster.control("server-3", "stop");
    let (status, body) = client.post(&cluster.base, "/logout", None);
    assert_eq!(status, 200, "{body}");
    cluster.control("server-3", "start");
    // Asked directly, not through the gateway (which has not checked it yet).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let limit = std::time::Duration::from_secs(2);
        // Not yet listening: the start is under way.
        if let Ok((status, body)) = client.try_send("GET", &server_3, "/profile", &[], None, limit)
        {
            match (status, body["code"].as_str()) {
                (401, Some("TOKEN_REVOKED")) => break,
                // Listening, not yet caught up: it says so rather than guess.
                (503, Some("REVOCATIONS_PENDING")) => {}
                other => panic!("the restarted instance answered {other:?}: {body}"),
            }
        }
        assert!(std::time::Instant::now() < deadline, "never caught up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
