// Constraints and indexes of the Model Heritage graph. Idempotent: `heritage db init` runs it at every start.
CREATE CONSTRAINT model_id IF NOT EXISTS FOR (m:Model) REQUIRE m.id IS UNIQUE;
CREATE CONSTRAINT family_id IF NOT EXISTS FOR (f:Family) REQUIRE f.id IS UNIQUE;
CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:Run) REQUIRE r.id IS UNIQUE;
CREATE INDEX model_sha256 IF NOT EXISTS FOR (m:Model) ON (m.sha256);
CREATE INDEX model_name IF NOT EXISTS FOR (m:Model) ON (m.name);
CREATE INDEX model_status IF NOT EXISTS FOR (m:Model) ON (m.status);
