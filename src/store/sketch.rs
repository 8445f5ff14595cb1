//! A percentile sketch of response times, small enough to keep one per server per rollup
//! bucket for a year: values fall into logarithmic bins (each 4 % wide, so a percentile read
//! back is within 2 % of the true one), and the sketch is the list of (bin, count) pairs.
//! Sketches merge by adding counts, so percentiles over any period come from the buckets'
//! sketches without the raw polls. (The idea of DDSketch, Masson et al., VLDB 2019.)
//!
//! Stored as a blob: per non-empty bin the zigzag varint of its distance from the previous
//! bin, then the varint count: one bin in 2 bytes or so (an hour of polls spread over
//! 2-42 ms, 78 bins, takes some 170 bytes).

use std::collections::BTreeMap;

/// The ratio between a bin's upper and lower bound: relative error (γ−1)/(γ+1) ≈ 2 %.
const GAMMA: f64 = 1.04;
/// Response times at or under this many ms share the lowest bin (index [`ZERO_BIN`]).
const SMALLEST_MS: f64 = 0.001;
/// Below every real bin (0.001 ms is bin −176), and near them, so that it encodes short.
const ZERO_BIN: i32 = -200;

/// Counts per logarithmic bin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    bins: BTreeMap<i32, u64>,
}

impl Sketch {
    pub fn new() -> Self {
        Self::default()
    }

    fn bin(ms: f64) -> i32 {
        if ms.is_nan() || ms <= SMALLEST_MS {
            return ZERO_BIN;
        }
        // Bounded: 1e308 ms gives ~18,000.
        (ms.ln() / GAMMA.ln()).ceil() as i32
    }

    /// The value a bin stands for: the middle of its bounds in relative terms.
    fn value(bin: i32) -> f64 {
        if bin == ZERO_BIN {
            return 0.0;
        }
        2.0 * GAMMA.powi(bin) / (GAMMA + 1.0)
    }

    pub fn add(&mut self, ms: f64) {
        *self.bins.entry(Self::bin(ms)).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (bin, n) in &other.bins {
            *self.bins.entry(*bin).or_insert(0) += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.bins.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) by the nearest-rank rule, within 2 %; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                return Some(Self::value(*bin));
            }
        }
        self.bins.keys().next_back().map(|b| Self::value(*b))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bins.len() * 2);
        let mut previous = 0i64;
        for (bin, n) in &self.bins {
            let bin = i64::from(*bin);
            let delta = bin - previous;
            previous = bin;
            put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            put_varint(&mut out, *n);
        }
        out
    }

    /// Reads a blob of [`Sketch::encode`]; a damaged blob gives `None` (its bucket's
    /// counts still count; only its percentiles are missing).
    pub fn decode(mut bytes: &[u8]) -> Option<Sketch> {
        let mut bins = BTreeMap::new();
        let mut previous = 0i64;
        while !bytes.is_empty() {
            let zigzag = take_varint(&mut bytes)?;
            let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            let n = take_varint(&mut bytes)?;
            previous = previous.checked_add(delta)?;
            *bins.entry(i32::try_from(previous).ok()?).or_insert(0) += n;
        }
        Some(Sketch { bins })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_two_percent_and_merge_equals_whole() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) * 0.37).collect();
        let mut whole = Sketch::new();
        let (mut a, mut b) = (Sketch::new(), Sketch::new());
        for (i, v) in values.iter().enumerate() {
            whole.add(*v);
            if i % 3 == 0 { a.add(*v) } else { b.add(*v) }
        }
        a.merge(&b);
        assert_eq!(a, whole);
        for (q, exact) in [
            (0.5, 500.0 * 0.37),
            (0.95, 950.0 * 0.37),
            (0.99, 990.0 * 0.37),
        ] {
            let got = whole.quantile(q).unwrap();
            assert!(
                (got - exact).abs() / exact <= 0.021,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(Sketch::new().quantile(0.5), None);
    }

    #[test]
    fn encodes_small_and_round_trips() {
        let mut s = Sketch::new();
        for v in [0.0, 0.0005, 0.05, 12.0, 12.1, 12.2, 250.0, 60_000.0] {
            s.add(v);
        }
        let blob = s.encode();
        assert!(blob.len() <= 16, "{} bytes", blob.len());
        assert_eq!(Sketch::decode(&blob).unwrap(), s);
        assert_eq!(s.quantile(0.0).unwrap(), 0.0);
        assert_eq!(Sketch::decode(&[0xff]), None, "a cut varint is refused");
    }
}
