-- Script library, snippets, custom fields with their per-agent/client/site values, and the global key store
-- (server-api.md 1.8, 1.9, 5.2-5.4).

CREATE TABLE scripts (
    id serial PRIMARY KEY,
    -- Community script id; null for user scripts.
    guid varchar(64),
    name varchar(255) NOT NULL,
    description text,
    filename varchar(255),
    shell varchar(100) NOT NULL DEFAULT 'powershell'
        CHECK (shell IN ('shell', 'python', 'powershell', 'cmd', 'nushell', 'deno')),
    script_type varchar(100) NOT NULL DEFAULT 'userdefined' CHECK (script_type IN ('userdefined', 'builtin')),
    args text[] NOT NULL DEFAULT '{}',
    -- KEY=VALUE strings.
    env_vars text[] NOT NULL DEFAULT '{}',
    syntax text,
    favorite boolean NOT NULL DEFAULT false,
    category varchar(100),
    -- The code is stored once, here (upstream's deprecated code_base64 copy is not kept).
    script_body text NOT NULL DEFAULT '',
    -- SHA-256 hex of script_body, written with every body change and kept so copies can be checked against it
    -- (upstream: an HMAC with SECRET_KEY that nothing reads).
    script_hash char(64) NOT NULL,
    default_timeout integer NOT NULL DEFAULT 90 CHECK (default_timeout > 0),
    hidden boolean NOT NULL DEFAULT false,
    -- windows / linux / darwin; empty means every platform.
    supported_platforms text[] NOT NULL DEFAULT '{}',
    run_as_user boolean NOT NULL DEFAULT false,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);
-- The script table is listed by category, then name; import matches user scripts by name.
CREATE INDEX scripts_category_name ON scripts (category, name);
CREATE INDEX scripts_name ON scripts (name);

CREATE TABLE script_snippets (
    id serial PRIMARY KEY,
    name varchar(40) NOT NULL UNIQUE,
    "desc" varchar(50) NOT NULL DEFAULT '',
    code text NOT NULL DEFAULT '',
    shell varchar(15) NOT NULL DEFAULT 'powershell'
        CHECK (shell IN ('shell', 'python', 'powershell', 'cmd', 'nushell', 'deno'))
);

CREATE TABLE custom_fields (
    id serial PRIMARY KEY,
    "order" integer NOT NULL DEFAULT 0,
    model varchar(25) NOT NULL CHECK (model IN ('client', 'site', 'agent')),
    type varchar(25) NOT NULL DEFAULT 'text'
        CHECK (type IN ('text', 'number', 'single', 'multiple', 'checkbox', 'datetime')),
    -- Choices of single / multiple fields.
    options text[] NOT NULL DEFAULT '{}',
    name varchar(100) NOT NULL,
    required boolean NOT NULL DEFAULT false,
    default_value_string text,
    default_value_bool boolean NOT NULL DEFAULT false,
    default_values_multiple text[] NOT NULL DEFAULT '{}',
    hide_in_ui boolean NOT NULL DEFAULT false,
    hide_in_summary boolean NOT NULL DEFAULT false,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model, name)
);

-- Values: text/number/single/datetime in string_value, checkbox in bool_value, multiple in multiple_value.
CREATE TABLE agent_custom_fields (
    id serial PRIMARY KEY,
    agent_pk integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    field_id integer NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    string_value text,
    bool_value boolean NOT NULL DEFAULT false,
    multiple_value text[] NOT NULL DEFAULT '{}',
    UNIQUE (agent_pk, field_id)
);
CREATE INDEX agent_custom_fields_field_id ON agent_custom_fields (field_id);

-- Upstream has no unique (client, field) / (site, field) constraint (only AgentCustomField has one), so a
-- client or site could hold two values for one field; ours has it, which makes writes an upsert.
CREATE TABLE client_custom_fields (
    id serial PRIMARY KEY,
    client_id integer NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    field_id integer NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    string_value text,
    bool_value boolean NOT NULL DEFAULT false,
    multiple_value text[] NOT NULL DEFAULT '{}',
    UNIQUE (client_id, field_id)
);
CREATE INDEX client_custom_fields_field_id ON client_custom_fields (field_id);

CREATE TABLE site_custom_fields (
    id serial PRIMARY KEY,
    site_id integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    field_id integer NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    string_value text,
    bool_value boolean NOT NULL DEFAULT false,
    multiple_value text[] NOT NULL DEFAULT '{}',
    UNIQUE (site_id, field_id)
);
CREATE INDEX site_custom_fields_field_id ON site_custom_fields (field_id);

-- Upstream's name is not unique (a duplicate makes {{global.name}} raise); ours is, so the lookup is well defined.
CREATE TABLE global_kv_store (
    id serial PRIMARY KEY,
    name varchar(25) NOT NULL UNIQUE,
    value text NOT NULL,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);
