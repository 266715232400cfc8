package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/search"
)

// The labelled relevance set of testdata/relevance (see its README.md):
// a corpus of Myco records and queries with graded judgements.
const relevanceDir = "testdata/relevance"

// relevanceK is the cut-off of nDCG and the page size of every query.
const relevanceK = 10

// What the test asserts on the mean nDCG@10 of the modes: every mode
// stays above relevanceFloor, and hybrid is at least as good as the better
// of keyword and semantic (the criterion). The figures are in
// testdata/relevance/README.md and docs/BENCHMARKS.md.
const relevanceFloor = 0.3

// relevanceRecord is one line of corpus.jsonl.
type relevanceRecord struct {
	Table string         `json:"table"`
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
}

// relevanceQuery is one entry of queries.json; documents not in
// Judgements have grade 0.
type relevanceQuery struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	Text       string         `json:"text"`
	Note       string         `json:"note"`
	Judgements map[string]int `json:"judgements"`
}

func loadRelevanceSet(t *testing.T) ([]relevanceRecord, []relevanceQuery) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(relevanceDir, "corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus []relevanceRecord
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r relevanceRecord
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("corpus.jsonl line %d: %v", n, err)
		}
		if r.Table == "" || r.ID == "" || r.Data == nil || ids[r.ID] {
			t.Fatalf("corpus.jsonl line %d: missing table, id or data, or duplicate id %q", n, r.ID)
		}
		ids[r.ID] = true
		corpus = append(corpus, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(relevanceDir, "queries.json"))
	if err != nil {
		t.Fatal(err)
	}
	var queries []relevanceQuery
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&queries); err != nil {
		t.Fatalf("queries.json: %v", err)
	}
	for _, q := range queries {
		if q.ID == "" || strings.TrimSpace(q.Text) == "" || len(q.Judgements) == 0 {
			t.Fatalf("query %q: needs an id, a text and at least one judgement", q.ID)
		}
		for id, g := range q.Judgements {
			if !ids[id] || g < 1 || g > 3 {
				t.Fatalf("query %s: judgement %s=%d names no corpus record or is not a grade 1-3", q.ID, id, g)
			}
		}
	}
	return corpus, queries
}

// dcg is the discounted cumulative gain of grades in rank order, over the
// first k: gain 2^grade − 1, discount log2(rank + 1).
func dcg(grades []int, k int) float64 {
	var s float64
	for i, g := range grades[:min(k, len(grades))] {
		s += (math.Exp2(float64(g)) - 1) / math.Log2(float64(i+2))
	}
	return s
}

// ndcg is the DCG@k of the ranked ids under the judgements, divided by the
// DCG@k of the ideal ranking of the judgements; ids without a judgement
// have grade 0.
func ndcg(ranked []string, judgements map[string]int, k int) float64 {
	got := make([]int, len(ranked))
	for i, id := range ranked {
		got[i] = judgements[id]
	}
	ideal := make([]int, 0, len(judgements))
	for _, g := range judgements {
		ideal = append(ideal, g)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ideal)))
	best := dcg(ideal, k)
	if best == 0 {
		return 0
	}
	return dcg(got, k) / best
}

