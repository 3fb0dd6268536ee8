//! The matchers: every place in the password where a guesser would find a
//! word or a pattern, each with its guess count (as log10).
//!
//! All matchers work on two views of the (capped) password, character by
//! character: `orig` as typed (after NFKC) for case, keyboard, sequence,
//! repeat and date matches, and `low`, its one-to-one lower case, for words.
//! Positions are character indices; a match covers `start..end`.

use zeroize::{Zeroize, Zeroizing};

use super::dictionary::{self, MAX_WORD, ROOT};
use super::keyboard;
use super::{Context, Work};

/// log10 of the smallest guess count of a match shorter than the password:
/// 10 for one character, 50 for more (as in zxcvbn), so that a match never
/// looks cheaper than guessing its characters.
const MIN_SINGLE: f64 = 1.0;
const MIN_MULTI: f64 = 1.698_970_004_336_018_8; // log10(50)

/// Upper bound on the matches kept for one password (far above what 128
/// characters can produce; see the tests).
const MAX_MATCHES: usize = 8192;

/// Largest step between characters of a sequence (`aceg`, `9753`).
const MAX_DELTA: i64 = 5;

/// Years that count as years: 1000 to 2050 in dates, 1900 to 2099 alone.
const DATE_MIN_YEAR: u32 = 1000;
const DATE_MAX_YEAR: u32 = 2050;
/// Smallest span of years a guesser tries around the reference year.
const MIN_YEAR_SPACE: f64 = 20.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Match {
    pub(super) start: usize,
    pub(super) end: usize,
    /// log10 of the guesses, floored as above.
    pub(super) log10: f64,
}

/// Pushes `x`, growing the buffer by hand so that the old one is wiped
/// (a plain `Vec` would free it as it is).
pub(super) fn push_wiped<T: Zeroize + Copy>(v: &mut Zeroizing<Vec<T>>, x: T) {
    if v.len() == v.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity((2 * v.capacity()).max(16)));
        bigger.extend_from_slice(v);
        *v = bigger;
    }
    v.push(x);
}

/// Matches say where words are and how common (a rank can name the word),
/// so they are wiped like the password.
impl Zeroize for Match {
    fn zeroize(&mut self) {
        self.start.zeroize();
        self.end.zeroize();
        self.log10.zeroize();
    }
}

/// The letters a leetspeak character may stand for.
pub(super) fn leet_readings(c: char) -> &'static [u8] {
    match c {
        '4' | '@' => b"a",
        '8' => b"b",
        '(' | '{' | '[' | '<' => b"c",
        '3' => b"e",
        '6' | '9' => b"g",
        '1' | '|' => b"il",
        '!' => b"i",
        '7' => b"lt",
        '0' => b"o",
        '$' | '5' => b"s",
        '+' => b"t",
        '%' => b"x",
        '2' => b"z",
        _ => b"",
    }
}

