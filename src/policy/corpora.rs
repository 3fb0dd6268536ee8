//! Efficacy corpora: generated, seeded sets of passwords that the default
//! policy must refuse (human-like shapes that pass Active Directory
//! complexity) or accept (random passwords and passphrases). They stand in
//! for leaked-password lists, which are not part of the repository; see
//! BENCHMARKS.md for the measurements on public lists.
//!
//! Refusal corpora are checked twice: with the default policy, and with the
//! word and pattern rules alone (no length or complexity rule), so that the
//! rates do not come from the 12-character minimum.

use super::test_support::{accepts, XorShift};
use super::*;

/// Common English words of 4 to 8 letters, generated from the zxcvbn
/// crate's English Wikipedia list (scripts/gen-base-words.py).
const ENGLISH_WORDS: &str = include_str!("testdata/english_words.txt");
/// The built-in generated base words, most frequent first.
const BASE_WORDS: &str = include_str!("base_words.txt");

fn words(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// The default policy with only the word and pattern rules deciding.
fn rules_only() -> Policy {
    Policy {
        min_length: 1,
        complexity: None,
        ..Policy::default()
    }
}

/// The candidates `policy` accepts.
fn accepted<'a>(policy: &Policy, candidates: &'a [String]) -> Vec<&'a str> {
    candidates
        .iter()
        .filter(|c| accepts(policy, c))
        .map(String::as_str)
        .collect()
}

/// Active Directory complexity: 7 characters or more, 3 of the 4 classes.
fn ad_complex(p: &str) -> bool {
    let classes = [
        p.chars().any(char::is_lowercase),
        p.chars().any(char::is_uppercase),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_alphanumeric()),
    ];
    p.chars().count() >= 7 && classes.iter().filter(|c| **c).count() >= 3
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Leetspeak on some letters, as people type it.
fn leet(rng: &mut XorShift, w: &str) -> String {
    w.chars()
        .map(|c| {
            let options: &[char] = match c {
                'a' => &['@', '4'],
                'e' => &['3'],
                'i' => &['1', '!'],
                'o' => &['0'],
                's' => &['$', '5'],
                't' => &['7'],
                _ => &[],
            };
            if options.is_empty() || rng.below(2) == 0 {
                c
            } else {
                options[rng.below(options.len())]
            }
        })
        .collect()
}

const SYMBOLS: &[&str] = &[
    "!", "@", "#", "$", "%", "&", "*", "?", ".", "!!", "!@#", "_", "-",
];

fn pick<'a>(rng: &mut XorShift, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

/// Digits people append: a year, a short number, a birthday or a count.
fn digits(rng: &mut XorShift) -> String {
    match rng.below(6) {
        0 => format!("{}", 1950 + rng.below(80)),
        1 => format!("{}", rng.below(10)),
        2 => format!("{}", rng.below(100)),
        3 => ["123", "1234", "12345", "321", "007", "69", "99", "11"][rng.below(8)].to_owned(),
        4 => format!("{:02}{:02}", 1 + rng.below(28), 1 + rng.below(12)),
        _ => format!("{:02}", rng.below(100)),
    }
}

