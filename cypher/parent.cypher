// The parent of model $id. :param id => 'model-abc123'
// An existing model with none gives one row of nulls (GraphStore.query drops it); an unknown id gives no row.
MATCH (m:Model {id: $id})
OPTIONAL MATCH (p:Model)-[e:PARENT_OF]->(m)
RETURN p.id AS id, p.name AS name, e.distance AS distance, e.confidence AS confidence