fn n_choose_k(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Ways to place up to `min(a, b)` of `a` marked among `a + b` positions:
/// sum over i of C(a + b, i) for i in 1..=min(a, b).
fn mixed_ways(a: usize, b: usize) -> f64 {
    (1..=a.min(b)).map(|i| n_choose_k(a + b, i)).sum()
}

/// log10 of the capitalisations a guesser tries for a word with `upper`
/// capitals and `lower` small letters: 1 for all lower case, 2 for a
/// single capital first or last, or for all capitals, otherwise every way
/// to capitalise that many letters.
fn case_variations(upper: usize, lower: usize, first_or_last_upper: bool) -> f64 {
    if upper == 0 {
        return 0.0;
    }
    if (upper == 1 && first_or_last_upper) || lower == 0 {
        return std::f64::consts::LOG10_2;
    }
    mixed_ways(upper, lower).max(1.0).log10()
}

/// log10 of the leetspeak variations of a word: for each substitution used
/// (`4` for `a`), every way to mix substituted and plain letters; a word
/// with only substituted letters doubles.
fn leet_variations(low: &[char], read: &[char]) -> f64 {
    let mut total = 0.0;
    let mut seen: [(char, char); 8] = [('\0', '\0'); 8];
    let mut seen_len = 0;
    for (&c, &r) in low.iter().zip(read) {
        if c == r || seen[..seen_len].contains(&(c, r)) {
            continue;
        }
        if seen_len < seen.len() {
            seen[seen_len] = (c, r);
            seen_len += 1;
        }
        let subbed = low.iter().filter(|&&x| x == c).count();
        let plain = low.iter().filter(|&&x| x == r).count();
        total += if plain == 0 {
            std::f64::consts::LOG10_2
        } else {
            mixed_ways(subbed, plain).max(1.0).log10()
        };
    }
    total
}

/// The cheapest words found from one start, by length: the best rank of a
/// plain word, and the log10 guesses of the best leetspeak word.
pub(super) struct Best {
    rank: [u16; MAX_WORD + 1],
    leet: [f64; MAX_WORD + 1],
}

/// Collects the matches of one password (or of a repeated block of it).
pub(super) struct Matcher<'a> {
    orig: &'a [char],
    low: &'a [char],
    ctx: &'a Context,
    depth: u8,
    work: &'a mut Work,
    /// Capitals and small letters before each position (prefix counts).
    case: Zeroizing<Vec<(u16, u16)>>,
    pub(super) out: Zeroizing<Vec<Match>>,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(
        orig: &'a [char],
        low: &'a [char],
        ctx: &'a Context,
        depth: u8,
        work: &'a mut Work,
    ) -> Matcher<'a> {
        let mut case = Zeroizing::new(Vec::with_capacity(orig.len() + 1));
        let (mut upper, mut lower) = (0u16, 0u16);
        case.push((0, 0));
        for c in orig {
            upper += u16::from(c.is_uppercase());
            lower += u16::from(c.is_lowercase());
            case.push((upper, lower));
        }
        Matcher {
            orig,
            low,
            ctx,
            depth,
            work,
            case,
            out: Zeroizing::new(Vec::with_capacity(4 * orig.len())),
        }
    }

    /// [`case_variations`] of the word at `start..end`.
    fn case_of(&self, start: usize, end: usize) -> f64 {
        let (u0, l0) = self.case[start];
        let (u1, l1) = self.case[end];
        let edge = self.orig[start].is_uppercase() || self.orig[end - 1].is_uppercase();
        case_variations(usize::from(u1 - u0), usize::from(l1 - l0), edge)
    }

    fn push(&mut self, start: usize, end: usize, log10: f64) {
        let len = end - start;
        let floor = if len == self.orig.len() {
            0.0
        } else if len == 1 {
            MIN_SINGLE
        } else {
            MIN_MULTI
        };
        if self.out.len() < MAX_MATCHES && log10.is_finite() {
            let m = Match {
                start,
                end,
                log10: log10.max(floor),
            };
            push_wiped(&mut self.out, m);
            self.work.matches += 1;
        }
    }

    pub(super) fn run(&mut self) {
        self.words();
        self.reversed_words();
        self.user_inputs();
        self.spatial();
        self.repeats();
        self.sequences();
        self.years();
        self.dates();
    }

    // ---- dictionary words, plain and in leetspeak ---------------------------

    fn words(&mut self) {
        let trie = dictionary::words();
        let mut read = ['\0'; MAX_WORD];
        let mut best = Best {
            rank: [u16::MAX; MAX_WORD + 1],
            leet: [f64::INFINITY; MAX_WORD + 1],
        };
        for start in 0..self.low.len() {
            best.rank.fill(u16::MAX);
            best.leet.fill(f64::INFINITY);
            self.walk(trie, start, start, ROOT, 0, &mut read, &mut best);
            // Every word of a span has the span's capitalisation.
            for len in 1..=MAX_WORD.min(self.low.len() - start) {
                let plain = match best.rank[len] {
                    u16::MAX => f64::INFINITY,
                    r => f64::from(r).log10(),
                };
                let g = plain.min(best.leet[len]);
                if g.is_finite() {
                    let g = g + self.case_of(start, start + len);
                    self.push(start, start + len, g);
                }
            }
        }
        read.zeroize();
        best.rank.zeroize();
        best.leet.zeroize();
    }

    /// Depth-first walk of the trie from `start`, reading each character as
    /// itself and as the letters it may stand for in leetspeak.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        trie: &dictionary::Trie,
        start: usize,
        pos: usize,
        node: u32,
        subs: usize,
        read: &mut [char; MAX_WORD],
        best: &mut Best,
    ) {
        let Some(&c) = self.low.get(pos) else { return };
        if pos - start >= MAX_WORD {
            return;
        }
        // The character itself (words are ASCII), then its leetspeak readings.
        let plain = c.is_ascii().then_some(c as u8);
        let readings = leet_readings(c);
        for k in 0..usize::from(plain.is_some()) + readings.len() {
            let (byte, subbed) = match plain {
                Some(p) if k == 0 => (p, 0),
                Some(_) => (readings[k - 1], 1),
                None => (readings[k], 1),
            };
            self.work.steps += 1;
            let Some(child) = trie.child(node, byte) else {
                continue;
            };
            read[pos - start] = char::from(byte);
            let subs = subs + subbed;
            let len = pos + 1 - start;
            if let Some(rank) = trie.rank(child) {
                if subs == 0 {
                    best.rank[len] = best.rank[len].min(rank);
                } else if len > 1 && rank < best.rank[len] {
                    // A one-character word in leetspeak is no word; a
                    // leetspeak word only counts when cheaper than a plain one.
                    let g = f64::from(rank).log10()
                        + leet_variations(&self.low[start..=pos], &read[..len]);
                    best.leet[len] = best.leet[len].min(g);
                }
            }
            if trie.has_children(child) {
                self.walk(trie, start, pos + 1, child, subs, read, best);
            }
        }
    }

    /// Words spelled backwards (`drowssap`): twice the word's guesses.
    fn reversed_words(&mut self) {
        let trie = dictionary::words();
        for end in (1..=self.low.len()).rev() {
            let mut node = ROOT;
            for pos in (end.saturating_sub(MAX_WORD)..end).rev() {
                let c = self.low[pos];
                self.work.steps += 1;
                let next = if c.is_ascii() {
                    trie.child(node, c as u8)
                } else {
                    None
                };
                let Some(next) = next else { break };
                node = next;
                if let Some(rank) = trie.rank(node) {
                    let g = f64::from(rank).log10()
                        + self.case_of(pos, end)
                        + std::f64::consts::LOG10_2;
                    self.push(pos, end, g);
                }
            }
        }
    }

    /// The account's and organisation's names: words of rank 1, forwards,
    /// backwards and in leetspeak.
    fn user_inputs(&mut self) {
        let ctx = self.ctx;
        let n = self.low.len();
        let mut read = ['\0'; super::MAX_INPUT_CHARS];
        for input in &ctx.inputs {
            let len = input.len();
            if len == 0 || len > n {
                continue;
            }
            for start in 0..=n - len {
                let token = &self.low[start..start + len];
                // Forwards, with leetspeak.
                let mut subs = 0;
                let mut ok = true;
                for (k, (&c, &want)) in token.iter().zip(input).enumerate() {
                    self.work.steps += 1;
                    if c == want {
                        read[k] = c;
                    } else if want.is_ascii() && leet_readings(c).contains(&(want as u8)) {
                        read[k] = want;
                        subs += 1;
                    } else {
                        ok = false;
                        break;
                    }
                }
                if ok && (subs == 0 || len > 1) {
                    let mut g = self.case_of(start, start + len);
                    if subs > 0 {
                        g += leet_variations(token, &read[..len]);
                    }
                    self.push(start, start + len, g);
                }
                // Backwards.
                if len > 1 && token.iter().rev().zip(input).all(|(a, b)| a == b) {
                    self.work.steps += len as u64;
                    let g = self.case_of(start, start + len) + std::f64::consts::LOG10_2;
                    self.push(start, start + len, g);
                }
            }
        }
        read.zeroize();
    }

    // ---- keyboard runs ------------------------------------------------------

    /// Runs of three or more characters where each key touches the previous
    /// one, on each layout; a run ends where the next key does not touch.
    fn spatial(&mut self) {
        let n = self.orig.len();
        for layout in keyboard::layouts() {
            let mut i = 0;
            while i + 2 < n {
                let mut j = i + 1;
                let mut turns = 0usize;
                let mut last = None;
                let mut shifted = usize::from(
                    layout.has_shift() && layout.key(self.orig[i]).is_some_and(|k| k.shifted),
                );
                let mut prev = layout.key(self.orig[i]);
                while j < n {
                    self.work.steps += 1;
                    let cur = layout.key(self.orig[j]);
                    let dir = match (prev, cur) {
                        (Some(a), Some(b)) => layout.direction(a, b),
                        _ => None,
                    };
                    let Some(dir) = dir else { break };
                    if last != Some(dir) {
                        turns += 1;
                        last = Some(dir);
                    }
                    if layout.has_shift() && cur.is_some_and(|k| k.shifted) {
                        shifted += 1;
                    }
                    prev = cur;
                    j += 1;
                }
                if j - i > 2 {
                    if let Some(g) = self.spatial_guesses(layout, j - i, turns, shifted) {
                        self.push(i, j, g);
                    }
                }
                i = j;
            }
        }
    }

    /// log10 of the runs of up to `len` keys with up to `turns` turns, times
    /// the ways to shift `shifted` of them. None when it is more than
    /// guessing the characters one by one (the run is then useless).
    fn spatial_guesses(
        &mut self,
        layout: &keyboard::Layout,
        len: usize,
        turns: usize,
        shifted: usize,
    ) -> Option<f64> {
        // Runs of 2..=len keys with t turns: C(l - 1, t - 1) places for the
        // turns, `starts` first keys and `degree` choices per turn. Summed
        // over the lengths l this is C(len, t) - 1 (hockey-stick identity).
        let limit = 10f64.powi(len as i32);
        let mut guesses = 0.0;
        for t in 1..=turns.min(len - 1) {
            self.work.steps += 1;
            guesses += (n_choose_k(len, t) - 1.0) * layout.starts * layout.degree.powi(t as i32);
            if guesses > limit {
                return None;
            }
        }
        if shifted > 0 {
            let unshifted = len - shifted;
            guesses *= if unshifted == 0 {
                2.0
            } else {
                mixed_ways(shifted, unshifted)
            };
        }
        (guesses <= limit && guesses >= 1.0).then(|| guesses.log10())
    }

    // ---- repeats ---------------------------------------------------------------

    /// A block repeated back to back (`abcabc`, `aaaa`), found from the left
    /// like a regular-expression search: at the first position where some
    /// block repeats, the longer of the shortest and the longest repeating
    /// blocks; the search goes on after it. A repeat costs its block's own
    /// estimate times the number of copies.
    fn repeats(&mut self) {
        let n = self.orig.len();
        let mut z = Zeroizing::new(vec![0usize; n]);
        let mut i = 0;
        while i + 1 < n {
            let s = &self.orig[i..];
            let m = s.len();
            z_function(s, &mut z[..m], self.work);
            // Blocks of length b that repeat at least once: z[b] >= b.
            let repeating = || (1..=m / 2).filter(|&b| z[b] >= b);
            let (Some(short), Some(long)) = (repeating().next(), repeating().next_back()) else {
                i += 1;
                continue;
            };
            let span = |b: usize| b * (1 + z[b] / b);
            let (total, block) = if span(long) > span(short) {
                let total = span(long);
                // The smallest block the whole span is made of.
                let block = (1..=total / 2)
                    .find(|&p| total % p == 0 && z[p] >= total - p)
                    .unwrap_or(long);
                (total, block)
            } else {
                (span(short), short)
            };
            let base = if self.depth < super::MAX_DEPTH {
                super::guesses_log10(
                    &self.orig[i..i + block],
                    &self.low[i..i + block],
                    self.ctx,
                    self.depth + 1,
                    self.work,
                )
            } else {
                block as f64
            };
            self.push(i, i + total, base + ((total / block) as f64).log10());
            i += total;
        }
    }

    // ---- sequences -------------------------------------------------------------

    /// Runs of characters with the same step between code points (`abcd`,
    /// `9753`, `zyx`): steps of 1 to 5, three characters or more (two for a
    /// step of 1).
    fn sequences(&mut self) {
        let o = self.orig;
        let n = o.len();
        if n < 2 {
            return;
        }
        let mut i = 0;
        let mut last = 0i64;
        for k in 1..n {
            self.work.steps += 1;
            let delta = o[k] as i64 - o[k - 1] as i64;
            if last == 0 {
                last = delta;
            }
            if delta == last {
                continue;
            }
            self.sequence(i, k - 1, last);
            i = k - 1;
            last = delta;
        }
        self.sequence(i, n - 1, last);
    }

    fn sequence(&mut self, i: usize, j: usize, delta: i64) {
        let len = j - i + 1;
        if !((len > 2 || delta.abs() == 1) && (1..=MAX_DELTA).contains(&delta.abs())) {
            return;
        }
        let first = self.orig[i];
        let mut base: f64 = if matches!(first, 'a' | 'A' | 'z' | 'Z' | '0' | '1' | '9') {
            4.0
        } else if first.is_ascii_digit() {
            10.0
        } else {
            26.0
        };
        if delta < 0 {
            base *= 2.0;
        }
        self.push(i, j + 1, (base * len as f64).log10());
    }

    // ---- years and dates -------------------------------------------------------

    fn year_space(&self, year: u32) -> f64 {
        (f64::from(year) - f64::from(self.ctx.year))
            .abs()
            .max(MIN_YEAR_SPACE)
    }

    /// Years 1900 to 2099 on their own (`1987`), from the left, not
    /// overlapping: the distance to the reference year, at least 20.
    fn years(&mut self) {
        let o = self.orig;
        let mut i = 0;
        while i + 4 <= o.len() {
            self.work.steps += 1;
            let w = &o[i..i + 4];
            let is_year = matches!((w[0], w[1]), ('1', '9') | ('2', '0'))
                && w[2].is_ascii_digit()
                && w[3].is_ascii_digit();
            if is_year {
                let year = digits(w).unwrap_or(0);
                self.push(i, i + 4, self.year_space(year).log10());
                i += 4;
            } else {
                i += 1;
            }
        }
    }

    /// Dates: 4 to 8 digits (`1191`, `19900512`) or three numbers with the
    /// same separator twice (`12/05/1990`). The year is the one closest to
    /// the reference year among the readings; a date costs 365 days times
    /// the year space, four times more with a separator. A date inside a
    /// longer date is dropped.
    fn dates(&mut self) {
        let o = self.orig;
        let n = o.len();
        let mut found: Zeroizing<Vec<Match>> = Zeroizing::new(Vec::new());
        for i in 0..n {
            // Without separators.
            for len in 4..=8 {
                if i + len > n {
                    break;
                }
                self.work.steps += 1;
                let token = &o[i..i + len];
                if !token.iter().all(|c| c.is_ascii_digit()) {
                    break;
                }
                let mut best: Option<f64> = None;
                for &(a, b) in splits(len) {
                    let ymd = (
                        digits(&token[..a]),
                        digits(&token[a..b]),
                        digits(&token[b..]),
                    );
                    if let (Some(x), Some(y), Some(z)) = ymd {
                        if let Some(year) = date_year(x, y, z) {
                            let space = self.year_space(year);
                            best = Some(best.map_or(space, |b| b.min(space)));
                        }
                    }
                }
                if let Some(space) = best {
                    let m = Match {
                        start: i,
                        end: i + len,
                        log10: (space * 365.0).log10(),
                    };
                    push_wiped(&mut found, m);
                }
            }
            // With separators: d{1,4} s d{1,2} s d{1,4}.
            if let Some((end, year)) = separated_date(&o[i..]) {
                self.work.steps += 1;
                let m = Match {
                    start: i,
                    end: i + end,
                    log10: (self.year_space(year) * 365.0 * 4.0).log10(),
                };
                push_wiped(&mut found, m);
            }
        }
        // Drop a date inside another date: some other date starts at or
        // before it and ends at or after it. `reach[s]`: the furthest end of
        // a date starting before `s`.
        let mut reach = Zeroizing::new(vec![0usize; n + 1]);
        for m in found.iter() {
            reach[m.start + 1] = reach[m.start + 1].max(m.end);
        }
        for s in 1..=n {
            reach[s] = reach[s].max(reach[s - 1]);
        }
        self.work.steps += (found.len() + n) as u64;
        for (k, m) in found.iter().enumerate() {
            // Dates from the same start come in order of length.
            let longer_here = found.get(k + 1).is_some_and(|next| next.start == m.start);
            if !(reach[m.start] >= m.end || longer_here) {
                self.push(m.start, m.end, m.log10);
            }
        }
    }
}

