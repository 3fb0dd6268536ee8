//! pwgate's own strength estimator: a zxcvbn-style guess count, fast
//! enough for the latency budget of a password decision.
//!
//! The idea is zxcvbn's (Wheeler, USENIX Security 2016); the code is
//! pwgate's. The estimate finds every place where a guesser would find
//! something ([`matching`]):
//!
//! - ranked dictionary words (common passwords, English words, first names,
//!   surnames, film and TV words; the rank is the guess count), spelled
//!   forwards or backwards (×2), capitalised (×2 for a first, last or all
//!   capitals, more for mixed case) or in leetspeak (`p@ssw0rd`, a small
//!   factor per substitution);
//! - the account's and organisation's names, as words of rank 1;
//! - keyboard runs on QWERTY, QWERTZ, AZERTY and a numeric keypad, priced by
//!   length, turns and shifted keys;
//! - sequences (`abcd`, `1357`, `zyx`), repeated blocks (`abcabc`, `aaaa`,
//!   priced as the block's own estimate times the copies), years and dates.
//!
//! Then [`scoring`] finds the cheapest segmentation of the whole password
//! into matches and runs of characters guessed one by one (10 per
//! character), by dynamic programming over positions. The score is
//! zxcvbn's: 0 under 10^3 guesses, 1 under 10^6, 2 under 10^8, 3 under
//! 10^10, 4 from there.
//!
//! Bounds: at most [`HARD_MAX_CHARS`] characters (or the caller's lower
//! limit) are estimated; each character beyond counts as 10 guesses, like
//! a run of characters guessed one by one. Words are at most 32 characters
//! (one match per start and length is kept), the names at most 16 of 64
//! characters each, repeats recurse at most [`MAX_DEPTH`] levels, and the
//! segmentation tries at most 6 pieces (exact below 10^20 guesses). The
//! work is linear in the characters times the matches per character, and
//! the tests bound it on adversarial input (a few tens of thousands of
//! steps for 128 characters, about 100 µs at worst; typical passwords take
//! 2 to 5 µs).
//!
//! Secrets: the estimate copies the password's characters into two buffers
//! (as typed after NFKC, and lower case) and the leetspeak readings of
//! words into a small array; all are wiped before it returns, as is a
//! non-ASCII password's NFKC form. What is derived from it is wiped too:
//! the matches and the segmentation table (a word's rank can name the
//! word), the dates found, the repeat and capitalisation counts. Copies the
//! compiler makes in registers and on the stack are beyond reach.

mod dictionary;
mod keyboard;
mod matching;
mod scoring;

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Most characters ever estimated; beyond, each counts as 10 guesses.
pub const HARD_MAX_CHARS: usize = 128;

/// Names (account, organisation) used as words: at most this many...
const MAX_INPUTS: usize = 16;
/// ...of at most this many characters.
pub(crate) const MAX_INPUT_CHARS: usize = 64;

/// Levels of repeated blocks estimated inside repeated blocks.
pub const MAX_DEPTH: u8 = 3;

/// The result of an estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// log10 of the guesses a guesser would need.
    pub guesses_log10: f64,
    /// 0 (too guessable) to 4 (very unguessable), zxcvbn's scale.
    pub score: u8,
    /// Characters estimated in full.
    pub estimated_chars: usize,
    /// Characters beyond the limit, counted as 10 guesses each.
    pub tail_chars: usize,
}

/// Work done by one estimate, for the tests' bounds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Work {
    /// Trie steps, comparisons and DP cells.
    pub steps: u64,
    /// Matches found.
    pub matches: u64,
}

/// What the matchers need besides the password.
pub(crate) struct Context {
    /// The names, NFKC and lower case, as characters.
    inputs: Vec<Vec<char>>,
    /// Years are priced by their distance to this one (the current year).
    year: u32,
}

/// zxcvbn's score for a guess count: below 10^3, 10^6, 10^8, 10^10 (each
/// plus 5) gives 0, 1, 2, 3; more gives 4.
pub fn score_of(guesses_log10: f64) -> u8 {
    const BOUNDS: [f64; 4] = [1e3 + 5.0, 1e6 + 5.0, 1e8 + 5.0, 1e10 + 5.0];
    BOUNDS
        .iter()
        .position(|&b| guesses_log10 < b.log10())
        .map_or(4, |p| p as u8)
}

/// Loads the word lists (about 10 ms, once), so that the first estimate
/// does not pay for it.
pub fn preload() {
    let _ = dictionary::words();
    let _ = keyboard::layouts();
}

/// Estimates `password`, with `names` (the account's and organisation's)
/// as extra words, over its first `max_chars` characters (at most
/// [`HARD_MAX_CHARS`]).
pub fn estimate(password: &str, names: &[&str], max_chars: usize) -> Estimate {
    estimate_counting(password, names, max_chars).0
}

/// [`estimate`], with the work it took.
pub fn estimate_counting(password: &str, names: &[&str], max_chars: usize) -> (Estimate, Work) {
    let limit = max_chars.clamp(1, HARD_MAX_CHARS);
    let normalized: Option<Zeroizing<String>> = (!password.is_ascii()).then(|| nfkc(password));
    let text = normalized.as_ref().map_or(password, |s| s.as_str());
    let total = text.chars().count();
    let n = total.min(limit);
    let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(2 * n));
    chars.extend(text.chars().take(n));
    chars.extend(text.chars().take(n).map(lower));
    let (orig, low) = chars.split_at(n);
    let ctx = Context {
        inputs: names
            .iter()
            .filter(|s| !s.is_empty())
            .take(MAX_INPUTS)
            .map(|s| s.nfkc().map(lower).take(MAX_INPUT_CHARS).collect())
            .collect(),
        year: current_year(),
    };
    let mut work = Work::default();
    let head = if n == 0 {
        0.0
    } else {
        guesses_log10(orig, low, &ctx, 0, &mut work)
    };
    let guesses_log10 = head + (total - n) as f64;
    let estimate = Estimate {
        guesses_log10,
        score: if total == 0 {
            0
        } else {
            score_of(guesses_log10)
        },
        estimated_chars: n,
        tail_chars: total - n,
    };
    (estimate, work)
}

/// NFKC of `text` in a buffer grown by hand, so that no outgrown copy is
/// left unwiped.
fn nfkc(text: &str) -> Zeroizing<String> {
    crate::policy::normalize::wiped_string(text.nfkc(), text.len() + 16)
}

/// One character in lower case, keeping positions: a character whose lower
/// case is several characters stays as it is.
fn lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// log10 of the guesses for `orig` (with `low` its lower case).
fn guesses_log10(orig: &[char], low: &[char], ctx: &Context, depth: u8, work: &mut Work) -> f64 {
    let mut matches = {
        let mut matcher = matching::Matcher::new(orig, low, ctx, depth, &mut *work);
        matcher.run();
        matcher.out
    };
    scoring::minimum_log10(orig.len(), &mut matches, work)
}

/// The current year (UTC), from the system clock; 2025 if it is unusable.
fn current_year() -> u32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(20_089, |d| d.as_secs() / 86_400) as i64;
    // Days since 1970-01-01 to a civil year (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe + era * 400 + i64::from(mp >= 10);
    u32::try_from(year).unwrap_or(2025)
}

#[cfg(test)]
mod tests;
