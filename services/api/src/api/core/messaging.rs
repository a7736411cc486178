//! `POST /core/emailtest/` and `POST /core/smstest/` (upstream core/views.py::email_test, TwilioSMSTest): a
//! test message through trmm-notify with the stored settings, sent within the request as upstream does; the
//! answer is upstream's text, or a 400 with the reason the send failed.

use actix_web::HttpResponse;
use trmm_notify::mail::Email;
use trmm_notify::NotifyError;

use crate::api::routes::{self, Routes};
use crate::auth::perms::EditCoreSettings;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/emailtest/", routes::post().to(email_test))
        .route("/core/smstest/", routes::post().to(sms_test));
}

/// A failed send as the answer upstream gives (its message, as a bare 400 string); a database outage stays a 503.
fn failed(e: NotifyError) -> ApiError {
    match e {
        NotifyError::Db(e) => e.into(),
        other => {
            tracing::warn!(error = %other, "test message failed");
            ApiError::BadRequest(other.to_string())
        }
    }
}

async fn email_test(caller: Authed<EditCoreSettings>) -> ApiResult<HttpResponse> {
    let mailer = {
        let db = caller.state.conn().await?;
        caller.state.notifier.mailer(&db).await.map_err(failed)?
    };
    if !mailer.is_configured() {
        // Upstream answers a test with this text whatever is missing.
        return Err(ApiError::BadRequest(
            "There needs to be at least one email recipient configured".into(),
        ));
    }
    let email = Email {
        subject: "Test from Tactical RMM",
        body: "This is a test message",
        ..Email::default()
    };
    mailer.send(&email).await.map_err(failed)?;
    Ok(HttpResponse::Ok().json("Email test ok!"))
}

async fn sms_test(caller: Authed<EditCoreSettings>) -> ApiResult<HttpResponse> {
    let twilio = {
        let db = caller.state.conn().await?;
        caller.state.notifier.twilio(&db).await.map_err(failed)?
    };
    if !twilio.is_configured() || twilio.default_recipients().is_empty() {
        return Err(ApiError::BadRequest(
            "All fields are required, including at least 1 recipient".into(),
        ));
    }
    for to in twilio.default_recipients() {
        twilio.send(to, "TacticalRMM Test SMS").await.map_err(failed)?;
    }
    Ok(HttpResponse::Ok().json("SMS Test sent successfully!"))
}
