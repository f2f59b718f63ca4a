-- Runs whose usage could not be read when their attempt ended.
--
-- A Suna run that ran (it cost tokens) but whose output Suna would not return
-- when its attempt ended has no usage_log row yet. The attempt's outcome
-- statement marks it usage_pending; workers read the run's output again later
-- (backing off, usage_retry_at) and record its usage once, then clear the mark.
-- The partial index keeps the search to the few rows that are pending.
--
-- step_runs_execution_idx duplicated the primary key; every step_runs write
-- paid for it.

ALTER TABLE step_runs
    ADD COLUMN usage_pending  boolean NOT NULL DEFAULT false,
    ADD COLUMN usage_tries    integer NOT NULL DEFAULT 0,
    ADD COLUMN usage_retry_at timestamptz;

CREATE INDEX step_runs_usage_pending_idx ON step_runs (usage_retry_at) WHERE usage_pending;

DROP INDEX IF EXISTS step_runs_execution_idx;
