//! Users for the accounts suites, made in the database with a role and a session rather than through a login
//! (the login rate limit allows ten a minute per address).

use trmm_db::sessions::Scope;
use trmm_db::UserId;

use super::TestApi;

/// A non-superuser with its own role holding `flags`, and a full session.
pub struct Member {
    pub id: i64,
    pub role: i32,
    pub token: String,
}

/// Creates `name` with a role of the same name holding `flags`; it has no usable password (log in users made
/// through `POST /accounts/users/` instead).
pub async fn member(api: &TestApi, name: &str, flags: &[&str]) -> Member {
    let conn = api.db.pool().get().await.unwrap();
    let role = trmm_db::roles::create(&conn, name, flags).await.unwrap();
    let email = format!("{name}@example.com");
    trmm_db::users::upsert_superuser(&conn, name, &email, "!", None, false)
        .await
        .unwrap();
    let sql = "UPDATE users SET is_superuser = false, role_id = $1 WHERE username = $2 RETURNING id";
    let id: i32 = conn.query_one(sql, &[&role.0, &name]).await.unwrap().get(0);
    Member {
        id: id.into(),
        role: role.0,
        token: session(api, id.into()).await,
    }
}

/// A new full session of user `id`, as a login would open it; returns its token.
pub async fn session(api: &TestApi, id: i64) -> String {
    api.session(UserId(id as i32), Scope::Full).await
}

/// The id of the user called `username`.
pub async fn user_id(api: &TestApi, username: &str) -> i64 {
    let conn = api.db.pool().get().await.unwrap();
    let user = trmm_db::users::find_by_username(&conn, username).await.unwrap();
    user.unwrap().id.0.into()
}
