"""Memory: threads that resume (a LangGraph checkpointer) and long-term memories that are
recalled (a LangGraph store with offline semantic search).

`open_backends` opens both where `AGENTLAB_DB` / `AGENTLAB_HOME` say;
`LongTermMemory` reads and writes typed memories in any LangGraph store.
"""

from agentlab.memory.backends import Backends, open_backends, open_checkpointer, open_store
from agentlab.memory.embeddings import MiniLMEmbeddings, resolve_embedder
from agentlab.memory.long_term import LongTermMemory, Memory, MemoryKind, Recalled, Stored
from agentlab.memory.sqlite_store import AgentlabSqliteStore

__all__ = [
    "AgentlabSqliteStore",
    "Backends",
    "LongTermMemory",
    "Memory",
    "MemoryKind",
    "MiniLMEmbeddings",
    "Recalled",
    "Stored",
    "open_backends",
    "open_checkpointer",
    "open_store",
    "resolve_embedder",
]
