// The root (pre-trained ancestor) of model $id's tree; the model itself when it is a root. :param id => 'model-abc123'
MATCH path = (r:Model)-[:PARENT_OF*0..]->(:Model {id: $id})
WHERE NOT EXISTS { (:Model)-[:PARENT_OF]->(r) }
RETURN r.id AS id, r.name AS name, length(path) AS depth
