//! What a refused command line prints: clap's whole message (the problem,
//! the argument it concerns, a similar flag for a typo, the usage), with any
//! value that may hold a secret hidden, and a note when the value came from
//! a `STATECRAFT_*` variable rather than the command line.

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue};

/// The text to print for `err`, ending in a newline.
pub(crate) fn explain<C: CommandFactory>(err: &clap::Error) -> String {
    let command = C::command();
    let long = invalid_arg(err);
    let arg = long.as_deref().and_then(|long| {
        command
            .get_subcommands()
            .flat_map(clap::Command::get_arguments)
            .chain(command.get_arguments())
            .find(|a| a.get_long() == Some(long))
            .cloned()
    });
    let mut text = err.render().to_string();
    if let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue)
        && !value.is_empty()
    {
        let secret = arg.as_ref().is_some_and(clap::Arg::is_hide_env_values_set);
        text = text.replace(value.as_str(), &masked(value, secret));
    }
    let mut lines = text.lines();
    let mut out = format!(
        "{}\n",
        lines.next().unwrap_or("error: invalid command line")
    );
    if let Some(env) = long
        .as_deref()
        .zip(arg.as_ref())
        .and_then(|(long, arg)| from_environment(long, arg))
    {
        out.push_str(&format!(
            "note: the value came from the environment variable {env}: fix or unset it\n"
        ));
    }
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The long name of the argument the error concerns (`session-store`).
fn invalid_arg(err: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    Some(long.to_owned())
}

/// `value` as it may be shown: a secret flag's value not at all, a URL's
/// credentials (`user:password@`) masked, anything else as given.
fn masked(value: &str, secret: bool) -> String {
    if secret {
        return "<hidden>".to_owned();
    }
    match value.rsplit_once('@') {
        Some((before, host)) => {
            let scheme = before.split_once(':').map_or("", |(scheme, _)| scheme);
            format!("{scheme}:***@{host}")
        }
        None => value.to_owned(),
    }
}

/// The variable the refused value came from, when it was not given on the
/// command line.
fn from_environment(long: &str, arg: &clap::Arg) -> Option<String> {
    let on_command_line =
        std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    if on_command_line {
        return None;
    }
    let env = arg.get_env()?.to_string_lossy().into_owned();
    std::env::var_os(&env).map(|_| env)
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn credentials_and_secret_values_are_never_shown() {
        assert_eq!(
            masked("redis://u:hunter2@h:6379", false),
            "redis:***@h:6379"
        );
        assert_eq!(masked("redis:/u:hunter2@h", false), "redis:***@h");
        assert_eq!(masked("mysql://u:p@w@h/db", false), "mysql:***@h/db");
        assert_eq!(masked("0123456789abcdef", true), "<hidden>");
        assert_eq!(masked("soon", false), "soon");
    }
}