/// Human-like password shapes built on a base word: decoration, leetspeak,
/// two words, names and dates, keyboard walks, seasons and company names.
fn human_shapes(seed: u64, count: usize) -> Vec<String> {
    let base = words(BASE_WORDS);
    // The head of the dictionary: the base words attackers try first
    // (common passwords, names, frequent words).
    let common: Vec<&str> = base.iter().copied().take(5000).collect();
    let walks = [
        "qwerty", "qwertz", "azerty", "asdfgh", "asdf", "zxcvbn", "qwer", "1qaz2wsx", "qazwsx",
        "1q2w3e4r", "zaq12wsx", "poiuy", "wasd", "!qaz@wsx", "qweasd", "1qazxsw2",
    ];
    let seasons = [
        "summer",
        "winter",
        "spring",
        "autumn",
        "fall",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "friday",
        "welcome",
        "password",
        "contoso",
        "fabrikam",
        "changeme",
        "letmein",
    ];
    let mut rng = XorShift(seed);
    let mut out = Vec::new();
    while out.len() < count {
        let word = pick(&mut rng, &common);
        let other = pick(&mut rng, &common);
        let sym = pick(&mut rng, SYMBOLS);
        let num = digits(&mut rng);
        let candidate = match rng.below(12) {
            0 => format!("{}{num}{sym}", capitalise(word)),
            1 => format!("{sym}{}{num}", capitalise(word)),
            2 => format!("{}{sym}{num}", capitalise(word)),
            3 => format!("{}{num}{sym}", capitalise(&leet(&mut rng, word))),
            4 => format!("{}{}{num}{sym}", capitalise(word), capitalise(other)),
            5 => format!("{}{sym}{}{num}", capitalise(word), capitalise(other)),
            6 => format!("{}{num}{}", capitalise(word), capitalise(other)),
            7 => format!("{}{}{sym}", capitalise(word), 1950 + rng.below(80)),
            8 => {
                let walk = pick(&mut rng, &walks);
                format!("{}{num}{sym}", capitalise(walk))
            }
            9 => {
                let season = pick(&mut rng, &seasons);
                format!("{}{}{sym}", capitalise(season), 2015 + rng.below(15))
            }
            10 => {
                let season = pick(&mut rng, &seasons);
                format!("{sym}{}{:02}", capitalise(season), rng.below(100))
            }
            _ => format!("{}{}{num}", word.to_uppercase(), sym),
        };
        if ad_complex(&candidate) {
            out.push(candidate);
        }
    }
    out
}

fn assert_refused(name: &str, candidates: &[String]) {
    let mut policy = Policy::default();
    policy.banned_words.extend(["contoso", "fabrikam"]);
    let mut rules = rules_only();
    rules.banned_words.extend(["contoso", "fabrikam"]);
    for (label, policy) in [("default policy", policy), ("rules only", rules)] {
        let through = accepted(&policy, candidates);
        let share = through.len() as f64 / candidates.len() as f64;
        println!(
            "{name}, {label}: {:.2}% of {} refused",
            100.0 - share * 100.0,
            candidates.len()
        );
        assert!(
            share <= 0.01,
            "{name}, {label}: {:.2}% of {} accepted, e.g. {:?}",
            share * 100.0,
            candidates.len(),
            &through[..through.len().min(20)]
        );
    }
}

#[test]
fn human_shapes_passing_ad_complexity_are_refused() {
    assert_refused("human shapes", &human_shapes(0x0DDB_1A5E_5BAD_5EED, 4000));
}

#[test]
fn leetspeak_and_two_word_shapes_are_refused() {
    let common: Vec<&str> = words(BASE_WORDS).into_iter().take(5000).collect();
    let mut rng = XorShift(0x1EE7_5BEA_C0DE_0001);
    let mut candidates = Vec::new();
    while candidates.len() < 3000 {
        let (a, b) = (pick(&mut rng, &common), pick(&mut rng, &common));
        let sym = pick(&mut rng, SYMBOLS);
        let num = digits(&mut rng);
        let candidate = match rng.below(3) {
            0 => format!("{}{num}{sym}", capitalise(&leet(&mut rng, a))),
            1 => format!(
                "{}{}{sym}{num}",
                capitalise(&leet(&mut rng, a)),
                capitalise(b)
            ),
            _ => format!(
                "{sym}{}{}{num}",
                capitalise(a),
                capitalise(&leet(&mut rng, b))
            ),
        };
        if ad_complex(&candidate) {
            candidates.push(candidate);
        }
    }
    assert_refused("leetspeak and two words", &candidates);
}