/// The Z-function of `s`: `z[b]` is the length of the longest common prefix
/// of `s` and `s[b..]` (`z[0]` is left 0).
fn z_function(s: &[char], z: &mut [usize], work: &mut Work) {
    let n = s.len();
    z.fill(0);
    let (mut l, mut r) = (0, 0);
    for i in 1..n {
        let mut k = if i < r { (r - i).min(z[i - l]) } else { 0 };
        while i + k < n && s[k] == s[i + k] {
            k += 1;
            work.steps += 1;
        }
        z[i] = k;
        if i + k > r {
            l = i;
            r = i + k;
        }
    }
    work.steps += n as u64;
}

/// The decimal number spelled by `chars` (at most 9 digits).
fn digits(chars: &[char]) -> Option<u32> {
    if chars.is_empty() || chars.len() > 9 {
        return None;
    }
    chars
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 10 + c.to_digit(10)?))
}

/// Where a run of `len` digits may split into three numbers.
fn splits(len: usize) -> &'static [(usize, usize)] {
    match len {
        4 => &[(1, 2), (2, 3)],
        5 => &[(1, 3), (2, 3)],
        6 => &[(1, 2), (2, 4), (4, 5)],
        7 => &[(1, 3), (2, 3), (4, 5), (4, 6)],
        8 => &[(2, 4), (4, 6)],
        _ => &[],
    }
}

