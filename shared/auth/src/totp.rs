use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// RFC 6238 step length in seconds.
const STEP: u64 = 30;
/// Accepted drift in steps either side of now; TRMM accounts/views.py uses pyotp `valid_window=10`,
/// we accept one step (about 30 s) because ±5 min makes codes far easier to replay.
const WINDOW: i64 = 1;

/// Why a TOTP code could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The stored secret is not valid base32.
    #[error("TOTP secret is not valid base32")]
    BadSecret,
}

/// A new random base32 secret (160 bits, 32 characters), the format authenticator apps and pyotp use.
pub fn generate_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

fn decode_secret(secret: &str) -> Result<Vec<u8>, TotpError> {
    let cleaned: String = secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .map_err(|_| TotpError::BadSecret)
}

fn code_at(key: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

/// The 6-digit code for `secret` at unix time `unix_secs`.
pub fn totp_code(secret: &str, unix_secs: u64) -> Result<String, TotpError> {
    Ok(code_at(&decode_secret(secret)?, unix_secs / STEP))
}

/// Whether `code` is valid for `secret` at unix time `unix_secs`, allowing a small clock drift.
pub fn verify_totp(secret: &str, code: &str, unix_secs: u64) -> Result<bool, TotpError> {
    let key = decode_secret(secret)?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let now = (unix_secs / STEP) as i64;
    Ok((-WINDOW..=WINDOW).any(|d| {
        let counter = now + d;
        counter >= 0 && code_at(&key, counter as u64) == code
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 key "12345678901234567890", truncated to 6 digits.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc6238_vectors() {
        assert_eq!(totp_code(RFC_SECRET, 59).unwrap(), "287082");
        assert_eq!(totp_code(RFC_SECRET, 1_111_111_109).unwrap(), "081804");
        assert_eq!(totp_code(RFC_SECRET, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn verify_accepts_adjacent_step_only() {
        let t = 1_111_111_109;
        let code = totp_code(RFC_SECRET, t).unwrap();
        assert!(verify_totp(RFC_SECRET, &code, t + 30).unwrap());
        assert!(!verify_totp(RFC_SECRET, &code, t + 120).unwrap());
        assert!(!verify_totp(RFC_SECRET, "abcdef", t).unwrap());
    }

    #[test]
    fn generated_secret_round_trips() {
        let s = generate_totp_secret();
        assert_eq!(s.len(), 32);
        assert!(totp_code(&s, 0).is_ok());
    }
}
