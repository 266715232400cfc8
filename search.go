package hypha

import "context"

// Search limits, as on the Myco worker (reference §6.4).
const (
	DefaultSearchLimit = 10
	MaxSearchLimit     = 50
	// MaxVectorTopK is the largest k a vector query accepts: the worker
	// over-fetches four times the page before its post-filters.
	MaxVectorTopK = 4 * MaxSearchLimit
	// MaxSearchQueryBytes bounds a query's text; the embedder reads only
	// its first 8,000 characters anyway.
	MaxSearchQueryBytes = 32 << 10
)

// VectorMeta is what the vector index keeps beside each vector: the
// record's key and the metadata filters apply to (reference §6.3).
type VectorMeta struct {
	GroveID         string
	Table           string
	MachineID       string
	ID              string
	ProjectID       string
	Status          string
	ObservationType string
	SessionID       string
	SourcePath      string
	Name            string
	CreatedAt       int64 // 0 when unknown
	// Shared marks a record its grove shares with other groves
	// (sharing_policy cross_grove); only shared records are visible to a
	// grove that was granted access.
	Shared bool
	// Public marks a record its grove made public (sharing_policy
	// public), the only ones the anonymous tier searches.
	Public bool
}

// VectorFilter restricts a vector query. Every set field must match; the
// filter is applied inside the search, so a filtered query still returns
// topK hits when that many match.
type VectorFilter struct {
	// GroveID is the caller's grove: its records are always visible.
	GroveID string
	// SharedFrom lists other groves whose shared records are visible too.
	SharedFrom []string
	// PublicOnly keeps only records marked Public (the anonymous tier).
	PublicOnly      bool
	Tables          []string // any of these tables; empty: all
	ProjectID       string
	MachineID       string
	Status          string
	ObservationType string
	SessionID       string
	SourcePath      string
	Name            string
	Since, Until    int64 // created_at range, inclusive; 0: open
}

// VectorHit is one nearest neighbour, best first.
type VectorHit struct {
	Meta  VectorMeta
	Score float32 // cosine similarity
}

// VectorIndex is the in-process nearest-neighbour index (Vectorize's
// replacement). Implementations are safe for concurrent use.
type VectorIndex interface {
	// Upsert adds or replaces the vector of meta's record.
	Upsert(meta VectorMeta, vec []float32) error
	// Delete removes a record's vector; a missing one is not an error.
	Delete(groveID, table, machineID, id string)
	// Search returns the k hits nearest to q under f, best first; fewer
	// only when fewer match. f.GroveID is required and 1 ≤ k ≤
	// MaxVectorTopK, else EInvalid. A zero q is similar to nothing and
	// returns no hits.
	Search(ctx context.Context, q []float32, k int, f VectorFilter) ([]VectorHit, error)
	// Len is the number of vectors held.
	Len() int
}

// Search modes of GET /search and myco_search.
const (
	SearchHybrid   = "hybrid"   // both, fused by score (the default)
	SearchSemantic = "semantic" // vector similarity only, as the Myco worker
	SearchKeyword  = "keyword"  // full-text only
)

// SearchQuery is one search request of a grove (reference §2.2, §6.4).
type SearchQuery struct {
	Text  string // required, non-blank
	Mode  string // SearchHybrid when ""
	Limit int    // 1..MaxSearchLimit; 0 means DefaultSearchLimit
	// Types are table names (sessions, spores, plans, artifacts,
	// skill_records); empty: all.
	Types                                  []string
	ProjectID, MachineID, Status           string
	ObservationType, SessionID, SourcePath string
	Name                                   string
	Since, Until                           int64 // created_at bounds, inclusive; 0: open
	ReleaseState, ReleaseConfidence        string
	// PublicOnly restricts the search to records their grove marks public
	// (sharing_policy "public"): the anonymous MCP tier.
	PublicOnly bool
}

// SearchResult is Myco's CloudSearchResult (reference §6.5).
type SearchResult struct {
	ID        string         `json:"id"`
	MachineID string         `json:"machine_id"`
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Preview   string         `json:"preview"`
	Score     float64        `json:"score"`
	Data      map[string]any `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Retrieve  *RetrieveHint  `json:"retrieve,omitempty"`
}

// RetrieveHint names the MCP tool call that fetches a result in full.
type RetrieveHint struct {
	Tool  string         `json:"tool"`
	Input map[string]any `json:"input"`
}

// SearchResponse is the answer of GET /search: Myco's {results,
// machine_ids}. Myco's daemon declares machine_ids in its team search
// response type (the worker never filled it) beside results it tags with
// each result's machine.
type SearchResponse struct {
	Results []SearchResult `json:"results"`
	// MachineIDs are the distinct machine ids of Results, in the order
	// they first appear (the machine of the best result first); empty,
	// never null, without results.
	MachineIDs []string `json:"machine_ids"`
}

// NewSearchResponse wraps results as the answer of GET /search.
func NewSearchResponse(results []SearchResult) *SearchResponse {
	out := &SearchResponse{Results: results, MachineIDs: []string{}}
	if out.Results == nil {
		out.Results = []SearchResult{}
	}
	seen := make(map[string]bool, len(results))
	for _, r := range results {
		if !seen[r.MachineID] {
			seen[r.MachineID] = true
			out.MachineIDs = append(out.MachineIDs, r.MachineID)
		}
	}
	return out
}
