// Health of the whole graph: counts, family size distribution, edge confidence, tree validity.
CALL () { MATCH (m:Model) RETURN count(m) AS models, count(CASE WHEN m.status = 'rejected' THEN 1 END) AS rejected }
CALL () { MATCH (f:Family) RETURN count(f) AS families }
CALL () {
  MATCH (f:Family) WITH f.size AS size, count(*) AS n ORDER BY size
  RETURN collect([size, n]) AS size_distribution
}
CALL () { MATCH ()-[e:PARENT_OF]->() RETURN count(e) AS edges, avg(e.confidence) AS mean_confidence }
CALL () {
  MATCH (f:Family)
  OPTIONAL MATCH (r:Model)-[:BELONGS_TO]->(f) WHERE NOT EXISTS { (:Model)-[:PARENT_OF]->(r) }
  WITH f, count(r) AS roots
  RETURN count(CASE WHEN roots <> 1 THEN 1 END) AS families_without_one_root
}
CALL () { MATCH (c:Model)<-[:PARENT_OF]-(:Model) WITH c, count(*) AS k WHERE k > 1 RETURN count(c) AS models_with_two_parents }
CALL () { MATCH (m:Model)-[:PARENT_OF*1..]->(m) RETURN count(DISTINCT m) AS models_on_cycles }
CALL () {
  MATCH (p:Model)-[:PARENT_OF]->(c:Model)
  WHERE NOT EXISTS { (p)-[:BELONGS_TO]->(:Family)<-[:BELONGS_TO]-(c) }
  RETURN count(*) AS cross_family_edges
}
CALL () {
  MATCH (m:Model) WHERE coalesce(m.status, 'ok') <> 'rejected' AND NOT EXISTS { (m)-[:BELONGS_TO]->(:Family) }
  RETURN count(m) AS unplaced_models
}
RETURN models, rejected, families, size_distribution, edges, mean_confidence,
       families_without_one_root, models_with_two_parents, models_on_cycles, cross_family_edges, unplaced_models,
       families_without_one_root + models_with_two_parents + models_on_cycles + cross_family_edges
         + unplaced_models = 0 AS valid
