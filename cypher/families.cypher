// Every family, largest first, with its edge count and mean edge confidence.
MATCH (f:Family)
CALL (f) {
  OPTIONAL MATCH (:Model)-[e:PARENT_OF]->(:Model)-[:BELONGS_TO]->(f)
  RETURN count(e) AS edges, avg(e.confidence) AS mean_confidence
}
RETURN f.id AS id, f.size AS size, f.root_id AS root, f.medoid_id AS medoid, f.created_at AS created_at,
       edges, mean_confidence
ORDER BY size DESC, id
