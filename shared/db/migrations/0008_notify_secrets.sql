-- Notification secrets encrypted at rest with the operator's TRMM_SECRET_KEY (upstream stores them in plaintext),
-- and the Twilio API base URL as a setting so that SMS can be pointed at any Twilio-compatible endpoint.
-- The database never sees the key: the services encrypt before writing and decrypt after reading.
ALTER TABLE core_settings
    DROP COLUMN smtp_host_password,
    DROP COLUMN twilio_auth_token,
    ADD COLUMN smtp_host_password_enc bytea,
    ADD COLUMN twilio_auth_token_enc bytea,
    ADD COLUMN twilio_api_url varchar(255) NOT NULL DEFAULT 'https://api.twilio.com';
