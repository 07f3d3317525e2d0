// Models whose name contains $name (case-insensitive; '' for all), in family $family (null for any), by id.
// :param {name: '', family: null, skip: 0, limit: 50}
MATCH (m:Model)
WHERE toLower(coalesce(m.name, m.id)) CONTAINS toLower($name)
  AND ($family IS NULL OR EXISTS { (m)-[:BELONGS_TO]->(:Family {id: $family}) })
OPTIONAL MATCH (m)-[:BELONGS_TO]->(f:Family)
RETURN m.id AS id, m.name AS name, f.id AS family, m.num_params AS num_params,
       coalesce(m.status, 'ok') AS status
ORDER BY id
SKIP $skip LIMIT $limit
