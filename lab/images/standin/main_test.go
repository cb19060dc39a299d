package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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
	// A websocket open across the signal: Shutdown alone would not close it.
	ws, r := wsDial(t, addr)
	defer ws.Close()
	if op, p := readServerFrame(t, r); op != opText || !strings.HasPrefix(string(p), "STAND-IN for grafana/grafana:11.4.0 ") {
		t.Errorf("websocket's first frame: %d %q", op, p)
	}
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err != nil || time.Since(t0) > 3*time.Second {
		t.Errorf("after SIGTERM: %v in %v; log:\n%s", err, time.Since(t0), logs.String())
	}
	wsReadsToTheEnd(t, r)
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

// The websocket's tests: the client side is written out here, independent of the server's code.

const minioBanner = "STAND-IN for minio/minio:RELEASE.2024-12-18T13-15-44Z (homelab lab; not the real software)"

// rfcKey and rfcAccept are RFC 6455's example handshake (section 1.3).
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func TestAcceptKeyIsRFC6455s(t *testing.T) {
	if got := acceptKey(rfcKey); got != rfcAccept {
		t.Errorf("acceptKey(%q) = %q, want %q", rfcKey, got, rfcAccept)
	}
}

// upgrade sends addr a request with the given method and header lines, and reads the answer's
// head; the reader holds whatever follows it.
func upgrade(t *testing.T, addr, method, header string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "%s /api/websocket HTTP/1.1\r\nHost: ws.lab.example\r\n%s\r\n", method, header); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, r, resp
}

// wsDial opens a websocket to addr, with RFC 6455's example key, and checks the handshake.
func wsDial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, r, resp := upgrade(t, addr, "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+rfcKey+"\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != rfcAccept {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	return c, r
}

// clientFrame is a frame as a client sends it: b0 is its first byte (FIN, reserved bits and
// opcode), and the payload is masked unless unmasked is set.
func clientFrame(b0 byte, payload []byte, unmasked bool) []byte {
	var mask byte = 0x80
	if unmasked {
		mask = 0
	}
	f := []byte{b0}
	if n := len(payload); n > 0xffff {
		f = append(f, mask|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	} else if n >= 126 {
		f = append(f, mask|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	} else {
		f = append(f, mask|byte(n))
	}
	if unmasked {
		return append(f, payload...)
	}
	key := []byte{0x9c, 0x3e, 0x51, 0x07}
	f = append(f, key...)
	for i, b := range payload {
		f = append(f, b^key[i%len(key)])
	}
	return f
}

func wsWrite(t *testing.T, c net.Conn, frames ...[]byte) {
	t.Helper()
	if _, err := c.Write(bytes.Join(frames, nil)); err != nil {
		t.Fatal(err)
	}
}

// serverFrame reads one frame of the stand-in's, which must be whole and unmasked.
func serverFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0xf0 != 0x80 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame head %#x %#x: want FIN, no reserved bits and no mask", h[0], h[1])
	}
	n := uint64(h[1])
	var ext []byte
	switch n {
	case 126:
		ext = make([]byte, 2)
	case 127:
		ext = make([]byte, 8)
	}
	if _, err := io.ReadFull(r, ext); err != nil {
		return 0, nil, err
	}
	if len(ext) > 0 {
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

func readServerFrame(t *testing.T, r *bufio.Reader) (op byte, payload []byte) {
	t.Helper()
	op, payload, err := serverFrame(r)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return op, payload
}

func isTick(op byte, payload []byte) bool {
	return op == opText && strings.HasPrefix(string(payload), "tick ")
}

// nextAnswer is the next frame that is not a tick.
func nextAnswer(t *testing.T, r *bufio.Reader) (op byte, payload []byte) {
	t.Helper()
	for {
		if op, payload = readServerFrame(t, r); !isTick(op, payload) {
			return op, payload
		}
	}
}

// closeAnswer is the code of the next frame that is not a tick, which must be a close, or 0 if it
// has none.
func closeAnswer(t *testing.T, r *bufio.Reader) int {
	t.Helper()
	op, payload := nextAnswer(t, r)
	if op != opClose {
		t.Fatalf("frame %d %q, want a close", op, payload)
	}
	if len(payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(payload))
}

// wsReadsToTheEnd checks that the stand-in ends the connection: ticks may come first, nothing
// else.
func wsReadsToTheEnd(t *testing.T, r *bufio.Reader) {
	t.Helper()
	for {
		op, payload, err := serverFrame(r)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatal("the connection is still open")
		case errors.Is(err, io.EOF):
			return
		case err != nil:
			t.Fatalf("want the connection ended, got %v", err)
		case !isTick(op, payload):
			t.Fatalf("after the end, a frame: %d %q", op, payload)
		}
	}
}

func TestWebsocketHandshakeOnAnyHTTPPortAndPath(t *testing.T) {
	httpAddrs, _, _ := start(t, 2, 0)
	for _, a := range httpAddrs {
		// Connection as a list, tokens in other cases, and no Sec-WebSocket-Version.
		c, r, resp := upgrade(t, a, "GET", "Connection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key: "+rfcKey+"\r\n")
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Status != "101 Switching Protocols" {
			t.Fatalf("%s: %s", a, resp.Status)
		}
		for k, v := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": rfcAccept} {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s: %q, want %q", a, k, got, v)
			}
		}
		if op, p := readServerFrame(t, r); op != opText || string(p) != minioBanner {
			t.Errorf("%s: first frame %d %q, want the banner", a, op, p)
		}
		c.Close()
	}
}

