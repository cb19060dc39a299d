package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func stringInput(m resource.PropertyMap, k resource.PropertyKey) (string, bool) {
	v, ok := m[k]
	if !ok || !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

func boolInput(m resource.PropertyMap, k resource.PropertyKey, def bool) bool {
	v, ok := m[k]
	if !ok || !v.IsBool() {
		return def
	}
	return v.BoolValue()
}

func numberInput(m resource.PropertyMap, k resource.PropertyKey, def float64) float64 {
	v, ok := m[k]
	if !ok || !v.IsNumber() {
		return def
	}
	return v.NumberValue()
}

// environment returns the `environment` input as sorted KEY=VALUE pairs.
func environment(m resource.PropertyMap) []string {
	v, ok := m["environment"]
	if !ok || !v.IsObject() {
		return nil
	}
	var env []string
	for k, e := range v.ObjectValue() {
		if e.IsString() {
			env = append(env, string(k)+"="+e.StringValue())
		}
	}
	sort.Strings(env)
	return env
}

// run executes the `op` command ("create", "update" or "delete") of a
// resource and returns its new state: the inputs plus stdout and stderr.
// olds is the previous state (nil on create).
func run(ctx context.Context, typ string, inputs, olds resource.PropertyMap, op string, preview bool) (resource.PropertyMap, error) {
	state := resource.PropertyMap{}
	for k, v := range inputs {
		state[k] = v
	}
	if preview {
		state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		return state, nil
	}
	script, ok := stringInput(inputs, resource.PropertyKey(op))
	if !ok || script == "" {
		// Nothing to run: keep the previous outputs (or empty ones).
		state["stdout"] = resource.NewStringProperty(outputOr(olds, "stdout"))
		state["stderr"] = resource.NewStringProperty(outputOr(olds, "stderr"))
		return state, nil
	}
	env := environment(inputs)
	if olds != nil && boolInput(inputs, "addPreviousOutputInEnv", true) {
		env = append(env,
			"PULUMI_COMMAND_STDOUT="+outputOr(olds, "stdout"),
			"PULUMI_COMMAND_STDERR="+outputOr(olds, "stderr"))
	}
	stdin, _ := stringInput(inputs, "stdin")

	var stdout, stderr string
	var err error
	if typ == localCommand {
		stdout, stderr, err = runLocal(ctx, inputs, script, env, stdin)
	} else {
		stdout, stderr, err = runRemote(ctx, inputs, script, env, stdin)
	}
	if err != nil {
		return nil, fmt.Errorf("%s command failed: %w\nstdout:\n%s\nstderr:\n%s", op, err, stdout, stderr)
	}
	state["stdout"] = resource.NewStringProperty(stdout)
	state["stderr"] = resource.NewStringProperty(stderr)
	return state, nil
}

func outputOr(m resource.PropertyMap, k resource.PropertyKey) string {
	s, _ := stringInput(m, k)
	return s
}

func trimNewline(s string) string { return strings.TrimSuffix(s, "\n") }

func runLocal(ctx context.Context, inputs resource.PropertyMap, script string, env []string, stdin string) (string, string, error) {
	interpreter := []string{"/bin/sh", "-c"}
	if v, ok := inputs["interpreter"]; ok && v.IsArray() && len(v.ArrayValue()) > 0 {
		interpreter = nil
		for _, e := range v.ArrayValue() {
			if e.IsString() {
				interpreter = append(interpreter, e.StringValue())
			}
		}
	}
	args := append(append([]string{}, interpreter[1:]...), script)
	cmd := exec.CommandContext(ctx, interpreter[0], args...)
	if dir, ok := stringInput(inputs, "dir"); ok && dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return trimNewline(out.String()), trimNewline(errb.String()), err
}

// sshConfig builds the client configuration from the `connection` input.
func sshConfig(conn resource.PropertyMap) (*ssh.ClientConfig, func(), error) {
	user, ok := stringInput(conn, "user")
	if !ok || user == "" {
		user = "root"
	}
	var auths []ssh.AuthMethod
	cleanup := func() {}
	if key, ok := stringInput(conn, "privateKey"); ok && key != "" {
		var signer ssh.Signer
		var err error
		if pass, ok := stringInput(conn, "privateKeyPassword"); ok && pass != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(pass))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(key))
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("connection.privateKey: %w", err)
		}
		auths = append(auths, ssh.PublicKeys(signer))
	}
	if pw, ok := stringInput(conn, "password"); ok && pw != "" {
		auths = append(auths, ssh.Password(pw))
	}
	sock, ok := stringInput(conn, "agentSocketPath")
	if !ok || sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			auths = append(auths, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
			cleanup = func() { _ = c.Close() }
		}
	}
	if len(auths) == 0 {
		return nil, cleanup, fmt.Errorf("connection: no privateKey, password or SSH agent to authenticate with")
	}
	return &ssh.ClientConfig{
		User: user,
		Auth: auths,
		// Like @pulumi/command, host keys are not verified.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec
		Timeout:         time.Duration(numberInput(conn, "perDialTimeout", 15)) * time.Second,
	}, cleanup, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func runRemote(ctx context.Context, inputs resource.PropertyMap, script string, env []string, stdin string) (string, string, error) {
	v, ok := inputs["connection"]
	if !ok || !v.IsObject() {
		return "", "", fmt.Errorf("connection is required")
	}
	conn := v.ObjectValue()
	if p, ok := conn["proxy"]; ok && !p.IsNull() {
		return "", "", fmt.Errorf("connection.proxy is not supported by the homelab build of the command provider")
	}
	host, ok := stringInput(conn, "host")
	if !ok || host == "" {
		return "", "", fmt.Errorf("connection.host is required")
	}
	addr := net.JoinHostPort(host, fmt.Sprint(int(numberInput(conn, "port", 22))))
	cfg, cleanup, err := sshConfig(conn)
	defer cleanup()
	if err != nil {
		return "", "", err
	}
	limit := int(numberInput(conn, "dialErrorLimit", 10))
	var client *ssh.Client
	for attempt := 1; ; attempt++ {
		client, err = ssh.Dial("tcp", addr, cfg)
		if err == nil {
			break
		}
		if limit >= 0 && attempt >= limit {
			return "", "", fmt.Errorf("dial %s (%d attempts): %w", addr, attempt, err)
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(time.Duration(min(attempt, 5)) * time.Second):
		}
	}
	defer func() { _ = client.Close() }()
	session, err := client.NewSession()
	if err != nil {
		return "", "", err
	}
	defer func() { _ = session.Close() }()

	// sshd usually refuses SetEnv for arbitrary names, so export in the shell.
	var prefix strings.Builder
	for _, kv := range env {
		k, val, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&prefix, "export %s=%s; ", k, shellQuote(val))
	}
	var out, errb bytes.Buffer
	session.Stdout, session.Stderr = &out, &errb
	if stdin != "" {
		session.Stdin = strings.NewReader(stdin)
	} else {
		session.Stdin = io.LimitReader(strings.NewReader(""), 0)
	}
	done := make(chan error, 1)
	go func() { done <- session.Run(prefix.String() + script) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		err = ctx.Err()
	}
	return trimNewline(out.String()), trimNewline(errb.String()), err
}
