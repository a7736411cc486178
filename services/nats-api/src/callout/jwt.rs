//! NATS JWTs (`nats-io/jwt` v2): `header.claims.signature`, each part base64url without padding,
//! signed with an ed25519 nkey (`"alg": "ed25519-nkey"`). Only what the auth callout exchanges.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512_256};

/// The only header nats-io/jwt v2 writes (and the server accepts for callout responses).
const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// Why a JWT was rejected.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts holding JSON.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// The signature does not match the issuer's public key.
    #[error("JWT signature does not verify against its issuer {0}")]
    BadSignature(String),
    /// The signing key cannot sign (e.g. a public-only key).
    #[error("cannot sign the JWT: {0}")]
    Sign(String),
}

/// The registered claims every NATS JWT carries (`jwt.ClaimsData`), in the Go field order so that
/// the `jti` hash matches what nats-io/jwt would compute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims<T> {
    /// Audience: the server id (responses), the target account (user JWTs).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub aud: String,
    /// Expiry, unix seconds (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
    /// Hash of the registered claims.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// Issue time, unix seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iat: i64,
    /// Public nkey of the signer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// Display name (a user JWT's name becomes the connection's user name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Not valid before, unix seconds (0: no limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nbf: i64,
    /// Subject: a public nkey.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// The claim-type specific part.
    pub nats: T,
}

impl<T> Claims<T> {
    /// Claims about `sub` with `nats` as body; `encode` fills in the issuer, time and id.
    pub fn new(sub: String, nats: T) -> Self {
        Claims {
            aud: String::new(),
            exp: 0,
            jti: String::new(),
            iat: 0,
            iss: String::new(),
            name: String::new(),
            nbf: 0,
            sub,
            nats,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `ClaimsData` without `nats`, serialized for the `jti` hash.
#[derive(Serialize)]
struct Registered<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    aud: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    exp: i64,
    #[serde(skip_serializing_if = "is_zero")]
    iat: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    nbf: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
}

/// Signs `claims` with `signer`, filling in `iss`, `iat` and `jti` the way nats-io/jwt does.
pub fn encode<T: Serialize>(mut claims: Claims<T>, signer: &KeyPair, now: i64) -> Result<String, JwtError> {
    claims.iss = signer.public_key();
    claims.iat = now;
    let registered = Registered {
        aud: &claims.aud,
        exp: claims.exp,
        iat: claims.iat,
        iss: &claims.iss,
        name: &claims.name,
        nbf: claims.nbf,
        sub: &claims.sub,
    };
    let json = serde_json::to_vec(&registered).map_err(|e| JwtError::Sign(e.to_string()))?;
    claims.jti = BASE32_NOPAD.encode(&Sha512_256::digest(json));
    let body = serde_json::to_vec(&claims).map_err(|e| JwtError::Sign(e.to_string()))?;
    let signed = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(HEADER.as_bytes()),
        BASE64URL_NOPAD.encode(&body)
    );
    let signature = signer
        .sign(signed.as_bytes())
        .map_err(|e| JwtError::Sign(e.to_string()))?;
    Ok(format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature)))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Decodes `token` and checks that it is signed by the key in its own `iss` claim; the caller
/// decides whether that issuer is trusted.
pub fn decode<T: DeserializeOwned>(token: &str) -> Result<Claims<T>, JwtError> {
    let malformed = |what: &str| JwtError::Malformed(what.to_owned());
    let mut parts = token.trim().split('.');
    let (Some(header), Some(body), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let part = |p: &str| {
        BASE64URL_NOPAD
            .decode(p.as_bytes())
            .map_err(|e| JwtError::Malformed(e.to_string()))
    };
    let parsed: Header = serde_json::from_slice(&part(header)?).map_err(|e| JwtError::Malformed(e.to_string()))?;
    if !parsed.alg.eq_ignore_ascii_case("ed25519-nkey") {
        return Err(JwtError::Malformed(format!("unsupported algorithm {:?}", parsed.alg)));
    }
    let claims: Claims<T> = serde_json::from_slice(&part(body)?).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let issuer = KeyPair::from_public_key(&claims.iss).map_err(|_| malformed("issuer is not a public nkey"))?;
    let signed_len = header.len() + 1 + body.len();
    issuer
        .verify(&token.trim().as_bytes()[..signed_len], &part(signature)?)
        .map_err(|_| JwtError::BadSignature(claims.iss.clone()))?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_tampering() {
        let account = KeyPair::new_account();
        let claims = Claims {
            name: "agent".to_owned(),
            ..Claims::new(
                KeyPair::new_user().public_key(),
                serde_json::json!({"type": "user", "version": 2}),
            )
        };
        let token = encode(claims, &account, 1_700_000_000).unwrap();

        let back: Claims<serde_json::Value> = decode(&token).unwrap();
        assert_eq!(back.iss, account.public_key());
        assert_eq!(back.name, "agent");
        assert_eq!(back.iat, 1_700_000_000);
        assert_eq!(back.jti.len(), 52, "base32 of a 32-byte hash");

        let mut forged: Vec<&str> = token.split('.').collect();
        let other = encode(
            Claims {
                name: "root".to_owned(),
                ..Claims::new(back.sub.clone(), serde_json::json!({}))
            },
            &account,
            1,
        )
        .unwrap();
        forged[1] = other.split('.').nth(1).unwrap();
        let forged = forged.join(".");
        assert!(matches!(
            decode::<serde_json::Value>(&forged),
            Err(JwtError::BadSignature(_))
        ));
        assert!(matches!(
            decode::<serde_json::Value>("a.b"),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn registered_claims_serialize_in_go_field_order() {
        // nats-io/jwt hashes json.Marshal(ClaimsData) with an empty jti: same fields, same order.
        let registered = Registered {
            aud: "",
            exp: 0,
            iat: 1,
            iss: "A",
            name: "",
            nbf: 0,
            sub: "U",
        };
        let json = serde_json::to_string(&registered).unwrap();
        assert_eq!(json, r#"{"iat":1,"iss":"A","sub":"U"}"#);
    }
}
