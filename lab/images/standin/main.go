// Command standin is the homelab lab's one STAND-IN for the apps it cannot run for real: NOT the
// real software of any of them.
//
// No container registry is reachable from the lab's host, and these apps cannot be built here
// (AGPL, or source the Go module proxy refuses): grafana/grafana, vaultwarden/server,
// codeberg.org/forgejo/forgejo, ghcr.io/mealie-recipes/mealie, minio/minio,
// ghcr.io/home-assistant/home-assistant and tailscale/tailscale. So that their stacks deploy
// unchanged in the lab, each of those tags is a thin image over this one binary that sets only
// STANDIN_FOR (the tag it stands in for) and STANDIN_PORTS (where to listen); image.sh lists them.
//
// What it does: on every port in STANDIN_PORTS it answers every HTTP method and path with 200
// text/plain naming the tag and the request's host and path (so a test can tell which service a
// proxy reached; the apps' health paths, /healthz included, are among "every path"); a port
// marked /tcp accepts and closes connections (forgejo's SSH). A request on any HTTP port that asks
// for a websocket (Connection: upgrade, Upgrade: websocket) gets one instead, a generic RFC 6455
// websocket rather than any app's protocol (so a test can hold one open through the proxies): the
// banner line as the first text message, then "tick <n>" every second; each text message the
// client sends comes back as "echo: <text>", a ping gets its pong and a close its close, and a
// frame the protocol forbids (unmasked, say, or over 1 MiB) closes the websocket with the RFC's
// code. An upgrade request that is not a GET, has no valid Sec-WebSocket-Key or gives a version
// other than 13 gets 400. At start it reads every file under /run/secrets and logs each one's name and byte
// count, never its contents, so tests can see that Swarm delivered the secrets. SIGTERM or SIGINT
// stops it at once with exit status 0, so that Swarm need not wait out its 10 s grace period; open
// websockets are dropped then, without a close frame. Its arguments, which a compose file's
// `command:` fills with the real app's flags, are ignored. The image's /bin/sh is this program
// too, so that a compose file's `entrypoint: ["/bin/sh", "<script>"]` starts it: the script is NOT
// run.
//
// Left out, for every tag: everything the app itself does. No UI, no API (JSON endpoints such as
// grafana's /api/health or Home Assistant's /manifest.json answer the same text, so a client that
// parses them fails), no websocket API (Home Assistant's /api/websocket, grafana's live channel:
// every websocket is the generic one above, so an app's client gets ticks it does not understand;
// no subprotocol is chosen, no extension such as compression agreed, and binary messages are read
// and dropped), no login or auth, nothing stored in the volumes the stacks mount, no outgoing
// connections (databases, S3, OIDC, SMTP), no SSH protocol on forgejo's port 22, no S3 API on
// minio's, no VPN (tailscale makes no tun device and joins no tailnet), no TLS, no environment
// variables but STANDIN_*, no real shell and no curl/wget for a compose file's healthcheck or
// entrypoint script, and no access log.
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// secretsDir is where Docker Swarm mounts a service's secrets.
const secretsDir = "/run/secrets"

// How long a stop waits for connections to finish. Answers take microseconds, but net/http's
// Shutdown also waits for a connection that has sent nothing yet; Swarm would kill the task after
// 10 s anyway, and a fast stop is what the lab's redeploys want.
const shutdownGrace = 500 * time.Millisecond

// port is one entry of STANDIN_PORTS.
type port struct {
	num int
	tcp bool // accept and close; otherwise HTTP
}

func (p port) String() string {
	if p.tcp {
		return fmt.Sprintf("%d/tcp", p.num)
	}
	return fmt.Sprintf("%d/http", p.num)
}

