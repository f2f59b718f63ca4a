-- Completion webhooks: a per-user signing secret, one delivery per finished
-- execution that has a webhook_url, and every attempt at it.
--
-- The delivery row is written by a trigger in the same transaction that moves
-- the execution to a terminal status, so a webhook is owed exactly when the
-- status says so, whichever process finished the execution. Workers send the
-- owed deliveries (SELECT … FOR UPDATE SKIP LOCKED on next_attempt_at).

CREATE TABLE webhook_secrets (
    user_id     text PRIMARY KEY,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    execution_id     uuid NOT NULL UNIQUE REFERENCES executions (id) ON DELETE CASCADE,
    user_id          text NOT NULL,
    url              text NOT NULL,
    event            text NOT NULL,            -- execution.completed, execution.failed, …
    state            text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    payload          jsonb,                    -- built at the first attempt, then fixed
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    response_status  integer,
    error            text,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE FUNCTION renum_owe_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.webhook_url IS NOT NULL
       AND NEW.status IN ('completed', 'failed', 'cancelled', 'budget_exceeded')
       AND OLD.status NOT IN ('completed', 'failed', 'cancelled', 'budget_exceeded') THEN
        INSERT INTO webhook_deliveries (execution_id, user_id, url, event)
        VALUES (NEW.id, NEW.user_id, NEW.webhook_url, 'execution.' || NEW.status)
        ON CONFLICT (execution_id) DO NOTHING;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER executions_owe_webhook
    AFTER UPDATE OF status ON executions
    FOR EACH ROW EXECUTE FUNCTION renum_owe_webhook();
