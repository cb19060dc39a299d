package main

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const testURN = "urn:pulumi:dev::proj::command:local:Command::c"

func props(t *testing.T, m map[string]any) resource.PropertyMap {
	t.Helper()
	return resource.NewPropertyMapFromMap(m)
}

func mustMarshal(t *testing.T, m resource.PropertyMap) *pulumirpc.CreateRequest {
	t.Helper()
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.CreateRequest{Urn: testURN, Properties: s}
}

func TestLocalLifecycle(t *testing.T) {
	ctx := context.Background()
	p := &provider{}
	inputs := props(t, map[string]any{
		"create":      `printf 'hello %s\n' "$WHO"`,
		"update":      `printf 'was [%s]' "$PULUMI_COMMAND_STDOUT"`,
		"environment": map[string]any{"WHO": "lab"},
	})
	created, err := p.Create(ctx, mustMarshal(t, inputs))
	if err != nil {
		t.Fatal(err)
	}
	state, err := unmarshal(created.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	if got := state["stdout"].StringValue(); got != "hello lab" {
		t.Fatalf("stdout after create = %q, want %q (one trailing newline trimmed)", got, "hello lab")
	}

	news := inputs.Copy()
	news["environment"] = resource.NewObjectProperty(props(t, map[string]any{"WHO": "pi"}))
	oldIn, _ := marshal(inputs)
	newIn, _ := marshal(news)
	diff, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, OldInputs: oldIn, Olds: created.GetProperties(), News: newIn})
	if err != nil {
		t.Fatal(err)
	}
	if diff.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(diff.GetReplaces()) != 0 {
		t.Fatalf("environment change: got %v replaces=%v, want an in-place update", diff.GetChanges(), diff.GetReplaces())
	}

	updated, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testURN, Olds: created.GetProperties(), News: newIn})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := unmarshal(updated.GetProperties())
	if got := after["stdout"].StringValue(); got != "was [hello lab]" {
		t.Fatalf("stdout after update = %q, want the previous stdout passed in", got)
	}

	news["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("x")})
	newIn, _ = marshal(news)
	diff, err = p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, OldInputs: oldIn, Olds: created.GetProperties(), News: newIn})
	if err != nil {
		t.Fatal(err)
	}
	if len(diff.GetReplaces()) != 1 || diff.GetReplaces()[0] != "triggers" {
		t.Fatalf("triggers change: replaces = %v, want [triggers]", diff.GetReplaces())
	}

	same, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, OldInputs: oldIn, Olds: created.GetProperties(), News: oldIn})
	if err != nil {
		t.Fatal(err)
	}
	if same.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("no change: got %v", same.GetChanges())
	}
}

func TestFailingCommandReportsOutput(t *testing.T) {
	p := &provider{}
	_, err := p.Create(context.Background(), mustMarshal(t, props(t, map[string]any{"create": "echo oops >&2; exit 3"})))
	if err == nil {
		t.Fatal("want an error from a failing create")
	}
	if got := err.Error(); !strings.Contains(got, "oops") || !strings.Contains(got, "exit status 3") {
		t.Fatalf("error %q should carry stderr and the exit status", got)
	}
}

func TestPreviewLeavesOutputsUnknown(t *testing.T) {
	p := &provider{}
	req := mustMarshal(t, props(t, map[string]any{"create": "exit 1"}))
	req.Preview = true
	resp, err := p.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	state, _ := unmarshal(resp.GetProperties())
	if !state["stdout"].IsComputed() {
		t.Fatalf("stdout in preview = %v, want unknown (and the command not run)", state["stdout"])
	}
}
