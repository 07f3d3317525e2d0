// Every family, largest first.
MATCH (f:Family)
RETURN f.id AS id, f.size AS size, f.root_id AS root, f.medoid_id AS medoid
ORDER BY size DESC, id
