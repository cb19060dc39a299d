package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A trimmed AdGuardHome.yaml as v0.107 writes it: the keys the stand-in reads sit among many it
// must pass over.
const realShape = `http:
  pprof:
    port: 6060
    enabled: false
  address: 0.0.0.0:3000
  session_ttl: 720h
users:
  - name: admin
    password: $2y$10$MdTzXzAgE6WSE/nzqErUlOkbR6LHpM1axkkuLBVUqvG3EQBq5ME1W
auth_attempts: 5
language: ""
theme: auto
dns:
  bind_hosts:
    - 0.0.0.0
  port: 53
  ratelimit: 20
  upstream_dns:
    - '# a comment line'
    - 9.9.9.9
    - 1.1.1.1:5353
    - udp://[2620:fe::fe]:53
    - tcp://192.0.2.53
    - https://dns10.quad9.net/dns-query
    - '[/lan/]192.168.1.1'
    - dns.example:53
  bootstrap_dns:
    - 9.9.9.10
  cache_size: 4194304
filtering:
  blocking_mode: default
  rewrites:
    - domain: traefik.home.example
      answer: 10.0.0.1
      enabled: true
  blocked_response_ttl: 30
  filtering_enabled: true
  protection_enabled: true
schema_version: 29
`

func TestConfigRealShape(t *testing.T) {
	cfg, err := parseConfig("AdGuardHome.yaml", []byte(realShape))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.httpAddr != netip.MustParseAddrPort("0.0.0.0:3000") || cfg.dnsPort != 53 || cfg.answerTTL != 30 {
		t.Errorf("http %s, dns port %d, ttl %d", cfg.httpAddr, cfg.dnsPort, cfg.answerTTL)
	}
	if len(cfg.users) != 1 || cfg.users[0].name != "admin" || len(cfg.rewrites) != 1 || !cfg.rewritesOn {
		t.Errorf("users %+v, rewrites %d (on: %t)", cfg.users, len(cfg.rewrites), cfg.rewritesOn)
	}
	var got []string
	for _, u := range cfg.upstreams {
		got = append(got, u.String())
	}
	want := "udp://9.9.9.9:53 udp://1.1.1.1:5353 udp://[2620:fe::fe]:53 tcp://192.0.2.53:53"
	if strings.Join(got, " ") != want {
		t.Errorf("upstreams %v, want %s", got, want)
	}
	// The three lines it cannot use are each named in a warning; the comment is not.
	if len(cfg.warnings) != 3 || !strings.Contains(strings.Join(cfg.warnings, "\n"), "dns.upstream_dns[5]") {
		t.Errorf("warnings: %q", cfg.warnings)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parseConfig("c.yaml", []byte("http:\n  address: 127.0.0.1:3000\nusers: []\ndns:\n  upstream_dns:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.bindHosts) != 1 || !cfg.bindHosts[0].IsUnspecified() || cfg.dnsPort != 53 || cfg.answerTTL != 10 {
		t.Errorf("defaults: bind %v port %d ttl %d", cfg.bindHosts, cfg.dnsPort, cfg.answerTTL)
	}
	if len(cfg.warnings) != 1 || !strings.Contains(cfg.warnings[0], "no plain-DNS upstream") {
		t.Errorf("warnings: %q", cfg.warnings)
	}
}

// Each broken config is refused with the file and the key in the message.
func TestConfigErrors(t *testing.T) {
	for yml, want := range map[string]string{
		"dns: {port: 53}\n":                                                          "c.yaml: http.address",
		"http: {address: localhost:3000}\n":                                          "c.yaml: http.address (line 1): want IP:port",
		"http: {address: 0.0.0.0:3000}\ndns: {port: fifty-three}\n":                  "c.yaml: dns.port (line 2)",
		"http: {address: 0.0.0.0:3000}\ndns: {port: 70000}\n":                        "c.yaml: dns.port",
		"http: {address: 0.0.0.0:3000}\ndns: {bind_hosts: [eth0]}\n":                 "dns.bind_hosts[0] (line 2): want an IP address",
		"http: {address: 0.0.0.0:3000}\ndns: {upstream_dns: 9.9.9.9}\n":              "dns.upstream_dns (line 2): want a list",
		"http: {address: 0.0.0.0:3000}\nusers: [{name: admin, password: hunter2}]\n": "users[0].password (line 2): not a bcrypt hash",
		"http: {address: 0.0.0.0:3000}\nusers: [{name: admin}]\n":                    "users[0].password",
		"http: [0.0.0.0:3000]\n":                                                     "c.yaml: http (line 1): want a mapping",
		"http: {address: 0.0.0.0:3000\n":                                             "c.yaml: not valid YAML",
		"":                                                                           "c.yaml: the config is empty",
	} {
		_, err := parseConfig("c.yaml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got error %v, want one with %q", yml, err, want)
		}
	}
}

func TestConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "AdGuardHome.yaml")
	_, err := loadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming %s", err, path)
	}
}

// run exits non-zero on a bad config, naming the file, and --check-config passes a good one.
func TestRunConfigChecks(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if code := run([]string{"--no-check-update", "-w", dir}, &out); code != 1 ||
		!strings.Contains(out.String(), filepath.Join(dir, "AdGuardHome.yaml")) {
		t.Errorf("no config: exit %d, output %q", code, out.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "AdGuardHome.yaml"), []byte(realShape), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"--check-config", "--no-such-flag", "-c", "AdGuardHome.yaml", "-w", dir}, &out); code != 0 ||
		!strings.Contains(out.String(), `unknown argument "--no-such-flag" ignored`) {
		t.Errorf("--check-config: exit %d, output %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--version"}, &out); code != 0 || !strings.Contains(out.String(), version) {
		t.Errorf("--version: exit %d, output %q", code, out.String())
	}
}
