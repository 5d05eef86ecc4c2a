//! Hash maps keyed by small integers (PIDs, instance and event ids), with a multiplicative
//! hash instead of the standard library's SipHash.
//!
//! A stop of 1000 jobs hashed such keys tens of thousands of times, and SipHash was about
//! an eighth of the daemon's instructions (issue 11 item 4). SipHash resists keys chosen to
//! collide; these keys are chosen by the kernel (PIDs) or counted by the engine (ids), not
//! by a client, so nothing is given up. The engine's event indexes (event name → jobs or
//! instances) use it too: their keys are the names the job files mention, and a client's
//! event name is only looked up, which colliding names cannot slow down. Other maps keyed
//! by names keep SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by integers, hashed with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Folded-multiply hashing of integers: each word is mixed in with one 64×64→128-bit
/// multiplication whose halves are xored, so every bit of the key reaches the low bits
/// the table indexes by (a plain multiply leaves consecutive keys in every other bucket).
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let full = u128::from(self.0 ^ n) * u128::from(K);
        self.0 = (full as u64) ^ ((full >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(v: T) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(v)
    }

    // Issue 11 item 4: the map behaves as a map, and consecutive keys (PIDs, ids) spread
    // over the low bits a table indexes by.
    #[test]
    fn issue11_item4_id_map_is_a_map_and_spreads_consecutive_keys() {
        let mut m: IdMap<u32, u32> = IdMap::default();
        for pid in 1..=5000u32 {
            m.insert(pid, pid * 2);
        }
        assert_eq!(m.len(), 5000);
        assert!((1..=5000u32).all(|p| m.get(&p) == Some(&(p * 2))));
        assert_eq!(m.remove(&42), Some(84));
        assert!(!m.contains_key(&42) && !m.contains_key(&0) && !m.contains_key(&5001));
        // 4096 consecutive keys fill 4096 buckets by their low 12 bits as random values
        // would (about 63 %).
        let buckets: std::collections::HashSet<u64> =
            (1000..5096u64).map(|k| hash(k) & 4095).collect();
        assert!(buckets.len() > 2400, "{} buckets used", buckets.len());
        assert_ne!(hash(1u64), hash(2u64));
        assert_ne!(hash("ab"), hash("ba"));
    }
}
