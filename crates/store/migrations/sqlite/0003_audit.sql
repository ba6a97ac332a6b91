-- Every committed change to an entity, with who made it: written in the commit's transaction.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    via             TEXT    NOT NULL,
    address         TEXT,
    kind            TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    revision_before INTEGER NOT NULL,
    revision_after  INTEGER NOT NULL
);
