"""Which store a configuration means: the embedded engine unless a Qdrant URL is set."""

from __future__ import annotations

from rag.settings import Settings
from rag.store.base import CollectionInfo, StoreError, VectorStore


def qdrant_client_for(settings: Settings):
    from qdrant_client import QdrantClient

    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=int(settings.qdrant_timeout_s))


def open_store(settings: Settings, collection: str, dimension: int | None = None) -> VectorStore:
    """Open (and with ``dimension`` given, create if missing) a collection.

    Without ``dimension`` a missing collection is an error: readers never create collections.
    """
    if settings.qdrant_url:
        from rag.store.server import ServerStore

        return ServerStore(qdrant_client_for(settings), collection, dimension, where=settings.qdrant_url)
    from rag.store.edge import EdgeStore

    return EdgeStore(settings.collections_dir, collection, dimension)


def list_collections(settings: Settings) -> list[CollectionInfo]:
    if settings.qdrant_url:
        from rag.store.server import ServerStore

        client = qdrant_client_for(settings)
        try:
            names = sorted(c.name for c in client.get_collections().collections)
        except Exception as error:
            raise StoreError(f"cannot list collections on {settings.qdrant_url}: {error}") from error
        infos = []
        for name in names:
            store = ServerStore(client, name, where=settings.qdrant_url)
            infos.append(store.info())
        client.close()
        return infos
    from rag.store.edge import EdgeStore

    root = settings.collections_dir
    if not root.is_dir():
        return []
    infos = []
    for directory in sorted(p for p in root.iterdir() if (p / "shard").is_dir()):
        with EdgeStore(root, directory.name) as store:
            infos.append(store.info())
    return infos