// parsePorts reads STANDIN_PORTS: entries separated by commas or spaces, each N or N/http (HTTP)
// or N/tcp (accept and close). Empty means none: the stand-in just runs. A mistake is an error,
// not a skipped port, since the image would otherwise start and serve nothing where it should.
func parsePorts(s string) ([]port, error) {
	var out []port
	seen := map[int]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		num, proto, slash := strings.Cut(f, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("STANDIN_PORTS: %q is not a port from 1 to 65535", f)
		}
		var p port
		switch {
		case !slash, proto == "http":
			p = port{num: n}
		case proto == "tcp":
			p = port{num: n, tcp: true}
		default:
			return nil, fmt.Errorf("STANDIN_PORTS: %q: want N, N/http or N/tcp", f)
		}
		if seen[n] {
			return nil, fmt.Errorf("STANDIN_PORTS: port %d twice", n)
		}
		seen[n] = true
		out = append(out, p)
	}
	return out, nil
}

// banner is the first line of every answer.
func banner(tag string) string {
	return "STAND-IN for " + tag + " (homelab lab; not the real software)"
}

// handler answers every method and path alike; nothing routes, so no path can 404 or redirect. A
// websocket upgrade, on any path, is the one request answered otherwise.
func handler(tag string) http.Handler {
	first := banner(tag)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasToken(r.Header, "Connection", "upgrade") && hasToken(r.Header, "Upgrade", "websocket") {
			serveWebsocket(w, r, first)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The escaped path: a %0A in a request must not start a line of its own in the answer. The
		// port it was reached on tells a test which of a service's routes Traefik used.
		port := ""
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if _, p, err := net.SplitHostPort(addr.String()); err == nil {
				port = p
			}
		}
		fmt.Fprintf(w, "%s\nhost: %s\npath: %s\nport: %s\n", first, r.Host, r.URL.EscapedPath(), port)
	})
}

// hasToken is whether a comma-separated value of the header name is tok, in any case.
func hasToken(h http.Header, name, tok string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// The websocket's numbers, from RFC 6455.
const (
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // what the handshake's accept key hashes in

	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8 // this opcode and above: control frames
	opPing         = 0x9
	opPong         = 0xa

	closeProtocolError = 1002
	closeInvalidData   = 1007 // a text message that is not UTF-8
	closeTooBig        = 1009
)

const (
	wsMaxPayload   = 1 << 20 // the largest frame, or message of several, that the stand-in reads
	wsTickEvery    = time.Second
	wsWriteTimeout = 10 * time.Second // a client that reads nothing for that long is gone
)

// upgradeProblem says what is wrong with a websocket upgrade request, or "" when nothing is. A
// missing Sec-WebSocket-Version is let pass.
func upgradeProblem(r *http.Request) string {
	keys := r.Header.Values("Sec-WebSocket-Key")
	if r.Method != http.MethodGet {
		return "the method must be GET"
	}
	if len(keys) != 1 {
		return "want one Sec-WebSocket-Key"
	}
	if k, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(k) != 16 {
		return "Sec-WebSocket-Key is not 16 bytes in base64"
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) > 1 || len(v) == 1 && v[0] != "13" {
		return "Sec-WebSocket-Version must be 13"
	}
	return ""
}

// acceptKey is the handshake's Sec-WebSocket-Accept for the client's Sec-WebSocket-Key.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// serveWebsocket answers an upgrade request: the handshake and the banner, then a tick a second
// and an answer to each of the client's frames, until either side closes, the connection breaks or
// the request's context ends (serve's stop).
func serveWebsocket(w http.ResponseWriter, r *http.Request, first string) {
	if problem := upgradeProblem(r); problem != "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, first+"\nwebsocket upgrade refused: "+problem, http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, first+"\nwebsocket upgrade failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	// Hijacked, the connection is no longer the server's to close: a stop reaches it only through
	// the request's context.
	stop := context.AfterFunc(r.Context(), func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Time{})
	c := &wsConn{conn: conn}
	hello := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
	_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if _, err := conn.Write(append([]byte(hello), wsFrame(opText, []byte(first))...)); err != nil {
		return
	}
	done := make(chan struct{})
	defer close(done)
	go c.tick(done)

	reply, err := c.readFrames(rw.Reader)
	if err != nil || c.send(opClose, reply) != nil {
		return
	}
	// The server ends the TCP connection after the close frames (RFC 6455 section 7.1.1), but
	// half-closes it first and reads on until the client has closed too (a second at most): a
	// socket closed with the client's frames unread in it sends a reset, which can lose the close
	// frame on its way.
	if hc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, rw.Reader)
}

