// Models stored with these exact bytes (sha256 of the weight files). :param sha256 => 'e3b0c4...'
MATCH (m:Model {sha256: $sha256})
RETURN m.id AS id, m.status AS status
ORDER BY id
