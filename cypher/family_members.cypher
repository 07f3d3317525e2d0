// The members of family $family. :param family => 'family:model-abc123'
MATCH (m:Model)-[:BELONGS_TO]->(:Family {id: $family})
RETURN m.id AS id, m.name AS name, m.num_params AS num_params, m.kurtosis AS kurtosis
ORDER BY id
