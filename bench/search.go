package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/search"
	"github.com/hyphateam/hypha/wire"
)

// The groves of the search benchmark: SearchGrove holds 90 % of the
// records and is the one searched; SharedGrove (5 %) granted it access to
// its cross_grove records (a quarter of them); OtherGrove (5 %, a quarter
// cross_grove too) granted nothing, so none of its records may appear.
const (
	SearchGrove = "bench-main"
	SharedGrove = "bench-shared"
	OtherGrove  = "bench-other"
)

// SearchModes are the modes the benchmark measures, in order.
var SearchModes = []string{hypha.SearchSemantic, hypha.SearchKeyword, hypha.SearchHybrid}

// SearchOptions configures the end-to-end search benchmark.
type SearchOptions struct {
	Records    int    // records populated (default 100,000)
	Batch      int    // records per population transaction (default 5,000)
	Vocabulary int    // made-up content words of the generated texts (default 4,000)
	Queries    int    // query vectors of the recall measurement (default 200)
	Requests   int    // timed searches per mode, over HTTP and in process each (default 500)
	Warmup     int    // untimed searches per mode before each timing (default 20)
	Seed       uint64 // of texts, groves and queries (default 1)
	// CPUProfile, when set, receives a CPU profile of the latency phase
	// (HTTP and in-process searches) only.
	CPUProfile io.Writer
	// Progress, when set, receives a line as each phase starts.
	Progress io.Writer
}

// Latency summarises timed searches.
type Latency struct {
	N                   int
	P50, P95, P99, Mean time.Duration
}

// ModeResult holds one mode's figures.
type ModeResult struct {
	Mode        string
	HTTP        Latency // GET /search over loopback keep-alive, until the body is read
	InProcess   Latency // app.Search.Search, no HTTP
	MeanResults float64 // results per HTTP search
	Empty       int     // HTTP searches with no result
}

// SearchResult holds the measured figures.
type SearchResult struct {
	Engine        string
	Records       int
	PerGrove      map[string]int
	Visible       int // vectors a search in SearchGrove may see (own + shared)
	Dims          int
	Populate      time.Duration // generate, embed and write (not a figure of the issue)
	PrepareNote   string        // what ran after population (statistics)
	Build         time.Duration // SearchIndex.CatchUp from the store: both in-memory indexes
	BuildVectors  int
	BuildDocs     int   // documents in the keyword index
	RSSBefore     int64 // RssAnon before the build, after a GC, bytes
	RSSAfter      int64 // RssAnon after the build, after a GC, bytes
	HeapDelta     int64 // HeapInuse growth over the build, after GC
	IndexBytes    int64 // the vector index's own estimate (search.IndexStats.Bytes)
	TextBytes     int64 // the keyword index's own estimate (search.TextStats.Bytes)
	RecallQueries int
	Recall        float64 // mean recall@10 against a float64 brute-force scan
	RecallMin     float64
	Violations    int // hits the grove may not see (must be 0)
	Modes         []ModeResult
}

