"""YAML documents with the line of every key, so findings can point at file:line."""

from __future__ import annotations

from kubenetlab.inputs import Document, Progress, documents, unwrap_list

Doc = Document  # the audit's name for a document with its key lines


def load_documents(text: str, on_progress: Progress | None = None) -> list[Document]:
    """Every non-empty document of a (multi-document) YAML text, a `kind: List` (what
    `kubectl get … -o yaml` prints) unwrapped into its items. Raises yaml.YAMLError."""
    return [
        item
        for document in documents(text, with_lines=True, on_progress=on_progress)
        for item in unwrap_list(document)
    ]