/// The year of three numbers read as a date (year first or last, day and
/// month in either order), or None when they are no date.
fn date_year(a: u32, b: u32, c: u32) -> Option<u32> {
    if b > 31 || b == 0 {
        return None;
    }
    let all = [a, b, c];
    if all
        .iter()
        .any(|&x| (x > 99 && x < DATE_MIN_YEAR) || x > DATE_MAX_YEAR)
    {
        return None;
    }
    let over_31 = all.iter().filter(|&&x| x > 31).count();
    let over_12 = all.iter().filter(|&&x| x > 12).count();
    let zeros = all.iter().filter(|&&x| x == 0).count();
    if over_31 >= 2 || over_12 == 3 || zeros >= 2 {
        return None;
    }
    let day_month = |x: u32, y: u32| {
        ((1..=31).contains(&x) && (1..=12).contains(&y))
            || ((1..=31).contains(&y) && (1..=12).contains(&x))
    };
    // A four-digit year first or last decides alone.
    for (year, x, y) in [(c, a, b), (a, b, c)] {
        if (DATE_MIN_YEAR..=DATE_MAX_YEAR).contains(&year) {
            return day_month(x, y).then_some(year);
        }
    }
    for (year, x, y) in [(c, a, b), (a, b, c)] {
        if day_month(x, y) {
            return Some(match year {
                y if y > 99 => y,
                y if y > 50 => 1900 + y,
                y => 2000 + y,
            });
        }
    }
    None
}

