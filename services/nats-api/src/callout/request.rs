//! Opening an authorization request: decrypting it when it was sent encrypted for our xkey, and
//! checking that it is a request of the server it names, addressed to our issuer, still valid.

use async_nats::Message;
use nkeys::XKey;

use super::claims::{AuthRequest, REQUEST_AUDIENCE};
use super::jwt::{self, Claims};

/// Header naming the server's public xkey on an encrypted request.
const XKEY_HEADER: &str = "Nats-Server-Xkey";

/// Decrypts (when sent encrypted) and verifies a request: signed by the server it names, for
/// our issuer, not expired. Returns it with the server's xkey to encrypt the answer for.
pub fn open(
    msg: &Message,
    issuer: &str,
    ours: Option<&XKey>,
    now: i64,
) -> Result<(Claims<AuthRequest>, Option<XKey>), String> {
    let server_xkey = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(XKEY_HEADER))
        .map(|v| v.to_string());
    let (token, server_xkey) = match server_xkey {
        Some(public) => {
            let ours = ours.ok_or(
                "the request is encrypted (auth_callout.xkey is set) but TRMM_NATS_XKEY_SEED is not configured",
            )?;
            let server = XKey::from_public_key(&public).map_err(|e| format!("bad server xkey: {e}"))?;
            let plain = ours
                .open(&msg.payload, &server)
                .map_err(|e| format!("cannot decrypt (does auth_callout.xkey match TRMM_NATS_XKEY_SEED?): {e}"))?;
            (plain, Some((public, server)))
        }
        None => (msg.payload.to_vec(), None),
    };
    let token = std::str::from_utf8(&token).map_err(|_| "request is not a JWT".to_owned())?;
    let request: Claims<AuthRequest> = jwt::decode(token).map_err(|e| e.to_string())?;
    let server = &request.nats.server_id;
    if request.iss != server.id || !request.iss.starts_with('N') {
        return Err(format!(
            "request signed by {:?}, not by its server {:?}",
            request.iss, server.id
        ));
    }
    // The audience alone marks a request (the claim's type string changed across jwt releases).
    if request.aud != REQUEST_AUDIENCE {
        return Err(format!("not an authorization request (aud {:?})", request.aud));
    }
    if request.sub != issuer {
        return Err(format!(
            "request is for issuer {}, we sign as {issuer} (auth_callout.issuer must be the public key of TRMM_NATS_ISSUER_SEED)",
            request.sub
        ));
    }
    if request.exp != 0 && request.exp < now {
        return Err("request expired".to_owned());
    }
    if !request.nats.user_nkey.starts_with('U') {
        return Err("request has no user nkey".to_owned());
    }
    let server_xkey = match server_xkey {
        Some((public, key)) if server.xkey.is_empty() || server.xkey == public => Some(key),
        Some(_) => return Err("the xkey header and the request disagree".to_owned()),
        None => None,
    };
    Ok((request, server_xkey))
}

#[cfg(test)]
mod tests {
    use nkeys::KeyPair;
    use serde_json::json;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    use super::*;

    /// A request as nats-server builds it (`processClientOrLeafCallout`), signed by `signer`.
    fn request(signer: &KeyPair, server_id: &str, issuer: &str, server_xkey: &str) -> String {
        let body = json!({
            "server_id": {"name": "trmm-dev", "host": "127.0.0.1", "id": server_id, "xkey": server_xkey},
            "user_nkey": KeyPair::new_user().public_key(),
            "client_info": {"host": "127.0.0.1", "id": 7, "user": "agent", "kind": "Client", "type": "nats"},
            "connect_opts": {"user": "agent", "pass": "token", "protocol": 1},
            "type": "authorization_request",
            "version": 2
        });
        let claims = Claims {
            aud: REQUEST_AUDIENCE.to_owned(),
            exp: now() + 2,
            ..Claims::new(issuer.to_owned(), body)
        };
        jwt::encode(claims, signer, now()).unwrap()
    }

    fn message(payload: Vec<u8>, xkey_header: Option<&str>) -> Message {
        let headers = xkey_header.map(|x| {
            let mut h = async_nats::HeaderMap::new();
            h.insert(XKEY_HEADER, x);
            h
        });
        Message {
            subject: "$SYS.REQ.USER.AUTH".into(),
            reply: Some("_INBOX.x".into()),
            length: payload.len(),
            payload: payload.into(),
            headers,
            status: None,
            description: None,
        }
    }

    #[test]
    fn opens_an_encrypted_request_of_the_server() {
        let (server, issuer) = (KeyPair::new_server(), KeyPair::new_account());
        let (server_x, ours) = (XKey::new(), XKey::new());
        let token = request(
            &server,
            &server.public_key(),
            &issuer.public_key(),
            &server_x.public_key(),
        );
        let sealed = server_x
            .seal(token.as_bytes(), &XKey::from_public_key(&ours.public_key()).unwrap())
            .unwrap();

        let msg = message(sealed, Some(&server_x.public_key()));
        let (opened, reply_to) = open(&msg, &issuer.public_key(), Some(&ours), now()).unwrap();
        assert_eq!(opened.nats.connect_opts.user, "agent");
        assert_eq!(opened.nats.connect_opts.pass, "token");
        assert_eq!(reply_to.unwrap().public_key(), server_x.public_key());

        let err = open(&msg, &issuer.public_key(), None, now()).unwrap_err();
        assert!(err.contains("TRMM_NATS_XKEY_SEED"), "{err}");
        let err = open(&msg, &issuer.public_key(), Some(&XKey::new()), now()).unwrap_err();
        assert!(err.contains("cannot decrypt"), "{err}");
    }

    #[test]
    fn rejects_requests_not_from_the_server_or_not_for_us() {
        let (server, issuer) = (KeyPair::new_server(), KeyPair::new_account());
        let plain = |token: String| message(token.into_bytes(), None);

        let ok = request(&server, &server.public_key(), &issuer.public_key(), "");
        assert!(open(&plain(ok), &issuer.public_key(), None, now()).is_ok());

        let other_issuer = request(&server, &server.public_key(), &KeyPair::new_account().public_key(), "");
        let err = open(&plain(other_issuer), &issuer.public_key(), None, now()).unwrap_err();
        assert!(err.contains("auth_callout.issuer"), "{err}");

        // Signed by someone else than the server it names, or by a non-server key.
        let impostor = request(&KeyPair::new_server(), &server.public_key(), &issuer.public_key(), "");
        assert!(open(&plain(impostor), &issuer.public_key(), None, now()).is_err());
        let account = KeyPair::new_account();
        let by_account = request(&account, &account.public_key(), &issuer.public_key(), "");
        assert!(open(&plain(by_account), &issuer.public_key(), None, now()).is_err());

        assert!(open(&plain("not a jwt".into()), &issuer.public_key(), None, now()).is_err());
    }
}
