-- Every try at a provider within a call, as a JSON array of attempts; NULL when
-- the call recorded none (records from before this column, or no provider reached).
ALTER TABLE invocations ADD COLUMN attempt_list TEXT;
