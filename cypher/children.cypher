// The direct fine-tunes of model $id. :param id => 'model-abc123'
MATCH (:Model {id: $id})-[e:PARENT_OF]->(c:Model)
RETURN c.id AS id, c.name AS name, e.distance AS distance, e.confidence AS confidence
ORDER BY id
