//! Dashboard users (Tactical RMM `accounts.User`).

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{DbError, RoleId, UserId};

/// A dashboard user as authentication and permission checks need it.
#[derive(Debug, Clone)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Contact address.
    pub email: String,
    /// Disabled users cannot log in or use tokens.
    pub is_active: bool,
    /// Superusers pass every permission check.
    pub is_superuser: bool,
    /// API-only users: refused by checkcreds/login, tokens and keys still work.
    pub block_dashboard_login: bool,
    /// Base32 TOTP secret, once 2FA is set up.
    pub totp_key: Option<String>,
    /// The role that grants this user's permissions.
    pub role_id: Option<RoleId>,
}

const COLUMNS: &str =
    "id, username, password_hash, email, is_active, is_superuser, block_dashboard_login, totp_key, role_id";

pub(crate) fn from_row(row: &Row) -> User {
    from_row! { row, User {
        id, username, password_hash, email, is_active, is_superuser, block_dashboard_login, totp_key, role_id,
    } }
}

/// The user with this exact username, if any.
pub async fn find_by_username(db: &impl GenericClient, username: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    Ok(db.query_opt(&sql, &[&username]).await?.as_ref().map(from_row))
}

/// What `upsert_superuser` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new user was inserted.
    Created,
    /// An existing user's password, email and TOTP secret were replaced.
    Updated,
    /// The user exists and updating was not requested.
    AlreadyExists,
}

/// Creates a superuser, or (with `update_existing`) resets an existing one's credentials.
pub async fn upsert_superuser(
    db: &impl GenericClient,
    username: &str,
    email: &str,
    password_hash: &str,
    totp_key: Option<&str>,
    update_existing: bool,
) -> Result<Upserted, DbError> {
    let inserted = db
        .execute(
            "INSERT INTO users (username, email, password_hash, totp_key, is_superuser, is_staff, created_by)
             VALUES ($1, $2, $3, $4, true, true, 'createsuperuser') ON CONFLICT (username) DO NOTHING",
            &[&username, &email, &password_hash, &totp_key],
        )
        .await?;
    if inserted == 1 {
        return Ok(Upserted::Created);
    }
    if !update_existing {
        return Ok(Upserted::AlreadyExists);
    }
    db.execute(
        "UPDATE users SET email = $2, password_hash = $3, totp_key = $4, is_superuser = true, is_active = true,
                modified_by = 'createsuperuser', modified_time = now()
         WHERE username = $1",
        &[&username, &email, &password_hash, &totp_key],
    )
    .await?;
    Ok(Upserted::Updated)
}

/// Stores a TOTP secret unless the user already has one; returns whether it was stored.
pub async fn set_totp_key_if_unset(db: &impl GenericClient, user: UserId, key: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE users SET totp_key = $2 WHERE id = $1 AND totp_key IS NULL",
            &[&user.0, &key],
        )
        .await?;
    Ok(n == 1)
}

/// Records a successful login: time and client address.
pub async fn record_login(
    db: &impl GenericClient,
    user: UserId,
    at: DateTime<Utc>,
    ip: Option<std::net::IpAddr>,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE users SET last_login = $2, last_login_ip = $3 WHERE id = $1",
        &[&user.0, &at, &ip],
    )
    .await?;
    Ok(())
}

/// A user's dashboard preferences (upstream's UI fields of `accounts.User`).
#[derive(Debug, Clone)]
pub struct UiPreferences {
    /// Dark theme.
    pub dark_mode: bool,
    /// Community scripts listed in the script manager.
    pub show_community_scripts: bool,
    /// What double-clicking an agent does.
    pub agent_dblclick_action: String,
    /// The agent table's first tab.
    pub default_agent_tbl_tab: String,
    /// Order of the client tree.
    pub client_tree_sort: String,
    /// Width of the client tree.
    pub client_tree_splitter: i16,
    /// Colour of the loading bar.
    pub loading_bar_color: String,
    /// The agent table's search is cleared when another client is picked.
    pub clear_search_when_switching: bool,
    /// The user's own date format, if any.
    pub date_format: Option<String>,
    /// Notification colours.
    pub dash_info_color: String,
    /// Notification colours.
    pub dash_positive_color: String,
    /// Notification colours.
    pub dash_negative_color: String,
    /// Notification colours.
    pub dash_warning_color: String,
    /// The installer user, which has no dashboard.
    pub is_installer_user: bool,
}

/// The user's dashboard preferences.
pub async fn ui_preferences(db: &impl GenericClient, user: UserId) -> Result<Option<UiPreferences>, DbError> {
    let row = db
        .query_opt(
            "SELECT dark_mode, show_community_scripts, agent_dblclick_action, default_agent_tbl_tab, client_tree_sort,
                    client_tree_splitter, loading_bar_color, clear_search_when_switching, date_format, dash_info_color,
                    dash_positive_color, dash_negative_color, dash_warning_color, is_installer_user
             FROM users WHERE id = $1",
            &[&user.0],
        )
        .await?;
    Ok(row.map(|row| {
        from_row! { row, UiPreferences {
            dark_mode, show_community_scripts, agent_dblclick_action, default_agent_tbl_tab, client_tree_sort,
            client_tree_splitter, loading_bar_color, clear_search_when_switching, date_format, dash_info_color,
            dash_positive_color, dash_negative_color, dash_warning_color, is_installer_user,
        } }
    }))
}
