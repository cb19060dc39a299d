// Command whoami is the homelab lab's STAND-IN for traefik/whoami v1.10.3: NOT the real software.
//
// No container registry is reachable from the lab's host and the Go module proxy does not serve
// traefik/whoami's source, so the lab cannot have the real image. This small program answers the
// way the real one does where the homelab's stacks and tests look (the same flags and environment
// for the port and name, the same text on /, the same JSON field names on /api, /health with a
// status that a POST can change), so that stacks/whoami deploys unchanged under the tag
// traefik/whoami:v1.10.3. Not here: TLS (--cert, --key, --cacert), /data, /echo (websocket),
// /bench, ?env=true, CORS headers on /api, and verbose access logs.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// info is what /api answers, with the real whoami's JSON field names (clients parse them).
type info struct {
	Hostname   string      `json:"hostname,omitempty"`
	IP         []string    `json:"ip,omitempty"`
	Headers    http.Header `json:"headers,omitempty"`
	URL        string      `json:"url,omitempty"`
	Host       string      `json:"host,omitempty"`
	Method     string      `json:"method,omitempty"`
	Name       string      `json:"name,omitempty"`
	RemoteAddr string      `json:"remoteAddr,omitempty"`
}

// server keeps the name to report and the status /health answers with; tests build their own.
type server struct {
	name string

	mu     sync.RWMutex
	health int
}

func newServer(name string) *server { return &server{name: name, health: http.StatusOK} }

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api", s.api)
	mux.HandleFunc("/health", s.healthz)
	mux.HandleFunc("/", s.whoami)
	return mux
}

// The real whoami lists every address of every interface, loopback included; so does this.
func addresses() []string {
	var out []string
	ifaces, err := net.Interfaces()
	if err != nil {
		return out
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			switch v := a.(type) {
			case *net.IPNet:
				out = append(out, v.IP.String())
			case *net.IPAddr:
				out = append(out, v.IP.String())
			}
		}
	}
	return out
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	// ?wait=<duration> delays the answer, as upstream's does: tests of timeouts rely on it.
	if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil && d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	hostname, _ := os.Hostname()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.name != "" {
		fmt.Fprintln(w, "Name:", s.name)
	}
	fmt.Fprintln(w, "Hostname:", hostname)
	for _, ip := range addresses() {
		fmt.Fprintln(w, "IP:", ip)
	}
	fmt.Fprintln(w, "RemoteAddr:", r.RemoteAddr)
	// Request.Write prints the request line and headers the way upstream shows them (it uses the
	// same call): what a proxy in front changed (Host, X-Forwarded-*) is visible as sent.
	if err := r.Write(w); err != nil {
		log.Printf("writing the request back: %v", err)
	}
}

func (s *server) api(w http.ResponseWriter, r *http.Request) {
	hostname, _ := os.Hostname()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info{
		Hostname:   hostname,
		IP:         addresses(),
		Headers:    r.Header,
		URL:        r.URL.RequestURI(),
		Host:       r.Host,
		Method:     r.Method,
		Name:       s.name,
		RemoteAddr: r.RemoteAddr,
	})
}

// healthz answers with the current status; a POST with a JSON number sets it, which is how tests
// of health-checks and load balancers make one replica fail on purpose.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var code int
		if err := json.NewDecoder(io.LimitReader(r.Body, 64)).Decode(&code); err != nil || code < 100 || code > 599 {
			http.Error(w, "want a JSON status code from 100 to 599", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.health = code
		s.mu.Unlock()
		log.Printf("health status set to %d", code)
		return
	}
	s.mu.RLock()
	code := s.health
	s.mu.RUnlock()
	w.WriteHeader(code)
}

// envOr is upstream's rule for its environment defaults: unset and empty both mean the default.
func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

func main() {
	port := flag.String("port", envOr(os.Getenv, "WHOAMI_PORT_NUMBER", "80"), "port to listen on (env WHOAMI_PORT_NUMBER)")
	name := flag.String("name", os.Getenv("WHOAMI_NAME"), "name to report (env WHOAMI_NAME)")
	flag.Parse()

	log.Printf("Starting up on port %s (homelab lab stand-in for traefik/whoami v1.10.3)", *port)
	srv := &http.Server{
		Addr:              ":" + *port,
		Handler:           newServer(*name).handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
