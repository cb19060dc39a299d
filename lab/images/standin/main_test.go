package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Run as the stand-in itself when a test re-executes this binary: that is how main's handling of
// arguments and SIGTERM is tested, as a process.
func TestMain(m *testing.M) {
	if os.Getenv("STANDIN_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParsePorts(t *testing.T) {
	good := map[string][]port{
		"":                 nil,
		"3000":             {{num: 3000}},
		"9000,9001":        {{num: 9000}, {num: 9001}},
		" 3000 22/tcp ":    {{num: 3000}, {num: 22, tcp: true}},
		"8123/http, 1/tcp": {{num: 8123}, {num: 1, tcp: true}},
	}
	for in, want := range good {
		got, err := parsePorts(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "0", "65536", "-1", "22/udp", "3000,3000/tcp", "80/"} {
		if got, err := parsePorts(in); err == nil {
			t.Errorf("parsePorts(%q) = %v, want an error", in, got)
		}
	}
}

func TestEveryPathAndMethodIs200NamingTheTagHostAndPath(t *testing.T) {
	const tag = "grafana/grafana:11.4.0"
	srv := httptest.NewServer(handler(tag))
	defer srv.Close()
	// The apps' own health paths first: the lab's health checks and Traefik's may ask for them.
	paths := []string{"/healthz", "/api/health", "/alive", "/api/healthz", "/api/app/about", "/minio/health/live", "/manifest.json", "/", "/a/b?c=d", "//double", "/../up", "/%0Anewline"}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, "PROPFIND"} {
		for _, p := range paths {
			req, _ := http.NewRequest(method, srv.URL+p, strings.NewReader("body"))
			req.Host = "grafana.lab.example"
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s: status %d", method, p, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s %s: Content-Type %q", method, p, ct)
			}
			lines := strings.Split(string(body), "\n")
			if len(lines) != 5 || lines[4] != "" {
				t.Fatalf("%s %s: want four lines, got %q", method, p, body)
			}
			if _, port, _ := net.SplitHostPort(srv.Listener.Addr().String()); lines[3] != "port: "+port {
				t.Errorf("%s %s: %q, want the port it was reached on (%s)", method, p, lines[3], port)
			}
			if lines[0] != "STAND-IN for grafana/grafana:11.4.0 (homelab lab; not the real software)" || lines[1] != "host: grafana.lab.example" {
				t.Errorf("%s %s: %q", method, p, body)
			}
			if want := "path: " + strings.SplitN(p, "?", 2)[0]; lines[2] != want && p != "/../up" {
				t.Errorf("%s %s: %q, want %q", method, p, lines[2], want)
			}
		}
	}
}

func TestHeadHasNoBody(t *testing.T) {
	srv := httptest.NewServer(handler("x"))
	defer srv.Close()
	resp, err := srv.Client().Head(srv.URL + "/alive")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD: %d, %q", resp.StatusCode, body)
	}
}

func TestSecretsAreLoggedByNameAndSizeOnly(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"db_password": "hunter2-secret-value", "nested/api_key": "another-secret-value\n", "empty": ""}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	logSecrets(dir, func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) })
	got := out.String()
	for _, want := range []string{
		"secret db_password: 20 bytes (contents not logged)\n",
		"secret nested/api_key: 21 bytes (contents not logged)\n",
		"secret empty: 0 bytes (contents not logged)\n",
		"3 secret(s) read under " + dir + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret-value") || strings.Contains(got, "hunter2") {
		t.Errorf("a secret's contents reached the log:\n%s", got)
	}

	out.Reset()
	logSecrets(filepath.Join(dir, "absent"), func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) })
	if !strings.HasPrefix(out.String(), "no secrets: ") {
		t.Errorf("missing dir: %q", out.String())
	}
}

