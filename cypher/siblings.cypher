// Models fine-tuned from the same parent as model $id. :param id => 'model-abc123'
MATCH (p:Model)-[:PARENT_OF]->(:Model {id: $id})
MATCH (p)-[:PARENT_OF]->(s:Model)
WHERE s.id <> $id
RETURN s.id AS id, s.name AS name
ORDER BY id
