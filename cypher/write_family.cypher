// Write (part of) one family of a scan; every call for a family runs in that family's one transaction.
// $rows: members [{id, parent, props}] -- each is merged, moved into the family, and loses incoming parent
//        edges this run did not find (row.parent is the parent the run found, null at the root);
// $display_labels: every display-only label (Params*, Hue*); each row's row.labels replace them;
// $edges: parent edges [{parent, child, distance, confidence, method}] -- merged, so writing the same
//        result twice changes nothing. Members are written before the edges that refer to them.
// :param family => {id: 'family:model-abc123', size: 3, root_id: 'model-abc123', medoid_id: 'model-abc123'}
MERGE (f:Family {id: $family.id})
  ON CREATE SET f.created_at = $now
SET f.size = $family.size, f.root_id = $family.root_id, f.medoid_id = $family.medoid_id, f.run_id = $run_id
WITH f
CALL (f) {
  UNWIND $rows AS row
  MERGE (m:Model {id: row.id})
    ON CREATE SET m.created_at = $now
  SET m += row.props, m.status = 'ok', m.reason = null, m.reject_kind = null, m.run_id = $run_id
  WITH f, m, row, labels(m) AS current
  REMOVE m:$([label IN current WHERE label IN $display_labels AND NOT label IN row.labels])
  SET m:$([label IN row.labels WHERE NOT label IN current])
  MERGE (m)-[:BELONGS_TO]->(f)
  WITH m, row
  OPTIONAL MATCH (m)-[old:BELONGS_TO]->(other:Family) WHERE other <> f
  DELETE old
  WITH DISTINCT m, row
  OPTIONAL MATCH (p:Model)-[stale:PARENT_OF]->(m) WHERE row.parent IS NULL OR p.id <> row.parent
  DELETE stale
}
CALL () {
  UNWIND $edges AS row
  MATCH (p:Model {id: row.parent}), (c:Model {id: row.child})
  MERGE (p)-[e:PARENT_OF]->(c)
  SET e.distance = row.distance, e.confidence = row.confidence, e.method = row.method, e.run_id = $run_id
}
RETURN f.id AS id
