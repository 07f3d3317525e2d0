// One Run node per scan; params and metrics are JSON strings.
MERGE (r:Run {id: $id})
SET r.started_at = $started_at, r.finished_at = $finished_at, r.params = $params, r.metrics = $metrics
RETURN r.id AS id
