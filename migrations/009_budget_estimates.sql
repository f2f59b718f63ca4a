-- A run genai-prices cannot price keeps cost_usd NULL (its cost is unknown), but
-- its tokens were spent: budgets count it at an estimate, recorded here with the
-- run (RENUM_UNPRICED_STEP_ESTIMATE_USD, else RENUM_STEP_COST_ESTIMATE_USD, when
-- it was recorded). NULL for a priced run, and for one that used no tokens.

ALTER TABLE usage_log
    ADD COLUMN estimated_usd numeric(20, 10) CHECK (estimated_usd >= 0),
    ADD CONSTRAINT usage_log_estimated_unpriced CHECK (estimated_usd IS NULL OR NOT priced);
