//! A deployment the lab did not start (`statecraft lab --target URL`): the
//! journeys go to its URL as they go to a cluster's gateway, and the faults
//! go through its control API when it has statecraft's (`/_cluster`, a
//! `statecraft cluster` behind any balancer) — else only the logout probe,
//! a client's own act, runs, and every other fault is skipped and said so.

use std::time::Duration;

use crate::LabError;
use crate::cluster::ClusterApi;
use crate::results::TargetReport;

/// A deployment as the lab found it before the load.
#[derive(Debug, Clone)]
pub(crate) struct Reached {
    /// Its control API (when `uncontrolled` is `None`), else its base URL
    /// alone (the control calls fail).
    pub(crate) api: ClusterApi,
    /// Why its faults cannot be injected, when they cannot.
    pub(crate) uncontrolled: Option<String>,
}

impl Reached {
    /// What the results say of it.
    pub(crate) fn report(&self) -> TargetReport {
        TargetReport {
            url: self.api.base.clone(),
            uncontrolled: self.uncontrolled.clone(),
        }
    }
}

/// Where a deployment answers, and what the lab may do to it.
#[derive(Clone)]
pub struct Deployment {
    /// Its base URL (`http://host:port`), no trailing slash.
    url: String,
    /// The admin token its control API asks of a caller that is not on
    /// its own host (`statecraft cluster --admin-token-file`).
    admin_token: Option<String>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("url", &self.url)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The shortest admin token the lab sends (the cluster takes none shorter).
const MIN_ADMIN_TOKEN: usize = 16;

impl Deployment {
    /// The deployment at `url`, its control calls carrying `admin_token`.
    ///
    /// # Errors
    /// `url` is not a plain `http://` URL of a host (the lab's client speaks
    /// no TLS: the way out is named), or the admin token is too short to be
    /// a cluster's.
    pub fn new(url: &str, admin_token: Option<String>) -> Result<Self, String> {
        if admin_token
            .as_ref()
            .is_some_and(|t| t.chars().count() < MIN_ADMIN_TOKEN)
        {
            return Err(format!(
                "--target-admin-token-file: its first line is not an admin token (a cluster's \
                 is at least {MIN_ADMIN_TOKEN} characters: openssl rand -hex 32)"
            ));
        }
        let url = url.trim().trim_end_matches('/');
        if url.starts_with("https://") {
            return Err(format!(
                "--target {url}: the lab speaks plain HTTP only; point it at an HTTP port of the \
                 balancer, or forward one (kubectl port-forward svc/statecraft 8080:80, then \
                 --target http://127.0.0.1:8080)"
            ));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            format!("--target {url}: not a URL ({e}); give one such as http://10.0.0.5:8080")
        })?;
        if parsed.scheme() != "http"
            || parsed.host_str().is_none()
            || !parsed.username().is_empty()
            || parsed.path() != "/"
            || parsed.query().is_some()
        {
            return Err(format!(
                "--target {url}: give the deployment's base URL, http://host[:port] with no \
                 path, query or credentials"
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            admin_token,
        })
    }

    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks that it answers at all (fast: a dead target is named, not
    /// waited for), then whether its control API takes the lab's calls.
    ///
    /// # Errors
    /// It does not answer `GET /healthz`.
    pub(crate) async fn reach(&self) -> Result<Reached, LabError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| LabError::Setup(e.to_string()))?;
        let health = client
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.error_for_status().map(drop).map_err(|e| e.to_string()));
        if let Err(err) = health {
            return Err(LabError::Setup(format!(
                "--target {}: the deployment does not answer GET /healthz ({err}); is it running, \
                 and is this the address of its balancer?",
                self.url
            )));
        }
        Ok(match self.control().await {
            Ok(api) => Reached {
                api,
                uncontrolled: None,
            },
            Err(why) => Reached {
                api: ClusterApi::remote(self.url.clone(), client),
                uncontrolled: Some(why),
            },
        })
    }

    /// Its control API, when `GET /_cluster` answers with its instances
    /// (with the admin token, if one was given); why not otherwise.
    async fn control(&self) -> Result<ClusterApi, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.admin_token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| {
                    "the admin token holds characters a header cannot carry: check the first \
                     line of --target-admin-token-file"
                        .to_owned()
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .default_headers(headers)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let api = ClusterApi::remote(self.url.clone(), client);
        let instances = api.instances().await.map_err(|e| {
            format!(
                "it has no statecraft control API the lab may use (GET /_cluster: {e}); a \
                 statecraft cluster's gateway has one (with --admin-token-file for a caller on \
                 another host)"
            )
        })?;
        if instances.is_empty() {
            return Err("its control API lists no instance".to_owned());
        }
        // Reading /_cluster is open; its actions are not. An action on an
        // instance that does not exist tells which (404 past the guard, 403
        // before it) and changes nothing.
        match api.control("lab-control-probe", "start").await {
            Err(answer) if answer.contains("404") => Ok(api.with_instances(instances.len())),
            Err(answer) if answer.contains("403") || answer.contains("401") => Err(format!(
                "its control API refused the lab's actions ({answer}): give \
                 --target-admin-token-file FILE with the cluster's admin token (and start the \
                 cluster with --public-host NAME when it is reached by a name)"
            )),
            Err(answer) => Err(format!("its control API answered a probe with {answer}")),
            Ok(()) => Err(
                "its control API took an action on an instance that does not exist: not a \
                 statecraft cluster the lab can trust"
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Deployment;

    #[test]
    fn only_a_plain_http_base_url_is_a_target() {
        let ok = Deployment::new("http://10.0.0.5:8080/", None).map(|d| d.url().to_owned());
        assert_eq!(ok.as_deref(), Ok("http://10.0.0.5:8080"));
        for bad in [
            "https://example.com",
            "ftp://example.com",
            "http://user:pw@example.com",
            "http://example.com/api",
            "http://example.com/?a=1",
            "example.com",
            "",
        ] {
            let err = Deployment::new(bad, None).err();
            assert!(err.is_some_and(|e| e.contains("--target")), "{bad}");
        }
    }
}
