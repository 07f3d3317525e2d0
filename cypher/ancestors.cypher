// Every ancestor of model $id, nearest first (depth 1 = parent). :param id => 'model-abc123'
MATCH path = (a:Model)-[:PARENT_OF*1..]->(:Model {id: $id})
RETURN a.id AS id, a.name AS name, length(path) AS depth
ORDER BY depth
