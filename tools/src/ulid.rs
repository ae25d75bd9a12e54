//! ULID-shaped ids (26 Crockford base32 characters: 48-bit milliseconds, 80 random bits), as
//! Sinch uses for apps, messages and nonces.

use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub fn generate() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let value: u128 =
        ((millis & ((1 << 48) - 1)) << 80) | (u128::from(fastrand::u64(..)) << 16) | u128::from(fastrand::u16(..));
    (0..26)
        .rev()
        .map(|i| char::from(ALPHABET[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// True for 26 characters of Crockford base32 (upper-case), the shape Sinch requires of app ids.
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_ulid_shaped_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_ulid(&a) && is_ulid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_ulid("01eb37hmh1m6sv18asns3g135h"));
        assert!(!is_ulid("01EB37HMH1M6SV18ASNS3G135"));
        assert!(!is_ulid("01EB37HMH1M6SV18ASNS3G135U"), "U is not Crockford");
    }
}
