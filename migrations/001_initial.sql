-- Renum's initial schema: teams, executions, step runs, events, context
-- snapshots, the usage ledger, users' encrypted keys and budgets.
-- Every row belongs to a user (user_id = the JWT's `sub`).

CREATE TABLE teams (
    id           uuid PRIMARY KEY,
    user_id      text NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    workflow     jsonb NOT NULL,
    plan         jsonb NOT NULL,
    webhook_url  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
CREATE UNIQUE INDEX teams_user_name_key ON teams (user_id, name) WHERE deleted_at IS NULL;
CREATE INDEX teams_user_created_idx ON teams (user_id, created_at DESC, id);

CREATE TABLE executions (
    id                uuid PRIMARY KEY,
    user_id           text NOT NULL,
    team_id           uuid NOT NULL REFERENCES teams (id),
    status            text NOT NULL CHECK (status IN (
                          'queued', 'running', 'waiting_for_credentials', 'completed',
                          'failed', 'cancelled', 'budget_exceeded')),
    initial_prompt    text NOT NULL,
    workflow          jsonb NOT NULL,          -- the team's workflow as launched
    plan              jsonb NOT NULL,          -- dsl.compile() of it
    budget_usd        numeric(20, 10),
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key   text,
    webhook_url       text,
    error             jsonb,
    cancel_requested  boolean NOT NULL DEFAULT false,
    lease_owner       text,
    lease_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX executions_idempotency_key ON executions (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_user_created_idx ON executions (user_id, created_at DESC, id);
CREATE INDEX executions_team_idx ON executions (team_id);
CREATE INDEX executions_active_idx ON executions (status, lease_expires_at)
    WHERE status IN ('queued', 'running', 'waiting_for_credentials');

CREATE TABLE step_runs (
    execution_id     uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id          text NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    status           text NOT NULL CHECK (status IN (
                         'pending', 'running', 'completed', 'failed', 'skipped', 'cancelled')),
    agent_id         text,
    suna_thread_id   text,
    suna_project_id  text,
    suna_run_id      text,
    answer           text,
    output           jsonb,
    error            jsonb,
    started_at       timestamptz,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, step_id, attempt)
);
CREATE UNIQUE INDEX step_runs_suna_run_key ON step_runs (suna_run_id)
    WHERE suna_run_id IS NOT NULL;

CREATE TABLE execution_events (
    execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq           bigint NOT NULL,
    type          text NOT NULL,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE context_snapshots (
    execution_id  uuid PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    context       jsonb NOT NULL,
    version       integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE usage_log (
    id                  bigserial PRIMARY KEY,
    suna_run_id         text NOT NULL UNIQUE,      -- one row per Suna agent run, ever
    user_id             text NOT NULL,
    team_id             uuid,
    execution_id        uuid,
    step_id             text,
    attempt             integer,
    agent_id            text,
    model               text,
    provider            text,
    api_key_type        text NOT NULL DEFAULT 'platform' CHECK (api_key_type IN ('user', 'platform')),
    input_tokens        bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens       bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cached_tokens       bigint NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    cache_write_tokens  bigint NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    reasoning_tokens    bigint NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
    llm_calls           integer NOT NULL DEFAULT 0,
    cost_usd            numeric(20, 10),           -- NULL when the model is not priced
    priced              boolean NOT NULL DEFAULT false,
    price_version       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (priced = (cost_usd IS NOT NULL))
);
CREATE INDEX usage_log_user_created_idx ON usage_log (user_id, created_at);
CREATE INDEX usage_log_execution_idx ON usage_log (execution_id);

CREATE TABLE user_keys (
    user_id     text NOT NULL,
    service     text NOT NULL CHECK (service ~ '^[a-z0-9_-]{1,64}$'),
    ciphertext  bytea NOT NULL,
    key_id      text NOT NULL,                     -- id of the master key that sealed it
    last4       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, service)
);
CREATE INDEX user_keys_key_id_idx ON user_keys (key_id);

CREATE TABLE user_budgets (
    user_id      text PRIMARY KEY,
    monthly_usd  numeric(20, 10) NOT NULL CHECK (monthly_usd >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
