//! The few `f64` operations the ledger needs that `core` does not have on
//! stable Rust (`round`, `trunc`, `fract` live in std, which the `no_std`
//! library does not link). Exact, like std's: every double of magnitude 2^52
//! or more is already whole, and below that `x as i64` truncates exactly.

/// Doubles at or above this magnitude have no fraction bits.
const WHOLE_FROM: f64 = 4_503_599_627_370_496.0; // 2^52

/// `x` without its fraction, toward zero (std's `f64::trunc`).
pub fn trunc(x: f64) -> f64 {
    if x.is_nan() || x.abs() >= WHOLE_FROM {
        return x;
    }
    let whole = x as i64 as f64;
    // Keep the sign of zero, as std does (`-0.5` truncates to `-0.0`).
    if whole == 0.0 && x.is_sign_negative() {
        -0.0
    } else {
        whole
    }
}

/// The fraction of `x` (std's `f64::fract`): `x - trunc(x)`, exact.
pub fn fract(x: f64) -> f64 {
    x - trunc(x)
}

/// Whether `x` is a whole number (false for NaN and infinities).
pub fn is_whole(x: f64) -> bool {
    x.is_finite() && fract(x) == 0.0
}

/// `x` to the nearest whole number, halves away from zero (std's `f64::round`).
pub fn round(x: f64) -> f64 {
    let whole = trunc(x);
    // Exact: for |x| < 2^52 the difference of `x` and its truncation is representable.
    if (x - whole).abs() >= 0.5 {
        whole + if x < 0.0 { -1.0 } else { 1.0 }
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges_match_std() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999999999999994,
            4_503_599_627_370_495.5,
            1e300,
            -1e300,
            f64::MAX,
        ] {
            assert_eq!(round(x).to_bits(), x.round().to_bits(), "round({x})");
            assert_eq!(trunc(x).to_bits(), x.trunc().to_bits(), "trunc({x})");
            assert_eq!(fract(x).to_bits(), x.fract().to_bits(), "fract({x})");
        }
        assert!(round(f64::NAN).is_nan() && fract(f64::INFINITY).is_nan());
        assert_eq!(round(f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(is_whole(3.0) && !is_whole(3.25) && !is_whole(f64::NAN) && !is_whole(f64::INFINITY));
    }

    proptest! {
        #[test]
        fn any_double_matches_std(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(!x.is_nan());
            prop_assert_eq!(round(x).to_bits(), x.round().to_bits());
            prop_assert_eq!(trunc(x).to_bits(), x.trunc().to_bits());
            if x.is_finite() {
                prop_assert_eq!(fract(x).to_bits(), x.fract().to_bits());
            }
        }
    }
}
