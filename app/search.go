package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// Weights of the vector list in hybrid fusion, against 1 for the keyword
// list. A lexical embedder's similarity is a second, noisier measure of
// the words a text shares with the query, so it counts less; its value is
// the middle of the range (0.1–0.35) where hybrid beat both modes on the
// relevance set with the in-memory BM25 keyword index. A semantic model's
// similarity is different evidence and counts as much as the words (no
// relevance set with one has been run here yet).
const (
	LexicalSemanticWeight = 0.25
	SemanticWeight        = 1.0
)

// Search answers GET /search and myco_search (reference §6.4): vector
// similarity, keyword matches or both fused by their scores, over the
// records a grove may read (its own and those other groves share with it),
// filtered inside the searches, then read back from the records so a
// deleted or changed record never shows stale, annotated with release
// state and shaped as Myco's CloudSearchResult.
type Search struct {
	Store    hypha.Store
	Embedder hypha.Embedder
	Index    *SearchIndex
	Logger   *slog.Logger
	// SemanticWeight weighs the vector list in hybrid mode; 0 picks
	// LexicalSemanticWeight or SemanticWeight after the embedder.
	SemanticWeight float64
}

// SharedWith returns the groves that granted grove access to their
// cross_grove records.
func (s *Search) SharedWith(ctx context.Context, grove string) ([]string, error) {
	return s.Store.ListGrantors(ctx, grove)
}

// candidate is one record a search found, before it is read back.
type candidate struct {
	key            hypha.RecordKey
	score          float64
	semantic       float64 // cosine similarity, when the vector search found it
	keyword        float64 // engine relevance, when the keyword search found it
	semOK, wordsOK bool
}

// Search runs q for grove, over its records and those the groves that
// granted it access share.
func (s *Search) Search(ctx context.Context, grove string, q hypha.SearchQuery) ([]hypha.SearchResult, error) {
	if err := checkQuery(&q); err != nil {
		return nil, err
	}
	shared, err := s.SharedWith(ctx, grove)
	if err != nil {
		return nil, err
	}
	return s.search(ctx, grove, shared, q)
}

// Answer is Search shaped as the answer of GET /search: the results and
// the distinct machine ids among them (hypha.SearchResponse).
func (s *Search) Answer(ctx context.Context, grove string, q hypha.SearchQuery) (*hypha.SearchResponse, error) {
	results, err := s.Search(ctx, grove, q)
	if err != nil {
		return nil, err
	}
	return hypha.NewSearchResponse(results), nil
}

// SearchWith is Search for a caller that already read the groves sharing
// with grove (SharedWith), as the MCP server does for every tool call.
func (s *Search) SearchWith(ctx context.Context, grove string, shared []string, q hypha.SearchQuery) ([]hypha.SearchResult, error) {
	if err := checkQuery(&q); err != nil {
		return nil, err
	}
	return s.search(ctx, grove, shared, q)
}

func (s *Search) search(ctx context.Context, grove string, shared []string, q hypha.SearchQuery) ([]hypha.SearchResult, error) {
	f := hypha.VectorFilter{GroveID: grove, SharedFrom: shared, PublicOnly: q.PublicOnly, Tables: q.Types,
		ProjectID: q.ProjectID, MachineID: q.MachineID, Status: q.Status, ObservationType: q.ObservationType,
		SessionID: q.SessionID, SourcePath: q.SourcePath, Name: q.Name, Since: q.Since, Until: q.Until}
	// Over-fetch as the worker does (×4), for the records hydration drops
	// and the release-state filters.
	k := min(hypha.MaxVectorTopK, 4*q.Limit)
	// The two halves run at once, on the two in-memory indexes (the
	// keyword half on the store's full-text index until this server's is
	// built).
	var sem []hypha.VectorHit
	var words []hypha.KeywordHit
	var semErr, wordsErr error
	var wg sync.WaitGroup
	if q.Mode != hypha.SearchKeyword {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem, semErr = s.semantic(ctx, q, k, f)
		}()
	}
	if q.Mode != hypha.SearchSemantic {
		words, wordsErr = s.keyword(ctx, q.Text, k, f)
	}
	wg.Wait()
	if wordsErr != nil {
		return nil, wordsErr
	}
	if semErr != nil {
		if q.Mode == hypha.SearchSemantic || hypha.ErrorCode(semErr) != hypha.EUnavailable {
			return nil, semErr
		}
		// Hybrid while the index is still being built: the keyword half
		// answers alone.
		sem = nil
	}
	w := s.SemanticWeight
	if w <= 0 {
		w = SemanticWeight
		if hypha.DescribeEmbedder(s.Embedder).Lexical {
			w = LexicalSemanticWeight
		}
	}
	cands := fuse(q.Mode, sem, words, w)
	return s.hydrate(ctx, grove, shared, q, cands)
}

