//! One shard's filter: a binary fuse filter with 16-bit fingerprints, built
//! with `xorf::BinaryFuse16` and looked up directly over the fingerprint
//! bytes of the memory-mapped file.
//!
//! [`contains`] re-implements `BinaryFuse16::contains` of xorf 0.13.0
//! (pinned with `=0.13.0` in Cargo.toml): the key is mixed with the seed
//! (`murmur3::mix64(key + seed)`), the fingerprint is `hash ^ (hash >> 32)`
//! truncated to 16 bits, and the three positions come from `hash_of_hash`.
//! The unit tests compare it with xorf's own `contains` on members and
//! non-members of filters of many sizes; a new xorf version must pass them
//! (and bump the file format version if anything changed).
//!
//! Fingerprints are stored little-endian, so the lookup reads each `u16`
//! with `from_le_bytes` and needs no alignment.
//!
//! xorf is used without its default `uniform-random` feature: fingerprint
//! slots no key uses stay 0 instead of random. The false-positive rate is
//! the same (a non-member hitting only unused slots matches when its
//! fingerprint is 0: probability 2^-16), builds need no `rand` and the same
//! keys always give the same file bytes (apart from the creation time).

use xorf::BinaryFuse16;

/// The parameters of one shard's filter, as stored in the shard index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FilterParams {
    pub seed: u64,
    pub segment_length: u32,
    pub segment_length_mask: u32,
    pub segment_count_length: u32,
}

/// Builds the filter of distinct keys. Returns the parameters and the
/// fingerprints.
pub(crate) fn build(keys: &[u64]) -> Result<(FilterParams, Box<[u16]>), &'static str> {
    let filter = BinaryFuse16::try_from_iterator(keys.iter().copied())?;
    let d = &filter.descriptor;
    let params = FilterParams {
        seed: d.seed,
        segment_length: d.segment_length,
        segment_length_mask: d.segment_length_mask,
        segment_count_length: d.segment_count_length,
    };
    Ok((params, filter.fingerprints))
}

/// Checks that a lookup with these parameters stays inside a fingerprint
/// array of `fingerprint_count` entries. Every index `hash_of_hash`
/// produces is below `segment_count_length + 2 * segment_length`.
pub(crate) fn validate(params: &FilterParams, fingerprint_count: u64) -> Result<(), String> {
    let sl = u64::from(params.segment_length);
    let scl = u64::from(params.segment_count_length);
    if sl == 0 || !sl.is_power_of_two() {
        return Err(format!("segment length {sl} is not a power of two"));
    }
    if u64::from(params.segment_length_mask) != sl - 1 {
        return Err("segment length mask does not match the segment length".into());
    }
    if scl < sl || scl % sl != 0 {
        return Err(format!(
            "segment count length {scl} is not a positive multiple of the segment length {sl}"
        ));
    }
    if scl + 2 * sl > fingerprint_count {
        return Err(format!(
            "{fingerprint_count} fingerprints are too few for segment count length {scl} and segment length {sl}"
        ));
    }
    if fingerprint_count > u64::from(u32::MAX) {
        return Err(format!("{fingerprint_count} fingerprints are too many"));
    }
    Ok(())
}

/// Whether `key` may be in the filter whose fingerprints (little-endian
/// `u16`) are `fingerprints`. The parameters must have passed [`validate`]
/// for `fingerprints.len() / 2` entries.
#[inline]
pub(crate) fn contains(params: &FilterParams, fingerprints: &[u8], key: u64) -> bool {
    let hash = mix64(key.wrapping_add(params.seed));
    let f = (hash ^ (hash >> 32)) as u16;
    let (h0, h1, h2) = hash_of_hash(
        hash,
        params.segment_length,
        params.segment_length_mask,
        params.segment_count_length,
    );
    f ^ fingerprint(fingerprints, h0)
        ^ fingerprint(fingerprints, h1)
        ^ fingerprint(fingerprints, h2)
        == 0
}

#[inline]
fn fingerprint(bytes: &[u8], index: u32) -> u16 {
    let at = index as usize * 2;
    match bytes.get(at..at + 2) {
        Some(pair) => u16::from_le_bytes([pair[0], pair[1]]),
        // Unreachable after `validate`; an answer of "present" would be
        // as wrong as "absent", so no special treatment.
        None => 0,
    }
}

