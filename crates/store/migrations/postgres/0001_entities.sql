-- Every entity is one row: public JSON in body, secrets sealed (AES-256-GCM) in sealed.
CREATE TABLE entities (
    kind     TEXT   NOT NULL,
    key      TEXT   NOT NULL,
    revision BIGINT NOT NULL,
    body     TEXT   NOT NULL,
    sealed   BYTEA,
    PRIMARY KEY (kind, key)
);

-- Service-wide facts: admin token hash, master key check, store epoch.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row: the revision of the last committed change, for optimistic concurrency. Every
-- commit locks it (SELECT ... FOR UPDATE), so commits from several nodes are serialised.
CREATE TABLE config_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT  NOT NULL
);
INSERT INTO config_revision (id, revision) VALUES (1, 0);
