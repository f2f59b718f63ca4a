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
-- so renaming an agent in Suna never changes a running execution.

ALTER TABLE executions
    ADD COLUMN suna_account text NOT NULL DEFAULT 'service'
        CHECK (suna_account IN ('service', 'user')),
    ADD COLUMN agents jsonb;

ALTER TABLE usage_log
    ADD COLUMN suna_account text NOT NULL DEFAULT 'service'
        CHECK (suna_account IN ('service', 'user'));
