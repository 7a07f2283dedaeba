//! The processes a cluster runs: learning a child's port from its log, and
//! asking it to stop.

use tokio::process::Child;

/// The port of a "listening on http://HOST:PORT" log line (human or JSON
/// format), as `statecraft` commands print it when ready.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Asks a child to stop (SIGTERM), so it finishes its requests.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::listening_port;

    #[test]
    fn the_port_is_read_from_human_and_json_log_lines() {
        assert_eq!(
            listening_port("2026 INFO statecraft: listening on http://127.0.0.1:41234 instance=x"),
            Some(41234)
        );
        assert_eq!(
            listening_port(r#"{"fields":{"message":"listening on http://127.0.0.1:8080"}}"#),
            Some(8080)
        );
        assert_eq!(listening_port("nothing here"), None);
    }
}
