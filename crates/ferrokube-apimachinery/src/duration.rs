//! Go durations (`time.ParseDuration`, `time.Duration.String`): the text form Kubernetes
//! uses for `metav1.Duration` fields, the `timeout` query parameter and command-line
//! flags (`250ms`, `1.5s`, `1h30m`), read and written in one place for the client, the
//! server and `ferrokube-kubelet`.
//!
//! [`parse`] reads Go's grammar exactly (an optional sign, then one or more decimal
//! numbers each with a unit `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; `0` alone needs no
//! unit) into a [`std::time::Duration`], which cannot be negative: a negative duration
//! is an error ([`DurationError::Negative`]); [`parse_nanos`] keeps the sign. The
//! arithmetic is exact integer arithmetic, so `1.1s` is 1,100,000,000 ns; Go computes
//! the fraction in floating point, so on fractions with more significant digits than
//! a float64 holds (`1.9999999999999999999h`) the two can differ by a nanosecond.
//! Checked against Go 1.26's `time` package on the cases of the unit tests.
//! [`format`] and [`format_nanos`] write what Go's `String()` writes: `0s`, `500ns`,
//! `1.5µs`, `2.25ms`, `1.5s`, `1m30s`, `1h0m0s`.

use std::time::Duration;

/// A duration could not be parsed. The messages are Go's (`time: invalid duration "x"`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not Go's duration grammar (empty, a unit without a number, stray characters).
    #[error("time: invalid duration \"{0}\"")]
    Invalid(String),
    /// A number without a unit (`5`).
    #[error("time: missing unit in duration \"{0}\"")]
    MissingUnit(String),
    /// A unit Go does not know (`5d`).
    #[error("time: unknown unit \"{unit}\" in duration \"{duration}\"")]
    UnknownUnit {
        /// The unit.
        unit: String,
        /// The whole duration.
        duration: String,
    },
    /// More than Go's `time.Duration` holds (about 292 years); Go's message does not
    /// say so.
    #[error("time: invalid duration \"{0}\"")]
    Overflow(String),
    /// A negative duration where only non-negative ones are allowed ([`parse`]).
    #[error("time: invalid duration \"{0}\" (negative)")]
    Negative(String),
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration into signed nanoseconds (Go's `time.ParseDuration`).
pub fn parse_nanos(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let scale = unit_nanos(unit)
            .ok_or_else(|| DurationError::UnknownUnit { unit: unit.to_owned(), duration: text.to_owned() })?;
        let overflow = || DurationError::Overflow(text.to_owned());
        let int: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| overflow())? };
        let mut value = int.checked_mul(scale).ok_or_else(overflow)?;
        // The fraction as Go reads it: its digits as an integer over a power of ten
        // (digits past what an int64 holds are ignored), times the unit.
        let (mut fraction, mut fraction_scale) = (0u128, 1u128);
        for d in frac_part.bytes() {
            if fraction > i64::MAX as u128 / 10 {
                break;
            }
            fraction = fraction * 10 + u128::from(d - b'0');
            fraction_scale *= 10;
        }
        value += fraction * scale / fraction_scale;
        total = total.checked_add(value).ok_or_else(overflow)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(overflow());
        }
        rest = next;
    }
    if negative {
        // Fits: at most i64::MAX + 1, checked above.
        Ok((total as i128).wrapping_neg() as i64)
    } else {
        Ok(total as i64)
    }
}

/// Parses a non-negative Go duration (`250ms`, `1.5s`, `1h30m`, `0`).
///
/// ```
/// use std::time::Duration;
/// use ferrokube_apimachinery::duration;
/// assert_eq!(duration::parse("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(duration::format(Duration::from_millis(1500)), "1.5s");
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let nanos = parse_nanos(text)?;
    u64::try_from(nanos).map(Duration::from_nanos).map_err(|_| DurationError::Negative(text.to_owned()))
}

/// `value / unit` with the fraction's trailing zeros dropped: `1500, 1000` -> `1.5`.
fn with_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn format_unsigned(n: u128) -> String {
    if n == 0 {
        return "0s".to_owned();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", with_fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", with_fraction(n, 1_000_000));
    }
    let (h, rem) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let s = with_fraction(rem, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// Go's `time.Duration.String()` of signed nanoseconds (`-1.5s`).
pub fn format_nanos(nanos: i64) -> String {
    let text = format_unsigned(u128::from(nanos.unsigned_abs()));
    if nanos < 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// Go's `time.Duration.String()` (`0s`, `250ms`, `1.5s`, `1h0m0s`). Durations beyond
/// Go's range (about 292 years) are written all the same.
pub fn format(d: Duration) -> String {
    format_unsigned(d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let ok = [
            ("0", 0),
            ("-0", 0),
            ("+5s", 5_000_000_000),
            ("250ms", 250_000_000),
            ("1.5s", 1_500_000_000),
            ("1.1s", 1_100_000_000),
            (".5s", 500_000_000),
            ("5.s", 5_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("2h45m3.5s", 9_903_500_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("10μs", 10_000),
            ("7ns", 7),
            ("1.0000000001s", 1_000_000_000),
            ("-1.5h", -5_400_000_000_000),
            ("1.23456789012h", 4_444_444_404_432),
            ("0.1ns", 0),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (text, nanos) in ok {
            assert_eq!(parse_nanos(text), Ok(nanos), "{text}");
        }
        use DurationError as E;
        let bad = [
            ("", E::Invalid("".into())),
            ("-", E::Invalid("-".into())),
            ("s", E::Invalid("s".into())),
            (".s", E::Invalid(".s".into())),
            ("1s.", E::Invalid("1s.".into())),
            ("1.2.3s", E::MissingUnit("1.2.3s".into())),
            ("5", E::MissingUnit("5".into())),
            ("5d", E::UnknownUnit { unit: "d".into(), duration: "5d".into() }),
            ("1 s", E::UnknownUnit { unit: " s".into(), duration: "1 s".into() }),
            ("9223372036854775808ns", E::Overflow("9223372036854775808ns".into())),
            ("3000000h", E::Overflow("3000000h".into())),
        ];
        for (text, err) in bad {
            assert_eq!(parse_nanos(text), Err(err), "{text}");
        }
        assert_eq!(parse_nanos("5d").unwrap_err().to_string(), "time: unknown unit \"d\" in duration \"5d\"");
        assert_eq!(parse_nanos("5").unwrap_err().to_string(), "time: missing unit in duration \"5\"");
    }

    #[test]
    fn std_durations_are_not_negative() {
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("-1s"), Err(DurationError::Negative("-1s".into())));
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (2_250_000, "2.25ms"),
            (500_000_000, "500ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_nanos(nanos), text, "{nanos}");
            assert_eq!(parse_nanos(text), Ok(nanos), "{text} round-trips");
        }
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