// wsConn is the server's side of a websocket once the handshake is done.
type wsConn struct {
	conn   net.Conn
	mu     sync.Mutex // held while a frame is written: the ticks and the answers share the connection
	closed bool       // a close frame went out, and nothing may follow it
}

// wsFrame is one whole, unmasked frame, as a server sends them.
func wsFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op} // FIN: every message is one frame
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	return append(b, payload...)
}

func (c *wsConn) send(op byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = op == opClose
	_ = c.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	_, err := c.conn.Write(wsFrame(op, payload))
	return err
}

// tick sends "tick 1", "tick 2"... a second apart until done is closed or a send fails; a failed
// send (a broken connection, or half a frame sent) closes the connection, ending the reads too.
func (c *wsConn) tick(done <-chan struct{}) {
	t := time.NewTicker(wsTickEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if c.send(opText, []byte(fmt.Sprintf("tick %d", n))) != nil {
			c.conn.Close()
			return
		}
	}
}

// wsError is a client frame the protocol forbids, and the close frame that answers it.
type wsError struct {
	code   uint16
	reason string
}

func (e wsError) Error() string { return fmt.Sprintf("websocket close %d: %s", e.code, e.reason) }

// payload is the close frame's payload: the code, then the reason.
func (e wsError) payload() []byte {
	return append(binary.BigEndian.AppendUint16(nil, e.code), e.reason...)
}

// frame is one client frame, unmasked.
type frame struct {
	fin     bool // the last frame of its message
	op      byte
	payload []byte
}

// readFrame reads one client frame and unmasks it. A frame to refuse is a wsError; any other error
// is the connection's.
func readFrame(r io.Reader) (f frame, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return f, err
	}
	f.fin, f.op = h[0]&0x80 != 0, h[0]&0x0f
	n := uint64(h[1] & 0x7f)
	var ext [8]byte // a longer length, big-endian: 126 says it is the next 2 bytes, 127 the next 8
	switch n {
	case 126:
		if _, err := io.ReadFull(r, ext[:2]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:2]))
	case 127:
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	switch {
	case h[0]&0x70 != 0:
		return f, wsError{closeProtocolError, "reserved bits set, but no extension was agreed"}
	case h[1]&0x80 == 0:
		return f, wsError{closeProtocolError, "a client's frames must be masked"}
	case f.op >= opClose && (!f.fin || n > 125):
		return f, wsError{closeProtocolError, "a control frame must be whole and at most 125 bytes"}
	case n > wsMaxPayload:
		return f, wsError{closeTooBig, "frame over 1 MiB"}
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return f, err
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	for i := range f.payload {
		f.payload[i] ^= mask[i%4]
	}
	return f, nil
}

// readFrames answers the client's frames until it sends a close or a frame to refuse, and returns
// the close frame's payload to answer that with (the client's own code, or why it was refused). An
// error is a broken connection, with nothing left to answer.
func (c *wsConn) readFrames(r *bufio.Reader) (reply []byte, err error) {
	var msgOp byte // the opcode of the message whose frames are being read, 0 between messages
	var msg []byte
	for {
		f, err := readFrame(r)
		var refused wsError
		if errors.As(err, &refused) {
			return refused.payload(), nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case f.op == opPing:
			if err := c.send(opPong, f.payload); err != nil {
				return nil, err
			}
			continue
		case f.op == opPong:
			continue
		case f.op == opClose && len(f.payload) == 1:
			return wsError{closeProtocolError, "a close frame's code is 2 bytes"}.payload(), nil
		case f.op == opClose:
			return f.payload[:min(len(f.payload), 2)], nil
		case (f.op == opText || f.op == opBinary) && msgOp == 0:
			msgOp, msg = f.op, f.payload
		case f.op == opContinuation && msgOp != 0:
			if len(msg)+len(f.payload) > wsMaxPayload {
				return wsError{closeTooBig, "message over 1 MiB"}.payload(), nil
			}
			msg = append(msg, f.payload...)
		default:
			return wsError{closeProtocolError, fmt.Sprintf("opcode %d out of place", f.op)}.payload(), nil
		}
		if !f.fin {
			continue
		}
		if msgOp == opText {
			if !utf8.Valid(msg) {
				return wsError{closeInvalidData, "a text message must be UTF-8"}.payload(), nil
			}
			if err := c.send(opText, append([]byte("echo: "), msg...)); err != nil {
				return nil, err
			}
		}
		msgOp, msg = 0, nil
	}
}

