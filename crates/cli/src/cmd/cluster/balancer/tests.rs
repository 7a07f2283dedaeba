use std::net::SocketAddr;
use std::time::Duration;

use super::{Front, Spread, haproxy, nginx};

fn instances() -> Vec<(String, SocketAddr)> {
    (1..=3)
        .map(|n| {
            let addr: SocketAddr = format!("127.0.0.1:4100{n}")
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
            (format!("server-{n}"), addr)
        })
        .collect()
}

fn front(instances: &[(String, SocketAddr)], sticky: bool) -> Front<'_> {
    let spread = if sticky {
        Spread::Sticky
    } else {
        Spread::RoundRobin
    };
    Front {
        listen: ([127, 0, 0, 1], 8080).into(),
        instances,
        control: ([127, 0, 0, 1], 41000).into(),
        spread,
        health_interval: Duration::from_millis(250),
    }
}

#[test]
fn haproxy_pins_with_a_cookie_and_says_when_a_pin_is_lost() {
    let all = instances();
    let sticky = haproxy(&front(&all, true));
    for line in [
        "bind 127.0.0.1:8080",
        "http-request del-header X-Affinity-Lost",
        "server gateway 127.0.0.1:41000",
        "option httpchk GET /readyz",
        "default-server inter 250ms",
        "cookie sc_upstream insert indirect nocache httponly",
        "http-request set-header X-Affinity-Lost server-2 if { req.cook(sc_upstream) -m str server-2 } !{ srv_is_up(instances/server-2) }",
        "server server-3 127.0.0.1:41003 check cookie server-3",
        "option redispatch",
        "option forwardfor except 127.0.0.0/8",
    ] {
        assert!(sticky.contains(line), "no {line:?} in\n{sticky}");
    }
    let spread = haproxy(&front(&all, false));
    assert!(
        !spread.contains("cookie sc_upstream") && !spread.contains("set-header X-Affinity-Lost")
    );
    assert!(
        spread.contains("server server-1 127.0.0.1:41001 check\n"),
        "{spread}"
    );
}

#[test]
fn nginx_pins_with_a_cookie_it_sets_and_retries_a_dead_pin_elsewhere() {
    let all = instances();
    let dir = std::path::Path::new("/tmp/sc-nginx");
    let sticky = nginx(&front(&all, true), dir);
    for line in [
        "listen 127.0.0.1:8080;",
        "pid /tmp/sc-nginx/nginx.pid;",
        "server 127.0.0.1:41002 max_fails=1 fail_timeout=1s;",
        "map $cookie_sc_upstream $statecraft_pinned {",
        "server-2 127.0.0.1:41002;",
        "~127\\.0\\.0\\.1:41002$ server-2;",
        "proxy_pass http://$statecraft_pinned;",
        "error_page 502 504 = @repin;",
        "proxy_set_header X-Affinity-Lost $cookie_sc_upstream;",
        "proxy_set_header X-Affinity-Lost \"\";",
        "location /lab/ { proxy_pass http://127.0.0.1:41000; proxy_buffering off; }",
    ] {
        assert!(sticky.contains(line), "no {line:?} in\n{sticky}");
    }
    let spread = nginx(&front(&all, false), dir);
    assert!(
        spread.contains("location / { proxy_pass http://instances; }"),
        "{spread}"
    );
    assert!(!spread.contains("$statecraft_pinned"));
}

/// The configurations are the real programs' own: `haproxy -c` and
/// `nginx -t` accept them (where installed; `scripts/test` installs both).
#[test]
fn haproxy_and_nginx_accept_the_configurations() {
    let all = instances();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for sticky in [false, true] {
        if let Some(haproxy_bin) =
            statecraft_testkit::program("haproxy", "the balancer configuration test")
        {
            let file = dir.path().join("haproxy.cfg");
            std::fs::write(&file, haproxy(&front(&all, sticky))).unwrap_or_else(|e| panic!("{e}"));
            let check = std::process::Command::new(haproxy_bin)
                .args(["-c", "-q", "-f"])
                .arg(&file)
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                check.status.success(),
                "haproxy -c: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
        if let Some(nginx_bin) =
            statecraft_testkit::program("nginx", "the balancer configuration test")
        {
            let file = dir.path().join("nginx.conf");
            std::fs::write(&file, nginx(&front(&all, sticky), dir.path()))
                .unwrap_or_else(|e| panic!("{e}"));
            let check = std::process::Command::new(nginx_bin)
                .args(["-t", "-q", "-e", "stderr", "-p"])
                .arg(dir.path())
                .arg("-c")
                .arg(&file)
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                check.status.success(),
                "nginx -t: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
}
