//! Character classes: composition rules on what a password is made of.
//!
//! This rule family owns everything that looks at the *kinds* of characters
//! in a password rather than at words: explicit minimum counts per class
//! ([`check_requirements`]), length-based complexity in the style of Active
//! Directory's "password must meet complexity requirements"
//! ([`check_length_complexity`]) and the longest run of one repeated
//! character ([`check_max_run`]).
//!
//! Everything is counted on Unicode scalar values after NFKC normalization,
//! never on bytes: `é` typed as `e` + U+0301 is one lower-case letter, a
//! full-width `１` (U+FF11) is the digit `1`. The classes, in the order a
//! character is tested:
//!
//! - `lower`: [`char::is_lowercase`] (`a`, `é`, `ß`, `я`).
//! - `upper`: [`char::is_uppercase`], and title-case letters (a letter whose
//!   lower-case mapping differs from itself, such as Greek `ᾈ`).
//! - `digit`: [`char::is_numeric`] (Unicode Nd, Nl and No: ASCII and
//!   Arabic-Indic digits, and anything NFKC turns into them).
//! - `other`: letters without case (CJK ideographs, kana, Hangul, Arabic,
//!   Hebrew, Thai...), combining marks that NFKC could not compose onto a
//!   base letter, control characters and invisible format characters (zero
//!   width joiner and spaces, direction marks, soft hyphen, byte order mark,
//!   tag characters). None of these can be seen as a "symbol" by a person
//!   reading the password, so they do not satisfy a symbol requirement.
//! - `symbol`: everything else: ASCII and Unicode punctuation, mathematical
//!   and currency signs, emoji and other pictographs, and spaces (NFKC turns
//!   no-break and ideographic spaces into U+0020; tab and newline are
//!   control characters, so `other`). Spaces count as symbols on purpose: a
//!   passphrase like `correct horse battery staple` should not need an
//!   extra `!`.
//!
//! No message of this module ever contains the password or a part of it;
//! no copy of the password is made (everything is counted while streaming
//! through the NFKC iterator).

use unicode_normalization::char::is_combining_mark;

use crate::policy::normalize::nfkc_chars;

/// Character classes of a password, counted on NFKC-normalized characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassCounts {
    pub lower: usize,
    pub upper: usize,
    pub digit: usize,
    pub symbol: usize,
    pub other: usize,
}

impl ClassCounts {
    /// All characters counted (the NFKC length of the password).
    pub fn total(&self) -> usize {
        self.lower + self.upper + self.digit + self.symbol + self.other
    }

    /// How many of the four classes lower/upper/digit/symbol are present,
    /// with an `other` character counting as a symbol (see
    /// [`LengthComplexity`]).
    pub fn complexity_classes(&self) -> usize {
        [self.lower, self.upper, self.digit, self.symbol + self.other]
            .iter()
            .filter(|&&n| n > 0)
            .count()
    }
}

/// The class of one already NFKC-normalized character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Symbol,
    Other,
}

/// Invisible format characters (general category Cf and friends) that are
/// commonly pasted by accident or used in emoji sequences.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

fn classify(c: char) -> Class {
    if c.is_lowercase() {
        Class::Lower
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_numeric() {
        Class::Digit
    } else if c.is_alphabetic() {
        // A letter with a lower-case mapping of its own is title case.
        if c.to_lowercase().ne(std::iter::once(c)) {
            Class::Upper
        } else {
            Class::Other
        }
    } else if c.is_control() || is_combining_mark(c) || is_invisible_format(c) {
        Class::Other
    } else {
        Class::Symbol
    }
}

/// Counts the classes of the NFKC-normalized characters of `password`.
/// The counts add up to the NFKC length of the password.
pub fn count_classes(password: &str) -> ClassCounts {
    let mut counts = ClassCounts::default();
    for c in nfkc_chars(password) {
        match classify(c) {
            Class::Lower => counts.lower += 1,
            Class::Upper => counts.upper += 1,
            Class::Digit => counts.digit += 1,
            Class::Symbol => counts.symbol += 1,
            Class::Other => counts.other += 1,
        }
    }
    counts
}

/// Required minimum counts (0 = not required).
///
/// The classes are exact here: an `other` character does not count as a
/// symbol (unlike in [`LengthComplexity`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRequirements {
    #[serde(default)]
    pub lower: usize,
    #[serde(default)]
    pub upper: usize,
    #[serde(default)]
    pub digit: usize,
    #[serde(default)]
    pub symbol: usize,
    #[serde(default)]
    pub other: usize,
}

