//! Dashboard users (Tactical RMM `accounts.User`).

use std::net::IpAddr;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use crate::{DbError, RoleId, UrlActionId, UserId};

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
    ip: Option<IpAddr>,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE users SET last_login = $2, last_login_ip = $3 WHERE id = $1",
        &[&user.0, &at, &ip],
    )
    .await?;
    Ok(())
}

/// A user as the accounts page shows it; serializes as upstream's `UserSerializer` (never the password hash or
/// the TOTP secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    /// Primary key.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Contact address.
    pub email: String,
    /// Disabled users cannot log in.
    pub is_active: bool,
    /// Last successful login.
    pub last_login: Option<DateTime<Utc>>,
    /// Where it came from.
    pub last_login_ip: Option<IpAddr>,
    /// The role that grants this user's permissions.
    pub role: Option<RoleId>,
    /// API-only users: refused by checkcreds, login and every dashboard session.
    pub block_dashboard_login: bool,
    /// The user's date format override.
    pub date_format: Option<String>,
}

const ROW_COLUMNS: &str = "id, username, first_name, last_name, email, is_active, last_login, last_login_ip,
                           role_id, block_dashboard_login, date_format";

fn user_row(row: &Row) -> UserRow {
    from_row! { row, UserRow {
        id, username, first_name, last_name, email, is_active, last_login, last_login_ip, role = "role_id",
        block_dashboard_login, date_format,
    } }
}

/// Dashboard users (never the installer user), by id; `search` keeps usernames containing it, ignoring case.
pub async fn list(db: &impl GenericClient, search: Option<&str>) -> Result<Vec<UserRow>, DbError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM users
         WHERE NOT is_installer_user AND ($1::text IS NULL OR strpos(lower(username), lower($1)) > 0)
         ORDER BY id"
    );
    Ok(db.query(&sql, &[&search]).await?.iter().map(user_row).collect())
}

/// Whether user `id` is a superuser (false when there is no such user).
pub async fn is_superuser(db: &impl GenericClient, id: UserId) -> Result<bool, DbError> {
    let row = db
        .query_opt("SELECT is_superuser FROM users WHERE id = $1", &[&id.0])
        .await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// One dashboard user.
pub async fn get(db: &impl GenericClient, id: UserId) -> Result<Option<UserRow>, DbError> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM users WHERE id = $1 AND NOT is_installer_user");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(user_row))
}

/// Inserts an active user without a role (an [`update`] in the same transaction sets the other fields); a taken
/// username is a unique violation.
pub async fn create(
    db: &impl GenericClient,
    username: &str,
    email: &str,
    password_hash: &str,
    by: &str,
) -> Result<UserId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO users (username, email, password_hash, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&username, &email, &password_hash, &by],
        )
        .await?;
    Ok(UserId(row.get(0)))
}

/// A partial edit of a user: `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New login name (unique).
    pub username: Option<String>,
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
    /// New contact address.
    pub email: Option<String>,
    /// Enable or disable.
    pub is_active: Option<bool>,
    /// New role (`Some(None)` removes it).
    pub role: Option<Option<RoleId>>,
    /// Block or allow dashboard logins.
    pub block_dashboard_login: Option<bool>,
    /// New date format (`Some(None)` clears it).
    pub date_format: Option<Option<String>>,
}

/// Applies `c`; a taken username is a unique violation.
pub async fn update(db: &impl GenericClient, id: UserId, c: &UserChanges, by: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE users SET username = COALESCE($2, username), first_name = COALESCE($3, first_name),
                    last_name = COALESCE($4, last_name), email = COALESCE($5, email),
                    is_active = COALESCE($6, is_active),
                    role_id = CASE WHEN $7 THEN $8 ELSE role_id END,
                    block_dashboard_login = COALESCE($9, block_dashboard_login),
                    date_format = CASE WHEN $10 THEN $11 ELSE date_format END,
                    modified_by = $12, modified_time = now()
             WHERE id = $1",
            &[
                &id.0,
                &c.username,
                &c.first_name,
                &c.last_name,
                &c.email,
                &c.is_active,
                &c.role.is_some(),
                &c.role.flatten(),
                &c.block_dashboard_login,
                &c.date_format.is_some(),
                &c.date_format.clone().flatten(),
                &by,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a user (its sessions go with it).
pub async fn delete(db: &impl GenericClient, id: UserId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "users", &id.0).await
}

/// Replaces a user's password hash.
pub async fn set_password(db: &impl GenericClient, id: UserId, hash: &str, by: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE users SET password_hash = $2, modified_by = $3, modified_time = now() WHERE id = $1",
            &[&id.0, &hash, &by],
        )
        .await?;
    Ok(n == 1)
}

