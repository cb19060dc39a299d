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
// marked /tcp accepts and closes connections (forgejo's SSH). At start it reads every file under
// /run/secrets and logs each one's name and byte count, never its contents, so tests can see that
// Swarm delivered the secrets. SIGTERM or SIGINT stops it at once with exit status 0, so that
// Swarm need not wait out its 10 s grace period. Its arguments, which a compose file's `command:`
// fills with the real app's flags, are ignored. The image's /bin/sh is this program too, so that a
// compose file's `entrypoint: ["/bin/sh", "<script>"]` starts it: the script is NOT run.
//
// Left out, for every tag: everything the app itself does. No UI, no API (JSON endpoints such as
// grafana's /api/health or Home Assistant's /manifest.json answer the same text, so a client that
// parses them fails), no login or auth, nothing stored in the volumes the stacks mount, no outgoing
// connections (databases, S3, OIDC, SMTP), no SSH protocol on forgejo's port 22, no S3 API on
// minio's, no VPN (tailscale makes no tun device and joins no tailnet), no TLS, no environment
// variables but STANDIN_*, no real shell and no curl/wget for a compose file's healthcheck or
// entrypoint script, and no access log.
package main

import (
	"context"
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
	"syscall"
	"time"
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

// handler answers every method and path alike; nothing routes, so no path can 404 or redirect.
func handler(tag string) http.Handler {
	first := banner(tag)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	srv := &http.Server{
		Handler: handler(tag),
		// A client that never finishes its headers must not hold a connection for ever.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
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
		log.Printf("listening on %v (http: answers every path with 200; tcp: accepts and closes)", ports)
	}
	if err := serve(ctx, tag, lns); err != nil {
		log.Fatal(err)
	}
	log.Print("stopped by signal")
}
