// One family (no row for an unknown id). :param family => 'family:model-abc123'
MATCH (f:Family {id: $family})
OPTIONAL MATCH (:Model)-[e:PARENT_OF]->(c:Model)-[:BELONGS_TO]->(f)
RETURN f.id AS id, f.size AS size, f.root_id AS root, f.medoid_id AS medoid, f.created_at AS created_at,
       count(e) AS edges, avg(e.confidence) AS mean_confidence
