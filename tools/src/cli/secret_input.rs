//! Secrets given to `bridgectl`: read from a file (`-` for standard input) or an environment
//! variable, never from a command-line argument, which `ps` and shell history would show.

use std::io::Read as _;
use std::path::Path;

use sinch_bridge::protocol::SecretString;

use super::CliError;

/// The secret in `file` (trailing line breaks dropped), else in `env_var`; `None` when neither
/// is given.
pub fn read_secret(file: Option<&Path>, env_var: &str, what: &str) -> Result<Option<SecretString>, CliError> {
    let text = match file {
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::new(format!("cannot read the {what} from standard input: {e}")))?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read the {what} from {}: {e}", path.display())))?,
        None => match std::env::var(env_var) {
            Ok(value) => value,
            Err(_) => return Ok(None),
        },
    };
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(CliError::new(format!("the {what} is empty")));
    }
    Ok(Some(SecretString::new(text)))
}

/// As [`read_secret`], refusing to go on without one.
pub fn require_secret(file: Option<&Path>, env_var: &str, what: &str, flag: &str) -> Result<SecretString, CliError> {
    read_secret(file, env_var, what)?.ok_or_else(|| {
        CliError::new(format!(
            "give the {what} with {flag} FILE (- for standard input) or {env_var}"
        ))
    })
}
