//! Who may take a server's control actions (the admin token, the public
//! host names), and the lab a server offers at `/lab/…` under them.

use statecraft_gateway::GatewayConfig;
use statecraft_lab::live::LiveLab;

use super::CmdError;

/// Who may take control actions — the gateway's (`/_cluster/…`) and the
/// lab's (`/lab/runs`) — for `gateway`, `cluster` and `serve` alike.
#[derive(Debug, clap::Args)]
pub(crate) struct ControlAccess {
    /// Bearer token that /_cluster/instances/… control calls must carry
    /// (without one: loopback clients of a loopback gateway only). Prefer
    /// the variable or --admin-token-file: a flag shows in `ps`.
    #[arg(long, env = "STATECRAFT_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,

    /// A file whose first line is the admin token (keep it 0600).
    #[arg(
        long,
        env = "STATECRAFT_ADMIN_TOKEN_FILE",
        conflicts_with = "admin_token"
    )]
    admin_token_file: Option<std::path::PathBuf>,

    /// A host name the gateway is reached by, besides its listen address
    /// and loopback names: control calls naming another Host are refused
    /// (DNS rebinding). Repeat for each.
    #[arg(
        long = "public-host",
        env = "STATECRAFT_PUBLIC_HOSTS",
        value_delimiter = ','
    )]
    public_hosts: Vec<String>,
}

/// The shortest admin token taken: a guessable one would open the controls.
const MIN_ADMIN_TOKEN: usize = 16;

/// The control settings, read and checked.
pub(crate) struct Control {
    admin_token: Option<String>,
    public_hosts: Vec<String>,
}

impl Control {
    /// Who may take control actions, by these settings.
    pub(crate) fn guard(&self) -> statecraft_http::ControlGuard {
        statecraft_http::ControlGuard {
            admin_token: self.admin_token.clone(),
            public_hosts: self.public_hosts.clone(),
        }
    }

    /// Puts them into `config`.
    pub(crate) fn apply(self, config: &mut GatewayConfig) {
        config.admin_token = self.admin_token;
        config.public_hosts = self.public_hosts;
    }
}

impl ControlAccess {
    /// The admin token (from the flag, the variable or the file) and public
    /// hosts, checked: read before anything starts.
    pub(crate) fn resolve(&self) -> Result<Control, CmdError> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(token), _) => {
                if std::env::args()
                    .any(|a| a.starts_with("--admin-token") && !a.starts_with("--admin-token-file"))
                {
                    tracing::warn!(
                        "--admin-token on the command line is visible to every local user \
                         (ps); pass it in STATECRAFT_ADMIN_TOKEN or --admin-token-file"
                    );
                }
                Some(token.clone())
            }
            (None, Some(path)) => Some(token_from_file(path, "--admin-token-file")?),
            (None, None) => None,
        };
        if let Some(token) = &token
            && token.chars().count() < MIN_ADMIN_TOKEN
        {
            return Err(CmdError::Usage(format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN} characters (try: openssl rand -hex 32)"
            )));
        }
        Ok(Control {
            admin_token: token,
            public_hosts: self.public_hosts.clone(),
        })
    }
}

/// The first line of the file `flag` names: a token kept out of argv.
pub(crate) fn token_from_file(path: &std::path::Path, flag: &str) -> Result<String, CmdError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CmdError::Usage(format!("{flag} {}: cannot read it ({e})", path.display())))?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// The lab a server offers at `/lab/…`: runs kept under `history`,
/// started with this binary, controlled as `guard` allows; its routes and
/// their OpenAPI document.
pub(crate) fn server_lab(
    history: &std::path::Path,
    guard: statecraft_http::ControlGuard,
) -> Result<(LiveLab, statecraft_app::Extension), CmdError> {
    let program = super::own_binary()?;
    let lab = LiveLab::new(program, history.to_path_buf(), guard);
    let (router, openapi) = statecraft_lab::live::router(lab.clone());
    Ok((lab, statecraft_app::Extension { router, openapi }))
}