// logSecrets logs the name (relative to dir) and size of every file under dir, reading each one
// through so that an unreadable secret shows as such. The contents never reach a log line.
func logSecrets(dir string, logf func(format string, args ...any)) {
	count := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		name, _ := filepath.Rel(dir, p)
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				logf("no secrets: %s does not exist", dir)
			} else {
				logf("secret %s: unreadable: %v", name, err)
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		n, err := byteCount(p)
		if err != nil {
			logf("secret %s: unreadable: %v", name, err)
			return nil
		}
		count++
		logf("secret %s: %d bytes (contents not logged)", name, n)
		return nil
	})
	if count > 0 {
		logf("%d secret(s) read under %s", count, dir)
	}
}

func byteCount(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}

// listener is an open port.
type listener struct {
	port
	net.Listener
}

// listen opens every port on host ("" for every address), or none if one fails.
func listen(host string, ports []port) ([]listener, error) {
	var out []listener
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p.num)))
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, fmt.Errorf("port %s: %w", p, err)
		}
		out = append(out, listener{p, ln})
	}
	return out, nil
}

// acceptAndClose takes connections and closes them at once, until ln is closed.
func acceptAndClose(ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			// Out of file descriptors and the like: net/http's own answer, wait and go on, since
			// returning would stop the whole stand-in.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c.Close()
	}
}

// serve answers on the listeners until ctx ends (nil) or one of them fails (its error); either way
// every listener is closed when it returns.
func serve(ctx context.Context, tag string, lns []listener) error {
	// Shutdown does not see hijacked connections (websockets): they close when their request's
	// context ends, and every request's context is this one's, which ends before Shutdown.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler: handler(tag),
		// A client that never finishes its headers must not hold a connection for ever.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	failed := make(chan error, len(lns))
	var raw []net.Listener
	for _, l := range lns {
		if l.tcp {
			raw = append(raw, l.Listener)
			go func(ln net.Listener) { failed <- acceptAndClose(ln) }(l.Listener)
			continue
		}
		go func(l listener) {
			if err := srv.Serve(l.Listener); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("port %s: %w", l.port, err)
			}
		}(l)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	cancel()
	for _, ln := range raw {
		ln.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		// Past the grace period: drop what is left rather than keep Swarm waiting.
		_ = srv.Close()
	}
	return err
}

func main() {
	tag := os.Getenv("STANDIN_FOR")
	if tag == "" {
		log.Fatal("STANDIN_FOR is not set: run one of the tagged images lab/images/standin/image.sh makes, not its base")
	}
	ports, err := parsePorts(os.Getenv("STANDIN_PORTS"))
	if err != nil {
		log.Fatal(err)
	}
	// The arguments' count only: a compose file's command may carry a password. The program's
	// name tells an entrypoint through /bin/sh from the image's own.
	log.Printf("%s; started as %s, ignoring %d argument(s) meant for the real image", banner(tag), os.Args[0], len(os.Args)-1)
	logSecrets(secretsDir, log.Printf)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lns, err := listen("", ports)
	if err != nil {
		log.Fatal(err)
	}
	if len(ports) == 0 {
		log.Print("no ports (STANDIN_PORTS is empty): running until stopped")
	} else {
		log.Printf("listening on %v (http: answers every path with 200, websocket upgrades with a websocket; tcp: accepts and closes)", ports)
	}
	if err := serve(ctx, tag, lns); err != nil {
		log.Fatal(err)
	}
	log.Print("stopped by signal")
}
