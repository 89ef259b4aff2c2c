"""Operations: the local stack (Prefect server, worker, SeaweedFS) and CI helpers."""
