// The lowest common ancestor of models $a and $b (a model counts as its own ancestor).
// :param a => 'model-abc123'
// :param b => 'model-def456'
MATCH pa = (x:Model)-[:PARENT_OF*0..]->(:Model {id: $a})
MATCH (x)-[:PARENT_OF*0..]->(:Model {id: $b})
RETURN x.id AS id, x.name AS name
ORDER BY length(pa) ASC
LIMIT 1
