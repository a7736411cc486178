//! Secrets at rest (the SMTP password, the Twilio token): XChaCha20-Poly1305 with the operator's key
//! (`TRMM_SECRET_KEY`), a random 24-byte nonce per value stored in front of the ciphertext, and the secret's
//! purpose as associated data so that one column's ciphertext cannot be passed off as another's.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Bytes of the random nonce stored in front of each ciphertext.
const NONCE_LEN: usize = 24;

/// How to make a key, for every error that asks for one.
pub const GENERATE_HINT: &str = "generate one with `openssl rand -hex 32` (scripts/quickstart.sh does this)";

/// Why a key or a stored secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is missing or not 64 hex characters.
    #[error("TRMM_SECRET_KEY {0}: it must be 64 hex characters (32 random bytes); {GENERATE_HINT}")]
    BadKey(&'static str),
    /// The ciphertext was not made with this key for this purpose, or is damaged.
    #[error("a stored secret cannot be decrypted with TRMM_SECRET_KEY (was the key changed?); enter the secret again")]
    Undecryptable,
}

/// The key that encrypts secrets at rest.
#[derive(Clone)]
pub struct SecretKey(Key);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Parses the 64-hex-character form of `TRMM_SECRET_KEY`.
    pub fn from_hex(text: &str) -> Result<SecretKey, SecretError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretError::BadKey("is not set"));
        }
        let bytes = hex::decode(text).map_err(|_| SecretError::BadKey("is not hexadecimal"))?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey("has the wrong length"));
        }
        Ok(SecretKey(*Key::from_slice(&bytes)))
    }

    /// Encrypts `plaintext` for `purpose` (e.g. the column it goes to).
    pub fn encrypt(&self, purpose: &str, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: purpose.as_bytes(),
        };
        let sealed = XChaCha20Poly1305::new(&self.0)
            .encrypt(XNonce::from_slice(&nonce), payload)
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`SecretKey::encrypt`] made for the same `purpose`.
    pub fn decrypt(&self, purpose: &str, stored: &[u8]) -> Result<String, SecretError> {
        if stored.len() < NONCE_LEN {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: purpose.as_bytes(),
        };
        let plain = XChaCha20Poly1305::new(&self.0)
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let key = SecretKey::from_hex(KEY).unwrap();
        let a = key.encrypt("smtp", "hunter2");
        let b = key.encrypt("smtp", "hunter2");
        assert_ne!(a, b, "a random nonce per value");
        assert!(!a.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.decrypt("smtp", &a).unwrap(), "hunter2");
        assert_eq!(key.decrypt("smtp", &b).unwrap(), "hunter2");
    }

    #[test]
    fn another_key_purpose_or_damage_is_refused() {
        let key = SecretKey::from_hex(KEY).unwrap();
        let other = SecretKey::from_hex(&KEY.replace("00", "ff")).unwrap();
        let sealed = key.encrypt("smtp", "hunter2");
        assert!(matches!(
            other.decrypt("smtp", &sealed),
            Err(SecretError::Undecryptable)
        ));
        assert!(matches!(
            key.decrypt("twilio", &sealed),
            Err(SecretError::Undecryptable)
        ));
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(key.decrypt("smtp", &damaged), Err(SecretError::Undecryptable)));
        assert!(matches!(key.decrypt("smtp", b"short"), Err(SecretError::Undecryptable)));
    }

    #[test]
    fn bad_keys_say_how_to_make_one() {
        for bad in ["", "  ", "xyz", &KEY[..62], &format!("{KEY}00")] {
            let e = SecretKey::from_hex(bad).unwrap_err().to_string();
            assert!(e.starts_with("TRMM_SECRET_KEY"), "{e}");
            assert!(e.contains("openssl rand -hex 32"), "{e}");
        }
        assert!(SecretKey::from_hex(&format!(" {} ", KEY.to_uppercase())).is_ok());
    }
}
