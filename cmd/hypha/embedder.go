package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// envName is a portable environment variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateEmbedder checks the embedding settings, one problem per setting.
func (c *Config) validateEmbedder() []string {
	var errs []string
	provider := strings.ToLower(strings.TrimSpace(c.Embedder))
	switch provider {
	case search.ProviderHash:
		for _, s := range []struct{ key, value string }{
			{"embedding_url", c.EmbeddingURL}, {"embedding_model", c.EmbeddingModel},
			{"embedding_api_key_env", c.EmbeddingAPIKeyEnv}, {"embedding_api_key_file", c.EmbeddingAPIKeyFile},
		} {
			if strings.TrimSpace(s.value) != "" {
				errs = append(errs, fmt.Sprintf("%s: only used with embedder = \"openai\", but embedder is \"hash\" (set embedder = \"openai\" or remove it)", s.key))
			}
		}
		if d := c.EmbeddingDimensions; d != 0 && (d < 8 || d > 8192) {
			errs = append(errs, fmt.Sprintf("embedding_dimensions: %d is out of range for the built-in embedder: use 8 to 8192 (or 0 for the default %d)", d, search.DefaultHashDims))
		}
	case search.ProviderOpenAI:
		if strings.TrimSpace(c.EmbeddingURL) == "" {
			errs = append(errs, "embedding_url: required with embedder = \"openai\" (for example http://127.0.0.1:11434 for Ollama, https://api.openai.com for OpenAI)")
		} else if _, err := search.EmbeddingsEndpoint(c.EmbeddingURL); err != nil {
			errs = append(errs, "embedding_url: "+hypha.ErrorMessage(err))
		}
		if strings.TrimSpace(c.EmbeddingModel) == "" {
			errs = append(errs, "embedding_model: required with embedder = \"openai\" (for example nomic-embed-text, bge-m3 or text-embedding-3-small)")
		}
		if d := c.EmbeddingDimensions; d <= 0 || d > 65536 {
			errs = append(errs, fmt.Sprintf("embedding_dimensions: required with embedder = \"openai\": the length of the model's vectors, 1 to 65536 (for example 768 for nomic-embed-text, 1024 for bge-m3, 1536 for text-embedding-3-small); got %d", d))
		}
		if c.EmbeddingAPIKeyEnv != "" && c.EmbeddingAPIKeyFile != "" {
			errs = append(errs, "embedding_api_key_env: set either it or embedding_api_key_file, not both")
		}
		if c.EmbeddingAPIKeyEnv != "" && !envName.MatchString(c.EmbeddingAPIKeyEnv) {
			errs = append(errs, fmt.Sprintf("embedding_api_key_env: %q is not an environment variable name: give the name (e.g. OPENAI_API_KEY), never the key itself", c.EmbeddingAPIKeyEnv))
		}
	default:
		errs = append(errs, fmt.Sprintf("embedder: %q is not one of hash, openai", c.Embedder))
	}
	if c.EmbeddingTimeout <= 0 {
		errs = append(errs, "embedding_timeout: must be positive (for example 30s)")
	}
	if n := c.EmbeddingBatchSize; n < 1 || n > 2048 {
		errs = append(errs, fmt.Sprintf("embedding_batch_size: %d is not from 1 to 2048", n))
	}
	if n := c.EmbeddingBatchChars; n < 1 {
		errs = append(errs, fmt.Sprintf("embedding_batch_chars: %d must be positive (a longer text is sent alone)", n))
	}
	return errs
}

// newEmbedder builds the configured embedder. The API key is read here,
// from its file or environment variable, and is never logged.
//
// stored, when not nil, returns the provider token stored through POST
// /tokens/cf-api ("" when none); the embedder asks it on every request.
// Precedence of the API key: a key setting given by flag, then by
// environment variable, then the stored token, then a key setting from the
// config file. So an operator's explicit key always wins, and a token a
// client stores replaces only what the config file says.
func (m *Main) newEmbedder(stored func() string) (hypha.Embedder, error) {
	c := m.Config
	if strings.ToLower(strings.TrimSpace(c.Embedder)) != search.ProviderOpenAI {
		return search.NewHashEmbedder(int(c.EmbeddingDimensions)), nil
	}
	key, err := m.embeddingAPIKey()
	if err != nil {
		return nil, err
	}
	opts := search.OpenAIOptions{
		URL: strings.TrimSpace(c.EmbeddingURL), Model: strings.TrimSpace(c.EmbeddingModel), Dims: int(c.EmbeddingDimensions),
		APIKey: key, Timeout: c.EmbeddingTimeout, BatchSize: int(c.EmbeddingBatchSize), BatchUnits: int(c.EmbeddingBatchChars),
	}
	explicit := m.fromFlagOrEnv["embedding_api_key_env"] || m.fromFlagOrEnv["embedding_api_key_file"]
	if stored != nil && !explicit {
		opts.APIKeyFunc = func() string {
			if k := stored(); k != "" {
				return k
			}
			return key
		}
	}
	return search.NewOpenAIEmbedder(opts)
}

// embeddingAPIKey reads the provider's API key from the configured file or
// environment variable; "" when neither is set (Ollama needs none).
func (m *Main) embeddingAPIKey() (string, error) {
	c := m.Config
	switch {
	case c.EmbeddingAPIKeyFile != "":
		b, err := os.ReadFile(c.EmbeddingAPIKeyFile)
		if err != nil {
			return "", fmt.Errorf("embedding_api_key_file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("embedding_api_key_file: %s is empty", c.EmbeddingAPIKeyFile)
		}
		return key, nil
	case c.EmbeddingAPIKeyEnv != "":
		key := strings.TrimSpace(m.Getenv(c.EmbeddingAPIKeyEnv))
		if key == "" {
			return "", fmt.Errorf("embedding_api_key_env: the environment variable %s is empty or unset", c.EmbeddingAPIKeyEnv)
		}
		return key, nil
	}
	return "", nil
}

// probeEmbedder embeds one short text with a provider over the network and
// logs what it found, so a wrong URL, model, key or dimension shows at
// start rather than as failing jobs. It never stops the server.
func probeEmbedder(ctx context.Context, e hypha.Embedder, log *slog.Logger) {
	oa, ok := e.(*search.OpenAIEmbedder)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := oa.Embed(ctx, "hypha embedder check"); err != nil {
		if ctx.Err() == nil {
			log.Error("embedding provider check failed; records are embedded once it answers", "endpoint", oa.Endpoint(), "model", oa.Model(), "err", err)
		}
		return
	}
	log.Info("embedding provider answered", "endpoint", oa.Endpoint(), "model", oa.Model(), "dims", oa.Dims())
}

// logEmbedder says at start which embedder runs, and that the built-in one
// is lexical.
func logEmbedder(log *slog.Logger, info hypha.EmbedderInfo) {
	if info.Lexical {
		log.Info("embedder: built-in lexical hashing (matches shared words and spellings, not meaning); set embedder = \"openai\" for semantic search",
			"provider", info.Provider, "model", info.Model, "dims", info.Dims)
		return
	}
	log.Info("embedder", "provider", info.Provider, "model", info.Model, "dims", info.Dims)
}