func TestWebsocketSendsTheBannerThenATickASecond(t *testing.T) {
	httpAddrs, _, _ := start(t, 1, 0)
	_, r := wsDial(t, httpAddrs[0])
	if op, p := readServerFrame(t, r); op != opText || string(p) != minioBanner {
		t.Fatalf("first frame %d %q, want the banner", op, p)
	}
	t0 := time.Now()
	for n := 1; n <= 2; n++ {
		op, p := readServerFrame(t, r)
		if want := fmt.Sprintf("tick %d", n); op != opText || string(p) != want {
			t.Fatalf("frame %d %q, want %q", op, p, want)
		}
		if took := time.Since(t0); took < time.Duration(n)*time.Second-100*time.Millisecond || took > time.Duration(n)*time.Second+time.Second {
			t.Errorf("tick %d after %v", n, took)
		}
	}
}

func TestWebsocketEchoesTextAndAnswersPingsAndClose(t *testing.T) {
	httpAddrs, _, _ := start(t, 1, 0)
	c, r := wsDial(t, httpAddrs[0])
	readServerFrame(t, r) // the banner
	// Each length's encoding: 7 bits up to 125, 16 bits from 126, 64 bits past 65535.
	for _, n := range []int{0, 1, 125, 126, 200, 65535, 65536, 70000} {
		text := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		wsWrite(t, c, clientFrame(0x80|opText, []byte(text), false))
		if op, p := nextAnswer(t, r); op != opText || string(p) != "echo: "+text {
			t.Fatalf("%d bytes of text: answered %d with %d bytes", n, op, len(p))
		}
	}
	// A message in two frames with a ping between them; the pong comes first.
	wsWrite(t, c, clientFrame(opText, []byte("hel"), false), clientFrame(0x80|opPing, []byte("are you there"), false), clientFrame(0x80|opContinuation, []byte("lo"), false))
	if op, p := nextAnswer(t, r); op != opPong || string(p) != "are you there" {
		t.Errorf("ping: answered %d %q", op, p)
	}
	if op, p := nextAnswer(t, r); op != opText || string(p) != "echo: hello" {
		t.Errorf("fragmented text: answered %d %q", op, p)
	}
	// A pong and a binary message get no answer: the next one is the ping's.
	wsWrite(t, c, clientFrame(0x80|opPong, nil, false), clientFrame(0x80|opBinary, []byte{0, 1, 2}, false), clientFrame(0x80|opPing, nil, false))
	if op, p := nextAnswer(t, r); op != opPong || len(p) != 0 {
		t.Errorf("empty ping: answered %d %q", op, p)
	}
	wsWrite(t, c, clientFrame(0x80|opClose, append(binary.BigEndian.AppendUint16(nil, 1000), "bye"...), false))
	if code := closeAnswer(t, r); code != 1000 {
		t.Errorf("close 1000: answered with %d", code)
	}
	wsReadsToTheEnd(t, r)
}