// keyword searches the in-memory keyword index, or the store's full-text
// index while the in-memory one is being built.
func (s *Search) keyword(ctx context.Context, text string, k int, f hypha.VectorFilter) ([]hypha.KeywordHit, error) {
	if s.Index != nil {
		if idx := s.Index.Text(); idx != nil {
			return idx.Search(ctx, text, k, f)
		}
	}
	return s.Store.KeywordSearch(ctx, text, k, f)
}

// semantic embeds the query and searches the vector index.
func (s *Search) semantic(ctx context.Context, q hypha.SearchQuery, k int, f hypha.VectorFilter) ([]hypha.VectorHit, error) {
	var idx *search.Index
	if s.Index != nil {
		idx = s.Index.Vectors()
	}
	if idx == nil {
		return nil, &hypha.Error{Code: hypha.EUnavailable, Message: "the vector index is still being built; retry in a moment", RetryAfter: 2}
	}
	vec, err := s.Embedder.Embed(ctx, search.TruncateForEmbedding(q.Text))
	if err != nil {
		// The provider's own text (its error bodies, hosts, model names)
		// stays in the server log; the client learns what to do.
		if s.Logger != nil {
			s.Logger.Warn("embedding a search query failed", "err", err)
		}
		return nil, &hypha.Error{Code: hypha.EUnavailable, Message: "the embedding provider could not embed the query; retry later or search with mode=keyword (details in the server log)",
			Err: err, RetryAfter: 5}
	}
	return idx.Search(ctx, vec, k, f)
}

