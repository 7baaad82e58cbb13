"""Clients for the systems the actions drive: the Docker engine, registries, AWS ECR.

Each module wraps one system behind a small typed API, classifies its errors (transient
vs permanent, see `fastapi_ci.retry`) and never prints or stores a credential.
"""
