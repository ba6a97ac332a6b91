-- Until the gateway had a TLS listener, an API's `protocols` was not enforced: every API was
-- served on the plain listener, and the old default stored ["https"]. APIs stored that way keep
-- being served where they were, now as ["http", "https"]; the change is a new revision, so their
-- ETags change with it.
UPDATE config_revision SET revision = revision + 1
WHERE id = 1
  AND EXISTS (SELECT 1 FROM entities
              WHERE kind = 'api' AND json_extract(body, '$.protocols') = '["https"]');
UPDATE entities
SET body = json_set(body, '$.protocols', json('["http","https"]')),
    revision = (SELECT revision FROM config_revision WHERE id = 1)
WHERE kind = 'api' AND json_extract(body, '$.protocols') = '["https"]';
