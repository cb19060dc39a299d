package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// config is the part of AdGuardHome.yaml the stand-in acts on. Everything else in the file is
// read past without a word, as the homelab's config carries the real software's full set.
type config struct {
	httpAddr   netip.AddrPort
	users      []user
	bindHosts  []netip.Addr
	dnsPort    uint16
	upstreams  []upstream
	answerTTL  uint32
	rewritesOn bool
	rewrites   []*rewrite
	// warnings are things the real software would act on and the stand-in does not; main logs them.
	warnings []string
}

type user struct {
	name string
	hash []byte
}

// upstream is a plain-DNS server to forward to; network is "udp" or "tcp".
type upstream struct {
	network string
	addr    string
}

func (u upstream) String() string { return u.network + "://" + u.addr }

// configError names the file and the key, so a broken stack config is found without reading code.
type configError struct {
	file, key string
	line      int
	msg       string
}

func (e *configError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s: %s (line %d): %s", e.file, e.key, e.line, e.msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.file, e.key, e.msg)
}

func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The real AdGuard Home starts its setup wizard without a config; the stand-in has none.
		return nil, fmt.Errorf("%s: reading the config: %w (the stand-in has no first-run setup wizard)", path, err)
	}
	return parseConfig(path, data)
}

func parseConfig(file string, data []byte) (*config, error) {
	var docNode yaml.Node
	if err := yaml.Unmarshal(data, &docNode); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", file, err)
	}
	if docNode.Kind != yaml.DocumentNode || len(docNode.Content) == 0 {
		return nil, fmt.Errorf("%s: the config is empty", file)
	}
	p := &parser{file: file}
	root := docNode.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "(top level)", "want a mapping of keys, got a %s", kindName(root))
	}
	c := &config{dnsPort: 53, answerTTL: 10, rewritesOn: true}
	steps := []func(*yaml.Node, *config) error{p.http, p.users, p.dns, p.filtering}
	for _, step := range steps {
		if err := step(root, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type parser struct{ file string }

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &configError{file: p.file, key: key, line: line, msg: fmt.Sprintf(format, args...)}
}

// child is the value under key in mapping m, or nil when the key is absent or null: an empty
// `key:` in YAML means "default" to the real software as well.
func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return nil
			}
			return v
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar " + strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

func (p *parser) section(root *yaml.Node, key string) (*yaml.Node, error) {
	n := child(root, key)
	if n != nil && n.Kind != yaml.MappingNode {
		return nil, p.errf(n, key, "want a mapping, got a %s", kindName(n))
	}
	return n, nil
}

func (p *parser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, key, "want a string, got a %s", kindName(n))
	}
	return n.Value, nil
}

func (p *parser) uint(n *yaml.Node, key string, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(n.Value, 10, 64)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v > max {
		return 0, p.errf(n, key, "want a whole number from 0 to %d, got a %s", max, kindName(n))
	}
	return v, nil
}

func (p *parser) boolean(n *yaml.Node, key string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, p.errf(n, key, "want true or false, got a %s", kindName(n))
	}
	return b, nil
}

func (p *parser) list(n *yaml.Node, key string) ([]*yaml.Node, error) {
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, key, "want a list, got a %s", kindName(n))
	}
	return n.Content, nil
}

func (p *parser) http(root *yaml.Node, c *config) error {
	sec, err := p.section(root, "http")
	if err != nil {
		return err
	}
	n := child(sec, "address")
	if n == nil {
		return p.errf(sec, "http.address", "missing: the stand-in serves its API there (e.g. 0.0.0.0:3000)")
	}
	s, err := p.str(n, "http.address")
	if err != nil {
		return err
	}
	if c.httpAddr, err = netip.ParseAddrPort(s); err != nil {
		return p.errf(n, "http.address", "want IP:port, got %q", s)
	}
	return nil
}

func (p *parser) users(root *yaml.Node, c *config) error {
	items, err := p.list(child(root, "users"), "users")
	if err != nil {
		return err
	}
	for i, item := range items {
		key := fmt.Sprintf("users[%d]", i)
		if item.Kind != yaml.MappingNode {
			return p.errf(item, key, "want a mapping with name and password, got a %s", kindName(item))
		}
		var u user
		for _, f := range []string{"name", "password"} {
			n := child(item, f)
			if n == nil {
				return p.errf(item, key+"."+f, "missing")
			}
			v, err := p.str(n, key+"."+f)
			if err != nil {
				return err
			}
			if f == "name" {
				u.name = v
				continue
			}
			// The real software only finds a bad hash when nobody can log in; failing at start
			// shows it where the config is made.
			if _, err := bcrypt.Cost([]byte(v)); err != nil {
				return p.errf(n, key+".password", "not a bcrypt hash (%v)", err)
			}
			u.hash = []byte(v)
		}
		c.users = append(c.users, u)
	}
	return nil
}

