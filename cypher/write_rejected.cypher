// Inputs a scan rejected: flagged, with the reason; relationships written by earlier scans stay as they were.
UNWIND $rows AS row
MERGE (m:Model {id: row.id})
  ON CREATE SET m.created_at = $now, m.name = row.name
SET m.status = 'rejected', m.reason = row.reason, m.reject_kind = row.kind, m.run_id = $run_id
RETURN count(m) AS rejected
