-- Idempotency keys, claimed by the appending transaction itself: a trigger records the key
-- (per actor) with the command (causation id) that first used it, in the same transaction as
-- that command's events. Another command arriving with the same key, even on another
-- instance at the same moment, fails its append with a unique violation, which the event
-- store reports as a lost race; the retry then finds the key and replays the first answer.
CREATE TABLE idempotency_keys
(
    actor_id     text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    aggregate_id text        NOT NULL,
    causation_id text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, key)
);

CREATE FUNCTION events_claim_idempotency_key() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    holder text;
BEGIN
    IF NEW.metadata ? 'idempotency_key' THEN
        INSERT INTO idempotency_keys (actor_id, key, request_hash, aggregate_id, causation_id)
        VALUES (NEW.metadata ->> 'actor_id', NEW.metadata ->> 'idempotency_key',
                coalesce(NEW.metadata ->> 'request_hash', ''), NEW.aggregate_id,
                NEW.metadata ->> 'causation_id')
        ON CONFLICT (actor_id, key) DO NOTHING;
        SELECT causation_id INTO holder FROM idempotency_keys
         WHERE actor_id = NEW.metadata ->> 'actor_id' AND key = NEW.metadata ->> 'idempotency_key';
        IF holder IS DISTINCT FROM NEW.metadata ->> 'causation_id' THEN
            RAISE EXCEPTION 'idempotency key % already used', NEW.metadata ->> 'idempotency_key'
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_idempotency
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_claim_idempotency_key();

GRANT SELECT, INSERT ON idempotency_keys TO prconfirm_app;