/// Removes a user's TOTP secret, so that the next login sets up 2FA again.
pub async fn clear_totp(db: &impl GenericClient, id: UserId, by: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE users SET totp_key = NULL, modified_by = $2, modified_time = now() WHERE id = $1",
            &[&id.0, &by],
        )
        .await?;
    Ok(n == 1)
}

/// A partial edit of a user's dashboard preferences (upstream `UserUISerializer`): `None` leaves one alone.
#[derive(Debug, Clone, Default)]
pub struct UiPrefs {
    /// Dark theme.
    pub dark_mode: Option<bool>,
    /// Show community scripts in the script pickers.
    pub show_community_scripts: Option<bool>,
    /// What double-clicking an agent does.
    pub agent_dblclick_action: Option<String>,
    /// The URL action double-clicking runs (`Some(None)` clears it).
    pub url_action: Option<Option<UrlActionId>>,
    /// The agent table's initial tab.
    pub default_agent_tbl_tab: Option<String>,
    /// Client tree ordering.
    pub client_tree_sort: Option<String>,
    /// Client tree width.
    pub client_tree_splitter: Option<i16>,
    /// Colour of the loading bar.
    pub loading_bar_color: Option<String>,
    /// Clear the agent search when switching clients.
    pub clear_search_when_switching: Option<bool>,
    /// Date format override (`Some(None)` clears it).
    pub date_format: Option<Option<String>>,
}

/// Applies `p` to the user's preferences.
pub async fn set_ui_prefs(db: &impl GenericClient, id: UserId, p: &UiPrefs) -> Result<(), DbError> {
    db.execute(
        "UPDATE users SET dark_mode = COALESCE($2, dark_mode),
                show_community_scripts = COALESCE($3, show_community_scripts),
                agent_dblclick_action = COALESCE($4, agent_dblclick_action),
                url_action_id = CASE WHEN $5 THEN $6 ELSE url_action_id END,
                default_agent_tbl_tab = COALESCE($7, default_agent_tbl_tab),
                client_tree_sort = COALESCE($8, client_tree_sort),
                client_tree_splitter = COALESCE($9, client_tree_splitter),
                loading_bar_color = COALESCE($10, loading_bar_color),
                clear_search_when_switching = COALESCE($11, clear_search_when_switching),
                date_format = CASE WHEN $12 THEN $13 ELSE date_format END
         WHERE id = $1",
        &[
            &id.0,
            &p.dark_mode,
            &p.show_community_scripts,
            &p.agent_dblclick_action,
            &p.url_action.is_some(),
            &p.url_action.flatten(),
            &p.default_agent_tbl_tab,
            &p.client_tree_sort,
            &p.client_tree_splitter,
            &p.loading_bar_color,
            &p.clear_search_when_switching,
            &p.date_format.is_some(),
            &p.date_format.clone().flatten(),
        ],
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
    /// The URL action double-clicking runs.
    pub url_action: Option<UrlActionId>,
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
            "SELECT dark_mode, show_community_scripts, agent_dblclick_action, url_action_id, default_agent_tbl_tab,
                    client_tree_sort, client_tree_splitter, loading_bar_color, clear_search_when_switching,
                    date_format, dash_info_color, dash_positive_color, dash_negative_color, dash_warning_color,
                    is_installer_user
             FROM users WHERE id = $1",
            &[&user.0],
        )
        .await?;
    Ok(row.map(|row| {
        from_row! { row, UiPreferences {
            dark_mode, show_community_scripts, agent_dblclick_action, url_action = "url_action_id",
            default_agent_tbl_tab, client_tree_sort, client_tree_splitter, loading_bar_color,
            clear_search_when_switching, date_format, dash_info_color, dash_positive_color, dash_negative_color,
            dash_warning_color, is_installer_user,
        } }
    }))
}