/// `xorf::murmur3::mix64`.
#[inline]
const fn mix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// `xorf::prelude::bfuse::hash_of_hash` (with wrapping additions, which
/// never wrap for validated parameters).
#[inline]
const fn hash_of_hash(
    hash: u64,
    segment_length: u32,
    segment_length_mask: u32,
    segment_count_length: u32,
) -> (u32, u32, u32) {
    let hi = ((hash as u128 * segment_count_length as u128) >> 64) as u64;
    let h0 = hi as u32;
    let mut h1 = h0.wrapping_add(segment_length);
    let mut h2 = h1.wrapping_add(segment_length);
    h1 ^= ((hash >> 18) as u32) & segment_length_mask;
    h2 ^= (hash as u32) & segment_length_mask;
    (h0, h1, h2)
}

/// How many fingerprints xorf 0.13.0 allocates for `keys` distinct keys
/// (its sizing formula for arity 3), for size estimates. Matches the built
/// filters in the tests; an estimate only, never used to read a file.
pub(crate) fn fingerprint_count(keys: u64) -> u64 {
    let size = keys as f64;
    let segment_length: u64 = if keys == 0 {
        4
    } else {
        1u64 << ((size.ln() / 3.33f64.ln() + 2.25).floor() as u32)
    }
    .min(262_144);
    let size_factor = (0.875 + 0.25 * 1_000_000f64.ln() / size.ln()).max(1.125);
    let capacity = if keys > 1 {
        (size * size_factor).round() as u64
    } else {
        0
    };
    let init_segment_count = capacity.div_ceil(segment_length);
    let proposed = init_segment_count;
    let segment_count = if proposed < 3 { 1 } else { proposed - 2 };
    (segment_count + 2) * segment_length
}

#[cfg(test)]
mod tests {
    use super::*;
    use xorf::Filter as _;

    /// splitmix64, for reproducible test keys.
    pub(crate) fn keys(seed: u64, n: usize) -> Vec<u64> {
        let mut state = seed;
        let mut out: Vec<u64> = (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn le_bytes(fingerprints: &[u16]) -> Vec<u8> {
        fingerprints.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    #[test]
    fn lookup_over_bytes_matches_xorf_on_members_and_non_members() {
        let mut disagreements = 0;
        for (i, &n) in [0usize, 1, 2, 3, 5, 17, 100, 1_000, 4_096, 30_000, 100_000]
            .iter()
            .enumerate()
        {
            let members = keys(i as u64 + 1, n);
            let filter = BinaryFuse16::try_from(&members).expect("builds");
            let (params, fingerprints) = build(&members).expect("builds");
            assert_eq!(fingerprints, filter.fingerprints);
            validate(&params, fingerprints.len() as u64).expect("valid parameters");
            let bytes = le_bytes(&fingerprints);
            for key in &members {
                assert!(contains(&params, &bytes, *key), "member of {n} missing");
                assert!(filter.contains(key));
            }
            for key in keys(1_000 + i as u64, 200_000) {
                if contains(&params, &bytes, key) != filter.contains(&key) {
                    disagreements += 1;
                }
            }
        }
        assert_eq!(disagreements, 0);
    }

    #[test]
    fn predicted_fingerprint_counts_match_xorf() {
        for &n in &[
            0usize, 1, 2, 3, 4, 5, 10, 100, 999, 1_000, 3_907, 39_063, 100_000, 390_625,
        ] {
            let members = keys(n as u64 + 7, n);
            let filter = BinaryFuse16::try_from(&members).expect("builds");
            assert_eq!(
                fingerprint_count(members.len() as u64),
                filter.fingerprints.len() as u64,
                "{n} keys"
            );
        }
    }

    #[test]
    fn validation_rejects_out_of_range_parameters() {
        let ok = FilterParams {
            seed: 1,
            segment_length: 4,
            segment_length_mask: 3,
            segment_count_length: 4,
        };
        assert!(validate(&ok, 12).is_ok());
        assert!(validate(&ok, 11).is_err());
        assert!(validate(
            &FilterParams {
                segment_length: 3,
                ..ok
            },
            12
        )
        .is_err());
        assert!(validate(
            &FilterParams {
                segment_length: 0,
                ..ok
            },
            12
        )
        .is_err());
        assert!(validate(
            &FilterParams {
                segment_length_mask: 1,
                ..ok
            },
            12
        )
        .is_err());
        assert!(validate(
            &FilterParams {
                segment_count_length: 6,
                ..ok
            },
            12
        )
        .is_err());
        assert!(validate(
            &FilterParams {
                segment_count_length: 0,
                ..ok
            },
            12
        )
        .is_err());
        // Validated parameters keep every index inside the array.
        let bytes = vec![0u8; 24];
        for key in keys(99, 10_000) {
            let (h0, h1, h2) = hash_of_hash(mix64(key.wrapping_add(ok.seed)), 4, 3, 4);
            assert!(h0 < 12 && h1 < 12 && h2 < 12);
            let _ = contains(&ok, &bytes, key);
        }
    }
}
