package hypha

import "context"

// Embedder turns one text into a vector. Implementations must be safe for
// concurrent use.
type Embedder interface {
	// Embed returns the vector of text, of length Dims().
	Embed(ctx context.Context, text string) ([]float32, error)
	// Model names the model, stored with every vector so vectors of
	// different models are never compared.
	Model() string
	// Dims is the length of every vector Embed returns.
	Dims() int
}

// BatchEmbedder is an Embedder that embeds several texts per call, for
// providers where a call costs more than its text (a request over the
// network). EmbedBatch returns one vector per text, in order, or an error
// for the whole call. Implementations split the texts into requests bounded
// both by count and by total length: the Myco worker learned that a batch
// of very uneven texts overflows the model's context (reference §6.1).
type BatchEmbedder interface {
	Embedder
	EmbedBatch(ctx context.Context, texts []string) ([][]float32, error)
}

// EmbedderInfo describes the embedder in use, as /health shows it and
// team_config records it (embedding_provider, embedding_model,
// embedding_dimensions).
type EmbedderInfo struct {
	Provider string // "hash" (built in) or "openai" (an OpenAI-compatible endpoint)
	Model    string // the model name stored with each vector
	Dims     int
	// Lexical is true for an embedder whose vectors capture shared words and
	// spellings rather than meaning (the built-in one).
	Lexical bool
}

// DescribeEmbedder returns e's own description when it has one (an Info
// method), and otherwise its model and dimension under provider "custom".
func DescribeEmbedder(e Embedder) EmbedderInfo {
	if d, ok := e.(interface{ Info() EmbedderInfo }); ok {
		return d.Info()
	}
	return EmbedderInfo{Provider: "custom", Model: e.Model(), Dims: e.Dims()}
}
