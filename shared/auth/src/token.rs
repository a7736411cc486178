use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// SHA-256 digest of a bearer token: the only form in which tokens are stored.
pub type TokenDigest = Vec<u8>;

/// A fresh 64-character alphanumeric bearer token for dashboard sessions and installers.
pub fn generate_token() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 64)
}

/// A fresh API key: 32 upper-case letters and digits, the shape of Tactical RMM's
/// (`get_random_string(32).upper()`), drawn uniformly from the OS's CSPRNG (about 165 bits).
pub fn generate_api_key() -> String {
    use rand::Rng;
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..32)
        .map(|_| SYMBOLS[rng.gen_range(0..SYMBOLS.len())] as char)
        .collect()
}

/// A fresh agent token: 40 lowercase hex characters, the shape of the DRF token the Go agent expects.
pub fn generate_agent_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new agent id: 40 random ASCII letters, as the Go agent's `GenerateAgentID` makes them.
pub fn generate_agent_id() -> String {
    use rand::Rng;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// The digest under which a token is stored and looked up.
pub fn digest_token(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` is the one whose digest is `digest`, compared in constant time.
pub fn token_matches(token: &str, digest: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    digest_token(token).ct_eq(digest).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_shaped() {
        let a = generate_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, generate_token());
        let agent = generate_agent_token();
        assert_eq!(agent.len(), 40);
        assert!(agent.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let key = generate_api_key();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(key, generate_api_key());
    }

    #[test]
    fn agent_ids_are_40_letters_and_differ() {
        let a = generate_agent_id();
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphabetic()));
        assert_ne!(a, generate_agent_id());
    }

    #[test]
    fn a_token_matches_only_its_own_digest() {
        let digest = digest_token("s3cret");
        assert!(token_matches("s3cret", &digest));
        assert!(!token_matches("s3cre", &digest));
        assert!(!token_matches("", &digest));
        assert!(!token_matches("s3cret", &digest[..31]));
    }

    #[test]
    fn digest_is_stable_sha256() {
        assert_eq!(
            hex::encode(digest_token("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
