// Step 3, one batch of parent edges: merged, so writing the same result twice changes nothing.
UNWIND $rows AS row
MATCH (p:Model {id: row.parent}), (c:Model {id: row.child})
MERGE (p)-[e:PARENT_OF]->(c)
SET e.distance = row.distance, e.confidence = row.confidence, e.method = row.method, e.run_id = $run_id
RETURN count(e) AS edges