/// The shares the default policy accepts must stay at 99% or more.
fn assert_accepted(name: &str, candidates: &[String]) {
    let through = accepted(&Policy::default(), candidates);
    let share = through.len() as f64 / candidates.len() as f64;
    println!(
        "{name}: {:.2}% of {} accepted",
        share * 100.0,
        candidates.len()
    );
    if share < 0.99 {
        let refused: Vec<&String> = candidates
            .iter()
            .filter(|c| !through.contains(&c.as_str()))
            .take(20)
            .collect();
        panic!(
            "{name}: only {:.2}% of {} accepted; refused e.g. {refused:?}",
            share * 100.0,
            candidates.len()
        );
    }
}

/// Four words from `list`, joined by `sep`, each word cased by `case`.
fn passphrases(
    seed: u64,
    list: &[&str],
    sep: &str,
    case: fn(&str, usize) -> String,
) -> Vec<String> {
    let mut rng = XorShift(seed);
    (0..3000)
        .map(|_| {
            (0..4)
                .map(|i| case(pick(&mut rng, list), i))
                .collect::<Vec<_>>()
                .join(sep)
        })
        .collect()
}

#[test]
fn four_word_english_passphrases_are_accepted_with_and_without_separators() {
    let english = words(ENGLISH_WORDS);
    assert!(english.len() >= 1000, "{} words", english.len());
    let lower: fn(&str, usize) -> String = |w, _| w.to_owned();
    let capitalised: fn(&str, usize) -> String = |w, _| capitalise(w);
    let first_capitalised: fn(&str, usize) -> String =
        |w, i| if i == 0 { capitalise(w) } else { w.to_owned() };
    for (n, sep) in ["", " ", "-", ".", "_"].into_iter().enumerate() {
        for (m, (label, case)) in [
            ("lower case", lower),
            ("capitalised", capitalised),
            ("first capitalised", first_capitalised),
        ]
        .into_iter()
        .enumerate()
        {
            let seed = 0xC0FF_EE00_0000_0001 + (n * 3 + m) as u64;
            assert_accepted(
                &format!("separator {sep:?}, {label}"),
                &passphrases(seed, &english, sep, case),
            );
        }
    }
}

#[test]
fn four_word_passphrases_of_dictionary_words_are_accepted() {
    // Every word is a banned term here: the passphrase is accepted for
    // having four of them, not for avoiding the dictionary.
    let dictionary: Vec<&str> = words(BASE_WORDS)
        .into_iter()
        .take(20_000)
        .filter(|w| (4..=8).contains(&w.len()))
        .collect();
    let capitalised: fn(&str, usize) -> String = |w, _| capitalise(w);
    for (n, sep) in ["", "-"].into_iter().enumerate() {
        assert_accepted(
            &format!("dictionary words, separator {sep:?}"),
            &passphrases(
                0xD1C7_0000_0000_0001 + n as u64,
                &dictionary,
                sep,
                capitalised,
            ),
        );
    }
}

#[test]
fn random_sixteen_character_passwords_of_each_alphabet_are_accepted() {
    let alphabets: [(&str, Vec<char>); 3] = [
        ("printable", (33u8..127).map(char::from).collect()),
        (
            "letters and digits",
            ('a'..='z').chain('A'..='Z').chain('0'..='9').collect(),
        ),
        (
            "lower case and digits",
            ('a'..='z').chain('0'..='9').collect(),
        ),
    ];
    for (n, (name, alphabet)) in alphabets.iter().enumerate() {
        let mut rng = XorShift(0x5A17_0000_0000_0001 + n as u64);
        let candidates: Vec<String> = (0..5000)
            .map(|_| {
                (0..16)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            })
            .collect();
        assert_accepted(name, &candidates);
    }
}

