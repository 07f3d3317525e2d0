// Step 2, one batch of members: merge each model, move it into the family, and drop incoming parent edges
// that this run did not find (row.parent is the parent the run found, null at the root).
UNWIND $rows AS row
MATCH (f:Family {id: $family_id})
MERGE (m:Model {id: row.id})
  ON CREATE SET m.created_at = $now
SET m += row.props, m.status = 'ok', m.reason = null, m.reject_kind = null, m.run_id = $run_id
MERGE (m)-[:BELONGS_TO]->(f)
WITH m, f, row
CALL (m, f) {
  MATCH (m)-[old:BELONGS_TO]->(other:Family) WHERE other <> f
  DELETE old
}
CALL (m, row) {
  MATCH (p:Model)-[stale:PARENT_OF]->(m) WHERE row.parent IS NULL OR p.id <> row.parent
  DELETE stale
}
RETURN count(m) AS models
