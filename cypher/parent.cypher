// The parent of model $id (no row for a root). :param id => 'model-abc123'
MATCH (p:Model)-[e:PARENT_OF]->(:Model {id: $id})
RETURN p.id AS id, p.name AS name, e.distance AS distance, e.confidence AS confidence
