//! Predictable patterns: keyboard walks, sequences, repetitions and dates.
//!
//! Each detector returns the spans (character indices into a case-folded
//! password) where a pattern stands. The spans feed the predictability
//! score in [`super::banned`], where a pattern counts like a banned word:
//! one point however long it is. So `qwerty123456` (a walk and a sequence)
//! scores 2 and is refused, while a random password that happens to contain
//! `abcd` still scores far above the threshold.

use std::ops::Range;
use std::sync::OnceLock;

/// The kinds of pattern pwgate recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    KeyboardWalk,
    Sequence,
    Repetition,
    Date,
}

/// Which detectors run, and from which length a walk or sequence counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternOptions {
    pub keyboard_walks: bool,
    pub sequences: bool,
    pub repetitions: bool,
    pub dates: bool,
    /// Shortest keyboard walk or sequence that counts (`qwer`, `1234`).
    pub min_run: usize,
}

impl Default for PatternOptions {
    fn default() -> Self {
        PatternOptions {
            keyboard_walks: true,
            sequences: true,
            repetitions: true,
            dates: true,
            min_run: 4,
        }
    }
}

/// Every pattern span found in `chars` (a case-folded password).
pub fn find(chars: &[char], options: &PatternOptions) -> Vec<(Range<usize>, Pattern)> {
    let mut spans = Vec::new();
    if options.keyboard_walks {
        spans.extend(
            keyboard_walks(chars, options.min_run)
                .into_iter()
                .map(|r| (r, Pattern::KeyboardWalk)),
        );
    }
    if options.sequences {
        spans.extend(
            sequences(chars, options.min_run)
                .into_iter()
                .map(|r| (r, Pattern::Sequence)),
        );
    }
    if options.repetitions {
        spans.extend(
            repetitions(chars)
                .into_iter()
                .map(|r| (r, Pattern::Repetition)),
        );
    }
    if options.dates {
        spans.extend(dates(chars).into_iter().map(|r| (r, Pattern::Date)));
    }
    spans
}

// ---- keyboard walks --------------------------------------------------------

/// Keyboard layouts as rows of unshifted keys, top to bottom. Each row is
/// shifted half a key to the right of the one above, so the key at column c
/// of row r touches columns c and c+1 of row r-1.
const LAYOUTS: &[[&str; 4]] = &[
    [
        "`1234567890-=",
        "qwertyuiop[]\\",
        "asdfghjkl;'",
        "zxcvbnm,./",
    ], // US QWERTY
    [
        "^1234567890ß´",
        "qwertzuiopü+",
        "asdfghjklöä#",
        "yxcvbnm,.-",
    ], // German QWERTZ
    [
        "²1234567890)=",
        "azertyuiop^$",
        "qsdfghjklmù*",
        "wxcvbn,;:!",
    ], // French AZERTY
];

/// Shifted characters of the US layout, mapped to their key.
const US_SHIFTED: &[(char, char)] = &[
    ('~', '`'),
    ('!', '1'),
    ('@', '2'),
    ('#', '3'),
    ('$', '4'),
    ('%', '5'),
    ('^', '6'),
    ('&', '7'),
    ('*', '8'),
    ('(', '9'),
    (')', '0'),
    ('_', '-'),
    ('+', '='),
    ('{', '['),
    ('}', ']'),
    ('|', '\\'),
    (':', ';'),
    ('"', '\''),
    ('<', ','),
    ('>', '.'),
    ('?', '/'),
];

/// Where the keys of one layout are: (row, column) by key. ASCII keys
/// are looked up in a table (a password check looks up every character on
/// every layout, twice); the few others (`ß`, `ü`, `ù`...) in a short list.
struct Layout {
    ascii: [Option<(i32, i32)>; 128],
    other: Vec<(char, (i32, i32))>,
}

impl Layout {
    fn get(&self, key: char) -> Option<(i32, i32)> {
        match self.ascii.get(key as usize) {
            Some(p) => *p,
            None => self.other.iter().find(|(k, _)| *k == key).map(|(_, p)| *p),
        }
    }
}

