package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func get(t *testing.T, srv *httptest.Server, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestRootEchoesTheRequestAfterHostnameAndAddresses(t *testing.T) {
	srv := httptest.NewServer(newServer("blue").handler())
	defer srv.Close()

	resp, body := get(t, srv, "/some/path?q=1", http.Header{"X-Homelab-Test": {"abc"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	hostname, _ := os.Hostname()
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	// Upstream's order: Name (when set), Hostname, one IP line an address, RemoteAddr, the request.
	if lines[0] != "Name: blue" || lines[1] != "Hostname: "+hostname {
		t.Fatalf("first lines %q", lines[:2])
	}
	i := 2
	for ; i < len(lines) && strings.HasPrefix(lines[i], "IP: "); i++ {
	}
	if i == 2 {
		t.Errorf("no IP lines in %q", body)
	}
	if !strings.Contains(body, "IP: 127.0.0.1\n") {
		t.Errorf("loopback address missing (upstream lists every interface): %q", body)
	}
	if !strings.HasPrefix(lines[i], "RemoteAddr: 127.0.0.1:") {
		t.Errorf("line %d is %q, want RemoteAddr", i, lines[i])
	}
	if lines[i+1] != "GET /some/path?q=1 HTTP/1.1" {
		t.Errorf("request line %q", lines[i+1])
	}
	for _, want := range []string{"Host: " + strings.TrimPrefix(srv.URL, "http://"), "X-Homelab-Test: abc"} {
		if !containsLine(lines[i+2:], want) {
			t.Errorf("no header line %q in %q", want, body)
		}
	}
}

func TestRootWithoutNameHasNoNameLine(t *testing.T) {
	srv := httptest.NewServer(newServer("").handler())
	defer srv.Close()
	_, body := get(t, srv, "/", nil)
	if !strings.HasPrefix(body, "Hostname: ") {
		t.Errorf("body starts %q", body[:min(len(body), 40)])
	}
}

func TestHealthIs200UntilAPostChangesIt(t *testing.T) {
	srv := httptest.NewServer(newServer("").handler())
	defer srv.Close()
	if resp, _ := get(t, srv, "/health", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health: %d", resp.StatusCode)
	}
	post := func(body string) int {
		resp, err := srv.Client().Post(srv.URL+"/health", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("nonsense"); code != http.StatusBadRequest {
		t.Errorf("POST nonsense: %d", code)
	}
	if code := post("503"); code != http.StatusOK {
		t.Errorf("POST 503: %d", code)
	}
	if resp, _ := get(t, srv, "/health", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /health after POST 503: %d", resp.StatusCode)
	}
}

func TestAPIHasUpstreamFieldNames(t *testing.T) {
	srv := httptest.NewServer(newServer("").handler())
	defer srv.Close()
	resp, body := get(t, srv, "/api?x=y", http.Header{"X-Homelab-Test": {"abc"}})
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	for _, k := range []string{"hostname", "ip", "headers", "url", "host", "method", "remoteAddr"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, body)
		}
	}
	if _, ok := got["name"]; ok {
		t.Errorf("name present though empty (upstream omits it): %s", body)
	}
	var typed info
	_ = json.Unmarshal([]byte(body), &typed)
	if typed.URL != "/api?x=y" || typed.Method != "GET" || typed.Headers.Get("X-Homelab-Test") != "abc" {
		t.Errorf("decoded %+v", typed)
	}
}

func TestPortFromEnvironment(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if p := envOr(getenv, "WHOAMI_PORT_NUMBER", "80"); p != "80" {
		t.Errorf("unset: %q", p)
	}
	env["WHOAMI_PORT_NUMBER"] = ""
	if p := envOr(getenv, "WHOAMI_PORT_NUMBER", "80"); p != "80" {
		t.Errorf("empty: %q", p)
	}
	env["WHOAMI_PORT_NUMBER"] = "8081"
	if p := envOr(getenv, "WHOAMI_PORT_NUMBER", "80"); p != "8081" {
		t.Errorf("set: %q", p)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
