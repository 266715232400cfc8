package search_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hyphateam/hypha/search"
)

func embed(t *testing.T, e *search.HashEmbedder, text string) []float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), text)
	if err != nil {
		t.Fatalf("Embed(%q): %v", text, err)
	}
	if len(v) != e.Dims() {
		t.Fatalf("Embed(%q) has %d dimensions, want %d", text, len(v), e.Dims())
	}
	return v
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestHashEmbedderIdentity(t *testing.T) {
	e := search.NewHashEmbedder(0)
	if e.Dims() != search.DefaultHashDims || e.Model() != "hypha-lexical-hash-v2" {
		t.Fatalf("Dims() = %d, Model() = %q", e.Dims(), e.Model())
	}
	if d := search.NewHashEmbedder(64).Dims(); d != 64 {
		t.Fatalf("NewHashEmbedder(64).Dims() = %d", d)
	}
}

// pinnedChecksum is a weighted sum of one text's vector.
const pinnedChecksum = -3.905667

func TestHashEmbedderIsDeterministic(t *testing.T) {
	text := "Retry the embedding queue with exponential backoff"
	a := embed(t, search.NewHashEmbedder(0), text)
	b := embed(t, search.NewHashEmbedder(0), text)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("two embedders disagree at %d: %v vs %v", i, a[i], b[i])
		}
	}
	// A pinned value guards against an accidental change of the algorithm,
	// which would make stored vectors incomparable with new ones while the
	// model name stays the same.
	var sum float64
	for i, x := range a {
		sum += float64(float64(x) * float64(i%7+1))
	}
	if got := math.Round(sum*1e6) / 1e6; got != pinnedChecksum {
		t.Fatalf("weighted checksum of the vector = %v, want %v: the algorithm changed; bump HashModel", got, pinnedChecksum)
	}
}

func TestHashEmbedderIsNormalised(t *testing.T) {
	e := search.NewHashEmbedder(0)
	for _, text := range []string{"a", "Hello, world!", strings.Repeat("spore content ", 500), "日本語のテキスト", "🍄 mycelium 🍄"} {
		var norm float64
		for _, x := range embed(t, e, text) {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("|Embed(%.20q)|² = %v, want 1", text, norm)
		}
	}
	for _, x := range embed(t, e, " ,.;!? ") {
		if x != 0 {
			t.Fatalf("a text without words gave a non-zero vector")
		}
	}
}

func TestHashEmbedderSimilarTextsAreCloser(t *testing.T) {
	e := search.NewHashEmbedder(0)
	cases := []struct{ query, near, far string }{
		{"postgres connection pool exhausted", "the PostgreSQL connection pool was exhausted under load", "bake the bread at 220 degrees for 30 minutes"},
		{"embedding queue retries", "embeddings are retried by the queue", "the cat sat on the mat"},
		{"spore lifecycle", "spores have a lifecycle: active, superseded", "quarterly revenue grew by four percent"},
	}
	for _, c := range cases {
		q := embed(t, e, c.query)
		near, far := cosine(q, embed(t, e, c.near)), cosine(q, embed(t, e, c.far))
		if near <= far {
			t.Errorf("cos(%q, near) = %.3f is not above cos(far) = %.3f", c.query, near, far)
		}
	}
	if s := cosine(embed(t, e, "Hello World"), embed(t, e, "hello, world")); s < 0.999 {
		t.Errorf("case and punctuation changed the vector: cosine %v", s)
	}
}

func TestHashEmbedderHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := search.NewHashEmbedder(0).Embed(ctx, "x"); err == nil {
		t.Fatal("Embed with a cancelled context succeeded")
	}
}

func BenchmarkHashEmbedder(b *testing.B) {
	e := search.NewHashEmbedder(0)
	text := strings.Repeat("a spore records what an agent observed while working on the project ", 15)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := e.Embed(context.Background(), text); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashEmbedderIgnoresStopWords(t *testing.T) {
	e := search.NewHashEmbedder(0)
	a, b := embed(t, e, "the deploy of the service"), embed(t, e, "deploy service")
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("stop words changed the vector at %d", i)
		}
	}
	// A text of stop words only still has a vector.
	v := embed(t, e, "to be or not to be")
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Fatalf("stop-word-only text: |v|² = %v, want 1", norm)
	}
}
