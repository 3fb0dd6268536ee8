//! policybench: how long one password decision takes, without network.
//!
//! Evaluates the built-in policy on a fixed corpus (common-password shapes,
//! keyboard and date patterns, passphrases, random passwords, long inputs)
//! and reports p50/p99/p99.9/max per evaluation in microseconds, next to a
//! baseline measured in the same run: the same corpus through a policy with
//! only the length rule. Then the built-in policy with the strength rule
//! (`min_strength_score = 3`) under each estimator, and the two estimators
//! alone on every password of the corpus: pwgate's own (64 and 128
//! characters) and the zxcvbn crate, bounded (32 characters) and unbounded.
//! Bounded: `--rounds` passes over the corpus (at most 50 for zxcvbn alone).

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
        common_passwords: false,
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
    // The built-in policy plus the strength estimate (score at least 3,
    // only for passwords the other rules accept), under each estimator with
    // its default bound: pwgate's estimates 64 characters in full, the
    // zxcvbn crate skips passwords over 32 characters.
    use pwgate::policy::rules::strength::{Estimator, Strength};
    let with_pwgate = Policy {
        strength: Some(Strength::new(Estimator::Pwgate, 3)),
        ..Policy::default()
    };
    let with_zxcvbn = Policy {
        strength: Some(Strength::new(Estimator::Zxcvbn, 3)),
        ..Policy::default()
    };
    // The built-in policy without its list of common leaked passwords, to
    // show what that rule's lookup costs.
    let no_list = Policy {
        common_passwords: false,
        ..Policy::default()
    };
    // Warm-up (built-in word list, common-password list, both estimators'
    // dictionaries, allocator).
    let _ = measure(&full, &corpus, 2);
    let _ = measure(&with_pwgate, &corpus, 2);
    let _ = measure(&with_zxcvbn, &corpus, 2);
    let (b, _) = measure(&baseline, &corpus, rounds);
    let (f, refused) = measure(&full, &corpus, rounds);
    let (nl, _) = measure(&no_list, &corpus, rounds);
    let (sp, refused_sp) = measure(&with_pwgate, &corpus, rounds);
    let (sz, refused_sz) = measure(&with_zxcvbn, &corpus, rounds);
    // The estimators alone, on every password of the corpus, with the
    // account's and organisation's names.
    let names = ["alice", "contoso"];
    let alone = |rounds: usize, f: &dyn Fn(&str) -> u8| {
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds");
        for _ in 0..rounds {
            for pw in &corpus {
                let started = Instant::now();
                std::hint::black_box(f(pw.expose()));
                let _ = h.record((started.elapsed().as_nanos() as u64).max(1));
            }
        }
        h
    };
    let pwgate_bounded = alone(rounds, &|pw| {
        pwgate::policy::estimator::estimate(pw, &names, Estimator::Pwgate.default_max_chars()).score
    });
    let pwgate_full = alone(rounds, &|pw| {
        pwgate::policy::estimator::estimate(pw, &names, pwgate::policy::estimator::HARD_MAX_CHARS)
            .score
    });
    let zx_rounds = rounds.min(50);
    let zxcvbn_bounded = alone(zx_rounds, &|pw| {
        if pw.chars().count() > Estimator::Zxcvbn.default_max_chars() {
            return 5;
        }
        u8::from(zxcvbn::zxcvbn(pw, &names).score())
    });
    let zxcvbn_unbounded = alone(zx_rounds, &|pw| {
        u8::from(zxcvbn::zxcvbn(pw, &names).score())
    });
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "corpus: {} passwords ({} refused by the full policy), {} rounds ({} for zxcvbn alone)",
        corpus.len(),
        refused,
        rounds,
        zx_rounds
    );
    println!(
        "(with min_strength_score = 3: {refused_sp} refused under pwgate's estimator, \
         {refused_sz} under zxcvbn's)"
    );
    println!("| policy or estimator | p50 µs | p99 µs | p99.9 µs | max µs |");
    println!("|---|---:|---:|---:|---:|");
    for (name, h) in [
        ("length only (baseline)", &b),
        ("built-in policy", &f),
        ("built-in policy without common_password", &nl),
        ("built-in + strength, pwgate estimator", &sp),
        ("built-in + strength, zxcvbn (bounded, 32)", &sz),
        ("pwgate estimator alone (64 chars)", &pwgate_bounded),
        ("pwgate estimator alone (128 chars)", &pwgate_full),
        ("zxcvbn alone, bounded (32 chars)", &zxcvbn_bounded),
        ("zxcvbn alone, unbounded", &zxcvbn_unbounded),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            us(h, 0.5),
            us(h, 0.99),
            us(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    let ratio = |a: &Histogram<u64>, b: &Histogram<u64>, q: f64| us(a, q) / us(b, q).max(0.001);
    println!(
        "built-in / baseline at p99: {:.1}x; built-in / without common_password: {:.2}x at p50, \
         {:.2}x at p99; with strength (pwgate) / built-in: {:.1}x; \
         with strength (zxcvbn) / built-in: {:.1}x",
        ratio(&f, &b, 0.99),
        ratio(&f, &nl, 0.5),
        ratio(&f, &nl, 0.99),
        ratio(&sp, &f, 0.99),
        ratio(&sz, &f, 0.99)
    );
    println!(
        "zxcvbn bounded / pwgate estimator: {:.0}x at p50, {:.0}x at p99; \
         zxcvbn unbounded / pwgate (128 chars): {:.0}x at p50, {:.0}x at p99",
        ratio(&zxcvbn_bounded, &pwgate_bounded, 0.5),
        ratio(&zxcvbn_bounded, &pwgate_bounded, 0.99),
        ratio(&zxcvbn_unbounded, &pwgate_full, 0.5),
        ratio(&zxcvbn_unbounded, &pwgate_full, 0.99)
    );
}
