//! nats-server with the suite's own authentication: the repository's `config/nats/nats-server.conf`
//! (accounts AUTH, SYS and APP, auth callout) with freshly generated keys and passwords, the way
//! `trmm-nats-api nats-config` generates them for a deployment.

use std::path::PathBuf;

use nkeys::{KeyPair, XKey};
use rand::distributions::{Alphanumeric, DistString};

use crate::NatsServer;

/// User of the server services (account APP, full access).
pub const SERVICE_USER: &str = "trmm-service";
/// User of trmm-nats-api's auth callout connection (account AUTH).
pub const AUTH_USER: &str = "trmm-auth";
/// User of trmm-nats-api's system-account connection (CONNZ, KICK).
pub const SYSTEM_USER: &str = "trmm-system";

/// Keys and passwords of one authenticated test nats-server.
#[derive(Clone)]
pub struct NatsAuth {
    service_password: String,
    auth_password: String,
    system_password: String,
    issuer: String,
    issuer_seed: String,
    xkey: String,
    xkey_seed: String,
}

impl NatsAuth {
    /// Fresh random keys and passwords.
    pub fn generate() -> NatsAuth {
        let password = || Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
        let issuer = KeyPair::new_account();
        let xkey = XKey::new();
        NatsAuth {
            service_password: password(),
            auth_password: password(),
            system_password: password(),
            issuer: issuer.public_key(),
            issuer_seed: issuer.seed().expect("encoding an account seed"),
            xkey: xkey.public_key(),
            xkey_seed: xkey.seed().expect("encoding a curve seed"),
        }
    }

    /// (user, password) of the services' identity in account APP.
    pub fn service(&self) -> (&str, &str) {
        (SERVICE_USER, &self.service_password)
    }

    /// (user, password) of the system-account identity.
    pub fn system(&self) -> (&str, &str) {
        (SYSTEM_USER, &self.system_password)
    }

    /// Public key of the callout issuer account.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `TRMM_NATS_*` environment of a trmm-nats-api that serves the callout for this server.
    pub fn nats_api_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TRMM_NATS_USER", SERVICE_USER.to_owned()),
            ("TRMM_NATS_PASSWORD", self.service_password.clone()),
            ("TRMM_NATS_AUTH_USER", AUTH_USER.to_owned()),
            ("TRMM_NATS_AUTH_PASSWORD", self.auth_password.clone()),
            ("TRMM_NATS_SYSTEM_USER", SYSTEM_USER.to_owned()),
            ("TRMM_NATS_SYSTEM_PASSWORD", self.system_password.clone()),
            ("TRMM_NATS_ISSUER_SEED", self.issuer_seed.clone()),
            ("TRMM_NATS_XKEY_SEED", self.xkey_seed.clone()),
        ]
    }

    /// The same settings as command-line flags (for `Config::try_parse_from` in-process).
    pub fn nats_api_args(&self) -> Vec<String> {
        self.nats_api_env()
            .into_iter()
            .flat_map(|(var, value)| {
                let flag = var.trim_start_matches("TRMM_").to_lowercase().replace('_', "-");
                [format!("--{flag}"), value]
            })
            .collect()
    }

    /// The variables config/nats/nats-server.conf reads, as nats-server config variable definitions
    /// (bcrypt cost 4: the server checks these on every service connect, tests connect a lot).
    fn variables(&self) -> String {
        let hash = |password: &str| {
            bcrypt::hash_with_result(password, 4)
                .expect("bcrypt hashing")
                .format_for_version(bcrypt::Version::TwoA)
        };
        [
            ("TRMM_NATS_CALLOUT_ISSUER", self.issuer.clone()),
            ("TRMM_NATS_CALLOUT_XKEY", self.xkey.clone()),
            ("TRMM_NATS_SERVICE_PASSWORD_HASH", hash(&self.service_password)),
            ("TRMM_NATS_AUTH_PASSWORD_HASH", hash(&self.auth_password)),
            ("TRMM_NATS_SYSTEM_PASSWORD_HASH", hash(&self.system_password)),
        ]
        .iter()
        .map(|(name, value)| format!("{name}: \"{value}\"\n"))
        .collect()
    }
}

/// The repository's nats-server configuration.
fn repo_config_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/nats/nats-server.conf")
}

/// The repository config without its `listen`/`http` lines: the test server gets its own port
/// and no monitoring port, so that servers of concurrent tests do not collide.
fn repo_config_body() -> String {
    let path = repo_config_path();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|line| !line.starts_with("listen:") && !line.starts_with("http:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

impl NatsServer {
    /// Starts a server on a free port with config/nats/nats-server.conf and fresh credentials.
    ///
    /// Only the static users (see [`NatsAuth`]) get in until a trmm-nats-api serves the auth
    /// callout with [`NatsAuth::nats_api_env`].
    pub async fn start_with_auth() -> (NatsServer, NatsAuth) {
        let auth = NatsAuth::generate();
        let server = Self::start_with_auth_on(crate::free_port(), &auth).await;
        (server, auth)
    }

    /// Starts a server on `port` with config/nats/nats-server.conf and the credentials of `auth`.
    pub async fn start_with_auth_on(port: u16, auth: &NatsAuth) -> NatsServer {
        let config = format!("{}{}", auth.variables(), repo_config_body());
        Self::start_with_config(port, &config).await
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};

    use super::*;

    /// CONNECT + PING over a raw socket; returns the server's answer line (`PONG` or `-ERR ...`).
    fn connect_raw(port: u16, user: &str, password: &str) -> String {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("reading INFO");
        let connect = format!("CONNECT {{\"user\":\"{user}\",\"pass\":\"{password}\",\"verbose\":false}}\r\nPING\r\n");
        (&stream).write_all(connect.as_bytes()).unwrap();
        line.clear();
        reader.read_line(&mut line).expect("reading the answer");
        line.trim().to_owned()
    }

    #[test]
    fn flags_mirror_the_environment() {
        let auth = NatsAuth::generate();
        let args = auth.nats_api_args();
        assert_eq!(args[0], "--nats-user");
        assert_eq!(args[1], SERVICE_USER);
        assert!(args.contains(&"--nats-issuer-seed".to_owned()));
        assert!(auth.issuer().starts_with('A'));
    }

    #[tokio::test]
    async fn static_users_get_in_with_their_password_only() {
        let (server, auth) = NatsServer::start_with_auth().await;
        let (user, password) = auth.service();
        let greeting = connect_raw(server.port(), user, password);
        assert_eq!(greeting, "PONG", "service user");
        let refused = connect_raw(server.port(), user, "wrong");
        assert!(refused.contains("Authorization Violation"), "{refused}");
    }
}
