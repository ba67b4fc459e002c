-- Initial schema of Hookflash.
--
-- Every tenant-owned table carries `tenant text NOT NULL REFERENCES
-- tenants(id) ON DELETE CASCADE` and leads its primary key with it, so every
-- query is filtered by tenant and deleting a tenant removes all its rows.
-- Tenant ids are lower-case domains (tenant.ParseID).

-- +goose Up
CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    limits     jsonb NOT NULL DEFAULT '{}'::jsonb,
    privacy    jsonb NOT NULL DEFAULT '{}'::jsonb,
    disabled   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- PBX secrets are AES-256-GCM ciphertexts (tenant.Sealer): nonce || sealed.
CREATE TABLE pbxes (
    tenant                   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                       text NOT NULL,
    name                     text NOT NULL DEFAULT '',
    enabled                  boolean NOT NULL DEFAULT true,
    ari_url                  text NOT NULL DEFAULT '',
    ari_user                 text NOT NULL DEFAULT '',
    ari_app                  text NOT NULL DEFAULT 'hookflash',
    ami_addr                 text NOT NULL DEFAULT '',
    ami_user                 text NOT NULL DEFAULT '',
    ari_password             bytea,
    ami_secret               bytea,
    tls_ca                   text NOT NULL DEFAULT '',
    tls_insecure_skip_verify boolean NOT NULL DEFAULT false,
    version                  bigint NOT NULL DEFAULT 1,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

CREATE TABLE users (
    tenant         text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id             text NOT NULL,
    username       text NOT NULL,
    name           text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    role           text NOT NULL DEFAULT '',
    main_extension text NOT NULL DEFAULT '',
    password_hash  text NOT NULL DEFAULT '',
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);
-- Usernames are unique per tenant, ignoring case.
CREATE UNIQUE INDEX users_tenant_username_key ON users (tenant, lower(username));

-- A terminal ("PJSIP/1001") belongs to at most one user per tenant.
CREATE TABLE user_terminals (
    tenant   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id  text NOT NULL,
    terminal text NOT NULL,
    position integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, terminal),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX user_terminals_user_idx ON user_terminals (tenant, user_id, position);

-- Integrator API tokens: only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    tenant       text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id           text NOT NULL,
    name         text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    prefix       text NOT NULL DEFAULT '',
    hash         bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

-- Completed calls. Recording is idempotent on the primary key. Pages are
-- read newest first by keyset on (ended_at, linked_id, pbx_id) descending.
CREATE TABLE calls (
    tenant      text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    pbx_id      text COLLATE "C" NOT NULL,
    linked_id   text COLLATE "C" NOT NULL,
    direction   text NOT NULL DEFAULT '',
    from_number text NOT NULL DEFAULT '',
    from_name   text NOT NULL DEFAULT '',
    to_number   text NOT NULL DEFAULT '',
    users       text[] NOT NULL DEFAULT '{}',
    queue       text NOT NULL DEFAULT '',
    answered    boolean NOT NULL DEFAULT false,
    abandoned   boolean NOT NULL DEFAULT false,
    disposition text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    answered_at timestamptz,
    ended_at    timestamptz NOT NULL,
    wait_s      double precision NOT NULL DEFAULT 0,
    talk_s      double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, pbx_id, linked_id)
);
CREATE INDEX calls_tenant_ended_idx ON calls (tenant, ended_at DESC, linked_id DESC, pbx_id DESC);
CREATE INDEX calls_tenant_queue_ended_idx ON calls (tenant, queue, ended_at DESC, linked_id DESC, pbx_id DESC)
    WHERE queue <> '';
CREATE INDEX calls_users_idx ON calls USING gin (users);

-- Administrative changes. tenant is NULL for platform-level entries (they
-- belong to no tenant); tenant entries go with their tenant.
CREATE TABLE audit_log (
    id     bigserial PRIMARY KEY,
    tenant text REFERENCES tenants(id) ON DELETE CASCADE,
    actor  text NOT NULL DEFAULT '',
    action text NOT NULL,
    target text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant, id DESC);

-- casbin policies (RBAC with domains), read by the authz adapter.
CREATE TABLE casbin_rule (
    id    bigserial PRIMARY KEY,
    ptype text NOT NULL,
    v0    text NOT NULL DEFAULT '',
    v1    text NOT NULL DEFAULT '',
    v2    text NOT NULL DEFAULT '',
    v3    text NOT NULL DEFAULT '',
    v4    text NOT NULL DEFAULT '',
    v5    text NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

-- +goose Down
DROP TABLE casbin_rule;
DROP TABLE audit_log;
DROP TABLE calls;
DROP TABLE api_tokens;
DROP TABLE user_terminals;
DROP TABLE users;
DROP TABLE pbxes;
DROP TABLE tenants;
