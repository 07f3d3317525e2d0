// Remove one model and its relationships; its family is pruned if it was the last member.
// :param id => 'model-abc123'
MATCH (m:Model {id: $id})
OPTIONAL MATCH (m)-[:BELONGS_TO]->(f:Family)
DETACH DELETE m
WITH f
WHERE f IS NOT NULL AND NOT EXISTS { (:Model)-[:BELONGS_TO]->(f) }
DETACH DELETE f
RETURN count(f) AS pruned
