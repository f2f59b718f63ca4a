-- The engine's bookkeeping: a per-execution event counter (events are numbered
-- 1, 2, 3… per execution, the SSE id), the step-run bookkeeping needed to
-- re-attach after a take-over, and which worker drove each attempt.

ALTER TABLE executions ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN cancel_reason text;

ALTER TABLE step_runs ADD COLUMN message_added boolean NOT NULL DEFAULT false;
ALTER TABLE step_runs ADD COLUMN worker_id text;
ALTER TABLE step_runs ADD COLUMN prompt text;

CREATE INDEX step_runs_execution_idx ON step_runs (execution_id, step_id, attempt);
