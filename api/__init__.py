"""The lineage service: FastAPI over the Neo4j graph store (``heritage serve``)."""
