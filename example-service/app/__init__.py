"""Example FastAPI service that the fastapi-ci actions are proven on."""