func (p *parser) dns(root *yaml.Node, c *config) error {
	sec, err := p.section(root, "dns")
	if err != nil {
		return err
	}
	hosts, err := p.list(child(sec, "bind_hosts"), "dns.bind_hosts")
	if err != nil {
		return err
	}
	for i, n := range hosts {
		key := fmt.Sprintf("dns.bind_hosts[%d]", i)
		s, err := p.str(n, key)
		if err != nil {
			return err
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p.errf(n, key, "want an IP address, got %q", s)
		}
		c.bindHosts = append(c.bindHosts, a)
	}
	if len(c.bindHosts) == 0 {
		c.bindHosts = []netip.Addr{netip.IPv4Unspecified()} // the real software's default
	}
	if n := child(sec, "port"); n != nil {
		v, err := p.uint(n, "dns.port", 65535)
		if err != nil {
			return err
		}
		c.dnsPort = uint16(v)
	}
	ups, err := p.list(child(sec, "upstream_dns"), "dns.upstream_dns")
	if err != nil {
		return err
	}
	for i, n := range ups {
		key := fmt.Sprintf("dns.upstream_dns[%d]", i)
		s, err := p.str(n, key)
		if err != nil {
			return err
		}
		u, skip, err := parseUpstream(s)
		switch {
		case err != nil:
			c.warnings = append(c.warnings, fmt.Sprintf("%s %q skipped: %v", key, s, err))
		case !skip:
			c.upstreams = append(c.upstreams, u)
		}
	}
	if len(c.upstreams) == 0 {
		c.warnings = append(c.warnings, "dns.upstream_dns: no plain-DNS upstream the stand-in can use: "+
			"names that no rewrite answers get SERVFAIL")
	}
	return nil
}

// parseUpstream reads one dns.upstream_dns line; skip is true for the comment lines the real
// software allows there.
func parseUpstream(s string) (u upstream, skip bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "#") {
		return u, true, nil
	}
	if strings.HasPrefix(s, "[/") {
		return u, false, errors.New("per-domain upstreams are not supported by the stand-in")
	}
	u.network = "udp"
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if scheme != "udp" && scheme != "tcp" {
			return u, false, fmt.Errorf("%s:// is not plain DNS; the stand-in only forwards over udp and tcp", scheme)
		}
		u.network, s = scheme, rest
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		u.addr = ap.String()
		return u, false, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		u.addr = netip.AddrPortFrom(a, 53).String()
		return u, false, nil
	}
	return u, false, errors.New("not an IP address or IP:port (host names would need a bootstrap resolver, which the stand-in lacks)")
}

func (p *parser) filtering(root *yaml.Node, c *config) error {
	sec, err := p.section(root, "filtering")
	if err != nil {
		return err
	}
	// The real software applies legacy rewrites only while filtering and rewrites are both on.
	for _, key := range []string{"filtering_enabled", "rewrites_enabled"} {
		if n := child(sec, key); n != nil {
			on, err := p.boolean(n, "filtering."+key)
			if err != nil {
				return err
			}
			c.rewritesOn = c.rewritesOn && on
		}
	}
	// The real software gives rewritten answers this TTL too.
	if n := child(sec, "blocked_response_ttl"); n != nil {
		v, err := p.uint(n, "filtering.blocked_response_ttl", 1<<31-1)
		if err != nil {
			return err
		}
		c.answerTTL = uint32(v)
	}
	items, err := p.list(child(sec, "rewrites"), "filtering.rewrites")
	if err != nil {
		return err
	}
	for i, item := range items {
		key := fmt.Sprintf("filtering.rewrites[%d]", i)
		if item.Kind != yaml.MappingNode {
			return p.errf(item, key, "want a mapping with domain and answer, got a %s", kindName(item))
		}
		if n := child(item, "enabled"); n != nil {
			on, err := p.boolean(n, key+".enabled")
			if err != nil {
				return err
			}
			if !on {
				continue
			}
		}
		var domain, answer string
		for _, f := range []struct {
			name string
			to   *string
		}{{"domain", &domain}, {"answer", &answer}} {
			n := child(item, f.name)
			if n == nil {
				return p.errf(item, key+"."+f.name, "missing")
			}
			if *f.to, err = p.str(n, key+"."+f.name); err != nil {
				return err
			}
		}
		rw, err := newRewrite(domain, answer)
		if err != nil {
			return p.errf(item, key, "%v", err)
		}
		c.rewrites = append(c.rewrites, rw)
	}
	return nil
}

// validName reports whether s (without its trailing dot) can be put in a DNS record.
func validName(s string) bool {
	_, ok := dns.IsDomainName(s)
	return ok && s != "" && !strings.ContainsAny(s, " \t")
}
