package hypha

import "context"

// Embedder turns one text into a vector. Texts are embedded one per call:
// the Myco worker learned that batching texts of very uneven length into
// one model call overflows the model's context. Implementations must be
// safe for concurrent use.
type Embedder interface {
	// Embed returns the vector of text, of length Dims().
	Embed(ctx context.Context, text string) ([]float32, error)
	// Model names the provider and model, stored with every vector so
	// vectors of different models are never compared.
	Model() string
	// Dims is the length of every vector Embed returns.
	Dims() int
}