/// Length-based complexity: passwords shorter than `until_length`
/// characters (NFKC) must use at least `classes` of the four classes lower
/// case, upper case, digits and symbols; from `until_length` characters on,
/// nothing is required, so long passphrases are welcome.
///
/// For this rule an `other` character (a letter without case such as CJK or
/// Arabic, an invisible or combining character) counts as a symbol, so
/// scripts without case can still reach the required number of classes.
/// Emoji are symbols anyway.
///
/// `classes` above 4 is treated as 4 (all four classes), `classes` 0 or
/// `until_length` 0 turns the rule off. Active Directory's "complexity" is
/// `classes: 3, until_length: usize::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthComplexity {
    pub classes: usize,
    pub until_length: usize,
}

/// One failed class rule. [`ClassProblem::message`] says what is missing in
/// plain words, never quoting the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassProblem {
    /// `class` is the field name of [`ClassRequirements`]: `"lower"`,
    /// `"upper"`, `"digit"`, `"symbol"` or `"other"`.
    MissingClass { class: &'static str, needed: usize },
    /// Fewer than `needed` (at most 4) classes in a password shorter than
    /// `until_length` characters.
    TooFewClasses { needed: usize, until_length: usize },
    /// A run of more than `max_run` identical characters.
    RepeatedCharacter { max_run: usize },
}

/// The words for a class, singular and plural.
fn class_words(class: &str) -> (&'static str, &'static str) {
    match class {
        "lower" => ("lower-case letter", "lower-case letters"),
        "upper" => ("upper-case letter", "upper-case letters"),
        "digit" => ("digit", "digits"),
        "symbol" => ("symbol", "symbols"),
        _ => (
            "letter without case (such as CJK or Arabic)",
            "letters without case (such as CJK or Arabic)",
        ),
    }
}

impl ClassProblem {
    /// A short message in plain words that says how to fix the password,
    /// e.g. `needs at least 1 digit`.
    pub fn message(&self) -> String {
        match *self {
            ClassProblem::MissingClass { class, needed } => {
                let (one, many) = class_words(class);
                let words = if needed == 1 { one } else { many };
                format!("needs at least {needed} {words}")
            }
            ClassProblem::TooFewClasses {
                needed,
                until_length,
            } => {
                let classes = "lower case, upper case, digits, symbols";
                let of = if needed >= 4 {
                    format!("all of: {classes}")
                } else {
                    format!("{needed} of: {classes}")
                };
                if until_length == usize::MAX {
                    format!("needs {of}")
                } else {
                    format!("needs {of} (or {until_length}+ characters)")
                }
            }
            ClassProblem::RepeatedCharacter { max_run } => {
                let times = if max_run == 1 { "time" } else { "times" };
                format!("repeats a character more than {max_run} {times} in a row")
            }
        }
    }
}

/// Reports every class of `req` with fewer characters than required, in
/// the order lower, upper, digit, symbol, other.
pub fn check_requirements(password: &str, req: &ClassRequirements) -> Vec<ClassProblem> {
    let counts = count_classes(password);
    [
        ("lower", req.lower, counts.lower),
        ("upper", req.upper, counts.upper),
        ("digit", req.digit, counts.digit),
        ("symbol", req.symbol, counts.symbol),
        ("other", req.other, counts.other),
    ]
    .into_iter()
    .filter(|&(_, needed, have)| have < needed)
    .map(|(class, needed, _)| ClassProblem::MissingClass { class, needed })
    .collect()
}

/// Checks [`LengthComplexity`]: `None` when the password is long enough or
/// uses enough classes.
pub fn check_length_complexity(password: &str, rule: LengthComplexity) -> Option<ClassProblem> {
    let needed = rule.classes.min(4);
    if needed == 0 {
        return None;
    }
    let counts = count_classes(password);
    // As for the length rule: a character that NFKC expands counts once.
    let length = counts.total().min(password.chars().count());
    if length >= rule.until_length || counts.complexity_classes() >= needed {
        return None;
    }
    Some(ClassProblem::TooFewClasses {
        needed,
        until_length: rule.until_length,
    })
}

