-- Which Suna account an execution runs as, and which agents it runs, fixed at launch.
--
-- A user who stored a Suna account API key (PUT /v1/keys/suna) has their
-- executions call Suna as that account ('user'): their agents, models, run
-- limits and Suna billing; everyone else runs as the service account
-- ('service'). The choice is made at launch and kept, so that storing or
-- deleting the key never moves a running execution between accounts (its
-- project, threads and agents belong to one). `agents` maps each agent name
-- of the workflow to the UUID it resolved to in that account at launch (NULL
-- or a missing name: resolved when the step first starts, then kept here too),
-- so renaming an agent in Suna never changes a running execution. A key
-- replaced after launch (suna_key_at no longer matches) may be another
-- account's: the execution is not moved to it.

ALTER TABLE executions
    ADD COLUMN suna_account text NOT NULL DEFAULT 'service'
        CHECK (suna_account IN ('service', 'user')),
    ADD COLUMN suna_key_at timestamptz,  -- the user's Suna key as of launch (its updated_at)
    ADD COLUMN agents jsonb;

ALTER TABLE usage_log
    ADD COLUMN suna_account text NOT NULL DEFAULT 'service'
        CHECK (suna_account IN ('service', 'user'));

-- A run Renum stopped on a Suna whose stops can be lost (before v1) reads
-- `stopped` even while it goes on to complete: its usage is recorded only once
-- two reads agree on its LLM calls (the number seen last is kept here).
ALTER TABLE step_runs ADD COLUMN usage_calls_seen integer;
