use super::*;
use crate::policy::test_support::XorShift;

fn score(pw: &str) -> u8 {
    estimate(pw, &[], HARD_MAX_CHARS).score
}

fn zxcvbn_score(pw: &str, names: &[&str]) -> u8 {
    u8::from(zxcvbn::zxcvbn(pw, names).score())
}

const WORDS: &[&str] = &[
    "password",
    "summer",
    "winter",
    "dragon",
    "monkey",
    "football",
    "welcome",
    "sunshine",
    "princess",
    "shadow",
    "master",
    "letmein",
    "baseball",
    "michael",
    "jennifer",
    "jordan",
    "superman",
    "harley",
    "hunter",
    "ranger",
    "buster",
    "soccer",
    "tigger",
    "charlie",
    "robert",
    "thomas",
    "hockey",
    "killer",
    "george",
    "computer",
    "michelle",
    "jessica",
    "pepper",
    "ginger",
    "hammer",
    "silver",
    "orange",
    "cookie",
    "falcon",
    "spider",
    "secret",
    "mountain",
    "company",
    "office",
    "garden",
    "coffee",
    "purple",
    "yellow",
    "monday",
    "friday",
    "january",
    "october",
    "autumn",
    "spring",
    "london",
    "paris",
    "berlin",
    "chocolate",
    "butterfly",
    "elephant",
    "pumpkin",
    "rainbow",
    "freedom",
    "liberty",
    "thunder",
    "lightning",
    "diamond",
    "crystal",
    "phoenix",
    "wizard",
    "castle",
    "forest",
    "river",
    "ocean",
    "planet",
    "rocket",
    "guitar",
    "piano",
    "violin",
    "tennis",
    "golf",
];

const NAMES: &[&str] = &[
    "james", "john", "mary", "patricia", "linda", "david", "richard", "susan", "karen", "nancy",
    "daniel", "paul", "mark", "lisa", "sandra", "steven", "kevin", "brian", "emma", "olivia",
    "sophie", "lucas", "noah", "chloe", "smith", "johnson", "brown", "miller",
];

const PHRASE_WORDS: &[&str] = &[
    "anchor", "bramble", "candle", "desert", "engine", "falcon", "garden", "harbor", "island",
    "jacket", "kettle", "ladder", "marble", "needle", "orchard", "pepper", "quarry", "ribbon",
    "saddle", "timber", "umbrella", "velvet", "walnut", "yonder", "zephyr", "basket", "cobalt",
    "dolphin", "ember", "fossil", "glacier", "hollow", "ivory", "juniper", "kayak", "lantern",
    "meadow", "nectar", "oyster", "pebble", "quiver", "raven", "spruce", "tulip", "urchin",
    "correct", "horse", "battery", "staple", "the", "and", "blue", "green", "house", "table",
];

const WALKS: &[&str] = &[
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1234567890",
    "1qaz2wsx3edc4rfv",
    "qazwsxedc",
    "poiuytrewq",
    "lkjhgfdsa",
    "mnbvcxz",
    "!@#$%^&*()",
    "qwertzuiop",
    "azertyuiop",
    "zaq12wsx",
    "1q2w3e4r5t",
    "147258369",
    "7894561230",
    "asdfjkl;",
    "qweasdzxc",
];

fn pick<'a>(rng: &mut XorShift, list: &[&'a str]) -> &'a str {
    list[rng.below(list.len())]
}

