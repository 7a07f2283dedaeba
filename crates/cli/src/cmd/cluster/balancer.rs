//! The configurations statecraft writes for a balancer a team already runs
//! — HAProxy or nginx — in front of a cluster's instances, with the same
//! lessons as the built-in gateway: round-robin or a sticky cookie, health
//! checks, and, when a pinned instance is gone, the request sent elsewhere
//! with `X-Affinity-Lost` so that the instance answers `SESSION_LOST`
//! rather than a bare `SESSION_MISSING`. The control routes (`/_cluster`,
//! `/lab/…`, `/metrics`) go to the built-in gateway, which keeps running
//! behind the balancer as the cluster's control plane.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The balancer in front of the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Balancer {
    /// statecraft's own gateway.
    Builtin,
    /// HAProxy (Debian's `haproxy`).
    Haproxy,
    /// nginx (Debian's `nginx`, open source: no sticky cookie of its own).
    Nginx,
}

/// The cookie HAProxy and nginx pin a client with (the built-in gateway's
/// is signed; theirs names the instance, as theirs do).
pub(crate) const PIN_COOKIE: &str = "sc_upstream";

/// What a configuration is written for.
#[derive(Debug, Clone)]
pub(crate) struct Front<'a> {
    /// Where the balancer listens.
    pub(crate) listen: SocketAddr,
    /// Each instance's id and address.
    pub(crate) instances: &'a [(String, SocketAddr)],
    /// The built-in gateway, serving the control routes.
    pub(crate) control: SocketAddr,
    /// How requests are spread.
    pub(crate) spread: Spread,
    /// How often an instance's readiness is checked (HAProxy).
    pub(crate) health_interval: Duration,
}

/// How a balancer spreads requests: the built-in gateway's policies that
/// HAProxy and nginx have too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spread {
    /// Each request to the next instance.
    RoundRobin,
    /// A cookie pins a client to the instance that first answered it.
    Sticky,
    /// The instance with the fewest requests in flight.
    LeastRequest,
}

impl Spread {
    /// The spread for the gateway's `policy`; what HAProxy and nginx lack
    /// (the gateway's rendezvous hash of the session) named.
    pub(crate) fn of(policy: statecraft_gateway::Policy) -> Result<Self, String> {
        use statecraft_gateway::Policy;
        match policy {
            Policy::RoundRobin => Ok(Self::RoundRobin),
            Policy::Sticky => Ok(Self::Sticky),
            Policy::LeastRequest => Ok(Self::LeastRequest),
            Policy::Hash => Err(
                "--balance hash is the built-in gateway's (a rendezvous hash of the session \
                 cookie or the token's subject): with HAProxy or nginx use round-robin, sticky \
                 or least-request"
                    .to_owned(),
            ),
        }
    }
}

/// The control routes, answered by the built-in gateway.
const CONTROL_PREFIXES: [&str; 2] = ["/_cluster/", "/lab/"];
const CONTROL_PATHS: [&str; 2] = ["/_cluster", "/metrics"];

/// HAProxy's configuration for `front` (HAProxy 2.6).
pub(crate) fn haproxy(front: &Front<'_>) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by statecraft (`cluster --balancer haproxy`, `--print-config`; docs/deploy.md): adapt the\n\
         # addresses; keep the X-Affinity-Lost lines, which turn a lost pin into SESSION_LOST.\n\
         global\n    log stderr format raw local0 warning\n    maxconn 4096\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n\
         \x20   timeout connect 500ms\n    timeout client 30s\n    timeout server 30s\n\
         \x20   # The client's address for the instances; none for a loopback client, so that\n\
         \x20   # an operator's own page keeps its control routes.\n\
         \x20   option forwardfor except 127.0.0.0/8\n\
         \x20   # A request whose instance is down goes to another.\n\
         \x20   option redispatch\n    retries 1\n"
    );
    let _ = writeln!(
        c,
        "frontend statecraft\n    bind {}\n    # Only the balancer says an affinity was lost.\n\
         \x20   http-request del-header X-Affinity-Lost\n\
         \x20   # The instances' internal routes (session hand-over) are for peers only.\n\
         \x20   http-request deny deny_status 404 if {{ path_beg /_internal/ }}\n\
         \x20   acl control path {} \n    acl control path_beg {}\n\
         \x20   use_backend control if control\n\
         \x20   use_backend instances if {{ nbsrv(instances) gt 0 }}\n\
         \x20   default_backend instances_live\n",
        front.listen,
        CONTROL_PATHS.join(" "),
        CONTROL_PREFIXES.join(" ")
    );
    let _ = writeln!(
        c,
        "backend control\n    # The built-in gateway: /_cluster, the lab, its metrics.\n    \
         server gateway {}\n",
        front.control
    );
    backend(&mut c, front, "instances", "/readyz");
    let _ = writeln!(
        c,
        "\n# Ready while any instance is (as the built-in gateway): when no instance is\n\
         # ready — the shared store slow or down for every one — the live ones serve\n\
         # anyway, and only what needs the store answers STORE_UNAVAILABLE."
    );
    backend(&mut c, front, "instances_live", "/healthz");
    c
}

