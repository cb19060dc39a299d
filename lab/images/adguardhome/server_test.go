package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"
)

// fakeUpstream is a DNS server on 127.0.0.1 that answers every A question with 192.0.2.1 and
// counts the questions.
type fakeUpstream struct {
	addr    string
	queries atomic.Int32
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	ready := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(ready) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			u.queries.Add(1)
			m := new(dns.Msg).SetReply(r)
			if q := r.Question[0]; q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR(q.Name + " 60 IN A 192.0.2.1")
				m.Answer = append(m.Answer, rr)
			}
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-ready
	t.Cleanup(func() { _ = srv.Shutdown() })
	return u
}

// deadAddr is a UDP address with nothing behind it: the port was free a moment ago.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

const testPassword = "correct horse"

// startStandin runs the stand-in on loopback with free ports and the given extra YAML.
func startStandin(t *testing.T, extra string) *config {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("http:\n  address: 127.0.0.1:0\nusers:\n  - name: admin\n    password: %s\n"+
		"dns:\n  bind_hosts: [127.0.0.1]\n  port: 0\n%s", hash, extra)
	cfg, err := parseConfig("test.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := start(cfg, newLogger(io.Discard), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.stop)
	return cfg
}

func query(t *testing.T, cfg *config, network, name string, qt uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qt)
	r, _, err := c.Exchange(m, fmt.Sprintf("127.0.0.1:%d", cfg.dnsPort))
	if err != nil {
		t.Fatalf("%s %s over %s: %v", dns.TypeToString[qt], name, network, err)
	}
	return r
}

// answers renders the answer section as "type value" strings.
func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, "A "+v.A.String())
		case *dns.AAAA:
			out = append(out, "AAAA "+v.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Hdr.Name+" "+v.Target)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func TestDNS(t *testing.T) {
	up := startUpstream(t)
	cfg := startStandin(t, fmt.Sprintf(`  upstream_dns:
    - %s
filtering:
  rewrites:
    - {domain: traefik.home.example, answer: 10.0.0.1}
    - {domain: traefik.home.example, answer: 10.0.0.2}
    - {domain: wiki.home.example, answer: wiki.elsewhere.example}
`, up.addr))

	for _, network := range []string{"udp", "tcp"} {
		r := query(t, cfg, network, "Traefik.Home.Example", dns.TypeA)
		if got := answers(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"A 10.0.0.1", "A 10.0.0.2"}) {
			t.Errorf("%s: rewritten name: rcode %s, answers %v", network, dns.RcodeToString[r.Rcode], got)
		}
		if r.Answer[0].Header().Ttl != 10 || r.Answer[0].Header().Name != "Traefik.Home.Example." {
			t.Errorf("%s: answer header %v", network, r.Answer[0].Header())
		}
	}
	if up.queries.Load() != 0 {
		t.Errorf("a rewritten name reached the upstream")
	}

	r := query(t, cfg, "udp", "traefik.home.example", dns.TypeAAAA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AAAA of an A-only rewrite: rcode %s, answers %v", dns.RcodeToString[r.Rcode], answers(r))
	}

	r = query(t, cfg, "udp", "example.org", dns.TypeA)
	if got := answers(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"A 192.0.2.1"}) || up.queries.Load() != 1 {
		t.Errorf("forwarded: rcode %s, answers %v, upstream saw %d", dns.RcodeToString[r.Rcode], got, up.queries.Load())
	}

	r = query(t, cfg, "tcp", "wiki.home.example", dns.TypeA)
	want := []string{"CNAME wiki.home.example. wiki.elsewhere.example.", "A 192.0.2.1"}
	if got := answers(r); !slices.Equal(got, want) || r.Question[0].Name != "wiki.home.example." {
		t.Errorf("CNAME rewrite: answers %v (want %v), question %v", got, want, r.Question)
	}
}

func TestDNSUpstreamFailover(t *testing.T) {
	up := startUpstream(t)
	cfg := startStandin(t, fmt.Sprintf("  upstream_dns: [%s, %s]\n", deadAddr(t), up.addr))
	r := query(t, cfg, "udp", "example.org", dns.TypeA)
	if got := answers(r); !slices.Equal(got, []string{"A 192.0.2.1"}) {
		t.Errorf("second upstream: rcode %s, answers %v", dns.RcodeToString[r.Rcode], got)
	}
}

func TestDNSNoUpstreamServfail(t *testing.T) {
	cfg := startStandin(t, fmt.Sprintf("  upstream_dns: [%s]\n", deadAddr(t)))
	if r := query(t, cfg, "udp", "example.org", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("dead upstream: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestWebAuth(t *testing.T) {
	cfg := startStandin(t, "")
	base := fmt.Sprintf("http://%s", cfg.httpAddr)
	// Redirects are looked at, not followed.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, user, pass string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	for _, tc := range []struct{ user, pass string }{{"", ""}, {"admin", "wrong"}, {"root", testPassword}} {
		if resp, _ := get("/control/status", tc.user, tc.pass); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status as %q/%q: %d, want 401", tc.user, tc.pass, resp.StatusCode)
		}
	}
	resp, body := get("/control/status", "admin", testPassword)
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("status with the password: %d %q (%v)", resp.StatusCode, body, err)
	}
	wantAddr := fmt.Sprintf("127.0.0.1:%d", cfg.dnsPort)
	if !st.Running || st.Version != "v0.107.77-standin" || !slices.Equal(st.DNSAddresses, []string{wantAddr}) {
		t.Errorf("status: %+v", st)
	}

	if resp, _ := get("/", "", ""); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login.html" {
		t.Errorf("/ without auth: %d to %q, want 302 to /login.html", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get("/", "admin", testPassword); resp.StatusCode != http.StatusOK || !strings.Contains(body, "STAND-IN") {
		t.Errorf("/ with auth: %d %q", resp.StatusCode, body)
	}
}
