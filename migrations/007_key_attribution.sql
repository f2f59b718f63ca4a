-- Whose key paid for a run, said only as far as it is true.
--
-- Stock Suna reads no per-request provider key: an X-API-Key-<service>
-- header is ignored. 'user' claimed the user's key paid whenever the user had
-- one for the provider. It becomes 'forwarded' (Renum sent a key for the
-- run's provider to a Suna configured to read it), beside 'platform' (Suna's
-- own keys) and 'user_suna_account' (the run went through the user's own Suna
-- account). Rows written as 'user' were forwarded keys.

ALTER TABLE usage_log DROP CONSTRAINT IF EXISTS usage_log_api_key_type_check;
UPDATE usage_log SET api_key_type = 'forwarded' WHERE api_key_type = 'user';
ALTER TABLE usage_log ADD CONSTRAINT usage_log_api_key_type_check
    CHECK (api_key_type IN ('user_suna_account', 'forwarded', 'platform'));
