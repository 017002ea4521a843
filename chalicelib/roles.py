"""Who may call what: the roles an API key can carry."""

INGEST = "ingest"
SERVICE_MANAGER = "service-manager"
POINT_MANAGER = "point-manager"
ROLES = (INGEST, SERVICE_MANAGER, POINT_MANAGER)