// start serves ports on 127.0.0.1 at free ports and returns their addresses, HTTP first, and a
// stop function that returns serve's error and how long it took to return.
func start(t *testing.T, httpPorts, tcpPorts int) (httpAddrs, tcpAddrs []string, stop func() (error, time.Duration)) {
	t.Helper()
	var lns []listener
	for i := 0; i < httpPorts+tcpPorts; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcp := i >= httpPorts
		lns = append(lns, listener{port{num: ln.Addr().(*net.TCPAddr).Port, tcp: tcp}, ln})
		if tcp {
			tcpAddrs = append(tcpAddrs, ln.Addr().String())
		} else {
			httpAddrs = append(httpAddrs, ln.Addr().String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "minio/minio:RELEASE.2024-12-18T13-15-44Z", lns) }()
	stopped := false
	stop = func() (error, time.Duration) {
		stopped = true
		t0 := time.Now()
		cancel()
		select {
		case err := <-done:
			return err, time.Since(t0)
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not return 10 s after its context ended")
			return nil, 0
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return httpAddrs, tcpAddrs, stop
}

func getBody(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeAnswersOnEveryHTTPPortAndClosesTCPConnections(t *testing.T) {
	httpAddrs, tcpAddrs, stop := start(t, 2, 1)
	for _, a := range httpAddrs {
		code, body := getBody(t, a, "/minio/health/live")
		if code != 200 || !strings.HasPrefix(body, "STAND-IN for minio/minio:RELEASE.2024-12-18T13-15-44Z ") {
			t.Errorf("%s: %d %q", a, code, body)
		}
	}
	c, err := net.DialTimeout("tcp", tcpAddrs[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 16))
	c.Close()
	if n != 0 || err != io.EOF {
		t.Errorf("tcp port: read %d bytes, %v; want the connection closed (EOF)", n, err)
	}

	err, took := stop()
	if err != nil || took > time.Second {
		t.Errorf("stop: %v after %v", err, took)
	}
	for _, a := range append(httpAddrs, tcpAddrs...) {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after stop", a)
		}
	}
}

func TestGarbageAndHalfRequestsDoNotStopIt(t *testing.T) {
	httpAddrs, _, stop := start(t, 1, 0)
	addr := httpAddrs[0]
	for _, junk := range []string{
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n",
		"NOT HTTP AT ALL\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
		"GET /half",
		"\x00\xff\xfe",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(junk))
		if cw, ok := c.(*net.TCPConn); ok {
			_ = cw.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		first, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		// net/http's own refusals; a half request just ends with the connection.
		if first != "" && !strings.HasPrefix(first, "HTTP/1.1 4") {
			t.Errorf("%.30q: answered %q", junk, first)
		}
	}
	// A connection that never sends anything, open while the others come and go.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if code, body := getBody(t, addr, "/still/here"); code != 200 || !strings.Contains(body, "path: /still/here\n") {
		t.Errorf("after the garbage: %d %q", code, body)
	}
	if err, took := stop(); err != nil || took > shutdownGrace+time.Second {
		t.Errorf("stop with an idle connection open: %v after %v", err, took)
	}
}

func TestListenFailsWholeOnABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	n := busy.Addr().(*net.TCPAddr).Port
	if lns, err := listen("127.0.0.1", []port{{num: n}}); err == nil {
		for _, l := range lns {
			l.Close()
		}
		t.Fatalf("listen on busy port %d succeeded", n)
	}
}

// freePort is a port nothing listened on a moment ago, for the stand-in process to take.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestProcessIgnoresItsArgumentsAndExitsZeroOnSIGTERM(t *testing.T) {
	p := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(os.Args[0], "server", "--config", "/etc/grafana/grafana.ini", "-test.run=nothing")
	cmd.Env = append(os.Environ(), "STANDIN_TEST_RUN_MAIN=1", "STANDIN_FOR=grafana/grafana:11.4.0", fmt.Sprintf("STANDIN_PORTS=%d", p))
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	for t0 := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("not listening on %s after 10 s; log:\n%s", addr, logs.String())
		}
	}
	if code, body := getBody(t, addr, "/api/health"); code != 200 || !strings.HasPrefix(body, "STAND-IN for grafana/grafana:11.4.0 ") {
		t.Errorf("%d %q", code, body)
	}
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err != nil || time.Since(t0) > 3*time.Second {
		t.Errorf("after SIGTERM: %v in %v; log:\n%s", err, time.Since(t0), logs.String())
	}
	for _, want := range []string{"started as " + os.Args[0] + ", ignoring 4 argument(s) meant for the real image", "stopped by signal"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "grafana.ini") {
		t.Errorf("an argument reached the log:\n%s", logs.String())
	}
}

func TestProcessRefusesToRunWithoutATagOrWithBadPorts(t *testing.T) {
	for _, env := range [][]string{{"STANDIN_FOR="}, {"STANDIN_FOR=x", "STANDIN_PORTS=22/udp"}} {
		cmd := exec.Command(os.Args[0], "-test.run=nothing")
		cmd.Env = append(append(os.Environ(), "STANDIN_TEST_RUN_MAIN=1"), env...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: %v, %q; want exit status 1", env, err, out)
		}
	}
}
