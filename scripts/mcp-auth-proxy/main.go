// Command mcp-auth-proxy is a loopback reverse proxy that adds a bearer
// credential (and optionally X-Grove-ID) to every request, for MCP tools
// that cannot send headers, such as the official MCP conformance suite.
// It listens on loopback only. Used by scripts/mcp-conformance.sh.
//
//	mcp-auth-proxy -listen 127.0.0.1:8788 -target http://127.0.0.1:8787 -token hym_… [-grove G]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8788", "loopback address to listen on")
	target := flag.String("target", "http://127.0.0.1:8787", "the Hypha server")
	grove := flag.String("grove", "", "X-Grove-ID to send (optional)")
	flag.Parse()
	token := os.Getenv("MCP_PROXY_TOKEN") // not a flag: flags show in ps
	if token == "" {
		log.Fatal("set MCP_PROXY_TOKEN to the bearer credential to add")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-listen %q: only a loopback address is allowed", *listen)
	}
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatalf("-target: %v", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // keep the client's Host, as a transparent proxy would
			r.Out.Header.Set("Authorization", "Bearer "+token)
			if *grove != "" {
				r.Out.Header.Set("X-Grove-ID", *grove)
			}
		},
		FlushInterval: -1, // stream server-sent events at once
	}
	fmt.Fprintf(os.Stderr, "mcp-auth-proxy: %s -> %s\n", *listen, *target)
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