// Search measures search end to end on db, a migrated, empty scratch
// store: it populates it with generated records, their vectors and search
// documents; builds the in-memory vector index from the store as a server
// does at start (time and memory); checks its recall@10 against a
// brute-force scan of the stored vectors; then serves GET /search from the
// real API server on a loopback port and times sequential searches in each
// mode over HTTP and in process.
func Search(ctx context.Context, db *sqlstore.DB, opts SearchOptions) (*SearchResult, error) {
	if opts.Records <= 0 {
		opts.Records = 100_000
	}
	if opts.Batch <= 0 {
		opts.Batch = 5000
	}
	if opts.Vocabulary <= 0 {
		opts.Vocabulary = 4000
	}
	if opts.Queries <= 0 {
		opts.Queries = 200
	}
	if opts.Requests <= 0 {
		opts.Requests = 500
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 20
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	emb := search.NewHashEmbedder(0)
	gen := newCorpus(opts.Seed, opts.Vocabulary)
	res := &SearchResult{Engine: db.Engine(), Records: opts.Records, Dims: emb.Dims(), PerGrove: map[string]int{}}

	progress("populating %d records…", opts.Records)
	start := time.Now()
	if err := populate(ctx, db, emb, gen, opts, res); err != nil {
		return nil, fmt.Errorf("populate: %w", err)
	}
	if err := prepare(ctx, db, res); err != nil {
		return nil, err
	}
	res.Populate = time.Since(start)

	progress("building the search indexes from the store…")
	vectors := &app.SearchIndex{Store: db, Dims: emb.Dims()}
	rssBefore, heapBefore := settledMemory()
	start = time.Now()
	if err := vectors.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("build the search indexes: %w", err)
	}
	res.Build = time.Since(start)
	idx := vectors.Vectors()
	rssAfter, heapAfter := settledMemory()
	res.RSSBefore, res.RSSAfter, res.HeapDelta = rssBefore, rssAfter, heapAfter-heapBefore
	res.BuildVectors = idx.Len()
	res.IndexBytes = idx.Stats().Bytes
	res.BuildDocs = vectors.Text().Len()
	res.TextBytes = vectors.Text().Stats().Bytes

	progress("recall@10 of %d queries against a brute-force scan…", opts.Queries)
	if err := recall(ctx, db, emb, idx, gen, opts, res); err != nil {
		return nil, fmt.Errorf("recall: %w", err)
	}

	progress("timing %d searches per mode over HTTP and in process…", opts.Requests)
	if err := latency(ctx, db, emb, vectors, gen, opts, res); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	return res, nil
}

// corpus generates texts over a Zipf-distributed vocabulary whose most
// frequent ranks are English function words, as in real text (about 40 %
// of the words of a text), followed by pronounceable made-up content
// words. Without them the most frequent content words would occur in
// nearly every text, which real text does not do.
type corpus struct {
	words   []string
	content int // words[content:] are not stop words
	seed    uint64
	s       float64
}

const zipfExponent = 1.07

// functionWords are frequent English stop words, most frequent first.
var functionWords = strings.Fields(`the of and to a in is that for it as was with be by on not he i this are or his
	from at which but have an had they you were their all we her has there been if more when will would who so no
	she other its into them than can only out some these two may then do any about what up him such over most my
	me should our after your where both those through each same very just because while again few own off once here
	why how down further against between during before under above below until nor`)

func newCorpus(seed uint64, n int) *corpus {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const consonants, vowels = "bdfgklmnprstvz", "aeiou"
	seen := map[string]bool{}
	c := &corpus{seed: seed, s: zipfExponent}
	for _, w := range functionWords {
		if len(hypha.KeywordTerms(w)) == 0 && !seen[w] {
			seen[w] = true
			c.words = append(c.words, w)
		}
	}
	c.content = len(c.words)
	for len(c.words) < c.content+n {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteByte(consonants[rng.IntN(len(consonants))])
			b.WriteByte(vowels[rng.IntN(len(vowels))])
		}
		if rng.IntN(3) == 0 {
			b.WriteByte(consonants[rng.IntN(len(consonants))])
		}
		w := b.String()
		if seen[w] || len(hypha.KeywordTerms(w)) != 1 {
			continue
		}
		seen[w] = true
		c.words = append(c.words, w)
	}
	return c
}

// zipf returns a sampler of word ranks using rng.
func (c *corpus) zipf(rng *rand.Rand) *rand.Zipf {
	return rand.NewZipf(rng, c.s, 1, uint64(len(c.words)-1))
}

