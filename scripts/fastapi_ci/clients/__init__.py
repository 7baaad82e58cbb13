"""Clients of the outside systems the actions drive: the Docker engine, Swarm's service API,
registries, AWS ECR and ECS, the Kubernetes API.

Each module wraps one system behind a small typed API, classifies its errors (transient
vs permanent, see `fastapi_ci.retry`) and never prints or stores a credential. A client
knows nothing of the actions above it: what an action does with a system (rollout's
adapters, migrate-once's runners) lives beside that action.
"""