func TestWebsocketClosesOnAFrameTheProtocolForbids(t *testing.T) {
	httpAddrs, _, _ := start(t, 1, 0)
	// A frame that says it is 2 MiB, of which 256 KiB are sent: the server must not read it, and
	// must still get its close frame through the bytes left unread.
	hugeHead := binary.BigEndian.AppendUint64([]byte{0x80 | opBinary, 0x80 | 127}, 2<<20)
	huge := append(append(hugeHead, 1, 2, 3, 4), make([]byte, 256<<10)...)
	for _, tc := range []struct {
		name  string
		frame []byte
		code  int
	}{
		{"unmasked", clientFrame(0x80|opText, []byte("hi"), true), closeProtocolError},
		{"unmasked empty close", clientFrame(0x80|opClose, nil, true), closeProtocolError},
		{"reserved bit", clientFrame(0xc0|opText, []byte("hi"), false), closeProtocolError},
		{"unknown opcode", clientFrame(0x83, []byte("hi"), false), closeProtocolError},
		{"continuation of nothing", clientFrame(0x80|opContinuation, []byte("hi"), false), closeProtocolError},
		{"fragmented ping", clientFrame(opPing, nil, false), closeProtocolError},
		{"ping over 125 bytes", clientFrame(0x80|opPing, make([]byte, 126), false), closeProtocolError},
		{"new message inside one", append(clientFrame(opText, []byte("a"), false), clientFrame(0x80|opText, []byte("b"), false)...), closeProtocolError},
		{"close with one byte", clientFrame(0x80|opClose, []byte{3}, false), closeProtocolError},
		{"text not UTF-8", clientFrame(0x80|opText, []byte{0xff, 0xfe}, false), closeInvalidData},
		{"frame over 1 MiB", huge, closeTooBig},
		{"message over 1 MiB", append(clientFrame(opBinary, make([]byte, 1<<20), false), clientFrame(0x80|opContinuation, []byte{1}, false)...), closeTooBig},
	} {
		c, r := wsDial(t, httpAddrs[0])
		readServerFrame(t, r) // the banner
		wsWrite(t, c, tc.frame)
		if code := closeAnswer(t, r); code != tc.code {
			t.Errorf("%s: closed with %d, want %d", tc.name, code, tc.code)
		}
		wsReadsToTheEnd(t, r)
		c.Close()
	}
}

func TestMalformedUpgradeIs400AndOtherUpgradesGetTheBanner(t *testing.T) {
	httpAddrs, _, _ := start(t, 1, 0)
	const asks = "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	for _, tc := range []struct {
		method, header string
		code           int
	}{
		{"GET", asks, 400},
		{"GET", asks + "Sec-WebSocket-Key: not base64!\r\n", 400},
		{"GET", asks + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n", 400}, // 15 bytes
		{"GET", asks + "Sec-WebSocket-Key: " + rfcKey + "\r\nSec-WebSocket-Key: " + rfcKey + "\r\n", 400},
		{"GET", asks + "Sec-WebSocket-Key: " + rfcKey + "\r\nSec-WebSocket-Version: 8\r\n", 400},
		{"POST", asks + "Sec-WebSocket-Key: " + rfcKey + "\r\nContent-Length: 0\r\n", 400},
		// Not a websocket upgrade: the usual answer.
		{"GET", "", 200},
		{"GET", "Upgrade: websocket\r\nSec-WebSocket-Key: " + rfcKey + "\r\n", 200},
		{"GET", "Connection: Upgrade\r\nUpgrade: h2c\r\n", 200},
		{"GET", "Connection: close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + rfcKey + "\r\n", 200},
	} {
		_, _, resp := upgrade(t, httpAddrs[0], tc.method, tc.header)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := minioBanner + "\nhost: ws.lab.example\npath: /api/websocket\n"
		if tc.code == 400 {
			want = minioBanner + "\nwebsocket upgrade refused: "
		}
		if resp.StatusCode != tc.code || !strings.HasPrefix(string(body), want) {
			t.Errorf("%s %q: %s %q, want %d %q...", tc.method, tc.header, resp.Status, body, tc.code, want)
		}
	}
}

func TestStopClosesOpenWebsockets(t *testing.T) {
	httpAddrs, _, stop := start(t, 1, 0)
	var readers []*bufio.Reader
	for i := 0; i < 3; i++ {
		_, r := wsDial(t, httpAddrs[0])
		readServerFrame(t, r) // the banner: the websocket is open
		readers = append(readers, r)
	}
	if err, took := stop(); err != nil || took > time.Second {
		t.Errorf("stop with websockets open: %v after %v", err, took)
	}
	for _, r := range readers {
		wsReadsToTheEnd(t, r)
	}
}
