-- Accounts admin surface: when and from where each session was last used, the user's double-click URL action,
-- and an index for "which users hold this role" (role deletion and user_count).

ALTER TABLE auth_tokens
    ADD COLUMN last_used timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN ip_address inet;

ALTER TABLE users
    ADD COLUMN url_action_id integer REFERENCES url_actions (id) ON DELETE SET NULL;

CREATE INDEX users_role_id ON users (role_id);
