// pulumi-resource-command for the homelab toolchain: a stand-in of our own.
//
// The real provider (github.com/pulumi/pulumi-command/provider) is not served
// by the Go module proxy reachable here at any version (see ../README.md).
// This provider implements the two resources the homelab program uses, with
// the same type tokens and property names as @pulumi/command 1.2.1:
//
//	command:local:Command   run a command on this machine
//	command:remote:Command  run a command over SSH
//
// Behaviour follows the @pulumi/command documentation: `create` runs on
// create, `update` (or `create` again when `update` is empty) on any input
// change, `delete` on delete; a change to `triggers` replaces the resource;
// stdout/stderr (one trailing newline trimmed) become outputs; the previous
// stdout/stderr are passed to update/delete as PULUMI_COMMAND_STDOUT/STDERR
// unless addPreviousOutputInEnv is false. The command:local:run invoke
// (local.run/runOutput) is implemented too. Not implemented: remote.CopyToRemote,
// remote.CopyFile, assetPaths/archivePaths, proxy jump hosts, and streaming
// command output to the engine while it runs.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is set with -ldflags "-X main.version=...".
var version = "1.2.1"

const (
	localCommand  = "command:local:Command"
	remoteCommand = "command:remote:Command"
)

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	for _, a := range os.Args[1:] {
		if a == "-version" || a == "--version" {
			fmt.Println(version)
			return
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, &provider{})
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func (p *provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{}, nil
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// AcceptSecrets=false: the engine hands us plain values and re-applies
	// secretness to outputs that share a name with a secret input.
	return &pulumirpc.ConfigureResponse{SupportsPreview: true}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func checkType(t string) error {
	if t != localCommand && t != remoteCommand {
		return fmt.Errorf("unknown resource type %q: this homelab build of pulumi-resource-command "+
			"implements only %s and %s", t, localCommand, remoteCommand)
	}
	return nil
}

func typeOf(urn string) string { return string(resource.URN(urn).Type()) }

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
		if v, ok := news[k]; ok && !v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: string(k), Reason: "not supported by the homelab build of the command provider",
			})
		}
	}
	if typeOf(req.GetUrn()) == remoteCommand {
		conn, ok := news["connection"]
		if !ok || conn.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "connection", Reason: "connection is required"})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// inputKeys are the inputs of both resources; everything else in state is output.
var inputKeys = []resource.PropertyKey{
	"connection", "create", "update", "delete", "dir", "environment", "interpreter",
	"stdin", "triggers", "logging", "addPreviousOutputInEnv", "assetPaths", "archivePaths",
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 { // state written without inputs: compare against outputs
		if olds, err = unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ignored := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignored[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, k := range inputKeys {
		if ignored[string(k)] {
			continue
		}
		o, hasOld := olds[k]
		n, hasNew := news[k]
		if !hasOld && !hasNew {
			continue
		}
		if hasOld && hasNew && !n.ContainsUnknowns() && o.DeepEquals(n) {
			continue
		}
		if (!hasOld || o.IsNull()) && (!hasNew || n.IsNull()) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !hasOld || o.IsNull():
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew || n.IsNull():
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if k == "triggers" {
			replaces = append(replaces, string(k))
			kind = map[pulumirpc.PropertyDiff_Kind]pulumirpc.PropertyDiff_Kind{
				pulumirpc.PropertyDiff_ADD:    pulumirpc.PropertyDiff_ADD_REPLACE,
				pulumirpc.PropertyDiff_DELETE: pulumirpc.PropertyDiff_DELETE_REPLACE,
				pulumirpc.PropertyDiff_UPDATE: pulumirpc.PropertyDiff_UPDATE_REPLACE,
			}[kind]
		}
		diffs = append(diffs, string(k))
		detailed[string(k)] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes:         changes,
		Diffs:           diffs,
		Replaces:        replaces,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}, nil
}

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	t := typeOf(req.GetUrn())
	if err := checkType(t); err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state, err := run(ctx, t, inputs, nil, "create", req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	id := "preview"
	if !req.GetPreview() {
		id, err = newID()
		if err != nil {
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	t := typeOf(req.GetUrn())
	if err := checkType(t); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	op := "update"
	if s, ok := stringInput(news, "update"); !ok || s == "" {
		op = "create"
	}
	state, err := run(ctx, t, news, olds, op, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	t := typeOf(req.GetUrn())
	if err := checkType(t); err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if s, ok := stringInput(olds, "delete"); ok && s != "" {
		if _, err := run(ctx, t, olds, olds, "delete", false); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// Read keeps the recorded state: a command's effects cannot be read back.
func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if req.GetProperties() == nil {
		return nil, errors.New("import is not supported by the command provider")
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

const localRun = "command:local:run"

// Invoke implements command:local:run, the invoke @pulumi/command's local.run/runOutput call: it
// runs on every preview and update and changes nothing in state (homelab probes nodes with it).
func (p *provider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != localRun {
		return nil, fmt.Errorf("unknown function %q: this homelab build of pulumi-resource-command implements only %s", req.GetTok(), localRun)
	}
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	script, ok := stringInput(args, "command")
	if !ok || script == "" {
		return nil, errors.New("command is required")
	}
	stdin, _ := stringInput(args, "stdin")
	stdout, stderr, err := runLocal(ctx, args, script, environment(args), stdin)
	if err != nil {
		return nil, fmt.Errorf("local.run command failed: %w\nstderr:\n%s", err, stderr)
	}
	result := resource.PropertyMap{}
	for k, v := range args {
		if k != "stdin" { // may hold a secret; nothing needs it back
			result[k] = v
		}
	}
	result["stdout"] = resource.NewStringProperty(stdout)
	result["stderr"] = resource.NewStringProperty(stderr)
	ret, err := marshal(result)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}