/// The longest run of the same character (NFKC, case-sensitive: `aA` is
/// not a run) must be at most `max_run`; `max_run` 0 turns the rule off.
pub fn check_max_run(password: &str, max_run: usize) -> Option<ClassProblem> {
    if max_run == 0 {
        return None;
    }
    let mut previous = None;
    let mut run = 0usize;
    for c in nfkc_chars(password) {
        if previous == Some(c) {
            run += 1;
        } else {
            previous = Some(c);
            run = 1;
        }
        if run > max_run {
            return Some(ClassProblem::RepeatedCharacter { max_run });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::XorShift;
    use unicode_normalization::UnicodeNormalization;

    fn counts(
        lower: usize,
        upper: usize,
        digit: usize,
        symbol: usize,
        other: usize,
    ) -> ClassCounts {
        ClassCounts {
            lower,
            upper,
            digit,
            symbol,
            other,
        }
    }

    #[test]
    fn counts_classes_after_nfkc() {
        let cases: &[(&str, ClassCounts)] = &[
            ("", counts(0, 0, 0, 0, 0)),
            ("abcDEF123!?", counts(3, 3, 3, 2, 0)),
            ("correct horse", counts(12, 0, 0, 1, 0)),
            // e + U+0301 composes to one lower-case é.
            ("e\u{301}te\u{301}", counts(3, 0, 0, 0, 0)),
            ("E\u{301}TE\u{301}", counts(0, 3, 0, 0, 0)),
            // Full-width letters and digits become ASCII.
            ("\u{FF21}\u{FF41}\u{FF11}\u{FF12}", counts(1, 1, 2, 0, 0)),
            // Superscript two is the digit 2 after NFKC.
            ("x\u{B2}", counts(1, 0, 1, 0, 0)),
            // Arabic-Indic digits are digits.
            ("\u{661}\u{662}\u{663}", counts(0, 0, 3, 0, 0)),
            // CJK, kana, Arabic letters have no case.
            ("密码パスワード", counts(0, 0, 0, 0, 7)),
            ("\u{643}\u{644}\u{645}\u{629}", counts(0, 0, 0, 0, 4)),
            // Emoji and currency signs are symbols.
            ("🔑🦀€", counts(0, 0, 0, 3, 0)),
            // A ZWJ sequence: three pictographs, two invisible joiners.
            ("👨\u{200D}👩\u{200D}👧", counts(0, 0, 0, 3, 2)),
            // A combining mark with nothing to compose onto.
            ("\u{301}", counts(0, 0, 0, 0, 1)),
            ("a\u{0}\u{7F}", counts(1, 0, 0, 0, 2)),
            // Greek title-case letter counts as upper case.
            ("\u{1F88}", counts(0, 1, 0, 0, 0)),
            // Spaces are symbols (no-break and ideographic spaces become
            // U+0020); tab is a control character.
            ("ß \u{A0}\u{3000}\t", counts(1, 0, 0, 3, 1)),
        ];
        for (password, expected) in cases {
            assert_eq!(count_classes(password), *expected, "{password:?}");
        }
    }

    #[test]
    fn requirements_report_each_missing_class() {
        let req = ClassRequirements {
            lower: 1,
            upper: 1,
            digit: 2,
            symbol: 1,
            other: 0,
        };
        let missing = |p: &str| -> Vec<&'static str> {
            check_requirements(p, &req)
                .into_iter()
                .map(|problem| match problem {
                    ClassProblem::MissingClass { class, .. } => class,
                    _ => unreachable!(),
                })
                .collect()
        };
        let cases: &[(&str, &[&str])] = &[
            ("aB12!", &[]),
            ("aB1!", &["digit"]),
            ("ab12!", &["upper"]),
            ("", &["lower", "upper", "digit", "symbol"]),
            // Full-width digits count once normalized.
            ("aB\u{FF11}\u{FF12}!", &[]),
            // Accented letters via combining marks have case.
            ("e\u{301}E\u{301}12-", &[]),
            ("🔑aB12", &[]),
            // CJK is not a symbol for explicit requirements.
            ("aB12密", &["symbol"]),
            ("a b12", &["upper"]),
        ];
        for (password, expected) in cases {
            assert_eq!(missing(password), *expected, "{password:?}");
        }
        let cjk = ClassRequirements {
            other: 2,
            ..ClassRequirements::default()
        };
        assert!(check_requirements("密码", &cjk).is_empty());
        assert_eq!(
            check_requirements("密", &cjk),
            [ClassProblem::MissingClass {
                class: "other",
                needed: 2
            }]
        );
        assert!(check_requirements("", &ClassRequirements::default()).is_empty());
    }

    #[test]
    fn length_complexity() {
        let nist = LengthComplexity {
            classes: 3,
            until_length: 15,
        };
        let ad = LengthComplexity {
            classes: 3,
            until_length: usize::MAX,
        };
        let cases: &[(&str, LengthComplexity, bool)] = &[
            ("Kv7qLp2Tz", nist, true),
            ("kv7#qlp2", nist, true),
            ("kvqlpabc", nist, false),
            ("kvqlpab12", nist, false),
            // 15 characters: a passphrase needs nothing more.
            ("correcthorsebat", nist, true),
            ("correcthorseba", nist, false),
            ("correcthorsebattery", ad, false),
            ("Correct horse battery", ad, true),
            // CJK counts as the symbol class here.
            ("abc12密码", nist, true),
            ("abc密码", nist, false),
            // Full-width digit is a digit; e + U+0301 is one lower letter.
            ("E\u{301}te\u{301}\u{FF11}", nist, true),
            ("e\u{301}te\u{301}\u{FF11}", nist, false),
            ("🦀ab12", ad, true),
            (
                "Aa1!",
                LengthComplexity {
                    classes: 9,
                    until_length: 100,
                },
                true,
            ),
            (
                "Aa1",
                LengthComplexity {
                    classes: 9,
                    until_length: 100,
                },
                false,
            ),
            (
                "a",
                LengthComplexity {
                    classes: 0,
                    until_length: 100,
                },
                true,
            ),
            (
                "a",
                LengthComplexity {
                    classes: 4,
                    until_length: 0,
                },
                true,
            ),
        ];
        for (password, rule, accepted) in cases {
            assert_eq!(
                check_length_complexity(password, *rule).is_none(),
                *accepted,
                "{password:?} {rule:?}"
            );
        }
        // Length is counted in characters, not bytes: 14 CJK characters are
        // 42 bytes but still shorter than 15.
        let cjk = "密".repeat(14);
        assert!(check_length_complexity(&cjk, nist).is_some());
        assert!(check_length_complexity(&"密".repeat(15), nist).is_none());
        assert_eq!(
            check_length_complexity("kvqlpabc", nist),
            Some(ClassProblem::TooFewClasses {
                needed: 3,
                until_length: 15
            })
        );
    }

    #[test]
    fn max_run() {
        let cases: &[(&str, usize, bool)] = &[
            ("aaa", 3, true),
            ("aaaa", 3, false),
            ("xaaaax", 3, false),
            ("aAaA", 1, true),
            ("aaaaaaaa", 0, true),
            ("", 1, true),
            ("ab", 1, true),
            ("aab", 1, false),
            // Composed and decomposed é are the same character.
            ("é\u{E9}e\u{301}", 2, false),
            ("é\u{E9}e\u{301}", 3, true),
            // Full-width and ASCII 1 are the same after NFKC.
            ("1\u{FF11}1", 2, false),
            ("🔑🔑🔑🔑", 3, false),
            ("密密密", 3, true),
            ("密密密密", 3, false),
        ];
        for (password, max, accepted) in cases {
            assert_eq!(
                check_max_run(password, *max).is_none(),
                *accepted,
                "{password:?} {max}"
            );
        }
    }

    #[test]
    fn messages_are_plain_and_say_how_to_fix() {
        let cases: &[(ClassProblem, &str)] = &[
            (
                ClassProblem::MissingClass {
                    class: "digit",
                    needed: 1,
                },
                "needs at least 1 digit",
            ),
            (
                ClassProblem::MissingClass {
                    class: "upper",
                    needed: 2,
                },
                "needs at least 2 upper-case letters",
            ),
            (
                ClassProblem::MissingClass {
                    class: "symbol",
                    needed: 1,
                },
                "needs at least 1 symbol",
            ),
            (
                ClassProblem::TooFewClasses {
                    needed: 3,
                    until_length: 15,
                },
                "needs 3 of: lower case, upper case, digits, symbols (or 15+ characters)",
            ),
            (
                ClassProblem::TooFewClasses {
                    needed: 3,
                    until_length: usize::MAX,
                },
                "needs 3 of: lower case, upper case, digits, symbols",
            ),
            (
                ClassProblem::TooFewClasses {
                    needed: 4,
                    until_length: 20,
                },
                "needs all of: lower case, upper case, digits, symbols (or 20+ characters)",
            ),
            (
                ClassProblem::RepeatedCharacter { max_run: 3 },
                "repeats a character more than 3 times in a row",
            ),
        ];
        for (problem, message) in cases {
            assert_eq!(problem.message(), *message);
        }
    }

    #[test]
    fn messages_never_contain_the_password() {
        let req = ClassRequirements {
            lower: 1,
            upper: 1,
            digit: 1,
            symbol: 1,
            other: 1,
        };
        let rule = LengthComplexity {
            classes: 4,
            until_length: 64,
        };
        for password in [
            "zzzzqqqq",
            "QQQQXXXX",
            "77777777",
            "########",
            "密密密密密密",
        ] {
            let mut problems = check_requirements(password, &req);
            problems.extend(check_length_complexity(password, rule));
            problems.extend(check_max_run(password, 2));
            assert!(problems.len() >= 3, "{password:?}");
            for problem in problems {
                let message = problem.message();
                let part: String = password.chars().take(4).collect();
                assert!(!message.contains(&part), "{message}");
            }
        }
    }

    #[test]
    fn requirements_deserialize_with_defaults_and_refuse_unknown_fields() {
        use serde::de::value::{Error, MapDeserializer};
        use serde::Deserialize;
        let req = ClassRequirements::deserialize(MapDeserializer::<_, Error>::new(
            [("digit", 1usize), ("symbol", 2)].into_iter(),
        ))
        .expect("valid");
        assert_eq!(
            req,
            ClassRequirements {
                digit: 1,
                symbol: 2,
                ..ClassRequirements::default()
            }
        );
        let unknown = ClassRequirements::deserialize(MapDeserializer::<_, Error>::new(
            [("digits", 1usize)].into_iter(),
        ));
        assert!(unknown.is_err());
    }

    /// Characters to build random passwords from: ASCII, accented and
    /// full-width letters and digits, CJK, emoji, combining marks, joiners.
    const ALPHABET: &[char] = &[
        'a', 'Z', 'q', 'Q', '0', '7', '!', ' ', '-', '~', 'é', 'É', 'ß', 'ø', 'Я', 'ж', 'ᾈ',
        '\u{301}', '\u{308}', '\u{327}', '\u{FF11}', '\u{FF21}', '\u{FF41}', '\u{B2}', '½', 'ﬁ',
        '\u{FDFA}', '密', '码', 'パ', '한', 'ك', '١', '🔑', '🦀', '👩', '\u{200D}', '\u{FE0F}',
        '\u{0}', '\u{FEFF}', '€', 'Ⅻ',
    ];

    fn random_password(rng: &mut XorShift) -> String {
        rng.string(ALPHABET, 23)
    }

    #[test]
    fn random_passwords_are_classified_consistently() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let all = ClassRequirements {
            lower: 1,
            upper: 1,
            digit: 1,
            symbol: 1,
            other: 1,
        };
        for _ in 0..5000 {
            let password = random_password(&mut rng);
            let counts = count_classes(&password);
            let len = password.nfkc().count();
            assert_eq!(counts.total(), len, "{password:?}");
            // The length complexity counts: NFKC, but never above the typed count.
            let complexity_len = len.min(password.chars().count());

            // Each reported missing class really is short.
            let problems = check_requirements(&password, &all);
            let missing = [
                counts.lower,
                counts.upper,
                counts.digit,
                counts.symbol,
                counts.other,
            ]
            .iter()
            .filter(|&&n| n == 0)
            .count();
            assert_eq!(problems.len(), missing, "{password:?}");

            // Refused exactly when short and using too few classes.
            for classes in 0..=5 {
                let rule = LengthComplexity {
                    classes,
                    until_length: 30,
                };
                let refused = check_length_complexity(&password, rule).is_some();
                assert_eq!(
                    refused,
                    complexity_len < 30 && classes.min(4) > counts.complexity_classes(),
                    "{password:?} {classes}"
                );
            }
            assert!(check_length_complexity(
                &password,
                LengthComplexity {
                    classes: 4,
                    until_length: complexity_len,
                }
            )
            .is_none());

            // A run limit as long as the password never fires; a limit of 1
            // fires exactly when two neighbours are equal.
            assert!(check_max_run(&password, len.max(1)).is_none());
            let chars: Vec<char> = password.nfkc().collect();
            let has_pair = chars.windows(2).any(|w| w[0] == w[1]);
            assert_eq!(check_max_run(&password, 1).is_some(), has_pair);
        }
    }
}