/// One backend of the instances, each checked on `check` (`/readyz`, or
/// `/healthz` for the live ones).
fn backend(c: &mut String, front: &Front<'_>, name: &str, check: &str) {
    let ms = front.health_interval.as_millis().max(100);
    let _ = writeln!(
        c,
        "backend {name}\n    balance {}\n    option httpchk GET {check}\n    \
         default-server inter {ms}ms fastinter {ms}ms downinter {ms}ms fall 1 rise 1 \
         observe layer4 error-limit 1 on-error mark-down",
        if front.spread == Spread::LeastRequest {
            "leastconn"
        } else {
            "roundrobin"
        }
    );
    let sticky = front.spread == Spread::Sticky;
    if sticky {
        let _ = writeln!(
            c,
            "    # Pinned by a cookie naming the instance; a pin to an instance that is down\n\
             \x20   # is redispatched, and the instance told which affinity was lost.\n\
             \x20   cookie {PIN_COOKIE} insert indirect nocache httponly"
        );
        for (id, _) in front.instances {
            let _ = writeln!(
                c,
                "    http-request set-header X-Affinity-Lost {id} if {{ req.cook({PIN_COOKIE}) -m str {id} }} !{{ srv_is_up({name}/{id}) }}"
            );
        }
    }
    for (id, addr) in front.instances {
        let cookie = if sticky {
            format!(" cookie {id}")
        } else {
            String::new()
        };
        let _ = writeln!(c, "    server {id} {addr} check{cookie}");
    }
}

/// nginx's configuration for `front` (nginx 1.22, open source), its pid
/// and temporary files under `dir`.
pub(crate) fn nginx(front: &Front<'_>, dir: &Path) -> String {
    let dir = dir.display();
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by statecraft (`cluster --balancer nginx`, `--print-config`; docs/deploy.md): adapt the\n\
         # addresses, and the pid and temporary paths (the running cluster's own). Open-source\n\
         # nginx has no sticky cookie and no active health check:\n\
         # the pin is a cookie naming the instance that answered, and a dead pinned\n\
         # instance is found by the failed connection (502), then retried elsewhere with\n\
         # X-Affinity-Lost.\n\
         daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log stderr warn;\n\
         events {{ worker_connections 1024; }}\n\nhttp {{\n    access_log off;\n\
         \x20   client_body_temp_path {dir}/body;\n    proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n"
    );
    let sticky = front.spread == Spread::Sticky;
    let _ = writeln!(c, "    upstream instances {{");
    if front.spread == Spread::LeastRequest {
        let _ = writeln!(c, "        least_conn;");
    }
    for (_, addr) in front.instances {
        let _ = writeln!(c, "        server {addr} max_fails=1 fail_timeout=1s;");
    }
    let _ = writeln!(
        c,
        "        keepalive 32;\n    }}\n\n\
         \x20   # The client's address for the instances; none for a loopback client, so\n\
         \x20   # that an operator's own page keeps its control routes.\n\
         \x20   map $remote_addr $statecraft_forwarded {{\n        127.0.0.1 \"\";\n        ::1 \"\";\n\
         \x20       default $proxy_add_x_forwarded_for;\n    }}"
    );
    if sticky {
        let _ = writeln!(c, "    map $cookie_{PIN_COOKIE} $statecraft_pinned {{");
        for (id, addr) in front.instances {
            let _ = writeln!(c, "        {id} {addr};");
        }
        let _ = writeln!(
            c,
            "        default instances;\n    }}\n    map $upstream_addr $statecraft_served {{"
        );
        // After a retry nginx lists every address tried: the last answered.
        for (id, addr) in front.instances {
            let pattern = addr
                .to_string()
                .replace('.', "\\.")
                .replace('[', "\\[")
                .replace(']', "\\]");
            let _ = writeln!(c, "        ~{pattern}$ {id};");
        }
        let _ = writeln!(c, "        default \"\";\n    }}");
    }
    let _ = writeln!(
        c,
        "\n    server {{\n        listen {};\n        proxy_http_version 1.1;\n\
         \x20       proxy_set_header Connection \"\";\n        proxy_set_header Host $http_host;\n\
         \x20       proxy_set_header X-Forwarded-For $statecraft_forwarded;\n\
         \x20       # Only the balancer says an affinity was lost.\n\
         \x20       proxy_set_header X-Affinity-Lost \"\";\n\
         \x20       proxy_connect_timeout 500ms;\n\n\
         \x20       # The instances' internal routes (session hand-over) are for peers only.\n\
         \x20       location /_internal/ {{ return 404; }}\n\
         \x20       location = /_cluster {{ proxy_pass http://{ctl}; }}\n\
         \x20       location = /metrics {{ proxy_pass http://{ctl}; }}\n\
         \x20       location /_cluster/ {{ proxy_pass http://{ctl}; }}\n\
         \x20       # A run's live events stream as they come.\n\
         \x20       location /lab/ {{ proxy_pass http://{ctl}; proxy_buffering off; }}\n",
        front.listen,
        ctl = front.control
    );
    if sticky {
        let pin = format!(
            "add_header Set-Cookie \"{PIN_COOKIE}=$statecraft_served; Path=/; HttpOnly; SameSite=Lax\" always;"
        );
        let _ = writeln!(
            c,
            "        location / {{\n            proxy_pass http://$statecraft_pinned;\n\
             \x20           {pin}\n            error_page 502 504 = @repin;\n        }}\n\
             \x20       # The pinned instance did not answer: another one, told the pin is lost.\n\
             \x20       location @repin {{\n\
             \x20           proxy_set_header X-Affinity-Lost $cookie_{PIN_COOKIE};\n\
             \x20           proxy_pass http://instances;\n            {pin}\n        }}"
        );
    } else {
        let _ = writeln!(c, "        location / {{ proxy_pass http://instances; }}");
    }
    let _ = writeln!(c, "    }}\n}}");
    c
}

#[cfg(test)]
mod tests;
