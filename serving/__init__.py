"""The FastAPI service: routes, access, storage, database, audit, commission pages."""
