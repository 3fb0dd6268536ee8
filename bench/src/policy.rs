//! policybench: how long one password decision takes, without network.
//!
//! Evaluates the built-in policy on a fixed corpus (common-password shapes,
//! keyboard and date patterns, passphrases, random passwords, long inputs)
//! and reports p50/p99/p99.9/max per evaluation in microseconds, next to a
//! baseline measured in the same run: the same corpus through a policy with
//! only the length rule. Bounded: `--rounds` passes over the corpus.

use std::time::Instant;

use hdrhistogram::Histogram;
use pwgate::policy::rules::banned::BannedWords;
use pwgate::policy::{ChangeKind, PasswordChange, Policy};
use pwgate::secret::Password;

fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "P@ssw0rd2024!",
        "Summer2025!!",
        "Welcome12345",
        "Qwerty123456",
        "1qaz2wsx3edc",
        "Contoso#2024!",
        "Tq12/05/1990!",
        "correct horse battery staple",
        "Kv7#qLp2-Tz9!mWd",
        "tangerine-Otter-42-lamp",
        "alice-in-the-long-garden-7",
        "Zxcvbnm,./!2",
        "my summer in the mountains",
        "J8r#qW2m!xK5pL9z",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut x: u64 = 0x243F_6A88_85A3_08D3;
    let printable: Vec<char> = (33u8..127).map(char::from).collect();
    for len in [12, 16, 24, 32, 64] {
        for _ in 0..20 {
            c.push(
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        printable[(x % printable.len() as u64) as usize]
                    })
                    .collect(),
            );
        }
    }
    // The longest accepted length, and over it.
    c.push("ab1!".repeat(64));
    c.push("x".repeat(300));
    c
}

fn measure(policy: &Policy, corpus: &[Password], rounds: usize) -> (Histogram<u64>, usize) {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram bounds");
    let names = vec!["alice".to_owned()];
    let org = vec!["contoso".to_owned()];
    let old = Password::new("Previous-Passw0rd-99".to_owned());
    let mut refused = 0;
    for _ in 0..rounds {
        for pw in corpus {
            let started = Instant::now();
            let verdict = policy.evaluate(&PasswordChange {
                kind: ChangeKind::Change,
                new_password: pw,
                old_password: Some(&old),
                account_names: &names,
                organisation_names: &org,
                actor_is_target: false,
            });
            let ns = started.elapsed().as_nanos() as u64;
            let _ = h.record(ns.max(1));
            refused += usize::from(!verdict.is_accept());
        }
    }
    (h, refused / rounds)
}

fn main() {
    let mut rounds = 200;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--rounds", Some(v)) => match v.parse::<usize>() {
                Ok(n) if (1..=100_000).contains(&n) => rounds = n,
                _ => {
                    eprintln!("policybench: --rounds takes 1..=100000");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!("usage: policybench [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    let corpus: Vec<Password> = corpus().into_iter().map(Password::new).collect();
    let full = Policy::default();
    // Baseline: the same evaluation with the length rule alone.
    let baseline = Policy {
        builtin_banned_words: false,
        banned_words: BannedWords::default(),
        check_account_name: false,
        check_organisation_name: false,
        complexity: None,
        old_password_max_distance: None,
        patterns: pwgate::policy::rules::patterns::PatternOptions {
            keyboard_walks: false,
            sequences: false,
            repetitions: false,
            dates: false,
            ..Default::default()
        },
        ..Policy::default()
    };
    // The built-in policy plus the bounded strength estimate (zxcvbn score
    // at least 3, only for passwords the other rules accept, up to 32
    // characters).
    let with_strength = Policy {
        strength: Some(pwgate::policy::rules::strength::Strength {
            min_score: 3,
            max_chars: pwgate::policy::rules::strength::DEFAULT_MAX_CHARS,
        }),
        ..Policy::default()
    };
    // Warm-up (built-in word list, zxcvbn's dictionaries, allocator).
    let _ = measure(&full, &corpus, 2);
    let _ = measure(&with_strength, &corpus, 2);
    let (b, _) = measure(&baseline, &corpus, rounds);
    let (f, refused) = measure(&full, &corpus, rounds);
    let (st, refused_st) = measure(&with_strength, &corpus, rounds);
    // zxcvbn alone, unbounded: every password, whatever its length.
    let mut z = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds");
    for _ in 0..rounds.min(50) {
        for pw in &corpus {
            let started = Instant::now();
            let e = zxcvbn::zxcvbn(pw.expose(), &["alice", "contoso"]);
            std::hint::black_box(e.score());
            let _ = z.record((started.elapsed().as_nanos() as u64).max(1));
        }
    }
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "corpus: {} passwords ({} refused by the full policy), {} rounds",
        corpus.len(),
        refused,
        rounds
    );
    println!("(with the strength estimate: {refused_st} refused)");
    println!("| policy | p50 µs | p99 µs | p99.9 µs | max µs |");
    println!("|---|---:|---:|---:|---:|");
    for (name, h) in [
        ("length only (baseline)", &b),
        ("built-in policy", &f),
        ("built-in + strength (bounded)", &st),
        ("zxcvbn alone, unbounded", &z),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            us(h, 0.5),
            us(h, 0.99),
            us(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "built-in / baseline at p99: {:.1}x; with strength / baseline: {:.1}x; zxcvbn unbounded / bounded at p99: {:.1}x",
        us(&f, 0.99) / us(&b, 0.99).max(0.001),
        us(&st, 0.99) / us(&b, 0.99).max(0.001),
        us(&z, 0.99) / us(&st, 0.99).max(0.001)
    );
}
