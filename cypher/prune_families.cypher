// Families left without members after a scan moved them elsewhere.
MATCH (f:Family) WHERE NOT EXISTS { (:Model)-[:BELONGS_TO]->(f) }
DETACH DELETE f
RETURN count(*) AS pruned
