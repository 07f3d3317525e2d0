// Step 1 of writing one family (all steps run in one transaction): the Family node.
// :param family => {id: 'family:model-abc123', size: 3, root_id: 'model-abc123', medoid_id: 'model-abc123'}
MERGE (f:Family {id: $family.id})
  ON CREATE SET f.created_at = $now
SET f.size = $family.size, f.root_id = $family.root_id, f.medoid_id = $family.medoid_id, f.run_id = $run_id
RETURN f.id AS id
