-- The money path: reports over every user (admins) scan usage_log by time,
-- and a budget's step estimate reads an agent's recent runs for one user.

CREATE INDEX usage_log_created_idx ON usage_log (created_at);
CREATE INDEX usage_log_user_agent_created_idx ON usage_log (user_id, agent_id, created_at DESC);
