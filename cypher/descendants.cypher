// Every descendant of model $id (depth 1 = child). :param id => 'model-abc123'
// An existing model with none gives one row of nulls (GraphStore.query drops it); an unknown id gives no row.
MATCH (m:Model {id: $id})
OPTIONAL MATCH path = (m)-[:PARENT_OF*1..]->(d:Model)
RETURN d.id AS id, d.name AS name, length(path) AS depth
ORDER BY depth, id
