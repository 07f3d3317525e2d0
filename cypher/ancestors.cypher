// Every ancestor of model $id, nearest first (depth 1 = parent). :param id => 'model-abc123'
// An existing model with none gives one row of nulls (GraphStore.query drops it); an unknown id gives no row.
MATCH (m:Model {id: $id})
OPTIONAL MATCH path = (a:Model)-[:PARENT_OF*1..]->(m)
RETURN a.id AS id, a.name AS name, length(path) AS depth
ORDER BY depth