// fuse merges the two ranked lists. A single mode keeps its own score
// (cosine similarity, or the engine's keyword relevance). Hybrid mode is a
// convex combination of the two scores, each divided by the best score of
// its list (so both lie in [0, 1] and the best match of either list counts
// fully): score = semWeight·cos/cos_top + keyword/keyword_top, a record
// missing from a list getting 0 from it. Scores, unlike ranks, keep how
// much better one match is than the next, which reciprocal rank fusion
// throws away: on the relevance set in testdata, rank fusion fell below
// keyword search alone, score fusion beat both (docs/BENCHMARKS.md).
func fuse(mode string, sem []hypha.VectorHit, words []hypha.KeywordHit, semWeight float64) []*candidate {
	byKey := map[string]*candidate{}
	var out []*candidate
	get := func(k hypha.RecordKey) *candidate {
		ks := recordKeyString(k)
		c := byKey[ks]
		if c == nil {
			c = &candidate{key: k}
			byKey[ks] = c
			out = append(out, c)
		}
		return c
	}
	// Both lists come best first.
	var semTop, wordsTop float64
	if len(sem) > 0 {
		semTop = float64(sem[0].Score)
	}
	if len(words) > 0 {
		wordsTop = words[0].Score
	}
	for _, h := range sem {
		t := hypha.LookupTable(h.Meta.Table)
		if t == nil {
			continue
		}
		c := get(hypha.RecordKey{Table: t, GroveID: h.Meta.GroveID, MachineID: h.Meta.MachineID, ID: h.Meta.ID})
		c.semantic, c.semOK = float64(h.Score), true
		switch {
		case mode != hypha.SearchHybrid:
			c.score = c.semantic
		case semTop > 0 && c.semantic > 0:
			c.score += semWeight * c.semantic / semTop
		}
	}
	for _, h := range words {
		c := get(h.Key)
		c.keyword, c.wordsOK = h.Score, true
		switch {
		case mode != hypha.SearchHybrid:
			c.score = c.keyword
		case wordsTop > 0 && c.keyword > 0:
			c.score += c.keyword / wordsTop
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out
}

// hydrate reads the candidates' records back, drops what is gone, no
// longer searchable, no longer visible or no longer matching (the index
// is updated asynchronously; the records are the truth), annotates
// release state and shapes the results. It reads the best candidates
// first, a window a little larger than the page, and reads further only
// when too many of them were dropped.
func (s *Search) hydrate(ctx context.Context, grove string, shared []string, q hypha.SearchQuery, cands []*candidate) ([]hypha.SearchResult, error) {
	results := []hypha.SearchResult{}
	window := q.Limit + max(q.Limit/2, 5)
	for lo := 0; lo < len(cands) && len(results) < q.Limit; lo += window {
		part := cands[lo:min(lo+window, len(cands))]
		keys := make([]hypha.RecordKey, len(part))
		for i, c := range part {
			keys[i] = c.key
		}
		// The records and their release states are read at once: both
		// need only the keys.
		var states map[string]map[string]any
		var statesErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			states, statesErr = s.releaseStates(ctx, keys)
		}()
		recs, err := s.Store.FindRecords(ctx, keys)
		<-done
		if err == nil {
			err = statesErr
		}
		if err != nil {
			return nil, err
		}
		byKey := make(map[string]*hypha.Record, len(recs))
		for _, r := range recs {
			byKey[recordKeyString(r.Key())] = r
		}
		var hits []*candidate
		var hitRecs []*hypha.Record
		var hitDocs []*hypha.SearchDoc
		for _, c := range part {
			r := byKey[recordKeyString(c.key)]
			if r == nil || !r.Embeddable() {
				continue
			}
			doc := hypha.SearchDocMeta(r) // the text is not needed to filter
			if !visible(doc, grove, shared, q.PublicOnly) || !matches(doc, q) {
				continue
			}
			hits, hitRecs, hitDocs = append(hits, c), append(hitRecs, r), append(hitDocs, doc)
		}
		for i, c := range hits {
			rs := states[recordKeyString(hitRecs[i].Key())]
			if q.ReleaseState != "" && (rs == nil || str(rs, "state") != q.ReleaseState) {
				continue
			}
			if q.ReleaseConfidence != "" && (rs == nil || str(rs, "confidence") != q.ReleaseConfidence) {
				continue
			}
			results = append(results, resultOf(hitRecs[i], hitDocs[i], c, grove, rs))
			if len(results) == q.Limit {
				break
			}
		}
	}
	return results, nil
}

// visible reports whether grove may read the document's record now.
func visible(d *hypha.SearchDoc, grove string, shared []string, publicOnly bool) bool {
	if publicOnly && d.SharingPolicy != hypha.SharingPublic {
		return false
	}
	return d.Key.GroveID == grove || d.SharingPolicy == hypha.SharingCrossGrove && slices.Contains(shared, d.Key.GroveID)
}

// matches applies the query's filters to the record's current metadata.
func matches(d *hypha.SearchDoc, q hypha.SearchQuery) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, d.Key.Table.Name) {
		return false
	}
	for _, eq := range [][2]string{{q.ProjectID, d.ProjectID}, {q.MachineID, d.Key.MachineID}, {q.Status, d.Status},
		{q.ObservationType, d.ObservationType}, {q.SessionID, d.SessionID}, {q.SourcePath, d.SourcePath}, {q.Name, d.Name}} {
		if eq[0] != "" && eq[0] != eq[1] {
			return false
		}
	}
	if (q.Since != 0 || q.Until != 0) && d.CreatedAt == 0 {
		return false
	}
	return (q.Since == 0 || d.CreatedAt >= q.Since) && (q.Until == 0 || d.CreatedAt <= q.Until)
}

