// One model with its family (no row for an unknown id). :param id => 'model-abc123'
MATCH (m:Model {id: $id})
OPTIONAL MATCH (m)-[:BELONGS_TO]->(f:Family)
OPTIONAL MATCH (p:Model)-[:PARENT_OF]->(m)
RETURN m.id AS id, m.name AS name, m.path AS path, m.sha256 AS sha256, m.format AS format,
       m.architecture AS architecture, m.num_params AS num_params, m.kurtosis AS kurtosis,
       m.weight_norm AS weight_norm, coalesce(m.status, 'ok') AS status, m.reason AS reason,
       f.id AS family, p.id AS parent
