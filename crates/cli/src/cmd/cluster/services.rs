//! `statecraft cluster --separate-services`: orders, inventory and
//! notifications as processes of their own on loopback, behind the
//! gateway's routes, the instances reaching them remotely.

use statecraft_gateway::{InstanceSpec, ServiceRoute, Supervisor};

use super::{Cmd, INSTANCE_SHUTDOWN, timeouts_env};
use crate::cmd::CmdError;

/// The separate services, in the order of their ports.
pub(crate) const SERVICE_NAMES: [&str; 3] = ["orders", "inventory", "notifications"];

/// Path prefixes routed to each of [`SERVICE_NAMES`].
const SERVICE_ROUTES: [(&str, usize); 4] = [
    ("/orders", 0),
    ("/products", 1),
    ("/inventory", 1),
    ("/notifications", 2),
];

/// Three free loopback ports for the separate services, chosen before the
/// instances start (they are told them).
pub(crate) fn free_ports() -> Option<[u16; 3]> {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()
    };
    Some([free()?, free()?, free()?])
}

/// Starts the three services on `ports`, verifying tokens with the keys of
/// the instance at `first` (every instance shares them); returns the
/// gateway's routes to them and the keys' URL.
///
/// # Errors
/// A service that did not start; a route that does not parse.
pub(crate) async fn start(
    cmd: &Cmd,
    supervisor: &Supervisor,
    program: &std::path::Path,
    ports: [u16; 3],
    first: &str,
) -> Result<(Vec<ServiceRoute>, Option<http::Uri>), CmdError> {
    let users_url = first.trim_end_matches('/').to_owned();
    for (index, port) in ports.into_iter().enumerate() {
        let spec = cmd.service_spec(program, index, port, &users_url);
        supervisor
            .launch(spec)
            .await
            .map_err(|err| CmdError::Usage(err.to_string()))?;
    }
    let mut routes = Vec::new();
    for (prefix, index) in SERVICE_ROUTES {
        let route = ServiceRoute::parse(&format!("{prefix}=http://127.0.0.1:{}", ports[index]))
            .map_err(CmdError::Runtime)?;
        routes.push(route);
    }
    let jwks = format!("{users_url}/.well-known/jwks.json").parse().ok();
    Ok((routes, jwks))
}

impl Cmd {
    /// `statecraft service NAME` for one of the separate services.
    fn service_spec(
        &self,
        program: &std::path::Path,
        index: usize,
        port: u16,
        users_url: &str,
    ) -> InstanceSpec {
        let name = SERVICE_NAMES[index];
        InstanceSpec {
            id: name.to_owned(),
            program: program.to_owned(),
            args: vec![
                "service".to_owned(),
                name.to_owned(),
                "--events".to_owned(),
                self.events.clone(),
                "--events-namespace".to_owned(),
                self.namespace(),
                "--users-url".to_owned(),
                users_url.to_owned(),
                "--instance-id".to_owned(),
                name.to_owned(),
                "--shutdown-timeout".to_owned(),
                INSTANCE_SHUTDOWN.to_owned(),
            ],
            env: [("STATECRAFT_DATA".to_owned(), self.data.clone())]
                .into_iter()
                .chain(timeouts_env())
                .collect(),
            port,
            netns: None,
        }
    }
}
