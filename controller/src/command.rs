//! The commands that change the controller's state, and their results.
//!
//! Every change to durable cluster state is one [`Command`] applied by the
//! [`StateMachine`](crate::StateMachine). Commands are plain data with a
//! stable serde encoding: the same bytes will be the entries of the Raft
//! log, so anything non-deterministic (the time, a digest) is decided by
//! whoever proposes the command and carried inside it.

use serde::{Deserialize, Serialize};

/// A change to the controller's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Record a component whose blob is already stored, optionally binding a
    /// name to it (a name bound to another digest moves to this one).
    DeployComponent {
        /// The component's record.
        component: ComponentRecord,
        /// `name` or `name@version` to bind, if any.
        name: Option<String>,
    },
    /// Remove a name (and the component once no name is left), or, given a
    /// digest, the component with all its names.
    DeleteComponent {
        /// A name or a digest.
        reference: String,
    },
}

/// What the controller knows about a deployed component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Size of the blob.
    pub size_bytes: u64,
    /// Names bound to it, sorted. Kept in the record (rather than found by
    /// scanning the name index) so a command's writes fit one transaction.
    #[serde(default)]
    pub names: Vec<String>,
    /// Callable exports as `(name, signature)`.
    pub functions: Vec<(String, String)>,
    /// When it was first deployed, in Unix milliseconds.
    pub deployed_at_ms: u64,
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// A component was recorded; `existed` when its digest was already known.
    Deployed {
        /// Whether the digest was already deployed.
        existed: bool,
    },
    /// A name or component was removed; `removed_digest` is set when the
    /// component itself went (its blob may be deleted).
    Deleted {
        /// The digest whose last reference went away, if any.
        removed_digest: Option<String>,
    },
}

/// Checks a component name: `name` or `name@version`, lowercase letters,
/// digits, `-`, `_` and `.` in each part, starting with a letter.
pub fn validate_name(name: &str) -> Result<(), String> {
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            })
    };
    if !part_ok(base) || !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "invalid component name `{name}`: use lowercase letters, digits, `-`, `_` and `.`, starting with a letter"
        ));
    }
    if let Some(v) = version
        && !part_ok(v)
    {
        return Err(format!("invalid version in component name `{name}`"));
    }
    if name.starts_with("sha256:") {
        return Err("a name cannot look like a digest".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("hello").is_ok());
        assert!(validate_name("pi@1.0.0").is_ok());
        assert!(validate_name("Hello").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("x@").is_err());
        assert!(validate_name("9lives").is_err());
    }

    /// The encoding is the future Raft log format: changing it silently
    /// would make old logs unreadable, so it is pinned here.
    #[test]
    fn command_encoding_is_stable() {
        let cmd = Command::DeleteComponent {
            reference: "hello".into(),
        };
        assert_eq!(
            serde_json::to_string(&cmd).unwrap(),
            r#"{"command":"delete_component","reference":"hello"}"#
        );
    }
}