/// A date with separators at the start of `s`: `d{1,4} sep d{1,2} sep
/// d{1,4}`, the same separator (space, `/`, `\`, `_`, `.`, `-`) twice, 6 to
/// 10 characters. Returns its length and year. The longest reading wins.
fn separated_date(s: &[char]) -> Option<(usize, u32)> {
    let run = |from: usize, max: usize| -> usize {
        s.get(from..).map_or(0, |r| {
            r.iter()
                .take(max)
                .take_while(|c| c.is_ascii_digit())
                .count()
        })
    };
    let is_sep = |c: char| matches!(c, ' ' | '/' | '\\' | '_' | '.' | '-') || c.is_whitespace();
    let mut best = None;
    for a in 1..=run(0, 4) {
        let sep = *s.get(a)?;
        if !is_sep(sep) {
            continue;
        }
        for b in 1..=run(a + 1, 2) {
            if s.get(a + 1 + b) != Some(&sep) {
                continue;
            }
            let c_from = a + b + 2;
            for c in 1..=run(c_from, 4) {
                let len = c_from + c;
                if !(6..=10).contains(&len) {
                    continue;
                }
                let year = date_year(
                    digits(&s[..a])?,
                    digits(&s[a + 1..a + 1 + b])?,
                    digits(&s[c_from..len])?,
                );
                if let Some(year) = year {
                    best = Some((len, year));
                }
            }
        }
    }
    best
}
