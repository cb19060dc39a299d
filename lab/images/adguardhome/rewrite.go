package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// rewrite is one filtering.rewrites entry. The matching rules follow the real AdGuard Home's
// legacy rewrites (internal/filtering/rewrites.go there), quirks included, so that a config that
// works in the lab works the same way on the Pis.
type rewrite struct {
	domain string // lower case, no trailing dot; "*.x" is a wildcard
	typ    uint16 // dns.TypeA, dns.TypeAAAA or dns.TypeCNAME
	// ip is the answer of an A/AAAA entry; the zero Addr marks the "A"/"AAAA" answers, which
	// the real software reads as "leave this type to the upstream".
	ip     netip.Addr
	target string // CNAME target: lower case, no trailing dot
}

func newRewrite(domain, answer string) (*rewrite, error) {
	rw := &rewrite{domain: strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")}
	if !validName(strings.TrimPrefix(rw.domain, "*.")) {
		return nil, fmt.Errorf("domain %q is not a domain name", domain)
	}
	answer = strings.TrimSpace(answer)
	switch answer {
	case "A":
		rw.typ = dns.TypeA
		return rw, nil
	case "AAAA":
		rw.typ = dns.TypeAAAA
		return rw, nil
	}
	if ip, err := netip.ParseAddr(answer); err == nil {
		rw.ip = ip.Unmap()
		rw.typ = dns.TypeAAAA
		if rw.ip.Is4() {
			rw.typ = dns.TypeA
		}
		return rw, nil
	}
	rw.typ = dns.TypeCNAME
	rw.target = strings.TrimSuffix(strings.ToLower(answer), ".")
	if !validName(rw.target) {
		return nil, fmt.Errorf("answer %q is neither an IP address nor a domain name", answer)
	}
	return rw, nil
}

func isWildcard(pattern string) bool { return strings.HasPrefix(pattern, "*.") }

func (rw *rewrite) matchesHost(host string) bool {
	return rw.domain == host || isWildcard(rw.domain) && strings.HasSuffix(host, rw.domain[1:])
}

// matchesQType: a CNAME entry answers every type; an A/AAAA entry only its own type, except that
// an "A"/"AAAA" entry also stands for the other of the two.
func (rw *rewrite) matchesQType(qt uint16) bool {
	if rw.typ == dns.TypeCNAME {
		return true
	}
	if qt != dns.TypeA && qt != dns.TypeAAAA {
		return false
	}
	return rw.typ == qt || !rw.ip.IsValid()
}

// compareRewrites orders CNAMEs first, then exact names before wildcards, then longer (more
// specific) patterns first. Ties keep the config's order (the real software's sort happens to
// keep it too for the short lists a homelab has).
func compareRewrites(a, b *rewrite) int {
	if (a.typ == dns.TypeCNAME) != (b.typ == dns.TypeCNAME) {
		if a.typ == dns.TypeCNAME {
			return -1
		}
		return 1
	}
	if aw, bw := isWildcard(a.domain), isWildcard(b.domain); aw != bw {
		if aw {
			return 1
		}
		return -1
	}
	return len(b.domain) - len(a.domain)
}

// find returns the entries for host and qtype; matched is true when some entry names host even
// if none is for qtype (the answer is then an empty NOERROR, not a forward).
//
// As in the real software, once the list reaches a wildcard it is cut there, keeping at least
// one entry: exact names give every matching record (several A records for one host), while a
// name reached only through a wildcard gets ONE record even when the same wildcard is listed
// with several answers.
func find(entries []*rewrite, host string, qt uint16) (hits []*rewrite, matched bool) {
	for _, rw := range entries {
		if !rw.matchesHost(host) {
			continue
		}
		matched = true
		if rw.matchesQType(qt) {
			hits = append(hits, rw)
		}
	}
	slices.SortStableFunc(hits, compareRewrites)
	for i, rw := range hits {
		if isWildcard(rw.domain) {
			hits = hits[:max(1, i)]
			break
		}
	}
	return hits, matched
}

// decision is what the rewrites make of one question.
type decision struct {
	rewritten bool // false: forward the question unchanged
	// cname is the final canonical name when CNAME entries applied. With no ips, the answer is
	// that name resolved upstream, behind a CNAME record.
	cname string
	ips   []netip.Addr
}

func resolveRewrites(entries []*rewrite, host string, qt uint16) decision {
	hits, matched := find(entries, host, qt)
	if !matched {
		return decision{}
	}
	d := decision{rewritten: true}
	seen := map[string]bool{}
	orig := host
	for matched && len(hits) > 0 && hits[0].typ == dns.TypeCNAME {
		rw := hits[0]
		if rw.target == orig || rw.target == rw.domain {
			// A name rewritten to itself is how the real software writes an exception.
			return decision{}
		}
		if rw.target == host && isWildcard(rw.domain) {
			// "*.x → a.x" reached again from a.x: a.x is the answer, from upstream.
			d.cname = host
			break
		}
		host = rw.target
		if seen[host] {
			return d // a CNAME loop: stop where it closes, as the real software does
		}
		seen[host] = true
		d.cname = host
		hits, matched = find(entries, host, qt)
	}
	for _, rw := range hits {
		if rw.typ != qt || (qt != dns.TypeA && qt != dns.TypeAAAA) {
			continue
		}
		if !rw.ip.IsValid() {
			return decision{} // "A"/"AAAA": this type comes from upstream, unchanged
		}
		d.ips = append(d.ips, rw.ip)
	}
	return d
}
