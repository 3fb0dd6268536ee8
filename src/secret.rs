//! Types that hold secrets and refuse to show them.
//!
//! A [`Password`] owns its bytes in a zeroizing buffer that is wiped when the
//! value is dropped, and its `Debug` output is a fixed placeholder, so a
//! password cannot reach a log line, an error message or a panic message by
//! accident. There is deliberately no `Display` implementation.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// A candidate or previous password, wiped from memory on drop.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes ownership of the string's heap buffer (no copy is made).
    pub fn new(value: String) -> Self {
        Password(Zeroizing::new(value))
    }

    /// Decodes an AD `unicodePwd` value: UTF-16LE of the password enclosed in
    /// double quotes. Returns `None` for an odd length, invalid UTF-16 or a
    /// value without the quotes; the intermediate buffer is wiped either way.
    pub fn from_unicode_pwd(value: &[u8]) -> Option<Self> {
        if value.len() % 2 != 0 {
            return None;
        }
        let mut units: Vec<u16> = value
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        let decoded = String::from_utf16(&units).ok().map(Password::new);
        units.zeroize();
        let quoted = decoded?;
        let inner = quoted.expose();
        if inner.len() < 2 || !inner.starts_with('"') || !inner.ends_with('"') {
            return None;
        }
        Some(Password::new(inner[1..inner.len() - 1].to_owned()))
    }

    /// Decodes a `userPassword` or RFC 3062 value, which must be UTF-8.
    pub fn from_utf8(value: &[u8]) -> Option<Self> {
        std::str::from_utf8(value)
            .ok()
            .map(|s| Password::new(s.to_owned()))
    }

    /// The clear text, for the policy to inspect. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Number of Unicode scalar values (not bytes).
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn debug_output_never_shows_the_value() {
        let p = Password::new("hunter2-secret".into());
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert!(!format!("{:?}", Some(&p)).contains("hunter2"));
    }

    #[test]
    fn unicode_pwd_requires_quotes_and_utf16le() {
        let p = Password::from_unicode_pwd(&utf16le("\"Sécret-1\"")).expect("valid");
        assert_eq!(p.expose(), "Sécret-1");
        assert!(Password::from_unicode_pwd(&utf16le("NoQuotes")).is_none());
        assert!(Password::from_unicode_pwd(&utf16le("\"")).is_none());
        assert!(Password::from_unicode_pwd(&[0x22, 0x00, 0x41]).is_none());
        // An unpaired surrogate is not valid UTF-16.
        assert!(Password::from_unicode_pwd(&[0x22, 0, 0x00, 0xD8, 0x22, 0]).is_none());
    }

    #[test]
    fn empty_quoted_unicode_pwd_is_an_empty_password() {
        let p = Password::from_unicode_pwd(&utf16le("\"\"")).expect("valid");
        assert_eq!(p.char_count(), 0);
    }
}