fn capitalise(rng: &mut XorShift, w: &str) -> String {
    match rng.below(4) {
        0 => {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
        1 => w.to_uppercase(),
        _ => w.to_owned(),
    }
}

fn leet(rng: &mut XorShift, w: &str) -> String {
    if rng.below(3) != 0 {
        return w.to_owned();
    }
    w.chars()
        .map(|c| match c {
            'a' => '@',
            'o' => '0',
            'e' => '3',
            's' => '$',
            'i' => '1',
            _ => c,
        })
        .collect()
}

fn decoration(rng: &mut XorShift) -> String {
    let symbols = ["!", "?", "#", "$", "*", ".", "!!", ""];
    match rng.below(6) {
        0 => format!("{}", rng.below(10)),
        1 => format!("{}", rng.below(100)),
        2 => format!("{}", 1950 + rng.below(80)),
        3 => format!("{}{}", 1950 + rng.below(80), pick(rng, &symbols)),
        4 => "123".to_owned(),
        _ => pick(rng, &symbols).to_owned(),
    }
}

fn random_string(rng: &mut XorShift, alphabet: &[char], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

/// A mixed corpus of what people type: decorated common words, keyboard
/// walks, dates, names with years, random strings and passphrases.
pub(crate) fn corpus(seed: u64, per_kind: usize) -> Vec<String> {
    let mut rng = XorShift(seed);
    let printable: Vec<char> = (33u8..127).map(char::from).collect();
    let alnum: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    let mut out = Vec::new();
    for _ in 0..per_kind {
        // Decorated common word.
        let w = pick(&mut rng, WORDS);
        let w = capitalise(&mut rng, w);
        let w = leet(&mut rng, &w);
        let d = decoration(&mut rng);
        out.push(if rng.below(4) == 0 {
            format!("{d}{w}")
        } else {
            format!("{w}{d}")
        });
        // Keyboard walk, whole or a piece, maybe decorated.
        let walk: Vec<char> = pick(&mut rng, WALKS).chars().collect();
        let len = 4 + rng.below(walk.len() - 3);
        let from = rng.below(walk.len() - len + 1);
        let piece: String = walk[from..from + len].iter().collect();
        out.push(format!(
            "{}{}",
            capitalise(&mut rng, &piece),
            if rng.below(2) == 0 {
                decoration(&mut rng)
            } else {
                String::new()
            }
        ));
        // Date.
        let (d, m, y) = (1 + rng.below(28), 1 + rng.below(12), 1940 + rng.below(90));
        let sep = pick(&mut rng, &["/", ".", "-", ""]);
        out.push(match rng.below(4) {
            0 => format!("{d:02}{sep}{m:02}{sep}{y}"),
            1 => format!("{y}{sep}{m:02}{sep}{d:02}"),
            2 => format!("{m}{sep}{d}{sep}{:02}", y % 100),
            _ => format!("{}{d:02}{m:02}{y}", pick(&mut rng, NAMES)),
        });
        // Name and year.
        let name = pick(&mut rng, NAMES);
        let name = capitalise(&mut rng, name);
        let year = 1950 + rng.below(80);
        out.push(match rng.below(3) {
            0 => format!("{name}{year}"),
            1 => format!("{name}{}", year % 100),
            _ => format!("{name}{year}{}", decoration(&mut rng)),
        });
        // Random strings.
        let len = [6, 8, 10, 12, 16, 20][rng.below(6)];
        let alphabet = if rng.below(2) == 0 {
            &printable
        } else {
            &alnum
        };
        out.push(random_string(&mut rng, alphabet, len));
        // Passphrase.
        let words = 2 + rng.below(4);
        let sep = pick(&mut rng, &["", " ", "-", ".", "_"]);
        let phrase: Vec<&str> = (0..words).map(|_| pick(&mut rng, PHRASE_WORDS)).collect();
        out.push(phrase.join(sep));
    }
    out
}

#[test]
fn scores_of_known_passwords() {
    for (pw, want) in [
        ("password", 0),
        ("qwertyuiop", 0),
        ("drowssap", 0),
        ("P@ssw0rd", 0),
        ("aaaaaaaaaaaa", 0),
        ("abcabcabcabc", 0),
        ("1qaz2wsx3edc", 0),
        ("12/05/1990", 1),
        ("19900512", 1),
        ("ＰＡＳＳＷＯＲＤ", 0),
        ("Kv7#qLp2-Tz9!mWd", 4),
    ] {
        assert_eq!(score(pw), want, "{pw}");
    }
    assert!(score("correcthorsebatterystaple") >= 3);
    assert!(score("tangerine-Otter-42-lamp") >= 3);
    assert_eq!(score(""), 0);
}

#[test]
fn random_sixteen_characters_score_four() {
    let printable: Vec<char> = (33u8..127).map(char::from).collect();
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for _ in 0..500 {
        let pw = random_string(&mut rng, &printable, 16);
        assert_eq!(score(&pw), 4, "{pw}");
    }
}

#[test]
fn the_names_lower_the_score() {
    for (pw, name) in [
        ("Zqxwliddell7", "zqxwliddell"),
        ("Zqxwl1dd3ll7", "zqxwliddell"),
        ("llleddilwxqz!", "zqxwliddell"),
        ("Fabrikam#Tq9", "fabrikam"),
    ] {
        let without = estimate(pw, &[], HARD_MAX_CHARS);
        let with = estimate(pw, &["alice", name], HARD_MAX_CHARS);
        assert!(
            with.guesses_log10 + 2.0 < without.guesses_log10 && with.score < without.score,
            "{pw}: {without:?} -> {with:?}"
        );
    }
}

#[test]
fn characters_beyond_the_limit_count_as_ten_guesses_each() {
    let pw = "password".repeat(4);
    let full = estimate(&pw, &[], HARD_MAX_CHARS);
    let cut = estimate(&pw, &[], 16);
    assert_eq!((cut.estimated_chars, cut.tail_chars), (16, 16));
    assert_eq!(full.tail_chars, 0);
    let head = estimate(&pw[..16], &[], HARD_MAX_CHARS);
    assert!((cut.guesses_log10 - (head.guesses_log10 + 16.0)).abs() < 1e-9);
    let long = "x".repeat(HARD_MAX_CHARS + 10);
    let e = estimate(&long, &[], usize::MAX);
    assert_eq!((e.estimated_chars, e.tail_chars), (HARD_MAX_CHARS, 10));
}

/// The target: the same score as the zxcvbn crate for at least
/// ~80% of typical passwords, within one for at least ~97%. Measured on
/// this corpus (2,880 passwords): 98.0% the same, 99.8% within one. The
/// differences are known: zxcvbn gives an all-capitals word followed by a
/// digit 1 guess (`SHADOW7` scores 0), pwgate has QWERTZ and AZERTY walks
/// (lower) and reads leetspeak per character (`1990$` is `1990s`).
#[test]
fn agrees_with_the_zxcvbn_crate() {
    let mut corpus = corpus(0x5eed_0000_0000_0005, 400);
    let names = ["alice", "contoso"];
    let mut rng = XorShift(0x0a11_ce00_c0de_0001);
    for _ in 0..480 {
        let n = pick(&mut rng, &names);
        let n = capitalise(&mut rng, n);
        let d = decoration(&mut rng);
        let w = pick(&mut rng, PHRASE_WORDS);
        corpus.push(match rng.below(3) {
            0 => format!("{n}{d}"),
            1 => format!("{w}-{n}{d}"),
            _ => format!("{}{d}", n.chars().rev().collect::<String>()),
        });
    }
    let (mut same, mut near) = (0usize, 0usize);
    let mut differ = Vec::new();
    for pw in &corpus {
        let ours = estimate(pw, &names, HARD_MAX_CHARS).score;
        let theirs = zxcvbn_score(pw, &names);
        same += usize::from(ours == theirs);
        near += usize::from(ours.abs_diff(theirs) <= 1);
        if ours.abs_diff(theirs) > 1 {
            differ.push(format!("{pw}: {ours} vs {theirs}"));
        }
    }
    let share = |k: usize| k as f64 / corpus.len() as f64;
    eprintln!(
        "{} passwords: {:.1}% the same score as zxcvbn, {:.1}% within one; {:?}",
        corpus.len(),
        100.0 * share(same),
        100.0 * share(near),
        differ
    );
    assert!(share(same) >= 0.95, "{:.3}", share(same));
    assert!(share(near) >= 0.99, "{:.3} {differ:?}", share(near));
}

/// The bound on the work of one estimate, in steps (a trie step, a
/// character comparison or a segmentation cell, a few nanoseconds each):
/// the most seen below is about 30,000, for 128 `1`s (each read as 1, i and
/// l); random Unicode stays near 12,000.
const MAX_STEPS: u64 = 60_000;

fn work(pw: &str) -> Work {
    let (e, w) = estimate_counting(pw, &["alice", "contoso", "ααα"], usize::MAX);
    assert!(e.guesses_log10.is_finite() && e.score <= 4, "{pw:?}: {e:?}");
    w
}

#[test]
fn arbitrary_unicode_never_panics_and_the_work_is_bounded() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let alphabet: Vec<char> = "aAq1!@4|7$0éÉ\u{301}ß字😀/-.09zZ İıſK\u{0}\u{10FFFF}ＰａＳ①ﬁ"
        .chars()
        .collect();
    let mut worst = 0;
    for _ in 0..3000 {
        let pw = rng.string(&alphabet, 200);
        worst = worst.max(work(&pw).steps);
    }
    eprintln!("most work on random Unicode: {worst} steps");
    assert!(worst <= MAX_STEPS, "{worst}");
}

#[test]
fn adversarial_inputs_have_bounded_work() {
    let mut inputs: Vec<String> = vec![
        "a".repeat(300),
        "ab".repeat(150),
        "abc".repeat(100),
        "1".repeat(300),
        "1|".repeat(150),
        "1|7!".repeat(75),
        "qazwsxedcrfvtgbyhnujmik,ol.p;/".repeat(10),
        "qwertyuiop[]poiuytrewq".repeat(10),
        "1234567890".repeat(30),
        "13579".repeat(60),
        "1/1/1991".repeat(40),
        "19191919".repeat(40),
        "passwordpassword".repeat(20),
        "4l1c3".repeat(60),
        "ecila".repeat(60),
    ];
    let mut rng = XorShift(0x1eed_1eed_1eed_1eed);
    let leet: Vec<char> = "1|7!4@0$532698+({[<%il".chars().collect();
    for _ in 0..200 {
        inputs.push(random_string(&mut rng, &leet, 128));
    }
    let mut worst = (0, String::new());
    for pw in &inputs {
        let w = work(pw);
        assert!(w.matches <= 8192, "{pw}: {w:?}");
        if w.steps > worst.0 {
            worst = (w.steps, pw.chars().take(20).collect());
        }
    }
    eprintln!("most work: {} steps ({}...)", worst.0, worst.1);
    assert!(worst.0 <= MAX_STEPS, "{worst:?}");
}

/// The differences from the zxcvbn crate that the README names.
#[test]
fn documented_differences_from_zxcvbn() {
    // zxcvbn prices an all-capitals word followed by a digit at one guess.
    assert_eq!((score("SHADOW7"), zxcvbn_score("SHADOW7", &[])), (1, 0));
    // QWERTZ walks are walks here.
    assert_eq!((score("ertzuio"), zxcvbn_score("ertzuio", &[])), (1, 2));
    // Leetspeak mixed with plain characters: 1990$ is the word 1990s.
    assert_eq!(
        (score("guitar1990$"), zxcvbn_score("guitar1990$", &[])),
        (1, 2)
    );
}
