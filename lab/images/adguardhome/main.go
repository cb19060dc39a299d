// Command AdGuardHome is the homelab lab's STAND-IN for AdGuard Home v0.107.77: NOT the real
// software. No container registry is reachable from the lab's machine and the Go module proxy
// refuses AdGuard Home's source, so the lab image adguard/adguardhome:v0.107.77 carries this
// program instead, for the homelab's compose file to run unchanged in the lab.
//
// It reads the real AdGuardHome.yaml and does only what the homelab depends on: the legacy DNS
// rewrites (filtering.rewrites, matched the way the real software matches them), forwarding
// every other query to plain-DNS upstreams (dns.upstream_dns), and GET /control/status behind
// the users' bcrypt passwords. No blocking, filter lists, encrypted DNS, DHCP, query log,
// statistics, caching, web interface or configuration API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// logger prints like the real software, to stdout: that is where `docker logs` looks.
type logger struct{ l *log.Logger }

func newLogger(w io.Writer) *logger {
	return &logger{log.New(w, "", log.Ldate|log.Ltime|log.Lmicroseconds)}
}

func (l *logger) infof(format string, args ...any)  { l.l.Printf("[info] "+format, args...) }
func (l *logger) warnf(format string, args ...any)  { l.l.Printf("[warn] "+format, args...) }
func (l *logger) errorf(format string, args ...any) { l.l.Printf("[error] "+format, args...) }

type options struct {
	confPath, workDir, webAddr, host, port string
	checkConfig, verbose                   bool
}

// Flags of the real binary. Those that take a value must be known, to skip the value with them.
var (
	valueFlags = map[string]string{
		"-c": "config", "--config": "config", "-w": "work-dir", "--work-dir": "work-dir",
		"-h": "host", "--host": "host", "-p": "port", "--port": "port", "--web-addr": "web-addr",
		"-l": "logfile", "--logfile": "logfile", "-s": "service", "--service": "service",
		"--pidfile": "pidfile",
	}
	boolFlags = map[string]string{
		"--check-config": "check-config", "-v": "verbose", "--verbose": "verbose",
		"--version": "version", "--help": "help",
		// Accepted without effect: the stand-in never updates, has no memory tuning, no
		// /etc/hosts, no permission check and no local frontend.
		"--no-check-update": "", "--update": "", "--no-mem-optimization": "", "--no-etc-hosts": "",
		"--no-permcheck": "", "--local-frontend": "", "--glinet": "",
	}
)

const usage = `Usage: AdGuardHome [options]   (homelab lab STAND-IN, not the real AdGuard Home)

  -c, --config PATH      config file (default AdGuardHome.yaml in the work dir)
  -w, --work-dir PATH    work dir (default: the binary's dir)
  --web-addr IP:PORT     HTTP address instead of http.address
  -h, --host IP          HTTP host instead of http.address's (deprecated upstream)
  -p, --port PORT        HTTP port instead of http.address's (deprecated upstream)
  --check-config         check the config and exit
  -v, --verbose          log every DNS query
  --version, --help
Other flags of the real binary are accepted and ignored.
`

// parseArgs reads the command line the way the real binary's is written; it returns exit >= 0
// when the program is done (help, version, a flag missing its value).
func parseArgs(args []string, out io.Writer, lg *logger) (o options, exit int) {
	o.confPath = "AdGuardHome.yaml"
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, val, hasVal := strings.Cut(arg, "=")
		if key, ok := valueFlags[name]; ok {
			if !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(out, "%s needs a value\n%s", name, usage)
					return o, 2
				}
				i++
				val = args[i]
			}
			switch key {
			case "config":
				o.confPath = val
			case "work-dir":
				o.workDir = val
			case "web-addr":
				o.webAddr = val
			case "host":
				o.host = val
			case "port":
				o.port = val
			default:
				lg.warnf("flag %s is ignored by the stand-in (logs go to stdout; no service control, no pid file)", name)
			}
			continue
		}
		key, ok := boolFlags[arg]
		if !ok {
			lg.warnf("unknown argument %q ignored", arg)
			continue
		}
		switch key {
		case "check-config":
			o.checkConfig = true
		case "verbose":
			o.verbose = true
		case "version":
			fmt.Fprintf(out, "AdGuard Home, version %s\n", version)
			return o, 0
		case "help":
			fmt.Fprint(out, usage)
			return o, 0
		}
	}
	return o, -1
}