/// For each layout: key -> (row, column).
fn key_positions() -> &'static [Layout] {
    static POSITIONS: OnceLock<Vec<Layout>> = OnceLock::new();
    POSITIONS.get_or_init(|| {
        LAYOUTS
            .iter()
            .map(|rows| {
                let mut layout = Layout {
                    ascii: [None; 128],
                    other: Vec::new(),
                };
                for (r, row) in rows.iter().enumerate() {
                    for (c, key) in row.chars().enumerate() {
                        // The first place a key appears is where it is.
                        if layout.get(key).is_some() {
                            continue;
                        }
                        let at = (r as i32, c as i32);
                        match layout.ascii.get_mut(key as usize) {
                            Some(slot) => *slot = Some(at),
                            None => layout.other.push((key, at)),
                        }
                    }
                }
                layout
            })
            .collect()
    })
}

fn unshift(c: char) -> char {
    US_SHIFTED
        .iter()
        .find(|(shifted, _)| *shifted == c)
        .map_or(c, |(_, key)| *key)
}

/// Whether two keys touch on a layout (same row neighbours, or the keys
/// above and below a key, which are half a key apart).
fn adjacent(a: (i32, i32), b: (i32, i32)) -> bool {
    let (dr, dc) = (b.0 - a.0, b.1 - a.1);
    match dr {
        0 => dc.abs() == 1,
        1 => dc == 0 || dc == -1,
        -1 => dc == 0 || dc == 1,
        _ => false,
    }
}

/// The numeric keypad: a straight grid, where a key touches the eight
/// around it (`741852963`, `14789632`, `159357`).
fn numpad_position(c: char) -> Option<(i32, i32)> {
    let d = c.to_digit(10)? as i32;
    Some(match d {
        0 => (3, 0),
        d => (2 - (d - 1) / 3, (d - 1) % 3),
    })
}

fn numpad_adjacent(a: (i32, i32), b: (i32, i32)) -> bool {
    a != b && (a.0 - b.0).abs() <= 1 && (a.1 - b.1).abs() <= 1
}

/// Maximal runs of at least `min` characters where `touches` holds for
/// every two neighbours.
fn runs(
    chars: &[char],
    min: usize,
    touches: impl Fn(char, char) -> bool,
    found: &mut Vec<Range<usize>>,
) {
    runs_at(chars.len(), min, |i| touches(chars[i - 1], chars[i]), found);
}

/// Maximal runs of at least `min` of `n` positions where `touches(i)`
/// holds for every position `i` and the one before it.
fn runs_at(n: usize, min: usize, touches: impl Fn(usize) -> bool, found: &mut Vec<Range<usize>>) {
    let mut start = 0;
    for i in 1..=n {
        if i == n || !touches(i) {
            if i - start >= min {
                found.push(start..i);
            }
            start = i;
        }
    }
}

/// Maximal runs of at least `min` keys where each key touches the previous
/// one, on any of the layouts (`qwerty`, `1qaz2wsx`, `!@#$`, `asdf`) or on
/// the numeric keypad (`78963214`).
pub fn keyboard_walks(chars: &[char], min: usize) -> Vec<Range<usize>> {
    let mut found: Vec<Range<usize>> = Vec::new();
    // Each character unshifted and looked up once per layout.
    let keys: Vec<char> = chars.iter().map(|c| unshift(*c)).collect();
    let mut pos: Vec<Option<(i32, i32)>> = Vec::with_capacity(chars.len());
    for layout in key_positions() {
        pos.clear();
        pos.extend(keys.iter().map(|k| layout.get(*k)));
        runs_at(
            chars.len(),
            min,
            |i| matches!((pos[i - 1], pos[i]), (Some(a), Some(b)) if adjacent(a, b)),
            &mut found,
        );
    }
    runs(
        chars,
        min,
        |a, b| {
            matches!((numpad_position(a), numpad_position(b)),
                (Some(a), Some(b)) if numpad_adjacent(a, b))
        },
        &mut found,
    );
    // Straight lines of the keypad, one after the other (`789456123`,
    // `741852963`).
    let line = |w: &[char]| match (
        numpad_position(w[0]),
        numpad_position(w[1]),
        numpad_position(w[2]),
    ) {
        (Some(a), Some(b), Some(c)) => {
            let d = (b.0 - a.0, b.1 - a.1);
            numpad_adjacent(a, b) && (c.0 - b.0, c.1 - b.1) == d
        }
        _ => false,
    };
    let mut i = 0;
    while i + 3 <= chars.len() {
        let mut end = i;
        while end + 3 <= chars.len() && line(&chars[end..end + 3]) {
            end += 3;
        }
        if end - i >= 6 {
            found.push(i..end);
            i = end;
        } else {
            i += 1;
        }
    }
    found.sort_by_key(|r| (r.start, r.end));
    found.dedup();
    found
}

