//! The cheapest way to guess the whole password from its matches.
//!
//! A guesser builds the password from `l` pieces, each a match or a run of
//! characters guessed one by one (10 guesses per character, 11 for a single
//! one, so a match of the same span wins). Guessing one segmentation costs
//! `l! × Π guesses(piece)` (the pieces in any order) plus `10000^(l-1)`
//! (a guesser tries every shorter segmentation first; 1 for `l = 1`). The
//! estimate is the least cost over all segmentations.
//!
//! Dynamic programming over positions, in log10: `p[e][l]` is the least
//! product of `l` pieces covering the first `e` characters. Runs of
//! characters are handled without enumerating their starts: a run `s..e`
//! of two or more characters costs `e - s`, so the best one ending at `e`
//! comes from a running minimum of `p[s][l] - s`. At most [`MAX_PIECES`]
//! pieces are tried: with more, the additive term alone is 10^24 or more,
//! so the result is exact whenever the password takes fewer than 10^20
//! guesses (far above the score's top threshold, 10^10); above that it may
//! be over-estimated, never under. Work: O((n + matches) × MAX_PIECES).

use zeroize::Zeroizing;

use super::matching::Match;
use super::Work;

/// Most pieces in a segmentation (see the module's documentation).
pub(super) const MAX_PIECES: usize = 6;

/// log10(11): one character guessed alone.
const LOG10_11: f64 = 1.041_392_685_158_225;

/// log10(10^a + 10^b).
fn log10_sum(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (1.0 + 10f64.powf(lo - hi)).log10()
}

fn log10_factorial(l: usize) -> f64 {
    (2..=l).map(|i| (i as f64).log10()).sum()
}

/// log10 of the guesses needed for a password of `n` characters with these
/// matches (sorted here by their end).
pub(super) fn minimum_log10(n: usize, matches: &mut [Match], work: &mut Work) -> f64 {
    if n == 0 {
        return 0.0;
    }
    matches.sort_unstable_by_key(|m| m.end);
    let width = MAX_PIECES.min(n) + 1;
    let at = |e: usize, l: usize| e * width + l;
    let mut p = Zeroizing::new(vec![f64::INFINITY; (n + 1) * width]);
    p[0] = 0.0;
    // best[l]: least p[s][l] - s over s <= e - 2.
    let mut best = Zeroizing::new(vec![f64::INFINITY; width]);
    let mut next = 0;
    for e in 1..=n {
        work.steps += width as u64;
        if e >= 2 {
            let s = e - 2;
            for (l, b) in best.iter_mut().enumerate() {
                *b = b.min(p[at(s, l)] - s as f64);
            }
        }
        while let Some(m) = matches.get(next).filter(|m| m.end == e) {
            next += 1;
            if m.start >= e {
                continue;
            }
            work.steps += width as u64;
            for l in 1..width {
                let v = p[at(m.start, l - 1)] + m.log10;
                if v < p[at(e, l)] {
                    p[at(e, l)] = v;
                }
            }
        }
        for l in 1..width {
            let one = p[at(e - 1, l - 1)] + LOG10_11;
            let run = best[l - 1] + e as f64;
            let v = one.min(run);
            if v < p[at(e, l)] {
                p[at(e, l)] = v;
            }
        }
    }
    (1..width)
        .filter(|&l| p[at(n, l)].is_finite())
        .map(|l| {
            let additive = if l == 1 { 0.0 } else { 4.0 * (l - 1) as f64 };
            log10_sum(log10_factorial(l) + p[at(n, l)], additive)
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: usize, end: usize, guesses: f64) -> Match {
        Match {
            start,
            end,
            log10: guesses.log10(),
        }
    }

    fn guesses(n: usize, matches: &[Match]) -> f64 {
        let mut v = matches.to_vec();
        10f64.powf(minimum_log10(n, &mut v, &mut Work::default()))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn no_matches_is_one_run_of_characters() {
        assert!(close(guesses(1, &[]), 12.0)); // 11 + 1
        assert!(close(guesses(5, &[]), 1e5 + 1.0));
    }

    #[test]
    fn a_whole_match_costs_its_guesses_plus_one() {
        assert!(close(guesses(8, &[m(0, 8, 2.0)]), 3.0));
    }

    #[test]
    fn a_match_and_a_run_count_two_pieces() {
        // "password" + "12": 2! * 2 * 100 + 10000.
        let g = guesses(10, &[m(0, 8, 2.0)]);
        assert!(close(g, 2.0 * 2.0 * 100.0 + 1e4), "{g}");
    }

    #[test]
    fn the_cheaper_cover_wins() {
        // One match over 0..6 (1000) against two over 0..3 and 3..6 (50 each):
        // 1000 + 1 < 2 * 2500 + 10000.
        let g = guesses(6, &[m(0, 6, 1000.0), m(0, 3, 50.0), m(3, 6, 50.0)]);
        assert!(close(g, 1001.0), "{g}");
        // With a dearer long match the pair wins: 2 * 2500 + 10000.
        let g = guesses(6, &[m(0, 6, 1e6), m(0, 3, 50.0), m(3, 6, 50.0)]);
        assert!(close(g, 15000.0), "{g}");
    }
}
