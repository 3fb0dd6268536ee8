//! Configuration errors, and where in the file they point: `pwgate.toml:7:
//! policy.min_length: must be at least 1`.
//!
//! Every section's validation builds its errors here, so that a value
//! from the file is blamed on its key and line, and a value from a flag on
//! the flag alone.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{}: {}", file.display(), line, self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The line where `section.key` is written in the file, for errors about
/// values that parse but are wrong. Works for `[section]` tables (with
/// comments), dotted keys (`section.key = ...`) and quoted keys alike.
pub(super) fn line_of(source: &str, section: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let table = doc.get(section)?;
    let span = table
        .get(key)
        .and_then(|item| item.span())
        .or_else(|| table.span())?;
    // An item's span covers its value; the key sits on the same line for
    // every layout the parser accepts except multi-line arrays, where the
    // value starts on the key's line too.
    Some(source[..span.start.min(source.len())].matches('\n').count() + 1)
}

/// The configuration file's text (empty without a file) and path: what
/// errors point into, and what relative paths in the file are relative to.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    pub text: &'a str,
    pub path: Option<&'a Path>,
}

impl Source<'_> {
    /// An error about `section.key`: with the file, the line and the key
    /// when the value came from the file, the message alone when it came
    /// from a flag.
    pub fn at(&self, section: &str, key: &str, from_file: bool, message: String) -> ConfigError {
        ConfigError {
            file: self.path.filter(|_| from_file).map(Path::to_owned),
            line: if from_file {
                line_of(self.text, section, key)
            } else {
                None
            },
            message: if from_file {
                format!("{section}.{key}: {message}")
            } else {
                message
            },
        }
    }

    /// A path written in the file: a relative one is relative to the
    /// file's directory.
    pub fn resolve(&self, p: PathBuf) -> PathBuf {
        let base = self.path.and_then(Path::parent).unwrap_or(Path::new(""));
        if p.is_relative() {
            base.join(p)
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn semantic_errors_name_the_key_and_line() {
        let err = load_str("[upstream]\nurls = [\"ftp://h\"]\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("ldap:// or ldaps://"), "{err}");
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:4: policy.min_length: must be at least 1"
        );
    }

    #[test]
    fn errors_blame_the_key_the_user_wrote() {
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = 300\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:4: policy.min_length: must be at most max_length (256)"
        );
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[log]\nlevel = \"loud=[\"\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(
            err.message.starts_with("log.level: invalid log level"),
            "{err}"
        );
    }
}
