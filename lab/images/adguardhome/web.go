package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const version = "v0.107.77-standin"

// statusJSON has the fields of the real GET /control/status, so scripts that read it work.
type statusJSON struct {
	Version                    string   `json:"version"`
	Language                   string   `json:"language"`
	DNSAddresses               []string `json:"dns_addresses"`
	DNSPort                    uint16   `json:"dns_port"`
	HTTPPort                   uint16   `json:"http_port"`
	ProtectionDisabledDuration int64    `json:"protection_disabled_duration"`
	StartTime                  float64  `json:"start_time"`
	ProtectionEnabled          bool     `json:"protection_enabled"`
	DHCPAvailable              bool     `json:"dhcp_available"`
	Running                    bool     `json:"running"`
}

const indexHTML = `<!doctype html>
<html><head><title>AdGuard Home (homelab lab stand-in)</title></head>
<body><h1>AdGuard Home stand-in</h1>
<p>This is the homelab lab's STAND-IN for adguard/adguardhome ` + version + `, not the real
software: it answers DNS rewrites, forwards to plain-DNS upstreams and serves
<code>/control/status</code>. There is no web interface.</p></body></html>
`

const loginHTML = `<!doctype html>
<html><head><title>AdGuard Home (homelab lab stand-in)</title></head>
<body><p>The lab's AdGuard Home stand-in has no login page: send HTTP basic auth with a user
from AdGuardHome.yaml.</p></body></html>
`

func webHandler(cfg *config, log *logger, started time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /control/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(statusJSON{
			Version:           version,
			DNSAddresses:      dnsAddresses(cfg.bindHosts, cfg.dnsPort),
			DNSPort:           cfg.dnsPort,
			HTTPPort:          cfg.httpAddr.Port(),
			StartTime:         float64(started.UnixMilli()),
			ProtectionEnabled: true,
			Running:           true,
		})
	})
	html := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	mux.HandleFunc("GET /{$}", html(indexHTML))
	mux.HandleFunc("GET /index.html", html(indexHTML))
	mux.HandleFunc("GET /login.html", html(loginHTML))
	return &authMiddleware{users: cfg.users, log: log, next: mux}
}

// authMiddleware answers as the real one does: no users means no auth; otherwise a request
// without valid basic auth gets 401 (the real one also takes a session cookie from its login
// form, which the stand-in lacks), except the login page, and / redirects to it.
type authMiddleware struct {
	users []user
	log   *logger
	next  http.Handler
}

func (m *authMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(m.users) == 0 || m.authenticated(r) {
		m.next.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case "/login.html":
		m.next.ServeHTTP(w, r)
	case "/", "/index.html":
		http.Redirect(w, r, "login.html", http.StatusFound)
	default:
		w.WriteHeader(http.StatusUnauthorized)
	}
}

func (m *authMiddleware) authenticated(r *http.Request) bool {
	name, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	for _, u := range m.users {
		if u.name == name && bcrypt.CompareHashAndPassword(u.hash, []byte(pass)) == nil {
			return true
		}
	}
	m.log.infof("web: %s: invalid basic authorization for %q", r.RemoteAddr, name)
	return false
}

// dnsAddresses lists where DNS is served, as the real status does: an unspecified bind host
// stands for every interface address, and the port shows only when it is not 53.
func dnsAddresses(hosts []netip.Addr, port uint16) []string {
	var ips []netip.Addr
	for _, h := range hosts {
		if !h.IsUnspecified() {
			ips = append(ips, h)
			continue
		}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil {
				ips = append(ips, pfx.Addr())
			}
		}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		if port == 53 {
			out = append(out, ip.String())
		} else {
			out = append(out, netip.AddrPortFrom(ip, port).String())
		}
	}
	return out
}
