// Every descendant of model $id (depth 1 = child). :param id => 'model-abc123'
MATCH path = (:Model {id: $id})-[:PARENT_OF*1..]->(d:Model)
RETURN d.id AS id, d.name AS name, length(path) AS depth
ORDER BY depth, id
