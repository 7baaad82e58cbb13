"""fastapi-ci: the checks behind JavaScript-free GitHub Actions that ship FastAPI services."""