// releaseStateTable is where the daemon syncs the release state of
// knowledge (reference §6.4 step 5).
var releaseStateTable = hypha.LookupTable("knowledge_release_state")

// releaseStates reads the release-state rows of records, by key, in their
// groves: one query per grove, the groves' at once.
func (s *Search) releaseStates(ctx context.Context, keys []hypha.RecordKey) (map[string]map[string]any, error) {
	groups := map[string][]hypha.RecordKey{}
	var groves []string
	for _, k := range keys {
		if groups[k.GroveID] == nil {
			groves = append(groves, k.GroveID)
		}
		groups[k.GroveID] = append(groups[k.GroveID], k)
	}
	found := make([]map[string]map[string]any, len(groves))
	errs := make([]error, len(groves))
	var wg sync.WaitGroup
	for i, g := range groves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i], errs[i] = s.groveReleaseStates(ctx, g, groups[g])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("read release states: %w", err)
	}
	out := map[string]map[string]any{}
	for _, m := range found {
		maps.Copy(out, m)
	}
	return out, nil
}

// groveReleaseStates reads the release states of keys of one grove.
func (s *Search) groveReleaseStates(ctx context.Context, grove string, keys []hypha.RecordKey) (map[string]map[string]any, error) {
	var tables, ids []any
	want := map[string]hypha.RecordKey{}
	for _, k := range keys {
		if !slices.Contains(tables, any(k.Table.Name)) {
			tables = append(tables, k.Table.Name)
		}
		if !slices.Contains(ids, any(k.ID)) {
			ids = append(ids, k.ID)
		}
		want[k.Table.Name+"\x00"+k.ID+"\x00"+k.MachineID] = k
	}
	rows, err := s.Store.ListRecords(ctx, hypha.RecordFilter{Table: releaseStateTable, GroveID: grove,
		In: []hypha.ColumnIn{{Column: "namespace", Values: tables}, {Column: "record_id", Values: ids}},
		// Newest check first, so when more rows match than the limit the
		// oldest are the ones left out, and the first row of a record is
		// its latest check, the one that wins.
		OrderBy: []hypha.OrderBy{{Column: "checked_at", Desc: true}, {Column: "id", Desc: true}}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, row := range rows {
		ns, _ := row.Value("namespace").(string)
		rid, _ := row.Value("record_id").(string)
		if k, ok := want[ns+"\x00"+rid+"\x00"+row.MachineID]; ok {
			if ks := recordKeyString(k); out[ks] == nil {
				out[ks] = RecordJSON(row)
			}
		}
	}
	return out, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// resultOf shapes one CloudSearchResult (reference §6.5).
func resultOf(r *hypha.Record, d *hypha.SearchDoc, c *candidate, grove string, rs map[string]any) hypha.SearchResult {
	data := RecordJSON(r)
	meta := map[string]any{"table": r.Table.Name, "id": r.ID, "machine_id": r.MachineID}
	for k, v := range map[string]string{"project_id": d.ProjectID, "status": d.Status, "observation_type": d.ObservationType,
		"session_id": d.SessionID, "source_path": d.SourcePath, "name": d.Name} {
		if v != "" {
			meta[k] = v
		}
	}
	if r.Table.Name == "sessions" {
		if pr, _ := r.Value("project_root").(string); pr != "" {
			meta["project_root"] = pr
		}
	}
	if d.CreatedAt != 0 {
		meta["created_at"] = d.CreatedAt
	}
	if r.GroveID != grove {
		meta["grove_id"] = r.GroveID // shared from another grove
	}
	if c.semOK {
		meta["semantic_score"] = c.semantic
	}
	if c.wordsOK {
		meta["keyword_score"] = c.keyword
	}
	if rs != nil {
		ann := map[string]any{"state": rs["state"], "confidence": rs["confidence"], "basis_kind": rs["basis_kind"],
			"basis_ref": rs["basis_ref"], "checked_at": rs["checked_at"], "reason": rs["reason"]}
		data["release_state"] = ann
		meta["release_state"], meta["release_confidence"], meta["release_checked_at"] = rs["state"], rs["confidence"], rs["checked_at"]
		if bk, _ := rs["basis_kind"].(string); bk != "" {
			meta["release_basis_kind"] = bk
		}
	}
	typ := ResultType(r.Table.Name)
	return hypha.SearchResult{ID: r.ID, MachineID: r.MachineID, Type: typ, Title: resultTitle(data, typ, r.ID),
		Preview: resultPreview(data), Score: c.score, Data: data, Metadata: meta, Retrieve: retrieveHint(typ, r, data, grove)}
}

// ResultType normalises a table name to Myco's result type.
func ResultType(table string) string {
	switch table {
	case "plans":
		return "plan"
	case "sessions":
		return "session"
	case "spores":
		return "spore"
	case "skill_records", "skills":
		return "skill"
	case "agent_runs", "runs":
		return "agent_run"
	case "canopy_entries", "canopy_file":
		return "canopy_entry"
	}
	return table
}

// resultTitle is the first non-blank of title, display_name and name; a
// spore's "<observation_type>:<id>" when it has a type; else the id.
func resultTitle(data map[string]any, typ, id string) string {
	for _, k := range []string{"title", "display_name", "name"} {
		if s, _ := data[k].(string); strings.TrimSpace(s) != "" {
			return s
		}
	}
	if ot, _ := data["observation_type"].(string); typ == "spore" && ot != "" {
		return ot + ":" + id
	}
	return id
}

// resultPreview is the first present of summary, description and content
// (null falls through, an empty string does not), cut to 497 characters
// and "..." past 500.
func resultPreview(data map[string]any) string {
	for _, k := range []string{"summary", "description", "content"} {
		v, ok := data[k]
		if !ok || v == nil {
			continue
		}
		s, _ := v.(string)
		if utf8.RuneCountInString(s) > 500 {
			return string([]rune(s)[:497]) + "..."
		}
		return s
	}
	return ""
}

// retrieveHint names the MCP call that fetches the result in full. A
// record shared from another grove names its grove too (the get tools'
// grove_id), so the hint resolves to it even when the caller's grove has a
// record with the same id and machine.
func retrieveHint(typ string, r *hypha.Record, data map[string]any, grove string) *hypha.RetrieveHint {
	tool := map[string]string{"plan": "myco_plans", "session": "myco_sessions", "spore": "myco_spores", "skill": "myco_skills"}[typ]
	switch {
	case tool != "":
		in := map[string]any{"op": "get", "id": r.ID, "machine_id": r.MachineID}
		if r.GroveID != grove {
			in["grove_id"] = r.GroveID
		}
		return &hypha.RetrieveHint{Tool: tool, Input: in}
	case typ == "agent_run":
		return &hypha.RetrieveHint{Tool: "myco_agent", Input: map[string]any{"op": "run", "id": r.ID}}
	case typ == "canopy_entry":
		in := map[string]any{"op": "canopy_entry", "id": r.ID}
		if p, _ := data["project_id"].(string); p != "" {
			in["project_id"] = p
		}
		if p, _ := data["path"].(string); p != "" {
			in["path"] = p
		}
		return &hypha.RetrieveHint{Tool: "myco_cortex", Input: in}
	}
	return nil
}
