-- Fair dispatch: each user has a window of executions in the queue or driven.
--
-- `dispatched` says an execution holds one of its user's RENUM_USER_CONCURRENCY
-- places: it is in the dispatch queue or driven by a worker. The others wait
-- in PostgreSQL, oldest first, and are dispatched as the user's places free up
-- (renum.dispatch), so one user's 10,000 launches never stand in front of
-- another user's one. An execution waiting for credentials with nothing else
-- to do is *parked*: it gives its place and its worker slot up, keeps
-- `waiting_for_credentials`, and is dispatched again when the user stores a
-- key, when it is cancelled, or at `parked_until` (the end of its wait).
-- Executions from before this migration count as dispatched, as they were.

ALTER TABLE executions
    ADD COLUMN dispatched boolean NOT NULL DEFAULT true,
    ADD COLUMN parked_until timestamptz;

ALTER TABLE executions ALTER COLUMN dispatched SET DEFAULT false;

-- A user's unfinished executions, oldest first: the launch's count, the window's order.
CREATE INDEX executions_user_active_idx ON executions (user_id, created_at, id)
    WHERE status IN ('queued', 'running', 'waiting_for_credentials');

-- Retention (RENUM_RETENTION_DAYS): when the sweeper deleted a finished
-- execution's events and context and blanked its prompts and answers. Its
-- status, steps, errors and usage stay: billing never loses a row.
ALTER TABLE executions ADD COLUMN purged_at timestamptz;
CREATE INDEX executions_finished_idx ON executions (finished_at)
    WHERE finished_at IS NOT NULL AND purged_at IS NULL;
