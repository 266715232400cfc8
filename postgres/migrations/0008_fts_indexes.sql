-- The inverted index of the documents' tsvectors, which keyword queries
-- match through.

CREATE INDEX IF NOT EXISTS fulltext_docs_document ON fulltext_docs USING GIN (document);