// ---- sequences ---------------------------------------------------------------

/// Maximal runs of at least `min` letters or digits going up or down by one
/// (`abcd`, `4321`, `wxyz`), or digits going up or down by two (`13579`,
/// `8642`); and two such runs or keyboard walks interleaved, at least
/// [`MIN_INTERLEAVED`] characters (`a1b2c3d4`, `1q2w3e4r5t6y`, `p0o9i8u7`).
pub fn sequences(chars: &[char], min: usize) -> Vec<Range<usize>> {
    let step = |a: char, b: char| -> Option<i32> {
        let d = b as i32 - a as i32;
        let digits = a.is_ascii_digit() && b.is_ascii_digit();
        let letters = a.is_ascii_lowercase() && b.is_ascii_lowercase();
        ((letters && d.abs() == 1) || (digits && (1..=2).contains(&d.abs()))).then_some(d)
    };
    let mut found = Vec::new();
    let mut start = 0;
    let mut direction = None;
    for i in 1..=chars.len() {
        let s = (i < chars.len())
            .then(|| step(chars[i - 1], chars[i]))
            .flatten();
        match (s, direction) {
            (Some(d), None) => direction = Some(d),
            (Some(d), Some(prev)) if d == prev => {}
            _ => {
                if i - start >= min {
                    found.push(start..i);
                }
                // A change of direction starts a new run at the previous char.
                start = if s.is_some() { i - 1 } else { i };
                direction = s;
            }
        }
    }
    // Interleaved letters and digits: every character follows the one two
    // places before it.
    let follows = |a: char, b: char| {
        step(a, b).is_some_and(|d| d.abs() == 1)
            || key_positions().iter().any(|layout| {
                matches!((layout.get(unshift(a)), layout.get(unshift(b))),
                    (Some(x), Some(y)) if adjacent(x, y))
            })
    };
    let mut start = 0;
    for i in 2..=chars.len() {
        let alternates = i < chars.len()
            && chars[i - 1].is_ascii_digit() != chars[i].is_ascii_digit()
            && chars[i - 2].is_ascii_digit() != chars[i - 1].is_ascii_digit();
        if !alternates || !follows(chars[i - 2], chars[i]) {
            if i - start >= MIN_INTERLEAVED {
                found.push(start..i);
            }
            start = i - 1;
        }
    }
    found
}

/// Shortest interleaved run that counts (`a1b2c3`).
pub const MIN_INTERLEAVED: usize = 6;

// ---- repetitions ---------------------------------------------------------------

/// Longest block length checked for repetition (`passwordpassword` has 8).
const MAX_BLOCK: usize = 12;

/// Runs of one character three times or more (`aaa`), and a block of two or
/// more characters repeated back to back (`abcabc`, `passwordpassword`).
pub fn repetitions(chars: &[char]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && chars[j] == chars[i] {
            j += 1;
        }
        if j - i >= 3 {
            found.push(i..j);
        }
        i = j;
    }
    for start in 0..n {
        for block in 2..=MAX_BLOCK.min((n - start) / 2) {
            if chars[start] != chars[start + block] {
                continue;
            }
            let mut end = start + block;
            while end + block <= n && chars[end..end + block] == chars[start..start + block] {
                end += block;
            }
            if end > start + block {
                found.push(start..end);
            }
        }
    }
    found
}

