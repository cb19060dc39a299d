package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// rewritesFrom parses entries the way they come in AdGuardHome.yaml, so the tests cover the
// parsing of each entry as well as the matching.
func rewritesFrom(t *testing.T, entries string) []*rewrite {
	t.Helper()
	cfg, err := parseConfig("test.yaml", []byte("http: {address: 127.0.0.1:0}\nfiltering:\n  rewrites:\n"+entries))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.rewrites
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func TestRewrites(t *testing.T) {
	rws := rewritesFrom(t, `
    - {domain: traefik.home.example, answer: 10.0.0.1}
    - {domain: traefik.home.example, answer: 10.0.0.2}
    - {domain: traefik.home.example, answer: 10.0.0.3, enabled: false}
    - {domain: TRAEFIK.home.example., answer: "fd00::1", enabled: true}
    - {domain: "*.apps.example", answer: 10.1.0.1}
    - {domain: "*.apps.example", answer: 10.1.0.2}
    - {domain: "*.db.apps.example", answer: 10.2.0.1}
    - {domain: exact.apps.example, answer: 10.3.0.1}
    - {domain: grafana.home.example, answer: traefik.home.example}
    - {domain: wiki.home.example, answer: wiki.elsewhere.example}
    - {domain: self.apps.example, answer: self.apps.example}
    - {domain: v4only.example, answer: A}
    - {domain: v4only.example, answer: "fd00::2"}
    - {domain: loop-a.example, answer: loop-b.example}
    - {domain: loop-b.example, answer: loop-a.example}
    - {domain: into-loop.example, answer: loop-c.example}
    - {domain: loop-c.example, answer: loop-d.example}
    - {domain: loop-d.example, answer: loop-c.example}
`)
	for _, tc := range []struct {
		host  string
		qt    uint16
		want  decision
		about string
	}{
		{"traefik.home.example", dns.TypeA, decision{rewritten: true, ips: ips("10.0.0.1", "10.0.0.2")},
			"several entries for one exact name: every A record; the disabled one is left out"},
		{"traefik.home.example", dns.TypeAAAA, decision{rewritten: true, ips: ips("fd00::1")},
			"an IPv6 answer is an AAAA record; the domain is matched without case or trailing dot"},
		{"traefik.home.example", dns.TypeMX, decision{rewritten: true},
			"a rewritten name with no record of the type: empty NOERROR, not forwarded"},
		{"www.traefik.home.example", dns.TypeA, decision{},
			"an exact entry does not cover subdomains"},
		{"x.apps.example", dns.TypeA, decision{rewritten: true, ips: ips("10.1.0.1")},
			"a wildcard answers its subdomains with ONE record, as the real software does"},
		{"a.b.apps.example", dns.TypeA, decision{rewritten: true, ips: ips("10.1.0.1")},
			"a wildcard covers every level below it"},
		{"apps.example", dns.TypeA, decision{},
			"a wildcard does not cover its own apex"},
		{"x.db.apps.example", dns.TypeA, decision{rewritten: true, ips: ips("10.2.0.1")},
			"the more specific wildcard wins"},
		{"exact.apps.example", dns.TypeA, decision{rewritten: true, ips: ips("10.3.0.1")},
			"an exact entry beats a wildcard"},
		{"grafana.home.example", dns.TypeA,
			decision{rewritten: true, cname: "traefik.home.example", ips: ips("10.0.0.1", "10.0.0.2")},
			"a CNAME to a rewritten name carries that name's records"},
		{"wiki.home.example", dns.TypeA, decision{rewritten: true, cname: "wiki.elsewhere.example"},
			"a CNAME to another name: that name is resolved upstream"},
		{"wiki.home.example", dns.TypeTXT, decision{rewritten: true, cname: "wiki.elsewhere.example"},
			"a CNAME entry answers every type"},
		{"self.apps.example", dns.TypeA, decision{},
			"a name rewritten to itself is an exception: forwarded, not caught by *.apps.example"},
		{"v4only.example", dns.TypeA, decision{},
			`answer "A": A records come from upstream`},
		{"v4only.example", dns.TypeAAAA, decision{rewritten: true, ips: ips("fd00::2")},
			"the other type is still rewritten"},
		{"loop-a.example", dns.TypeA, decision{},
			"a CNAME loop back to the asked name counts as the exception above"},
		{"into-loop.example", dns.TypeA, decision{rewritten: true, cname: "loop-d.example"},
			"any other CNAME loop ends where it closes"},
		{"unrelated.example", dns.TypeA, decision{}, "no entry: forwarded"},
	} {
		t.Run(tc.host+"/"+dns.TypeToString[tc.qt], func(t *testing.T) {
			got := resolveRewrites(rws, tc.host, tc.qt)
			if got.rewritten != tc.want.rewritten || got.cname != tc.want.cname || !slices.Equal(got.ips, tc.want.ips) {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.about, got, tc.want)
			}
		})
	}
}

func TestRewritesOff(t *testing.T) {
	for _, key := range []string{"filtering_enabled", "rewrites_enabled"} {
		cfg, err := parseConfig("test.yaml", []byte(fmt.Sprintf(
			"http: {address: 127.0.0.1:0}\nfiltering:\n  %s: false\n  rewrites: [{domain: a.example, answer: 10.0.0.1}]\n", key)))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.rewritesOn {
			t.Errorf("filtering.%s: false left the rewrites on", key)
		}
	}
}

func TestRewriteEntryErrors(t *testing.T) {
	for entry, want := range map[string]string{
		`{domain: a.example, answer: "not a name!"}`:            "filtering.rewrites[0]",
		`{domain: "", answer: 10.0.0.1}`:                        "is not a domain name",
		`{answer: 10.0.0.1}`:                                    "filtering.rewrites[0].domain",
		`{domain: a.example, answer: 10.0.0.1, enabled: maybe}`: "filtering.rewrites[0].enabled",
	} {
		_, err := parseConfig("test.yaml", []byte("http: {address: 127.0.0.1:0}\nfiltering:\n  rewrites:\n    - "+entry+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got error %v, want one with %q", entry, err, want)
		}
	}
}