// text returns 20–80 words in sentences of 6–14.
func (c *corpus) text(rng *rand.Rand, z *rand.Zipf) string {
	n := 20 + rng.IntN(61)
	var b strings.Builder
	for n > 0 {
		m := min(n, 6+rng.IntN(9))
		n -= m
		for j := range m {
			w := c.words[z.Uint64()]
			if j == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteString(". ")
	}
	return strings.TrimSpace(b.String())
}

// query returns 2–5 content words drawn as the texts draw them (a
// searcher types words of the texts, rarely function words).
func (c *corpus) query(rng *rand.Rand, z *rand.Zipf) string {
	ws := make([]string, 2+rng.IntN(4))
	for i := range ws {
		r := z.Uint64()
		for r < uint64(c.content) {
			r = z.Uint64()
		}
		ws[i] = c.words[r]
	}
	return strings.Join(ws, " ")
}

// queries returns n query texts of a stream of its own.
func (c *corpus) queries(stream uint64, n int) []string {
	rng := rand.New(rand.NewPCG(c.seed, stream))
	z := c.zipf(rng)
	out := make([]string, n)
	for i := range out {
		out[i] = c.query(rng, z)
	}
	return out
}

func projectID(grove string, n int) string {
	h := fnv.New128a()
	fmt.Fprintf(h, "%s/%d", grove, n)
	return "proj_" + hex.EncodeToString(h.Sum(nil))
}

func groveOf(i int) string {
	switch i % 20 {
	case 18:
		return SharedGrove
	case 19:
		return OtherGrove
	}
	return SearchGrove
}

// record builds record i: a spore (70 %), session (15 %) or plan (15 %).
func (c *corpus) record(rng *rand.Rand, z *rand.Zipf, i int) (*hypha.Record, error) {
	grove := groveOf(i)
	text := c.text(rng, z)
	sum := sha256.Sum256([]byte(text))
	created := int64(1_700_000_000 + 60*i)
	data := map[string]any{"project_id": projectID(grove, rng.IntN(8)), "content_hash": hex.EncodeToString(sum[:]), "created_at": created}
	if grove != SearchGrove && rng.IntN(4) == 0 {
		data["sharing_policy"] = hypha.SharingCrossGrove
	}
	session := fmt.Sprintf("session-%06d", rng.IntN(max(1, i/10+1)))
	title := strings.Join(strings.Fields(text)[:3+rng.IntN(4)], " ")
	machine := fmt.Sprintf("machine-%d", i%4)
	var table, id string
	switch p := rng.IntN(100); {
	case p < 70:
		table, id = "spores", fmt.Sprintf("spore-%07d", i)
		data["content"], data["status"], data["agent_id"], data["session_id"] = text, "active", "claude-code", session
		data["observation_type"] = []string{"discovery", "decision", "gotcha", "bug_fix", "trade_off"}[rng.IntN(5)]
		data["importance"] = int64(1 + rng.IntN(10))
	case p < 85:
		table, id = "sessions", fmt.Sprintf("session-%07d", i)
		data["summary"], data["title"], data["status"], data["agent"] = text, title, "completed", "claude-code"
		data["started_at"], data["ended_at"], data["project_root"] = created, created+1800, "/home/dev/project"
	default:
		table, id = "plans", fmt.Sprintf("plan-%07d", i)
		data["content"], data["title"], data["status"], data["session_id"] = text, title, "active", session
		data["source_path"] = fmt.Sprintf("docs/plans/plan-%d.md", i)
	}
	return hypha.NewRecord(hypha.LookupTable(table), grove, machine, id, data)
}

// populate writes the records, their vectors and their search documents
// in transactions of opts.Batch records, embedding on every core.
func populate(ctx context.Context, db *sqlstore.DB, emb *search.HashEmbedder, gen *corpus, opts SearchOptions, res *SearchResult) error {
	for _, g := range []string{SearchGrove, SharedGrove, OtherGrove} {
		if _, err := db.EnsureGrove(ctx, &hypha.Grove{ID: g, Name: g}); err != nil {
			return err
		}
		projects := make([]string, 8)
		for j := range projects {
			projects[j] = projectID(g, j)
		}
		if _, err := db.ClaimProjects(ctx, g, projects); err != nil {
			return err
		}
	}
	if err := db.PutGrant(ctx, SharedGrove, SearchGrove); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(gen.seed, 1))
	z := gen.zipf(rng)
	workers := runtime.GOMAXPROCS(0)
	now := time.Now().Unix()
	for lo := 0; lo < opts.Records; lo += opts.Batch {
		hi := min(lo+opts.Batch, opts.Records)
		recs := make([]*hypha.Record, hi-lo)
		for i := range recs {
			r, err := gen.record(rng, z, lo+i)
			if err != nil {
				return err
			}
			recs[i] = r
			res.PerGrove[r.GroveID]++
		}
		embs := make([]*hypha.Embedding, len(recs))
		docs := make([]*hypha.SearchDoc, len(recs))
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(recs); i += workers {
					r := recs[i]
					text := search.TruncateForEmbedding(r.Text())
					v, err := emb.Embed(ctx, text)
					if err != nil {
						errs[w] = err
						return
					}
					sum := sha256.Sum256([]byte(text))
					embs[i] = &hypha.Embedding{Key: r.Key(), Model: emb.Model(), Vector: v, ContentHash: hex.EncodeToString(sum[:]), UpdatedAt: now}
					docs[i] = hypha.NewSearchDoc(r)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		err := db.InTx(ctx, func(tx hypha.Queries) error {
			if _, err := tx.UpsertRecords(ctx, recs); err != nil {
				return err
			}
			if err := tx.PutEmbeddings(ctx, embs); err != nil {
				return err
			}
			return tx.PutSearchDocs(ctx, docs)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// prepare brings the database to the state a server reaches moments after
// a bulk load. On PostgreSQL that is VACUUM ANALYZE of the tables search
// reads: the server's consumer runs ANALYZE after a backlog, and
// autovacuum vacuums a freshly loaded table within about a minute (which
// also flushes the GIN index's pending list); doing both now keeps
// autovacuum from running in the middle of the timings. SQLite needs
// nothing (Hypha never runs ANALYZE there).
func prepare(ctx context.Context, db *sqlstore.DB, res *SearchResult) error {
	if db.Engine() != "postgres" {
		res.PrepareNote = "none"
		return nil
	}
	tables := []string{"search_docs", "embeddings", "spores", "sessions", "plans", "knowledge_release_state", "grove_grants"}
	if _, err := db.WriteDB().ExecContext(ctx, "VACUUM (ANALYZE) "+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	res.PrepareNote = "VACUUM (ANALYZE) of the tables search reads"
	return nil
}

// settledMemory collects garbage, returns freed memory to the system and
// reads the resident set size and the heap in use.
func settledMemory() (rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return residentBytes(), int64(ms.HeapInuse)
}

// residentBytes reads the process's anonymous resident memory (RssAnon
// in /proc/self/status; 0 where there is none): the heap and stacks,
// without the pages of the SQLite file that reading maps in (file-backed,
// shared with the page cache and dropped first under memory pressure).
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// visibleFilter is the vector filter of an unfiltered search in
// SearchGrove, as app.Search builds it.
func visibleFilter() hypha.VectorFilter {
	return hypha.VectorFilter{GroveID: SearchGrove, SharedFrom: []string{SharedGrove}}
}

type exactRow struct {
	key  string
	vec  []float32
	norm float64
}

func vectorKey(m hypha.VectorMeta) string {
	return m.GroveID + "\x00" + m.Table + "\x00" + m.MachineID + "\x00" + m.ID
}

// recall compares the index's top 10 with a float64 brute-force scan of
// the vectors read back from the store, for query vectors of generated
// queries. A hit counts when it is in the exact top 10, or scores as high
// as the exact 10th (a tie). Hits the grove may not see are counted apart.
func recall(ctx context.Context, db *sqlstore.DB, emb *search.HashEmbedder, idx *search.Index, gen *corpus, opts SearchOptions, res *SearchResult) error {
	const k = 10
	var rows []exactRow
	byKey := map[string]int{}
	forbidden := map[string]bool{}
	seq, _, err := db.SearchSeq(ctx)
	if err != nil {
		return err
	}
	err = db.ScanSearchDocs(ctx, -1, seq, emb.Dims(), func(d *hypha.SearchDoc, v []float32) error {
		if v == nil {
			return nil
		}
		m := d.Meta()
		key := vectorKey(m)
		if m.GroveID != SearchGrove && !(m.GroveID == SharedGrove && m.Shared) {
			forbidden[key] = true
			return nil
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		byKey[key] = len(rows)
		rows = append(rows, exactRow{key: key, vec: v, norm: math.Sqrt(n)})
		return nil
	})
	if err != nil {
		return err
	}
	res.Visible = len(rows)
	texts := gen.queries(2, opts.Queries)
	type outcome struct {
		recall     float64
		violations int
		err        error
	}
	outs := make([]outcome, len(texts))
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scores := make([]float64, len(rows))
			for qi := range work {
				q, err := emb.Embed(ctx, texts[qi])
				if err != nil {
					outs[qi].err = err
					continue
				}
				hits, err := idx.Search(ctx, q, k, visibleFilter())
				if err != nil {
					outs[qi].err = err
					continue
				}
				var qn float64
				for _, x := range q {
					qn += float64(x) * float64(x)
				}
				qn = math.Sqrt(qn)
				for i, r := range rows {
					var dot float64
					for j, x := range r.vec {
						dot += float64(x) * float64(q[j])
					}
					if r.norm == 0 || qn == 0 {
						scores[i] = 0
					} else {
						scores[i] = dot / (r.norm * qn)
					}
				}
				top := topScores(scores, k)
				kth := math.Inf(-1)
				if len(top) == k {
					kth = scores[top[k-1]]
				}
				inTop := map[int]bool{}
				for _, i := range top {
					inTop[i] = true
				}
				good := 0
				for _, h := range hits {
					key := vectorKey(h.Meta)
					i, ok := byKey[key]
					switch {
					case !ok:
						if forbidden[key] {
							outs[qi].violations++
						}
					case inTop[i] || scores[i] >= kth-1e-6:
						good++
					}
				}
				outs[qi].recall = float64(good) / float64(min(k, len(rows)))
			}
		}()
	}
	for i := range texts {
		work <- i
	}
	close(work)
	wg.Wait()
	res.RecallQueries, res.RecallMin = len(texts), 1
	var sum float64
	for _, o := range outs {
		if o.err != nil {
			return o.err
		}
		sum += o.recall
		res.RecallMin = min(res.RecallMin, o.recall)
		res.Violations += o.violations
	}
	res.Recall = sum / float64(len(texts))
	return nil
}

// topScores returns the indexes of the k highest scores, best first.
func topScores(scores []float64, k int) []int {
	var top []int
	for i, s := range scores {
		if len(top) == k && s <= scores[top[k-1]] {
			continue
		}
		p := sort.Search(len(top), func(j int) bool { return scores[top[j]] < s })
		if len(top) < k {
			top = append(top, 0)
		}
		copy(top[p+1:], top[p:])
		top[p] = i
	}
	return top
}

// latency serves the API on a loopback port, as 'hypha serve' wires it,
// and times sequential searches per mode over HTTP on one keep-alive
// connection, then the same searches through app.Search in process.
func latency(ctx context.Context, db *sqlstore.DB, emb *search.HashEmbedder, vectors *app.SearchIndex, gen *corpus, opts SearchOptions, res *SearchResult) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	schema := &app.SchemaWatcher{Check: db.MigrationStatus, Logger: log}
	if st := schema.Refresh(ctx); !st.OK {
		return fmt.Errorf("schema not usable: %s", st.Problem)
	}
	creds := app.NewCredentials(db, app.CredentialsOptions{Logger: log})
	key, _, err := creds.CreateTeamKey(ctx, "bench", 0)
	if err != nil {
		return err
	}
	creds.Start(ctx)
	defer creds.Stop()
	health := &app.Health{Store: db, Logger: log}
	health.Start(ctx)
	defer health.Stop()
	// The catch-up loop runs as on a server; with no writes it only reads
	// the change sequence once a second.
	vectors.Logger = log
	vectors.Start(ctx)
	defer vectors.Stop()
	searcher := &app.Search{Store: db, Embedder: emb, Index: vectors, Logger: log}
	info := hypha.DescribeEmbedder(emb)
	srv := &api.Server{Store: db, Schema: schema, Auth: creds, Credentials: creds, Health: health, Search: searcher,
		Logger: log, PackageVersion: "bench", Embedder: &info}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()

	texts := gen.queries(3, opts.Requests)
	warm := gen.queries(4, opts.Warmup)
	if opts.CPUProfile != nil {
		if err := pprof.StartCPUProfile(opts.CPUProfile); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, mode := range SearchModes {
		mr := ModeResult{Mode: mode}
		for _, t := range warm {
			if _, _, err := httpSearch(ctx, client, base, key, t, mode); err != nil {
				return err
			}
		}
		lat := make([]time.Duration, 0, len(texts))
		total := 0
		for _, t := range texts {
			d, n, err := httpSearch(ctx, client, base, key, t, mode)
			if err != nil {
				return err
			}
			lat = append(lat, d)
			total += n
			if n == 0 {
				mr.Empty++
			}
		}
		mr.HTTP = summarise(lat)
		mr.MeanResults = float64(total) / float64(len(texts))
		for _, t := range warm {
			if _, err := searcher.Search(ctx, SearchGrove, hypha.SearchQuery{Text: t, Mode: mode, Limit: 10}); err != nil {
				return err
			}
		}
		lat = lat[:0]
		for _, t := range texts {
			t0 := time.Now()
			if _, err := searcher.Search(ctx, SearchGrove, hypha.SearchQuery{Text: t, Mode: mode, Limit: 10}); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		mr.InProcess = summarise(lat)
		res.Modes = append(res.Modes, mr)
	}
	return nil
}

// httpSearch sends one GET /search and returns the time until its body was
// read, and the number of results (decoded after the clock stopped).
func httpSearch(ctx context.Context, client *http.Client, base, key, text, mode string) (time.Duration, int, error) {
	c := wire.Client{BaseURL: base, HTTP: client, Token: key, GroveID: SearchGrove}
	t0 := time.Now()
	resp, err := c.Send(ctx, http.MethodGet, "/search?"+url.Values{"q": {text}, "mode": {mode}, "limit": {"10"}}.Encode(), nil)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, wire.ErrorOf(resp, body)
	}
	var out wire.SearchResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, fmt.Errorf("GET /search: %w", err)
	}
	return d, len(out.Results), nil
}

func summarise(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	at := func(p int) time.Duration { return s[min(len(s)-1, len(s)*p/100)] }
	return Latency{N: len(s), P50: at(50), P95: at(95), P99: at(99), Mean: sum / time.Duration(len(s))}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// String renders the result as the table BENCHMARKS.md quotes.
func (r *SearchResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine=%s records=%d (%s %d, %s %d, %s %d) dims=%d\n", r.Engine, r.Records,
		SearchGrove, r.PerGrove[SearchGrove], SharedGrove, r.PerGrove[SharedGrove], OtherGrove, r.PerGrove[OtherGrove], r.Dims)
	fmt.Fprintf(&b, "  population (not a target): %s; then %s\n", r.Populate.Round(time.Millisecond), r.PrepareNote)
	fmt.Fprintf(&b, "  index build from the store:  %.2f s for %d vectors and %d keyword documents\n", r.Build.Seconds(), r.BuildVectors, r.BuildDocs)
	fmt.Fprintf(&b, "  resident memory (RssAnon):   %s before, %s after (+%s); heap +%s; estimates: vectors %s, keywords %s\n",
		mib(r.RSSBefore), mib(r.RSSAfter), mib(r.RSSAfter-r.RSSBefore), mib(r.HeapDelta), mib(r.IndexBytes), mib(r.TextBytes))
	fmt.Fprintf(&b, "  recall@10 vs float64 scan:   %.3f mean, %.3f min over %d queries (%d visible vectors, %d forbidden hits)\n",
		r.Recall, r.RecallMin, r.RecallQueries, r.Visible, r.Violations)
	fmt.Fprintf(&b, "\n  %-9s | %-33s | %-33s | %s\n", "mode", "GET /search p50 / p95 / p99", "app.Search p50 / p95 / p99", "results (empty)")
	fmt.Fprintf(&b, "  %s\n", strings.Repeat("-", 100))
	for _, m := range r.Modes {
		fmt.Fprintf(&b, "  %-9s | %9s / %9s / %9s | %9s / %9s / %9s | %.1f (%d of %d)\n", m.Mode,
			ms(m.HTTP.P50), ms(m.HTTP.P95), ms(m.HTTP.P99), ms(m.InProcess.P50), ms(m.InProcess.P95), ms(m.InProcess.P99),
			m.MeanResults, m.Empty, m.HTTP.N)
	}
	return b.String()
}
