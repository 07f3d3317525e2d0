// The tree path between models $a and $b, through their lowest common ancestor (no row if unrelated).
// :param a => 'model-abc123'
// :param b => 'model-def456'
MATCH (x:Model {id: $a}), (y:Model {id: $b})
MATCH p = shortestPath((x)-[:PARENT_OF*0..]-(y))
RETURN [n IN nodes(p) | n.id] AS ids, length(p) AS hops
