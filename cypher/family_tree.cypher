// A family's tree: every member with its parent edge (parent is null at the root). In Neo4j Browser,
// `MATCH p = (:Model)-[:PARENT_OF]->(:Model)-[:BELONGS_TO]->(:Family {id: $family}) RETURN p` draws it.
// :param family => 'family:model-abc123'
MATCH (m:Model)-[:BELONGS_TO]->(:Family {id: $family})
OPTIONAL MATCH (p:Model)-[e:PARENT_OF]->(m)
RETURN m.id AS child, p.id AS parent, e.distance AS distance, e.confidence AS confidence
ORDER BY parent IS NOT NULL, parent, child
