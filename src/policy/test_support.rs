//! Helpers for the policy's property-style tests (compiled for tests only).

/// A small deterministic xorshift generator: the same seed gives the same
/// inputs on every run and machine.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A string of up to `max_len` characters drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[char], max_len: usize) -> String {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

/// Whether `policy` accepts `candidate` as an administrator's reset of an
/// account with no names: the words and patterns alone decide.
pub fn accepts(policy: &super::Policy, candidate: &str) -> bool {
    let pw = crate::secret::Password::new(candidate.to_owned());
    policy
        .evaluate(&super::PasswordChange {
            kind: super::ChangeKind::Reset,
            new_password: &pw,
            old_password: None,
            account_names: &[],
            organisation_names: &[],
            actor_is_target: false,
        })
        .is_accept()
}
