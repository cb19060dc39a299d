package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// upstreamTimeout bounds each upstream try, so a dead first upstream costs a query 2 s, not the
// client's whole timeout.
const upstreamTimeout = 2 * time.Second

type resolver struct {
	cfg     *config
	log     *logger
	verbose bool
}

func (s *resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.answer(req)
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		// Truncate sets TC when records had to go, so the client retries over TCP.
		resp.Truncate(size)
	} else {
		resp.Compress = true
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.warnf("dns: replying to %s: %v", w.RemoteAddr(), err)
	}
}

func (s *resolver) answer(req *dns.Msg) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	host := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	var d decision
	if s.cfg.rewritesOn && host != "" && q.Qclass == dns.ClassINET {
		d = resolveRewrites(s.cfg.rewrites, host, q.Qtype)
	}
	if s.verbose {
		s.log.infof("dns: %s %s: rewritten=%t cname=%q ips=%v", dns.TypeToString[q.Qtype], host, d.rewritten, d.cname, d.ips)
	}
	switch {
	case !d.rewritten:
		return s.forward(req)
	case d.cname != "" && len(d.ips) == 0:
		return s.forwardCNAME(req, d.cname)
	}
	resp := s.reply(req)
	owner := q.Name
	if d.cname != "" {
		resp.Answer = append(resp.Answer, s.cnameRR(q.Name, d.cname))
		owner = dns.Fqdn(d.cname)
	}
	for _, ip := range d.ips {
		hdr := dns.RR_Header{Name: owner, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: s.cfg.answerTTL}
		if q.Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		} else {
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return resp
}

// reply starts a local answer: NOERROR, recursion available (clients treat this server as a
// recursive resolver), with an OPT record when the query had one.
func (s *resolver) reply(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(req)
	resp.RecursionAvailable = true
	if req.IsEdns0() != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	return resp
}

func (s *resolver) cnameRR(owner, target string) dns.RR {
	return &dns.CNAME{
		Hdr:    dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: s.cfg.answerTTL},
		Target: dns.Fqdn(target),
	}
}

// forwardCNAME answers a name rewritten to a CNAME that no rewrite resolves: the target is asked
// upstream and its records follow the CNAME, as the real software does.
func (s *resolver) forwardCNAME(req *dns.Msg, target string) *dns.Msg {
	sub := req.Copy()
	sub.Question[0].Name = dns.Fqdn(target)
	resp := s.forward(sub)
	resp.Question = req.Question
	if len(resp.Answer) > 0 {
		resp.Answer = append([]dns.RR{s.cnameRR(req.Question[0].Name, target)}, resp.Answer...)
	}
	return resp
}

var errNoUpstream = errors.New("no upstream answered")

func (s *resolver) forward(req *dns.Msg) *dns.Msg {
	resp, err := s.exchange(req)
	if err != nil {
		s.log.warnf("dns: %s %s: %v: SERVFAIL", dns.TypeToString[req.Question[0].Qtype], req.Question[0].Name, err)
		fail := s.reply(req)
		fail.Rcode = dns.RcodeServerFailure
		return fail
	}
	resp.Id = req.Id
	return resp
}

// exchange asks each upstream in turn; the first reply of any rcode is the answer, since an
// NXDOMAIN from a working upstream is an answer, not a failure.
func (s *resolver) exchange(req *dns.Msg) (*dns.Msg, error) {
	var errs []error
	for _, u := range s.cfg.upstreams {
		resp, err := exchangeWith(u, req)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: none configured", errNoUpstream)
	}
	return nil, fmt.Errorf("%w: %w", errNoUpstream, errors.Join(errs...))
}

func exchangeWith(u upstream, req *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: u.network, Timeout: upstreamTimeout}
	resp, _, err := c.Exchange(req, u.addr)
	if err == nil && resp.Truncated && u.network == "udp" {
		c.Net = "tcp"
		resp, _, err = c.Exchange(req, u.addr)
	}
	return resp, err
}

// dnsListeners binds UDP and TCP on every bind host before anything is served, so a taken port
// stops the program at start instead of leaving a half-working server.
func dnsListeners(hosts []netip.Addr, port uint16) (pcs []net.PacketConn, lns []net.Listener, err error) {
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, h := range hosts {
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(h, port).String())
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dns: listening on udp %s: %w", netip.AddrPortFrom(h, port), err)
		}
		pcs = append(pcs, pc)
		if port == 0 {
			// Port 0 (tests) takes a free UDP port, and TCP must use the same one.
			port = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		}
		ln, err := net.Listen("tcp", netip.AddrPortFrom(h, port).String())
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dns: listening on tcp %s: %w", netip.AddrPortFrom(h, port), err)
		}
		lns = append(lns, ln)
	}
	return pcs, lns, nil
}
