-- Every committed change to an entity, with who made it: written in the commit's transaction.
CREATE TABLE audit_events (
    id              BIGSERIAL PRIMARY KEY,
    at              TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    via             TEXT   NOT NULL,
    address         TEXT,
    kind            TEXT   NOT NULL,
    key             TEXT   NOT NULL,
    operation       TEXT   NOT NULL,
    revision_before BIGINT NOT NULL,
    revision_after  BIGINT NOT NULL
);
