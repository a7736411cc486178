-- When each API key was last used, shown in the key list; written at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used timestamptz;
