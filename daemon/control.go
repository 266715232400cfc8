package daemon

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// maxControlBody caps a request on the control socket.
const maxControlBody = 8 << 20

// handler returns the control API (HTTP/JSON on the Unix socket):
//
//	GET    /v1/status                                  the daemon and every grove
//	POST   /v1/reload                                  re-read groves, settings and tokens
//	POST   /v1/stop                                    stop the daemon
//	GET    /v1/groves/{grove}/status                   one grove
//	GET    /v1/groves/{grove}/rejections?limit=N       records the server refused
//	POST   /v1/groves/{grove}/flush                    send the outbox now
//	POST   /v1/groves/{grove}/records                  {"records":[Write…],"force":bool}: one transaction
//	PUT    /v1/groves/{grove}/records/{table}/{id}     body: the record's data; ?force=1
//	DELETE /v1/groves/{grove}/records/{table}/{id}     optional body: data (e.g. project_id)
//	GET    /v1/groves/{grove}/records/{table}/{id}     the local record
//	GET    /v1/groves/{grove}/remote/records/{type}/{id}  the server's record, with the grove's MCP token
//	GET    /v1/groves/{grove}/remote/search?…          the server's /search, with the grove's MCP token
//
// Errors are {"error","code"} with a stable code (see errors.go).
func (d *Daemon) handler() http.Handler {
	rt := httpjson.NewRouter(func(w http.ResponseWriter, _ *http.Request, err error) { writeError(w, err) })
	route := func(pattern string, h http.HandlerFunc) { rt.Handle(pattern, h) }
	route("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Status(r.Context()))
	})
	route("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Reload(r.Context()); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, OKResponse{OK: true, Groves: d.groveIDs()})
	})
	route("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, OKResponse{OK: true, PID: d.Status(r.Context()).Daemon.PID})
		d.requestStop()
	})
	route("GET /v1/groves/{grove}/status", d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		writeJSON(w, http.StatusOK, g.status(r.Context()))
	}))
	route("GET /v1/groves/{grove}/rejections", d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 50
		}
		rej, err := g.store.Rejections(r.Context(), limit)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, RejectionsResponse{Rejections: rej})
	}))
	route("POST /v1/groves/{grove}/flush", d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		g.poke()
		writeJSON(w, http.StatusOK, OKResponse{OK: true})
	}))
	route("POST /v1/groves/{grove}/records", d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		var body WriteRequest
		if err := readJSON(r, &body); err != nil {
			writeError(w, err)
			return
		}
		if len(body.Records) == 0 {
			writeError(w, hypha.Errorf(hypha.EInvalid, "records must be a non-empty array of {table, id, operation, data}"))
			return
		}
		res, err := g.write(r.Context(), body.Records, body.Force)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, WriteResponse{Results: res})
	}))
	record := d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		table, id := r.PathValue("table"), r.PathValue("id")
		switch r.Method {
		case http.MethodGet:
			rec, err := g.store.Get(r.Context(), table, id)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, RecordResponse{Record: rec})
			return
		case http.MethodPut, http.MethodDelete:
		}
		wr := Write{Table: table, ID: id, Operation: OpUpsert}
		if r.Method == http.MethodDelete {
			wr.Operation = OpDelete
		}
		if err := readJSONOptional(r, &wr.Data, r.Method == http.MethodPut); err != nil {
			writeError(w, err)
			return
		}
		force := r.URL.Query().Get("force") == "1" || r.URL.Query().Get("force") == "true"
		res, err := g.write(r.Context(), []Write{wr}, force)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res[0])
	})
	route("GET /v1/groves/{grove}/records/{table}/{id...}", record)
	route("PUT /v1/groves/{grove}/records/{table}/{id...}", record)
	route("DELETE /v1/groves/{grove}/records/{table}/{id...}", record)
	remote := d.withGrove(func(w http.ResponseWriter, r *http.Request, g *grove) {
		path := "/search"
		if typ := r.PathValue("type"); typ != "" {
			path = "/records/" + url.PathEscape(typ) + "/" + url.PathEscape(r.PathValue("id"))
		}
		if q := r.URL.RawQuery; q != "" {
			path += "?" + q
		}
		status, hdr, body, err := g.remoteGet(r.Context(), path)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if v := hdr.Get("Retry-After"); v != "" {
			w.Header().Set("Retry-After", v)
		}
		w.Header().Set("X-Hypha-Remote-Status", strconv.Itoa(status))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	route("GET /v1/groves/{grove}/remote/records/{type}/{id...}", remote)
	route("GET /v1/groves/{grove}/remote/search", remote)
	rt.Mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, hypha.Errorf(hypha.ENotFound, "no route %s %s on the daemon's control socket", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
		rt.ServeHTTP(w, r)
	})
}

// withGrove resolves the {grove} of the path.
func (d *Daemon) withGrove(fn func(http.ResponseWriter, *http.Request, *grove)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, err := d.grove(r.PathValue("grove"))
		if err != nil {
			writeError(w, err)
			return
		}
		fn(w, r, g)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, err error) {
	code := hypha.ErrorCode(err)
	msg := hypha.ErrorMessage(err)
	var he *hypha.Error
	if errors.As(err, &he) && he.Err != nil && code != hypha.EInternal {
		msg = he.Message + ": " + he.Err.Error()
	}
	if code == hypha.EInternal {
		msg = err.Error() // the socket is the owner's own: show the details
	}
	if s := hypha.RetryAfter(err); s > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(s))
	}
	writeJSON(w, statusOf(code), wire.ErrorBody{Error: msg, Code: code})
}

// readJSON decodes a required JSON body, keeping numbers exact.
func readJSON(r *http.Request, v any) error { return readJSONOptional(r, v, true) }

// readJSONOptional decodes a JSON body, which may be empty unless
// required (see httpjson.ReadJSON).
func readJSONOptional(r *http.Request, v any, required bool) error {
	return httpjson.ReadJSON(r, v, !required)
}
