//! M_total = N_sessions × S_session: sizes as people write them, the
//! estimate and the seed's line for it.

use std::fmt;
use std::str::FromStr;

/// A byte count written like `50KB`, `1.5 MB`, `512` or `4KiB`
/// (KB/MB/GB are decimal, as in the seed; KiB/MiB/GiB binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A size that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a size such as 50KB, 1.5MB, 512B or 4KiB, got {0:?}")]
pub struct InvalidSize(String);

impl FromStr for ByteSize {
    type Err = InvalidSize;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidSize(s.to_owned());
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| err())?;
        let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(err()),
        };
        let bytes = (number * multiplier).round();
        if !bytes.is_finite() || !(0.0..=1e18).contains(&bytes) {
            return Err(err());
        }
        // Checked above to be a non-negative integer below 1e18.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Self(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    /// Decimal units with up to two decimals: `500 MB`, `1.87 MB`, `231 B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 5] = [
            ("TB", 1_000_000_000_000),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("KB", 1_000),
            ("B", 1),
        ];
        let (unit, scale) = UNITS
            .iter()
            .copied()
            .find(|(_, scale)| self.0 >= *scale)
            .unwrap_or(("B", 1));
        // Exact in integers: hundredths of the unit, rounded half up.
        let hundredths = (u128::from(self.0) * 100 + u128::from(scale) / 2) / u128::from(scale);
        let (whole, frac) = (hundredths / 100, hundredths % 100);
        match frac {
            0 => write!(f, "{whole} {unit}"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{} {unit}", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02} {unit}"),
        }
    }
}

/// M_total for `sessions` sessions of `size` each.
pub fn estimate(sessions: u64, size: ByteSize) -> ByteSize {
    ByteSize(sessions.saturating_mul(size.0))
}

/// The seed's line for an estimate.
pub fn estimate_line(total: ByteSize) -> String {
    format!("Estimated memory required for session state: {total}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_example_prints_500_mb() {
        let size: ByteSize = "50KB".parse().unwrap();
        assert_eq!(
            estimate_line(estimate(10_000, size)),
            "Estimated memory required for session state: 500 MB"
        );
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!("50KB".parse(), Ok(ByteSize(50_000)));
        assert_eq!("1.5 MB".parse(), Ok(ByteSize(1_500_000)));
        assert_eq!("512".parse(), Ok(ByteSize(512)));
        assert_eq!("4KiB".parse(), Ok(ByteSize(4096)));
        for bad in ["", "KB", "-1KB", "5 parsecs", "1e30GB", "1.2.3MB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_print_with_at_most_two_decimals() {
        assert_eq!(ByteSize(231).to_string(), "231 B");
        assert_eq!(ByteSize(1_870_000).to_string(), "1.87 MB");
        assert_eq!(ByteSize(1_500_000).to_string(), "1.5 MB");
        assert_eq!(ByteSize(231_000_000).to_string(), "231 MB");
        assert_eq!(ByteSize(0).to_string(), "0 B");
    }
}