func TestNDCG(t *testing.T) {
	j := map[string]int{"a": 3, "b": 2, "c": 1}
	for _, c := range []struct {
		ranked []string
		want   float64
	}{
		{[]string{"a", "b", "c"}, 1},
		{[]string{"a", "b", "c", "x", "y"}, 1},
		{nil, 0},
		{[]string{"x", "y"}, 0},
		// (1 + 3/log2(3) + 7/2) / (7 + 3/log2(3) + 1/2)
		{[]string{"c", "b", "a"}, (1 + 3/math.Log2(3) + 7.0/2) / (7 + 3/math.Log2(3) + 1.0/2)},
		// Only the first k count: a at rank 11 adds nothing.
		{[]string{"x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "a"}, 0},
	} {
		if got := ndcg(c.ranked, j, 10); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("ndcg(%v) = %v, want %v", c.ranked, got, c.want)
		}
	}
}

// TestRelevance loads the labelled set into a real store through ingest,
// the consumer and the vector index, runs every query in each mode and
// compares the modes' mean nDCG@10. Run with -v for the table:
//
//	go test ./app -run TestRelevance -v
func TestRelevance(t *testing.T) {
	corpus, queries := loadRelevanceSet(t)
	modes := []string{hypha.SearchKeyword, hypha.SearchSemantic, hypha.SearchHybrid}
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := loadRelevanceCorpus(t, engine, corpus)
			inactive := map[string]bool{}
			for _, r := range corpus {
				if st, _ := r.Data["status"].(string); r.Table == "spores" && st != "active" {
					inactive[r.ID] = true
				}
			}
			means := map[string]float64{}
			kindSums := map[string]map[string]float64{}
			kindCount := map[string]int{}
			var lines []string
			for _, q := range queries {
				kindCount[q.Kind]++
				line := fmt.Sprintf("%-4s %-13s %-58q", q.ID, q.Kind, q.Text)
				for _, mode := range modes {
					res, err := s.Search(ctx, "g1", hypha.SearchQuery{Text: q.Text, Mode: mode, Limit: relevanceK})
					if err != nil {
						t.Fatalf("%s %s: %v", q.ID, mode, err)
					}
					ranked := make([]string, len(res))
					for i, r := range res {
						if inactive[r.ID] {
							t.Errorf("%s %s: inactive spore %s in the results", q.ID, mode, r.ID)
						}
						ranked[i] = r.ID
					}
					n := ndcg(ranked, q.Judgements, relevanceK)
					means[mode] += n / float64(len(queries))
					if kindSums[mode] == nil {
						kindSums[mode] = map[string]float64{}
					}
					kindSums[mode][q.Kind] += n
					line += fmt.Sprintf(" %7.3f", n)
				}
				lines = append(lines, line)
			}
			t.Logf("nDCG@%d on %s, %d records, %d queries", relevanceK, engine, len(corpus), len(queries))
			t.Logf("%-4s %-13s %-58s %7s %7s %7s", "id", "kind", "query", "keyword", "semantic", "hybrid")
			for _, l := range lines {
				t.Log(l)
			}
			kinds := make([]string, 0, len(kindCount))
			for k := range kindCount {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			for _, k := range kinds {
				l := fmt.Sprintf("mean %-13s (%2d queries) %-41s", k, kindCount[k], "")
				for _, mode := range modes {
					l += fmt.Sprintf(" %7.3f", kindSums[mode][k]/float64(kindCount[k]))
				}
				t.Log(l)
			}
			t.Logf("MEAN %-13s (%2d queries) %-41s %7.3f %7.3f %7.3f", "all", len(queries), "",
				means[hypha.SearchKeyword], means[hypha.SearchSemantic], means[hypha.SearchHybrid])
			for _, mode := range modes {
				if means[mode] < relevanceFloor {
					t.Errorf("%s: mean nDCG@%d of %s mode is %.3f, below the floor %.2f", engine, relevanceK, mode, means[mode], relevanceFloor)
				}
			}
			// The store's own full-text index (FTS5 or tsvector), which
			// answers keyword queries while a server builds its in-memory
			// keyword index, holds up too.
			storeOnly := &app.Search{Store: s.Store, Embedder: s.Embedder}
			var storeMean float64
			for _, q := range queries {
				res, err := storeOnly.Search(ctx, "g1", hypha.SearchQuery{Text: q.Text, Mode: hypha.SearchKeyword, Limit: relevanceK})
				if err != nil {
					t.Fatalf("%s on the store's index: %v", q.ID, err)
				}
				ranked := make([]string, len(res))
				for i, r := range res {
					ranked[i] = r.ID
				}
				storeMean += ndcg(ranked, q.Judgements, relevanceK) / float64(len(queries))
			}
			t.Logf("MEAN keyword on the store's full-text index: %.3f", storeMean)
			if storeMean < relevanceFloor {
				t.Errorf("%s: keyword nDCG@%d on the store's full-text index is %.3f, below the floor %.2f", engine, relevanceK, storeMean, relevanceFloor)
			}
			// The criterion: hybrid at least as good as either
			// mode alone, on the mean.
			hybrid, keyword, semantic := means[hypha.SearchHybrid], means[hypha.SearchKeyword], means[hypha.SearchSemantic]
			if best := max(keyword, semantic); hybrid < best {
				t.Errorf("%s: hybrid mean nDCG@%d %.3f is below the better single mode's %.3f", engine, relevanceK, hybrid, best)
			}
		})
	}
}

// loadRelevanceCorpus ingests the corpus into grove g1 of a fresh store of
// engine, runs the consumer until the queue is empty, builds the vector
// index and returns the search over them.
func loadRelevanceCorpus(t *testing.T, engine string, corpus []relevanceRecord) *app.Search {
	t.Helper()
	ctx := context.Background()
	db := testdb.MustOpen(t, engine)
	emb := search.NewHashEmbedder(0)
	jobs := app.NewJobs(db, emb, nil, app.JobsOptions{})
	sync := &app.Sync{Store: db, Jobs: jobs}
	var batch []json.RawMessage
	flush := func() {
		if len(batch) == 0 {
			return
		}
		res, err := sync.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: batch})
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if res.Accepted != len(batch) || len(res.Rejected) != 0 {
			t.Fatalf("Enqueue: %d of %d accepted, rejected %+v", res.Accepted, len(batch), res.Rejected)
		}
		batch = batch[:0]
	}
	embeddable := 0
	for _, r := range corpus {
		data := map[string]any{"project_id": projA}
		for k, v := range r.Data {
			data[k] = v
		}
		if st, _ := data["status"].(string); r.Table != "spores" || st == "active" {
			embeddable++
		}
		b, err := json.Marshal(map[string]any{"table": r.Table, "operation": "upsert", "id": r.ID, "machine_id": "m1", "data": data})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, b)
		if len(batch) == 100 { // the daemon's batch size
			flush()
		}
	}
	flush()
	for {
		n, err := jobs.RunOnce(ctx)
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			break
		}
	}
	vectors := &app.SearchIndex{Store: db, Dims: emb.Dims()}
	if err := vectors.CatchUp(ctx); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if n := vectors.Vectors().Len(); n != embeddable {
		t.Fatalf("the vector index holds %d vectors, want %d (every embeddable record)", n, embeddable)
	}
	return &app.Search{Store: db, Embedder: emb, Index: vectors}
}