// ---- dates ---------------------------------------------------------------------

fn number(chars: &[char]) -> Option<u32> {
    chars
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 10 + c.to_digit(10)?))
}

fn is_year(chars: &[char]) -> bool {
    chars.len() == 4 && number(chars).is_some_and(|y| (1900..=2099).contains(&y))
}

fn is_day_month(d: u32, m: u32) -> bool {
    (1..=31).contains(&d) && (1..=12).contains(&m)
}

/// `ddmmyy`, `mmddyy`, `yymmdd` (6 digits) or the same with a 4-digit year.
fn is_compact_date(chars: &[char]) -> bool {
    let part = |r: Range<usize>| number(&chars[r]);
    match chars.len() {
        6 => {
            let (a, b, c) = (part(0..2), part(2..4), part(4..6));
            matches!((a, b, c), (Some(a), Some(b), Some(c)) if is_day_month(a, b) || is_day_month(b, a) || is_day_month(c, b))
        }
        8 => {
            let ymd = is_year(&chars[0..4])
                && matches!((part(4..6), part(6..8)), (Some(m), Some(d)) if is_day_month(d, m));
            let dmy = is_year(&chars[4..8])
                && matches!((part(0..2), part(2..4)), (Some(a), Some(b)) if is_day_month(a, b) || is_day_month(b, a));
            ymd || dmy
        }
        _ => false,
    }
}

/// Years 1900–2099, compact dates of 6 or 8 digits, and dates written with
/// `/`, `.` or `-` (`12/05/1990`, `1990-05-12`, `5.12.90`).
pub fn dates(chars: &[char]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let n = chars.len();
    // Digit runs: years and compact dates inside them.
    let mut i = 0;
    while i < n {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && chars[j].is_ascii_digit() {
            j += 1;
        }
        for len in [8, 6, 4].into_iter().filter(|len| j - i >= *len) {
            for s in i..=j - len {
                let window = &chars[s..s + len];
                if (len == 4 && is_year(window)) || (len != 4 && is_compact_date(window)) {
                    found.push(s..s + len);
                }
            }
        }
        i = j;
    }
    // Separated dates: d{1,4} sep d{1,2} sep d{1,4}, same separator twice.
    for start in 0..n {
        if let Some(end) = separated_date_at(chars, start) {
            found.push(start..end);
        }
    }
    found
}