/// The ways of writing the same words that cracking rules try for almost
/// nothing: joined by nothing (CamelCase or not), a hyphen, a dot, an
/// underscore, a space, doubled or mixed joiners, joiners around the
/// whole, in lower or upper case, and a joiner between every character.
fn cosmetic_variants(words: &[&str], suffix: &str) -> Vec<(String, String)> {
    let camel: Vec<String> = words.iter().map(|w| capitalise(w)).collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let mut out = vec![
        (
            "CamelCase".to_owned(),
            format!("{}{suffix}", camel.concat()),
        ),
        ("lower".to_owned(), format!("{}{suffix}", lower.concat())),
        (
            "UPPER".to_owned(),
            format!("{}{suffix}", lower.concat().to_uppercase()),
        ),
    ];
    for joiner in ["-", ".", "_", " ", "--", " - ", "-."] {
        out.push((
            format!("joined by {joiner:?}"),
            format!("{}{suffix}", camel.join(joiner)),
        ));
        out.push((
            format!("lower, joined by {joiner:?}"),
            format!("{}{joiner}{suffix}", lower.join(joiner)),
        ));
    }
    out.push((
        "joiners around".to_owned(),
        format!(" -{}- {suffix}", lower.join("-")),
    ));
    let spaced: Vec<String> = camel.concat().chars().map(String::from).collect();
    out.push((
        "a hyphen between every character".to_owned(),
        format!("{}-{suffix}", spaced.join("-")),
    ));
    out.push((
        "a dot between every character".to_owned(),
        format!("{}.{suffix}", spaced.join(".")),
    ));
    out
}

/// For phrases of 1 to 4 words of `list` with suffixes people add, the
/// share whose cosmetic variants all get the verdict of the CamelCase
/// form; panics below `floor`, printing the phrases that differ.
fn assert_cosmetics_do_not_flip(name: &str, list: &[&str], seed: u64, count: usize, floor: f64) {
    let policy = rules_only();
    let mut rng = XorShift(seed);
    let mut flipped = Vec::new();
    for _ in 0..count {
        let n = 1 + rng.below(4);
        let words: Vec<&str> = (0..n).map(|_| pick(&mut rng, list)).collect();
        let suffix = match rng.below(4) {
            0 => String::new(),
            1 => digits(&mut rng),
            2 => format!("{}{}", pick(&mut rng, SYMBOLS), digits(&mut rng)),
            _ => format!("{}{}", digits(&mut rng), pick(&mut rng, SYMBOLS)),
        };
        let variants = cosmetic_variants(&words, &suffix);
        let verdict = |p: &str| accepts(&policy, p);
        let first = verdict(&variants[0].1);
        if let Some((how, p)) = variants.iter().find(|(_, p)| verdict(p) != first) {
            flipped.push(format!(
                "{:?} {} but {how} {p:?} {}",
                variants[0].1,
                if first { "accepted" } else { "refused" },
                if first { "refused" } else { "accepted" }
            ));
        }
    }
    let same = 1.0 - flipped.len() as f64 / count as f64;
    println!(
        "{name}: {:.2}% of {count} phrases keep their verdict",
        same * 100.0
    );
    assert!(
        same >= floor,
        "{name}: {:.2}% of {count} keep their verdict; e.g. {:#?}",
        same * 100.0,
        &flipped[..flipped.len().min(20)]
    );
}

#[test]
fn joiners_case_and_spacing_do_not_flip_verdicts() {
    let dictionary: Vec<&str> = words(BASE_WORDS).into_iter().take(20_000).collect();
    assert_cosmetics_do_not_flip(
        "dictionary words",
        &dictionary,
        0x1015_0000_0000_0001,
        1500,
        1.0,
    );
    let english = words(ENGLISH_WORDS);
    assert_cosmetics_do_not_flip("English words", &english, 0x1015_0000_0000_0002, 1500, 1.0);
}

#[test]
fn human_shapes_with_a_joiner_between_every_character_are_refused() {
    // `P-a-s-s-w-o-r-d-1`: the plain shapes, spelt out.
    let mut rng = XorShift(0x5EE5_0000_0000_0001);
    let spelt: Vec<String> = human_shapes(0x0DDB_1A5E_5BAD_5EED, 2000)
        .into_iter()
        .map(|p| {
            let joiner = ["-", ".", " ", "_"][rng.below(4)];
            p.chars().map(String::from).collect::<Vec<_>>().join(joiner)
        })
        .collect();
    assert_refused("human shapes, a joiner between every character", &spelt);
}