func run(args []string, out io.Writer) int {
	lg := newLogger(out)
	o, exit := parseArgs(args, out, lg)
	if exit >= 0 {
		return exit
	}
	cfg, err := o.load()
	if err != nil {
		lg.errorf("%v", err)
		return 1
	}
	if o.checkConfig {
		lg.infof("configuration is ok")
		return 0
	}
	lg.infof("AdGuard Home %s: homelab lab STAND-IN, not the real software (rewrites, upstreams and the status API only)", version)
	for _, w := range cfg.warnings {
		lg.warnf("%s", w)
	}
	if len(cfg.users) == 0 {
		lg.warnf("users: none, so the HTTP API needs no password (as with the real software)")
	}
	inst, err := start(cfg, lg, o.verbose)
	if err != nil {
		lg.errorf("%v", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	// As PID 1 in a container the default action of SIGTERM is nothing; `docker stop` must not
	// wait 10 s for a SIGKILL.
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				lg.infof("SIGHUP ignored: the stand-in reads its config only at start")
				continue
			}
			lg.infof("%s: stopping", sig)
			inst.stop()
			return 0
		case err := <-inst.failed:
			lg.errorf("%v", err)
			inst.stop()
			return 1
		}
	}
}

// load finds the config as the real binary does (a relative -c is inside the work dir), makes
// the work dir, and applies the HTTP address flags over the file's.
func (o options) load() (*config, error) {
	if o.workDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the work dir: %w", err)
		}
		o.workDir = filepath.Dir(exe)
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	path := o.confPath
	if !filepath.IsAbs(path) {
		path = filepath.Join(o.workDir, path)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if o.webAddr != "" {
		if cfg.httpAddr, err = netip.ParseAddrPort(o.webAddr); err != nil {
			return nil, fmt.Errorf("--web-addr: want IP:port, got %q", o.webAddr)
		}
	}
	if o.host != "" {
		h, err := netip.ParseAddr(o.host)
		if err != nil {
			return nil, fmt.Errorf("--host: want an IP address, got %q", o.host)
		}
		cfg.httpAddr = netip.AddrPortFrom(h, cfg.httpAddr.Port())
	}
	if o.port != "" {
		p, err := strconv.ParseUint(o.port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("--port: want a port number, got %q", o.port)
		}
		cfg.httpAddr = netip.AddrPortFrom(cfg.httpAddr.Addr(), uint16(p))
	}
	return cfg, nil
}

// instance is a running stand-in: DNS on every bind host (UDP and TCP) and the HTTP API.
type instance struct {
	dnsServers []*dns.Server
	web        *http.Server
	failed     chan error // a server that stopped on its own
}

func start(cfg *config, lg *logger, verbose bool) (*instance, error) {
	pcs, lns, err := dnsListeners(cfg.bindHosts, cfg.dnsPort)
	if err != nil {
		return nil, err
	}
	cfg.dnsPort = uint16(pcs[0].LocalAddr().(*net.UDPAddr).Port)
	webLn, err := net.Listen("tcp", cfg.httpAddr.String())
	if err != nil {
		for _, c := range pcs {
			c.Close()
		}
		for _, c := range lns {
			c.Close()
		}
		return nil, fmt.Errorf("http.address: listening on %s: %w", cfg.httpAddr, err)
	}
	// The port that 0 (tests) turned into; the address stays as written, as a 0.0.0.0 listener
	// reports itself as [::].
	cfg.httpAddr = netip.AddrPortFrom(cfg.httpAddr.Addr(), uint16(webLn.Addr().(*net.TCPAddr).Port))

	inst := &instance{failed: make(chan error, 2*len(pcs)+1)}
	res := &resolver{cfg: cfg, log: lg, verbose: verbose}
	// Shutting down a dns.Server that has not started yet fails, so start waits for them all.
	ready := make(chan struct{}, 2*len(pcs))
	started := func() { ready <- struct{}{} }
	serve := func(what string, f func() error) {
		go func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				inst.failed <- fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
	for i := range pcs {
		for _, srv := range []*dns.Server{
			{PacketConn: pcs[i], Handler: res, NotifyStartedFunc: started},
			{Listener: lns[i], Handler: res, NotifyStartedFunc: started},
		} {
			inst.dnsServers = append(inst.dnsServers, srv)
			serve("dns", srv.ActivateAndServe)
		}
		lg.infof("dns: serving udp and tcp on %s", netip.AddrPortFrom(cfg.bindHosts[i], cfg.dnsPort))
	}
	for range inst.dnsServers {
		select {
		case <-ready:
		case err := <-inst.failed:
			webLn.Close()
			inst.stop()
			return nil, err
		}
	}
	inst.web = &http.Server{
		Handler:           webHandler(cfg, lg, time.Now()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serve("web", func() error { return inst.web.Serve(webLn) })
	lg.infof("web: serving http on %s (GET /control/status)", cfg.httpAddr)
	lg.infof("rewrites: %d (applied: %t); upstreams: %v", len(cfg.rewrites), cfg.rewritesOn, cfg.upstreams)
	return inst, nil
}

func (inst *instance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = inst.web.Shutdown(ctx)
	for _, s := range inst.dnsServers {
		_ = s.ShutdownContext(ctx)
	}
}