fn separated_date_at(chars: &[char], start: usize) -> Option<usize> {
    let digits = |from: usize, max: usize| -> usize {
        chars[from..]
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    if start > 0 && chars[start - 1].is_ascii_digit() {
        return None;
    }
    let a = digits(start, 4);
    let sep = *chars.get(start + a)?;
    if a == 0 || !matches!(sep, '/' | '.' | '-') {
        return None;
    }
    let b_start = start + a + 1;
    let b = digits(b_start, 2);
    if b == 0 || chars.get(b_start + b) != Some(&sep) {
        return None;
    }
    let c_start = b_start + b + 1;
    let c = digits(c_start, 4);
    if c == 0 || (a != 4 && c != 2 && c != 4) || (a == 4 && c > 2) {
        return None;
    }
    let (x, y, z) = (
        number(&chars[start..start + a])?,
        number(&chars[b_start..b_start + b])?,
        number(&chars[c_start..c_start + c])?,
    );
    let plausible = if a == 4 {
        (1900..=2099).contains(&x) && is_day_month(z, y)
    } else {
        is_day_month(x, y) || is_day_month(y, x)
    };
    plausible.then_some(c_start + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn covers(spans: &[Range<usize>], text: &str, part: &str) -> bool {
        let start = text.find(part).expect("part of text");
        let (s, e) = (
            text[..start].chars().count(),
            text[..start].chars().count() + part.chars().count(),
        );
        spans.iter().any(|r| r.start <= s && r.end >= e)
    }

    #[test]
    fn keyboard_walks_on_three_layouts() {
        for (text, walk) in [
            ("qwerty", "qwerty"),
            ("xx1qaz2wsx", "1qaz"),
            ("xx1qaz2wsx", "2wsx"),
            ("asdfgh!", "asdfgh"),
            ("!@#$%", "!@#$%"),
            ("qwertz", "qwertz"),
            ("azerty", "azerty"),
            ("poiuy", "poiuy"),
            ("zxcvbn", "zxcvbn"),
            ("x789456123", "789456123"),
            ("741852963", "741852963"),
            ("14789632!", "14789632"),
            // Keys outside ASCII: German `jklöä`, French `jklmù`.
            ("xjklöä", "jklöä"),
            ("xjklmù", "jklmù"),
        ] {
            let spans = keyboard_walks(&chars(text), 4);
            assert!(covers(&spans, text, walk), "{text}: {spans:?}");
        }
        for text in ["qaxsw", "kv7q", "tangerine", "correct", "1938", "7193"] {
            assert!(keyboard_walks(&chars(text), 4).is_empty(), "{text}");
        }
    }

    #[test]
    fn sequences_up_and_down() {
        for (text, seq) in [
            ("abcd", "abcd"),
            ("x4321y", "4321"),
            ("wxyz", "wxyz"),
            ("123456789", "123456789"),
            ("x13579", "13579"),
            ("8642!", "8642"),
            ("a1b2c3d4", "a1b2c3d4"),
            ("1q2w3e4r5t6y", "1q2w3e4r5t6y"),
            ("p0o9i8u7", "p0o9i8u7"),
        ] {
            assert!(covers(&sequences(&chars(text), 4), text, seq), "{text}");
        }
        for text in [
            "abd",
            "1235",
            "a1b2",
            "1212",
            "abc",
            "a1b2c",
            "xyzxyzxyz",
            "tangerine",
        ] {
            assert!(sequences(&chars(text), 4).is_empty(), "{text}");
        }
    }

    #[test]
    fn repetitions_of_characters_and_blocks() {
        for (text, rep) in [
            ("aaa", "aaa"),
            ("xabcabcy", "abcabc"),
            ("passwordpassword", "passwordpassword"),
            ("1212", "1212"),
        ] {
            assert!(covers(&repetitions(&chars(text)), text, rep), "{text}");
        }
        for text in ["aab", "abcd", "abcab"] {
            assert!(repetitions(&chars(text)).is_empty(), "{text}");
        }
    }

    #[test]
    fn years_and_dates() {
        for (text, date) in [
            ("born1985", "1985"),
            ("x2024!", "2024"),
            ("12051990", "12051990"),
            ("19900512", "19900512"),
            ("120590", "120590"),
            ("12/05/1990", "12/05/1990"),
            ("1990-05-12", "1990-05-12"),
            ("5.12.90", "5.12.90"),
        ] {
            assert!(
                covers(&dates(&chars(text)), text, date),
                "{text}: {:?}",
                dates(&chars(text))
            );
        }
        for text in ["1899", "2100", "99999", "13/13/13", "abc"] {
            assert!(
                dates(&chars(text)).is_empty(),
                "{text}: {:?}",
                dates(&chars(text))
            );
        }
    }

    #[test]
    fn detectors_take_arbitrary_unicode() {
        let mut rng = crate::policy::test_support::XorShift(0x2545_F491_4F6C_DD1D);
        let alphabet: Vec<char> = "aq1!é\u{301}字😀/-.09zZ ".chars().collect();
        for _ in 0..2000 {
            let s: Vec<char> = rng.string(&alphabet, 39).chars().collect();
            for (r, _) in find(&s, &PatternOptions::default()) {
                assert!(r.start < r.end && r.end <= s.len());
            }
        }
    }
}
