// The direct fine-tunes of model $id. :param id => 'model-abc123'
// An existing model with none gives one row of nulls (GraphStore.query drops it); an unknown id gives no row.
MATCH (m:Model {id: $id})
OPTIONAL MATCH (m)-[e:PARENT_OF]->(c:Model)
RETURN c.id AS id, c.name AS name, e.distance AS distance, e.confidence AS confidence
ORDER BY id
