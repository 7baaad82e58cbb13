"""rollout's adapters, one per orchestrator (Swarm, Kubernetes, ECS), each behind
`fastapi_ci.rollout.backend.Backend` and built on the clients in `fastapi_ci.clients`.

Imported only when chosen (`fastapi_ci.rollout.make_backend`): the SDKs are slow to import.
"""
